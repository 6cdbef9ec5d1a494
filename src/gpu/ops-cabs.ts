// Typed wrappers of shaders/cabs.wgsl (the CABS merge over conflict-aware masks).
import { dispatch } from './kernels';
import type { Batch } from './buffers';

const groups = (n: number) => Math.ceil(n / 256);

export interface CabsStep {
  x: GPUBuffer;
  base: GPUBuffer;
  /** Whole-tensor bitmask; bit (bitBase + i) is chunk element i. Undefined: keep all. */
  mask?: GPUBuffer;
  bitBase: number;
  w: number;
  init: boolean;
}

const u = (n: number, st: CabsStep, lambda = 1) => [{ u: n }, { u: (st.init ? 1 : 0) | (st.mask ? 2 : 0) }, { u: st.bitBase }, { u: 0 }, { f: st.w }, { f: lambda }];

export function cabsSum(b: Batch, st: CabsStep, n: number, sum: GPUBuffer): void {
  dispatch(b, 'cabs', 'cabs_sum', u(n, st), [st.x, st.base, st.mask, sum], groups(n));
}

export function cabsAgree(b: Batch, st: CabsStep, n: number, sum: GPUBuffer, mixed: GPUBuffer): void {
  dispatch(b, 'cabs', 'cabs_agree', u(n, st), [st.x, st.base, st.mask, sum, mixed], groups(n));
}

/** out = base + lambda·mixed (written into `out`). */
export function cabsFinish(b: Batch, base: GPUBuffer, mixed: GPUBuffer, out: GPUBuffer, n: number, lambda: number): void {
  dispatch(b, 'cabs', 'cabs_finish', [{ u: n }, { u: 0 }, { u: 0 }, { u: 0 }, { f: 0 }, { f: lambda }], [undefined, base, undefined, out, mixed], groups(n));
}

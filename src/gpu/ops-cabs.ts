// Typed wrappers of shaders/cabs.wgsl (the CABS merge over conflict-aware masks).
import { dispatch, workgroups } from './kernels';
import type { Batch } from './buffers';

export interface CabsStep {
  x: GPUBuffer;
  base: GPUBuffer;
  /** Whole-tensor bitmask; bit (bitBase + i) is chunk element i. Undefined: keep all. */
  mask?: GPUBuffer;
  bitBase: number;
  w: number;
  init: boolean;
}

const u = (n: number, st: CabsStep, lambda = 1) => ({ n, flags: (st.init ? 1 : 0) | (st.mask ? 2 : 0), bit_base: st.bitBase, w: st.w, lambda });

export function cabsSum(b: Batch, st: CabsStep, n: number, sum: GPUBuffer): void {
  dispatch(b, 'cabs', 'cabs_sum', u(n, st), [st.x, st.base, st.mask, sum], workgroups(n));
}

export function cabsAgree(b: Batch, st: CabsStep, n: number, sum: GPUBuffer, mixed: GPUBuffer): void {
  dispatch(b, 'cabs', 'cabs_agree', u(n, st), [st.x, st.base, st.mask, sum, mixed], workgroups(n));
}

/** out = base + lambda·mixed (written into `out`). */
export function cabsFinish(b: Batch, base: GPUBuffer, mixed: GPUBuffer, out: GPUBuffer, n: number, lambda: number): void {
  dispatch(b, 'cabs', 'cabs_finish', { n, flags: 0, bit_base: 0, w: 0, lambda }, [undefined, base, undefined, out, mixed], workgroups(n));
}

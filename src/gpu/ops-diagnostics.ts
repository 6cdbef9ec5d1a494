// Typed wrappers of shaders/diagnostics.wgsl (merge diagnostics; see that file for the layout).
import { dispatch } from './kernels';
import type { Batch } from './buffers';

export interface DiagModelStep {
  x: GPUBuffer;
  base: GPUBuffer;
  /** Keep bitmask (bit bitBase + i is chunk element i); undefined: every position kept. */
  mask?: GPUBuffer;
  bitBase: number;
  /** Bit of this task vector in the per-element state (0 … 31). */
  model: number;
  coef: number;
  init: boolean;
  /** Segment length of the float partials (chunk starts are multiples of it). */
  seg: number;
  segCount: number;
  /** First f32 of this task vector's 3 × segCount partials. */
  partOffset: number;
  /** First of this task vector's 2 counters (kept, nonzero). */
  ctrOffset: number;
}

export function diagModel(b: Batch, st: DiagModelStep, n: number, state: GPUBuffer, counters: GPUBuffer, partials: GPUBuffer): void {
  dispatch(
    b, 'diagnostics', 'diag_model',
    [{ u: n }, { u: (st.init ? 1 : 0) | (st.mask ? 2 : 0) }, { u: st.bitBase }, { u: st.model }, { u: st.seg }, { u: st.segCount }, { u: st.partOffset }, { u: st.ctrOffset }, { f: st.coef }, { u: 0 }, { u: 0 }],
    [st.x, st.base, st.mask, state, counters, partials],
    st.segCount,
  );
}

/** Union / multi / conflict / pair counts from the per-element bit sets of `models` task vectors. */
export function diagFinal(b: Batch, n: number, models: number, pairBase: number, state: GPUBuffer, counters: GPUBuffer): void {
  const wgs = Math.min(Math.ceil(n / (256 * 16)), 1024);
  dispatch(b, 'diagnostics', 'diag_final', [{ u: n }, { u: 0 }, { u: 0 }, { u: 0 }, { u: 0 }, { u: 0 }, { u: 0 }, { u: 0 }, { f: 0 }, { u: models }, { u: pairBase }], [undefined, undefined, undefined, state, counters], wgs);
}

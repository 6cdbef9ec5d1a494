// Typed wrappers of shaders/diagnostics.wgsl (merge diagnostics; see that file for the layout).
import { dispatch } from './kernels';
import type { Batch } from './buffers';

/** Elements per strip of the float partials (shaders/diagnostics.wgsl STRIP). */
export const STRIP = 64;

/** Strips of a chunk of n elements cut into segments of seg. */
export function diagStrips(n: number, seg: number): number {
  return Math.ceil(n / seg) * Math.ceil(seg / STRIP);
}

export interface DiagModelStep {
  x: GPUBuffer;
  base: GPUBuffer;
  /** Keep bitmask (bit bitBase + i is chunk element i); undefined: every position kept. */
  mask?: GPUBuffer;
  bitBase: number;
  /** Bit of this task vector in the per-element state (0 … 31). */
  model: number;
  coef: number;
  /** The first task vector (overwrites the per-element state). */
  init: boolean;
  /** The last task vector: counts union / multi / conflicts / pairs over all `models` instead of writing the state. */
  final: boolean;
  models: number;
  /** First of the 3 + pairs final counters. */
  pairBase: number;
  /** Segment length (chunk starts are multiples of it); partials are per 64-element strip of a segment. */
  seg: number;
  /** Strips of the chunk: diagStrips(count, seg). */
  strips: number;
  /** First f32 of this task vector's 3 × strips partials. */
  partOffset: number;
  /** First of this task vector's 2 counters (kept, nonzero). */
  ctrOffset: number;
}

export function diagModel(b: Batch, st: DiagModelStep, n: number, state: GPUBuffer, counters: GPUBuffer, partials: GPUBuffer): void {
  dispatch(
    b, 'diagnostics', 'diag_model',
    [{ u: n }, { u: (st.init ? 1 : 0) | (st.mask ? 2 : 0) | (st.final ? 4 : 0) }, { u: st.bitBase }, { u: st.model }, { u: st.seg }, { u: st.strips }, { u: st.partOffset }, { u: st.ctrOffset }, { f: st.coef }, { u: st.models }, { u: st.pairBase }],
    [st.x, st.base, st.mask, state, counters, partials],
    Math.ceil(st.strips / 256),
  );
}

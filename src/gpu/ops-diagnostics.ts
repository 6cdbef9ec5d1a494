// Typed wrappers of shaders/diagnostics.wgsl (merge diagnostics; see that file for the layout).
import { dispatch, workgroups } from './kernels';
import type { Batch } from './buffers';

/** Elements per strip of the float partials (shaders/diagnostics.wgsl STRIP). */
export const STRIP = 64;
/** Plane words per thread of diag_combine (WPT). */
const WPT = 32;

/** Strips of a chunk of n elements cut into segments of seg. */
export function diagStrips(n: number, seg: number): number {
  return Math.ceil(n / seg) * Math.ceil(seg / STRIP);
}

/** Words of one bit plane of a chunk of n elements. */
export function planeWords(n: number): number {
  return Math.ceil(n / 32);
}

export interface DiagModelStep {
  x: GPUBuffer;
  base: GPUBuffer;
  /** Keep bitmask (bit bitBase + i is chunk element i); undefined: every position kept. */
  mask?: GPUBuffer;
  bitBase: number;
  coef: number;
  /** Segment length (chunk starts are multiples of it); partials are per 64-element strip of a segment. */
  seg: number;
  /** Strips of the chunk: diagStrips(count, seg). */
  strips: number;
  /** First f32 of this task vector's 3 × strips partials. */
  partOffset: number;
  /** First of this task vector's 2 counters (kept, nonzero). */
  ctrOffset: number;
  /** First word of this task vector's two planes (2 × planeWords(n) words, cleared). */
  planeOffset: number;
}

export function diagModel(b: Batch, st: DiagModelStep, n: number, planes: GPUBuffer, counters: GPUBuffer, partials: GPUBuffer): void {
  dispatch(
    b, 'diagnostics', 'diag_model',
    {
      n, flags: st.mask ? 2 : 0, bit_base: st.bitBase, words: planeWords(n), seg: st.seg, strips: st.strips,
      part_offset: st.partOffset, ctr_offset: st.ctrOffset, coef: st.coef, models: 0, pair_base: 0, plane_offset: st.planeOffset,
    },
    [st.x, st.base, st.mask, planes, counters, partials],
    workgroups(st.strips),
  );
}

/** Union / multi / conflict / pair counts over the planes of `models` task vectors (task vector k at word 2k·planeWords(n)). */
export function diagCombine(b: Batch, n: number, models: number, pairBase: number, planes: GPUBuffer, counters: GPUBuffer): void {
  const words = planeWords(n);
  dispatch(
    b, 'diagnostics', 'diag_combine',
    { n, flags: 0, bit_base: 0, words, seg: 0, strips: 0, part_offset: 0, ctr_offset: 0, coef: 0, models, pair_base: pairBase, plane_offset: 0 },
    [undefined, undefined, undefined, planes, counters],
    workgroups(words, WPT * 256),
  );
}

// Typed wrappers of shaders/prune.wgsl (random pruning masks, per-row bitonic rank sort, per-row L1).
import { dispatch, workgroups, type Uniforms } from './kernels';
import type { Batch } from './buffers';
import type { Dtype } from '../formats/dtype';

const DTYPE_CODE: Record<Dtype, number> = { F32: 0, F16: 1, BF16: 2 };
const ROUND_CODE = (d?: Dtype) => (d === 'BF16' ? 1 : d === 'F16' ? 2 : 0);

/** An input as mag_rank_local reads it: stored words (decoded and rounded as it reads) or a decoded f32 buffer. */
export interface PruneInput {
  words: GPUBuffer;
  dtype: Dtype;
}

/** Slots sorted together in workgroup memory by mag_sort_local (must match TILE in prune.wgsl). */
export const SORT_TILE = 1024;

interface PruneUniforms {
  n?: number;
  seed?: number;
  stream?: number;
  chunkStart?: number;
  wordOffset?: number;
  thr?: number;
  rowLen?: number;
  pad?: number;
  rows?: number;
  row0?: number;
  kLo?: number;
  kHi?: number;
  j?: number;
  lo?: number;
  span?: number;
  flags?: number;
  dtypes?: number;
  roundTo?: number;
}

/** PruneParams by name; fields an entry point does not use are 0. */
function uniforms(o: PruneUniforms): Uniforms {
  return {
    n: o.n ?? 0, seed: o.seed ?? 0, stream: o.stream ?? 0, chunk_start: o.chunkStart ?? 0, word_offset: o.wordOffset ?? 0, thr: o.thr ?? 0,
    row_len: o.rowLen ?? 0, pad: o.pad ?? 0, rows: o.rows ?? 0, row0: o.row0 ?? 0, k_lo: o.kLo ?? 0, k_hi: o.kHi ?? 0, j: o.j ?? 0,
    lo: o.lo ?? 0, span: o.span ?? 0, flags: o.flags ?? 0, dtypes: o.dtypes ?? 0, round_to: o.roundTo ?? 0,
  };
}

/** Mask words [wordOffset, wordOffset + ceil(n/32)): bit i = rand_u24(seed, stream, chunkStart + i) < thr. */
export function randMask(b: Batch, n: number, chunkStart: number, wordOffset: number, seed: number, stream: number, thr: number, mask: GPUBuffer): void {
  const words = Math.ceil(n / 32);
  dispatch(b, 'prune', 'rand_mask', uniforms({ n, seed, stream, chunkStart, wordOffset, thr }), [undefined, undefined, mask], workgroups(words));
}

export interface RowGroup {
  /** Row length C and its power-of-two slot count P ≥ C. */
  rowLen: number;
  pad: number;
  /** Rows in the group, and the group's first row within the chunk. */
  rows: number;
  row0: number;
}

/** (key, index) pairs of the group's rows into keys/idx (rows·pad slots); key = bits of |x − base|. */
export function magLoad(b: Batch, x: GPUBuffer, base: GPUBuffer | undefined, g: RowGroup, keys: GPUBuffer, idx: GPUBuffer): void {
  dispatch(b, 'prune', 'mag_load', uniforms({ rowLen: g.rowLen, pad: g.pad, rows: g.rows, row0: g.row0, flags: base ? 1 : 0 }), [x, base, undefined, keys, idx], workgroups(g.rows * g.pad));
}

/** Bitonic stages k = kLo..kHi (doubling), strides below SORT_TILE, in workgroup memory. */
export function magSortLocal(b: Batch, g: RowGroup, kLo: number, kHi: number, keys: GPUBuffer, idx: GPUBuffer): void {
  dispatch(b, 'prune', 'mag_sort_local', uniforms({ rowLen: g.rowLen, pad: g.pad, rows: g.rows, kLo, kHi }), [undefined, undefined, undefined, keys, idx], workgroups(g.rows * g.pad, SORT_TILE));
}

/** One bitonic compare-exchange stage (k, j), j ≥ SORT_TILE, in global memory. */
export function magSortGlobal(b: Batch, g: RowGroup, k: number, j: number, keys: GPUBuffer, idx: GPUBuffer): void {
  dispatch(b, 'prune', 'mag_sort_global', uniforms({ rowLen: g.rowLen, pad: g.pad, rows: g.rows, kLo: k, j }), [undefined, undefined, undefined, keys, idx], workgroups((g.rows * g.pad) / 2));
}

export interface MagKeep {
  seed: number;
  stream: number;
  /** keep ⇔ u < lo or (u − lo)·den < span·num, u = rand_u24 (see prune.wgsl). */
  lo: number;
  span: number;
  /** Probability falls with rank (negative epsilon). */
  descending: boolean;
}

/** ORs into the mask the kept bits of the group's rows, from the sorted slot order. */
export function magMask(b: Batch, g: RowGroup, chunkStart: number, wordOffset: number, k: MagKeep, idx: GPUBuffer, mask: GPUBuffer): void {
  dispatch(
    b, 'prune', 'mag_mask',
    uniforms({ seed: k.seed, stream: k.stream, chunkStart, wordOffset, rowLen: g.rowLen, pad: g.pad, rows: g.rows, row0: g.row0, lo: k.lo, span: k.span, flags: k.descending ? 2 : 0 }),
    [undefined, undefined, mask, undefined, idx],
    workgroups(g.rows * g.pad),
  );
}

/** Per-row Σ|x − base| (out0) and Σ|(x − base)·mask| (out1) over n/rowLen rows of the chunk. */
export function l1Rows(b: Batch, x: GPUBuffer, base: GPUBuffer | undefined, mask: GPUBuffer, wordOffset: number, n: number, rowLen: number, out0: GPUBuffer, out1: GPUBuffer): void {
  dispatch(b, 'prune', 'l1_rows', uniforms({ n, wordOffset, rowLen, flags: base ? 1 : 0 }), [x, base, mask, undefined, undefined, out0, out1], workgroups(n, rowLen));
}

/**
 * mag_load + mag_sort_local + mag_mask (+ l1_rows with `l1`) of a row group whose slots fit one tile
 * (pad ≤ SORT_TILE), in one pass over the inputs' words: the same mask bits and row sums.
 */
export function magRankLocal(
  b: Batch, x: PruneInput, base: PruneInput | undefined, roundTo: Dtype | undefined, g: RowGroup, chunkStart: number, wordOffset: number, k: MagKeep, mask: GPUBuffer,
  l1?: { out0: GPUBuffer; out1: GPUBuffer },
): void {
  if (g.pad > SORT_TILE) throw new Error(`magRankLocal: rows of ${g.pad} slots exceed the tile (${SORT_TILE})`);
  dispatch(
    b, 'prune', 'mag_rank_local',
    uniforms({
      seed: k.seed, stream: k.stream, chunkStart, wordOffset, rowLen: g.rowLen, pad: g.pad, rows: g.rows, row0: g.row0, lo: k.lo, span: k.span,
      flags: (base ? 1 : 0) | (k.descending ? 2 : 0) | (l1 ? 4 : 0), dtypes: DTYPE_CODE[x.dtype] | ((base ? DTYPE_CODE[base.dtype] : 0) << 2), roundTo: ROUND_CODE(roundTo),
    }),
    [x.words, base?.words, mask, undefined, undefined, l1?.out0, l1?.out1],
    workgroups(g.rows * g.pad, SORT_TILE),
  );
}

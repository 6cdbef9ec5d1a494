// Typed wrappers of shaders/magnitude.wgsl (magnitude-pruning masks; see that file for the rules).
// Bitmask arguments are whole-tensor masks: bit (bitBase + i) is chunk element i.
import { dispatch, workgroups } from './kernels';
import type { Batch } from './buffers';

export interface MagGeometry {
  /** Elements of the chunk. */
  n: number;
  /** Global flat index of chunk element 0. */
  chunkStart: number;
  /** Bit of chunk element 0 in the masks (= chunkStart for whole-tensor bitmasks). */
  bitBase: number;
}

function uniforms(g: MagGeometry, flags: number, rowLen = 0, m = 0, q = 0, words = 0) {
  return { n: g.n, flags, chunk_start: g.chunkStart, bit_base: g.bitBase, row_len: rowLen, m, q, words };
}

/** keys[i] = (free ? 1 << 31 : 0) | magnitude key of x (− base) — free = bit not set in `used`. */
export function nmKeys(b: Batch, g: MagGeometry, x: GPUBuffer, base: GPUBuffer | undefined, used: GPUBuffer | undefined, keys: GPUBuffer): void {
  dispatch(b, 'magnitude', 'nm_keys', uniforms(g, (base ? 1 : 0) | (used ? 2 : 0)), [x, base, used, undefined, keys], workgroups(g.n));
}

/** ORs into `mask` the n:m selection over keys from nmKeys (the chunk holds whole rows of rowLen). */
export function nmMaskBits(b: Batch, g: MagGeometry, rowLen: number, n: number, m: number, keys: GPUBuffer, mask: GPUBuffer): void {
  dispatch(b, 'magnitude', 'nm_mask', uniforms(g, 0, rowLen, m, n), [undefined, undefined, undefined, mask, keys], workgroups(g.n));
}

/** ORs into `mask` the top k of every row of rowLen (the chunk holds whole rows). */
export function rowTopkBits(b: Batch, g: MagGeometry, rowLen: number, k: number, x: GPUBuffer, base: GPUBuffer | undefined, mask: GPUBuffer): void {
  dispatch(b, 'magnitude', 'row_topk', uniforms(g, base ? 1 : 0, rowLen, 0, k), [x, base, undefined, mask], workgroups(g.n, rowLen));
}

/** Select keys (f32 bits) for select.ts: eligible ? min(key, 2³¹−2) + 1 : 0; eligible = free, or taken. */
export function freeKeys(b: Batch, g: MagGeometry, x: GPUBuffer, base: GPUBuffer | undefined, used: GPUBuffer | undefined, taken: boolean, keys: GPUBuffer): void {
  dispatch(b, 'magnitude', 'free_keys', uniforms(g, (base ? 1 : 0) | (used ? 2 : 0) | (taken ? 4 : 0)), [x, base, used, undefined, keys], workgroups(g.n));
}

/** dst[w] |= src[w] for words w in [first, first + words). */
export function maskOr(b: Batch, src: GPUBuffer, dst: GPUBuffer, first: number, words: number): void {
  dispatch(b, 'magnitude', 'mask_or', uniforms({ n: 0, chunkStart: first, bitBase: 0 }, 0, 0, 0, 0, words), [undefined, undefined, src, dst], workgroups(words));
}

/** The mask words holding bits [bitBase, bitBase + n): [first, first + words). */
export function wordRange(bitBase: number, n: number): { first: number; words: number } {
  const first = Math.floor(bitBase / 32);
  return { first, words: n > 0 ? Math.ceil((bitBase + n) / 32) - first : 0 };
}

/** mask word w = bits of elements whose rank (from rank-cache.ts) lies in [lo, hi); n elements, bit 0 at word 0. */
export function rankMask(b: Batch, n: number, ranks: GPUBuffer, lo: number, hi: number, mask: GPUBuffer): void {
  dispatch(b, 'magnitude', 'rank_mask', uniforms({ n, chunkStart: 0, bitBase: 0 }, 0, 0, lo, hi), [undefined, undefined, undefined, mask, ranks], workgroups(Math.ceil(n / 32)));
}

/** ORs into `mask` the n:m selection (free positions of `used` first) walking precomputed block orders. */
export function blockWalk(b: Batch, nElems: number, rowLen: number, n: number, m: number, order: GPUBuffer, used: GPUBuffer | undefined, mask: GPUBuffer): void {
  const blocks = Math.ceil(nElems / rowLen) * Math.ceil(rowLen / m);
  dispatch(b, 'magnitude', 'block_walk', uniforms({ n: nElems, chunkStart: 0, bitBase: 0 }, used ? 2 : 0, rowLen, m, n), [undefined, undefined, used, mask, order], workgroups(blocks));
}

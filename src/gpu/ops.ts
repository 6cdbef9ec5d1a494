// Typed wrappers, one per kernel entry point. Each records into a Batch; n is the chunk's element count.
import type { Dtype } from '../formats/dtype';
import { dispatch } from './kernels';
import type { Batch } from './buffers';

const groups = (n: number) => Math.ceil(n / 256);
const blocks = (n: number) => Math.ceil(n / 1024);
export const BLOCK = 1024;
/** Tie-rank blocks of the top-k mask kernels; chunks start at multiples of this. */
export const TIE_BLOCK = 4096;

/** Decode stored words to f32; roundTo rounds to the compute dtype (mergekit casts inputs to `dtype`). */
export function decode(b: Batch, dtype: Dtype, words: GPUBuffer, out: GPUBuffer, n: number, roundTo?: Dtype): void {
  const r = roundTo === 'BF16' && dtype !== 'BF16' ? 1 : roundTo === 'F16' && dtype !== 'F16' ? 2 : 0;
  const entry = dtype === 'F32' ? 'decode_f32' : dtype === 'F16' ? 'decode_f16' : 'decode_bf16';
  dispatch(b, 'codec', entry, [{ u: n }, { u: r }], [words, out], groups(n));
}

/** Encode f32 to 16-bit words (ceil(n/2) words). F32 output needs no kernel. */
export function encode16(b: Batch, dtype: 'F16' | 'BF16', src: GPUBuffer, words: GPUBuffer, n: number): void {
  dispatch(b, 'encode', dtype === 'F16' ? 'encode_f16' : 'encode_bf16', [{ u: n }], [src, words], groups(Math.ceil(n / 2)));
}

/** acc = (init ? 0 : acc) + coef[k]·x, k = coefOffset + (rowLen ? i / rowLen : 0). */
export function axpy(b: Batch, coef: GPUBuffer, x: GPUBuffer, acc: GPUBuffer, n: number, o: { init: boolean; rowLen?: number; coefOffset?: number }): void {
  dispatch(b, 'elementwise', 'axpy', [{ u: n }, { u: o.rowLen ?? 0 }, { u: o.coefOffset ?? 0 }, { u: o.init ? 1 : 0 }], [coef, x, acc], groups(n));
}

export function divide(b: Batch, acc: GPUBuffer, n: number, by: number): void {
  dispatch(b, 'elementwise', 'divide', [{ u: n }, { u: 0 }, { u: 0 }, { u: 0 }, { f: by }], [undefined, undefined, acc], groups(n));
}

/** Per-1024-block partial sums of a'·b' (a' = a − base if subA, b' likewise) into out[0..blocks). */
export function dotBlocks(b: Batch, a: GPUBuffer, bb: GPUBuffer, base: GPUBuffer | undefined, n: number, subA: boolean, subB: boolean, out: GPUBuffer): void {
  dispatch(b, 'reduce', 'dot_blocks', [{ u: n }, { u: (subA ? 1 : 0) | (subB ? 2 : 0) }], [a, bb, base, undefined, out], blocks(n));
}

/** Per-row sums of a'·b' (rows of rowLen; n a multiple of rowLen) into out[0..rows). */
export function dotRows(b: Batch, a: GPUBuffer, bb: GPUBuffer, base: GPUBuffer | undefined, n: number, rowLen: number, subA: boolean, subB: boolean, out: GPUBuffer): void {
  dispatch(b, 'reduce', 'dot_rows', [{ u: n }, { u: (subA ? 1 : 0) | (subB ? 2 : 0) }, { u: rowLen }], [a, bb, base, undefined, out], n / rowLen);
}

/** Per-block Σ|x − base| (out0) and Σ|(x − base)·mask| (out1). */
export function l1Blocks(b: Batch, x: GPUBuffer, base: GPUBuffer, mask: GPUBuffer | undefined, maskWordOffset: number, n: number, out0: GPUBuffer, out1: GPUBuffer): void {
  dispatch(b, 'reduce', 'l1_blocks', [{ u: n }, { u: mask ? 4 : 0 }, { u: 0 }, { u: maskWordOffset }], [x, x, base, mask, out0, out1], blocks(n));
}

export interface Selection {
  /** 0: select nothing; 1: key ≥ t; 2: key > t, or key == t with tie rank < r. */
  mode: 0 | 1 | 2;
  t: number;
  r: number;
}
export const NONE: Selection = { mode: 0, t: 0xffffffff, r: 0 };

function selUniforms(n: number, useBase: boolean, extra: Partial<{ shift: number; prefixMask: number; prefixValue: number; s1: Selection; s2: Selection; maskWordOffset: number; blockOffset: number; binOffset: number }>) {
  const s1 = extra.s1 ?? NONE;
  const s2 = extra.s2 ?? NONE;
  return [
    { u: n }, { u: useBase ? 1 : 0 }, { u: extra.shift ?? 0 }, { u: extra.prefixMask ?? 0 }, { u: extra.prefixValue ?? 0 },
    { u: s1.mode }, { u: s1.t }, { u: s1.r }, { u: s2.mode }, { u: s2.t }, { u: s2.r },
    { u: extra.maskWordOffset ?? 0 }, { u: extra.blockOffset ?? 0 }, { u: extra.binOffset ?? 0 },
  ];
}

/** Adds to bins[binOffset..+2048) the histogram of digit (key >> shift) & 2047 of keys matching the prefix. */
export function histogram(b: Batch, x: GPUBuffer, base: GPUBuffer | undefined, n: number, shift: number, prefixMask: number, prefixValue: number, bins: GPUBuffer, binOffset = 0): void {
  // few, long-running workgroups: zeroing and flushing 2048 local bins is the fixed cost per group
  const wgs = Math.min(Math.ceil(n / (256 * 256)), 1024);
  dispatch(b, 'select', 'hist', selUniforms(n, !!base, { shift, prefixMask, prefixValue, binOffset }), [x, base, bins], wgs);
}

/** Per-4096-block counts of key == s1.t (ties1) and key == s2.t (ties2), at global block blockOffset. */
export function tieCount(b: Batch, x: GPUBuffer, base: GPUBuffer | undefined, n: number, s1: Selection, s2: Selection, blockOffset: number, ties1: GPUBuffer, ties2: GPUBuffer): void {
  dispatch(b, 'select', 'tie_count', selUniforms(n, !!base, { s1, s2, blockOffset }), [x, base, undefined, ties1, ties2], Math.ceil(n / TIE_BLOCK));
}

/** mask bit = sel(s1) && !sel(s2); ties1/ties2 hold exclusive per-block prefix counts (global blocks). */
export function makeMask(b: Batch, x: GPUBuffer, base: GPUBuffer | undefined, n: number, s1: Selection, s2: Selection, chunkStart: number, ties1: GPUBuffer | undefined, ties2: GPUBuffer | undefined, mask: GPUBuffer): void {
  dispatch(
    b, 'select', 'make_mask',
    selUniforms(n, !!base, { s1, s2, maskWordOffset: chunkStart / 32, blockOffset: chunkStart / TIE_BLOCK }),
    [x, base, undefined, ties1, ties2, mask],
    Math.ceil(n / TIE_BLOCK),
  );
}

export interface GtaStep {
  x: GPUBuffer;
  base: GPUBuffer;
  mask?: GPUBuffer;
  maskWordOffset: number;
  w: number;
  s: number;
  init: boolean;
}

export function gtaSum(b: Batch, st: GtaStep, n: number, sum: GPUBuffer): void {
  dispatch(b, 'gta', 'gta_sum', gtaUniforms(n, st, 0), [st.x, st.base, st.mask, sum], groups(n));
}

export function gtaAgree(b: Batch, st: GtaStep, n: number, sum: GPUBuffer, mixed: GPUBuffer, div: GPUBuffer): void {
  dispatch(b, 'gta', 'gta_agree', gtaUniforms(n, st, 0), [st.x, st.base, st.mask, sum, mixed, div], groups(n));
}

export function gtaFinish(b: Batch, base: GPUBuffer, mixed: GPUBuffer, div: GPUBuffer | undefined, out: GPUBuffer, n: number, o: { normalize: boolean; consensus: boolean; lambda: number; scalarDiv: number }): void {
  const flags = (o.normalize ? 4 : 0) | (o.consensus ? 8 : 0);
  dispatch(b, 'gta', 'gta_finish', [{ u: n }, { u: flags }, { u: 0 }, { u: 0 }, { f: 0 }, { f: 0 }, { f: o.lambda }, { f: o.scalarDiv }], [undefined, base, undefined, out, mixed, div], groups(n));
}

function gtaUniforms(n: number, st: GtaStep, extraFlags: number) {
  const flags = (st.mask ? 1 : 0) | (st.init ? 2 : 0) | extraFlags;
  return [{ u: n }, { u: flags }, { u: st.maskWordOffset }, { u: 0 }, { f: st.w }, { f: st.s }, { f: 1 }, { f: 1 }];
}

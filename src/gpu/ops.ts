// Typed wrappers, one per kernel entry point. Each records into a Batch; n is the chunk's element count.
import type { Dtype } from '../formats/dtype';
import { dispatch, workgroups } from './kernels';
import type { Batch } from './buffers';

export const BLOCK = 1024;
/** Tie-rank blocks of the top-k mask kernels; chunks start at multiples of this. */
export const TIE_BLOCK = 4096;

/** Decode stored words to f32; roundTo rounds to the compute dtype (mergekit casts inputs to `dtype`). */
export function decode(b: Batch, dtype: Dtype, words: GPUBuffer, out: GPUBuffer, n: number, roundTo?: Dtype): void {
  const r = roundTo === 'BF16' && dtype !== 'BF16' ? 1 : roundTo === 'F16' && dtype !== 'F16' ? 2 : 0;
  const entry = dtype === 'F32' ? 'decode_f32' : dtype === 'F16' ? 'decode_f16' : 'decode_bf16';
  dispatch(b, 'codec', entry, { n, round_to: r }, [words, out], workgroups(n));
}

/** Encode f32 to 16-bit words (ceil(n/2) words). F32 output needs no kernel. */
export function encode16(b: Batch, dtype: 'F16' | 'BF16', src: GPUBuffer, words: GPUBuffer, n: number): void {
  dispatch(b, 'encode', dtype === 'F16' ? 'encode_f16' : 'encode_bf16', { n }, [src, words], workgroups(Math.ceil(n / 2)));
}

/** acc = (init ? 0 : acc) + coef[k]·x, k = coefOffset + (rowLen ? i / rowLen : 0). */
export function axpy(b: Batch, coef: GPUBuffer, x: GPUBuffer, acc: GPUBuffer, n: number, o: { init: boolean; rowLen?: number; coefOffset?: number }): void {
  dispatch(b, 'elementwise', 'axpy', { n, row_len: o.rowLen ?? 0, coef_offset: o.coefOffset ?? 0, init: o.init ? 1 : 0, a: 0 }, [coef, x, acc], workgroups(n));
}

export function divide(b: Batch, acc: GPUBuffer, n: number, by: number): void {
  dispatch(b, 'elementwise', 'divide', { n, row_len: 0, coef_offset: 0, init: 0, a: by }, [undefined, undefined, acc], workgroups(n));
}

/** Per-1024-block partial sums of a'·b' (a' = a − base if subA, b' likewise) into out[0..blocks). */
export function dotBlocks(b: Batch, a: GPUBuffer, bb: GPUBuffer, base: GPUBuffer | undefined, n: number, subA: boolean, subB: boolean, out: GPUBuffer): void {
  dispatch(b, 'reduce', 'dot_blocks', { n, flags: (subA ? 1 : 0) | (subB ? 2 : 0), row_len: 0, mask_word_offset: 0, dtypes: 0, round_to: 0 }, [a, bb, base, undefined, out], workgroups(n, BLOCK));
}

/** Per-row sums of a'·b' (rows of rowLen; n a multiple of rowLen) into out[0..rows). */
export function dotRows(b: Batch, a: GPUBuffer, bb: GPUBuffer, base: GPUBuffer | undefined, n: number, rowLen: number, subA: boolean, subB: boolean, out: GPUBuffer): void {
  dispatch(b, 'reduce', 'dot_rows', { n, flags: (subA ? 1 : 0) | (subB ? 2 : 0), row_len: rowLen, mask_word_offset: 0, dtypes: 0, round_to: 0 }, [a, bb, base, undefined, out], workgroups(n, rowLen));
}

/**
 * Per-block Σ|x − base| (out0) and Σ|(x − base)·mask| (out1); x and base decoded f32 buffers, or
 * stored words (FusedInput) decoded on the fly and rounded to roundTo.
 */
export function l1Blocks(
  b: Batch,
  x: GPUBuffer | FusedInput,
  base: GPUBuffer | FusedInput,
  mask: GPUBuffer | undefined,
  maskWordOffset: number,
  n: number,
  out0: GPUBuffer,
  out1: GPUBuffer,
  roundTo?: Dtype,
): void {
  const xi = 'words' in x ? x : { words: x, dtype: 'F32' as Dtype };
  const bi = 'words' in base ? base : { words: base, dtype: 'F32' as Dtype };
  const dtypes = DTYPE_CODE[xi.dtype] | (DTYPE_CODE[bi.dtype] << 4);
  const round = roundTo === 'BF16' ? 1 : roundTo === 'F16' ? 2 : 0;
  dispatch(b, 'reduce', 'l1_blocks', { n, flags: mask ? 4 : 0, row_len: 0, mask_word_offset: maskWordOffset, dtypes, round_to: round }, [xi.words, xi.words, bi.words, mask, out0, out1], workgroups(n, BLOCK));
}

export interface Selection {
  /** 0: select nothing; 1: key ≥ t; 2: key > t, or key == t with tie rank < r. */
  mode: 0 | 1 | 2;
  t: number;
  r: number;
  /** Mode 2, when known: the tied elements kept are those with global index < below (the same set). */
  below?: number;
}
export const NONE: Selection = { mode: 0, t: 0xffffffff, r: 0 };

/**
 * Where a selection's key |x − base| (or |x|) is read from: f32 buffers (decoded inputs, key
 * buffers), or an input's stored words decoded on the fly and rounded to roundTo (TensorJob.source).
 */
export interface KeySource {
  x: GPUBuffer | FusedInput;
  base?: GPUBuffer | FusedInput;
  /** Compute dtype the stored words are rounded to (never for key buffers). */
  roundTo?: Dtype;
}

function selUniforms(n: number, src: KeySource, extra: Partial<{ shift: number; prefixMask: number; prefixValue: number; s1: Selection; s2: Selection; maskWordOffset: number; blockOffset: number; binOffset: number }>) {
  const s1 = extra.s1 ?? NONE;
  const s2 = extra.s2 ?? NONE;
  const code = (x: GPUBuffer | FusedInput | undefined) => (x && 'words' in x ? DTYPE_CODE[x.dtype] : 0);
  return {
    n, flags: src.base ? 1 : 0, shift: extra.shift ?? 0, prefix_mask: extra.prefixMask ?? 0, prefix_value: extra.prefixValue ?? 0,
    mode1: s1.mode, t1: s1.t, r1: s1.r, mode2: s2.mode, t2: s2.t, r2: s2.r,
    mask_word_offset: extra.maskWordOffset ?? 0, block_offset: extra.blockOffset ?? 0, bin_offset: extra.binOffset ?? 0,
    dtypes: code(src.x) | (code(src.base) << 2), round_to: src.roundTo === 'BF16' ? 1 : src.roundTo === 'F16' ? 2 : 0,
    prefix_mask2: 0, prefix_value2: 0, bin_offset2: 0, list_offset: 0, list_count: 0, list_offset2: 0, list_count2: 0, chunk_start: 0,
  };
}

/**
 * Collecting keys in a histogram pass: every key matching the pass's prefix is appended to `list`
 * at `offset` (list[offset] counts them, keys follow); `count` keys arrive (the bucket's count from
 * the previous pass). For histogramPair, the second request's offset and count.
 */
export interface KeyCollect {
  list: GPUBuffer;
  /** Global index of the chunk's first element (the pairs hold global indices). */
  chunkStart: number;
  offset: number;
  count: number;
  offset2?: number;
  count2?: number;
}

const collectUniforms = (c?: KeyCollect) => (c ? { list_offset: c.offset, list_count: c.count, list_offset2: c.offset2 ?? 0, list_count2: c.count2 ?? 0, chunk_start: c.chunkStart } : {});

const buf = (x: GPUBuffer | FusedInput | undefined) => (x && 'words' in x ? x.words : x);

/**
 * histogram() for two requests keyed against the same base, in one sweep that reads the base once:
 * request a's bins at binOffset, b's at binOffset + 2048.
 */
export function histogramPair(b: Batch, a: KeySource, c: KeySource, n: number, shift: number, prefixes: [number, number, number, number], bins: GPUBuffer, binOffset: number, collect?: KeyCollect): void {
  if (!a.base || a.base !== c.base || a.roundTo !== c.roundTo) throw new Error('histogramPair: both requests need the same base');
  const u = selUniforms(n, a, { shift, prefixMask: prefixes[0], prefixValue: prefixes[1], binOffset });
  dispatch(
    b, 'select', 'hist2',
    {
      ...u, flags: u.flags | (collect ? 4 : 0), dtypes: u.dtypes | (((c.x && 'words' in c.x ? DTYPE_CODE[c.x.dtype] : 0) as number) << 4),
      prefix_mask2: prefixes[2], prefix_value2: prefixes[3], bin_offset2: binOffset + 2048, ...collectUniforms(collect),
    },
    [buf(a.x), buf(a.base), bins, undefined, undefined, undefined, buf(c.x), collect?.list],
    workgroups(Math.min(n, 1024 * 256 * 256), 256 * 256),
  );
}

/** Adds to bins[binOffset..+2048) the histogram of digit (key >> shift) & 2047 of keys matching the prefix. */
export function histogram(b: Batch, src: KeySource, n: number, shift: number, prefixMask: number, prefixValue: number, bins: GPUBuffer, binOffset = 0, collect?: KeyCollect): void {
  // few, long-running workgroups: zeroing and flushing 2048 local bins is the fixed cost per group
  // (at most 1024 workgroups of 256 elements per thread)
  const u = selUniforms(n, src, { shift, prefixMask, prefixValue, binOffset });
  dispatch(
    b, 'select', 'hist',
    { ...u, flags: u.flags | (collect ? 4 : 0), ...collectUniforms(collect) },
    [buf(src.x), buf(src.base), bins, undefined, undefined, undefined, undefined, collect?.list],
    workgroups(Math.min(n, 1024 * 256 * 256), 256 * 256),
  );
}

/**
 * Among the `n` pairs collected at list[offset + 1 ..] whose key is `tie` (a selection's threshold),
 * the histogram of digit (index >> shift) & 2047 of the indices matching the prefix.
 */
export function histogramIndex(b: Batch, list: GPUBuffer, offset: number, n: number, tie: number, shift: number, prefixMask: number, prefixValue: number, bins: GPUBuffer, binOffset: number): void {
  dispatch(
    b, 'select', 'hist_index',
    { ...selUniforms(n, { x: list }, { shift, prefixMask, prefixValue, binOffset, s1: { mode: 1, t: tie, r: 0 } }), list_offset: offset },
    [undefined, undefined, bins, undefined, undefined, undefined, undefined, list],
    workgroups(Math.min(n, 1024 * 256 * 256), 256 * 256),
  );
}

/**
 * histogram() over `n` keys collected at list[offset + 1 ..] (KeyCollect) instead of a chunk's
 * elements; with `compact`, the pairs matching the prefix (`compact.count` of them, the bucket's
 * count from the previous pass) are also copied to list[compact.offset ..] in the same layout.
 */
export function histogramList(b: Batch, list: GPUBuffer, offset: number, n: number, shift: number, prefixMask: number, prefixValue: number, bins: GPUBuffer, binOffset: number, compact?: { offset: number; count: number }): void {
  dispatch(
    b, 'select', 'hist_list',
    { ...selUniforms(n, { x: list }, { shift, prefixMask, prefixValue, binOffset }), list_offset: offset, ...(compact ? { flags: 4, list_offset2: compact.offset, list_count2: compact.count } : {}) },
    [undefined, undefined, bins, undefined, undefined, undefined, undefined, list],
    workgroups(Math.min(n, 1024 * 256 * 256), 256 * 256),
  );
}

/** Per-4096-block counts of key == s1.t (ties1) and key == s2.t (ties2), at global block blockOffset. */
export function tieCount(b: Batch, src: KeySource, n: number, s1: Selection, s2: Selection, blockOffset: number, ties1: GPUBuffer, ties2: GPUBuffer): void {
  dispatch(b, 'select', 'tie_count', selUniforms(n, src, { s1, s2, blockOffset }), [buf(src.x), buf(src.base), undefined, ties1, ties2], workgroups(n, TIE_BLOCK));
}

/** mask bit = sel(s1) && !sel(s2); ties1/ties2 hold exclusive per-block prefix counts (global blocks). */
export function makeMask(b: Batch, src: KeySource, n: number, s1: Selection, s2: Selection, chunkStart: number, ties1: GPUBuffer | undefined, ties2: GPUBuffer | undefined, mask: GPUBuffer): void {
  dispatch(
    b, 'select', 'make_mask',
    selUniforms(n, src, { s1, s2, maskWordOffset: chunkStart / 32, blockOffset: chunkStart / TIE_BLOCK }),
    [buf(src.x), buf(src.base), undefined, ties1, ties2, mask],
    workgroups(n, TIE_BLOCK),
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
  dispatch(b, 'gta', 'gta_sum', gtaUniforms(n, st, 0), [st.x, st.base, st.mask, sum], workgroups(n));
}

export function gtaAgree(b: Batch, st: GtaStep, n: number, sum: GPUBuffer, mixed: GPUBuffer, div: GPUBuffer): void {
  dispatch(b, 'gta', 'gta_agree', gtaUniforms(n, st, 0), [st.x, st.base, st.mask, sum, mixed, div], workgroups(n));
}

export function gtaFinish(b: Batch, base: GPUBuffer, mixed: GPUBuffer, div: GPUBuffer | undefined, out: GPUBuffer, n: number, o: { normalize: boolean; consensus: boolean; lambda: number; scalarDiv: number }): void {
  const flags = (o.normalize ? 4 : 0) | (o.consensus ? 8 : 0);
  dispatch(b, 'gta', 'gta_finish', { n, flags, mask_word_offset: 0, w: 0, s: 0, lambda: o.lambda, div: o.scalarDiv }, [undefined, base, undefined, out, mixed, div], workgroups(n));
}

/** Task vectors gtaFused merges in one pass (its WGSL binds three inputs and three masks). */
export const GTA_FUSED_MAX = 3;

const DTYPE_CODE: Record<Dtype, number> = { F32: 0, F16: 1, BF16: 2 };

/**
 * A task vector kept by thresholds on its top-k key |x − base| and global index g instead of a
 * mask: (key > lo, or key == lo and g < below) and key < hi (hi 0xffffffff: no upper cut).
 */
export interface FusedThresholds {
  lo: number;
  below: number;
  hi: number;
}

/** A gtaFused input: stored words (decoded on the fly, rounded to roundTo) or a decoded f32 buffer (dtype F32, no roundTo). */
export interface FusedInput {
  words: GPUBuffer;
  dtype: Dtype;
}

/**
 * The whole GTA merge of ≤ GTA_FUSED_MAX task vectors in one pass: gtaSum × k, gtaAgree × k (with
 * consensus) and gtaFinish, with the same f32 operations in the same order (shaders/gtafused.wgsl).
 * `out` receives n f32 values, or with `encode` ceil(n/2) words of that 16-bit dtype (encode16's layout).
 */
export function gtaFused(
  b: Batch,
  n: number,
  base: FusedInput,
  steps: { x: FusedInput; mask?: GPUBuffer; sel?: FusedThresholds; w: number; s: number }[],
  o: { maskWordOffset: number; chunkStart?: number; normalize: boolean; consensus: boolean; lambda: number; scalarDiv: number; roundTo?: Dtype; encode?: 'F16' | 'BF16' },
  out: GPUBuffer,
): void {
  if (steps.length < 1 || steps.length > GTA_FUSED_MAX) throw new Error(`gtaFused: ${steps.length} task vectors (1..${GTA_FUSED_MAX})`);
  const at = (k: number): Partial<(typeof steps)[number]> & { w: number; s: number } => steps[k] ?? { w: 0, s: 0 };
  const dtypes = steps.reduce((a, st, k) => a | (DTYPE_CODE[st.x.dtype] << (2 * k)), DTYPE_CODE[base.dtype] << 6);
  const flags = steps.reduce((a, st, k) => a | (st.mask ? 1 << k : st.sel ? 32 << k : 0), 0) | (o.normalize ? 8 : 0) | (o.consensus ? 16 : 0);
  const lo = (k: number) => at(k).sel?.lo ?? 0;
  const hi = (k: number) => at(k).sel?.hi ?? 0;
  const ib = (k: number) => at(k).sel?.below ?? 0;
  const roundTo = o.roundTo === 'BF16' ? 1 : o.roundTo === 'F16' ? 2 : 0;
  dispatch(
    b, 'gtafused', o.encode ? 'gta_fused_encode' : 'gta_fused',
    {
      n, count: steps.length, dtypes, round_to: roundTo, flags, mask_word_offset: o.maskWordOffset,
      w0: at(0).w, w1: at(1).w, w2: at(2).w, s0: at(0).s, s1: at(1).s, s2: at(2).s, lambda: o.lambda, div: o.scalarDiv,
      out_dtype: o.encode ? DTYPE_CODE[o.encode] : 0,
      lo0: lo(0), lo1: lo(1), lo2: lo(2), hi0: hi(0), hi1: hi(1), hi2: hi(2), ib0: ib(0), ib1: ib(1), ib2: ib(2), chunk_start: o.chunkStart ?? 0,
    },
    [at(0).x?.words, at(1).x?.words, at(2).x?.words, base.words, at(0).mask, at(1).mask, at(2).mask, out],
    workgroups(o.encode ? Math.ceil(n / 2) : n),
  );
}

function gtaUniforms(n: number, st: GtaStep, extraFlags: number) {
  const flags = (st.mask ? 1 : 0) | (st.init ? 2 : 0) | extraFlags;
  return { n, flags, mask_word_offset: st.maskWordOffset, w: st.w, s: st.s, lambda: 1, div: 1 };
}

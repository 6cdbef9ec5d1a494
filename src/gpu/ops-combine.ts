// Typed wrappers of shaders/combine.wgsl (per-vector combinations of task vectors, column statistics).
import { dispatch, workgroups } from './kernels';
import type { Batch } from './buffers';
/** Rows per column-statistics block (col_dots): chunks of column-wise methods hold whole blocks. */
import { NUSLERP_COL_BLOCK } from '../methods/nuslerp/spec';

/** Rows per column-statistics block (shaders/combine.wgsl), shared with the CPU engine. */
export const COL_BLOCK = NUSLERP_COL_BLOCK;

/** Which coefficient applies to element i: one for all, one per row of rowLen, or one per column. */
export type CoefMode = 'scalar' | 'row' | 'col';
const MODE: Record<CoefMode, number> = { scalar: 0, row: 1, col: 2 };

/**
 * out = (init ? (initBase ? base : 0) : out) + coef[k]·(a − (subBase ? base : 0)),
 * k = coefOffset (+ i / rowLen for 'row', + i % rowLen for 'col').
 */
export function deltaAxpy(
  b: Batch,
  coef: GPUBuffer,
  a: GPUBuffer,
  base: GPUBuffer | undefined,
  out: GPUBuffer,
  n: number,
  o: { init: boolean; initBase?: boolean; subBase?: boolean; mode?: CoefMode; rowLen?: number; coefOffset?: number },
): void {
  const flags = (o.subBase ? 1 : 0) | (o.init ? 2 : 0) | (o.initBase ? 4 : 0) | (MODE[o.mode ?? 'scalar'] << 8);
  if ((o.subBase || o.initBase) && !base) throw new Error('deltaAxpy: base buffer required');
  dispatch(b, 'combine', 'delta_axpy', { n, flags, row_len: o.rowLen ?? 1, coef_offset: o.coefOffset ?? 0, t: 0 }, [a, undefined, base, coef, out], workgroups(n));
}

/** out = w·x + (1 − w)·base, w = clamp(t / max(|base − x|, 1e-6), 0, 1). */
export function nearswapKernel(b: Batch, x: GPUBuffer, base: GPUBuffer, out: GPUBuffer, n: number, t: number): void {
  dispatch(b, 'combine', 'nearswap', { n, flags: 0, row_len: 1, coef_offset: 0, t }, [x, undefined, base, undefined, out], workgroups(n));
}

/**
 * Column statistics of a chunk of whole rows (rowLen columns): per block of COL_BLOCK rows and column j,
 * aa/bb/ab[blk·rowLen + j] = Σ a'·a', Σ b'·b', Σ a'·b' (a' = a − base when base is given).
 */
export function colDots(b: Batch, a: GPUBuffer, bb: GPUBuffer, base: GPUBuffer | undefined, n: number, rowLen: number, aa: GPUBuffer, bbOut: GPUBuffer, ab: GPUBuffer): void {
  const blocks = Math.ceil(n / rowLen / COL_BLOCK);
  dispatch(b, 'combine', 'col_dots', { n, flags: base ? 1 : 0, row_len: rowLen, coef_offset: 0, t: 0 }, [a, bb, base, undefined, aa, bbOut, ab], workgroups(blocks * rowLen));
}

// Typed wrappers of shaders/fusion.wgsl (arcee_fusion).
import { dispatch, workgroups } from './kernels';
import type { Batch } from './buffers';

/** kl[r] = KL(softmax(f_r) + 1e-8 ‖ softmax(b_r) + 1e-8) for every row r of rowLen (one workgroup per row). */
export function rowKl(b: Batch, f: GPUBuffer, base: GPUBuffer, n: number, rowLen: number, kl: GPUBuffer): void {
  dispatch(b, 'fusion', 'row_kl', { n, row_len: rowLen, thr: 0, mode: 0 }, [f, base, undefined, kl], workgroups(n, rowLen));
}

/** Which form of the importance v = |f − b|·kl[i / rowLen] to write: v itself, max(v, 0) or max(−v, 0). */
export type ImportanceForm = 'value' | 'positive' | 'negative';
const FORM: Record<ImportanceForm, number> = { value: 0, positive: 1, negative: 2 };

/** imp = |f − b| · kl[i / rowLen] (or its non-negative key forms, for the radix select). */
export function importance(b: Batch, f: GPUBuffer, base: GPUBuffer, kl: GPUBuffer, n: number, rowLen: number, imp: GPUBuffer, form: ImportanceForm = 'value'): void {
  dispatch(b, 'fusion', 'importance', { n, row_len: rowLen, thr: 0, mode: FORM[form] }, [f, base, kl, imp], workgroups(n));
}

/** Per-1024-block count of imp < 0 into out[0..blocks). */
export function negativeBlocks(b: Batch, imp: GPUBuffer, n: number, out: GPUBuffer): void {
  dispatch(b, 'fusion', 'neg_blocks', { n, row_len: 1, thr: 0, mode: 0 }, [undefined, undefined, imp, out], workgroups(n, 1024));
}

/** out = b + (f − b)·(imp ≥ thr). */
export function fusionApply(b: Batch, f: GPUBuffer, base: GPUBuffer, imp: GPUBuffer, n: number, thr: number, out: GPUBuffer): void {
  dispatch(b, 'fusion', 'fusion_apply', { n, row_len: 1, thr, mode: 0 }, [f, base, imp, out], workgroups(n));
}

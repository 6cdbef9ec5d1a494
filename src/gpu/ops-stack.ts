// Typed wrappers of shaders/stack.wgsl: statistics across several models' task vectors, one model per
// dispatch (sums in model order), and their per-1024-block counts.
import { dispatch, workgroups, type Workgroups } from './kernels';
import type { Batch } from './buffers';

/** One model's task vector x − base, masked by bit i of `mask` (from word maskWordOffset) when given. */
export interface TaskVec {
  x: GPUBuffer;
  base: GPUBuffer;
  mask?: GPUBuffer;
  maskWordOffset?: number;
}

interface Extra {
  init?: boolean;
  last?: boolean;
  inv?: number;
  w?: number;
  eps?: number;
  lambda?: number;
}

function run(b: Batch, entry: string, tv: TaskVec, n: number, e: Extra, bufs: [GPUBuffer | undefined, GPUBuffer | undefined, GPUBuffer | undefined], wgs: Workgroups): void {
  const flags = (tv.mask ? 1 : 0) | (e.init ? 2 : 0) | (e.last ? 4 : 0);
  dispatch(
    b, 'stack', entry,
    { n, flags, mask_word_offset: tv.maskWordOffset ?? 0, inv: e.inv ?? 1, w: e.w ?? 1, eps: e.eps ?? 0, lambda: e.lambda ?? 1 },
    [tv.x, tv.base, tv.mask, ...bufs],
    wgs,
  );
}

/** sum = (init ? 0 : sum) + τ. */
export function tvSum(b: Batch, tv: TaskVec, n: number, sum: GPUBuffer, init: boolean): void {
  run(b, 'tv_sum', tv, n, { init }, [sum, undefined, undefined], workgroups(n));
}

/** sq = (init ? 0 : sq) + (τ − sum·inv)²; on the last model sq ·= inv (the population variance). */
export function tvSqDev(b: Batch, tv: TaskVec, n: number, sum: GPUBuffer, sq: GPUBuffer, inv: number, init: boolean, last: boolean): void {
  run(b, 'tv_sqdev', tv, n, { init, last, inv }, [sum, sq, undefined], workgroups(n));
}

/** Sign agreement with the elected sign of `sum`: mixed += agree ? τ·w : 0, div += agree ? w : 0. */
export function sceAgree(b: Batch, tv: TaskVec, n: number, sum: GPUBuffer, mixed: GPUBuffer, div: GPUBuffer, w: number, init: boolean): void {
  run(b, 'sce_agree', tv, n, { init, w }, [sum, mixed, div], workgroups(n));
}

/** out = base + mixed / max(div, 1e-6), written into `out` (the election-sum buffer may be reused). */
export function sceFinish(b: Batch, base: GPUBuffer, n: number, out: GPUBuffer, mixed: GPUBuffer, div: GPUBuffer): void {
  run(b, 'sce_finish', { x: base, base }, n, {}, [out, mixed, div], workgroups(n));
}

/** cnt = (init ? 0 : cnt) + (|τ| > eps). */
export function ramCount(b: Batch, tv: TaskVec, n: number, cnt: GPUBuffer, eps: number, init: boolean): void {
  run(b, 'ram_count', tv, n, { init, eps }, [cnt, undefined, undefined], workgroups(n));
}

/** acc += (cnt == 1 ? z·λ : cnt > 1 ? z / cnt : 0), z = |τ| > eps ? τ : 0; on the last model acc = base + acc. */
export function ramAcc(b: Batch, tv: TaskVec, n: number, cnt: GPUBuffer, acc: GPUBuffer, eps: number, lambda: number, init: boolean, last: boolean): void {
  run(b, 'ram_acc', tv, n, { init, last, eps, lambda }, [cnt, acc, undefined], workgroups(n));
}

/** Per-1024-block Σ τ² into out[0..blocks). */
export function sqBlocks(b: Batch, tv: TaskVec, n: number, out: GPUBuffer): void {
  run(b, 'sq_blocks', tv, n, {}, [undefined, out, undefined], workgroups(n, 1024));
}

/** Per-1024-block count of x ≠ 0 into out[0..blocks) (f32 counts, exact). */
export function nonzeroBlocks(b: Batch, x: GPUBuffer, n: number, out: GPUBuffer): void {
  run(b, 'nz_blocks', { x, base: x }, n, {}, [undefined, out, undefined], workgroups(n, 1024));
}

/** Per-1024-block counts of |τ| > eps where cnt > 1 (shared) and where cnt == 1 (unique). */
export function ramBlocks(b: Batch, tv: TaskVec, n: number, cnt: GPUBuffer, eps: number, shared: GPUBuffer, unique: GPUBuffer): void {
  run(b, 'ram_blocks', tv, n, { eps }, [cnt, shared, unique], workgroups(n, 1024));
}

import type { MethodSpec } from '../spec';
import { checkNumber } from '../shared/checks';

/** SCE (mergekit sce.py): Select by variance, Calculate energy weights, Erase minority signs. */
export const sce: MethodSpec = {
  name: 'sce',
  label: 'SCE (select, calculate, erase)',
  description: 'Keeps the positions where the task vectors vary most (select_topk), weights each task vector by its mean square, and averages the ones agreeing with the elected sign.',
  reference: 'https://arxiv.org/abs/2408.07990',
  base: 'required',
  minInputs: 1,
  params: [
    { name: 'select_topk', scope: 'global', type: 'number', default: 1.0, min: 0, max: 1, description: 'Fraction of the positions with non-zero variance kept (by largest variance across the task vectors); 1 keeps all, ≤ 0 none.' },
    { name: 'int8_mask', scope: 'global', type: 'boolean', default: false, description: 'Store masks as int8 (memory only; no numeric effect).' },
  ],
  embedCrop: 'to-base',
  shapeMismatch: 'skip',
  validate(params) {
    checkNumber('sce', 'select_topk', params.select_topk);
  },
};

// Host-side arithmetic shared by the WebGPU (./webgpu.ts) and CPU (./cpu.ts) implementations.

/** k = int(count_nonzero(var) · select_topk), the product in float32 as torch computes it. */
export function sceK(nonzero: number, topk: number): number {
  return Math.trunc(Math.fround(Math.fround(nonzero) * Math.fround(topk)));
}

/** Energy weights wₘ = mean(τₘ²) / Σ mean(τ²), uniform 1/M when that sum is below 1e-6 (mergekit sce_weight). */
export function sceWeights(sumSquares: number[], n: number): number[] {
  const means = sumSquares.map((s) => s / n);
  const total = means.reduce((a, b) => a + b, 0);
  if (Math.abs(total) < 1e-6) return means.map(() => 1 / means.length);
  return means.map((m) => m / total);
}

export const specs: readonly MethodSpec[] = [sce];

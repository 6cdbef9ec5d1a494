import type { MethodSpec } from '../spec';

/** Model Stock: interpolate the mean of the fine-tunes toward the base by the cosine of their deltas. */
export const modelStock: MethodSpec = {
  name: 'model_stock',
  label: 'Model Stock',
  description: 't = N·c / (1 + (N−1)·c) from the mean pairwise cosine c of the task vectors; result t·mean + (1−t)·base.',
  reference: 'https://arxiv.org/abs/2403.19522',
  base: 'required',
  minInputs: 3,
  // mergekit: "model_stock needs at least 2 models besides the base"; checked per slice before any read.
  nonBaseInputs: { min: 2 },
  params: [
    { name: 'filter_wise', scope: 'global', type: 'boolean', default: false, description: 'Compute the cosine per row instead of over the whole tensor.' },
  ],
  embedCrop: 'min',
  shapeMismatch: 'error',
};

/**
 * The interpolation factor of one vector from the dot products of its task vectors (f64; the WebGPU
 * and CPU engines share it): c = mean over p < q of clamp(oₚ·o_q / max(‖oₚ‖‖o_q‖, 1e-6), ±1),
 * t = N·c / (1 + (N−1)·c) (no guard, as mergekit). The result is t/N·Σ wᵢ + (1 − t)·w₀.
 */
export function modelStockT(N: number, dot: (p: number, q: number) => number): number {
  let cs = 0;
  let count = 0;
  for (let p = 0; p < N; p++)
    for (let q = p + 1; q < N; q++) {
      const denom = Math.max(Math.sqrt(dot(p, p)) * Math.sqrt(dot(q, q)), 1e-6);
      cs += Math.min(1, Math.max(-1, dot(p, q) / denom));
      count++;
    }
  const cm = cs / count;
  return (N * cm) / (1 + (N - 1) * cm);
}

export const specs: readonly MethodSpec[] = [modelStock];

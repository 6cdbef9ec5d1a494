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

export const specs: readonly MethodSpec[] = [modelStock];

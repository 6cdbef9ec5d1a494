import type { MethodSpec } from '../spec';

/** Weighted average: Σ wᵢ·Xᵢ, divided by Σ wᵢ when normalize (no zero-sum guard, as mergekit). */
export const linear: MethodSpec = {
  name: 'linear',
  label: 'Linear (weighted average)',
  description: 'Weighted sum of the models; divided by the sum of weights when normalize is on.',
  reference: 'https://arxiv.org/abs/2203.05482',
  base: 'input',
  minInputs: 1,
  params: [
    { name: 'weight', scope: 'model', type: 'number', required: true, min: 0, max: 1, description: 'Weight of this model.' },
    { name: 'normalize', scope: 'global', type: 'boolean', default: true, description: 'Divide by the sum of weights.' },
  ],
  embedCrop: 'min',
  shapeMismatch: 'error',
  evolve: { genes: ['weight'], mergekitEvolve: true },
};

export const specs: readonly MethodSpec[] = [linear];

import { MethodError } from '../../errors';
import type { MethodSpec } from '../spec';
import { checkNumber } from '../shared/checks';

/** Multi-SLERP (mergekit multislerp.py): barycentric interpolation of any number of models on a hypersphere. */
export const multislerp: MethodSpec = {
  name: 'multislerp',
  label: 'Multi-SLERP',
  description: 'Unit directions averaged with the weights, projected back to the sphere and scaled by the weighted mean norm; task vectors when a base model is given.',
  reference: 'https://goddard.blog/posts/multislerp-wow-what-a-cool-idea',
  base: 'optional',
  minInputs: 1,
  nonBaseInputs: { min: 1 },
  params: [
    { name: 'weight', scope: 'model', type: 'number', required: true, min: 0, max: 1, description: 'Weight of this model.' },
    { name: 'normalize_weights', scope: 'global', type: 'boolean', default: true, description: 'Divide the weights by their sum.' },
    { name: 'eps', scope: 'global', type: 'number', default: 1e-8, min: 0, max: 1e-3, description: 'Small constant added to norms for numerical stability.' },
  ],
  embedCrop: 'min',
  shapeMismatch: 'error',
  validate(params, perModel, inputs) {
    checkNumber('multislerp', 'eps', params.eps, { min: 0 });
    let sum = 0;
    let count = 0;
    perModel.forEach((p, i) => {
      if (inputs?.[i]?.isBase) return; // the base is the origin, not interpolated: its weight is unused
      checkNumber('multislerp', 'weight', p.weight, { model: inputs?.[i]?.model });
      if (typeof p.weight === 'number') sum += p.weight;
      count++;
    });
    // One model is returned as it is; more are weighted, divided by Σw when normalize_weights.
    if (params.normalize_weights !== false && count > 1 && sum === 0)
      throw new MethodError(
        'multislerp: the weights sum to 0, and normalize_weights divides by their sum; give weights with a non-zero sum or set normalize_weights: false',
        { key: 'weight' },
      );
  },
};

export const specs: readonly MethodSpec[] = [multislerp];

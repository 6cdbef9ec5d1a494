import type { MethodSpec } from '../spec';
import { checkNumber } from '../shared/checks';

/**
 * NuSLERP (mergekit nuslerp.py): slerp between exactly two models with t = w_b / (w_a + w_b), over the
 * whole tensor (nuslerp_flatten), per row, or per column (nuslerp_row_wise — mergekit's code
 * transposes, so "row-wise" means column vectors); with a base model it interpolates task vectors.
 */
export const nuslerp: MethodSpec = {
  name: 'nuslerp',
  label: 'NuSLERP',
  description: 'Spherical interpolation of two models (or of their task vectors when a third, base model is given) with t = w₂ / (w₁ + w₂); whole tensor, per row or per column.',
  base: 'optional',
  minInputs: 2,
  maxInputs: 3,
  nonBaseInputs: { min: 2, max: 2 },
  params: [
    { name: 'weight', scope: 'model', type: 'number', required: true, min: 0, max: 1, description: 'Relative weight of this model: t = w₂ / (w₁ + w₂) (0.5 when the sum is below 1e-6).' },
    { name: 'nuslerp_flatten', scope: 'global', type: 'boolean', default: true, description: 'Treat the whole tensor as one vector.' },
    { name: 'nuslerp_row_wise', scope: 'global', type: 'boolean', default: false, description: 'Without flatten: interpolate column vectors (mergekit transposes) instead of rows.' },
  ],
  embedCrop: 'min',
  shapeMismatch: 'error',
  validate(_params, perModel, inputs) {
    perModel.forEach((p, i) => {
      if (!inputs?.[i]?.isBase) checkNumber('nuslerp', 'weight', p.weight, { model: inputs?.[i]?.model });
    });
  },
};

export const specs: readonly MethodSpec[] = [nuslerp];

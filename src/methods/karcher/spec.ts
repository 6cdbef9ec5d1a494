import type { MethodSpec } from '../spec';
import { checkNumber } from '../shared/checks';

/** Karcher mean (mergekit karcher.py): the Riemannian mean of the models' directions, equal weights. */
export const karcher: MethodSpec = {
  name: 'karcher',
  label: 'Karcher mean',
  description: 'Iterates toward the intrinsic (Karcher) mean of the unit directions on the hypersphere, α = 1/N each, then scales by the mean norm. A base_model is averaged like any other input.',
  reference: 'https://en.wikipedia.org/wiki/Karcher_mean',
  base: 'input',
  minInputs: 1,
  params: [
    { name: 'max_iter', scope: 'global', type: 'number', default: 10, min: 0, max: 100, description: 'Maximum number of iterations.' },
    { name: 'tol', scope: 'global', type: 'number', default: 1e-5, min: 0, max: 1e-2, description: 'Convergence tolerance (also the smallest norm that counts as non-zero).' },
  ],
  embedCrop: 'min',
  shapeMismatch: 'error',
  validate(params) {
    checkNumber('karcher', 'max_iter', params.max_iter, { min: 0, integer: true });
    checkNumber('karcher', 'tol', params.tol, { min: 0 });
  },
};

export const specs: readonly MethodSpec[] = [karcher];

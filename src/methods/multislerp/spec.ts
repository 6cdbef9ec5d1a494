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

/** The weights the engines use: as given, or divided by their sum when normalize_weights. */
export function multislerpWeights(w: number[], normalize: boolean): number[] {
  if (!normalize) return w;
  const s = w.reduce((a, b) => a + b, 0);
  return w.map((x) => x / s);
}

/**
 * mergekit's multislerp on the Gram matrix G of the task vectors Xᵢ (xᵢ − base, or xᵢ): every vector
 * it forms (unit vectors, their weighted mean m, the tangent sum T, the result) is a combination
 * Σ cᵢ·Xᵢ, so one pass of block dot products gives all norms and dots in f64, and the result is
 * [base +] Σ rᵢ·Xᵢ. Returns r (f64; the WebGPU and CPU engines share it), or throws where mergekit
 * raises (‖m‖ < eps with more than 2 models).
 */
export function multislerpCoefficients(G: number[][], w: number[], eps: number, tensor: string): number[] {
  const N = w.length;
  const quad = (a: number[], b: number[]) => {
    let s = 0;
    for (let i = 0; i < N; i++) for (let j = 0; j < N; j++) s += a[i] * G[i][j] * b[j];
    return s;
  };
  const norms = G.map((row, i) => Math.sqrt(Math.max(0, row[i])));
  const mu = w.map((wi, i) => wi / (norms[i] + eps)); // m = Σ wᵢ·uᵢ, uᵢ = Xᵢ/(nᵢ + eps)
  const mn = Math.sqrt(Math.max(0, quad(mu, mu)));
  if (mn < eps) {
    if (N === 2) return [w[0], w[1]]; // mergekit's fallback: w₀X₀ + w₁X₁
    throw new MethodError(
      `multislerp: the weighted mean of the unit task vectors of tensor "${tensor}" is zero (antipodal models whose weights cancel); use different weights`,
      { tensor, key: 'weight' },
    );
  }
  const mhat = mu.map((x) => x / mn);
  // dᵢ = uᵢ·m̂;  T = Σ wᵢ (uᵢ − dᵢ·m̂)
  let D = 0;
  for (let i = 0; i < N; i++) {
    let gi = 0;
    for (let j = 0; j < N; j++) gi += G[i][j] * mhat[j];
    D += w[i] * (gi / (norms[i] + eps));
  }
  const T = mu.map((x, j) => x - D * mhat[j]);
  const L = Math.sqrt(Math.max(0, quad(T, T))) + eps;
  let avg = 0;
  for (let i = 0; i < N; i++) avg += norms[i] * w[i];
  const cl = Math.cos(L);
  const sl = Math.sin(L) / L;
  return mhat.map((x, j) => (x * cl + T[j] * sl) * avg);
}

export const specs: readonly MethodSpec[] = [multislerp];

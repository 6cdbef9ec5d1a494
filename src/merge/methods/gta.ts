// The generalized task arithmetic family (mergekit's generalized_task_arithmetic.py): one factory
// over (sign consensus, sparsifier, defaults). Rows below mirror mergekit's registry.

import { MethodError } from '../../errors';
import type { MethodSpec, ParamSpec } from '../spec';

export type Sparsifier = 'magnitude' | 'random' | 'magnitude_outliers' | 'della_magprune';

export interface GtaVariant {
  name: string;
  label: string;
  description: string;
  reference?: string;
  consensus: boolean;
  sparsifier?: Sparsifier;
  normalize: boolean;
  rescale: boolean;
}

const weight: ParamSpec = { name: 'weight', scope: 'model', type: 'number', required: true, min: 0, max: 1, description: 'Weight of this task vector.' };
const density: ParamSpec = { name: 'density', scope: 'model', type: 'number', default: 1.0, min: 0, max: 1, description: 'Fraction of the task vector kept.' };
const gamma: ParamSpec = { name: 'gamma', scope: 'model', type: 'number', default: 0.01, min: 0, max: 1, description: 'Fraction of largest-magnitude outliers removed (breadcrumbs).' };
const epsilon: ParamSpec = { name: 'epsilon', scope: 'model', type: 'number', default: 0.15, min: 0, max: 1, description: 'Keep-probability spread around density (DELLA).' };

export function defineGta(v: GtaVariant): MethodSpec & { gta: GtaVariant } {
  const params: ParamSpec[] = [weight];
  if (v.sparsifier) params.push(density);
  if (v.sparsifier === 'magnitude_outliers') params.push(gamma);
  if (v.sparsifier === 'della_magprune') params.push(epsilon);
  params.push(
    { name: 'normalize', scope: 'global', type: 'boolean', default: v.normalize, description: 'Divide the merged delta by the sum of (sign-agreeing) weights.' },
    { name: 'rescale', scope: 'global', type: 'boolean', default: v.rescale, description: 'Rescale each pruned task vector so its L1 norm equals the original.' },
    { name: 'lambda', scope: 'global', type: 'number', default: 1.0, min: 0, max: 2, description: 'Scale of the merged task vector.' },
    { name: 'int8_mask', scope: 'global', type: 'boolean', default: false, description: 'Store masks as int8 (memory only; no numeric effect).' },
  );
  return {
    name: v.name,
    label: v.label,
    description: v.description,
    reference: v.reference,
    base: 'required',
    minInputs: 1,
    params,
    embedCrop: 'to-base',
    shapeMismatch: 'skip',
    random: v.sparsifier === 'random' || v.sparsifier === 'della_magprune',
    gta: v,
    validate(_global, perModel) {
      for (const p of perModel) {
        const d = p.density;
        if (typeof d === 'number' && !(d >= 0)) throw new MethodError(`density must be ≥ 0, got ${d}`, { key: 'density' });
      }
    },
  };
}

export const taskArithmetic = defineGta({
  name: 'task_arithmetic', label: 'Task arithmetic', reference: 'https://arxiv.org/abs/2212.04089',
  description: 'base + λ·Σ wᵢ·(Xᵢ − base).', consensus: false, normalize: false, rescale: false,
});
export const ties = defineGta({
  name: 'ties', label: 'TIES', reference: 'https://arxiv.org/abs/2306.01708',
  description: 'Keep the top-k magnitudes of each task vector, elect a sign per element, average the agreeing ones.',
  consensus: true, sparsifier: 'magnitude', normalize: true, rescale: false,
});
export const breadcrumbs = defineGta({
  name: 'breadcrumbs', label: 'Model Breadcrumbs', reference: 'https://arxiv.org/abs/2312.06795',
  description: 'Drop both the smallest and the largest (outlier) magnitudes of each task vector.',
  consensus: false, sparsifier: 'magnitude_outliers', normalize: false, rescale: false,
});
export const breadcrumbsTies = defineGta({
  name: 'breadcrumbs_ties', label: 'Model Breadcrumbs + TIES sign election', reference: 'https://arxiv.org/abs/2312.06795',
  description: 'Breadcrumbs pruning followed by TIES sign consensus.',
  consensus: true, sparsifier: 'magnitude_outliers', normalize: false, rescale: false,
});

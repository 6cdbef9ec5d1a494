// The generalized task arithmetic family (mergekit's generalized_task_arithmetic.py): one factory
// over (sign consensus, sparsifier, defaults). Rows below mirror mergekit's registry.

import { MethodError } from '../../errors';
import { bool, num } from '../shared/params';
import type { EvolveSpec, MethodSpec, ParamSpec } from '../spec';

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
  /** What evolution searches (absent: not offered by evolution). */
  evolve?: EvolveSpec;
}

const weight: ParamSpec = { name: 'weight', scope: 'model', type: 'number', required: true, min: 0, max: 1, description: 'Weight of this task vector.' };
const density: ParamSpec = { name: 'density', scope: 'model', type: 'number', default: 1.0, min: 0, max: 1, description: 'Fraction of the task vector kept.' };
const gamma: ParamSpec = { name: 'gamma', scope: 'model', type: 'number', default: 0.01, min: 0, max: 1, description: 'Fraction of largest-magnitude outliers removed (breadcrumbs).' };
const epsilon: ParamSpec = { name: 'epsilon', scope: 'model', type: 'number', default: 0.15, min: 0, max: 1, description: 'Keep-probability spread around density (DELLA): the smallest magnitude of a row is kept with probability density − epsilon, the largest with density + epsilon, linearly in between by rank. Needs 0 < density − epsilon and density + epsilon < 1.' };
const rescaleInverseDensity: ParamSpec = {
  name: 'rescale_inverse_density',
  scope: 'global',
  type: 'boolean',
  default: false,
  description:
    'Extension (mergekit does not have it): divide the kept elements by density — the DARE paper\'s rescale, and mergekit\'s before 2025 — instead of the L1 rule. When true it replaces the L1 rescale and `rescale` is ignored.',
};

export function defineGta(v: GtaVariant): MethodSpec & { gta: GtaVariant } {
  const params: ParamSpec[] = [weight];
  if (v.sparsifier) params.push(density);
  if (v.sparsifier === 'magnitude_outliers') params.push(gamma);
  if (v.sparsifier === 'della_magprune') params.push(epsilon);
  if (v.sparsifier === 'random') params.push(rescaleInverseDensity);
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
    ...(v.evolve ? { evolve: v.evolve } : {}),
    validate(_global, perModel, inputs) {
      for (const [i, p] of perModel.entries()) {
        const d = p.density;
        if (typeof d === 'number' && !(d >= 0)) throw new MethodError(`density must be ≥ 0, got ${d}`, { key: 'density' });
        // the base is never sparsified (mergekit checks only the task vectors)
        if (v.sparsifier === 'della_magprune' && !inputs?.[i]?.isBase) checkDella(v.name, d, p.epsilon, inputs?.[i]?.model);
      }
    },
  };
}

/**
 * DELLA's keep probabilities must lie in (0, 1): mergekit raises for d − ε ≤ 0 or d + ε ≥ 1 when
 * 0 < d < 1 (d ≥ 1 keeps everything, d ≤ 0 nothing, unchecked). A negative ε mirrors the ramp, so
 * the rule is applied to |ε| (for ε ≥ 0 it is exactly mergekit's).
 */
export function checkDella(method: string, d: unknown, eps: unknown, model?: string): void {
  if (typeof d !== 'number' || !(d > 0 && d < 1)) return;
  const e = typeof eps === 'number' ? eps : 0.15;
  const who = model ? ` (model ${model})` : '';
  const details = { key: 'epsilon', ...(model ? { model } : {}) };
  if (!Number.isFinite(e)) throw new MethodError(`${method}: epsilon${who} must be a finite number, got ${e}`, details);
  const a = Math.abs(e);
  if (!(d - a > 0 && d + a < 1))
    throw new MethodError(
      `${method}: density ${d} and epsilon ${e}${who} give keep probabilities from ${+(d - a).toPrecision(6)} to ${+(d + a).toPrecision(6)}; ` +
        `both must lie inside (0, 1): 0 < density − epsilon and density + epsilon < 1, i.e. |epsilon| < ${+Math.min(d, 1 - d).toPrecision(6)} for density ${d}`,
      details,
    );
}

export const taskArithmetic = defineGta({
  name: 'task_arithmetic', label: 'Task arithmetic', reference: 'https://arxiv.org/abs/2212.04089',
  description: 'base + λ·Σ wᵢ·(Xᵢ − base).', consensus: false, normalize: false, rescale: false,
  evolve: { genes: ['weight'], mergekitEvolve: true },
});
export const ties = defineGta({
  name: 'ties', label: 'TIES', reference: 'https://arxiv.org/abs/2306.01708',
  description: 'Keep the top-k magnitudes of each task vector, elect a sign per element, average the agreeing ones.',
  consensus: true, sparsifier: 'magnitude', normalize: true, rescale: false,
  evolve: { genes: ['weight', 'density'], densityFloor: true, mergekitEvolve: true },
});
export const breadcrumbs = defineGta({
  name: 'breadcrumbs', label: 'Model Breadcrumbs', reference: 'https://arxiv.org/abs/2312.06795',
  description: 'Drop both the smallest and the largest (outlier) magnitudes of each task vector.',
  consensus: false, sparsifier: 'magnitude_outliers', normalize: false, rescale: false,
  evolve: { genes: ['weight', 'density'], densityFloor: true },
});
export const breadcrumbsTies = defineGta({
  name: 'breadcrumbs_ties', label: 'Model Breadcrumbs + TIES sign election', reference: 'https://arxiv.org/abs/2312.06795',
  description: 'Breadcrumbs pruning followed by TIES sign consensus.',
  consensus: true, sparsifier: 'magnitude_outliers', normalize: false, rescale: false,
});
export const dareTies = defineGta({
  name: 'dare_ties', label: 'DARE + TIES sign election', reference: 'https://arxiv.org/abs/2311.03099',
  description:
    'Drop each task-vector element at random (keep probability = density), rescale the survivors so the L1 norm is unchanged, then TIES sign consensus.',
  consensus: true, sparsifier: 'random', normalize: false, rescale: true,
  evolve: { genes: ['weight', 'density'], densityFloor: true, mergekitEvolve: true },
});
export const dareLinear = defineGta({
  name: 'dare_linear', label: 'DARE', reference: 'https://arxiv.org/abs/2311.03099',
  description: 'Drop each task-vector element at random (keep probability = density), rescale the survivors so the L1 norm is unchanged, weighted sum.',
  consensus: false, sparsifier: 'random', normalize: false, rescale: true,
});
export const della = defineGta({
  name: 'della', label: 'DELLA (MagPrune + TIES sign election)', reference: 'https://arxiv.org/abs/2406.11617',
  description:
    'Drop task-vector elements at random with a keep probability that grows with the magnitude rank inside each row (density ± epsilon; equal magnitudes ranked by lower index first), L1 rescale, TIES sign consensus.',
  consensus: true, sparsifier: 'della_magprune', normalize: true, rescale: true,
  evolve: { genes: ['weight', 'density'], densityFloor: true, densityBand: 'epsilon' },
});
export const dellaLinear = defineGta({
  name: 'della_linear', label: 'DELLA (MagPrune), linear', reference: 'https://arxiv.org/abs/2406.11617',
  description:
    'Drop task-vector elements at random with a keep probability that grows with the magnitude rank inside each row (density ± epsilon), L1 rescale, weighted sum.',
  consensus: false, sparsifier: 'della_magprune', normalize: false, rescale: true,
});

export const specs = [taskArithmetic, ties, breadcrumbs, breadcrumbsTies, dareTies, dareLinear, della, dellaLinear];

/** The family variant of one of this folder's specs (the GPU and CPU implementations are built from it). */
export function gtaVariant(spec: MethodSpec): GtaVariant {
  const s = specs.find((x) => x.name === spec.name);
  if (!s) throw new MethodError(`${spec.name} is not a generalized task arithmetic method`);
  return s.gta;
}

/** The parts of a plan entry the sparsifier plan reads. */
export interface PlanEntryLike {
  name: string;
  params: Record<string, unknown>;
  inputs: readonly { model: string; params: Record<string, unknown> }[];
}

export type GtaSparsifyPlan =
  | { kind: 'select'; ks: number[] }
  | { kind: 'empty' }
  | { kind: 'random'; density: number; inverse: boolean }
  | { kind: 'magprune'; density: number; epsilon: number }
  | undefined;

/** How model input i's sparsifier selects (both engines): top-k counts (keep = rank < ks[0] and not rank < ks[1]), an empty mask, or keep all. */
export function gtaSparsifyPlan(v: GtaVariant, entry: PlanEntryLike, i: number, n: number): GtaSparsifyPlan {
  const p = entry.inputs[i].params;
  const density = num(p, 'density', 1);
  if (!v.sparsifier || density >= 1) return undefined;
  if (v.sparsifier === 'magnitude') {
    const k = Math.floor(density * n);
    if (!(k > 0))
      throw new MethodError(
        `${v.name}: density ${density} keeps floor(${density}·${n}) = 0 elements of tensor "${entry.name}" (model ${entry.inputs[i].model}); mergekit refuses this (k must be > 0)`,
        { tensor: entry.name, model: entry.inputs[i].model, key: 'density' },
      );
    return { kind: 'select', ks: [k] };
  }
  if (v.sparsifier === 'magnitude_outliers') {
    const gamma = num(p, 'gamma', 0.01);
    let nTop = Math.floor(gamma * n);
    const target = Math.floor(density * n);
    let nBot = n - target - nTop;
    if (nBot < 0) {
      nTop += nBot;
      nBot = 0;
    }
    // mergekit slices [n_bot : -n_top]; with n_top == 0 that slice is empty: the whole delta is dropped.
    if (nTop <= 0) return { kind: 'empty' };
    return { kind: 'select', ks: [n - nBot, nTop] };
  }
  if (v.sparsifier === 'random') {
    // keep ⇔ rand01 < density (rounded to f32); density ≤ 0 keeps nothing
    return { kind: 'random', density, inverse: bool(entry.params, 'rescale_inverse_density', false) };
  }
  if (v.sparsifier === 'della_magprune') {
    if (density <= 0) return { kind: 'empty' };
    const epsilon = num(p, 'epsilon', 0.15);
    checkDella(v.name, density, epsilon, entry.inputs[i].model);
    return { kind: 'magprune', density, epsilon };
  }
  throw new MethodError(`sparsifier ${v.sparsifier} is not implemented`);
}

// CABS: Conflict-Aware and Balanced Sparsification (Yang et al., ICML 2025, arXiv 2503.01874).
// An extension: mergekit has no such method (its recipes can only reproduce CABS from pruned
// checkpoints; see merge/cabs-export.ts, which writes those).
//
// Semantics (shared by the GPU implementation, ./webgpu.ts, and the CPU twin, ./reference.ts):
//   τ_k = fround(x_k − base). Task vectors are pruned one after another in the PRUNING ORDER:
//   descending per-model `priority`, equal priorities in recipe order. `used` starts empty; each
//   model keeps its quota preferring FREE positions (not kept by an earlier model), then
//   used |= mask_k.
//   Parameters: n:m is written block_keep:block_size (per-model block_keep = n, global block_size
//   = m; a YAML key `n` would be the boolean false in YAML 1.1), λ_k is the per-model `weight`.
//   * n:m (block_size m > 0): every row (last dimension) is cut into blocks of m consecutive elements;
//     a full block keeps q = n_k elements, a shorter tail block of length b keeps q = floor(n_k·b/m).
//     Within a block the kept elements are the first q in the order (free before taken, then |τ_k|
//     descending, then lower index first). So a block with at least q free positions keeps the top q
//     free ones (no overlap); a block with fewer keeps all its free positions plus the largest
//     remaining |τ_k| among the taken ones (the unavoidable overlap when Σ n_k > m). n_k is the
//     model's `block_keep`, or round(density·m) when it is not set.
//   * top-k (m = 0): the same rule over the whole tensor with q = floor(density·numel).
//   Merge: out = base + λ·Δ with, at every position, the TIES rule over the kept values
//   W_k = w_k·τ_k·mask_k: elect σ = sign(Σ_k W_k) (summed in f32 in recipe order; 0 elects +) and
//   Δ = Σ of the W_k whose sign is σ, not normalized. Where at most one model kept a position this
//   is just w_k·τ_k, so with Σ n_k ≤ m (or Σ density ≤ 1) the merge is plain task arithmetic over
//   disjoint masks; only overlapping positions see the sign election (as CABS+ resolves them).

import { MethodError } from '../../errors';
import { num } from '../shared/params';
import type { MethodSpec, ParamValue } from '../spec';

/** Largest block length m (the n:m kernel ranks each element against its block: O(m) per element). */
export const CABS_MAX_M = 4096;

function finite(v: ParamValue | undefined, key: string): void {
  if (typeof v === 'number' && !Number.isFinite(v)) throw new MethodError(`${key} must be a finite number, got ${v}`, { key });
}

export const cabs: MethodSpec = {
  name: 'cabs',
  label: 'CABS (conflict-aware, balanced n:m sparsification)',
  description:
    'Extension (not in mergekit). Prunes each task vector in turn, keeping only positions no earlier model kept: ' +
    'n = block_keep of every m = block_size consecutive elements of a row (block_size > 0), or the top density·numel by magnitude (block_size 0); ' +
    'then base + λ·Σ wₖ·pruned τₖ. Pruning order: higher priority first, then recipe order. ' +
    'Tail blocks shorter than m keep floor(n·len/m); a block with fewer than n free positions keeps all free ones plus ' +
    'the largest of the taken ones (overlap, only possible when Σn > m), where signs are elected TIES-style and the agreeing values summed (not averaged).',
  reference: 'https://arxiv.org/abs/2503.01874',
  base: 'required',
  minInputs: 1,
  params: [
    { name: 'weight', scope: 'model', type: 'number', required: true, min: 0, max: 2, description: 'λₖ: scale of this model’s pruned task vector.' },
    { name: 'density', scope: 'model', type: 'number', default: 1.0, min: 0, max: 1, description: 'Fraction kept: top floor(density·numel) by magnitude over the tensor when block_size = 0; with block_size > 0 and no block_keep, block_keep = round(density·block_size).' },
    { name: 'block_keep', scope: 'model', type: 'number', min: 0, max: CABS_MAX_M, description: 'n of n:m pruning: elements kept in every block of block_size; an integer 0 … block_size. Default round(density·block_size).' },
    { name: 'priority', scope: 'model', type: 'number', default: 0, description: 'Pruning order: higher priority is pruned first and takes positions first; ties keep recipe order.' },
    { name: 'block_size', scope: 'global', type: 'number', default: 0, min: 0, max: CABS_MAX_M, description: `m of n:m pruning: block length along the last dimension (an integer ≤ ${CABS_MAX_M}); 0 = whole-tensor top-k by density.` },
    { name: 'lambda', scope: 'global', type: 'number', default: 1.0, min: 0, max: 2, description: 'Scale of the merged task vector.' },
  ],
  embedCrop: 'to-base',
  shapeMismatch: 'skip',
  // λ search (CABS+); SAE switches per-model density genes on, which a fixed block_keep would override
  evolve: { genes: ['weight'], optionalDensityGenes: true, densityOverriddenBy: 'block_keep' },
  validate(params, perModel, inputs) {
    const m = params.block_size ?? 0;
    if (typeof m !== 'number' || !Number.isInteger(m) || m < 0 || m > CABS_MAX_M)
      throw new MethodError(`block_size must be an integer from 0 (n:m off) to ${CABS_MAX_M}, got ${m}`, { key: 'block_size' });
    finite(params.lambda, 'lambda');
    for (const [i, p] of perModel.entries()) {
      if (inputs?.[i]?.isBase) continue;
      const d = p.density;
      if (typeof d === 'number' && !(d >= 0 && d <= 1)) throw new MethodError(`density must be between 0 and 1, got ${d}`, { key: 'density' });
      finite(p.weight, 'weight');
      finite(p.priority, 'priority');
      const n = p.block_keep;
      if (n !== undefined) {
        if (m === 0)
          throw new MethodError(`block_keep = ${n} is set but block_size is 0; set block_size (1 … ${CABS_MAX_M}) for n:m pruning, or use density`, { key: 'block_keep' });
        if (typeof n !== 'number' || !Number.isInteger(n) || n < 0 || n > m)
          throw new MethodError(`block_keep must be an integer from 0 to block_size = ${m}, got ${n}`, { key: 'block_keep' });
      }
    }
  },
};

/** Resolved CABS settings of one task vector. */
export interface CabsModel {
  /** Input index in the entry. */
  input: number;
  weight: number;
  priority: number;
  density: number;
  /** Kept per full block (n:m), when m > 0. */
  n: number;
}

/** n:m quota of a block of length b (b ≤ m): n for a full block, floor(n·b/m) for a tail. */
export function blockQuota(n: number, m: number, b: number): number {
  return b >= m ? n : Math.floor((n * b) / m);
}

/** Top-k quota (m = 0): floor(density·numel), as mergekit's magnitude pruning (density ≥ 1 keeps all). */
export function topkQuota(density: number, numel: number): number {
  return density >= 1 ? numel : Math.max(0, Math.floor(density * numel));
}

/** The pruning order: input indices by descending priority, equal priorities in recipe order. */
export function cabsOrder(models: CabsModel[]): CabsModel[] {
  return models
    .map((x, i) => ({ x, i }))
    .sort((a, b) => b.x.priority - a.x.priority || a.i - b.i)
    .map((e) => e.x);
}

/** Reads one input's CABS parameters (already validated by the planner). */
export function cabsModel(input: number, p: Record<string, ParamValue>, m: number): CabsModel {
  const num = (v: ParamValue | undefined, d: number) => (typeof v === 'number' ? v : typeof v === 'boolean' ? (v ? 1 : 0) : d);
  const density = num(p.density, 1);
  const weight = num(p.weight, NaN);
  if (!Number.isFinite(weight)) throw new MethodError(`cabs needs a per-model weight (input ${input})`, { key: 'weight' });
  const n = m > 0 ? (typeof p.block_keep === 'number' ? p.block_keep : Math.round(density * m)) : 0;
  return { input, weight, priority: num(p.priority, 0), density, n: Math.min(m, Math.max(0, n)) };
}

export const specs: readonly MethodSpec[] = [cabs];

/** m of n:m (`block_size`; 0 = top-k mode), as both engines read it. */
export function cabsBlockSize(params: Record<string, unknown>): number {
  return num(params, 'block_size', 0);
}

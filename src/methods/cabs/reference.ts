// CPU twin of CABS (./spec.ts states the semantics). Masks are decisions, computed from the
// f32 task vectors exactly as the GPU does; the sign election sums in f32 in recipe order; the
// agreeing values are summed in f64.

import { cabs, cabsModel, cabsOrder, topkQuota, type CabsModel } from './spec';
import { magnitudeKeys, nmMask, rowLength, tensorTopkMask } from '../shared/reference/prune';
import { checkSizes, splitBase, type RefEntry } from '../shared/reference/types';
import { taskVector } from '../shared/reference/topk';
import { MethodError } from '../../errors';

export interface CabsSelection {
  /** Settings of the task vectors, in recipe order (non-base inputs). */
  models: CabsModel[];
  /** The same, in pruning order. */
  order: CabsModel[];
  /** Per task vector (recipe order): kept positions. */
  masks: Uint8Array[];
  /** Per task vector (recipe order): τ = fround(x − base). */
  deltas: Float32Array[];
}

/** The CABS masks of one tensor (conflict-aware, in pruning order). */
export function cabsSelect(entry: RefEntry): CabsSelection {
  const n = checkSizes(entry);
  const { base, others } = splitBase(entry);
  const m = typeof entry.params.block_size === 'number' ? entry.params.block_size : 0;
  try {
    cabs.validate?.(entry.params, others.map((o) => o.params));
  } catch (e) {
    if (e instanceof MethodError) throw new MethodError(`Tensor "${entry.name}": ${e.message}`, { ...e.details, tensor: entry.name });
    throw e;
  }
  const models = others.map((o, k) => cabsModel(k, o.params, m));
  const deltas = others.map((o) => taskVector(o.data, base.data));
  const masks: Uint8Array[] = others.map(() => new Uint8Array(n));
  const used = new Uint8Array(n);
  const rowLen = rowLength(entry.shape);
  const order = cabsOrder(models);
  for (const md of order) {
    const keys = magnitudeKeys(deltas[md.input]);
    const mask = m > 0 ? nmMask(keys, rowLen, md.n, m, used) : tensorTopkMask(keys, topkQuota(md.density, n), used);
    masks[md.input] = mask;
    for (let i = 0; i < n; i++) used[i] |= mask[i];
  }
  return { models, order, masks, deltas };
}

export function cabsMerge(entry: RefEntry): Float32Array {
  const n = checkSizes(entry);
  const { base } = splitBase(entry);
  const { models, masks, deltas } = cabsSelect(entry);
  const lambda = typeof entry.params.lambda === 'number' ? entry.params.lambda : 1;
  const f = Math.fround;
  const w32 = models.map((md) => f(md.weight));
  const out = new Float32Array(n);
  const K = models.length;
  const W = new Float32Array(K);
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let k = 0; k < K; k++) {
      W[k] = masks[k][i] ? f(deltas[k][i] * w32[k]) : 0;
      s = f(s + W[k]);
    }
    const maj = s >= 0 ? 1 : -1;
    let mixed = 0;
    for (let k = 0; k < K; k++) if (Math.sign(W[k]) === maj) mixed += W[k];
    out[i] = base.data[i] + (lambda !== 1 ? mixed * lambda : mixed);
  }
  return out;
}

/** The CPU twin of this folder's spec (methods/reference.ts). */
export function reference(): (entry: RefEntry) => Float32Array {
  return cabsMerge;
}

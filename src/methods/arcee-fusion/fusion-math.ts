// Pure helpers of the GPU arcee_fusion (no GPU imports: unit-tested in Node).
import type { PlanEntry } from '../../recipe/plan-types';

/** Softmax rows: the last dimension (a 1-D tensor is one row). */
export function fusionRowLen(entry: Pick<PlanEntry, 'shape'>): number {
  const s = entry.shape;
  return s.length ? s[s.length - 1] : 1;
}

/** mergekit's quantile positions floor(q·(n−1)) for q = ¼, ½, ¾ (exact here: no sampling). */
export function fusionQuantileIndices(n: number): [number, number, number] {
  return [Math.floor(0.25 * (n - 1)), Math.floor(0.5 * (n - 1)), Math.floor(0.75 * (n - 1))];
}

/** thr = Q(½) + 1.5·(Q(¾) − Q(¼)) in float32, as torch computes it from the sorted sample. */
export function fusionThreshold(q25: number, q50: number, q75: number): number {
  const f = Math.fround;
  return f(q50 + f(1.5 * f(q75 - q25)));
}

/**
 * How the i-th smallest of n values, nneg of them negative, is found by a top-k select on a
 * non-negative key: at or above nneg it is the (n − i)-th largest of max(v, 0); below, minus the
 * (i + 1)-th largest of max(−v, 0).
 */
export function quantileSelection(i: number, nneg: number, n: number): { k: number; form: 'positive' | 'negative'; sign: 1 | -1 } {
  return i >= nneg ? { k: n - i, form: 'positive', sign: 1 } : { k: i + 1, form: 'negative', sign: -1 };
}

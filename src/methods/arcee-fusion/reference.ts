// mergekit arcee_fusion.py. b = base, f = the other model. Per row r of the last dimension (a 1-D
// tensor is one row): p = softmax(f_r) + 1e-8, q = softmax(b_r) + 1e-8, KL_r = Σ p·log(p/q);
// importance = |f − b|·KL_r; Q(q) = the floor(q·(n−1))-th smallest importance over ALL elements
// (mergekit samples 1e6 elements of larger tensors; the engine does not: its quantiles are exact);
// thr = Q(½) + 1.5·(Q(¾) − Q(¼)) (float32); out = b + (f − b)·(importance ≥ thr), in f32 operations.
// Importance in f64 here (the GPU computes it in f32: elements within rounding of thr may differ).

import { MethodError } from '../../errors';
import { checkSizes, splitBase, type RefEntry } from '../shared/reference/types';

export interface FusionImportance {
  importance: Float64Array;
  threshold: number;
}

export function arceeFusionImportance(entry: RefEntry): FusionImportance {
  const n = checkSizes(entry);
  const { base, others } = splitBase(entry);
  if (others.length !== 1)
    throw new MethodError(`Tensor "${entry.name}": arcee_fusion needs exactly one model besides the base, got ${others.length}`, { tensor: entry.name });
  const fv = others[0].data;
  const bv = base.data;
  const L = entry.shape.length ? entry.shape[entry.shape.length - 1] : 1;
  const importance = new Float64Array(n);
  for (let r = 0; r * L < n; r++) {
    const o = r * L;
    let mf = -Infinity;
    let mb = -Infinity;
    for (let j = 0; j < L; j++) {
      mf = Math.max(mf, fv[o + j]);
      mb = Math.max(mb, bv[o + j]);
    }
    let sf = 0;
    let sb = 0;
    for (let j = 0; j < L; j++) {
      sf += Math.exp(fv[o + j] - mf);
      sb += Math.exp(bv[o + j] - mb);
    }
    let kl = 0;
    for (let j = 0; j < L; j++) {
      const p = Math.exp(fv[o + j] - mf) / sf + 1e-8;
      const q = Math.exp(bv[o + j] - mb) / sb + 1e-8;
      kl += p * Math.log(p / q);
    }
    for (let j = 0; j < L; j++) importance[o + j] = Math.abs(Math.fround(fv[o + j] - bv[o + j])) * kl;
  }
  const sorted = Float64Array.from(importance).sort();
  const Q = (q: number) => Math.fround(sorted[Math.floor(q * (n - 1))]);
  const f = Math.fround;
  const threshold = f(Q(0.5) + f(1.5 * f(Q(0.75) - Q(0.25))));
  return { importance, threshold };
}

export function arceeFusionMerge(entry: RefEntry): Float32Array {
  const n = checkSizes(entry);
  const { base, others } = splitBase(entry);
  if (others.length === 0) return Float32Array.from(base.data);
  const { importance, threshold } = arceeFusionImportance(entry);
  const out = new Float32Array(n);
  const f = Math.fround;
  for (let i = 0; i < n; i++) {
    const m = Math.fround(importance[i]) >= threshold ? 1 : 0;
    out[i] = f(base.data[i] + f(f(others[0].data[i] - base.data[i]) * m));
  }
  return out;
}

/** The CPU twin of this folder's spec (methods/reference.ts). */
export function reference(): (entry: RefEntry) => Float32Array {
  return arceeFusionMerge;
}

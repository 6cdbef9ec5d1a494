// mergekit model_stock.py. o_i = w_i − w0; cos_ij = clamp(o_i·o_j / max(‖o_i‖‖o_j‖, 1e-6), −1, 1)
// for i < j; c = mean cos; t = N·c / (1 + (N−1)·c) (no guard); out = t·mean(w) + (1−t)·w0.
// filter_wise: one (c, t) per vector along the LAST axis (torch dim=−1); a 1-D tensor is one row.
// Without filter_wise the whole tensor is one vector.

import { MethodError } from '../../errors';
import { boolParam, checkSizes, splitBase, type RefEntry } from '../shared/reference/types';

export function modelStockMerge(entry: RefEntry): Float32Array {
  const n = checkSizes(entry);
  const { base, others } = splitBase(entry);
  // mergekit returns the base unchanged when it is the only tensor present.
  if (others.length === 0) return Float32Array.from(base.data);
  if (others.length < 2)
    throw new MethodError(
      `Tensor "${entry.name}": model_stock needs the base plus at least 2 other models, got ${others.length} other`,
      { tensor: entry.name },
    );
  const filterWise = boolParam(entry, entry.params, 'filter_wise', false);
  const rowLen = filterWise && entry.shape.length > 0 ? entry.shape[entry.shape.length - 1] : n;
  const rows = rowLen === 0 ? 0 : n / rowLen;
  const N = others.length;
  const w0 = base.data;
  const out = new Float32Array(n);
  const o = others.map(() => new Float64Array(rowLen));
  const norms = new Float64Array(N);
  for (let r = 0; r < rows; r++) {
    const off = r * rowLen;
    for (let i = 0; i < N; i++) {
      const x = others[i].data;
      let s = 0;
      for (let e = 0; e < rowLen; e++) {
        const d = x[off + e] - w0[off + e];
        o[i][e] = d;
        s += d * d;
      }
      norms[i] = Math.sqrt(s);
    }
    let cosSum = 0;
    let pairs = 0;
    for (let i = 0; i < N; i++)
      for (let j = i + 1; j < N; j++) {
        let dot = 0;
        for (let e = 0; e < rowLen; e++) dot += o[i][e] * o[j][e];
        const c = dot / Math.max(norms[i] * norms[j], 1e-6);
        cosSum += Math.min(1, Math.max(-1, c));
        pairs++;
      }
    const c = cosSum / pairs;
    const t = (N * c) / (1 + (N - 1) * c);
    for (let e = 0; e < rowLen; e++) {
      let mean = 0;
      for (let i = 0; i < N; i++) mean += others[i].data[off + e];
      mean /= N;
      out[off + e] = t * mean + (1 - t) * w0[off + e];
    }
  }
  return out;
}

/** The CPU twin of this folder's spec (methods/reference.ts). */
export function reference(): (entry: RefEntry) => Float32Array {
  return modelStockMerge;
}

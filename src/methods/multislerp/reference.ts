// mergekit multislerp.py, exactly as written (no log map). Xᵢ = xᵢ − base (f32, as the tensor
// subtraction) or xᵢ; w normalised to sum 1 when normalize_weights; nᵢ = ‖Xᵢ‖; uᵢ = Xᵢ/(nᵢ + eps);
// m = Σ wᵢuᵢ; if ‖m‖ < eps: two models → w₀X₀ + w₁X₁ (+ base), else an error; m̂ = m/‖m‖;
// T = Σ wᵢ(uᵢ − (uᵢ·m̂)m̂); L = ‖T‖ + eps; result (m̂·cos L + T·sin L / L)·Σ wᵢnᵢ (+ base).
// One model → its tensor unchanged. Vectors materialised in f64.

import { MethodError } from '../../errors';
import { boolParam, checkSizes, numParam, type RefEntry } from '../shared/reference/types';

export function multislerpMerge(entry: RefEntry): Float32Array {
  const n = checkSizes(entry);
  const base = entry.inputs.find((x) => x.isBase);
  const others = entry.inputs.filter((x) => !x.isBase);
  if (others.length === 0) return Float32Array.from(entry.inputs[0].data);
  if (others.length === 1) return Float32Array.from(others[0].data);
  const eps = numParam(entry, entry.params, 'eps', 1e-8);
  let w = others.map((x, i) => numParam(entry, x.params, 'weight', undefined, `model input ${i}`));
  if (boolParam(entry, entry.params, 'normalize_weights', true)) {
    const s = w.reduce((a, b) => a + b, 0);
    w = w.map((x) => x / s);
  }
  const X = others.map((x) => {
    const v = new Float64Array(n);
    for (let i = 0; i < n; i++) v[i] = base ? Math.fround(x.data[i] - base.data[i]) : x.data[i];
    return v;
  });
  const dot = (a: Float64Array, b: Float64Array) => {
    let s = 0;
    for (let i = 0; i < n; i++) s += a[i] * b[i];
    return s;
  };
  const norms = X.map((v) => Math.sqrt(dot(v, v)));
  const U = X.map((v, k) => v.map((x) => x / (norms[k] + eps)));
  const m = new Float64Array(n);
  U.forEach((u, k) => u.forEach((x, i) => (m[i] += w[k] * x)));
  const mn = Math.sqrt(dot(m, m));
  const out = new Float32Array(n);
  const b = (i: number) => (base ? base.data[i] : 0);
  if (mn < eps) {
    if (X.length !== 2)
      throw new MethodError(`Tensor "${entry.name}": multislerp: the weighted sum of the unit task vectors is zero`, { tensor: entry.name, key: 'weight' });
    for (let i = 0; i < n; i++) out[i] = X[0][i] * w[0] + X[1][i] * w[1] + b(i);
    return out;
  }
  const mh = m.map((x) => x / mn);
  const T = new Float64Array(n);
  U.forEach((u, k) => {
    const d = dot(u, mh);
    for (let i = 0; i < n; i++) T[i] += w[k] * (u[i] - d * mh[i]);
  });
  const L = Math.sqrt(dot(T, T)) + eps;
  let avg = 0;
  norms.forEach((x, k) => (avg += x * w[k]));
  for (let i = 0; i < n; i++) out[i] = (mh[i] * Math.cos(L) + T[i] * (Math.sin(L) / L)) * avg + b(i);
  return out;
}

/** The CPU twin of this folder's spec (methods/reference.ts). */
export function reference(): (entry: RefEntry) => Float32Array {
  return multislerpMerge;
}

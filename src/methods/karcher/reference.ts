// mergekit karcher.py, vectors materialised in f64. α = 1/N for every input (a base is just one
// more input). nᵢ = ‖xᵢ‖, uᵢ = xᵢ/nᵢ (zeros when nᵢ = 0); only nᵢ > tol take part, with α
// renormalised over them (none → zeros). u = normalise(Σ α'ᵢuᵢ) (the first valid uᵢ when that norm
// is < tol). Up to max_iter times: T = Σ α'ᵢ(θᵢ/sin θᵢ)(uᵢ − cᵢu), cᵢ = clamp(u·uᵢ, ±1), θᵢ = acos cᵢ
// (terms with θᵢ < tol skipped); stop when ‖T‖ < tol; u ← cos‖T‖·u + sin‖T‖·T/‖T‖, renormalised
// when ‖u‖ > tol. Result (Σ αᵢnᵢ)·u. One input → unchanged.

import { checkSizes, numParam, type RefEntry } from '../shared/reference/types';

export function karcherMerge(entry: RefEntry): Float32Array {
  const n = checkSizes(entry);
  const xs = entry.inputs.map((x) => x.data);
  if (xs.length === 1) return Float32Array.from(xs[0]);
  const maxIter = numParam(entry, entry.params, 'max_iter', 10);
  const tol = numParam(entry, entry.params, 'tol', 1e-5);
  const dot = (a: ArrayLike<number>, b: ArrayLike<number>) => {
    let s = 0;
    for (let i = 0; i < n; i++) s += a[i] * b[i];
    return s;
  };
  const alphas = xs.map(() => 1 / xs.length);
  const norms = xs.map((x) => Math.sqrt(dot(x, x)));
  const units = xs.map((x, k) => (norms[k] === 0 ? new Float64Array(n) : Float64Array.from(x, (v) => v / norms[k])));
  const valid = norms.map((_, k) => k).filter((k) => norms[k] > tol);
  if (valid.length === 0) return new Float32Array(n);
  const aSum = valid.reduce((s, k) => s + alphas[k], 0);
  const al = valid.map((k) => alphas[k] / aSum);
  const us = valid.map((k) => units[k]);
  let mean = new Float64Array(n);
  us.forEach((u, j) => u.forEach((v, i) => (mean[i] += al[j] * v)));
  const mn = Math.sqrt(dot(mean, mean));
  mean = mn < tol ? Float64Array.from(us[0]) : mean.map((v) => v / mn);
  for (let it = 0; it < maxIter; it++) {
    const T = new Float64Array(n);
    us.forEach((u, j) => {
      const c = Math.min(1, Math.max(-1, dot(mean, u)));
      const th = Math.acos(c);
      if (th < tol) return;
      const f = (al[j] * th) / Math.sin(th);
      for (let i = 0; i < n; i++) T[i] += f * (u[i] - c * mean[i]);
    });
    const tn = Math.sqrt(dot(T, T));
    if (tn < tol) break;
    const cs = Math.cos(tn);
    const sn = Math.sin(tn);
    mean = mean.map((v, i) => cs * v + (sn * T[i]) / tn);
    const un = Math.sqrt(dot(mean, mean));
    if (un > tol) mean = mean.map((v) => v / un);
  }
  let scale = 0;
  norms.forEach((x, k) => (scale += alphas[k] * x));
  return Float32Array.from(mean, (v) => scale * v);
}

/** The CPU twin of this folder's spec (methods/reference.ts). */
export function reference(): (entry: RefEntry) => Float32Array {
  return karcherMerge;
}

// mergekit ram.py: ram and ramplus_tl. τᵢ = xᵢ − base (f32); nzᵢ = |τᵢ| > epsilon (epsilon as f32,
// as torch compares an f32 tensor with a Python float); cnt = Σ nzᵢ per entry. Entries changed by one
// model keep that change (× λᵢ for ramplus_tl), entries changed by several get the mean of the changes;
// out = base + Σᵢ terms. ramplus_tl: per model, ρᵢ = #(nzᵢ ∧ cnt > 1) / max(#(nzᵢ ∧ cnt = 1), epsilon),
// λᵢ = 1 + r·clamp(ρᵢ, 0, alpha) (float32 as torch). Sums in f64.

import { checkSizes, numParam, splitBase, type RefEntry } from '../shared/reference/types';

export function ramMerge(entry: RefEntry): Float32Array {
  const n = checkSizes(entry);
  const { base, others } = splitBase(entry);
  if (others.length === 0) return Float32Array.from(base.data);
  const f = Math.fround;
  const epsilon = numParam(entry, entry.params, 'epsilon', 1e-5);
  const eps = f(epsilon);
  const tvs = others.map((x) => {
    const t = new Float32Array(n);
    for (let i = 0; i < n; i++) t[i] = x.data[i] - base.data[i];
    return t;
  });
  const cnt = new Uint32Array(n);
  for (const t of tvs) for (let i = 0; i < n; i++) if (Math.abs(t[i]) > eps) cnt[i]++;
  const lambdas = tvs.map((t) => {
    if (entry.method !== 'ramplus_tl') return 1;
    let shared = 0;
    let unique = 0;
    for (let i = 0; i < n; i++) {
      if (!(Math.abs(t[i]) > eps)) continue;
      if (cnt[i] > 1) shared++;
      else if (cnt[i] === 1) unique++;
    }
    const r = numParam(entry, entry.params, 'r', 0.1);
    const alpha = numParam(entry, entry.params, 'alpha', 0.2);
    const rho = f(f(shared) / f(Math.max(unique, eps)));
    return f(1 + f(f(r) * Math.min(Math.max(rho, 0), f(alpha))));
  });
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    let s = 0;
    tvs.forEach((t, k) => {
      if (!(Math.abs(t[i]) > eps)) return;
      s += cnt[i] === 1 ? t[i] * lambdas[k] : t[i] / cnt[i];
    });
    out[i] = base.data[i] + s;
  }
  return out;
}

/** The CPU twin of each of this folder's specs (methods/reference.ts). */
export function reference(): (entry: RefEntry) => Float32Array {
  return ramMerge;
}

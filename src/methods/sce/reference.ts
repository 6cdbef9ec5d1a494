// mergekit sce.py (HEAD). τₘ = xₘ − base (f32). select_topk < 1: variance over the models per
// position (population, f32 in model order: mean = fround(Στ·(1/M)), var = fround(Σ(τ − mean)²·(1/M))),
// k = int(count_nonzero(var)·select_topk) (float32 product), keep the k largest variances (ties: lower
// index first, the engine's pinned rule; torch.topk's choice at ties is unspecified), τ ·= mask;
// select_topk ≤ 0 keeps nothing. Weights wₘ = mean(τₘ²)/Σ mean(τ²) (1/M when Σ < 1e-6). Sign election
// on the unweighted f32 sum (0 elects +); result base + Σ τₘ·wₘ·Eₘ / max(Σ wₘ·Eₘ, 1e-6).

import { topkMask } from '../shared/reference/topk';
import { checkSizes, numParam, splitBase, type RefEntry } from '../shared/reference/types';

export function sceVariance(tvs: Float32Array[]): Float32Array {
  const f = Math.fround;
  const n = tvs[0].length;
  const inv = f(1 / tvs.length);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (const t of tvs) s = f(s + t[i]);
    const mean = f(s * inv);
    let q = 0;
    for (const t of tvs) {
      const d = f(t[i] - mean);
      q = f(q + f(d * d));
    }
    out[i] = f(q * inv);
  }
  return out;
}

export function sceMerge(entry: RefEntry): Float32Array {
  const n = checkSizes(entry);
  const { base, others } = splitBase(entry);
  if (others.length === 0) return Float32Array.from(base.data);
  const f = Math.fround;
  const topk = numParam(entry, entry.params, 'select_topk', 1);
  const tvs = others.map((x) => {
    const t = new Float32Array(n);
    for (let i = 0; i < n; i++) t[i] = x.data[i] - base.data[i];
    return t;
  });
  if (topk < 1) {
    let keep: Uint8Array = new Uint8Array(n);
    if (topk > 0) {
      const v = sceVariance(tvs);
      let nz = 0;
      for (let i = 0; i < n; i++) if (v[i] !== 0) nz++;
      const k = Math.trunc(f(f(nz) * f(topk)));
      if (k > 0) keep = topkMask(v, k);
    }
    for (const t of tvs) for (let i = 0; i < n; i++) if (!keep[i]) t[i] = 0;
  }
  const means = tvs.map((t) => {
    let s = 0;
    for (let i = 0; i < n; i++) s += t[i] * t[i];
    return s / n;
  });
  const total = means.reduce((a, b) => a + b, 0);
  const w = Math.abs(total) < 1e-6 ? means.map(() => 1 / means.length) : means.map((m) => m / total);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (const t of tvs) s = f(s + t[i]);
    const maj = s >= 0 ? 1 : -1;
    let mixed = 0;
    let div = 0;
    tvs.forEach((t, m) => {
      if (Math.sign(t[i]) === maj) {
        mixed += t[i] * w[m];
        div += w[m];
      }
    });
    out[i] = base.data[i] + mixed / Math.max(div, 1e-6);
  }
  return out;
}

/** The CPU twin of this folder's spec (methods/reference.ts). */
export function reference(): (entry: RefEntry) => Float32Array {
  return sceMerge;
}

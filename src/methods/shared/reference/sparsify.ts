// mergekit's sparsifiers (sparsify.py) over an f32 task vector, with the selection rule of topk.ts.
// Results are f64 (the optional L1 rescale factor is applied in f64).

import { MethodError } from '../../../errors';
import { absF32, rankRangeMask, topkMask } from './topk';

/** `masked·(Σ|δ| / Σ|masked|)` unless either sum is < 1e-7 (mergekit's rescaled_masked_tensor, L1). */
export function applyMask(delta: Float32Array, mask: Uint8Array, rescale: boolean): Float64Array {
  const n = delta.length;
  const out = new Float64Array(n);
  let before = 0;
  let after = 0;
  for (let i = 0; i < n; i++) {
    const a = Math.abs(delta[i]);
    before += a;
    if (mask[i]) {
      out[i] = delta[i];
      after += a;
    }
  }
  if (rescale && !(before < 1e-7 || after < 1e-7)) {
    const f = before / after;
    for (let i = 0; i < n; i++) out[i] *= f;
  }
  return out;
}

/** k = floor(density·n) with density·n computed in f64; mergekit asserts k > 0. */
export function magnitudeK(density: number, n: number, tensor: string): number {
  const k = Math.floor(density * n);
  if (!(k > 0))
    throw new MethodError(
      `Tensor "${tensor}": density ${density} keeps floor(${density}·${n}) = ${Number.isNaN(k) ? 'NaN' : k} elements; ` +
        `magnitude pruning needs at least one (raise density)`,
      { tensor, key: 'density' },
    );
  return k;
}

/** TIES 'magnitude': keep the k = floor(density·n) largest |δ| (ties: lower flat index first). */
export function magnitude(delta: Float32Array, density: number, rescale: boolean, tensor: string): Float64Array {
  if (density >= 1) return Float64Array.from(delta);
  const k = magnitudeK(density, delta.length, tensor);
  return applyMask(delta, topkMask(absF32(delta), k), rescale);
}

/**
 * Descending-rank range [lo, hi) that breadcrumbs keeps, reproducing mergekit exactly:
 * n_top = floor(γ·n), target = floor(d·n), n_bot = n − target − n_top; if n_bot < 0 then
 * n_top += n_bot, n_bot = 0; keep ascending positions [n_bot : −n_top] (a Python slice, so
 * n_top == 0 gives an EMPTY range). Ascending position p ⇔ descending rank n−1−p.
 */
export function breadcrumbsRange(density: number, gamma: number, n: number): { lo: number; hi: number; nTop: number; nBot: number } {
  const target = Math.trunc(density * n); // Python int(): truncation (== floor for d ≥ 0)
  let nTop = Math.trunc(gamma * n);
  let nBot = n - target - nTop;
  if (nBot < 0) {
    nTop += nBot;
    nBot = 0;
  }
  const clamp = (v: number) => Math.min(n, Math.max(0, v));
  const start = clamp(nBot < 0 ? nBot + n : nBot);
  const stopRaw = -nTop;
  const stop = clamp(stopRaw < 0 ? stopRaw + n : stopRaw);
  // ascending [start, stop) → descending ranks [n − stop, n − start)
  return { lo: n - stop, hi: n - start, nTop, nBot };
}

/** Breadcrumbs 'magnitude_outliers': drop the n_top largest and n_bot smallest |δ|. */
export function magnitudeOutliers(
  delta: Float32Array,
  density: number,
  gamma: number,
  rescale: boolean,
): Float64Array {
  if (density >= 1) return Float64Array.from(delta);
  const { lo, hi } = breadcrumbsRange(density, gamma, delta.length);
  return applyMask(delta, rankRangeMask(absF32(delta), lo, hi), rescale);
}

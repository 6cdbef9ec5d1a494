// CPU twins of the random sparsifiers (mergekit sparsify.py: 'random' = DARE's Bernoulli mask,
// 'della_magprune' = DELLA's rank-dependent Bernoulli mask), drawing from the counter-based RNG of
// rng.ts so that masks equal the GPU's (methods/shared/webgpu/random-prune.ts) bit for bit.
//
// Element e of the tensor (flat index) uses rand_u24(seed, stream, e); stream = the model input's
// index in the plan entry; seed = the entry's per-tensor seed.
//
// MagPrune rank: inside each row (the last dimension; a 1-D tensor is one row, a scalar a row of 1)
// elements are ranked 1..C by the key = f32 bits of |δ| with the sign cleared (−0 = +0, NaN above
// +inf, all NaNs equal), ascending; equal keys rank lower flat index first (mergekit's argsort is
// unstable there; this pins one rule).

import { applyMask } from './sparsify';
import { keepThreshold, magpruneKeep, magpruneKeepParams, randU24 } from './rng';

/** DARE: keep element e ⇔ rand01(seed, stream, e) < density (rounded to f32). */
export function randomMask(n: number, density: number, seed: number, stream: number): Uint8Array {
  const thr = keepThreshold(density);
  const mask = new Uint8Array(n);
  for (let e = 0; e < n; e++) mask[e] = randU24(seed, stream, e) < thr ? 1 : 0;
  return mask;
}

/** The sort key of a magnitude (see the header). */
export function magnitudeKey(v: number): number {
  const bits = new Uint32Array(Float32Array.of(v).buffer)[0] & 0x7fffffff;
  return bits > 0x7f800000 ? 0x7f800001 : bits;
}

/** Ascending ranks 1..C of |delta| inside each row of rowLen (ties: lower index first). */
export function magnitudeRowRanks(delta: Float32Array, rowLen: number): Uint32Array {
  const n = delta.length;
  const C = Math.max(1, rowLen);
  const bits = new Uint32Array(delta.buffer, delta.byteOffset, n);
  const ranks = new Uint32Array(n);
  const keyOf = (e: number) => {
    const k = bits[e] & 0x7fffffff;
    return k > 0x7f800000 ? 0x7f800001 : k;
  };
  if (C <= 2 ** 22) {
    // key·2^22 + index < 2^53: one exact f64 sort per row
    const comp = new Float64Array(C);
    for (let r0 = 0; r0 < n; r0 += C) {
      for (let j = 0; j < C; j++) comp[j] = keyOf(r0 + j) * 4194304 + j;
      comp.sort();
      for (let s = 0; s < C; s++) ranks[r0 + (comp[s] % 4194304)] = s + 1;
    }
  } else {
    for (let r0 = 0; r0 < n; r0 += C) {
      const order = Array.from({ length: C }, (_, j) => j);
      order.sort((a, b) => keyOf(r0 + a) - keyOf(r0 + b) || a - b);
      order.forEach((j, s) => (ranks[r0 + j] = s + 1));
    }
  }
  return ranks;
}

/**
 * DELLA MagPrune: the element of ascending rank r (1..C) in its row is kept with probability
 * (d − ε) + 2ε·(r − 1)/(C − 1), decided exactly as the GPU does (rng.ts magpruneKeep). density ≤ 0
 * keeps nothing; the caller validates 0 < d − |ε|, d + |ε| < 1 for 0 < d < 1.
 */
export function magpruneMask(delta: Float32Array, rowLen: number, density: number, epsilon: number, seed: number, stream: number): Uint8Array {
  const n = delta.length;
  const mask = new Uint8Array(n);
  if (!(density > 0)) return mask;
  const C = Math.max(1, rowLen);
  const kp = magpruneKeepParams(density, epsilon);
  const ranks = magnitudeRowRanks(delta, C);
  for (let e = 0; e < n; e++) mask[e] = magpruneKeep(randU24(seed, stream, e), ranks[e], C, kp) ? 1 : 0;
  return mask;
}

/**
 * DARE ('random'): δ unchanged when density ≥ 1; else masked, then L1-rescaled (rescale) or divided
 * by density (inverse: the extension rescale_inverse_density, which overrides rescale).
 */
export function dareSparsify(delta: Float32Array, density: number, rescale: boolean, inverse: boolean, seed: number, stream: number): Float64Array {
  if (density >= 1) return Float64Array.from(delta);
  const mask = randomMask(delta.length, density, seed, stream);
  if (!inverse) return applyMask(delta, mask, rescale);
  const out = applyMask(delta, mask, false);
  if (density > 0) {
    const s = 1 / Math.fround(density);
    for (let i = 0; i < out.length; i++) out[i] *= s;
  }
  return out;
}

/** DELLA ('della_magprune'): δ unchanged when density ≥ 1; else MagPrune mask and optional L1 rescale. */
export function dellaSparsify(delta: Float32Array, rowLen: number, density: number, epsilon: number, rescale: boolean, seed: number, stream: number): Float64Array {
  if (density >= 1) return Float64Array.from(delta);
  return applyMask(delta, magpruneMask(delta, rowLen, density, epsilon, seed, stream), rescale);
}

// The CPU twin of the WGSL counter-based RNG (shaders/prelude.wgsl: hash_u32, rand_u24, rand01).
// Bit-identical: u32 arithmetic through Math.imul and >>> 0. A random decision "keep with
// probability p" is made in integers on both sides: keep ⇔ rand_u24 < ceil(p·2^24) ⇔ rand01 < p.

/** lowbias32 (Chris Wellons' constants), as hash_u32 in the prelude. */
export function hashU32(x: number): number {
  let h = x >>> 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x7feb352d);
  h ^= h >>> 15;
  h = Math.imul(h, 0x846ca68b);
  h ^= h >>> 16;
  return h >>> 0;
}

/** 24-bit uniform integer for (seed, stream, global element index i). */
export function randU24(seed: number, stream: number, i: number): number {
  return hashU32((hashU32((i ^ Math.imul(stream, 0x9e3779b9)) >>> 0) ^ seed) >>> 0) >>> 8;
}

/** Uniform in [0, 1) with 24 bits: randU24 / 2^24 (exact in f32). */
export function rand01(seed: number, stream: number, i: number): number {
  return randU24(seed, stream, i) / 16777216;
}

/** The integer threshold T with rand_u24 < T ⇔ rand01 < fround(p): p rounded to f32, clamped to [0, 1]. */
export function keepThreshold(p: number): number {
  const f = Math.fround(p);
  if (!(f > 0)) return 0; // also NaN
  if (f >= 1) return 16777216;
  return Math.ceil(f * 16777216); // exact: f32 times a power of two
}

/**
 * DELLA's MagPrune keep probabilities in 2^-24 fixed point: p(r) = (lo + span·num/den) / 2^24 for
 * the element of ascending magnitude rank r (1..C) in its row, num = r − 1, den = C − 1, i.e.
 * p = (d − ε) + 2ε·(r − 1)/(C − 1) with d − ε and 2ε each rounded to a multiple of 2^-24.
 * A negative ε mirrors the ramp (num = C − r, lo from d − |ε|): the smallest magnitude then gets
 * d + |ε|. C = 1 takes num/den = 1/2 (p = d; mergekit's formula gives 0/0 there).
 */
export interface MagKeepParams {
  lo: number;
  span: number;
  descending: boolean;
}

export function magpruneKeepParams(density: number, epsilon: number): MagKeepParams {
  const e = Math.abs(epsilon);
  return { lo: Math.round((density - e) * 16777216), span: Math.round(2 * e * 16777216), descending: epsilon < 0 };
}

/** The keep decision for rand_u24 value u at ascending rank r (1-based) in a row of C: exact integers. */
export function magpruneKeep(u: number, r: number, C: number, k: MagKeepParams): boolean {
  if (u < k.lo) return true;
  let num = k.descending ? C - r : r - 1;
  let den = C - 1;
  if (C === 1) {
    num = 1;
    den = 2;
  }
  const a = (u - k.lo) * den;
  const b = k.span * num;
  if (a < 2 ** 53 && b < 2 ** 53) return a < b;
  return BigInt(u - k.lo) * BigInt(den) < BigInt(k.span) * BigInt(num);
}

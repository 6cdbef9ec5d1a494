// Box bounds for CMA-ES by a coordinate-wise transform from the unbounded search space into
// [lower, upper]. CMA-ES samples and adapts in the unbounded space; only the evaluated point is
// transformed. The transform is the linear–quadratic, periodically mirrored one of pycma's
// BoxConstraintsLinQuadTransformation (Hansen), re-derived here:
//
//   a_l = min((u − l)/2, (1 + |l|)/20),  a_u = min((u − l)/2, (1 + |u|)/20)
//   1. fold x into [l − a_l, u + a_u] by mirroring at both ends (a triangle wave of period
//      2·(u − l + a_l + a_u)), so every real x has an image and the map is continuous;
//   2. identity on [l + a_l, u − a_u];
//      l + (x − (l − a_l))² / (4 a_l)   on [l − a_l, l + a_l]
//      u − (x − (u + a_u))² / (4 a_u)   on [u − a_u, u + a_u]
//
// Why this one rather than clipping or plain reflection: it is the identity well inside the box
// (for [0, 1]: on [0.05, 0.9], so Sakana's start 0.5 with σ0 = 1/6 is mostly untouched), it is
// continuously differentiable everywhere, and a bound is reached at a single pre-image point
// with a quadratic minimum around it. So a fitness whose optimum lies on the boundary stays
// smooth for CMA-ES (clipping makes it flat beyond the bound; reflection gives a kink).
// A dimension whose lower and upper bounds are both infinite is left untransformed.

import { OptimizerError } from '../errors.ts';

export class BoxTransform {
  readonly lower: Float64Array;
  readonly upper: Float64Array;
  private readonly al: Float64Array;
  private readonly au: Float64Array;

  constructor(lower: number[] | number, upper: number[] | number, dim: number) {
    this.lower = expand(lower, dim, 'lower');
    this.upper = expand(upper, dim, 'upper');
    this.al = new Float64Array(dim);
    this.au = new Float64Array(dim);
    for (let i = 0; i < dim; i++) {
      const l = this.lower[i];
      const u = this.upper[i];
      if (l === -Infinity && u === Infinity) continue;
      if (!Number.isFinite(l) || !Number.isFinite(u)) {
        throw new OptimizerError(
          `bounds for coordinate ${i}: [${l}, ${u}] — a coordinate is either bounded on both sides by finite values or unbounded on both`,
        );
      }
      if (!(l < u)) throw new OptimizerError(`bounds for coordinate ${i}: lower ${l} must be below upper ${u}`);
      this.al[i] = Math.min((u - l) / 2, (1 + Math.abs(l)) / 20);
      this.au[i] = Math.min((u - l) / 2, (1 + Math.abs(u)) / 20);
    }
  }

  /** Unbounded → box, one coordinate. */
  apply(x: number, i: number): number {
    const l = this.lower[i];
    const u = this.upper[i];
    if (l === -Infinity) return x;
    const al = this.al[i];
    const au = this.au[i];
    const a = l - al;
    const b = u + au;
    const half = b - a;
    let t = x - a;
    if (t < 0 || t > half) {
      // Triangle wave: reduce modulo the period, then mirror the second half.
      const period = 2 * half;
      t -= period * Math.floor(t / period);
      if (t > half) t = period - t;
    }
    const y = a + t;
    if (y < l + al) return l + ((y - a) * (y - a)) / (4 * al);
    if (y <= u - au) return y;
    return u - ((y - b) * (y - b)) / (4 * au);
  }

  /** Box → unbounded, one coordinate: the pre-image in [l − a_l, u + a_u] (used for the start). */
  invert(y: number, i: number): number {
    const l = this.lower[i];
    const u = this.upper[i];
    if (l === -Infinity) return y;
    if (!(y >= l && y <= u)) throw new OptimizerError(`start value ${y} of coordinate ${i} lies outside its bounds [${l}, ${u}]`);
    const al = this.al[i];
    const au = this.au[i];
    if (y < l + al) return l - al + Math.sqrt(4 * al * (y - l));
    if (y <= u - au) return y;
    return u + au - Math.sqrt(4 * au * (u - y));
  }

  applyAll(x: ArrayLike<number>): number[] {
    const out = new Array<number>(x.length);
    for (let i = 0; i < x.length; i++) out[i] = this.apply(x[i], i);
    return out;
  }
}

function expand(v: number[] | number, dim: number, what: string): Float64Array {
  if (typeof v === 'number') return new Float64Array(dim).fill(v);
  if (!Array.isArray(v) || v.length !== dim) {
    throw new OptimizerError(`${what} bounds: expected ${dim} values, got ${Array.isArray(v) ? v.length : typeof v}`);
  }
  for (let i = 0; i < dim; i++) {
    if (typeof v[i] !== 'number' || Number.isNaN(v[i])) throw new OptimizerError(`${what} bound ${i} is not a number: ${String(v[i])}`);
  }
  return Float64Array.from(v);
}

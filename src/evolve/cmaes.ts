// CMA-ES (Hansen) with an ask/tell interface, following pycma's `purecma.py` step for step:
// its default weights, learning rates and damping (CMAESParameters), its `tell` (hσ with the
// evaluation-count correction, rank-one + rank-μ covariance update, cumulative step-size
// adaptation) and its lazy eigendecomposition. Additions over purecma:
//   - `separable`: diagonal covariance (sep-CMA-ES, Ros & Hansen 2008) with the covariance
//     learning rates multiplied by (n + 2)/3, O(n) per sample, for genomes of hundreds of genes;
//   - box bounds through BoxTransform (box-transform.ts): the strategy lives in an unbounded
//     space, ask() returns the transformed points, tell() updates with the unbounded samples;
//   - a seeded generator and a JSON-safe state, so a resumed run is bit-identical.
// Fitness is minimised.

import { OptimizerError } from '../errors.ts';
import { BoxTransform } from './box-transform.ts';
import { jacobiEigen } from './jacobi.ts';
import { Rng, type RngState } from './rng.ts';

export interface CmaOptions {
  dim: number;
  seed: number;
  /** Start point in user (bounded) space; default 0.5 in every coordinate. */
  mean?: number[] | number;
  /** Initial step size in the unbounded space; default 1/6 (Sakana's / Optuna's range/6 for [0, 1]). */
  sigma0?: number;
  /** λ; default 4 + ⌊3 ln n⌋. */
  popSize?: number;
  /** Diagonal covariance (sep-CMA-ES) for high dimensions. */
  separable?: boolean;
  /** Box bounds, per coordinate or one value for all; ±Infinity on both sides leaves a coordinate free. */
  bounds?: { lower: number[] | number; upper: number[] | number };
  /** Evaluation budget reported by stopReason(); default purecma's 100λ + 150(n + 3)²√λ. */
  maxEvals?: number;
}

export type CmaStopReason = 'maxEvals' | 'tolfun' | 'tolx' | 'condition';

/** Everything needed to continue a run bit for bit. Arrays are row-major; numbers are finite except where null is allowed. */
export interface CmaState {
  kind: 'cmaes';
  version: 1;
  dim: number;
  popSize: number;
  separable: boolean;
  maxEvals: number;
  /** null entries: unbounded (−∞ for lower, +∞ for upper). */
  bounds: { lower: (number | null)[]; upper: (number | null)[] } | null;
  /** Distribution mean in the unbounded space. */
  mean: number[];
  sigma: number;
  /** Covariance: n×n row-major, or its n diagonal entries when separable. */
  C: number[];
  /** Eigenvectors as columns (n×n row-major) from the last decomposition; [] when separable. */
  B: number[];
  /** Square roots of the eigenvalues (the axis lengths), clamped positive. */
  D: number[];
  pc: number[];
  ps: number[];
  /** Evaluation count at the last eigendecomposition (purecma's updated_eval). */
  eigenEval: number;
  generation: number;
  evaluations: number;
  /** Last generation's fitness values, sorted ascending; null stands for +Infinity. */
  lastFitness: (number | null)[];
  rng: RngState;
  /** Unbounded samples handed out by ask() and not yet told, or null. */
  pending: number[][] | null;
  best: { x: number[]; f: number | null; evaluation: number } | null;
}

/** Strategy parameters (purecma's CMAESParameters); pure functions of (n, λ, separable), recomputed on restore. */
export interface CmaParameters {
  lam: number;
  mu: number;
  weights: Float64Array;
  weightSum: number;
  mueff: number;
  cc: number;
  cs: number;
  c1: number;
  cmu: number;
  damps: number;
  lazyGapEvals: number;
}

export function defaultPopSize(dim: number): number {
  return 4 + Math.floor(3 * Math.log(dim));
}

export function cmaParameters(n: number, lam: number = defaultPopSize(n), separable = false): CmaParameters {
  const mu = Math.floor(lam / 2);
  const weights = new Float64Array(lam);
  let wsum = 0;
  for (let i = 0; i < mu; i++) {
    weights[i] = Math.log(lam / 2 + 0.5) - Math.log(i + 1);
    wsum += weights[i];
  }
  let sumW = 0;
  let sumW2 = 0;
  for (let i = 0; i < mu; i++) {
    weights[i] /= wsum;
    sumW += weights[i];
    sumW2 += weights[i] * weights[i];
  }
  const mueff = (sumW * sumW) / sumW2;
  const cc = (4 + mueff / n) / (n + 4 + (2 * mueff) / n);
  const cs = (mueff + 2) / (n + mueff + 5);
  let c1 = 2 / ((n + 1.3) ** 2 + mueff);
  let cmu = Math.min(1 - c1, (2 * (mueff - 2 + 1 / mueff)) / ((n + 2) ** 2 + mueff));
  if (separable) {
    // Ros & Hansen 2008: a diagonal has n instead of n²/2 free entries, so it can be learned
    // (n + 2)/3 times faster.
    c1 = Math.min(1, (c1 * (n + 2)) / 3);
    cmu = Math.min(1 - c1, (cmu * (n + 2)) / 3);
  }
  const damps = (2 * mueff) / lam + 0.3 + cs;
  // purecma: postpone the O(n³) decomposition so that it costs O(n²) per evaluation.
  const lazyGapEvals = (0.5 * n * lam) / (c1 + cmu) / (n * n);
  let weightSum = 0;
  for (let i = 0; i < lam; i++) weightSum += weights[i];
  return { lam, mu, weights, weightSum, mueff, cc, cs, c1, cmu, damps, lazyGapEvals };
}

export class CmaEs {
  readonly dim: number;
  readonly popSize: number;
  readonly separable: boolean;
  readonly maxEvals: number;
  private readonly p: CmaParameters;
  private readonly box: BoxTransform | null;
  private rng: Rng;
  private xmean: Float64Array;
  private _sigma: number;
  private C: Float64Array;
  private B: Float64Array;
  private D: Float64Array;
  private invsqrt: Float64Array;
  private _condition = 1;
  private pc: Float64Array;
  private ps: Float64Array;
  private eigenEval = 0;
  private _generation = 0;
  private counteval = 0;
  private fitvals: number[] = [];
  private pending: Float64Array[] | null = null;
  private pendingUser: number[][] | null = null;
  private _best: { x: number[]; f: number; evaluation: number } | null = null;

  constructor(opts: CmaOptions) {
    const n = opts.dim;
    if (!Number.isSafeInteger(n) || n < 1) throw new OptimizerError(`CMA-ES dimension must be a positive integer, got ${String(n)}`);
    this.dim = n;
    this.separable = opts.separable ?? false;
    const lam = opts.popSize ?? defaultPopSize(n);
    if (!Number.isSafeInteger(lam) || lam < 2) throw new OptimizerError(`CMA-ES population size must be an integer ≥ 2, got ${String(lam)}`);
    this.popSize = lam;
    this.maxEvals = opts.maxEvals ?? Math.floor(100 * lam + 150 * (n + 3) ** 2 * Math.sqrt(lam));
    if (!(this.maxEvals >= 0) || !Number.isFinite(this.maxEvals)) {
      throw new OptimizerError(`CMA-ES maxEvals must be a finite number ≥ 0, got ${String(opts.maxEvals)}`);
    }
    const sigma0 = opts.sigma0 ?? 1 / 6;
    if (!(sigma0 > 0) || !Number.isFinite(sigma0)) throw new OptimizerError(`CMA-ES sigma0 must be positive and finite, got ${String(sigma0)}`);
    this._sigma = sigma0;
    this.p = cmaParameters(n, lam, this.separable);
    this.box = opts.bounds ? new BoxTransform(opts.bounds.lower, opts.bounds.upper, n) : null;
    this.rng = new Rng(opts.seed);

    const m = opts.mean ?? 0.5;
    if (Array.isArray(m) && m.length !== n) throw new OptimizerError(`CMA-ES start mean has ${m.length} values; the dimension is ${n}`);
    this.xmean = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      const v = typeof m === 'number' ? m : m[i];
      if (typeof v !== 'number' || !Number.isFinite(v)) throw new OptimizerError(`CMA-ES start mean coordinate ${i} is not a finite number: ${String(v)}`);
      this.xmean[i] = this.box ? this.box.invert(v, i) : v;
    }
    this.pc = new Float64Array(n);
    this.ps = new Float64Array(n);
    this.D = new Float64Array(n).fill(1);
    if (this.separable) {
      this.C = new Float64Array(n).fill(1);
      this.B = new Float64Array(0);
      this.invsqrt = new Float64Array(0);
    } else {
      this.C = identity(n);
      this.B = identity(n);
      this.invsqrt = identity(n);
    }
  }

  get generation(): number {
    return this._generation;
  }
  get evaluations(): number {
    return this.counteval;
  }
  get sigma(): number {
    return this._sigma;
  }
  /** Ratio of the largest to the smallest eigenvalue of C at the last decomposition. */
  get conditionNumber(): number {
    return this._condition;
  }
  /** Distribution mean in user (bounded) space. */
  get mean(): number[] {
    return this.toUser(this.xmean);
  }
  /** Best evaluated point so far (user space) and its fitness. */
  get best(): { x: number[]; f: number } | null {
    return this._best ? { x: this._best.x.slice(), f: this._best.f } : null;
  }

  ask(): number[][] {
    if (!this.pending) {
      if (!this.separable) this.updateEigensystem();
      const n = this.dim;
      const pending: Float64Array[] = [];
      const z = new Float64Array(n);
      for (let k = 0; k < this.popSize; k++) {
        for (let i = 0; i < n; i++) z[i] = this.D[i] * this.rng.normal();
        const x = new Float64Array(n);
        if (this.separable) {
          for (let i = 0; i < n; i++) x[i] = this.xmean[i] + this._sigma * z[i];
        } else {
          for (let r = 0; r < n; r++) {
            let y = 0;
            for (let c = 0; c < n; c++) y += this.B[r * n + c] * z[c];
            x[r] = this.xmean[r] + this._sigma * y;
          }
        }
        pending.push(x);
      }
      this.pending = pending;
      this.pendingUser = pending.map((x) => this.toUser(x));
    }
    return this.pendingUser!.map((x) => x.slice());
  }

  tell(fitness: number[]): void {
    const arx = this.pending;
    if (!arx || !this.pendingUser) throw new OptimizerError('CMA-ES tell() called without a pending population; call ask() first');
    const n = this.dim;
    const par = this.p;
    const lam = this.popSize;
    if (!Array.isArray(fitness) || fitness.length !== lam) {
      throw new OptimizerError(`CMA-ES tell() needs ${lam} fitness values (one per asked point), got ${Array.isArray(fitness) ? fitness.length : typeof fitness}`);
    }
    for (let k = 0; k < lam; k++) {
      const f = fitness[k];
      if (typeof f !== 'number' || Number.isNaN(f) || f === -Infinity) {
        throw new OptimizerError(`CMA-ES fitness ${k} of generation ${this._generation} is ${String(f)}; use a finite number or +Infinity for a failed evaluation`);
      }
    }

    this.counteval += lam;
    this._generation += 1;
    // Stable argsort, so ties keep ask() order and runs stay deterministic.
    const order = Array.from({ length: lam }, (_, k) => k).sort((a, b) => fitness[a] - fitness[b] || a - b);
    this.fitvals = order.map((k) => fitness[k]);
    const f0 = this.fitvals[0];
    if (this._best === null || f0 < this._best.f) {
      this._best = { x: this.pendingUser[order[0]].slice(), f: f0, evaluation: this.counteval };
    }

    const xold = this.xmean;
    const xmean = new Float64Array(n);
    for (let k = 0; k < par.mu; k++) {
      const w = par.weights[k];
      const x = arx[order[k]];
      for (let i = 0; i < n; i++) xmean[i] += w * x[i];
    }
    this.xmean = xmean;
    const y = new Float64Array(n);
    for (let i = 0; i < n; i++) y[i] = xmean[i] - xold[i];

    // ps ← (1 − cσ) ps + √(cσ(2 − cσ)μeff) · C^(−1/2) (m − m_old) / σ
    const z = new Float64Array(n);
    if (this.separable) {
      for (let i = 0; i < n; i++) z[i] = y[i] / this.D[i];
    } else {
      for (let r = 0; r < n; r++) {
        let s = 0;
        for (let c = 0; c < n; c++) s += this.invsqrt[r * n + c] * y[c];
        z[r] = s;
      }
    }
    const csn = Math.sqrt(par.cs * (2 - par.cs) * par.mueff) / this._sigma;
    let psSq = 0;
    for (let i = 0; i < n; i++) {
      this.ps[i] = (1 - par.cs) * this.ps[i] + csn * z[i];
      psSq += this.ps[i] * this.ps[i];
    }
    // hσ stalls pc when ps is long, i.e. while σ is still growing; the denominator corrects for
    // ps not having reached its stationary length in the first generations.
    const hsig = psSq / n / (1 - (1 - par.cs) ** ((2 * this.counteval) / lam)) < 2 + 4 / (n + 1) ? 1 : 0;
    const ccn = (Math.sqrt(par.cc * (2 - par.cc) * par.mueff) / this._sigma) * hsig;
    for (let i = 0; i < n; i++) this.pc[i] = (1 - par.cc) * this.pc[i] + ccn * y[i];

    // C ← (1 − c1a − cμ Σw) C + c1 pc pcᵀ + cμ Σ wk yk ykᵀ, yk = (x_k:λ − m_old)/σ
    const c1a = par.c1 * (1 - (1 - hsig * hsig) * par.cc * (2 - par.cc));
    const decay = 1 - c1a - par.cmu * par.weightSum;
    const steps: Float64Array[] = [];
    const stepW: number[] = [];
    for (let k = 0; k < par.mu; k++) {
      const x = arx[order[k]];
      const d = new Float64Array(n);
      for (let i = 0; i < n; i++) d[i] = x[i] - xold[i];
      steps.push(d);
      stepW.push((par.weights[k] * par.cmu) / (this._sigma * this._sigma));
    }
    const C = this.C;
    if (this.separable) {
      for (let i = 0; i < n; i++) {
        let v = decay * C[i] + par.c1 * this.pc[i] * this.pc[i];
        for (let k = 0; k < steps.length; k++) v += stepW[k] * steps[k][i] * steps[k][i];
        C[i] = v;
      }
    } else {
      for (let r = 0; r < n; r++) {
        for (let c = 0; c < n; c++) {
          let v = decay * C[r * n + c] + par.c1 * this.pc[r] * this.pc[c];
          for (let k = 0; k < steps.length; k++) v += stepW[k] * steps[k][r] * steps[k][c];
          C[r * n + c] = v;
        }
      }
    }

    // σ ← σ · exp(min(1, (cσ/dσ)(|ps|²/n − 1)/2))
    this._sigma *= Math.exp(Math.min(1, ((par.cs / par.damps) * (psSq / n - 1)) / 2));
    if (this.separable) this.updateDiagonal();

    this.pending = null;
    this.pendingUser = null;
  }

  stopReason(): CmaStopReason | null {
    if (this.counteval <= 0) return null;
    if (this.counteval >= this.maxEvals) return 'maxEvals';
    // purecma's tolfun looks at the last generation only; with a discrete fitness (accuracy on a
    // small eval set) a flat population triggers it, which callers may choose to ignore.
    if (this.fitvals.length > 1 && this.fitvals[this.fitvals.length - 1] - this.fitvals[0] < 1e-12) return 'tolfun';
    let maxD = 0;
    for (let i = 0; i < this.dim; i++) maxD = Math.max(maxD, this.D[i]);
    if (this._sigma * maxD < 1e-11) return 'tolx';
    if (this._condition > 1e14) return 'condition';
    return null;
  }

  state(): CmaState {
    const fin = (v: number): number | null => (Number.isFinite(v) ? v : null);
    return {
      kind: 'cmaes',
      version: 1,
      dim: this.dim,
      popSize: this.popSize,
      separable: this.separable,
      maxEvals: this.maxEvals,
      bounds: this.box ? { lower: Array.from(this.box.lower, fin), upper: Array.from(this.box.upper, fin) } : null,
      mean: Array.from(this.xmean),
      sigma: this._sigma,
      C: Array.from(this.C),
      B: Array.from(this.B),
      D: Array.from(this.D),
      pc: Array.from(this.pc),
      ps: Array.from(this.ps),
      eigenEval: this.eigenEval,
      generation: this._generation,
      evaluations: this.counteval,
      lastFitness: this.fitvals.map(fin),
      rng: this.rng.state(),
      pending: this.pending ? this.pending.map((x) => Array.from(x)) : null,
      best: this._best ? { x: this._best.x.slice(), f: fin(this._best.f), evaluation: this._best.evaluation } : null,
    };
  }

  static restore(state: CmaState): CmaEs {
    const bad = (what: string): never => {
      throw new OptimizerError(`saved CMA-ES state is invalid: ${what}`);
    };
    if (state === null || typeof state !== 'object' || state.kind !== 'cmaes') bad('not a CMA-ES state');
    if (state.version !== 1) bad(`unknown version ${String(state.version)}`);
    const n = state.dim;
    if (!Number.isSafeInteger(n) || n < 1) bad(`dimension ${String(n)}`);
    const sep = state.separable === true;
    const bounds = state.bounds
      ? {
          lower: vec(state.bounds.lower, n, 'bounds.lower', true).map((v) => v ?? -Infinity),
          upper: vec(state.bounds.upper, n, 'bounds.upper', true).map((v) => v ?? Infinity),
        }
      : undefined;
    // Any start inside the bounds will do: the saved mean replaces it below.
    const start = bounds ? bounds.lower.map((l, i) => (l === -Infinity ? 0 : (l + bounds.upper[i]) / 2)) : 0;
    const es = new CmaEs({ dim: n, seed: 0, popSize: state.popSize, separable: sep, maxEvals: state.maxEvals, bounds, mean: start });
    es.xmean = Float64Array.from(vec(state.mean, n, 'mean'));
    if (!(state.sigma > 0) || !Number.isFinite(state.sigma)) bad(`sigma ${String(state.sigma)}`);
    es._sigma = state.sigma;
    es.C = Float64Array.from(vec(state.C, sep ? n : n * n, 'C'));
    es.B = Float64Array.from(vec(state.B, sep ? 0 : n * n, 'B'));
    es.D = Float64Array.from(vec(state.D, n, 'D'));
    if (es.D.some((d) => !(d > 0))) bad('D has a non-positive entry');
    es.pc = Float64Array.from(vec(state.pc, n, 'pc'));
    es.ps = Float64Array.from(vec(state.ps, n, 'ps'));
    for (const [k, v] of [
      ['eigenEval', state.eigenEval],
      ['generation', state.generation],
      ['evaluations', state.evaluations],
    ] as const) {
      if (!Number.isSafeInteger(v) || v < 0) bad(`${k} ${String(v)}`);
    }
    es.eigenEval = state.eigenEval;
    es._generation = state.generation;
    es.counteval = state.evaluations;
    if (!Array.isArray(state.lastFitness)) bad('lastFitness is not an array');
    es.fitvals = vec(state.lastFitness, state.lastFitness.length, 'lastFitness', true).map((v) => v ?? Infinity);
    es.rng = Rng.fromState(state.rng);
    if (state.pending !== null) {
      if (!Array.isArray(state.pending) || state.pending.length !== es.popSize) bad(`pending holds ${String(state.pending?.length)} points, λ is ${es.popSize}`);
      es.pending = state.pending.map((x, k) => Float64Array.from(vec(x, n, `pending[${k}]`)));
      es.pendingUser = es.pending.map((x) => es.toUser(x));
    }
    if (state.best) {
      if (!Number.isSafeInteger(state.best.evaluation) || state.best.evaluation < 0) bad(`best.evaluation ${String(state.best.evaluation)}`);
      if (state.best.f !== null && typeof state.best.f !== 'number') bad(`best.f ${String(state.best.f)}`);
      es._best = { x: vec(state.best.x, n, 'best.x'), f: state.best.f ?? Infinity, evaluation: state.best.evaluation };
    }
    // Quantities derived from B and D are recomputed exactly as after a decomposition.
    if (sep) es.updateDiagonal();
    else es.deriveFromEigen();
    return es;
  }

  /** purecma's DecomposingPositiveMatrix.update_eigensystem: decompose only after a gap of evaluations. */
  private updateEigensystem(): void {
    if (this.counteval <= this.eigenEval + this.p.lazyGapEvals) return;
    const n = this.dim;
    const C = this.C;
    for (let r = 0; r < n; r++) {
      for (let c = r + 1; c < n; c++) {
        const v = (C[r * n + c] + C[c * n + r]) / 2;
        C[r * n + c] = v;
        C[c * n + r] = v;
      }
    }
    const { values, vectors } = jacobiEigen(C, n);
    this.B = vectors;
    this.D = sqrtClamped(values);
    this.eigenEval = this.counteval;
    this.deriveFromEigen();
  }

  /** C^(−1/2) = B diag(1/D) Bᵀ and the condition number, from B and D only. */
  private deriveFromEigen(): void {
    const n = this.dim;
    const B = this.B;
    const inv = new Float64Array(n * n);
    for (let r = 0; r < n; r++) {
      for (let c = r; c < n; c++) {
        let s = 0;
        for (let k = 0; k < n; k++) s += (B[r * n + k] * B[c * n + k]) / this.D[k];
        inv[r * n + c] = s;
        inv[c * n + r] = s;
      }
    }
    this.invsqrt = inv;
    this._condition = conditionOf(this.D);
  }

  private updateDiagonal(): void {
    this.D = sqrtClamped(this.C);
    this._condition = conditionOf(this.D);
  }

  private toUser(x: ArrayLike<number>): number[] {
    return this.box ? this.box.applyAll(x) : Array.from(x);
  }
}

function identity(n: number): Float64Array {
  const m = new Float64Array(n * n);
  for (let i = 0; i < n; i++) m[i * n + i] = 1;
  return m;
}

/** Square roots of eigenvalues, with those below 1e-20 of the largest raised to that floor (round-off can make them ≤ 0). */
function sqrtClamped(values: ArrayLike<number>): Float64Array {
  let max = 0;
  for (let i = 0; i < values.length; i++) max = Math.max(max, values[i]);
  const floor = Math.max(max * 1e-20, 1e-300);
  const d = new Float64Array(values.length);
  for (let i = 0; i < values.length; i++) d[i] = Math.sqrt(Math.max(values[i], floor));
  return d;
}

function conditionOf(D: Float64Array): number {
  let lo = Infinity;
  let hi = 0;
  for (let i = 0; i < D.length; i++) {
    lo = Math.min(lo, D[i]);
    hi = Math.max(hi, D[i]);
  }
  return (hi * hi) / (lo * lo);
}

function vec(v: unknown, len: number, what: string, nullable: true): (number | null)[];
function vec(v: unknown, len: number, what: string, nullable?: false): number[];
function vec(v: unknown, len: number, what: string, nullable = false): (number | null)[] {
  if (!Array.isArray(v) || v.length !== len) {
    throw new OptimizerError(`saved CMA-ES state is invalid: ${what} should hold ${len} numbers, found ${Array.isArray(v) ? v.length : typeof v}`);
  }
  for (let i = 0; i < len; i++) {
    const x: unknown = v[i];
    if (nullable && x === null) continue;
    if (typeof x !== 'number' || !Number.isFinite(x)) {
      throw new OptimizerError(`saved CMA-ES state is invalid: ${what}[${i}] is ${String(x)}`);
    }
  }
  return v as (number | null)[];
}

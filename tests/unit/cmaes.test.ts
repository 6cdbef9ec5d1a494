import { describe, expect, it } from 'vitest';
import { CmaEs, cmaParameters, defaultPopSize, type CmaOptions, type CmaState } from '../../src/evolve/cmaes.ts';
import { BoxTransform } from '../../src/evolve/box-transform.ts';
import { jacobiEigen } from '../../src/evolve/jacobi.ts';
import { Rng } from '../../src/evolve/rng.ts';
import { OptimizerError } from '../../src/errors.ts';

type Fn = (x: number[]) => number;
const sphere: Fn = (x) => x.reduce((s, v) => s + v * v, 0);
/** Axis-parallel ellipsoid, condition 1e6 (Hansen's felli). */
const ellipsoid: Fn = (x) => x.reduce((s, v, i) => s + 10 ** ((6 * i) / (x.length - 1)) * v * v, 0);
const rosenbrock: Fn = (x) => {
  let s = 0;
  for (let i = 0; i < x.length - 1; i++) s += 100 * (x[i] * x[i] - x[i + 1]) ** 2 + (1 - x[i]) ** 2;
  return s;
};

/** Runs until best f < target or a stop condition; returns the evaluations used. */
function minimise(f: Fn, opts: CmaOptions, target = 1e-8, maxEvals = Infinity): { evals: number; best: number; es: CmaEs } {
  const es = new CmaEs(opts);
  while (es.evaluations < maxEvals) {
    const X = es.ask();
    es.tell(X.map(f));
    if (es.best!.f < target) break;
    if (es.stopReason()) break;
  }
  return { evals: es.evaluations, best: es.best!.f, es };
}

function median(v: number[]): number {
  const s = [...v].sort((a, b) => a - b);
  return s[s.length >> 1];
}

describe('Rng', () => {
  it('matches the xoshiro128** reference output (C code by Blackman & Vigna, state 1,2,3,4)', () => {
    const r = Rng.fromState({ kind: 'xoshiro128**', s: [1, 2, 3, 4], spare: null });
    expect([r.uint32(), r.uint32(), r.uint32(), r.uint32(), r.uint32(), r.uint32()]).toEqual([
      11520, 0, 5927040, 70819200, 2031721883, 1637235492,
    ]);
  });

  it('gives uniform [0,1) and standard normal samples', () => {
    const r = new Rng(7);
    let su = 0;
    let sn = 0;
    let sn2 = 0;
    let outside = 0;
    const N = 100_000;
    for (let i = 0; i < N; i++) {
      const u = r.next();
      if (!(u >= 0 && u < 1)) outside++;
      su += u;
      const z = r.normal();
      sn += z;
      sn2 += z * z;
    }
    expect(outside).toBe(0);
    expect(Math.abs(su / N - 0.5)).toBeLessThan(0.005);
    expect(Math.abs(sn / N)).toBeLessThan(0.015);
    expect(Math.abs(sn2 / N - 1)).toBeLessThan(0.02);
  });

  it('round-trips its state through JSON, including a cached Box–Muller spare', () => {
    const a = new Rng(123);
    a.normal(); // leaves the pair's second value cached
    const saved = JSON.parse(JSON.stringify(a.state()));
    expect(saved.spare).not.toBeNull();
    const b = Rng.fromState(saved);
    const seqA = Array.from({ length: 9 }, () => [a.normal(), a.next(), a.int(1000)]);
    const seqB = Array.from({ length: 9 }, () => [b.normal(), b.next(), b.int(1000)]);
    expect(seqB).toEqual(seqA);
  });

  it('differs between seeds, including seeds beyond 32 bits', () => {
    const first = (seed: number) => new Rng(seed).uint32();
    const outs = new Set([0, 1, 2, 2 ** 32, 2 ** 32 + 1, 2 ** 40].map(first));
    expect(outs.size).toBe(6);
    expect(() => new Rng(0.5)).toThrow(OptimizerError);
  });

  it('int, pick and shuffle stay in range and shuffle permutes', () => {
    const r = new Rng(1);
    const counts = new Array(5).fill(0);
    for (let i = 0; i < 5000; i++) counts[r.int(5)]++;
    for (const c of counts) expect(c).toBeGreaterThan(850);
    expect(['a', 'b', 'c']).toContain(r.pick(['a', 'b', 'c']));
    const v = r.shuffle(Array.from({ length: 50 }, (_, i) => i));
    expect([...v].sort((a, b) => a - b)).toEqual(Array.from({ length: 50 }, (_, i) => i));
    expect(v).not.toEqual(Array.from({ length: 50 }, (_, i) => i));
  });
});

describe('jacobiEigen', () => {
  function check(a: Float64Array, n: number, relTol: number) {
    const { values, vectors } = jacobiEigen(a, n);
    for (let c = 0; c < n; c++) {
      for (let d = 0; d < n; d++) {
        let dot = 0;
        for (let r = 0; r < n; r++) dot += vectors[r * n + c] * vectors[r * n + d];
        expect(Math.abs(dot - (c === d ? 1 : 0))).toBeLessThan(1e-12);
      }
      // ‖A v − λ v‖ relative to |λ|: small eigenvalues must be accurate too.
      let res = 0;
      for (let r = 0; r < n; r++) {
        let av = 0;
        for (let k = 0; k < n; k++) av += a[r * n + k] * vectors[k * n + c];
        res = Math.max(res, Math.abs(av - values[c] * vectors[r * n + c]));
      }
      expect(res).toBeLessThan(relTol * Math.max(...Array.from(values, Math.abs)));
    }
    return values;
  }

  it('decomposes a random symmetric matrix', () => {
    const n = 12;
    const r = new Rng(3);
    const a = new Float64Array(n * n);
    for (let i = 0; i < n; i++) for (let j = i; j < n; j++) a[i * n + j] = a[j * n + i] = r.normal();
    const values = check(a, n, 1e-13);
    let trace = 0;
    for (let i = 0; i < n; i++) trace += a[i * n + i];
    expect(values.reduce((s, v) => s + v, 0)).toBeCloseTo(trace, 12);
  });

  it('recovers known eigenvalues of a rotated ill-conditioned matrix (condition 1e12)', () => {
    const n = 6;
    const lambdas = [1, 1e-2, 1e-4, 1e-6, 1e-9, 1e-12];
    // Q = a product of Givens rotations; A = Q diag(λ) Qᵀ.
    const q = new Float64Array(n * n);
    for (let i = 0; i < n; i++) q[i * n + i] = 1;
    const rng = new Rng(11);
    for (let k = 0; k < 20; k++) {
      const p = rng.int(n);
      const s0 = (p + 1 + rng.int(n - 1)) % n;
      const t = rng.next() * Math.PI;
      const c = Math.cos(t);
      const s = Math.sin(t);
      for (let r = 0; r < n; r++) {
        const a = q[r * n + p];
        const b = q[r * n + s0];
        q[r * n + p] = c * a - s * b;
        q[r * n + s0] = s * a + c * b;
      }
    }
    const a = new Float64Array(n * n);
    for (let i = 0; i < n; i++)
      for (let j = 0; j < n; j++) {
        let v = 0;
        for (let k = 0; k < n; k++) v += q[i * n + k] * lambdas[k] * q[j * n + k];
        a[i * n + j] = v;
      }
    for (let i = 0; i < n; i++) for (let j = 0; j < i; j++) a[i * n + j] = a[j * n + i];
    const values = Array.from(check(a, n, 1e-14)).sort((x, y) => y - x);
    for (let k = 0; k < 4; k++) expect(Math.abs(values[k] - lambdas[k]) / lambdas[k]).toBeLessThan(1e-8);
    expect(values[5]).toBeLessThan(1e-11);
  });
});

describe('BoxTransform', () => {
  const box = new BoxTransform(0, 1, 1);

  it('is the identity well inside [0,1] and maps every real into the box', () => {
    for (const x of [0.05, 0.3, 0.5, 0.9]) expect(box.apply(x, 0)).toBe(x);
    let outside = 0;
    for (let x = -7; x <= 7; x += 0.001) {
      const y = box.apply(x, 0);
      if (!(y >= 0 && y <= 1)) outside++;
    }
    expect(outside).toBe(0);
    // The bounds are reached at single pre-images l − a_l = −0.05 and u + a_u = 1.1, periodically.
    expect(box.apply(-0.05, 0)).toBe(0);
    expect(box.apply(1.1, 0)).toBe(1);
    expect(box.apply(1.1 + 2.3, 0)).toBeCloseTo(1, 12);
  });

  it('is continuous with a continuous slope (no kink at the zone borders or the mirror points)', () => {
    const h = 1e-6;
    for (const x of [-0.05, 0.05, 0.9, 1.1, -1.25, 2.45]) {
      const left = (box.apply(x, 0) - box.apply(x - h, 0)) / h;
      const right = (box.apply(x + h, 0) - box.apply(x, 0)) / h;
      expect(Math.abs(left - right)).toBeLessThan(1e-4);
      expect(Math.abs(box.apply(x + h, 0) - box.apply(x - h, 0))).toBeLessThan(1e-5);
    }
  });

  it('inverts user values, rejects values outside and bad bounds', () => {
    const b = new BoxTransform([0, -2], [1, 5], 2);
    for (const y of [0, 0.01, 0.5, 0.97, 1]) expect(b.apply(b.invert(y, 0), 0)).toBeCloseTo(y, 14);
    for (const y of [-2, -1.9, 0, 4.8, 5]) expect(b.apply(b.invert(y, 1), 1)).toBeCloseTo(y, 13);
    expect(() => b.invert(1.5, 0)).toThrow(/outside its bounds/);
    expect(() => new BoxTransform(1, 1, 1)).toThrow(OptimizerError);
    expect(() => new BoxTransform(0, Infinity, 1)).toThrow(OptimizerError);
    expect(new BoxTransform(-Infinity, Infinity, 1).apply(42, 0)).toBe(42);
  });
});

describe('CmaEs', () => {
  it('uses purecma parameters (values printed by pycma 4.5.0 purecma.CMAESParameters)', () => {
    expect(defaultPopSize(6)).toBe(9);
    expect(new CmaEs({ dim: 6, seed: 1 }).popSize).toBe(9);
    expect(defaultPopSize(10)).toBe(10);
    const p6 = cmaParameters(6);
    expect(p6.mu).toBe(4);
    expect(p6.weights[0]).toBeCloseTo(0.49373837748434096, 14);
    expect(p6.mueff).toBeCloseTo(2.8406104297170542, 13);
    expect(p6.cc).toBeCloseTo(0.40864968827481546, 14);
    expect(p6.cs).toBeCloseTo(0.349739663167155, 14);
    expect(p6.c1).toBeCloseTo(0.03563118207139872, 14);
    expect(p6.cmu).toBeCloseTo(0.03568631199675213, 14);
    expect(p6.damps).toBeCloseTo(1.2809864253265004, 13);
    expect(p6.lazyGapEvals).toBeCloseTo(10.516353803504389, 11);
    const p10 = cmaParameters(10);
    expect(p10.mueff).toBeCloseTo(3.1672992814107035, 13);
    expect(p10.cmu).toBeCloseTo(0.02015428276120839, 14);
    expect(p10.lazyGapEvals).toBeCloseTo(14.109105657516036, 11);
    // sep-CMA: covariance learning rates (n + 2)/3 times larger.
    const s10 = cmaParameters(10, 10, true);
    expect(s10.c1).toBeCloseTo(p10.c1 * 4, 15);
    expect(s10.cmu).toBeCloseTo(p10.cmu * 4, 15);
  });

  it('tell() matches pycma purecma step for step (same populations replayed, hσ = 0 in generations 9, 10 and 30)', () => {
    // Fixture: the 40 populations this test asks for (5-D Rosenbrock, seed 1, x0 = 0.1, σ0 = 0.01 so
    // that σ grows and hσ switches off) were told to pycma 4.5.0 purecma.CMAES, calling its
    // C.update_eigensystem(counteval, lazy_gap_evals) before each tell as its ask() does; these are
    // its final mean, σ, pc, ps and C. Both agreed to ~5e-15. If the sampler (Rng, Jacobi) changes,
    // the populations change and the fixture must be regenerated the same way.
    const ref = {
      mean: [0.5594673711503809, 0.3151261322423783, 0.1255508375638999, 0.05424963248935151, -0.0035264537671219117],
      sigma: 0.04860783288853052,
      pc: [-0.8591562789314189, -0.47921236248510335, 0.8069473498686848, 0.12387055238872746, -0.3434708324203812],
      ps: [-0.567080387858211, -0.210601588011048, 1.8027904512180688, 0.2044210087616668, -0.5993006029094393],
      C: [1.4361976333023896, 0.817183136334686, 0.17085655013625062, 0.12620384600126985, 0.008368595000027313, 0.817183136334686, 0.8058858187345058, 0.18812560091226058, 0.13976804283293331, 0.07078870383960946, 0.17085655013625062, 0.18812560091226058, 0.3165361879472944, 0.10459340152995564, 0.032485270607601265, 0.12620384600126985, 0.13976804283293334, 0.10459340152995564, 0.28214579592040584, 0.011443272949104334, 0.008368595000027311, 0.07078870383960946, 0.032485270607601265, 0.011443272949104334, 0.4082566155268974],
    };
    const es = new CmaEs({ dim: 5, seed: 1, mean: 0.1, sigma0: 0.01 });
    for (let g = 0; g < 40; g++) es.tell(es.ask().map(rosenbrock));
    const s = es.state();
    const close = (a: number[], b: number[], what: string) => {
      expect(a).toHaveLength(b.length);
      for (let i = 0; i < b.length; i++) expect(Math.abs(a[i] - b[i]), `${what}[${i}]`).toBeLessThan(1e-10 * Math.max(1e-3, Math.abs(b[i])));
    };
    close(s.mean, ref.mean, 'mean');
    close([s.sigma], [ref.sigma], 'sigma');
    close(s.pc, ref.pc, 'pc');
    close(s.ps, ref.ps, 'ps');
    close(s.C, ref.C, 'C');
  });

  it('starts at 0.5 with σ0 = 1/6 by default and asks the same population until told', () => {
    const es = new CmaEs({ dim: 6, seed: 5, bounds: { lower: 0, upper: 1 } });
    expect(es.mean).toEqual([0.5, 0.5, 0.5, 0.5, 0.5, 0.5]);
    expect(es.sigma).toBe(1 / 6);
    const a = es.ask();
    a[0][0] = 99; // callers may mutate what they get
    const b = es.ask();
    expect(b[0][0]).not.toBe(99);
    expect(es.ask()).toEqual(b);
    expect(b).toHaveLength(9);
    for (const x of b) for (const v of x) expect(v >= 0 && v <= 1).toBe(true);
    es.tell(b.map(sphere));
    expect(es.ask()).not.toEqual(b);
    expect(es.generation).toBe(1);
    expect(es.evaluations).toBe(9);
  });

  // Reference counts: pycma 4.5.0 purecma.CMAES, x0 = 0.1·ones(10), σ0 = 0.5, evaluations until
  // the best f < 1e-8, 10 seeds (random.seed 0..9): sphere median 1310 (1160–1410),
  // ellipsoid median 5770 (5330–6060), Rosenbrock median 5970 (5440–7090), all 10 reached it.
  // This implementation over seeds 1..20: sphere median 1330 (1220–1400), ellipsoid 5590
  // (5250–6120), Rosenbrock 6270 (5680–7210), 20/20. Each run below must stay within 1.5× the
  // purecma median, and the median of our runs within 1.15× of it.
  const cases: [string, Fn, number][] = [
    ['sphere', sphere, 1310],
    ['ellipsoid (condition 1e6)', ellipsoid, 5770],
    ['Rosenbrock (global minimum)', rosenbrock, 5970],
  ];
  for (const [name, f, reference] of cases) {
    it(`reaches f < 1e-8 on the 10-D ${name} within purecma's evaluation counts`, () => {
      const evals: number[] = [];
      for (let seed = 1; seed <= 5; seed++) {
        const r = minimise(f, { dim: 10, seed, mean: 0.1, sigma0: 0.5 }, 1e-8, 3 * reference);
        expect(r.best, `${name}, seed ${seed}`).toBeLessThan(1e-8);
        expect(r.evals, `${name}, seed ${seed}`).toBeLessThanOrEqual(1.5 * reference);
        if (f === rosenbrock) for (const v of r.es.best!.x) expect(Math.abs(v - 1)).toBeLessThan(1e-3);
        evals.push(r.evals);
      }
      expect(median(evals)).toBeLessThanOrEqual(1.15 * reference);
    });
  }

  it('separable CMA beats full CMA on a separable 40-D ellipsoid', () => {
    // Measured: sep-CMA ≈ 11,000 evaluations to 1e-8 (pycma's CMA_diagonal with its active
    // update ≈ 9,400); full CMA ≈ 66,000 (pycma ≈ 48,000), too slow to run here, so full CMA is
    // compared at the budget sep-CMA needed.
    const opts = { dim: 40, seed: 2, mean: 1, sigma0: 1 };
    const sep = minimise(ellipsoid, { ...opts, separable: true }, 1e-8, 20_000);
    expect(sep.best).toBeLessThan(1e-8);
    expect(sep.evals).toBeLessThan(15_000);
    const full = minimise(ellipsoid, opts, 1e-8, sep.evals);
    expect(full.evals).toBe(sep.evals);
    expect(full.best).toBeGreaterThan(1e-4);
  });

  it('converges to the boundary when the optimum lies outside the box', () => {
    const centre = [2, -1, 0.3, 1.5, 0.7];
    const f: Fn = (x) => x.reduce((s, v, i) => s + (v - centre[i]) ** 2, 0);
    const expected = [1, 0, 0.3, 1, 0.7];
    const fStar = f(expected);
    const es = new CmaEs({ dim: 5, seed: 9, bounds: { lower: 0, upper: 1 } });
    while (es.evaluations < 5000) {
      const X = es.ask();
      for (const x of X) for (const v of x) expect(v >= 0 && v <= 1).toBe(true);
      es.tell(X.map(f));
      if (es.best!.f - fStar < 1e-12) break;
    }
    expect(es.best!.f - fStar).toBeLessThan(1e-12);
    for (let i = 0; i < 5; i++) expect(Math.abs(es.best!.x[i] - expected[i])).toBeLessThan(1e-6);
    for (let i = 0; i < 5; i++) expect(Math.abs(es.mean[i] - expected[i])).toBeLessThan(1e-4);
  });

  function trajectory(opts: CmaOptions, gens: number): string[] {
    const es = new CmaEs(opts);
    const out: string[] = [];
    for (let g = 0; g < gens; g++) {
      const X = es.ask();
      es.tell(X.map(rosenbrock));
      out.push(JSON.stringify([X, es.sigma, es.mean]));
    }
    return out;
  }

  it('is deterministic per seed and differs between seeds', () => {
    const opts: CmaOptions = { dim: 6, seed: 42, bounds: { lower: 0, upper: 2 } };
    expect(trajectory(opts, 25)).toEqual(trajectory(opts, 25));
    const other = trajectory({ ...opts, seed: 43 }, 25);
    expect(other[0]).not.toEqual(trajectory(opts, 1)[0]);
  });

  const resumeConfigs: [string, CmaOptions][] = [
    ['full, unbounded, n = 10', { dim: 10, seed: 3, mean: 0.1, sigma0: 0.5 }],
    ['full, bounded, n = 20', { dim: 20, seed: 4, bounds: { lower: 0, upper: 1 } }],
    ['separable, bounded, n = 12', { dim: 12, seed: 5, separable: true, bounds: { lower: -1, upper: [2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 3] } }],
  ];
  for (const [name, opts] of resumeConfigs) {
    it(`resumes bit-identically from a JSON state (${name}): 30 generations = 12 + restore + 18`, () => {
      const f: Fn = (x) => ellipsoid(x.map((v) => v - 0.3));
      const straight = new CmaEs(opts);
      const trace1: number[][][] = [];
      for (let g = 0; g < 30; g++) {
        const X = straight.ask();
        trace1.push(X);
        straight.tell(X.map(f));
      }
      let es = new CmaEs(opts);
      const trace2: number[][][] = [];
      for (let g = 0; g < 12; g++) {
        const X = es.ask();
        trace2.push(X);
        es.tell(X.map(f));
      }
      const saved: CmaState = JSON.parse(JSON.stringify(es.state()));
      es = CmaEs.restore(saved);
      for (let g = 0; g < 18; g++) {
        const X = es.ask();
        trace2.push(X);
        es.tell(X.map(f));
      }
      expect(trace2).toEqual(trace1);
      expect(JSON.stringify(es.state())).toBe(JSON.stringify(straight.state()));
      expect(es.best).toEqual(straight.best);
    });
  }

  it('keeps a pending population and a lazy eigensystem across save/restore', () => {
    const opts: CmaOptions = { dim: 30, seed: 8 };
    const a = new CmaEs(opts);
    for (let g = 0; g < 5; g++) a.tell(a.ask().map(sphere));
    const X = a.ask();
    const s = a.state();
    // With n = 30 the decomposition waits several generations, so the saved B is stale.
    expect(s.eigenEval).toBeLessThan(s.evaluations);
    const b = CmaEs.restore(JSON.parse(JSON.stringify(s)));
    expect(b.ask()).toEqual(X);
    a.tell(X.map(sphere));
    b.tell(X.map(sphere));
    for (let g = 0; g < 5; g++) {
      a.tell(a.ask().map(sphere));
      b.tell(b.ask().map(sphere));
    }
    expect(b.state()).toEqual(a.state());
  });

  it('reports stop reasons', () => {
    const budget = minimise(sphere, { dim: 4, seed: 1, maxEvals: 80 }, -1);
    expect(budget.es.stopReason()).toBe('maxEvals');
    expect(budget.evals).toBe(80);
    const flat = new CmaEs({ dim: 3, seed: 1 });
    flat.tell(flat.ask().map(() => 1));
    expect(flat.stopReason()).toBe('tolfun');
    const conv = minimise(sphere, { dim: 3, seed: 1, mean: 1, sigma0: 1 }, -1);
    expect(['tolx', 'tolfun']).toContain(conv.es.stopReason());
    expect(new CmaEs({ dim: 3, seed: 1 }).stopReason()).toBeNull();
  });

  it('rejects misuse and corrupt states with OptimizerError', () => {
    const es = new CmaEs({ dim: 4, seed: 1 });
    expect(() => es.tell([1, 2, 3, 4, 5, 6, 7, 8])).toThrow(/without a pending population/);
    const X = es.ask();
    expect(() => es.tell([1, 2])).toThrow(/needs 8 fitness values/);
    expect(() => es.tell(X.map((_, k) => (k === 3 ? NaN : 1)))).toThrow(/fitness 3 .* NaN/);
    es.tell(X.map((_, k) => (k === 0 ? Infinity : k)));
    // +Infinity (a failed evaluation) survives JSON as null.
    const s = JSON.parse(JSON.stringify(es.state()));
    expect(s.lastFitness.at(-1)).toBeNull();
    expect(CmaEs.restore(s).evaluations).toBe(8);
    expect(() => CmaEs.restore({ ...s, C: s.C.slice(1) })).toThrow(/C should hold 16 numbers/);
    expect(() => CmaEs.restore({ ...s, version: 2 })).toThrow(OptimizerError);
    expect(() => new CmaEs({ dim: 0, seed: 1 })).toThrow(OptimizerError);
    expect(() => new CmaEs({ dim: 2, seed: 1, mean: [0.5] })).toThrow(/2/);
    expect(() => new CmaEs({ dim: 2, seed: 1, mean: 3, bounds: { lower: 0, upper: 1 } })).toThrow(/outside its bounds/);
  });
});

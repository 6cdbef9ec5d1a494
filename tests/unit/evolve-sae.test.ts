import { describe, expect, test } from 'vitest';
import {
  attractionShare,
  competitionFitness,
  relativeSparsity,
  SaeSearch,
  sparsitySchedule,
  type SaeChild,
  type SaeEvaluation,
  type SaeOptions,
  type SaeState,
} from '../../src/evolve/sae';
import { psDecodeGene, psGenes, type PsSpace } from '../../src/evolve/genome-ps';
import { OptimizerError } from '../../src/errors';
import type { Recipe } from '../../src/recipe/types';

const space: PsSpace = { method: 'ties', base: 'base', models: ['x', 'y', 'z'], numLayers: 4, layerGroups: 2, densityMin: 0.05 };
const genes = psGenes(space);
const TARGET = [0.7, 0.3, 0.55];

/** Synthetic merge: fitness from the weights (best at TARGET), a sharp loss below mean density 0.3; sparsity = 1 − mean density. */
function synthetic(child: SaeChild): SaeEvaluation {
  let err = 0;
  let dens = 0;
  let nd = 0;
  const perItem: number[] = [];
  for (const g of genes) {
    const v = psDecodeGene(space, g.param, child.genome[g.index]);
    if (g.param === 'weight') {
      const e = (v - TARGET[g.modelIndex]) ** 2;
      err += e;
      perItem.push(Math.max(0, 1 - 4 * e));
    } else {
      dens += v;
      nd++;
    }
  }
  const d = dens / nd;
  const fitness = 1 - err / 6 - 3 * Math.max(0, 0.3 - d);
  return { fitness, sparsity: 1 - d, perItem };
}

async function run(opts: SaeOptions, seed: number, steps: number): Promise<SaeSearch> {
  const s = new SaeSearch(opts, space, seed);
  for (let i = 0; i < steps; i++) await s.next({ evaluate: async (_r, c) => synthetic(c) });
  return s;
}

const errorOf = (fn: () => unknown): Error => {
  try {
    fn();
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected an error');
};

const densities = (r: Recipe): number[] =>
  (r.slices ?? []).flatMap((s) => s.sources.filter((x) => x.parameters).map((x) => x.parameters!.density as number));

describe('sparsity schedule', () => {
  const o = { sMin: 0.1, sMax: 0.6, t0: 100, tMult: 2 };
  test('rises from sMin towards sMax by a sine inside each cycle; cycles grow by tMult', () => {
    expect(sparsitySchedule(0, o)).toBe(0.1);
    expect(sparsitySchedule(50, o)).toBeCloseTo(0.1 + 0.5 * Math.SQRT1_2, 12);
    expect(sparsitySchedule(99, o)).toBeCloseTo(0.1 + 0.5 * Math.sin((Math.PI / 2) * 0.99), 12);
    expect(sparsitySchedule(100, o)).toBe(0.1); // restart; the second cycle lasts 200
    expect(sparsitySchedule(200, o)).toBeCloseTo(0.1 + 0.5 * Math.SQRT1_2, 12);
    expect(sparsitySchedule(300, o)).toBe(0.1); // third cycle (400 long) starts
    expect(sparsitySchedule(500, o)).toBeCloseTo(0.1 + 0.5 * Math.SQRT1_2, 12);
    expect(sparsitySchedule(130, { ...o, tMult: 1 })).toBeCloseTo(0.1 + 0.5 * Math.sin((Math.PI / 2) * 0.3), 12);
    let prev = -1;
    for (let t = 0; t < 100; t++) {
      const s = sparsitySchedule(t, o);
      expect(s).toBeGreaterThan(prev);
      expect(s).toBeLessThan(0.6);
      prev = s;
    }
  });

  test('SparseFusion’s formula only spans [(sMin + sMax)/2, sMax)', () => {
    expect(sparsitySchedule(0, { ...o, sparseFusionRange: true })).toBeCloseTo(0.35, 12);
    expect(sparsitySchedule(99, { ...o, sparseFusionRange: true })).toBeLessThan(0.6);
    expect(sparsitySchedule(99, { ...o, sparseFusionRange: true })).toBeGreaterThan(0.599);
  });

  test('invalid settings are OptimizerErrors', () => {
    expect(errorOf(() => sparsitySchedule(0, { ...o, sMin: 0.7 }))).toBeInstanceOf(OptimizerError);
    expect(errorOf(() => sparsitySchedule(0, { ...o, t0: 0 }))).toBeInstanceOf(OptimizerError);
    expect(errorOf(() => sparsitySchedule(-1, o))).toBeInstanceOf(OptimizerError);
  });
});

describe('score terms', () => {
  test('competition fitness shares each item among the candidates that solve it', () => {
    // item 0 solved by both (worth ½ each), item 1 by the second only
    expect(competitionFitness([
      [1, 0],
      [1, 1],
    ])).toEqual([0.25, 0.75]);
    // an item nobody solves divides by 1, not 0
    expect(competitionFitness([[0, 0.5]])).toEqual([0.5]);
  });

  test('relative sparsity is a softmax of sp/τ', () => {
    const r = relativeSparsity([0.2, 0.5, 0.5], 0.1);
    expect(r[0] + r[1] + r[2]).toBeCloseTo(1, 12);
    expect(r[1]).toBe(r[2]);
    expect(r[1] / r[0]).toBeCloseTo(Math.exp(3), 9);
  });

  test('attraction: share of the child’s kept positions that the sparser parent zeroed', () => {
    expect(attractionShare([1, 0, 2, 3], [0, 0, 5, 0])).toBeCloseTo(2 / 3, 15);
    expect(attractionShare([0, 0], [1, 0])).toBe(0);
  });
});

describe('SaeSearch', () => {
  const base: SaeOptions = { archiveSize: 6, sparsityTerm: 'absolute', schedule: { sMin: 0.1, sMax: 0.5, t0: 40, tMult: 1 } };

  test('the archive fills with initial candidates, then children are bred, pruned to the schedule and capped', async () => {
    const s = new SaeSearch(base, space, 1);
    const first = s.proposeChild();
    expect(first.genome.every((g) => g === 0.5)).toBe(true);
    expect(first.parents).toEqual([]);
    s.acceptChild(first, synthetic(first));
    for (let i = 1; i < 6; i++) {
      const c = s.proposeChild();
      expect(c.step).toBeNull();
      s.acceptChild(c, synthetic(c));
    }
    const sp = new Map(s.scoredArchive().map((m) => [m.id, m.sparsity]));
    for (let i = 0; i < 40; i++) {
      const c = s.proposeChild();
      expect(c.step).toBe(i);
      expect(c.parents).toHaveLength(2);
      expect(c.sparsityTarget).toBe(sparsitySchedule(i, base.schedule));
      for (const d of densities(c.recipe)) expect(d).toBeLessThanOrEqual(1 - c.sparsityTarget! + 1e-12);
      const [a, b] = c.parents;
      expect(c.sparserParent!.id).toBe(sp.get(b)! > sp.get(a)! ? b : a);
      const rec = s.acceptChild(c, synthetic(c));
      expect(rec.id).toBe(c.id);
      for (const m of s.scoredArchive()) sp.set(m.id, m.sparsity);
      expect(s.scoredArchive()).toHaveLength(6);
    }
  });

  test('steady state: the lowest Total leaves; over the cap Total is −penalty; all-negative totals still select', () => {
    const s = new SaeSearch({ ...base, maxSparsity: 0.9 }, space, 2);
    const evals: SaeEvaluation[] = [0.2, 0.5, 0.4, 0.9, 0.3, 0.6].map((f) => ({ fitness: f, sparsity: 0.5 }));
    for (const e of evals) s.acceptChild(s.proposeChild(), e);
    // collapsed child: high fitness but sparsity over the cap → it is the one dropped
    const c = s.proposeChild();
    const rec = s.acceptChild(c, { fitness: 5, sparsity: 0.95 });
    expect(rec.total).toBe(-1e6);
    expect(rec.survived).toBe(false);
    expect(rec.dropped).toBe(c.id);
    // a good child replaces the lowest total (fitness 0.2, id 0)
    const c2 = s.proposeChild();
    const rec2 = s.acceptChild(c2, { fitness: 0.8, sparsity: 0.5 });
    expect(rec2).toMatchObject({ survived: true, dropped: 0, total: 0.5 * 0.8 + 0.5 * 0.5 });
    // every total negative: proposals still work (uniform selection)
    const t = new SaeSearch({ ...base, beta: 0 }, space, 3);
    for (let i = 0; i < 6; i++) t.acceptChild(t.proposeChild(), { fitness: -1 - i, sparsity: 0.1 });
    for (let i = 0; i < 5; i++) expect(t.proposeChild().parents).toHaveLength(2);
  });

  test('matchmaking picks partners that are strong where parent 1 is weak', () => {
    const s = new SaeSearch({ ...base, archiveSize: 3 }, space, 4);
    const items = [
      [1, 0],
      [1, 0],
      [0, 1],
    ];
    const ids: number[] = [];
    for (const p of items) {
      const c = s.proposeChild();
      ids.push(c.id);
      s.acceptChild(c, { fitness: 0.5, sparsity: 0.3, perItem: Float32Array.from(p) });
    }
    let fromWeak = 0;
    for (let i = 0; i < 60; i++) {
      const [p1, p2] = s.proposeChild().parents;
      expect(p2).not.toBe(p1);
      if (p1 !== ids[2]) {
        expect(p2).toBe(ids[2]);
        fromWeak++;
      }
    }
    expect(fromWeak).toBeGreaterThan(10);
  });

  test('β > 0 drives the archive sparser than β = 0 at similar fitness', async () => {
    const steps = 400;
    const summary = async (beta: number, seed: number) => {
      const s = await run({ ...base, archiveSize: 8, beta, geneNoise: 0.05 }, seed, steps);
      const a = s.scoredArchive();
      return { sparsity: a.reduce((x, m) => x + m.sparsity, 0) / a.length, best: Math.max(...a.map((m) => m.fitness)) };
    };
    for (const seed of [11, 12]) {
      const plain = await summary(0, seed);
      const sparse = await summary(0.5, seed);
      expect(sparse.sparsity - plain.sparsity, `seed ${seed}: ${JSON.stringify({ plain, sparse })}`).toBeGreaterThan(0.08);
      expect(Math.abs(sparse.best - plain.best), `seed ${seed}: ${JSON.stringify({ plain, sparse })}`).toBeLessThan(0.05);
    }
  });

  test('the relative (softmax) and layer-wise variants run and also reward sparsity', async () => {
    const layerEval = (c: SaeChild): SaeEvaluation => {
      const e = synthetic(c);
      // per-layer sparsity from the group's density genes (layers 0–1 group 0, 2–3 group 1)
      const layer = (g: number) => 1 - genes.filter((q) => q.param === 'density' && q.group === g).reduce((x, q) => x + psDecodeGene(space, 'density', c.genome[q.index]), 0) / 3;
      return { ...e, layerSparsity: [layer(0), layer(0), layer(1), layer(1)] };
    };
    const go = async (beta: number) => {
      const s = new SaeSearch({ ...base, archiveSize: 8, beta, sparsityTerm: 'relative', temperature: 0.05, layerWise: true }, space, 21);
      for (let i = 0; i < 300; i++) await s.next({ evaluate: async (_r, c) => layerEval(c) });
      const a = s.scoredArchive();
      return a.reduce((x, m) => x + m.scoredSparsity, 0) / a.length;
    };
    const [sparse, plain] = [await go(0.5), await go(0)];
    expect(sparse - plain, JSON.stringify({ sparse, plain })).toBeGreaterThan(0.05);
    const s = new SaeSearch({ ...base, layerWise: true }, space, 1);
    const c = s.proposeChild();
    expect(errorOf(() => s.acceptChild(c, synthetic(c))).message).toMatch(/needs layerSparsity/);
  });

  test('the attraction callback gets the child and its sparser parent; the value is recorded', async () => {
    const s = new SaeSearch(base, space, 5);
    const seen: [Recipe, Recipe][] = [];
    for (let i = 0; i < 10; i++) {
      await s.next({
        evaluate: async (_r, c) => synthetic(c),
        attraction: async (child, parent) => {
          seen.push([child, parent]);
          return 0.25;
        },
      });
    }
    expect(seen).toHaveLength(4); // the 6 initial candidates have no parents
    const bred = s.records().filter((r) => r.step !== null);
    expect(bred.map((r) => r.attraction)).toEqual([0.25, 0.25, 0.25, 0.25]);
    expect(s.records().filter((r) => r.step === null).every((r) => r.attraction === undefined)).toBe(true);
  });

  test('same seed → same run; a JSON round trip of the state (with a pending child) continues bit for bit', async () => {
    const opts: SaeOptions = { ...base, competition: true, geneNoise: 0.03 };
    const full = await run(opts, 99, 50);
    const again = await run(opts, 99, 50);
    expect(again.state()).toEqual(full.state());
    const other = await run(opts, 100, 50);
    expect(other.state().archive).not.toEqual(full.state().archive);

    const half = await run(opts, 99, 30);
    half.proposeChild(); // in flight when the page reloads
    const saved = JSON.parse(JSON.stringify(half.state())) as SaeState;
    const resumed = SaeSearch.fromState(saved);
    expect(resumed.pendingChildren()).toEqual(half.pendingChildren());
    for (let i = 0; i < 20; i++) await resumed.next({ evaluate: async (_r, c) => synthetic(c) });
    expect(resumed.state()).toEqual(full.state());
    expect(resumed.best()).toEqual(full.best());
  });

  test('ask/tell (the CMA-ES surface) runs the same search as next(); ask repeats until told, after a restore too', async () => {
    const opts: SaeOptions = { ...base, competition: true, geneNoise: 0.03 };
    const viaNext = await run(opts, 42, 30);
    const s = new SaeSearch(opts, space, 42);
    for (let i = 0; i < 30; i++) {
      const asked = s.ask();
      expect(asked).toHaveLength(1); // steady-state: one child per ask
      expect(s.ask()).toEqual(asked);
      if (i === 17) {
        // a reload with the child in flight: the restored search asks for the same child
        const restored = SaeSearch.restore(JSON.parse(JSON.stringify(s.state())) as SaeState);
        expect(restored.ask()).toEqual(asked);
      }
      const [rec] = s.tell(asked.map(synthetic));
      expect(rec.id).toBe(asked[0].id);
      expect(s.generation).toBe(i + 1);
    }
    expect(s.state()).toEqual(viaNext.state());
    expect(s.evaluations).toBe(30);
    expect(s.sigma).toBe(0.03);
  });

  test('tell() without an ask, with the wrong count or a bad evaluation is refused and changes nothing', () => {
    const s = new SaeSearch({ ...base, archiveSize: 2, competition: true }, space, 1);
    expect(errorOf(() => s.tell([{ fitness: 1, sparsity: 0.2, perItem: [1] }]))).toBeInstanceOf(OptimizerError);
    const [a] = s.ask();
    expect(errorOf(() => s.tell([])).message).toMatch(/needs 1 evaluation/);
    const before = s.state();
    expect(errorOf(() => s.tell([{ fitness: 1, sparsity: 0.2 }])).message).toMatch(/needs perItem/);
    expect(s.state()).toEqual(before);
    expect(s.ask()).toEqual([a]);
    s.tell([{ fitness: 1, sparsity: 0.2, perItem: [1, 0, 1] }]);
    expect(s.generation).toBe(1);
  });

  test('misuse is refused with OptimizerErrors', () => {
    expect(errorOf(() => new SaeSearch(base, { ...space, method: 'task_arithmetic', densityMin: undefined }, 1)).message).toMatch(/density genes/);
    expect(errorOf(() => new SaeSearch(base, { method: 'cabs', base: 'b', models: ['x'], numLayers: 2, layerGroups: 1 }, 1)).message).toMatch(/densityGenes: true/);
    expect(errorOf(() => new SaeSearch({ ...base, archiveSize: 1 }, space, 1))).toBeInstanceOf(OptimizerError);
    expect(errorOf(() => new SaeSearch({ ...base, initialGenomes: [[0.5]] }, space, 1)).message).toMatch(/has 1 genes; the space has 12/);
    const s = new SaeSearch({ ...base, archiveSize: 2, competition: true }, space, 1);
    const a = s.proposeChild();
    const b = s.proposeChild();
    expect(errorOf(() => s.proposeChild()).message).toMatch(/still filling/);
    s.acceptChild(a, { fitness: 1, sparsity: 0.2, perItem: [1, 0, 1] });
    expect(errorOf(() => s.acceptChild(a, { fitness: 1, sparsity: 0.2, perItem: [1, 0, 1] })).message).toMatch(/not pending/);
    expect(errorOf(() => s.acceptChild(b, { fitness: 1, sparsity: 0.2, perItem: [1, 0] })).message).toMatch(/one fixed search split/);
    expect(errorOf(() => s.acceptChild(b, { fitness: 1, sparsity: 0.2 })).message).toMatch(/needs perItem/);
    expect(errorOf(() => s.acceptChild(b, { fitness: Number.NaN, sparsity: 0.2, perItem: [1, 0, 1] })).message).toMatch(/fitness must be a finite number/);
    expect(errorOf(() => s.acceptChild(b, { fitness: 1, sparsity: 1.5, perItem: [1, 0, 1] })).message).toMatch(/sparsity must be in \[0, 1\]/);
    expect(errorOf(() => SaeSearch.fromState({ ...s.state(), version: 2 } as unknown as SaeState)).message).toMatch(/version 2/);
  });
});

// The candidates table's honesty: equal recipes are listed once (in the run's top list and in the
// table), the genes that tell candidates apart are named, and a fitness measured on a few items
// carries a 95 % interval (Wilson's for equal set sizes).
import { describe, expect, test } from 'vitest';
import { differingGenes, distinctCandidates, fitnessInterval, genomeKey, hopsText, itemsText } from '../../src/evolve/distinct';
import { EvolutionRun, newRun, type EvolveConfig } from '../../src/evolve/run';

const ps: EvolveConfig = {
  kind: 'ps',
  ps: { method: 'ties', base: 'base', models: ['add', 'rev'], numLayers: 4, layerGroups: 1 },
  generations: 6,
  seed: 3,
};

describe('distinct candidates', () => {
  test('genomes equal after the clamp to [0, 1] and at the shown precision are one recipe', () => {
    const a = [1.3, 0.5, 0.2, 0.7];
    const b = [1.0, 0.5, 0.2, 0.7]; // clamps to a
    const c = [1.0, 0.501, 0.2, 0.7]; // equal at two decimals
    const d = [0.9, 0.5, 0.2, 0.7]; // a different weight
    expect(genomeKey(ps, a)).toBe(genomeKey(ps, b));
    expect(genomeKey(ps, a)).toBe(genomeKey(ps, c));
    expect(genomeKey(ps, a)).not.toBe(genomeKey(ps, d));
    const list = [a, b, d, c].map((genome, i) => ({ genome, i }));
    expect(distinctCandidates(ps, list).map((x) => x.i)).toEqual([0, 2]);
  });

  test('the genes that differ are named; genes equal everywhere are left out', () => {
    const genes = differingGenes(ps, [
      [0.5, 0.5, 0.2, 0.7],
      [0.5, 0.6, 0.2, 0.7],
    ]);
    expect(genes).toHaveLength(2);
    expect(genes[0]).toHaveLength(1);
    expect(genes[0][0].label).toMatch(/^add · .*density$/);
    expect(genes[0][0].short).toBe('add d');
    expect(genes[0][0].value).not.toBe(genes[1][0].value);
    expect(differingGenes(ps, [[0.5, 0.5, 0.2, 0.7]])).toEqual([[]]);
    expect(hopsText([{ model: 'a', layer: 0, scale: 1 }, { model: 'b', layer: 2, scale: 0.8 }])).toBe('A0 B2×0.80');
  });

  test('an evolution run keeps one top entry per recipe', async () => {
    // DFS genomes are thresholded into layer paths: many genomes are one path (one recipe), and a
    // fitness that only sees the path gives them equal scores — without the dedup they would fill
    // the top list with copies.
    const dfs: EvolveConfig = { kind: 'dfs', dfs: { modelA: 'a', modelB: 'b', layersA: 2, layersB: 2, repeats: 1, scales: false }, dfsA: { kind: 'model', ref: 'a' }, generations: 8, seed: 5 };
    const run = new EvolutionRun(newRun('d', dfs, { search: ['s'], heldout: ['h'] }, 0), {
      async evaluate(target) {
        const hops = (target as { hops: { model: string }[] }).hops;
        const f = hops.filter((h) => h.model === 'b').length / 4 + 0.1 * hops.length;
        return { fitness: f, perSet: [f] };
      },
      async save() {},
      now: () => 0,
    });
    const r = await run.run();
    const keys = r.top.map((t) => genomeKey(r.config, t.genome));
    expect(r.top.length).toBeGreaterThan(1);
    expect(new Set(keys).size).toBe(keys.length);
    // the list is still best first
    for (let i = 1; i < r.top.length; i++) expect(r.top[i].score).toBeLessThanOrEqual(r.top[i - 1].score);
  });
});

describe('fitness interval', () => {
  test("Wilson's score interval for equal set sizes", () => {
    const ci = fitnessInterval([0.5], [16])!;
    expect(ci.lo).toBeCloseTo(0.2800, 3);
    expect(ci.hi).toBeCloseTo(0.7200, 3);
    // Two sets of 16 are 32 items of the pooled proportion.
    const two = fitnessInterval([0.25, 0.75], [16, 16])!;
    const pooled = fitnessInterval([0.5], [32])!;
    expect(two.lo).toBeCloseTo(pooled.lo, 12);
    expect(two.hi).toBeCloseTo(pooled.hi, 12);
    // Zero correct still has an upper bound above 0 (z²/(n + z²)).
    const zero = fitnessInterval([0], [20])!;
    expect(zero.lo).toBe(0);
    expect(zero.hi).toBeCloseTo(3.8415 / 23.8415, 3);
  });

  test('more items narrow it; unequal sizes give an interval around the mean', () => {
    const w = (n: number) => {
      const ci = fitnessInterval([0.6, 0.6], [n, n])!;
      return ci.hi - ci.lo;
    };
    expect(w(16)).toBeGreaterThan(w(100));
    expect(w(100)).toBeGreaterThan(w(400));
    const u = fitnessInterval([0.5, 0.8], [10, 40])!;
    expect(u.fitness).toBeCloseTo(0.65, 12);
    expect(u.lo).toBeLessThan(0.65);
    expect(u.hi).toBeGreaterThan(0.65);
    expect(u.hi - u.lo).toBeLessThan(0.5);
  });

  test('nothing to say without sizes or with non-accuracies', () => {
    expect(fitnessInterval([0.5], [])).toBeUndefined();
    expect(fitnessInterval([0.5, 0.5], [16])).toBeUndefined();
    expect(fitnessInterval([1.5], [16])).toBeUndefined();
    expect(fitnessInterval([0.5], [0])).toBeUndefined();
    expect(itemsText([16, 16])).toBe('16 items per set');
    expect(itemsText([16, 12])).toBe('16 / 12 items per set');
  });
});

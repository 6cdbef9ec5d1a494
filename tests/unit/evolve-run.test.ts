// The evolution loop with a synthetic evaluator: it improves the fitness, records history and a
// top list scored on the held-out split, and a paused run restored from its JSON record continues
// exactly like an uninterrupted one.
import { describe, expect, test } from 'vitest';
import { EvolutionRun, newRun, validateConfig, type EvolveConfig, type RunEnv, type RunRecord } from '../../src/evolve/run';
import type { EvalTarget } from '../../src/eval/target';
import type { Recipe } from '../../src/recipe/types';
import { OptimizerError } from '../../src/errors';

const config = (over: Partial<EvolveConfig> = {}): EvolveConfig => ({
  kind: 'ps',
  ps: { method: 'ties', base: 'base', models: ['add', 'rev'], numLayers: 4, layerGroups: 1 },
  generations: 12,
  seed: 7,
  ...over,
});

/** Fitness peaks at weight 0.8 / density 0.3 for every model; held-out is the same minus a bit. */
function synthetic(target: EvalTarget): number {
  const r = (target as { recipe: Recipe }).recipe;
  let loss = 0;
  const visit = (params: Record<string, unknown> | undefined) => {
    const w = Number(params?.weight), d = Number(params?.density);
    loss += (w - 0.8) ** 2 + (d - 0.3) ** 2;
  };
  for (const m of r.models ?? []) visit(m.parameters as Record<string, unknown>);
  for (const s of r.slices ?? []) for (const src of s.sources) if (src.parameters) visit(src.parameters as Record<string, unknown>);
  return Math.exp(-loss * 4);
}

function env(saved: RunRecord[], calls: { split: string }[]): RunEnv {
  let t = 0;
  return {
    async evaluate(target, split) {
      calls.push({ split });
      const f = synthetic(target) - (split === 'heldout' ? 0.01 : 0);
      return { fitness: f, perSet: [f, f] };
    },
    async save(r) {
      saved.push(JSON.parse(JSON.stringify(r)));
    },
    now: () => (t += 1),
  };
}

describe('evolution run', () => {
  test('CMA-ES over a PS genome improves a synthetic fitness; top list has held-out scores', async () => {
    const saved: RunRecord[] = [];
    const calls: { split: string }[] = [];
    const run = new EvolutionRun(newRun('r1', config(), { search: ['s'], heldout: ['h'] }, 0), env(saved, calls));
    const r = await run.run();
    expect(r.status).toBe('done');
    expect(r.history).toHaveLength(12);
    expect(r.history.at(-1)!.bestSoFar).toBeGreaterThan(r.history[0].best);
    expect(r.top[0].score).toBeGreaterThan(0.9);
    expect(r.top.every((t) => t.heldout && Math.abs(t.heldout.fitness - (t.fitness - 0.01)) < 1e-12)).toBe(true);
    expect(r.top[0].recipe?.merge_method).toBe('ties');
    expect(saved.length).toBeGreaterThanOrEqual(12);
    // selection never sees held-out numbers: scores equal search fitness
    expect(r.top.every((t) => t.score === t.fitness)).toBe(true);
  });

  test('pause, JSON round trip and resume equal an uninterrupted run', async () => {
    const straight = await new EvolutionRun(newRun('a', config(), { search: [], heldout: [] }, 0), env([], [])).run();

    const saved: RunRecord[] = [];
    const first = new EvolutionRun(newRun('a', config(), { search: [], heldout: [] }, 0), {
      ...env(saved, []),
      onProgress: (rec, ev) => {
        if (ev.kind === 'generation' && ev.generation.generation === 4) first.pause();
      },
    });
    const paused = await first.run();
    expect(paused.status).toBe('paused');
    expect(paused.history).toHaveLength(5);
    const restored: RunRecord = JSON.parse(JSON.stringify(saved.at(-1)));
    const resumed = await new EvolutionRun(restored, env([], [])).run();
    expect(resumed.status).toBe('done');
    const strip = (r: RunRecord) => ({ history: r.history.map((g) => ({ ...g, ms: 0 })), top: r.top, cma: r.cma });
    expect(strip(resumed)).toEqual(strip(straight));
  });

  test('SAE rounds: sparsity and attraction recorded, resume equals an uninterrupted run', async () => {
    const sae = config({ kind: 'sae', sae: { archiveSize: 4, beta: 0.5 }, generations: 6, ps: { method: 'ties', base: 'base', models: ['add', 'rev'], numLayers: 4, layerGroups: 1, densityMin: 0.05 } });
    const saeEnv = (saved: RunRecord[]): RunEnv => ({
      ...env(saved, []),
      async evaluate(target, split, o) {
        const f = synthetic(target);
        const r = (target as { recipe: Recipe }).recipe;
        const dens = (r.models ?? []).map((m) => Number((m.parameters as Record<string, unknown>).density));
        return { fitness: f, perSet: [f], sparsity: 1 - Math.max(...dens), attraction: o.attractionTo ? 0.25 : undefined };
      },
    });
    const straight = await new EvolutionRun(newRun('s', sae, { search: [], heldout: [] }, 0), saeEnv([])).run();
    expect(straight.status).toBe('done');
    expect(straight.history).toHaveLength(6);
    expect(straight.history.every((g) => g.points.length === 4 && g.sparsityMean !== undefined)).toBe(true);
    expect(straight.history.slice(1).some((g) => g.attractionMean === 0.25)).toBe(true);
    expect(straight.top[0].score).toBeCloseTo(0.5 * straight.top[0].fitness + 0.5 * straight.top[0].sparsity!, 12);

    const saved: RunRecord[] = [];
    const first = new EvolutionRun(newRun('s', sae, { search: [], heldout: [] }, 0), {
      ...saeEnv(saved),
      onProgress: (_r, ev) => {
        if (ev.kind === 'generation' && ev.generation.generation === 2) first.pause();
      },
    });
    expect((await first.run()).status).toBe('paused');
    const resumed = await new EvolutionRun(JSON.parse(JSON.stringify(saved.at(-1))), saeEnv([])).run();
    const strip = (r: RunRecord) => ({ history: r.history.map((g) => ({ ...g, ms: 0 })), top: r.top, sae: r.sae });
    expect(strip(resumed)).toEqual(strip(straight));
  });

  test('a saved optimizer state that cannot be read is refused with an OptimizerError, not a crash', async () => {
    const sae = config({ kind: 'sae', sae: { archiveSize: 4 }, ps: { method: 'ties', base: 'base', models: ['add', 'rev'], numLayers: 4, layerGroups: 1, densityMin: 0.05 } });
    const bad: [EvolveConfig, Partial<RunRecord>][] = [
      [config(), { cma: { kind: 'cmaes', version: 7 } as unknown as RunRecord['cma'] }],
      [sae, { sae: { version: 2 } as unknown as RunRecord['sae'] }],
    ];
    for (const [c, state] of bad) {
      const rec = { ...newRun('x', c, { search: [], heldout: [] }, 0), ...state };
      await expect(new EvolutionRun(rec, env([], [])).run()).rejects.toBeInstanceOf(OptimizerError);
    }
  });

  test('a budget of zero and bad spaces are refused before any work', () => {
    expect(() => validateConfig(config({ generations: 0 }))).toThrow(/budget is 0 generations/);
    expect(() => validateConfig(config({ limit: 0 }))).toThrow(/items per set/);
    expect(() => validateConfig({ ...config(), kind: 'dfs', dfs: { modelA: 'a', modelB: 'b', layersA: 2, layersB: 2, repeats: 2, scales: true }, dfsA: { kind: 'model', ref: 'a' } }, { hiddenA: 64, hiddenB: 32 })).toThrow(/hidden/);
  });
});

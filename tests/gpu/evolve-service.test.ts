// Evolution in the browser end to end: the worker-side service drives CMA-ES and SAE over real GPU
// merges and ONNX evaluations of tiny checkpoints, saves every generation to IndexedDB, and a run
// paused and resumed from IndexedDB ends exactly where an uninterrupted run ends.
import { describe, expect, test } from 'vitest';
import { getGpu } from '../../src/gpu/device';
import { EvalService, type EvalSetInput } from '../../src/eval/service';
import { EvolveService, type EvolveInputs, type StoredRun } from '../../src/evolve/service';
import { runStore } from '../../src/evolve/run-store';
import type { EvolveConfig } from '../../src/evolve/run';
import { parseEvalSet } from '../../src/eval/evalset';
import { models } from './eval-fixtures';

const items = ['1+2=', '3+4=', 'ab=', 'cd=', 'x:', 'yy:'].map((p, i) => JSON.stringify({ prompt: p, answer: ['3', '7', 'ba', 'dc', 'x', 'yy'][i] }));
const search: EvalSetInput[] = [{ name: 's.jsonl', text: items.join('\n') }];
const heldout: EvalSetInput[] = [{ name: 'h.jsonl', text: items.slice(0, 4).join('\n') }];
const inputs: EvolveInputs = { models, search, heldout };
// One evaluation service (its ONNX sessions compile once); each EvolveService stands for a page.
const evals = new EvalService(getGpu, { backend: 'webgpu' });
const ps = { method: 'ties' as const, base: 'base', models: ['a', 'b'], numLayers: 2, layerGroups: 1, densityMin: 0.05 };

describe('evolution service (GPU + IndexedDB)', () => {
  test('PS run: history, top list with held-out, saved record; pause + resume equals a straight run', async () => {
    const config: EvolveConfig = { kind: 'ps', ps, generations: 2, seed: 5, popSize: 4, sparsity: { omega: 1, beta: 0, base: 'base' } };
    const svc = new EvolveService(evals);
    const straight = await svc.start('straight', config, inputs);
    if (!straight.ok) throw new Error(straight.error.message);
    expect(straight.run.status).toBe('done');
    expect(straight.run.history).toHaveLength(2);
    expect(straight.run.top.length).toBeGreaterThan(0);
    expect(straight.run.top.every((t) => t.heldout !== undefined && t.sparsity !== undefined)).toBe(true);
    const saved = (await runStore.load('straight')) as StoredRun;
    expect(saved.inputs.search[0].name).toBe('s.jsonl');
    expect(saved.cma?.generation).toBe(2);

    const svc2 = new EvolveService(evals);
    const first = await svc2.start('paused', config, inputs, (p) => {
      if (p.kind === 'generation' && p.run.history.length === 1) svc2.pause();
    });
    if (!first.ok) throw new Error(first.error.message);
    expect(first.run.status).toBe('paused');
    const svc3 = new EvolveService(evals); // a "reloaded page": only IndexedDB carries the run
    const resumed = await svc3.resume('paused');
    if (!resumed.ok) throw new Error(resumed.error.message);
    const strip = (r: typeof straight.run) => ({ history: r.history.map((g) => ({ ...g, ms: 0 })), top: r.top });
    expect(strip(resumed.run)).toEqual(strip(straight.run));
    expect((await svc3.list()).map((r) => r.id)).toEqual(expect.arrayContaining(['straight', 'paused']));
  });

  test('SAE run records sparsity and attraction from the GPU', async () => {
    const svc = new EvolveService(evals);
    const r = await svc.start('sae', { kind: 'sae', ps, sae: { archiveSize: 3, beta: 0.5 }, generations: 2, seed: 2, popSize: 3 }, inputs);
    if (!r.ok) throw new Error(r.error.message);
    const g = r.run.history;
    expect(g).toHaveLength(2);
    expect(g.every((x) => x.sparsityMean! > 0 && x.sparsityMean! < 1)).toBe(true);
    expect(g[1].attractionMean).toBeGreaterThanOrEqual(0);
  });

  test('a run parses and checks its eval sets once (at its preflight), not once per candidate', async () => {
    const parsed: string[] = [];
    const counting = new EvalService(getGpu, { backend: 'wasm', parseEvalSet: (name, text) => (parsed.push(name), parseEvalSet(name, text)) });
    const r = await new EvolveService(counting).start('parse-once', { kind: 'ps', ps, generations: 2, seed: 3, popSize: 3 }, inputs);
    if (!r.ok) throw new Error(r.error.message);
    expect(r.run.history.flatMap((g) => g.points)).toHaveLength(6);
    expect(r.run.top.every((t) => t.heldout !== undefined)).toBe(true);
    expect(parsed).toEqual(['s.jsonl', 'h.jsonl']);
  });

  test('bad input is refused before any work: zero budget, empty search sets, a bad JSONL line', async () => {
    const svc = new EvolveService(evals);
    const bad = async (config: EvolveConfig, inp: EvolveInputs) => {
      const r = await svc.start(`bad-${Math.random()}`, config, inp);
      expect(r.ok).toBe(false);
      return r.ok ? '' : r.error.message;
    };
    expect(await bad({ kind: 'ps', ps, generations: 0, seed: 1 }, inputs)).toMatch(/budget is 0/);
    expect(await bad({ kind: 'ps', ps, generations: 1, seed: 1 }, { ...inputs, search: [] })).toMatch(/at least one search eval set/);
    expect(await bad({ kind: 'ps', ps, generations: 1, seed: 1 }, { ...inputs, search: [{ name: 'x.jsonl', text: '{"prompt":"a","answer":"b"}\n{"prompt":' }] })).toMatch(/x\.jsonl.*line 2/);
    expect(await bad({ kind: 'dfs', dfs: { modelA: 'a', modelB: 'b', layersA: 2, layersB: 2, repeats: 2, scales: true }, dfsA: { kind: 'model', ref: 'a' }, generations: 0, seed: 1 }, inputs)).toMatch(/budget/);
  });
});

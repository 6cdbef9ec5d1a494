// The studio's evolution form → EvolveConfig: defaults from the recipe, the density floor that keeps
// TIES-style merges valid, each run kind, clear refusals; and every config built here passes the
// engine's own validateConfig (the form cannot produce a run the worker would refuse later).
// Also the Pareto front the fitness-vs-sparsity chart highlights.
import { describe, expect, test } from 'vitest';
import { getMethod } from '../../src/methods/specs';
import { buildEvolveConfig, DEFAULT_FORM, defaultRole, resolveModels, type EvolveForm, type ModelFacts } from '../../src/store/evolve-config';
import { psSafeDensityMin } from '../../src/evolve/genome-ps';
import { validateConfig } from '../../src/evolve/run';
import type { ModelInfo } from '../../src/formats/model-info';
import type { Recipe } from '../../src/recipe/types';
import { paretoFront } from '../../src/ui/pareto';
import { StudioError } from '../../src/errors';

const recipe: Recipe = { merge_method: 'ties', base_model: 'base', models: [{ model: 'add', parameters: { weight: 0.5 } }, { model: 'rev', parameters: { weight: 0.5 } }] };
const fact = (ref: string, over: Partial<ModelFacts> = {}): [string, ModelFacts] => [ref, { ref, layers: 8, hidden: 64, smallestTensor: 64, ...over }];
const facts = new Map([fact('base'), fact('add'), fact('rev'), fact('other', { smallestTensor: 16 })]);
const form = (over: Partial<EvolveForm> = {}): EvolveForm => ({ ...DEFAULT_FORM, ...over });

function expectError(f: () => unknown, code: string, text: RegExp) {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(StudioError);
    expect((e as StudioError).code).toBe(code);
    expect((e as Error).message).toMatch(text);
    return;
  }
  throw new Error('expected an error');
}

describe('buildEvolveConfig', () => {
  test('the default run searches task-vector strengths: task arithmetic, weights in [0, 1] never renormalised, starting at half', () => {
    const { config } = buildEvolveConfig(DEFAULT_FORM, recipe, facts);
    expect(config.ps).toMatchObject({ method: 'task_arithmetic', weightMax: 1 });
    // one weight gene per expert, and the merge takes the weights as they are (no normalize step)
    expect(config.ps!.normalize).toBeUndefined();
    expect(getMethod('task_arithmetic').params.find((p) => p.name === 'normalize')?.default ?? false).toBe(false);
    validateConfig(config);
  });

  test('PS defaults come from the recipe: its base, the other models as experts, a density floor and a measured sparsity', () => {
    const { config, models } = buildEvolveConfig(form({ method: 'ties', generations: 3, seed: 5, limit: 8 }), recipe, facts);
    expect(models).toEqual(['base', 'add', 'rev']);
    expect(config.kind).toBe('ps');
    expect(config.ps).toMatchObject({ method: 'ties', base: 'base', models: ['add', 'rev'], numLayers: 8, layerGroups: 1, weightMax: 1 });
    // floor(d·64) ≥ 1 for the smallest tensor of the models used (not "other", which is smaller)
    const dMin = config.ps!.densityMin!;
    expect(dMin).toBe(psSafeDensityMin([{ tensors: new Map([['t', { shape: [64] }]]) } as unknown as ModelInfo]));
    expect(Math.floor(dMin * 64)).toBeGreaterThanOrEqual(1);
    expect(config.sparsity).toEqual({ omega: 1, beta: 0, base: 'base' });
    expect(config).toMatchObject({ generations: 3, seed: 5, limit: 8 });
    expect(config.popSize).toBeUndefined();
    validateConfig(config);
  });

  test('explicit base, experts, groups, filters, weights up to 2 (unnormalized), no sparsity measure', () => {
    const { config, models } = buildEvolveConfig(
      form({ base: 'other', experts: ['rev'], layerGroups: 4, filters: ['mlp'], weightMax: 2, measureSparsity: false, popSize: 6, method: 'dare_ties', seed: 9 }),
      recipe,
      facts,
    );
    expect(models).toEqual(['other', 'rev']);
    expect(config.ps).toMatchObject({ method: 'dare_ties', base: 'other', models: ['rev'], layerGroups: 4, filters: ['mlp'], weightMax: 2, normalize: false, seedForRandom: 9 });
    expect(Math.floor(config.ps!.densityMin! * 16)).toBeGreaterThanOrEqual(1);
    expect(config.sparsity).toBeUndefined();
    expect(config.popSize).toBe(6);
    validateConfig(config);
  });

  test('linear has no base: every model of the recipe is mixed', () => {
    const { config, models } = buildEvolveConfig(form({ method: 'linear' }), recipe, facts);
    expect(config.ps!.base).toBeUndefined();
    expect(config.ps!.models).toEqual(['base', 'add', 'rev']);
    expect(models).toEqual(['base', 'add', 'rev']);
    expect(config.ps!.densityMin).toBeUndefined();
    validateConfig(config);
  });

  test('SAE: archive options, cabs evolves densities, methods without density are refused', () => {
    const { config } = buildEvolveConfig(form({ kind: 'sae', method: 'cabs', beta: 0.3, omega: 0.7, archiveSize: 4, sparsityTerm: 'relative', layerWise: true }), recipe, facts);
    expect(config.kind).toBe('sae');
    expect(config.ps!.densityGenes).toBe(true);
    expect(config.sae).toEqual({ archiveSize: 4, omega: 0.7, beta: 0.3, sparsityTerm: 'relative', layerWise: true });
    validateConfig(config);
    expectError(() => buildEvolveConfig(form({ kind: 'sae', method: 'task_arithmetic' }), recipe, facts), 'recipe', /density/);
    expectError(() => buildEvolveConfig(form({ kind: 'sae', method: 'ties', archiveSize: 1 }), recipe, facts), 'optimizer', /archive size/);
  });

  test('DFS: two models of one hidden size; mismatches and A = B are refused before any work', () => {
    const { config, models } = buildEvolveConfig(form({ kind: 'dfs', dfsA: 'add', dfsB: 'rev', repeats: 2, scales: true }), recipe, facts);
    expect(models).toEqual(['add', 'rev']);
    expect(config.dfs).toEqual({ modelA: 'add', modelB: 'rev', layersA: 8, layersB: 8, repeats: 2, scales: true });
    expect(config.dfsA).toEqual({ kind: 'model', ref: 'add' });
    expect(config.separable).toBe(true); // 32 slots + 256 scales
    validateConfig(config, { hiddenA: 64, hiddenB: 64 });
    const wide = new Map([...facts, fact('wide', { hidden: 128 })]);
    expectError(() => buildEvolveConfig(form({ kind: 'dfs', dfsA: 'add', dfsB: 'wide' }), recipe, wide), 'recipe', /hidden size 64.*hidden size 128/);
    expectError(() => buildEvolveConfig(form({ kind: 'dfs', dfsA: 'add', dfsB: 'add' }), recipe, facts), 'recipe', /two different models/);
  });

  test('PS + DFS: model A is the PS run\'s best recipe; without one the form says what to do', () => {
    expectError(() => buildEvolveConfig(form({ kind: 'psdfs', dfsB: 'other' }), recipe, facts), 'optimizer', /parameter-space run/);
    const best: Recipe = { merge_method: 'ties', base_model: 'base', models: [{ model: 'add', parameters: { weight: 0.7, density: 0.4 } }] };
    const { config, models } = buildEvolveConfig(form({ kind: 'psdfs', dfsB: 'rev' }), recipe, facts, { runId: 'run-1', recipe: best, seed: 3 });
    expect(config.dfsA).toEqual({ kind: 'recipe', recipe: best, seed: 3 });
    expect(config.dfs).toMatchObject({ modelA: 'best of run-1', modelB: 'rev', layersA: 8, layersB: 8 });
    expect(models.sort()).toEqual(['add', 'base', 'rev']);
    validateConfig(config);
  });

  test('refusals name the problem: unequal layers, no experts, zero budget, missing model', () => {
    const short = new Map([...facts, fact('short', { layers: 6 })]);
    expectError(() => buildEvolveConfig(form({ experts: ['add', 'short'] }), recipe, short), 'recipe', /same number of layers.*short has 6/);
    expectError(() => buildEvolveConfig(form({ experts: [] }), recipe, facts), 'recipe', /at least one expert/);
    expectError(() => buildEvolveConfig(form({ generations: 0 }), recipe, facts), 'optimizer', /generations/);
    expectError(() => buildEvolveConfig(form({ layerGroups: 9 }), recipe, facts), 'optimizer', /layer groups/);
    expectError(() => buildEvolveConfig(form({ kind: 'dfs', dfsA: 'add', dfsB: 'gone' }), recipe, facts), 'recipe', /gone is not on the shelf/);
  });

  test('resolveModels follows the recipe until the form overrides it; an unknown base falls back', () => {
    expect(resolveModels(form(), recipe, ['base', 'add', 'rev', 'other'])).toEqual({ base: 'base', experts: ['add', 'rev'], pool: ['base', 'add', 'rev'] });
    expect(resolveModels(form({ base: 'add' }), recipe, ['base', 'add', 'rev']).experts).toEqual(['base', 'rev']);
    expect(resolveModels(form(), { merge_method: 'ties', models: [] }, ['x', 'y']).base).toBe('x');
  });

  test('set roles from the demo names', () => {
    expect(defaultRole('addition.search.jsonl')).toBe('search');
    expect(defaultRole('reversal.test.jsonl')).toBe('heldout');
    expect(defaultRole('addition.train.jsonl')).toBe('off');
    expect(defaultRole('mine.jsonl', 'test')).toBe('heldout');
  });
});

describe('paretoFront', () => {
  test('keeps exactly the non-dominated points (brute force on random sets, ties included)', () => {
    let s = 1;
    const rnd = () => ((s = (s * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    for (let trial = 0; trial < 50; trial++) {
      const pts = Array.from({ length: 1 + Math.floor(rnd() * 30) }, () => ({ fitness: Math.round(rnd() * 8) / 8, sparsity: Math.round(rnd() * 8) / 8 }));
      const front = paretoFront(pts);
      const dominated = (i: number) => pts.some((q, j) => j !== i && q.fitness >= pts[i].fitness && q.sparsity >= pts[i].sparsity && (q.fitness > pts[i].fitness || q.sparsity > pts[i].sparsity));
      const expected = new Set(pts.map((p, i) => i).filter((i) => !dominated(i)).map((i) => `${pts[i].fitness},${pts[i].sparsity}`));
      expect(new Set(front.map((i) => `${pts[i].fitness},${pts[i].sparsity}`))).toEqual(expected);
      // one point per distinct non-dominated position, ordered by sparsity
      expect(front.length).toBe(expected.size);
      for (let k = 1; k < front.length; k++) expect(pts[front[k]].sparsity).toBeGreaterThan(pts[front[k - 1]].sparsity);
    }
  });

  test('ignores points without a finite value', () => {
    expect(paretoFront([{ fitness: NaN, sparsity: 0.5 }, { fitness: 0.2, sparsity: 0.1 }])).toEqual([1]);
  });
});

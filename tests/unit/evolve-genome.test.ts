import { describe, expect, test } from 'vitest';
import { parse as parseYaml } from 'yaml';
import {
  decodePs,
  psBounds,
  psDecodeGene,
  psDensityGene,
  psDimension,
  psGeneNames,
  psGenes,
  psGroupRanges,
  psInitialMean,
  psSafeDensityMin,
  type PsSpace,
} from '../../src/evolve/genome-ps';
import {
  decodeDfs,
  dfsDimension,
  dfsGeneNames,
  dfsInitialMean,
  dfsPool,
  dfsSlots,
  dfsToHopList,
  dfsToRecipe,
  hopListToYaml,
  parseHopList,
  validateDfsSpace,
  DFS_FORMAT,
  type DfsSpace,
} from '../../src/evolve/genome-dfs';
import { psToMergekitEvolveYaml } from '../../src/evolve/mergekit-evolve';
import { buildPlan } from '../../src/recipe/plan';
import { parseMergekitYaml, recipeToMergekitYaml } from '../../src/recipe/mergekit-yaml';
import { decodeShare, encodeShare } from '../../src/recipe/share-url';
import { ModelError, OptimizerError, RecipeError, UnsupportedError } from '../../src/errors';
import type { ModelInfo, TensorInfo } from '../../src/formats/model-info';
import type { ByteSource } from '../../src/io/types';
import type { Recipe } from '../../src/recipe/types';

// ---- fake checkpoints: headers only ------------------------------------------------------------

const dummy = (name: string): ByteSource => ({ name, size: 0, read: async () => new Uint8Array(0), text: async () => '' }) as unknown as ByteSource;

function fakeModel(ref: string, layers: number, hidden = 4): ModelInfo {
  const shapes: Record<string, number[]> = { 'model.embed_tokens.weight': [10, hidden] };
  for (let i = 0; i < layers; i++) {
    shapes[`model.layers.${i}.input_layernorm.weight`] = [hidden];
    shapes[`model.layers.${i}.self_attn.q_proj.weight`] = [hidden, hidden];
    shapes[`model.layers.${i}.mlp.up_proj.weight`] = [8, hidden];
  }
  shapes['model.norm.weight'] = [hidden];
  shapes['lm_head.weight'] = [10, hidden];
  const src = dummy('model.safetensors');
  const tensors = new Map<string, TensorInfo>();
  for (const [name, shape] of Object.entries(shapes)) tensors.set(name, { name, dtype: 'F32', shape, source: src, byteOffset: 0, byteLength: 0 });
  return {
    ref,
    name: ref,
    config: { architectures: ['LlamaForCausalLM'], num_hidden_layers: layers, hidden_size: hidden, vocab_size: 10, torch_dtype: 'float32' },
    tensors,
    files: new Map(),
    numLayers: layers,
  };
}

const modelMap = (...ms: ModelInfo[]) => new Map(ms.map((m) => [m.ref, m]));
const roundTrip = (r: Recipe): Recipe => parseMergekitYaml(recipeToMergekitYaml(r));
/** Distinct genes in (0, 1). */
const distinct = (n: number): number[] => Array.from({ length: n }, (_, i) => (i + 1) / (n + 1));

const errorOf = (fn: () => unknown): Error => {
  try {
    fn();
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected an error');
};

// ---- parameter space -----------------------------------------------------------------------------

describe('PS genome', () => {
  const ties: PsSpace = { method: 'ties', base: 'base', models: ['add', 'mul'], numLayers: 5, layerGroups: 2, filters: ['self_attn', 'mlp'], densityMin: 0.1 };

  test('dimension, order and labels follow mergekit-evolve [group][model][set][param]', () => {
    expect(psDimension(ties)).toBe(2 * 2 * 3 * 2);
    const names = psGeneNames(ties);
    expect(names[0]).toBe('add · layers 0–1 · self_attn · weight');
    expect(names[1]).toBe('add · layers 0–1 · self_attn · density');
    expect(names[3]).toBe('add · layers 0–1 · mlp · density');
    expect(names[4]).toBe('add · layers 0–1 · rest · weight');
    expect(names[6]).toBe('mul · layers 0–1 · self_attn · weight');
    expect(names[12]).toBe('add · layers 2–4 · self_attn · weight');
    expect(psGroupRanges(ties)).toEqual([
      [0, 2],
      [2, 5],
    ]);
    expect(psBounds(ties).upper).toHaveLength(24);
    expect(psInitialMean(ties).every((v) => v === 0.5)).toBe(true);
    expect(psDimension({ method: 'task_arithmetic', base: 'b', models: ['x', 'y', 'z'], numLayers: 4, layerGroups: 1 })).toBe(3);
    expect(psDimension({ method: 'cabs', base: 'b', models: ['x', 'y'], numLayers: 4, layerGroups: 1 })).toBe(2);
    expect(psDimension({ method: 'cabs', base: 'b', models: ['x', 'y'], numLayers: 4, layerGroups: 1, densityGenes: true })).toBe(4);
    expect(psGeneNames({ method: 'linear', models: ['x'], numLayers: 1, layerGroups: 1 })).toEqual(['x · layer 0 · weight']);
  });

  test('every tensor of the plan resolves to its group / filter genes (layers, embeddings, norm, lm_head)', () => {
    const genes = psGenes(ties);
    const x = distinct(genes.length);
    const recipe = decodePs(ties, x);
    expect(recipe.slices).toHaveLength(2);
    const plan = buildPlan(recipe, modelMap(fakeModel('base', 5), fakeModel('add', 5), fakeModel('mul', 5)));
    const ranges = psGroupRanges(ties);
    let checked = 0;
    for (const e of plan.entries) {
      const m = /\.layers\.(\d+)\./.exec(e.name);
      const group = m ? ranges.findIndex(([a, b]) => Number(m[1]) >= a && Number(m[1]) < b) : e.name.includes('embed') ? 0 : ranges.length - 1;
      const filter = e.name.includes('self_attn') ? 'self_attn' : e.name.includes('mlp') ? 'mlp' : null;
      for (const inp of e.inputs) {
        if (inp.isBase) {
          expect(inp.params.weight).toBeUndefined();
          continue;
        }
        for (const param of ['weight', 'density'] as const) {
          const g = genes.find((q) => q.group === group && q.model === inp.model && q.filter === filter && q.param === param)!;
          expect(inp.params[param], `${e.name} ${inp.model} ${param}`).toBe(psDecodeGene(ties, param, x[g.index]));
          checked++;
        }
      }
    }
    // 5 layers × 3 tensors + embed + norm + lm_head, 2 models, 2 params
    expect(checked).toBe((5 * 3 + 3) * 2 * 2);
    // distinct genes really give distinct values, so a wrong gene could not pass by accident
    expect(new Set(genes.map((g) => psDecodeGene(ties, g.param, x[g.index]))).size).toBe(genes.length);
  });

  test('one group decodes to models: with scalars; round trips through mergekit YAML', () => {
    const s: PsSpace = { method: 'dare_ties', base: 'base', models: ['add', 'mul'], numLayers: 3, layerGroups: 1, seedForRandom: 7, normalize: false, weightMax: 2 };
    const r = decodePs(s, [0.25, 0.5, 1, 0]);
    expect(r).toEqual({
      merge_method: 'dare_ties',
      base_model: 'base',
      models: [
        { model: 'add', parameters: { weight: 0.5, density: 0.5 } },
        { model: 'mul', parameters: { weight: 2, density: 0 } },
      ],
      parameters: { normalize: false },
      random_seed: 7,
    });
    expect(roundTrip(r)).toEqual(r);
    const plan = buildPlan(r, modelMap(fakeModel('base', 3), fakeModel('add', 3), fakeModel('mul', 3)));
    const q = plan.entries.find((e) => e.name === 'model.layers.2.mlp.up_proj.weight')!;
    expect(q.inputs.map((i) => [i.model, i.params.weight])).toEqual([
      ['add', 0.5],
      ['mul', 2],
      ['base', undefined],
    ]);
    // genes outside the box are clamped
    expect(decodePs(s, [-3, 9, Number.NaN, 0.5]).models![0].parameters).toEqual({ weight: 0, density: 1 });
  });

  test('filter lists round trip; every method decodes to a recipe the planner accepts', () => {
    expect(roundTrip(decodePs(ties, distinct(24)))).toEqual(decodePs(ties, distinct(24)));
    const shared = decodeShare(encodeShare(decodePs(ties, distinct(24)), []));
    expect(shared.ok && shared.payload.recipe).toEqual(decodePs(ties, distinct(24)));
    const infos = modelMap(fakeModel('base', 4, 16), fakeModel('add', 4, 16), fakeModel('mul', 4, 16));
    const spaces: PsSpace[] = [
      { method: 'ties', base: 'base', models: ['add', 'mul'], numLayers: 4, layerGroups: 2, densityMin: psSafeDensityMin(infos.values()) },
      { method: 'task_arithmetic', base: 'base', models: ['add', 'mul'], numLayers: 4, layerGroups: 4, fixed: { lambda: 1.5 } },
      { method: 'linear', models: ['add', 'mul', 'base'], numLayers: 4, layerGroups: 1 },
      { method: 'breadcrumbs', base: 'base', models: ['add', 'mul'], numLayers: 4, layerGroups: 1, fixed: { gamma: 0.05 } },
      { method: 'della', base: 'base', models: ['add', 'mul'], numLayers: 4, layerGroups: 2, fixed: { epsilon: 0.2 }, filters: ['mlp'] },
      { method: 'cabs', base: 'base', models: ['add', 'mul'], numLayers: 4, layerGroups: 1, fixed: { block_size: 4, block_keep: 2, lambda: 1.2 }, weightMax: 2 },
      { method: 'cabs', base: 'base', models: ['add', 'mul'], numLayers: 4, layerGroups: 2, densityGenes: true, filters: ['self_attn'] },
    ];
    for (const s of spaces) {
      for (const fill of [0, 1, 0.5]) {
        const r = decodePs(s, new Array<number>(psDimension(s)).fill(fill));
        expect(roundTrip(r), `${s.method} ${fill}`).toEqual(r);
        expect(() => buildPlan(r, infos), `${s.method} genes ${fill}`).not.toThrow();
      }
    }
  });

  test('della densities stay inside (|ε|, 1 − |ε|) at both ends of the gene range', () => {
    const s: PsSpace = { method: 'della', base: 'b', models: ['x'], numLayers: 2, layerGroups: 1, fixed: { epsilon: 0.2 } };
    const lo = psDecodeGene(s, 'density', 0);
    const hi = psDecodeGene(s, 'density', 1);
    expect(lo - 0.2).toBeGreaterThan(0);
    expect(hi + 0.2).toBeLessThan(1);
    expect(hi - lo).toBeGreaterThan(0.59);
    expect(errorOf(() => psDimension({ ...s, fixed: { epsilon: 0.5 } }))).toBeInstanceOf(RecipeError);
  });

  test('psDensityGene is the largest gene whose density does not exceed the cap', () => {
    const spaces: PsSpace[] = [
      { method: 'ties', base: 'b', models: ['x'], numLayers: 2, layerGroups: 1, densityMin: 0.05 },
      { method: 'della', base: 'b', models: ['x'], numLayers: 2, layerGroups: 1 },
    ];
    for (const s of spaces) {
      for (const cap of [0.1, 0.3333337, 0.5, 0.77777777, 0.9]) {
        const g = psDensityGene(s, cap);
        const d = psDecodeGene(s, 'density', g);
        const lowest = psDecodeGene(s, 'density', 0);
        if (cap < lowest) {
          // below the method's range (della: |ε| + margin) the lowest valid density is used
          expect([g, d]).toEqual([0, lowest]);
          continue;
        }
        if (cap >= psDecodeGene(s, 'density', 1)) {
          expect(g).toBe(1);
          continue;
        }
        expect(d).toBeLessThanOrEqual(cap);
        expect(cap - d).toBeLessThan(2e-6);
      }
    }
  });

  test('psSafeDensityMin keeps at least one element of the smallest tensor', () => {
    for (const n of [3, 7, 49, 97, 100, 1000, 12345]) {
      const m = fakeModel('m', 1, 4);
      m.tensors.set('tiny', { name: 'tiny', dtype: 'F32', shape: [n], source: dummy('x'), byteOffset: 0, byteLength: 0 });
      const d = psSafeDensityMin([m]);
      expect(Math.floor(d * n), `n = ${n}`).toBeGreaterThanOrEqual(1);
      const s: PsSpace = { method: 'ties', base: 'b', models: ['x'], numLayers: 1, layerGroups: 1, densityMin: d };
      expect(Math.floor(psDecodeGene(s, 'density', 0) * n)).toBeGreaterThanOrEqual(1);
    }
  });

  test('invalid spaces are RecipeErrors naming the field', () => {
    const ok: PsSpace = { method: 'ties', base: 'b', models: ['x', 'y'], numLayers: 4, layerGroups: 2 };
    const cases: [Partial<PsSpace>, RegExp][] = [
      [{ method: 'linear' }, /linear treats base_model as an ordinary input/],
      [{ base: undefined }, /needs a base model/],
      [{ models: ['x', 'b'] }, /base model b is also listed/],
      [{ models: ['x', 'x'] }, /listed twice/],
      [{ models: [] }, /at least one model/],
      [{ layerGroups: 5 }, /layerGroups must be an integer from 1 to the 4 layers/],
      [{ fixed: { gamma: 0.1 } }, /"gamma" is not a parameter of ties/],
      [{ fixed: { weight: 1 } }, /"weight" is evolved by the genome/],
      [{ weightMax: 3 }, /weightMax must be in \(0, 2\]/],
      [{ normalize: true, fixed: { normalize: false } }, /given both/],
      [{ densityGenes: true }, /densityGenes applies to cabs only/],
    ];
    for (const [patch, msg] of cases) {
      const e = errorOf(() => psDimension({ ...ok, ...patch }));
      expect(e).toBeInstanceOf(RecipeError);
      expect(e.message).toMatch(msg);
    }
    expect(errorOf(() => decodePs(ok, [0.5]))).toBeInstanceOf(RecipeError);
  });
});

// ---- data-flow space -----------------------------------------------------------------------------

describe('DFS genome', () => {
  const space: DfsSpace = { modelA: 'A', modelB: 'B', layersA: 2, layersB: 3, repeats: 2, scales: true };
  const M = 5;
  const T = 10;

  test('dimension: T = M·r indicator slots plus the M×M scale matrix', () => {
    expect(dfsSlots(space)).toBe(T);
    expect(dfsDimension(space)).toBe(T + M * M);
    expect(dfsDimension({ ...space, scales: false })).toBe(T);
    const names = dfsGeneNames(space);
    expect(names[0]).toBe('slot 0 · A layer 0 · repeat 1');
    expect(names[2]).toBe('slot 2 · B layer 0 · repeat 1');
    expect(names[6]).toBe('slot 6 · A layer 1 · repeat 2');
    expect(names[T + 1 * M + 3]).toBe('scale A1 → B1');
  });

  test('initial mean decodes to A’s own path with scale 1', () => {
    const x = dfsInitialMean(space);
    expect(x.slice(0, 2)).toEqual([0.5 + 1 / 3, 0.5 + 1 / 3]);
    expect(x.slice(2, T).every((v) => v === 0.5)).toBe(true);
    expect(decodeDfs(space, x)).toEqual({
      fallback: false,
      hops: [
        { model: 'a', layer: 0, scale: 1 },
        { model: 'a', layer: 1, scale: 1 },
      ],
    });
  });

  test('slots map to t mod M and each transition takes W[previous, next]', () => {
    const x = new Array<number>(dfsDimension(space)).fill(0.2);
    for (const t of [1, 3, 6, 9]) x[t] = 0.9; // A1, B1, A1 (repeat 2), B2 (repeat 2)
    const w = (i: number, j: number, g: number) => (x[T + i * M + j] = g);
    w(1, 3, 0.25); // A1 → B1: scale 0.5
    w(3, 1, 0.75); // B1 → A1: scale 1.5
    w(1, 4, 0.5); // A1 → B2: scale 1
    w(4, 1, 1); // unused (B2 → A1)
    expect(decodeDfs(space, x).hops).toEqual([
      { model: 'a', layer: 1, scale: 1 },
      { model: 'b', layer: 1, scale: 0.5 },
      { model: 'a', layer: 1, scale: 1.5 },
      { model: 'b', layer: 2, scale: 1 },
    ]);
    // without scale genes every hop is unscaled
    expect(decodeDfs({ ...space, scales: false }, x.slice(0, T)).hops.every((h) => h.scale === 1)).toBe(true);
  });

  test('an empty path falls back to A’s own layers and says so', () => {
    const p = decodeDfs(space, new Array<number>(dfsDimension(space)).fill(0.5));
    expect(p.fallback).toBe(true);
    expect(p.hops.map((h) => `${h.model}${h.layer}`)).toEqual(['a0', 'a1']);
  });

  test('bad input is refused before any work: hidden sizes, budget, shape', () => {
    const e = errorOf(() => validateDfsSpace(space, { hiddenA: 32, hiddenB: 64, budget: 10 }));
    expect(e).toBeInstanceOf(ModelError);
    expect(e.message).toMatch(/A \(hidden size 32\) and B \(hidden size 64\) cannot form a layer path/);
    expect(errorOf(() => validateDfsSpace(space, { hiddenA: 32, hiddenB: 32, budget: 0 }))).toBeInstanceOf(OptimizerError);
    expect(errorOf(() => validateDfsSpace({ ...space, repeats: 0 }))).toBeInstanceOf(RecipeError);
    expect(() => validateDfsSpace(space, { hiddenA: 32, hiddenB: 32, budget: 100 })).not.toThrow();
  });

  test('an unscaled path exports as passthrough slices that plan layer by layer, with A’s embeddings and head', () => {
    const hops = [
      { model: 'b' as const, layer: 0, scale: 1 },
      { model: 'b' as const, layer: 1, scale: 1 },
      { model: 'a' as const, layer: 0, scale: 1 },
      { model: 'a' as const, layer: 1, scale: 1 },
      { model: 'a' as const, layer: 1, scale: 1 },
      { model: 'b' as const, layer: 2, scale: 1 },
    ];
    const r = dfsToRecipe(space, hops);
    expect(r.slices!.map((s) => [s.sources[0].model, ...s.sources[0].layer_range!])).toEqual([
      ['A', 0, 0],
      ['B', 0, 2],
      ['A', 0, 2],
      ['A', 1, 2],
      ['B', 2, 3],
      ['A', 0, 0],
    ]);
    expect(roundTrip(r)).toEqual(r);
    const plan = buildPlan(r, modelMap(fakeModel('A', 2), fakeModel('B', 3)));
    const src = (name: string) => {
      const e = plan.entries.find((x) => x.name === name)!;
      return `${e.inputs[0].model}:${e.inputs[0].tensor.name}`;
    };
    expect(plan.config.num_hidden_layers).toBe(6);
    hops.forEach((h, i) => expect(src(`model.layers.${i}.mlp.up_proj.weight`)).toBe(`${h.model.toUpperCase()}:model.layers.${h.layer}.mlp.up_proj.weight`));
    expect(src('model.embed_tokens.weight')).toBe('A:model.embed_tokens.weight');
    expect(src('model.norm.weight')).toBe('A:model.norm.weight');
    expect(src('lm_head.weight')).toBe('A:lm_head.weight');
  });

  test('a scaled path is a hop list (YAML and JSON), refused as passthrough', () => {
    const path = { fallback: false, hops: [{ model: 'a' as const, layer: 0, scale: 1 }, { model: 'b' as const, layer: 2, scale: 1.25 }] };
    const e = errorOf(() => dfsToRecipe(space, path));
    expect(e).toBeInstanceOf(UnsupportedError);
    expect(e.message).toMatch(/hop 1 has input scale 1.25/);
    const doc = dfsToHopList({ ...space, modelA: 'org/ps-merge: best', modelB: 'B' }, path);
    expect(doc.format).toBe(DFS_FORMAT);
    const text = hopListToYaml(doc);
    expect(text).toContain('scale_semantics: the scale multiplies the full hidden state (residual stream) entering the hop, before the block');
    expect(parseHopList(text)).toEqual(doc);
    expect(parseHopList(JSON.stringify(doc), 'x.json')).toEqual(doc);
    const bad = [
      [JSON.stringify({ ...doc, format: 'other@2' }), /format must be/],
      [JSON.stringify({ ...doc, hops: [] }), /hops must be a non-empty list/],
      [JSON.stringify({ ...doc, hops: [{ model: 'c', layer: 0, scale: 1 }] }), /hops\[0\]\.model must be a or b/],
      [JSON.stringify({ ...doc, hops: [{ model: 'a', layer: -1, scale: 1 }] }), /hops\[0\]\.layer/],
      [JSON.stringify({ ...doc, scale_semantics: 'block delta' }), /scale_semantics must be/],
      [JSON.stringify({ ...doc, extra: 1 }), /unknown key "extra"/],
      ['hops: [', /not valid YAML/],
    ] as const;
    for (const [t, msg] of bad) {
      const err = errorOf(() => parseHopList(t));
      expect(err).toBeInstanceOf(RecipeError);
      expect(err.message).toMatch(msg);
    }
    expect(errorOf(() => dfsToHopList(space, [{ model: 'b', layer: 3, scale: 1 }])).message).toMatch(/outside model B's 3 layers/);
  });

  test('the pool lists each physical layer once; hops index it', () => {
    const p = dfsPool([
      { model: 'a', layer: 1, scale: 1 },
      { model: 'b', layer: 0, scale: 0.5 },
      { model: 'a', layer: 1, scale: 2 },
    ]);
    expect(p.pool).toEqual([
      { model: 'a', layer: 1 },
      { model: 'b', layer: 0 },
    ]);
    expect(p.hops).toEqual([
      { layer: 0, scale: 1 },
      { layer: 1, scale: 0.5 },
      { layer: 0, scale: 2 },
    ]);
  });
});

// ---- mergekit-evolve export ------------------------------------------------------------------------

describe('mergekit-evolve export', () => {
  test('genome and tasks follow docs/evolve.md; what it cannot express is a comment', () => {
    const s: PsSpace = { method: 'dare_ties', base: 'base', models: ['add', 'mul'], numLayers: 8, layerGroups: 4, filters: ['self_attn', 'mlp'], fixed: { lambda: 1.2 } };
    const text = psToMergekitEvolveYaml(s, [{ name: 'demo_add', weight: 0.5 }, { name: 'demo_mul', metric: 'exact_match,none' }], { maxFevals: 200, notExpressible: ['SAE sparsity term'] });
    const y = parseYaml(text) as Record<string, any>;
    expect(y.genome).toEqual({
      models: ['add', 'mul'],
      merge_method: 'dare_ties',
      base_model: 'base',
      layer_granularity: 2,
      normalize: false,
      allow_negative_weights: false,
      smooth: false,
      filters: ['self_attn', 'mlp'],
    });
    expect(y.tasks).toEqual([
      { name: 'demo_add', weight: 0.5, metric: 'acc,none' },
      { name: 'demo_mul', weight: 1, metric: 'exact_match,none' },
    ]);
    expect(text).toMatch(/^# .*lambda=1\.2/m);
    expect(text).toMatch(/^# .*SAE sparsity term/m);
    expect(text).toMatch(/^# Run: mergekit-evolve .*--max-fevals 200/m);
    expect((parseYaml(psToMergekitEvolveYaml({ ...s, layerGroups: 1, filters: undefined }, [{ name: 't' }])) as any).genome.layer_granularity).toBe(0);
  });

  test('methods and layer groupings mergekit-evolve lacks are UnsupportedErrors', () => {
    const s: PsSpace = { method: 'della', base: 'base', models: ['add'], numLayers: 8, layerGroups: 1 };
    expect(errorOf(() => psToMergekitEvolveYaml(s, [{ name: 't' }]))).toBeInstanceOf(UnsupportedError);
    const e = errorOf(() => psToMergekitEvolveYaml({ ...s, method: 'ties', layerGroups: 3 }, [{ name: 't' }]));
    expect(e).toBeInstanceOf(UnsupportedError);
    expect(e.message).toMatch(/layer_granularity must divide the 8 layers/);
  });
});

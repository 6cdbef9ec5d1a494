import { describe, expect, test } from 'vitest';
import { buildPlan, readTokenizerTexts, splitLayerName, tensorSeed, tokenizerVocab } from '../../src/recipe/plan';
import { evaluateSetting, ParameterResolver } from '../../src/recipe/resolve';
import { modelCard } from '../../src/recipe/model-card';
import { parseMergekitYaml } from '../../src/recipe/mergekit-yaml';
import { getMethod } from '../../src/methods/specs';
import {
  MethodError,
  MissingTensorError,
  ModelError,
  RecipeError,
  ShapeMismatchError,
  UnsupportedDtypeError,
  UnsupportedError,
} from '../../src/errors';
import type { ModelInfo, TensorInfo } from '../../src/formats/model-info';
import type { ByteSource } from '../../src/io/types';
import type { PlanEntry } from '../../src/recipe/plan-types';
import type { Recipe } from '../../src/recipe/types';

// ---- fake checkpoints: headers only ------------------------------------------------------------

const dummy = (name: string, text = ''): ByteSource =>
  ({ name, size: text.length, read: async () => new Uint8Array(0), text: async () => text }) as unknown as ByteSource;

interface FakeOptions {
  layers?: number;
  hidden?: number;
  vocab?: number;
  tied?: boolean;
  dtype?: string;
  /** Override shapes (or add tensors) by name; null removes a tensor. */
  shapes?: Record<string, number[] | null>;
  dtypes?: Record<string, string>;
  tokenizer?: string;
  config?: Record<string, unknown>;
}

function fakeModel(ref: string, o: FakeOptions = {}): ModelInfo {
  const layers = o.layers ?? 3;
  const h = o.hidden ?? 4;
  const vocab = o.vocab ?? 10;
  const shapes: Record<string, number[] | null> = { 'model.embed_tokens.weight': [vocab, h] };
  for (let i = 0; i < layers; i++) {
    shapes[`model.layers.${i}.input_layernorm.weight`] = [h];
    shapes[`model.layers.${i}.self_attn.q_proj.weight`] = [h, h];
    shapes[`model.layers.${i}.mlp.up_proj.weight`] = [8, h];
  }
  shapes['model.norm.weight'] = [h];
  if (!o.tied) shapes['lm_head.weight'] = [vocab, h];
  Object.assign(shapes, o.shapes ?? {});
  const src = dummy('model.safetensors');
  const tensors = new Map<string, TensorInfo>();
  for (const [name, shape] of Object.entries(shapes)) {
    if (!shape) continue;
    tensors.set(name, { name, dtype: o.dtypes?.[name] ?? o.dtype ?? 'F32', shape, source: src, byteOffset: 0, byteLength: 0 });
  }
  const files = new Map<string, ByteSource>();
  if (o.tokenizer !== undefined) files.set('tokenizer.json', dummy('tokenizer.json', o.tokenizer));
  return {
    ref,
    name: ref.split('/').pop() ?? ref,
    config: { architectures: ['LlamaForCausalLM'], num_hidden_layers: layers, hidden_size: h, vocab_size: vocab, torch_dtype: 'float32', ...(o.config ?? {}) },
    tensors,
    files,
    numLayers: layers,
  };
}

const modelMap = (...ms: ModelInfo[]) => new Map(ms.map((m) => [m.ref, m]));
const byName = (entries: PlanEntry[]) => new Map(entries.map((e) => [e.name, e]));
const errorOf = (fn: () => unknown): Error => {
  try {
    fn();
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected an error');
};

// ---- evaluateSetting ----------------------------------------------------------------------------

describe('evaluateSetting (mergekit evaluate_setting)', () => {
  test('scalars are returned as they are', () => {
    expect(evaluateSetting(0.3, 0.7, 'x')).toBe(0.3);
    expect(evaluateSetting(true, 0.7, 'x')).toBe(true);
    expect(evaluateSetting('abc', 0.7, 'x')).toBe('abc');
  });

  test('gradients interpolate piecewise-linearly between evenly spaced anchors', () => {
    expect(evaluateSetting([0, 0.5, 1], 0.25, 'x')).toBeCloseTo(0.25, 15);
    expect(evaluateSetting([0, 0.5, 1], 0, 'x')).toBe(0);
    expect(evaluateSetting([0, 0.5, 1], 1, 'x')).toBe(1);
    expect(evaluateSetting([2], 0.6, 'x')).toBe(2);
    // density [1, 0.7, 0.1] over L = 5 layers: t = i/4
    const want = [1, 0.85, 0.7, 0.4, 0.1];
    for (let i = 0; i < 5; i++) expect(evaluateSetting([1, 0.7, 0.1], i / 4, 'x')).toBeCloseTo(want[i], 12);
    // t between anchors of a 5-point gradient: s = 0.6·4 = 2.4 → 0.6·v2 + 0.4·v3
    expect(evaluateSetting([0, 0.5, 0.3, 0.7, 1], 0.6, 'x')).toBeCloseTo(0.6 * 0.3 + 0.4 * 0.7, 12);
  });

  test('booleans in a list count as 0/1 numbers (pydantic makes them floats)', () => {
    expect(evaluateSetting([true, false], 0.25, 'x')).toBeCloseTo(0.75, 12);
  });

  test('lists of other scalars are step functions v[floor(t·(len−1))]', () => {
    expect(evaluateSetting(['a', 'b', 'c'], 0.49, 'x')).toBe('a');
    expect(evaluateSetting(['a', 'b', 'c'], 0.5, 'x')).toBe('b');
    expect(evaluateSetting(['a', 'b', 'c'], 0.99, 'x')).toBe('b');
    expect(evaluateSetting(['a', 'b', 'c'], 1, 'x')).toBe('c');
  });

  test('conditionals: first matching filter (absent, "*", substring); no match → undefined', () => {
    const s = [{ filter: 'self_attn', value: [0, 1] }, { filter: 'mlp', value: 0.7 }, { value: 0.5 }];
    expect(evaluateSetting(s, 0.5, 'model.layers.3.self_attn.q_proj.weight')).toBeCloseTo(0.5, 15);
    expect(evaluateSetting(s, 0.25, 'model.layers.3.self_attn.q_proj.weight')).toBeCloseTo(0.25, 15);
    expect(evaluateSetting(s, 0.5, 'model.layers.3.mlp.up_proj.weight')).toBe(0.7);
    expect(evaluateSetting(s, 0.5, 'model.norm.weight')).toBe(0.5);
    expect(evaluateSetting([{ filter: 'mlp', value: 1 }, { filter: 'mlp.up', value: 2 }], 0, 'mlp.up_proj')).toBe(1);
    expect(evaluateSetting([{ filter: '*', value: 3 }, { value: 4 }], 0, 'anything')).toBe(3);
    expect(evaluateSetting([{ filter: 'mlp', value: 1 }], 0, 'model.norm.weight')).toBeUndefined();
  });
});

// ---- ParameterResolver --------------------------------------------------------------------------

describe('ParameterResolver (mergekit ConfigReader.parameter)', () => {
  const recipe: Recipe = {
    merge_method: 'ties',
    base_model: 'base',
    slices: [
      {
        sources: [
          { model: 'a', layer_range: [8, 10], parameters: { weight: [{ filter: 'mlp', value: 0.9 }], density: 0.3 } },
          { model: 'base', layer_range: [8, 10] },
        ],
        parameters: { weight: [{ filter: 'self_attn', value: 0.6 }], normalize: [{ filter: 'layers.0.', value: false }] },
      },
    ],
    parameters: { weight: 0.1, lambda: [1, 2], normalize: true },
  };
  const r = new ParameterResolver(recipe, getMethod('ties'));
  const scope = { slice: recipe.slices![0], t: 0.5 };

  test('source → slice → top level, first non-undefined wins (no-match filters fall through)', () => {
    expect(r.perModel('weight', 'a', 'model.layers.8.mlp.up_proj.weight', scope)).toBe(0.9);
    expect(r.perModel('weight', 'a', 'model.layers.8.self_attn.q_proj.weight', scope)).toBe(0.6);
    expect(r.perModel('weight', 'a', 'model.layers.8.input_layernorm.weight', scope)).toBe(0.1);
    expect(r.perModel('density', 'a', 'model.layers.8.input_layernorm.weight', scope)).toBe(0.3);
    expect(r.global('lambda', 'model.layers.0.mlp.up_proj.weight', scope)).toBe(1.5);
  });

  test('global parameters match the OUTPUT name, per-model ones the INPUT name', () => {
    // output layer 0, source layer 8: the filter "layers.0." only sees the output name
    expect(r.global('normalize', 'model.layers.0.mlp.up_proj.weight', scope)).toBe(false);
    expect(r.global('normalize', 'model.layers.1.mlp.up_proj.weight', scope)).toBe(true);
    const byInput = new ParameterResolver({ ...recipe, parameters: { weight: [{ filter: 'layers.8.', value: 0.42 }, { value: 0 }] } }, getMethod('ties'));
    expect(byInput.perModel('weight', 'a', 'model.layers.8.input_layernorm.weight', scope)).toBe(0.42);
  });

  test('defaults, required, and the base exemption', () => {
    expect(r.global('rescale', 'x', scope)).toBe(false);
    expect(r.global('int8_mask', 'x', scope)).toBe(false);
    const bare = new ParameterResolver({ merge_method: 'ties', base_model: 'base', models: [{ model: 'a' }] }, getMethod('ties'));
    const s = { slice: { sources: [{ model: 'a' }, { model: 'base' }] }, t: 0 };
    const e = errorOf(() => bare.perModel('weight', 'a', 'model.layers.0.mlp.up_proj.weight', s));
    expect(e).toBeInstanceOf(RecipeError);
    expect(e.message).toBe('Missing required parameter weight for model a, tensor model.layers.0.mlp.up_proj.weight');
    expect(bare.perModel('weight', 'base', 'model.layers.0.mlp.up_proj.weight', s, true)).toBeUndefined();
    expect(bare.perModel('density', 'base', 'x', s, true)).toBe(1);
    const slerp = new ParameterResolver({ merge_method: 'slerp', base_model: 'a', models: [{ model: 'b' }] }, getMethod('slerp'));
    expect(errorOf(() => slerp.global('t', 'lm_head.weight', { t: 0 })).message).toBe('Missing required parameter t for tensor lm_head.weight');
  });

  test('values are brought to the declared type', () => {
    const x = new ParameterResolver({ merge_method: 'ties', base_model: 'b', models: [{ model: 'a' }], parameters: { normalize: 0, weight: true } }, getMethod('ties'));
    expect(x.global('normalize', 'n', { t: 0 })).toBe(false);
    expect(x.perModel('weight', 'a', 'n', { t: 0 })).toBe(1);
  });
});

// ---- buildPlan ------------------------------------------------------------------------------------

describe('buildPlan: models:', () => {
  const base = fakeModel('org/base');
  const a = fakeModel('org/a');
  const b = fakeModel('org/b');

  test('one entry per tensor, sorted by name, base appended and marked', () => {
    const recipe = parseMergekitYaml(`merge_method: ties
base_model: org/base
models:
  - model: org/a
    parameters: {weight: 0.6, density: [1, 0.5]}
  - model: org/b
    parameters: {weight: 0.4, density: 0.5}
dtype: float32
out_dtype: bfloat16
`);
    const plan = buildPlan(recipe, modelMap(base, a, b));
    const names = plan.entries.map((e) => e.name);
    expect(names).toEqual([...names].sort());
    expect(names.length).toBe(1 + 3 * 3 + 2); // embed; 3 tensors × 3 layers; norm, lm_head
    expect(names[0]).toBe('lm_head.weight');
    const up = byName(plan.entries).get('model.layers.1.mlp.up_proj.weight')!;
    expect(up.inputs.map((i) => [i.model, i.isBase])).toEqual([
      ['org/a', false],
      ['org/b', false],
      ['org/base', true],
    ]);
    expect(up.inputs[0].params).toEqual({ weight: 0.6, density: 0.75 });
    expect(up.inputs[2].params).toEqual({ density: 1 });
    expect(up.params).toEqual({ normalize: true, rescale: false, lambda: 1, int8_mask: false });
    expect(up.computeDtype).toBe('F32');
    expect(up.outDtype).toBe('BF16');
    expect(up.method).toBe('ties');
    expect(up.shape).toEqual([8, 4]);
    // pre/post weights at t = 0 → density gradient's first value
    expect(byName(plan.entries).get('model.embed_tokens.weight')!.inputs[0].params.density).toBe(1);
    expect(byName(plan.entries).get('lm_head.weight')!.inputs[0].params.density).toBe(1);
    expect(plan.config).toMatchObject({ num_hidden_layers: 3, torch_dtype: 'bfloat16', vocab_size: 10 });
    expect(plan.tokenizerFrom).toBe('org/base');
    expect(plan.warnings).toEqual([]);
  });

  test('t = i/(L−1) per layer; pre and post weights at t = 0', () => {
    const recipe: Recipe = { merge_method: 'slerp', base_model: 'org/base', models: [{ model: 'org/a' }], parameters: { t: [0, 1] } };
    const plan = byName(buildPlan(recipe, modelMap(base, a)).entries);
    expect([0, 1, 2].map((i) => plan.get(`model.layers.${i}.self_attn.q_proj.weight`)!.params.t)).toEqual([0, 0.5, 1]);
    expect(plan.get('model.embed_tokens.weight')!.params.t).toBe(0);
    expect(plan.get('model.norm.weight')!.params.t).toBe(0);
    expect(plan.get('lm_head.weight')!.params.t).toBe(0);
    const slerpInputs = plan.get('model.norm.weight')!.inputs;
    expect(slerpInputs.map((i) => [i.model, i.isBase])).toEqual([
      ['org/a', false],
      ['org/base', true],
    ]);
  });

  test('without dtype the output keeps the checkpoint dtype (the base\'s)', () => {
    const bf = fakeModel('org/base', { dtype: 'BF16' });
    const plan = buildPlan({ merge_method: 'slerp', base_model: 'org/base', models: [{ model: 'org/a' }], parameters: { t: 0.5 } }, modelMap(bf, a));
    expect(plan.entries[0].computeDtype).toBeUndefined();
    expect(plan.entries[0].outDtype).toBe('BF16');
    expect(plan.config.torch_dtype).toBe('float32'); // the base config's own value is kept
    const plan2 = buildPlan({ merge_method: 'linear', models: [{ model: 'org/a', parameters: { weight: 1 } }, { model: 'org/base', parameters: { weight: 1 } }], dtype: 'float16' }, modelMap(bf, a));
    expect(plan2.entries[0].outDtype).toBe('F16');
    expect(plan2.config.torch_dtype).toBe('float16');
  });

  test('linear: base_model is an ordinary input and needs its own weight', () => {
    const e = errorOf(() => buildPlan({ merge_method: 'linear', base_model: 'org/base', models: [{ model: 'org/a', parameters: { weight: 1 } }] }, modelMap(base, a)));
    expect(e).toBeInstanceOf(RecipeError);
    expect(e.message).toMatch(/^Missing required parameter weight for model org\/base, tensor .*linear treats base_model as an ordinary input/);
    const ok = buildPlan({ merge_method: 'linear', base_model: 'org/base', models: [{ model: 'org/a', parameters: { weight: 1 } }], parameters: { weight: 2 } }, modelMap(base, a));
    expect(ok.entries[0].inputs.map((i) => i.params.weight)).toEqual([1, 2]);
  });

  test('seeds: FNV-1a of (seed, output name); recipe random_seed wins over opts.seed', () => {
    const recipe: Recipe = { merge_method: 'linear', models: [{ model: 'org/a', parameters: { weight: 1 } }] };
    const p0 = buildPlan(recipe, modelMap(a));
    const p1 = buildPlan(recipe, modelMap(a), { seed: 5 });
    const p2 = buildPlan({ ...recipe, random_seed: 5 }, modelMap(a), { seed: 9 });
    expect(p0.entries[0].seed).toBe(tensorSeed(0, p0.entries[0].name));
    expect(p1.entries.map((e) => e.seed)).toEqual(p2.entries.map((e) => e.seed));
    expect(p1.entries[0].seed).not.toBe(p0.entries[0].seed);
    expect(new Set(p0.entries.map((e) => e.seed)).size).toBe(p0.entries.length);
    expect(tensorSeed(0, '')).toBe(0x31ed8b7d); // FNV-1a of the bytes "0", 0x00 (computed independently)
    expect(tensorSeed(7, 'lm_head.weight')).toBe(0xc865d93a);
  });

  test('validate: a method rule names the tensor', () => {
    const e = errorOf(() =>
      buildPlan({ merge_method: 'ties', base_model: 'org/base', models: [{ model: 'org/a', parameters: { weight: 1, density: -1 } }] }, modelMap(base, a)),
    );
    expect(e).toBeInstanceOf(MethodError);
    expect(e.message).toMatch(/^Tensor "model\.embed_tokens\.weight": density must be ≥ 0, got -1/);
  });

  test('models with different layer counts cannot share a slice', () => {
    const e = errorOf(() => buildPlan({ merge_method: 'ties', base_model: 'org/base', models: [{ model: 'org/x', parameters: { weight: 1 } }] }, modelMap(base, fakeModel('org/x', { layers: 4 }))));
    expect(e).toBeInstanceOf(RecipeError);
    expect(e.message).toBe('All inputs to a slice must contain the same number of layers: models has org/x 4, org/base 3');
  });

  test('a model that was not loaded is a ModelError', () => {
    const e = errorOf(() => buildPlan({ merge_method: 'linear', models: [{ model: 'org/zz', parameters: { weight: 1 } }] }, modelMap(a)));
    expect(e).toBeInstanceOf(ModelError);
  });
});

describe('buildPlan: slices', () => {
  const A = fakeModel('A', { layers: 4 });
  const B = fakeModel('B', { layers: 4, tied: true });

  test('frankenmerge: running output layer index, source layer index for inputs, pre from first / post from last', () => {
    const recipe = parseMergekitYaml(`merge_method: passthrough
slices:
  - sources: [{model: A, layer_range: [0, 2]}]
  - sources: [{model: B, layer_range: [1, 4]}]
  - sources: [{model: A, layer_range: [3, 4]}]
`);
    const plan = buildPlan(recipe, modelMap(A, B));
    const m = byName(plan.entries);
    expect(plan.config.num_hidden_layers).toBe(6);
    const q = (i: number) => m.get(`model.layers.${i}.self_attn.q_proj.weight`)!.inputs[0];
    expect([0, 1, 2, 3, 4, 5].map((i) => `${q(i).model}:${q(i).tensor.name}`)).toEqual([
      'A:model.layers.0.self_attn.q_proj.weight',
      'A:model.layers.1.self_attn.q_proj.weight',
      'B:model.layers.1.self_attn.q_proj.weight',
      'B:model.layers.2.self_attn.q_proj.weight',
      'B:model.layers.3.self_attn.q_proj.weight',
      'A:model.layers.3.self_attn.q_proj.weight',
    ]);
    expect(m.get('model.embed_tokens.weight')!.inputs[0].model).toBe('A');
    expect(m.get('model.norm.weight')!.inputs[0].model).toBe('A');
    expect(m.get('lm_head.weight')!.inputs[0].tensor.name).toBe('lm_head.weight');
    expect(plan.entries.length).toBe(2 + 6 * 3 + 1);
  });

  test('post-weights from the last slice: a zero-length trailing slice picks the donor; tied lm_head', () => {
    const plan = buildPlan(
      { merge_method: 'passthrough', slices: [{ sources: [{ model: 'A', layer_range: [0, 4] }] }, { sources: [{ model: 'B', layer_range: [4, 4] }] }] },
      modelMap(A, B),
    );
    const m = byName(plan.entries);
    expect(plan.config.num_hidden_layers).toBe(4);
    expect(m.get('model.norm.weight')!.inputs[0].model).toBe('B');
    // B ties its embeddings and no input has a real lm_head → the output has none
    expect(m.has('lm_head.weight')).toBe(false);
  });

  test('t restarts in every output slice; one-layer slice t = 1; per-slice parameters', () => {
    const recipe = parseMergekitYaml(`merge_method: slerp
base_model: A
slices:
  - sources:
      - {model: A, layer_range: [0, 3]}
      - {model: C, layer_range: [0, 3]}
    parameters:
      t: [0, 1]
  - sources:
      - {model: A, layer_range: [3, 4]}
      - {model: C, layer_range: [3, 4]}
parameters:
  t: [{filter: mlp, value: 0.25}, {value: [0.2, 0.8]}]
`);
    const plan = byName(buildPlan(recipe, modelMap(A, fakeModel('C', { layers: 4 }))).entries);
    const t = (i: number, w = 'self_attn.q_proj') => plan.get(`model.layers.${i}.${w}.weight`)!.params.t;
    expect([0, 1, 2].map((i) => t(i))).toEqual([0, 0.5, 1]);
    expect(t(3)).toBeCloseTo(0.8, 15); // one-layer slice: t = 1 → the gradient's last value
    expect(t(3, 'mlp.up_proj')).toBe(0.25);
    // pre-weights from the first slice (slice parameters apply), post from the last (top level) at t = 0
    expect(plan.get('model.embed_tokens.weight')!.params.t).toBe(0);
    expect(plan.get('model.norm.weight')!.params.t).toBeCloseTo(0.2, 15);
  });

  test('per-model filters see the source layer index, global ones the output index', () => {
    const recipe: Recipe = {
      merge_method: 'ties',
      base_model: 'A',
      slices: [
        {
          sources: [
            { model: 'A', layer_range: [2, 4] },
            { model: 'C', layer_range: [2, 4], parameters: { weight: [{ filter: 'layers.2.', value: 0.7 }, { value: 0.1 }] } },
          ],
        },
      ],
      parameters: { lambda: [{ filter: 'layers.0.', value: 0.5 }, { value: 1 }] },
    };
    const plan = byName(buildPlan(recipe, modelMap(A, fakeModel('C', { layers: 4 }))).entries);
    const l0 = plan.get('model.layers.0.mlp.up_proj.weight')!;
    expect(l0.inputs[1].tensor.name).toBe('model.layers.2.mlp.up_proj.weight');
    expect(l0.inputs[1].params.weight).toBe(0.7);
    expect(l0.params.lambda).toBe(0.5);
    const l1 = plan.get('model.layers.1.mlp.up_proj.weight')!;
    expect(l1.inputs[1].params.weight).toBe(0.1);
    expect(l1.params.lambda).toBe(1);
  });

  test('slice arity and shape rules', () => {
    const C = fakeModel('C', { layers: 4 });
    const lenErr = errorOf(() =>
      buildPlan({ merge_method: 'linear', slices: [{ sources: [{ model: 'A', layer_range: [0, 2], parameters: { weight: 1 } }, { model: 'C', layer_range: [0, 3], parameters: { weight: 1 } }] }] }, modelMap(A, C)),
    );
    expect(lenErr.message).toBe('All inputs to a slice must contain the same number of layers: slices[0] has A 2, C 3');
    const past = errorOf(() => buildPlan({ merge_method: 'passthrough', slices: [{ sources: [{ model: 'A', layer_range: [2, 6] }] }] }, modelMap(A)));
    expect(past.message).toBe("slices[0].sources[0] (A): layer_range [2, 6) goes past the model's 4 layers");
    const slerp3 = errorOf(() =>
      buildPlan(
        { merge_method: 'slerp', base_model: 'A', models: [{ model: 'A' }, { model: 'B' }, { model: 'C' }], parameters: { t: 0.5 } },
        modelMap(A, B, C),
      ),
    );
    expect(slerp3.message).toBe('slerp merges exactly two models, one of them the base_model; the merge has 3: A (base), B, C');
    const slerpNoBase = errorOf(() =>
      buildPlan(
        { merge_method: 'slerp', base_model: 'A', slices: [{ sources: [{ model: 'A', layer_range: [0, 2] }, { model: 'B', layer_range: [0, 2] }] }, { sources: [{ model: 'B', layer_range: [2, 4] }, { model: 'C', layer_range: [2, 4] }] }], parameters: { t: 0.5 } },
        modelMap(A, B, C),
      ),
    );
    expect(slerpNoBase.message).toBe('slerp merges exactly two models, one of them the base_model; slices[1] has 2: B, C, without the base A');
    const pass2 = errorOf(() => buildPlan({ merge_method: 'passthrough', models: [{ model: 'A' }, { model: 'C' }] }, modelMap(A, C)));
    expect(pass2.message).toBe('passthrough copies exactly one source per output slice; the merge has 2: A, C. Use slices: with one source each to stack layers');
    const tiesNoBase = errorOf(() =>
      buildPlan(
        { merge_method: 'ties', base_model: 'A', slices: [{ sources: [{ model: 'A', layer_range: [0, 2] }, { model: 'C', layer_range: [0, 2], parameters: { weight: 1 } }] }, { sources: [{ model: 'C', layer_range: [2, 4], parameters: { weight: 1 } }] }] },
        modelMap(A, C),
      ),
    );
    expect(tiesNoBase.message).toBe('merge_method ties needs the base model A among the sources of slices[1] (it has C)');
    const stock = errorOf(() => buildPlan({ merge_method: 'model_stock', base_model: 'A', models: [{ model: 'C' }] }, modelMap(A, C)));
    expect(stock.message).toBe('merge_method model_stock needs at least 3 models (base included); the merge has 2: C, A (base)');
  });
});

describe('buildPlan: tied embeddings, crops, mismatches, missing tensors', () => {
  test('a model without lm_head supplies its embed_tokens; all tied → no lm_head', () => {
    const a = fakeModel('a');
    const t = fakeModel('t', { tied: true });
    const plan = byName(buildPlan({ merge_method: 'linear', models: [{ model: 'a', parameters: { weight: 1 } }, { model: 't', parameters: { weight: 1 } }] }, modelMap(a, t)).entries);
    const lm = plan.get('lm_head.weight')!;
    expect(lm.inputs.map((i) => `${i.model}:${i.tensor.name}`)).toEqual(['a:lm_head.weight', 't:model.embed_tokens.weight']);
    // the reference (first) model ties: another model's real lm_head is still merged
    const plan2 = byName(buildPlan({ merge_method: 'linear', models: [{ model: 't', parameters: { weight: 1 } }, { model: 'a', parameters: { weight: 1 } }] }, modelMap(a, t)).entries);
    expect(plan2.get('lm_head.weight')!.inputs.map((i) => i.tensor.name)).toEqual(['model.embed_tokens.weight', 'lm_head.weight']);
    const t2 = fakeModel('t2', { tied: true });
    const plan3 = buildPlan({ merge_method: 'linear', models: [{ model: 't', parameters: { weight: 1 } }, { model: 't2', parameters: { weight: 1 } }] }, modelMap(t, t2));
    expect(plan3.entries.some((e) => e.name === 'lm_head.weight')).toBe(false);
  });

  test("embedding crop 'min' (linear): every input to the common size; crop only where it differs", () => {
    const a = fakeModel('a', { vocab: 10 });
    const b = fakeModel('b', { vocab: 12 });
    const plan = buildPlan({ merge_method: 'linear', models: [{ model: 'a', parameters: { weight: 1 } }, { model: 'b', parameters: { weight: 1 } }] }, modelMap(a, b));
    const m = byName(plan.entries);
    for (const n of ['model.embed_tokens.weight', 'lm_head.weight']) {
      expect(m.get(n)!.shape).toEqual([10, 4]);
      expect(m.get(n)!.inputs.map((i) => i.crop)).toEqual([undefined, [10, 4]]);
      expect('crop' in m.get(n)!.inputs[0]).toBe(false);
    }
    expect(plan.warnings).toContain('model.embed_tokens.weight: embedding sizes differ (a [10, 4], b [12, 4]); cropped to [10, 4]');
    // config.vocab_size follows the merged rows (the reference is a: already 10)
    expect(plan.config.vocab_size).toBe(10);
    const plan2 = buildPlan({ merge_method: 'linear', models: [{ model: 'b', parameters: { weight: 1 } }, { model: 'a', parameters: { weight: 1 } }] }, modelMap(a, b));
    expect(plan2.config.vocab_size).toBe(10);
    expect(plan2.warnings).toContain('config.json: vocab_size set to 10 (the merged embedding rows) instead of 12');
  });

  test("embedding crop 'to-base' (GTA): non-base inputs to the base's shape; a smaller one is an error", () => {
    const base = fakeModel('base', { vocab: 10 });
    const big = fakeModel('big', { vocab: 12 });
    const plan = byName(buildPlan({ merge_method: 'task_arithmetic', base_model: 'base', models: [{ model: 'big', parameters: { weight: 1 } }] }, modelMap(base, big)).entries);
    const e = plan.get('model.embed_tokens.weight')!;
    expect(e.shape).toEqual([10, 4]);
    expect(e.inputs.map((i) => [i.model, i.crop])).toEqual([
      ['big', [10, 4]],
      ['base', undefined],
    ]);
    const err = errorOf(() => buildPlan({ merge_method: 'task_arithmetic', base_model: 'big', models: [{ model: 'base', parameters: { weight: 1 } }] }, modelMap(base, big)));
    expect(err).toBeInstanceOf(ShapeMismatchError);
    expect(err.message).toMatch(/^Tensor "model\.embed_tokens\.weight": model base has shape \[10, 4\], smaller than the base model big's \[12, 4\]/);
  });

  test("non-embedding mismatch: GTA skips the input with a warning, linear is an error", () => {
    const base = fakeModel('base');
    const odd = fakeModel('odd', { shapes: { 'model.layers.1.mlp.up_proj.weight': [9, 4] } });
    const other = fakeModel('other');
    const plan = buildPlan(
      { merge_method: 'ties', base_model: 'base', models: [{ model: 'odd', parameters: { weight: 1 } }, { model: 'other', parameters: { weight: 1 } }] },
      modelMap(base, odd, other),
    );
    const up = byName(plan.entries).get('model.layers.1.mlp.up_proj.weight')!;
    expect(up.inputs.map((i) => i.model)).toEqual(['other', 'base']);
    expect(plan.warnings).toEqual(["model.layers.1.mlp.up_proj.weight: skipped model odd (shape [9, 4] differs from base's [8, 4])"]);
    // only the base left: the output is the base tensor
    const only = byName(buildPlan({ merge_method: 'ties', base_model: 'base', models: [{ model: 'odd', parameters: { weight: 1 } }] }, modelMap(base, odd)).entries);
    expect(only.get('model.layers.1.mlp.up_proj.weight')!.inputs.map((i) => [i.model, i.isBase])).toEqual([['base', true]]);
    const err = errorOf(() => buildPlan({ merge_method: 'linear', models: [{ model: 'base', parameters: { weight: 1 } }, { model: 'odd', parameters: { weight: 1 } }] }, modelMap(base, odd)));
    expect(err).toBeInstanceOf(ShapeMismatchError);
    expect(err.message).toBe('Tensor "model.layers.1.mlp.up_proj.weight": model odd has shape [9, 4] but model base has [8, 4]; linear cannot merge tensors of different shapes');
    expect((err as ShapeMismatchError).details).toMatchObject({ tensor: 'model.layers.1.mlp.up_proj.weight', model: 'odd' });
  });

  test('a tensor missing from a model is a MissingTensorError naming both', () => {
    const a = fakeModel('a');
    const holes = fakeModel('holes', { shapes: { 'model.layers.2.self_attn.q_proj.weight': null } });
    const err = errorOf(() => buildPlan({ merge_method: 'linear', models: [{ model: 'a', parameters: { weight: 1 } }, { model: 'holes', parameters: { weight: 1 } }] }, modelMap(a, holes)));
    expect(err).toBeInstanceOf(MissingTensorError);
    expect(err.message).toBe('Tensor "model.layers.2.self_attn.q_proj.weight" is required but not present in model "holes"');
    const noNorm = fakeModel('nn', { shapes: { 'model.norm.weight': null } });
    expect(errorOf(() => buildPlan({ merge_method: 'linear', models: [{ model: 'a', parameters: { weight: 1 } }, { model: 'nn', parameters: { weight: 1 } }] }, modelMap(a, noNorm)))).toBeInstanceOf(
      MissingTensorError,
    );
  });

  test('only F32/F16/BF16 tensors can be merged', () => {
    const a = fakeModel('a', { dtypes: { 'model.norm.weight': 'I64' } });
    const err = errorOf(() => buildPlan({ merge_method: 'linear', models: [{ model: 'a', parameters: { weight: 1 } }] }, modelMap(a)));
    expect(err).toBeInstanceOf(UnsupportedDtypeError);
    expect(err.message).toBe('a/model.safetensors: tensor "model.norm.weight" has dtype I64; only F32, F16 and BF16 can be merged');
  });

  test('layer names: ".layers.<n>." first, else the first ".<n>." component', () => {
    expect(splitLayerName('model.layers.12.mlp.experts.3.w1.weight')).toEqual({ prefix: 'model.layers.', index: 12, suffix: '.mlp.experts.3.w1.weight' });
    expect(splitLayerName('transformer.h.5.attn.c_attn.weight')).toBeNull();
    expect(splitLayerName('transformer.h.5.attn.c_attn.weight', true)).toEqual({ prefix: 'transformer.h.', index: 5, suffix: '.attn.c_attn.weight' });
    expect(splitLayerName('lm_head.weight', true)).toBeNull();
  });

  test('architectures without ".layers." are inferred from ".<n>." names', () => {
    const gpt = (ref: string): ModelInfo => {
      const src = dummy('model.safetensors');
      const names: [string, number[]][] = [
        ['transformer.wte.weight', [10, 4]],
        ['transformer.h.0.attn.c_attn.weight', [4, 12]],
        ['transformer.h.1.attn.c_attn.weight', [4, 12]],
        ['transformer.ln_f.weight', [4]],
      ];
      return {
        ref,
        name: ref,
        config: {},
        numLayers: 2,
        files: new Map(),
        tensors: new Map(names.map(([n, s]) => [n, { name: n, dtype: 'F16', shape: s, source: src, byteOffset: 0, byteLength: 0 }])),
      };
    };
    const plan = buildPlan(
      { merge_method: 'passthrough', slices: [{ sources: [{ model: 'g1', layer_range: [1, 2] }] }, { sources: [{ model: 'g2', layer_range: [0, 2] }] }] },
      modelMap(gpt('g1'), gpt('g2')),
    );
    expect(plan.entries.map((e) => `${e.name}<-${e.inputs[0].model}:${e.inputs[0].tensor.name}`)).toEqual([
      'transformer.h.0.attn.c_attn.weight<-g1:transformer.h.1.attn.c_attn.weight',
      'transformer.h.1.attn.c_attn.weight<-g2:transformer.h.0.attn.c_attn.weight',
      'transformer.h.2.attn.c_attn.weight<-g2:transformer.h.1.attn.c_attn.weight',
      'transformer.ln_f.weight<-g2:transformer.ln_f.weight',
      'transformer.wte.weight<-g1:transformer.wte.weight',
    ]);
    expect(plan.config.num_hidden_layers).toBe(3);
  });
});

describe('buildPlan: tokenizer', () => {
  const vocabJson = (tokens: string[], added: string[] = []) =>
    JSON.stringify({
      model: { type: 'BPE', vocab: Object.fromEntries(tokens.map((t, i) => [t, i])) },
      added_tokens: added.map((c, i) => ({ id: tokens.length + i, content: c, special: true })),
    });
  const ten = Array.from({ length: 10 }, (_, i) => `t${i}`);
  const same = vocabJson(ten);

  test('default: tokenizer from the base, else the first model', async () => {
    const a = fakeModel('a');
    const b = fakeModel('b');
    expect(buildPlan({ merge_method: 'linear', models: [{ model: 'a', parameters: { weight: 1 } }, { model: 'b', parameters: { weight: 1 } }] }, modelMap(a, b)).tokenizerFrom).toBe('a');
    expect(buildPlan({ merge_method: 'ties', base_model: 'b', models: [{ model: 'a', parameters: { weight: 1 } }] }, modelMap(a, b)).tokenizerFrom).toBe('b');
  });

  test('union with identical vocabularies is a no-op; differing ones permute and fill the embedding rows', async () => {
    const a = fakeModel('a', { tokenizer: same });
    const b = fakeModel('b', { tokenizer: same });
    const recipe: Recipe = { merge_method: 'ties', base_model: 'a', models: [{ model: 'b', parameters: { weight: 1 } }], tokenizer_source: 'union' };
    const models = modelMap(a, b);
    const plan = buildPlan(recipe, models, { tokenizerTexts: await readTokenizerTexts(models) });
    expect(plan.tokenizerFrom).toBe('a');
    expect(plan.config.vocab_size).toBe(10);
    expect(byName(plan.entries).get('model.embed_tokens.weight')!.inputs.every((i) => i.crop === undefined && i.rows === undefined)).toBe(true);
    expect(plan.warnings).toEqual([]);

    // c adds a chat token: the output has 11 rows; a's row 10 is c's (the only model with it)
    const c = fakeModel('c', { tokenizer: vocabJson(ten, ['<|im_start|>']), vocab: 11 });
    const m2 = modelMap(a, c);
    const p2 = buildPlan({ ...recipe, models: [{ model: 'c', parameters: { weight: 1 } }] }, m2, { tokenizerTexts: await readTokenizerTexts(m2) });
    expect(p2.config.vocab_size).toBe(11);
    expect(p2.vocab!.tokens[10]).toBe('<|im_start|>');
    for (const n of ['model.embed_tokens.weight', 'lm_head.weight']) {
      const e = byName(p2.entries).get(n)!;
      expect(e.shape).toEqual([11, 4]);
      const [ci, ai] = e.inputs;
      expect([ci.model, ci.rows, ci.crop]).toEqual(['c', undefined, undefined]);
      expect(ai.model).toBe('a');
      expect([...ai.rows!.map]).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, -1]);
      expect(ai.rows!.fills).toEqual([{ kind: 'row', input: 0, row: 10 }]);
    }
  });

  test('base source: models holding the base vocabulary at the same ids are trimmed to it (mergekit permutes = identity)', async () => {
    const a = fakeModel('a', { tokenizer: same, vocab: 12 }); // padded embedding rows
    const c = fakeModel('c', { tokenizer: vocabJson(ten, ['<|im_start|>']), vocab: 11 });
    const models = modelMap(a, c);
    const plan = buildPlan(
      { merge_method: 'ties', base_model: 'a', models: [{ model: 'c', parameters: { weight: 1 } }], tokenizer_source: 'base' },
      models,
      { tokenizerTexts: await readTokenizerTexts(models) },
    );
    const m = byName(plan.entries);
    for (const n of ['model.embed_tokens.weight', 'lm_head.weight']) {
      expect(m.get(n)!.shape).toEqual([10, 4]);
      expect(m.get(n)!.inputs.map((i) => [i.model, i.crop])).toEqual([
        ['c', [10, 4]],
        ['a', [10, 4]],
      ]);
    }
    expect(plan.config.vocab_size).toBe(10);
    expect(plan.tokenizerFrom).toBe('a');
    // the other way round a lacks c's chat token: its row is the base c's
    const p2 = buildPlan({ merge_method: 'ties', base_model: 'c', models: [{ model: 'a', parameters: { weight: 1 } }], tokenizer_source: 'base' }, models, {
      tokenizerTexts: await readTokenizerTexts(models),
    });
    const e = byName(p2.entries).get('model.embed_tokens.weight')!;
    expect(e.shape).toEqual([11, 4]);
    expect(e.inputs.map((i) => i.model)).toEqual(['a', 'c']);
    expect(e.inputs[0].rows!.fills).toEqual([{ kind: 'row', input: 1, row: 10 }]);
    expect(p2.config.vocab_size).toBe(11);
  });

  test('a multimodal config keeps vocab_size under text_config (mergekit: the architecture’s vocab_size key)', async () => {
    const a = fakeModel('a', { tokenizer: same, config: { vocab_size: undefined, text_config: { vocab_size: 10 } } });
    const b = fakeModel('b', { tokenizer: vocabJson(ten, ['<img>']), vocab: 11, config: { vocab_size: undefined, text_config: { vocab_size: 11 } } });
    const models = modelMap(a, b);
    const plan = buildPlan({ merge_method: 'ties', base_model: 'a', models: [{ model: 'b', parameters: { weight: 1 } }], tokenizer_source: 'union' }, models, { tokenizerTexts: await readTokenizerTexts(models) });
    expect(plan.config.vocab_size).toBeUndefined();
    expect(plan.config.text_config).toEqual({ vocab_size: 11 });
  });

  test('tokens rules and padding; a named source model must be loaded', async () => {
    const a = fakeModel('a', { tokenizer: same });
    const b = fakeModel('b', { tokenizer: same });
    const models = modelMap(a, b);
    const texts = await readTokenizerTexts(models);
    const base: Recipe = { merge_method: 'ties', base_model: 'a', models: [{ model: 'b', parameters: { weight: 1 } }] };
    const tokErr = errorOf(() => buildPlan({ ...base, tokenizer: { source: 'base', tokens: { x: { source: 'a' } } } }, models, { tokenizerTexts: texts }));
    expect(tokErr).toBeInstanceOf(RecipeError);
    expect(tokErr.message).toMatch(/^tokenizer\.tokens\["x"\]\.source: model a has no token "x" \(a\/tokenizer\.json\)/);
    const zero = buildPlan({ ...base, tokenizer: { source: 'base', tokens: { x: { source: { kind: 'zero' } } } } }, models, { tokenizerTexts: texts });
    expect(zero.config.vocab_size).toBe(11);
    expect(byName(zero.entries).get('lm_head.weight')!.inputs[0].rows!.fills).toEqual([{ kind: 'zero' }]);
    expect(buildPlan({ ...base, tokenizer: { pad_to_multiple_of: 5 } }, models, { tokenizerTexts: texts }).config.vocab_size).toBe(10);
    const padded = buildPlan({ ...base, tokenizer: { pad_to_multiple_of: 64 } }, models, { tokenizerTexts: texts });
    expect(padded.config.vocab_size).toBe(64);
    const pe = byName(padded.entries).get('model.embed_tokens.weight')!;
    expect(pe.shape).toEqual([64, 4]);
    expect(pe.inputs[0].rows!.fills).toEqual([{ kind: 'pad-mean', size: 10 }]);
    expect(pe.inputs[0].rows!.map[63]).toBe(-1);
    expect(buildPlan({ ...base, tokenizer_source: 'b' }, models, { tokenizerTexts: texts }).tokenizerFrom).toBe('b');
    expect(errorOf(() => buildPlan({ ...base, tokenizer_source: 'zz' }, models, { tokenizerTexts: texts }))).toBeInstanceOf(ModelError);
  });

  test('without tokenizer texts: same-size tokenizer.json files are assumed identical (with a warning)', () => {
    const a = fakeModel('a', { tokenizer: same });
    const b = fakeModel('b', { tokenizer: same });
    const plan = buildPlan({ merge_method: 'ties', base_model: 'a', models: [{ model: 'b', parameters: { weight: 1 } }], tokenizer_source: 'union' }, modelMap(a, b));
    expect(plan.warnings[0]).toMatch(/tokenizers assumed identical/);
    const c = fakeModel('c', { tokenizer: vocabJson(ten, ['x']) });
    expect(errorOf(() => buildPlan({ merge_method: 'ties', base_model: 'a', models: [{ model: 'c', parameters: { weight: 1 } }], tokenizer_source: 'union' }, modelMap(a, c)))).toBeInstanceOf(
      UnsupportedError,
    );
  });

  test('tokenizerVocab reads BPE maps, Unigram lists and added tokens', () => {
    expect([...tokenizerVocab(vocabJson(['a', 'b'], ['<s>']))]).toEqual([
      ['a', 0],
      ['b', 1],
      ['<s>', 2],
    ]);
    expect([...tokenizerVocab(JSON.stringify({ model: { type: 'Unigram', vocab: [['x', 0], ['y', -1]] } }))]).toEqual([
      ['x', 0],
      ['y', 1],
    ]);
  });
});

test('modelCard lists the models and the method and embeds the YAML', () => {
  const recipe = parseMergekitYaml(`merge_method: ties
base_model: mistralai/Mistral-7B-v0.1
models:
  - model: mistralai/Mistral-7B-Instruct-v0.2
    parameters: {weight: 1, density: 0.5}
  - model: /local/finetune
    parameters: {weight: 1, density: 0.5}
random_seed: 3
`);
  const card = modelCard(recipe);
  expect(card).toMatch(/^---\nbase_model:\n- mistralai\/Mistral-7B-v0\.1\n- mistralai\/Mistral-7B-Instruct-v0\.2\nbase_model_relation: merge\nlibrary_name: transformers\ntags:\n- merge\n- mergekit\n- merge-studio\n---\n/);
  expect(card).toContain('[mistralai/Mistral-7B-v0.1](https://huggingface.co/mistralai/Mistral-7B-v0.1) (base model)');
  expect(card).toContain('`/local/finetune`');
  expect(card).toContain('TIES');
  const yaml = /```yaml\n([\s\S]*?)```/.exec(card)![1];
  expect(parseMergekitYaml(yaml)).toEqual(recipe);
});

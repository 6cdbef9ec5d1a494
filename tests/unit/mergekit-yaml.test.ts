import { describe, expect, test } from 'vitest';
import fc from 'fast-check';
import { parseMergekitYaml, recipeToMergekitYaml } from '../../src/recipe/mergekit-yaml';
import { RecipeError, UnsupportedError } from '../../src/errors';
import { MERGEKIT_ONLY } from '../../src/methods/specs';
import type { FilteredValue, Recipe, Setting } from '../../src/recipe/types';

// The three example configs of research/mergekit.md §2 plus the frankenmerge.
const TIES = `# (A) TIES with per-layer gradients and a filtered weight
merge_method: ties
base_model: mistralai/Mistral-7B-v0.1
models:
  - model: mistralai/Mistral-7B-Instruct-v0.2
    parameters: {density: [1, 0.7, 0.1], weight: 1.0}
  - model: BioMistral/BioMistral-7B
    parameters:
      density: 0.5
      weight: [{filter: mlp, value: 0.5}, {value: 0.2}]
parameters: {normalize: true, int8_mask: true}
dtype: float32
out_dtype: bfloat16
`;

const SLERP = `merge_method: slerp
slices:
  - sources:
      - {model: OpenPipe/mistral-ft-optimized-1218, layer_range: [0, 32]}
      - {model: mlabonne/NeuralHermes-2.5-Mistral-7B, layer_range: [0, 32]}
base_model: OpenPipe/mistral-ft-optimized-1218
parameters:
  t:
    - {filter: self_attn, value: [0, 0.5, 0.3, 0.7, 1]}
    - {filter: mlp, value: [1, 0.5, 0.7, 0.3, 0]}
    - value: 0.5
dtype: bfloat16
`;

// (C) uses dare_ties in mergekit's docs; the same config with ties parses.
const TIES_TOKENIZER = `merge_method: ties
base_model: meta-llama/Meta-Llama-3-8B
models:
  - model: meta-llama/Meta-Llama-3-8B-Instruct
    parameters: {weight: 0.6, density: 0.53}
  - model: some-org/llama3-chatml-ft
    parameters: {weight: 0.4, density: 0.53}
parameters: {lambda: 1.0, int8_mask: true}
tokenizer:
  source: union
  tokens: {"<|im_start|>": {source: some-org/llama3-chatml-ft}, "<|eot_id|>": {source: meta-llama/Meta-Llama-3-8B-Instruct, force: true}}
  pad_to_multiple_of: 64
chat_template: auto
dtype: bfloat16
`;

const FRANKEN = `merge_method: passthrough
slices:
  - sources:
      - model: org/A
        layer_range: [0, 24]
  - sources:
      - model: org/B
        layer_range: [8, 32]
        parameters:
          scale:
            - filter: o_proj
              value: 0.5
            - value: 1.0
dtype: bfloat16
`;

function roundTrip(r: Recipe): Recipe {
  return parseMergekitYaml(recipeToMergekitYaml(r));
}

function errorOf(fn: () => unknown): Error {
  try {
    fn();
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected an error');
}

function recipeError(text: string): RecipeError {
  const e = errorOf(() => parseMergekitYaml(text));
  expect(e).toBeInstanceOf(RecipeError);
  return e as RecipeError;
}

function unsupported(text: string): UnsupportedError {
  const e = errorOf(() => parseMergekitYaml(text));
  expect(e).toBeInstanceOf(UnsupportedError);
  return e as UnsupportedError;
}

describe('parseMergekitYaml: the documented examples', () => {
  test('(A) TIES with gradients and a filtered weight', () => {
    const r = parseMergekitYaml(TIES);
    expect(r).toEqual({
      merge_method: 'ties',
      base_model: 'mistralai/Mistral-7B-v0.1',
      models: [
        { model: 'mistralai/Mistral-7B-Instruct-v0.2', parameters: { density: [1, 0.7, 0.1], weight: 1 } },
        { model: 'BioMistral/BioMistral-7B', parameters: { density: 0.5, weight: [{ filter: 'mlp', value: 0.5 }, { value: 0.2 }] } },
      ],
      parameters: { normalize: true, int8_mask: true },
      dtype: 'float32',
      out_dtype: 'bfloat16',
    });
    expect(roundTrip(r)).toEqual(r);
  });

  test('(B) gradient SLERP over slices', () => {
    const r = parseMergekitYaml(SLERP);
    expect(r.slices).toEqual([
      {
        sources: [
          { model: 'OpenPipe/mistral-ft-optimized-1218', layer_range: [0, 32] },
          { model: 'mlabonne/NeuralHermes-2.5-Mistral-7B', layer_range: [0, 32] },
        ],
      },
    ]);
    expect(r.parameters?.t).toEqual([
      { filter: 'self_attn', value: [0, 0.5, 0.3, 0.7, 1] },
      { filter: 'mlp', value: [1, 0.5, 0.7, 0.3, 0] },
      { value: 0.5 },
    ]);
    expect(roundTrip(r)).toEqual(r);
  });

  test('(C) tokenizer union, tokens, pad_to_multiple_of, chat_template', () => {
    const r = parseMergekitYaml(TIES_TOKENIZER);
    expect(r.tokenizer).toEqual({
      source: 'union',
      tokens: {
        '<|im_start|>': { source: 'some-org/llama3-chatml-ft' },
        '<|eot_id|>': { source: 'meta-llama/Meta-Llama-3-8B-Instruct', force: true },
      },
      pad_to_multiple_of: 64,
    });
    expect(r.chat_template).toBe('auto');
    expect(roundTrip(r)).toEqual(r);
  });

  test('frankenmerge with slices and a filtered per-source scale', () => {
    const r = parseMergekitYaml(FRANKEN);
    expect(r.slices?.[1].sources[0]).toEqual({
      model: 'org/B',
      layer_range: [8, 32],
      parameters: { scale: [{ filter: 'o_proj', value: 0.5 }, { value: 1 }] },
    });
    expect(roundTrip(r)).toEqual(r);
  });

  test('the written YAML looks like mergekit docs: key order, flow lists, flow conditionals', () => {
    const y = recipeToMergekitYaml(parseMergekitYaml(SLERP));
    expect(y.split('\n').filter((l) => /^\w/.test(l)).map((l) => l.split(':')[0])).toEqual(['merge_method', 'base_model', 'slices', 'parameters', 'dtype']);
    expect(y).toContain('layer_range: [0, 32]');
    expect(y).toContain('- {filter: self_attn, value: [0, 0.5, 0.3, 0.7, 1]}');
    expect(y).toContain('- {value: 0.5}');
  });
});

describe('parseMergekitYaml: normalisation', () => {
  test('object model references become strings; revisions kept', () => {
    const r = parseMergekitYaml(`merge_method: linear
models:
  - model: {model: org/a}
    parameters: {weight: 1}
  - model: {model: {path: org/b, revision: v2}, override_architecture: LlamaForCausalLM}
    parameters: {weight: 1}
  - model: org/c@main
    parameters: {weight: 1}
  - model: /abs/path/model
    parameters: {weight: 1}
  - model: ./rel/model
    parameters: {weight: 1}
`);
    expect(r.models?.map((m) => m.model)).toEqual(['org/a', 'org/b@v2', 'org/c@main', '/abs/path/model', './rel/model']);
  });

  test('a lone {filter, value} is a one-entry list; torch. prefix dropped; YAML 1.1 booleans', () => {
    const r = parseMergekitYaml(`merge_method: ties
base_model: b
models:
  - model: a
    parameters:
      weight: {filter: mlp, value: 0.3}
parameters:
  normalize: yes
  int8_mask: off
dtype: torch.float16
out_dtype: torch.bfloat16
`);
    expect(r.models?.[0].parameters?.weight).toEqual([{ filter: 'mlp', value: 0.3 }]);
    expect(r.parameters).toEqual({ normalize: true, int8_mask: false });
    expect(r.dtype).toBe('float16');
    expect(r.out_dtype).toBe('bfloat16');
    expect(roundTrip(r)).toEqual(r);
  });

  test('random_seed: accepted as a key, written as a comment mergekit ignores, read back', () => {
    const r = parseMergekitYaml(`merge_method: linear\nmodels: [{model: a, parameters: {weight: 1}}]\nrandom_seed: 42\n`);
    expect(r.random_seed).toBe(42);
    const y = recipeToMergekitYaml(r);
    expect(y).not.toMatch(/^random_seed/m);
    expect(y).toContain('# random_seed: 42 (pass --random-seed 42 to mergekit)');
    expect(parseMergekitYaml(y)).toEqual(r);
  });

  test('numbers PyYAML would read as strings are written in its float syntax', () => {
    const r: Recipe = { merge_method: 'linear', models: [{ model: 'a', parameters: { weight: [1e-7, 2.5e21, 0.1] } }] };
    const y = recipeToMergekitYaml(r);
    expect(y).toContain('weight: [1.0e-7, 2.5e+21, 0.1]');
    expect(parseMergekitYaml(y)).toEqual(r);
  });

  test('strings that YAML 1.1 would read as booleans are quoted', () => {
    const r: Recipe = { merge_method: 'linear', models: [{ model: 'yes', parameters: { weight: 1 } }] };
    const y = recipeToMergekitYaml(r);
    expect(y).toContain('model: "yes"');
    expect(parseMergekitYaml(y)).toEqual(r);
  });

  test('anchors, aliases and merge keys resolve as in PyYAML', () => {
    const r = parseMergekitYaml(`merge_method: ties
base_model: base
common: &p
models:
  - model: a
    parameters: &w {weight: 0.5, density: 0.5}
  - model: b
    parameters:
      <<: *w
      weight: 0.25
`.replace('common: &p\n', ''));
    expect(r.models?.[1].parameters).toEqual({ weight: 0.25, density: 0.5 });
  });

  test('a zero-length slice is accepted (mergekit uses it to pick the post-weight donor)', () => {
    const r = parseMergekitYaml(`merge_method: passthrough
slices:
  - sources: [{model: a, layer_range: [0, 4]}]
  - sources: [{model: b, layer_range: [4, 4]}]
`);
    expect(r.slices?.[1].sources[0].layer_range).toEqual([4, 4]);
  });

  test('residual_weight and slice-level base_model and parameters', () => {
    const r = parseMergekitYaml(`merge_method: ties
slices:
  - sources:
      - {model: a, layer_range: [0, 2], parameters: {weight: 1}}
      - {model: b, layer_range: [0, 2]}
    base_model: b
    parameters: {density: 0.5, normalize: false}
    residual_weight: 0.3
`);
    expect(r.slices?.[0]).toEqual({
      sources: [
        { model: 'a', layer_range: [0, 2], parameters: { weight: 1 } },
        { model: 'b', layer_range: [0, 2] },
      ],
      base_model: 'b',
      parameters: { density: 0.5, normalize: false },
      residual_weight: 0.3,
    });
    expect(roundTrip(r)).toEqual(r);
  });

  test('tokenizer token sources: model_token and zero', () => {
    const r = parseMergekitYaml(`merge_method: linear
models: [{model: a, parameters: {weight: 1}}]
tokenizer:
  source: base
  tokens:
    "<x>": {source: {kind: model_token, model: a, token_id: 5}}
    "<y>": {source: {kind: zero}, force: true}
    "<z>": {}
`);
    expect(r.tokenizer?.tokens).toEqual({
      '<x>': { source: { kind: 'model_token', model: 'a', token_id: 5 } },
      '<y>': { source: { kind: 'zero' }, force: true },
      '<z>': {},
    });
    expect(roundTrip(r)).toEqual(r);
  });
});

describe('parseMergekitYaml: rejections name the key and the line', () => {
  test('unknown key in models[1]', () => {
    const e = recipeError(`merge_method: linear
models:
  - model: a
    parameters: {weight: 1}
  - model: b
    parameters: {weight: 1}
    weigth: 0.5
`);
    expect(e.message).toBe('line 7: unknown key "weigth" in models[1]; allowed keys: model, parameters');
    expect(e.details).toMatchObject({ line: 7, key: 'models[1].weigth' });
  });

  test('unknown keys at the top level, in a slice source, in tokenizer, in a conditional', () => {
    expect(recipeError(`merge_method: linear\nmodels: [{model: a, parameters: {weight: 1}}]\nnormalise: true\n`).message).toMatch(
      /^line 3: unknown key "normalise" at the top level; allowed keys: merge_method, base_model, models, slices/,
    );
    expect(
      recipeError(`merge_method: passthrough
slices:
  - sources:
      - model: a
        layer_range: [0, 2]
        layers: [0, 2]
`).message,
    ).toMatch(/^line 6: unknown key "layers" in slices\[0\]\.sources\[0\]; allowed keys: model, layer_range, parameters$/);
    expect(recipeError(`merge_method: linear\nmodels: [{model: a, parameters: {weight: 1}}]\ntokenizer:\n  sorce: base\n`).message).toMatch(
      /^line 4: unknown key "sorce" in tokenizer; allowed keys: source, tokens, pad_to_multiple_of$/,
    );
    expect(
      recipeError(`merge_method: linear
models:
  - model: a
    parameters:
      weight:
        - {filter: mlp, valeu: 1}
`).message,
    ).toMatch(/^line 6: unknown key "valeu" in models\[0\]\.parameters\.weight\[0\]; allowed keys: filter, value$/);
  });

  test('a parameter the method does not declare lists the method parameters', () => {
    const e = recipeError(`merge_method: ties
base_model: b
models:
  - model: a
    parameters:
      weight: 1
      t: 0.5
`);
    expect(e.message).toBe(
      'line 7: unknown parameter "t" in models[0].parameters for merge_method ties; ties parameters: weight (per model), density (per model), normalize (global), rescale (global), lambda (global), int8_mask (global)',
    );
    expect(recipeError(`merge_method: slerp\nbase_model: a\nmodels: [{model: b}]\nparameters: {t: 0.5, weight: 1}\n`).message).toMatch(
      /^line 4: unknown parameter "weight" in parameters for merge_method slerp; slerp parameters: t \(global\)$/,
    );
    // slice-level parameters too
    expect(
      recipeError(`merge_method: passthrough
slices:
  - sources: [{model: a, layer_range: [0, 1]}]
    parameters:
      density: 0.5
`).message,
    ).toMatch(/^line 5: unknown parameter "density" in slices\[0\]\.parameters/);
  });

  test('wrong types say what was expected', () => {
    expect(recipeError(`merge_method: linear\nmodels: org/a\n`).message).toBe('line 2: models must be a list of {model, parameters}, got the string "org/a"');
    expect(recipeError(`merge_method: linear\nmodels:\n  - model: a\n    parameters: {weight: heavy}\n`).message).toBe(
      'line 4: models[0].parameters.weight must be a number, a list of numbers (gradient) or a list of {filter, value}, got the string "heavy"',
    );
    expect(recipeError(`merge_method: linear\nmodels:\n  - model: a\n    parameters: {weight: [1, x]}\n`).message).toBe(
      'line 4: models[0].parameters.weight[1] must be a number, got the string "x"',
    );
    expect(recipeError(`merge_method: ties\nbase_model: b\nmodels: [{model: a, parameters: {weight: 1}}]\nparameters: {normalize: maybe}\n`).message).toMatch(
      /^line 4: parameters\.normalize must be true\/false/,
    );
    expect(recipeError(`merge_method: linear\nmodels:\n  - model: 12\n`).message).toMatch(/^line 3: models\[0\]\.model must be a model reference/);
    expect(recipeError(`merge_method: linear\nmodels: [{model: a, parameters: {weight: []}}]\n`).message).toMatch(/^line 2: .*must not be an empty list/);
    expect(recipeError(`merge_method: linear\nmodels: [{model: a, parameters: {weight: }}]\n`).message).toMatch(/^line 2: .*got nothing/);
    expect(recipeError(`merge_method: [linear]\n`).message).toMatch(/^line 1: merge_method must be a method name, got a list/);
  });

  test('layer_range: two integers, start ≤ end', () => {
    const src = (lr: string) => `merge_method: passthrough\nslices:\n  - sources:\n      - model: a\n        layer_range: ${lr}\n`;
    expect(recipeError(src('[0, 1, 2]')).message).toBe('line 5: slices[0].sources[0].layer_range must be [start, end], got 3 values');
    expect(recipeError(src('[0.5, 2]')).message).toMatch(/^line 5: slices\[0\]\.sources\[0\]\.layer_range\[0\] must be a layer index/);
    expect(recipeError(src('[-1, 2]')).message).toMatch(/^line 5: .*layer_range\[0\] must be a layer index \(integer ≥ 0\), got -1/);
    expect(recipeError(src('[8, 4]')).message).toMatch(/^line 5: slices\[0\]\.sources\[0\]\.layer_range is \[8, 4\]: the end must not be before the start/);
    expect(recipeError(`merge_method: passthrough\nslices:\n  - sources:\n      - model: a\n`).message).toMatch(/^line 4: slices\[0\]\.sources\[0\] is missing the key "layer_range"/);
  });

  test('dtype: float32 | float16 | bfloat16 (with optional torch.)', () => {
    const e = recipeError(`merge_method: linear\nmodels: [{model: a, parameters: {weight: 1}}]\ndtype: int64\n`);
    expect(e.message).toBe('line 3: dtype "int64" is not supported; use float32, float16 or bfloat16');
    expect(recipeError(`merge_method: linear\nmodels: [{model: a, parameters: {weight: 1}}]\nout_dtype: torch.float8\n`).message).toMatch(/^line 3: out_dtype "torch.float8"/);
  });

  test('random_seed must be a non-negative integer', () => {
    expect(recipeError(`merge_method: linear\nmodels: [{model: a, parameters: {weight: 1}}]\nrandom_seed: 1.5\n`).message).toMatch(/^line 3: random_seed must be a non-negative integer/);
    expect(recipeError(`merge_method: linear\nmodels: [{model: a, parameters: {weight: 1}}]\nrandom_seed: -3\n`).message).toMatch(/^line 3: random_seed/);
  });

  test('structure: merge_method required, exactly one of models/slices', () => {
    expect(recipeError(`models: [{model: a}]\n`).message).toMatch(/^line 1: missing required key "merge_method"/);
    expect(recipeError(`merge_method: linear\n`).message).toMatch(/missing "models" or "slices"/);
    expect(recipeError(`merge_method: linear\nmodels: [{model: a, parameters: {weight: 1}}]\nslices: [{sources: [{model: a, layer_range: [0, 1]}]}]\n`).message).toMatch(
      /^line 3: give exactly one of "models" and "slices"/,
    );
    expect(recipeError(`merge_method: linear\nmodels: []\n`).message).toMatch(/^line 2: models must list at least one model/);
    expect(recipeError(`merge_method: linear\nmodels:\n  - parameters: {weight: 1}\n`).message).toMatch(/^line 3: models\[0\] is missing the key "model"/);
    expect(recipeError('').message).toMatch(/empty/);
  });

  test('unknown and not-yet-supported methods point at merge_method', () => {
    expect(recipeError(`models: [{model: a}]\nmerge_method: lineer\n`).message).toMatch(/^line 2: unknown merge_method "lineer"; expected one of: linear/);
    // any mergekit method still missing here is refused by name (none may be left)
    for (const m of MERGEKIT_ONLY.slice(0, 1))
      expect(recipeError(`merge_method: ${m}\nmodels: [{model: a}]\n`).message).toMatch(new RegExp(`^line 1: merge_method "${m}" is a mergekit method this engine does not support yet`));
  });

  test('base model: required by the method; for slices it must be in some slice', () => {
    expect(recipeError(`merge_method: ties\nmodels: [{model: a, parameters: {weight: 1}}]\n`).message).toBe('line 1: merge_method ties needs a base_model');
    expect(recipeError(`merge_method: slerp\nmodels: [{model: a}, {model: b}]\nparameters: {t: 0.5}\n`).message).toMatch(/^line 1: merge_method slerp needs a base_model/);
    expect(
      recipeError(`merge_method: ties
base_model: c
slices:
  - sources:
      - {model: a, layer_range: [0, 2], parameters: {weight: 1}}
      - {model: b, layer_range: [0, 2]}
`).message,
    ).toBe('line 2: base model c is not in any slice; add it as a source of the slices it should be the base of');
    // models: a base that is not listed is auto-added (no error)
    expect(parseMergekitYaml(`merge_method: ties\nbase_model: c\nmodels: [{model: a, parameters: {weight: 1}}]\n`).base_model).toBe('c');
    // per-slice base models satisfy the requirement
    expect(
      parseMergekitYaml(`merge_method: ties
slices:
  - sources: [{model: a, layer_range: [0, 2], parameters: {weight: 1}}, {model: b, layer_range: [0, 2]}]
    base_model: b
`).slices?.[0].base_model,
    ).toBe('b');
  });

  test('tokenizer_source and tokenizer are mutually exclusive; chat_template must be a name or Jinja', () => {
    expect(recipeError(`merge_method: linear\nmodels: [{model: a, parameters: {weight: 1}}]\ntokenizer_source: base\ntokenizer: {source: base}\n`).message).toMatch(
      /^line 4: give either tokenizer_source or tokenizer, not both/,
    );
    expect(recipeError(`merge_method: linear\nmodels: [{model: a, parameters: {weight: 1}}]\nchat_template: vicuna\n`).message).toMatch(
      /^line 3: chat_template "vicuna" is neither a known template/,
    );
    const jinja = parseMergekitYaml(`merge_method: linear\nmodels: [{model: a, parameters: {weight: 1}}]\nchat_template: "{% for m in messages %}{{ m.content }}{% endfor %}"\n`);
    expect(jinja.chat_template).toContain('{% for');
  });

  test('YAML syntax errors and duplicate keys carry a line', () => {
    const e = recipeError(`merge_method: linear\nmodels:\n  - model: a\n    parameters: {weight: [1, 2}\n`);
    expect(e.message).toMatch(/^line 4: YAML syntax error in config\.yml: /);
    const d = recipeError(`merge_method: linear\nmodels: [{model: a, parameters: {weight: 1}}]\nmerge_method: ties\n`);
    expect(d.message).toMatch(/^line 3: YAML syntax error in config\.yml: Map keys must be unique/);
    expect(errorOf(() => parseMergekitYaml('a: [1\n', 'my.yml')).message).toMatch(/in my\.yml/);
  });

  test('unsupported: modules, mergekit-multi', () => {
    expect(unsupported(`merge_method: linear\nmodules:\n  text_decoder:\n    models: [{model: a}]\n`).message).toBe(
      'line 2: modules (multi-module architectures) are not supported; use models: or slices:',
    );
    const multi = unsupported(`name: stage1\nmerge_method: linear\nmodels: [{model: a, parameters: {weight: 1}}]\n---\nmerge_method: linear\nmodels: [{model: stage1, parameters: {weight: 1}}]\n`);
    expect(multi.message).toMatch(/mergekit-multi/);
    // a leading --- is a single document
    expect(parseMergekitYaml(`---\nmerge_method: linear\nmodels: [{model: a, parameters: {weight: 1}}]\n`).merge_method).toBe('linear');
  });
});

describe('LoRA references (model+adapter)', () => {
  test('"X+Y" and {model: X, lora: Y} both read as "X+Y", in models, slices, base_model and tokenizer_source, and are written back as "X+Y"', () => {
    const r = parseMergekitYaml(
      `merge_method: ties\nbase_model: org/base+./adapters/a@v2\nmodels:\n  - model: org/base+./adapters/a@v2\n  - model: {model: org/chat@r1, lora: {path: ./adapters/b, revision: main}}\n    parameters: {weight: 0.5, density: 0.5}\ntokenizer_source: org/chat@r1+./adapters/b@main\n`,
    );
    expect(r.base_model).toBe('org/base+./adapters/a@v2');
    expect(r.models!.map((m) => m.model)).toEqual(['org/base+./adapters/a@v2', 'org/chat@r1+./adapters/b@main']);
    expect(r.tokenizer_source).toBe('org/chat@r1+./adapters/b@main');
    const yaml = recipeToMergekitYaml(r);
    expect(yaml).toContain('org/chat@r1+./adapters/b@main');
    expect(roundTrip(r)).toEqual(r);
    const s = parseMergekitYaml(`merge_method: passthrough\nslices:\n  - sources:\n      - model: {model: m, lora: l}\n        layer_range: [0, 2]\n`);
    expect(s.slices![0].sources[0].model).toBe('m+l');
    expect(parseMergekitYaml(`merge_method: linear\nmodels: [{model: {model: m, lora: null}, parameters: {weight: 1}}]\n`).models![0].model).toBe('m');
  });

  test('malformed LoRA references are RecipeErrors naming the key and line', () => {
    expect(recipeError(`merge_method: linear\nmodels:\n  - model: a+b+c\n    parameters: {weight: 1}\n`).message).toMatch(/^line 3: models\[0\]\.model: invalid model reference "a\+b\+c" \(more than one "\+"/);
    expect(recipeError(`merge_method: linear\nmodels:\n  - model: a+\n    parameters: {weight: 1}\n`).message).toMatch(/both non-empty/);
    expect(recipeError(`merge_method: linear\nmodels:\n  - model: {model: a+b, lora: c}\n    parameters: {weight: 1}\n`).message).toMatch(/^line 3: models\[0\]\.model\.model: "a\+b" must not contain "\+"/);
    expect(recipeError(`merge_method: linear\nmodels:\n  - model: {model: a, lora: b@1@2}\n    parameters: {weight: 1}\n`).message).toMatch(/more than one "@"/);
  });
});

// ---- property: any recipe the editor can produce survives YAML
const num = fc.oneof(fc.integer({ min: -5, max: 5 }), fc.double({ min: -3, max: 3, noNaN: true, noDefaultInfinity: true }), fc.constantFrom(1e-7, 1e-12, 123456789.5, 2.5e30));
const valueOrGradient = fc.oneof(num, fc.array(num, { minLength: 1, maxLength: 5 }));
const filtered: fc.Arbitrary<FilteredValue[]> = fc.array(
  fc.record({ filter: fc.constantFrom('mlp', 'self_attn', '*', 'layers.3.', 'yes', 'on'), value: valueOrGradient }, { requiredKeys: ['value'] }),
  { minLength: 1, maxLength: 3 },
);
const setting: fc.Arbitrary<Setting> = fc.oneof(valueOrGradient, filtered);
const boolSetting: fc.Arbitrary<Setting> = fc.oneof(fc.boolean(), fc.array(fc.record({ filter: fc.constantFrom('mlp', 'lm_head'), value: fc.boolean() }, { requiredKeys: ['value'] }), { minLength: 1, maxLength: 2 }));
const modelName = fc.constantFrom('org/a', 'org/b@rev', 'org/a+./lora', 'org/b@rev+org/l@v1', '/abs/c', './rel/d', 'yes', 'null', '1.5', 'org/e-f_g.h');

const tiesRecipe: fc.Arbitrary<Recipe> = fc
  .record(
    {
      models: fc.array(fc.record({ model: modelName, parameters: fc.record({ weight: setting, density: setting }, { requiredKeys: [] }) }, { requiredKeys: ['model'] }), {
        minLength: 1,
        maxLength: 3,
      }),
      parameters: fc.record({ normalize: boolSetting, lambda: setting, int8_mask: boolSetting }, { requiredKeys: [] }),
      dtype: fc.constantFrom('float32', 'float16', 'bfloat16' as const),
      random_seed: fc.nat(),
    },
    { requiredKeys: ['models'] },
  )
  .map((r) => ({ merge_method: 'ties', base_model: 'org/base', ...r }) as Recipe);

test('property: parse(stringify(recipe)) equals the recipe', () => {
  fc.assert(
    fc.property(tiesRecipe, (r) => {
      expect(roundTrip(r)).toEqual(r);
    }),
    { numRuns: 300 },
  );
});

test('property: the parser never throws anything but typed errors on mutated configs', () => {
  const base = [TIES, SLERP, FRANKEN, TIES_TOKENIZER].join('\n---\n').split('\n---\n');
  fc.assert(
    fc.property(fc.constantFrom(...base), fc.nat(), fc.string({ maxLength: 6 }), (text, pos, ins) => {
      const p = pos % (text.length + 1);
      const mutated = text.slice(0, p) + ins + text.slice(p + 1);
      try {
        parseMergekitYaml(mutated);
      } catch (e) {
        expect(e instanceof RecipeError || e instanceof UnsupportedError).toBe(true);
      }
    }),
    { numRuns: 500 },
  );
});

// The studio's pure helpers: recipe edits (recipe/edit.ts), file grouping, the share-link codec,
// incremental SHA-256, and the compatibility report (store/inspect-core.ts).
import { describe, expect, test } from 'vitest';
import { createHash } from 'node:crypto';
import { deflateSync } from 'fflate';
import { parseMergekitYaml, recipeToMergekitYaml } from '../../src/recipe/mergekit-yaml';
import { decodeShare, encodeShare, fromBase64Url, inflateBounded, shareCodeFromHash, toBase64Url, MAX_SHARE_BYTES } from '../../src/recipe/share-url';
import { buildPlan } from '../../src/recipe/plan';
import {
  defaultRecipe,
  filteredValue,
  renameModel,
  resampleGradient,
  roleOf,
  setFilteredValue,
  setMethod,
  setParamFiltered,
  setRole,
  setSeed,
  toGradient,
} from '../../src/recipe/edit';
import type { Recipe } from '../../src/recipe/types';
import type { ModelInfo, TensorInfo } from '../../src/formats/model-info';
import type { ByteSource } from '../../src/io/types';
import { groupFiles, uniqueName } from '../../src/store/grouping';
import { Sha256 } from '../../src/formats/sha256';
import { compareToBase, planReport } from '../../src/store/inspect-core';

const demo: Recipe = parseMergekitYaml(`merge_method: ties
base_model: base
models:
  - model: a
    parameters: {weight: 0.6, density: [0.3, 0.5, 0.7]}
  - model: b
    parameters: {weight: 0.4, density: 0.5}
parameters: {normalize: true}
`);

/** Every edit must give a recipe the strict YAML validator accepts unchanged. */
const valid = (r: Recipe) => expect(parseMergekitYaml(recipeToMergekitYaml(r))).toEqual(r);

describe('recipe edits', () => {
  test('filtered values: a tab adds an entry before the catch-all, removing it collapses the list', () => {
    const s1 = setFilteredValue(0.5, 'self_attn', 0.9);
    expect(s1).toEqual([{ filter: 'self_attn', value: 0.9 }, { value: 0.5 }]);
    expect(filteredValue(s1, 'self_attn')).toBe(0.9);
    expect(filteredValue(s1, undefined)).toBe(0.5);
    expect(filteredValue(s1, 'mlp')).toBeUndefined();
    const s2 = setFilteredValue(s1, 'mlp', [0, 1]);
    expect(s2).toEqual([{ filter: 'self_attn', value: 0.9 }, { filter: 'mlp', value: [0, 1] }, { value: 0.5 }]);
    expect(setFilteredValue(setFilteredValue(s2, 'mlp', undefined), 'self_attn', undefined)).toBe(0.5);
    expect(setFilteredValue(undefined, undefined, 1)).toBe(1);
    expect(setFilteredValue(1, undefined, undefined)).toBeUndefined();
  });

  test('setParamFiltered edits a model entry or the top level, and never mutates its input', () => {
    const before = structuredClone(demo);
    const r = setParamFiltered(demo, { scope: 'model', model: 'b' }, 'weight', 'mlp', 0.1);
    expect(r.models![1].parameters!.weight).toEqual([{ filter: 'mlp', value: 0.1 }, { value: 0.4 }]);
    const g = setParamFiltered(r, { scope: 'global' }, 'lambda', undefined, 0.8);
    expect(g.parameters).toEqual({ normalize: true, lambda: 0.8 });
    expect(demo).toEqual(before);
    valid(g);
  });

  test('roles: base, input and off rewrite base_model and models', () => {
    expect(roleOf(demo, 'base')).toBe('base');
    expect(roleOf(demo, 'a')).toBe('input');
    expect(roleOf(demo, 'c')).toBe('off');
    const withC = setRole(demo, 'c', 'input');
    expect(withC.models!.map((m) => m.model)).toEqual(['a', 'b', 'c']);
    expect(withC.models![2].parameters).toEqual({ weight: 0.333 }); // required weight gets a start value
    const cBase = setRole(withC, 'c', 'base');
    expect(cBase.base_model).toBe('c');
    expect(cBase.models!.map((m) => m.model)).toEqual(['a', 'b']); // TIES: the base is not a task vector
    const off = setRole(cBase, 'a', 'off');
    expect(off.models!.map((m) => m.model)).toEqual(['b']);
    valid(off);
  });

  test('switching methods keeps what the new method declares and adds what it requires', () => {
    const layers = () => 8;
    const lin = setMethod(demo, 'linear', layers, ['base', 'a', 'b']);
    expect(lin.models!.map((m) => m.model)).toEqual(['base', 'a', 'b']); // linear: the base is an input
    expect(lin.models![1].parameters).toEqual({ weight: 0.6 }); // density dropped
    expect(lin.models![0].parameters!.weight).toBeGreaterThan(0);
    valid(lin);
    const slerp = setMethod(demo, 'slerp', layers, ['base', 'a', 'b']);
    expect(slerp.models!.map((m) => m.model)).toEqual(['a']);
    expect(slerp.parameters).toEqual({ t: 0.5 });
    valid(slerp);
    const pt = setMethod(demo, 'passthrough', layers, ['base', 'a', 'b']);
    expect(pt.slices).toEqual([{ sources: [{ model: 'a', layer_range: [0, 8] }] }]);
    expect(pt.base_model).toBeUndefined();
    valid(pt);
    // passthrough has no base; going back, the first model becomes the base and another loaded one an input
    const back = setMethod(pt, 'ties', layers, ['base', 'a', 'b']);
    expect(back.base_model).toBe('a');
    expect(back.models).toEqual([{ model: 'base', parameters: { weight: 1 } }]);
    valid(back);
  });

  test('gradients: a scalar becomes equal anchors; resampling keeps the line', () => {
    expect(toGradient(0.4)).toEqual([0.4, 0.4, 0.4]);
    expect(resampleGradient([0, 1], 3)).toEqual([0, 0.5, 1]);
    expect(resampleGradient([0, 0.5, 1], 5)).toEqual([0, 0.25, 0.5, 0.75, 1]);
  });

  test('rename, seed and the default recipe', () => {
    const r = renameModel(demo, 'a', 'org/a');
    expect(r.models![0].model).toBe('org/a');
    expect(setSeed(demo, 42.7).random_seed).toBe(42);
    expect(setSeed(setSeed(demo, 1), undefined).random_seed).toBeUndefined();
    const d = defaultRecipe(['x', 'y', 'z']);
    expect(d).toEqual({ merge_method: 'ties', base_model: 'x', models: [{ model: 'y', parameters: { weight: 0.5 } }, { model: 'z', parameters: { weight: 0.5 } }] });
    valid(d);
  });
});

describe('grouping dropped files into models', () => {
  const f = (path: string) => ({ path, file: new Blob(['x']) });
  test('by folder, ignoring hidden files and loose extras', () => {
    const g = groupFiles([f('drop/a/model.safetensors'), f('drop/a/config.json'), f('drop/b/model.safetensors'), f('drop/README.md'), f('drop/a/.DS_Store')]);
    expect(g.groups.map((x) => [x.name, x.files.map((y) => y.path)])).toEqual([
      ['a', ['model.safetensors', 'config.json']],
      ['b', ['model.safetensors']],
    ]);
    expect(g.ignored.sort()).toEqual(['drop/README.md', 'drop/a/.DS_Store']);
  });
  test('loose shards with an index form one model; unrelated loose files one model each', () => {
    const one = groupFiles([f('llama-00001-of-00002.safetensors'), f('llama-00002-of-00002.safetensors'), f('model.safetensors.index.json'), f('config.json')]);
    expect(one.groups.map((x) => [x.name, x.files.length])).toEqual([['llama', 4]]);
    const two = groupFiles([f('x.safetensors'), f('y.safetensors')]);
    expect(two.groups.map((x) => x.name)).toEqual(['x', 'y']);
  });
  test('unique names', () => {
    expect(uniqueName('m', ['m', 'm-2'])).toBe('m-3');
    expect(uniqueName('n', ['m'])).toBe('n');
  });
});

describe('share links', () => {
  const ids = [{ ref: 'base', name: 'base', tensors: 75, bytes: 188928, hash: 'a'.repeat(64) }];
  test('round trip through the URL fragment', () => {
    const code = encodeShare({ ...demo, random_seed: 7 }, ids);
    expect(code).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(shareCodeFromHash(`#x=1&share=${code}`)).toBe(code);
    const back = decodeShare(code);
    expect(back).toEqual({ ok: true, payload: { recipe: { ...demo, random_seed: 7 }, models: ids } });
  });
  test('base64url agrees with Node for every length', () => {
    for (let n = 0; n < 40; n++) {
      const b = new Uint8Array(n).map((_, i) => (i * 97 + n) & 255);
      const s = toBase64Url(b);
      expect(s).toBe(Buffer.from(b).toString('base64url'));
      expect(fromBase64Url(s)).toEqual(b);
    }
    expect(fromBase64Url('ab$c')).toBeUndefined();
    expect(fromBase64Url('abcde')).toBeUndefined();
  });
  const enc = (v: unknown) => toBase64Url(deflateSync(new TextEncoder().encode(JSON.stringify(v))));
  test('untrusted payloads: every failure is a message', () => {
    const bad = (code: string, re: RegExp) => {
      const r = decodeShare(code);
      expect(r.ok).toBe(false);
      if (!r.ok) expect(r.error).toMatch(re);
    };
    bad('', /holds no recipe/);
    bad('%%%', /not base64url/);
    bad('AAAA', /not valid compressed data|cut off/);
    bad(toBase64Url(deflateSync(new TextEncoder().encode('{not json'))), /not JSON/);
    bad(enc({ v: 2, recipe: 'x', models: [] }), /format version 2/);
    bad(enc({ v: 1, recipe: 'merge_method: ties', models: 'no' }), /models/);
    bad(enc({ v: 1, recipe: 'merge_method: nope\nmodels: [{model: a}]', models: [] }), /shared recipe is invalid.*nope/);
    bad(enc({ v: 1, recipe: recipeToMergekitYaml(demo), models: [{ ...ids[0], hash: 'zz' }] }), /hash/);
    bad('A'.repeat(70_000), /characters long/);
  });
  test('a deflate bomb stops at the size bound', () => {
    const bomb = deflateSync(new Uint8Array(50 * 1024 * 1024), { level: 9 });
    expect(bomb.length).toBeLessThan(100_000);
    const r = inflateBounded(bomb, MAX_SHARE_BYTES);
    expect(r.ok).toBe(false);
    const d = decodeShare(toBase64Url(bomb));
    expect(d.ok).toBe(false);
  });
});

test('incremental SHA-256 matches Node for any split', () => {
  for (const n of [0, 1, 55, 56, 63, 64, 65, 127, 128, 1000, 70_000]) {
    const data = new Uint8Array(n).map((_, i) => (i * 31 + 7) & 255);
    for (const step of [1, 37, 64, 4096]) {
      const h = new Sha256();
      for (let i = 0; i < n; i += step) h.update(data.subarray(i, i + step));
      expect(h.hex(), `${n}/${step}`).toBe(createHash('sha256').update(data).digest('hex'));
    }
  }
});

describe('compatibility against the base', () => {
  const src = { name: 'model.safetensors', size: 0, read: async () => new Uint8Array(0), text: async () => '' } as unknown as ByteSource;
  function model(ref: string, o: { layers?: number; hidden?: number; vocab?: number; drop?: string[] } = {}): ModelInfo {
    const h = o.hidden ?? 4;
    const shapes: Record<string, number[]> = { 'model.embed_tokens.weight': [o.vocab ?? 10, h], 'model.norm.weight': [h], 'lm_head.weight': [o.vocab ?? 10, h] };
    for (let i = 0; i < (o.layers ?? 2); i++) {
      shapes[`model.layers.${i}.self_attn.q_proj.weight`] = [h, h];
      shapes[`model.layers.${i}.input_layernorm.weight`] = [h];
    }
    const tensors = new Map<string, TensorInfo>();
    for (const [name, shape] of Object.entries(shapes))
      if (!o.drop?.includes(name)) tensors.set(name, { name, dtype: 'F16', shape, source: src, byteOffset: 0, byteLength: 0 });
    return { ref, name: ref, config: { architectures: ['LlamaForCausalLM'] }, tensors, files: new Map(), numLayers: o.layers ?? 2 };
  }
  test('same shapes: fits', () => {
    expect(compareToBase(model('base'), model('a'), 'ties').verdict).toBe('ok');
  });
  test('fewer layers: missing tensors listed, and the planner refuses', () => {
    const c = compareToBase(model('base', { layers: 3 }), model('a', { layers: 2 }), 'ties');
    expect(c.verdict).toBe('refuse');
    expect(c.missing).toEqual(['model.layers.2.input_layernorm.weight', 'model.layers.2.self_attn.q_proj.weight']);
    expect(c.notes[0]).toMatch(/same number of layers/);
  });
  test('bigger vocabulary: embeddings cropped (TIES crops to the base); a smaller one is refused', () => {
    const big = compareToBase(model('base'), model('a', { vocab: 12 }), 'ties');
    expect(big.verdict).toBe('warn');
    expect(big.shapes.map((s) => [s.tensor, s.action])).toEqual([
      ['lm_head.weight', 'crop'],
      ['model.embed_tokens.weight', 'crop'],
    ]);
    const small = compareToBase(model('base'), model('a', { vocab: 8 }), 'ties');
    expect(small.shapes.every((s) => s.action === 'refuse')).toBe(true);
    expect(small.verdict).toBe('refuse');
  });
  test('other shape differences: TIES skips them, linear refuses', () => {
    expect(compareToBase(model('base'), model('a', { hidden: 6 }), 'ties').shapes.find((s) => s.tensor === 'model.norm.weight')?.action).toBe('skip');
    const lin = compareToBase(model('base'), model('a', { hidden: 6 }), 'linear');
    expect(lin.verdict).toBe('refuse');
  });
  test('tied embeddings: no lm_head is not missing', () => {
    expect(compareToBase(model('base'), model('a', { drop: ['lm_head.weight'] }), 'ties').missing).toEqual([]);
  });
  test('the plan report is the engine planner’s', async () => {
    const models = new Map([
      ['base', model('base')],
      ['a', model('a')],
      ['b', model('b')],
    ]);
    const r = await planReport(demo, models);
    expect(r.status).toBe('ok');
    expect(r.tensors).toBe(buildPlan(demo, models).entries.length);
    expect(r.layers).toBe(2);
    expect((await planReport(demo, new Map([['base', model('base')]]))).missingRefs).toEqual(['a', 'b']);
    const broken = await planReport({ ...demo, models: [{ model: 'a' }] }, models);
    expect(broken.status).toBe('error');
    expect(broken.error?.message).toMatch(/weight/);
  });
});

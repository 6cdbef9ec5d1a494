// The model card (recipe/model-card.ts): the README.md every output folder holds and a Hub publish
// pushes unchanged. Front matter the Hub reads (base_model for the model tree, the tags,
// library_name), the recipe as mergekit YAML, a share link that reopens the recipe, the engine.
import { expect, test } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { CARD_TAGS, modelCard } from '../../src/recipe/model-card';
import { decodeShare, shareCodeFromHash } from '../../src/recipe/share-url';
import { parseMergekitYaml } from '../../src/recipe/mergekit-yaml';
import type { ModelInfo, TensorInfo } from '../../src/formats/model-info';
import type { ByteSource } from '../../src/io/types';

const RECIPE = parseMergekitYaml(`merge_method: ties
base_model: org/base@0123abc
models:
  - model: org/base@0123abc
  - model: team/ft-a
    parameters: {weight: 0.6, density: 0.5}
  - model: ./local/ft-b
    parameters: {weight: 0.4, density: 0.5}
dtype: bfloat16
`);

function frontMatter(card: string): Record<string, unknown> {
  const m = /^---\n([\s\S]*?)\n---\n/.exec(card);
  expect(m, 'front matter').not.toBeNull();
  return parseYaml(m![1]) as Record<string, unknown>;
}

function fakeInfo(ref: string, name: string, shardSizes: number[]): ModelInfo {
  const sources: ByteSource[] = shardSizes.map((size, i) => ({ name: `s${i}`, size, read: async () => new Uint8Array(), text: async () => '' }));
  const tensors = new Map<string, TensorInfo>();
  sources.forEach((source, i) => {
    for (const k of [0, 1]) tensors.set(`t${i}.${k}`, { name: `t${i}.${k}`, dtype: 'F32', shape: [1], source, byteOffset: 0, byteLength: 4 });
  });
  return { ref, name, config: {}, tensors, files: new Map(), numLayers: 1 };
}

test('front matter: every Hub input as base_model (revision dropped, local paths left out), merge relation, tags', () => {
  const card = modelCard(RECIPE, undefined, { config: { model_type: 'llama', architectures: ['LlamaForCausalLM'] } });
  const fm = frontMatter(card);
  expect(fm.base_model).toEqual(['org/base', 'team/ft-a']);
  expect(fm.base_model_relation).toBe('merge');
  expect(fm.tags).toEqual([...CARD_TAGS]);
  expect(fm.tags).toEqual(['merge', 'mergekit', 'merge-studio']);
  expect(fm.library_name).toBe('transformers');
  // the body names every input, the method, and carries the recipe as YAML that parses back
  expect(card).toContain('[org/base@0123abc](https://huggingface.co/org/base) (base model)');
  expect(card).toContain('`./local/ft-b`');
  expect(card).toMatch(/TIES/);
  expect(card).toContain('`merge_method: ties`');
  const yaml = /```yaml\n([\s\S]*?)```/.exec(card)![1];
  expect(parseMergekitYaml(yaml)).toEqual(RECIPE);
});

test('library_name only for a transformers config; no base_model when no input is on the Hub', () => {
  const local = parseMergekitYaml('merge_method: linear\nmodels:\n  - model: ./a\n    parameters: {weight: 1}\n  - model: /abs/b\n    parameters: {weight: 1}\n');
  const fm = frontMatter(modelCard(local, undefined, { config: { hidden_size: 8 } }));
  expect(fm.base_model).toBeUndefined();
  expect(fm.base_model_relation).toBeUndefined();
  expect(fm.library_name).toBeUndefined();
  expect(fm.tags).toEqual(['merge', 'mergekit', 'merge-studio']);
});

test('share link reopens the recipe with the inputs identities; the engine is named; another Hub endpoint is linked', () => {
  const models = new Map([
    ['org/base@0123abc', fakeInfo('org/base@0123abc', 'base', [1000, 2000])],
    ['team/ft-a', fakeInfo('team/ft-a', 'ft-a', [3000])],
  ]);
  const card = modelCard(RECIPE, models, { studioUrl: 'https://studio.example/app/', backend: 'CPU engine: 2 worker threads', hubUrl: 'http://127.0.0.1:8080/' });
  const link = /\[This recipe in Merge Studio\]\((https:\/\/studio\.example\/app\/#share=[A-Za-z0-9_-]+)\)/.exec(card);
  expect(link, card).not.toBeNull();
  const decoded = decodeShare(shareCodeFromHash(new URL(link![1]).hash)!);
  expect(decoded.ok).toBe(true);
  if (!decoded.ok) return;
  expect(decoded.payload.recipe).toEqual(RECIPE);
  expect(decoded.payload.models).toEqual([
    { ref: 'org/base@0123abc', name: 'base', tensors: 4, bytes: 3000, hash: '' },
    { ref: 'team/ft-a', name: 'ft-a', tensors: 2, bytes: 3000, hash: '' },
    { ref: './local/ft-b', name: './local/ft-b', tensors: 0, bytes: 0, hash: '' },
  ]);
  expect(card).toContain('CPU engine: 2 worker threads');
  expect(card).toContain('[team/ft-a](http://127.0.0.1:8080/team/ft-a)');
});

test('identities given by the caller (the studio shelf, with fingerprints) go into the link as given', () => {
  const ids = [{ ref: 'org/base@0123abc', name: 'base', tensors: 9, bytes: 99, hash: 'a'.repeat(64) }];
  const card = modelCard(RECIPE, undefined, { studioUrl: 'http://localhost:5173/', identities: ids });
  const code = /#share=([A-Za-z0-9_-]+)\)/.exec(card)![1];
  const d = decodeShare(code);
  expect(d.ok && d.payload.models).toEqual(ids);
});

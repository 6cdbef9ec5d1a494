// The wasm backend's weights in Node: the engine's CPU codecs against the test fixtures' own
// codecs, and cpu-weights.ts (plan → whole-tensor reads → decode with the compute dtype → CPU twin →
// output-dtype rounding; layer paths re-numbered) against values computed here from the stored
// tensors. The GPU test (tests/gpu/eval-wasm.test.ts) checks the same weights against the GPU's.
import { describe, expect, test } from 'vitest';
import { decodeElements, halfBits, roundThrough } from '../../src/formats/dtype-codec';
import { CpuInputCache, resolveTargetCpu } from '../../src/eval/cpu-weights';
import { openModel } from '../../src/formats/model';
import { MemorySource } from '../../src/io/sources';
import { buildPlan } from '../../src/recipe/plan';
import { referenceMerge } from '../../src/methods/reference';
import type { ByteSource } from '../../src/io/types';
import type { ModelInfo } from '../../src/formats/model-info';
import type { Recipe } from '../../src/recipe/types';
import { decodeToF32, encodeF32, f32Bits, roundTo, ulpDistance, elementBits, type FixtureDtype } from '../fixtures/dtype-codec';
import { mulberry32 } from '../fixtures/prng';

const sameBits = (a: Float32Array, b: Float32Array) => {
  expect(a.length).toBe(b.length);
  for (let i = 0; i < a.length; i++) if (!(Number.isNaN(a[i]) && Number.isNaN(b[i])) && f32Bits(a[i]) !== f32Bits(b[i])) return `index ${i}: ${a[i]} vs ${b[i]}`;
  return '';
};

describe('CPU codecs equal the fixtures’ codecs', () => {
  // random values over many magnitudes, plus the edges: zeros, infinities, NaN, f16 overflow and
  // subnormals, exact halfway points of both half types
  const r = mulberry32(7);
  const values = new Float32Array(4000);
  for (let i = 0; i < values.length; i++) values[i] = (r() - 0.5) * 2 ** Math.floor(r() * 60 - 30);
  const edges = [0, -0, Infinity, -Infinity, NaN, 65504, 65520, 1e6, -1e6, 2 ** -24, 2 ** -25, 3 * 2 ** -26, 2 ** -14 - 2 ** -25, 1 + 2 ** -8, 1 + 3 * 2 ** -8, 1 + 2 ** -11, 1 + 3 * 2 ** -11, 3.4e38, 1e-40];
  values.set(edges);

  test.each(['F32', 'F16', 'BF16'] as FixtureDtype[])('%s: decoding bytes and rounding f32 values', (d) => {
    const bytes = encodeF32(values, d);
    // an unaligned view, as sources hand out
    const shifted = new Uint8Array(bytes.length + 1).fill(0xaa);
    shifted.set(bytes, 1);
    expect(sameBits(decodeElements(shifted.subarray(1), d), decodeToF32(bytes, d))).toBe('');
    expect(sameBits(roundThrough(values, d), roundTo(values, d))).toBe('');
  });

  test('decode with a compute dtype rounds after decoding; single-value forms agree', () => {
    const f16 = encodeF32(values, 'F16');
    expect(sameBits(decodeElements(f16, 'F16', 'BF16'), roundTo(decodeToF32(f16, 'F16'), 'BF16'))).toBe('');
    expect(sameBits(decodeElements(f16, 'F16', 'F16'), decodeToF32(f16, 'F16'))).toBe('');
    const bits = elementBits(encodeF32(values, 'BF16'), 'BF16');
    values.forEach((v, i) => expect(halfBits.fromF32(v, 'BF16')).toBe(bits[i]));
    expect(halfBits.toF32(0x3c00, 'F16')).toBe(1);
    expect(() => decodeElements(new Uint8Array(3), 'F16')).toThrow(/whole number/);
  });
});

// ---- tiny checkpoints in memory ---------------------------------------------------------------

const H = 4, V = 10, L = 2, I = 6;
const SHAPES: Record<string, number[]> = { 'model.embed_tokens.weight': [V, H] };
for (let l = 0; l < L; l++) {
  SHAPES[`model.layers.${l}.input_layernorm.weight`] = [H];
  SHAPES[`model.layers.${l}.mlp.up_proj.weight`] = [I, H];
}
SHAPES['model.norm.weight'] = [H];
SHAPES['lm_head.weight'] = [V, H];

function values(seed: number, base?: Record<string, Float32Array>): Record<string, Float32Array> {
  const r = mulberry32(seed);
  const out: Record<string, Float32Array> = {};
  for (const [name, shape] of Object.entries(SHAPES)) {
    const n = shape.reduce((a, b) => a * b, 1);
    out[name] = Float32Array.from({ length: n }, (_, i) => (base ? base[name][i] : 0) + (r() - 0.5) * (base ? 0.1 : 2));
  }
  return out;
}

async function model(ref: string, vals: Record<string, Float32Array>, dtype: FixtureDtype): Promise<{ info: ModelInfo; stored: Record<string, Float32Array> }> {
  const header: Record<string, unknown> = {};
  const parts: Uint8Array[] = [];
  const stored: Record<string, Float32Array> = {};
  let off = 0;
  for (const [name, v] of Object.entries(vals)) {
    const bytes = encodeF32(v, dtype);
    header[name] = { dtype, shape: SHAPES[name], data_offsets: [off, off + bytes.length] };
    parts.push(bytes);
    stored[name] = decodeToF32(bytes, dtype);
    off += bytes.length;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (json.length % 8)) % 8);
  const file = new Uint8Array(8 + json.length + off);
  new DataView(file.buffer).setUint32(0, json.length, true);
  file.set(new TextEncoder().encode(json), 8);
  let at = 8 + json.length;
  for (const p of parts) {
    file.set(p, at);
    at += p.length;
  }
  const config = { architectures: ['LlamaForCausalLM'], model_type: 'llama', hidden_size: H, intermediate_size: I, num_hidden_layers: L, vocab_size: V, num_attention_heads: 1, torch_dtype: 'float32' };
  const files = new Map<string, ByteSource>([
    ['config.json', new MemorySource(`${ref}/config.json`, new TextEncoder().encode(JSON.stringify(config)))],
    ['model.safetensors', new MemorySource(`${ref}/model.safetensors`, file)],
  ]);
  return { info: await openModel(ref, ref, files), stored };
}

const baseVals = values(1);
const fixtures = Promise.all([model('base', baseVals, 'BF16'), model('a', values(2, baseVals), 'F16'), model('b', values(3, baseVals), 'F32')]);

async function setup() {
  const [base, a, b] = await fixtures;
  const models = new Map([['base', base.info], ['a', a.info], ['b', b.info]]);
  return { models, base: base.stored, a: a.stored, b: b.stored };
}

describe('resolveTargetCpu', () => {
  test('a model: every tensor as stored, with its config and tokenizer model', async () => {
    const { models, a } = await setup();
    const r = await resolveTargetCpu({ kind: 'model', ref: 'a' }, models);
    expect([...r.weights.keys()].sort()).toEqual(Object.keys(SHAPES).sort());
    for (const [name, v] of r.weights) expect(sameBits(v, a[name])).toBe('');
    expect(r.config.hidden_size).toBe(H);
    expect(r.tokenizerModel.ref).toBe('a');
    expect(r.hops).toBeUndefined();
  });

  test('a linear merge over mixed dtypes is rounded through out_dtype (bf16)', async () => {
    const { models, a, b } = await setup();
    const recipe: Recipe = { merge_method: 'linear', models: [{ model: 'a', parameters: { weight: 1 } }, { model: 'b', parameters: { weight: 3 } }], dtype: 'float32', out_dtype: 'bfloat16' };
    const r = await resolveTargetCpu({ kind: 'recipe', recipe }, models);
    for (const [name, v] of r.weights) {
      const want = roundTo(Float32Array.from(a[name], (x, i) => (x + 3 * b[name][i]) / 4), 'BF16');
      expect(sameBits(roundTo(v, 'BF16'), v)).toBe(''); // bf16-representable: the rounding happened
      const wantBits = elementBits(encodeF32(want, 'BF16'), 'BF16');
      const gotBits = elementBits(encodeF32(v, 'BF16'), 'BF16');
      gotBits.forEach((g, i) => expect(ulpDistance(g, wantBits[i], 'BF16')).toBeLessThanOrEqual(1));
    }
    expect(r.tokenizerModel.ref).toBe('a');
  });

  test('the compute dtype rounds the inputs before the merge', async () => {
    const { models, b } = await setup();
    const recipe: Recipe = { merge_method: 'linear', models: [{ model: 'b', parameters: { weight: 1 } }], dtype: 'bfloat16', out_dtype: 'float32' };
    const r = await resolveTargetCpu({ kind: 'recipe', recipe }, models);
    const up = r.weights.get('model.layers.1.mlp.up_proj.weight')!;
    expect(sameBits(up, roundTo(b['model.layers.1.mlp.up_proj.weight'], 'BF16'))).toBe('');
    expect(sameBits(up, b['model.layers.1.mlp.up_proj.weight'])).not.toBe(''); // F32 storage: rounding changed values
  });

  test('dare_ties: the CPU engine on the plan entry (inputs, parameters, seed) matches the reference twin; the recipe seed decides the masks', async () => {
    const { models, base, a, b } = await setup();
    const recipe = (seed: number): Recipe => ({ merge_method: 'dare_ties', base_model: 'base', models: [{ model: 'a', parameters: { weight: 0.6, density: 0.5 } }, { model: 'b', parameters: { weight: 0.4, density: 0.3 } }], dtype: 'float32', random_seed: seed });
    const r1 = await resolveTargetCpu({ kind: 'recipe', recipe: recipe(5) }, models);
    const again = await resolveTargetCpu({ kind: 'recipe', recipe: recipe(5) }, models);
    const r2 = await resolveTargetCpu({ kind: 'recipe', recipe: recipe(6) }, models);
    const plan = buildPlan(recipe(5), models, { seed: 5 });
    const data: Record<string, Record<string, Float32Array>> = { base, a, b };
    let differs = 0;
    for (const e of plan.entries) {
      const want = referenceMerge({ name: e.name, method: e.method, shape: e.shape, params: e.params, seed: e.seed, inputs: e.inputs.map((inp) => ({ data: data[inp.model][e.name], isBase: inp.isBase, params: inp.params, shape: e.shape })) });
      const got = r1.weights.get(e.name)!;
      // the CPU engine replays the GPU's f32 arithmetic (bit-identical to it: tests/gpu/cpu-engine.test.ts);
      // the twin computes in f64 with the same masks: equal up to f32 rounding
      const w = roundTo(want, e.outDtype);
      let worst = 0;
      for (let i = 0; i < w.length; i++) worst = Math.max(worst, Math.abs(got[i] - w[i]) / (Math.abs(w[i]) + 1e-6));
      expect(worst, e.name).toBeLessThan(2e-5);
      expect(sameBits(again.weights.get(e.name)!, got)).toBe('');
      if (sameBits(r2.weights.get(e.name)!, got) !== '') differs++;
    }
    expect(differs).toBeGreaterThan(plan.entries.length / 2);
    // some positions kept the base value (pruned by both), some did not
    const up = r1.weights.get('model.layers.0.mlp.up_proj.weight')!;
    const atBase = up.filter((x, i) => x === base['model.layers.0.mlp.up_proj.weight'][i]).length;
    expect(atBase).toBeGreaterThan(0);
    expect(atBase).toBeLessThan(up.length);
  });

  test('a layer path: pool in order of first use, renamed layers, A’s other tensors, checked hops', async () => {
    const { models, a, b } = await setup();
    const hops = [{ model: 'a' as const, layer: 1, scale: 1 }, { model: 'b' as const, layer: 0, scale: 0.5 }, { model: 'a' as const, layer: 1, scale: 1.2 }];
    const r = await resolveTargetCpu({ kind: 'path', a: { kind: 'model', ref: 'a' }, b: 'b', hops }, models);
    expect(r.hops).toEqual([{ layer: 0, scale: 1 }, { layer: 1, scale: 0.5 }, { layer: 0, scale: 1.2 }]);
    expect(r.poolSize).toBe(2);
    expect(r.config.num_hidden_layers).toBe(2);
    expect(r.weights.get('model.layers.0.mlp.up_proj.weight')).toEqual(a['model.layers.1.mlp.up_proj.weight']);
    expect(r.weights.get('model.layers.1.input_layernorm.weight')).toEqual(b['model.layers.0.input_layernorm.weight']);
    expect(r.weights.get('lm_head.weight')).toEqual(a['lm_head.weight']);
    expect(r.weights.size).toBe(Object.keys(SHAPES).length);
    const one = await resolveTargetCpu({ kind: 'path', a: { kind: 'model', ref: 'a' }, b: 'b', hops: [{ model: 'b', layer: 1, scale: 1 }] }, models);
    expect([...one.weights.keys()].sort()).toEqual(['lm_head.weight', 'model.embed_tokens.weight', 'model.layers.0.input_layernorm.weight', 'model.layers.0.mlp.up_proj.weight', 'model.norm.weight']);
    expect(one.weights.get('model.layers.0.mlp.up_proj.weight')).toEqual(b['model.layers.1.mlp.up_proj.weight']);
    await expect(resolveTargetCpu({ kind: 'path', a: { kind: 'model', ref: 'a' }, b: 'b', hops: [{ model: 'b', layer: 5, scale: 1 }] }, models)).rejects.toThrow(/layer 5 of model B, which has 2 layers/);
    await expect(resolveTargetCpu({ kind: 'path', a: { kind: 'model', ref: 'a' }, b: 'b', hops: [] }, models)).rejects.toThrow(/no hops/);
    await expect(resolveTargetCpu({ kind: 'model', ref: 'nope' }, models)).rejects.toThrow(/"nope".*not among the loaded models/);
  });

  test('decoded inputs are cached across candidates and give the same weights', async () => {
    const { models } = await setup();
    const cache = new CpuInputCache(1 << 20);
    const recipe: Recipe = { merge_method: 'ties', base_model: 'base', models: [{ model: 'a', parameters: { weight: 1, density: 0.5 } }, { model: 'b', parameters: { weight: 1, density: 0.5 } }] };
    const first = await resolveTargetCpu({ kind: 'recipe', recipe }, models, { inputCache: cache });
    expect(cache.size).toBe(3 * Object.keys(SHAPES).length);
    const second = await resolveTargetCpu({ kind: 'recipe', recipe }, models, { inputCache: cache });
    for (const [name, v] of first.weights) expect(second.weights.get(name)).toEqual(v);
    const tiny = new CpuInputCache(16);
    await resolveTargetCpu({ kind: 'recipe', recipe }, models, { inputCache: tiny });
    expect(tiny.bytes).toBeLessThanOrEqual(16);
  });
});

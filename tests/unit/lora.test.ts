// PEFT LoRA adapters: adapter_config.json checks (LoRA only; DoRA, LoHa, LoKr, IA³… refused by
// name), the adapter file checked against its base from headers alone (module, tensor and expected
// shape named), the per-module scale (rsLoRA, rank_pattern, alpha_pattern), modules_to_save, and
// "base+adapter" merged on the CPU engine equal to merging the pre-applied checkpoint (float64).
import { describe, expect, test } from 'vitest';
import { applyAdapter, moduleScale, openAdapted, openAdapter, parseLoraConfig, patternValue } from '../../src/formats/lora';
import { openModel } from '../../src/formats/model';
import { MemorySource } from '../../src/io/sources';
import type { ByteSource } from '../../src/io/types';
import { ModelError, UnsupportedError, type StudioError } from '../../src/errors';
import { buildPlan } from '../../src/recipe/plan';
import { parseMergekitYaml } from '../../src/recipe/mergekit-yaml';
import { cpuTensorBytes } from '../../src/backends/cpu/tensor';
import { cpuMergeEntry } from '../../src/eval/cpu-weights';
import { loraApplyF64 } from '../../src/methods/shared/reference/lora';
import { makeAdapter, safetensorsFile, seeded, type FixtureTensor, type LoraModuleSpec } from '../fixtures/lora';
import { decodeToF32, roundTo, type FixtureDtype } from '../fixtures/dtype-codec';
import { adapterFromPicked, groupFiles, isAdapterGroup } from '../../src/store/grouping';

const H = 12;
const V = 20;
const I = 18;
const SHAPES: Record<string, [number, number] | [number]> = {
  'model.embed_tokens.weight': [V, H],
  'model.layers.0.self_attn.q_proj.weight': [H, H],
  'model.layers.0.self_attn.v_proj.weight': [6, H],
  'model.layers.0.mlp.up_proj.weight': [I, H],
  'model.layers.0.mlp.down_proj.weight': [H, I],
  'model.layers.0.input_layernorm.weight': [H],
  'model.norm.weight': [H],
  'lm_head.weight': [V, H],
};

/** Reads the source records, so a test can check that nothing past a header was read. */
class Recorded extends MemorySource {
  reads: [number, number][] = [];
  override async read(offset: number, length: number, signal?: AbortSignal): Promise<Uint8Array> {
    this.reads.push([offset, length]);
    return super.read(offset, length, signal);
  }
}

function files(name: string, entries: Map<string, Uint8Array>): Map<string, ByteSource> {
  return new Map([...entries].map(([p, b]) => [p, new Recorded(`${name}/${p}`, b)]));
}

function model(seed: number, dtype: FixtureDtype = 'F32'): { files: Map<string, Uint8Array>; values: Record<string, Float32Array> } {
  const values: Record<string, Float32Array> = {};
  const tensors: FixtureTensor[] = Object.entries(SHAPES).map(([name, shape]) => {
    const v = roundTo(seeded(seed, name, shape.reduce((a, b) => a * b, 1)), dtype);
    values[name] = v;
    return { name, dtype, shape, values: v };
  });
  const config = { architectures: ['LlamaForCausalLM'], model_type: 'llama', hidden_size: H, num_hidden_layers: 1, vocab_size: V };
  return { files: new Map([['config.json', new TextEncoder().encode(JSON.stringify(config))], ['model.safetensors', safetensorsFile(tensors)]]), values };
}

const MODULES: LoraModuleSpec[] = [
  { module: 'model.layers.0.self_attn.q_proj', shape: [H, H], rank: 4 },
  { module: 'model.layers.0.self_attn.v_proj', shape: [6, H], rank: 4 },
  { module: 'model.layers.0.mlp.down_proj', shape: [H, I], rank: 4 },
];

async function failure(p: Promise<unknown>): Promise<StudioError> {
  try {
    await p;
  } catch (e) {
    return e as StudioError;
  }
  throw new Error('expected a failure');
}

describe('adapter_config.json', () => {
  const cfg = (o: Record<string, unknown>) => JSON.stringify({ peft_type: 'LORA', r: 8, lora_alpha: 16, target_modules: ['q_proj'], ...o });
  test('only LoRA: other PEFT types and LoRA variants are refused by name', () => {
    const refuse = (o: Record<string, unknown>) => {
      try {
        parseLoraConfig('ad', cfg(o));
      } catch (e) {
        expect(e).toBeInstanceOf(UnsupportedError);
        return (e as Error).message;
      }
      throw new Error('not refused');
    };
    expect(refuse({ peft_type: 'LOHA' })).toMatch(/^ad\/adapter_config\.json: peft_type "LOHA" \(LoHa\) is not supported/);
    expect(refuse({ peft_type: 'LOKR' })).toMatch(/\(LoKr\)/);
    expect(refuse({ peft_type: 'IA3' })).toMatch(/\(IA³\)/);
    expect(refuse({ peft_type: 'ADALORA' })).toMatch(/\(AdaLoRA\)/);
    expect(refuse({ use_dora: true })).toMatch(/use_dora is true: DoRA/);
    expect(refuse({ lora_bias: true })).toMatch(/lora_bias/);
    expect(refuse({ target_parameters: ['experts.gate_up_proj'] })).toMatch(/target_parameters/);
  });
  test('malformed configs name the file and the key', () => {
    expect(() => parseLoraConfig('ad', '{')).toThrow(/^ad\/adapter_config\.json: not valid JSON/);
    expect(() => parseLoraConfig('ad', JSON.stringify({ r: 8 }))).toThrow(/has no "peft_type"/);
    expect(() => parseLoraConfig('ad', cfg({ r: 0 }))).toThrow(/"r" must be a positive number, got 0/);
    expect(() => parseLoraConfig('ad', cfg({ r: 2.5 }))).toThrow(/"r" must be an integer/);
    expect(() => parseLoraConfig('ad', cfg({ rank_pattern: { '(': 4 } }))).toThrow(/"rank_pattern" key "\(" is not a valid regular expression/);
  });
  test('scale per module: alpha/r, alpha/√r with use_rslora, rank_pattern and alpha_pattern (PEFT lookups)', () => {
    const c = parseLoraConfig('ad', cfg({ r: 16, lora_alpha: 32, rank_pattern: { 'layers.0.self_attn.q_proj': 4, v_proj: 8 }, alpha_pattern: { 'mlp\\..*_proj': 8 } }));
    expect(moduleScale(c, 'model.layers.0.self_attn.q_proj')).toEqual({ r: 4, alpha: 32, scale: 8 });
    expect(moduleScale(c, 'model.layers.3.self_attn.v_proj')).toEqual({ r: 8, alpha: 32, scale: 4 });
    expect(moduleScale(c, 'model.layers.0.mlp.up_proj')).toEqual({ r: 16, alpha: 8, scale: 0.5 });
    expect(moduleScale(c, 'model.layers.10.self_attn.q_proj').r).toBe(16); // "layers.0." does not match "layers.10."
    const rs = parseLoraConfig('ad', cfg({ r: 16, lora_alpha: 8, use_rslora: true }));
    expect(moduleScale(rs, 'x.q_proj').scale).toBe(2);
    expect(patternValue({ q_proj: 3 }, 'model.layers.0.self_attn.q_proj')).toBe(3);
    expect(patternValue({ q_proj: 3 }, 'model.layers.0.self_attn.xq_proj')).toBeUndefined();
  });
});

describe('an adapter checked against its base, from headers alone', () => {
  test('a matching adapter: targeted tensors carry their factors, scale and layout; nothing but headers is read', async () => {
    const base = model(1);
    const ad = makeAdapter({ seed: 2, modules: MODULES, config: { lora_alpha: 8 } });
    const baseFiles = files('base', base.files);
    const adFiles = files('ad', ad.files);
    const info = await openAdapted('base+ad', 'base', baseFiles, adFiles);
    expect(info.ref).toBe('base+ad');
    const q = info.tensors.get('model.layers.0.self_attn.q_proj.weight')!;
    expect(q.lora).toMatchObject({ adapter: 'ad', rank: 4, scale: 2, transposed: false });
    expect(q.lora!.a.name).toBe('base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight');
    expect(info.tensors.get('model.layers.0.mlp.up_proj.weight')!.lora).toBeUndefined();
    // only the 8-byte prefix and the JSON header of each safetensors file were read
    for (const src of [...baseFiles.values(), ...adFiles.values()] as Recorded[]) {
      if (!src.name.endsWith('.safetensors')) continue;
      const headerEnd = 8 + new DataView((await src.read(0, 8)).buffer).getUint32(0, true);
      for (const [o, n] of src.reads) expect(o + n).toBeLessThanOrEqual(headerEnd);
    }
  });

  test('a factor whose shape does not fit its base tensor: the adapter file, the tensor and the expected shape', async () => {
    const base = await openModel('base', 'base', files('base', model(1).files));
    // written for a model whose v_proj is [12, 12]
    const ad = await openAdapter('ad', files('ad', makeAdapter({ seed: 2, modules: [{ module: 'model.layers.0.self_attn.v_proj', shape: [H, H], rank: 4 }] }).files));
    const e = (() => {
      try {
        applyAdapter(base, ad, 'base+ad');
      } catch (err) {
        return err as ModelError;
      }
      throw new Error('not refused');
    })();
    expect(e).toBeInstanceOf(ModelError);
    expect(e.message).toBe(
      'ad/adapter_model.safetensors: tensor "base_model.model.model.layers.0.self_attn.v_proj.lora_B.weight": shape [12, 4], expected [6, 4] (r = 4; base "model.layers.0.self_attn.v_proj.weight" is [6, 12])',
    );
    expect(e.details).toMatchObject({ file: 'adapter_model.safetensors', tensor: 'base_model.model.model.layers.0.self_attn.v_proj.lora_B.weight' });
    // the rank from the config disagrees with the factors
    const ad2 = await openAdapter('ad', files('ad', makeAdapter({ seed: 2, modules: MODULES, config: { r: 8 } }).files));
    expect(() => applyAdapter(base, ad2, 'base+ad')).toThrow(/lora_A\.weight": shape \[4, 12\], expected \[8, 12\] \(r = 8;/);
  });

  test('modules and targets the base lacks; incomplete or unknown adapter tensors; DoRA tensors', async () => {
    const base = await openModel('base', 'base', files('base', model(1).files));
    const other = await openAdapter('ad', files('ad', makeAdapter({ seed: 2, modules: [{ module: 'model.layers.0.self_attn.k_proj', shape: [6, H], rank: 2 }] }).files));
    expect(() => applyAdapter(base, other, 'base+ad')).toThrow(
      'ad/adapter_model.safetensors: tensor "base_model.model.model.layers.0.self_attn.k_proj.lora_A.weight": its base tensor "model.layers.0.self_attn.k_proj.weight" is not in base; this adapter was made for another model',
    );
    const target = await openAdapter('ad', files('ad', makeAdapter({ seed: 2, modules: MODULES, config: { target_modules: ['q_proj', 'v_proj', 'down_proj', 'c_attn'] } }).files));
    expect(() => applyAdapter(base, target, 'base+ad')).toThrow(/^ad\/adapter_config\.json: target module "c_attn" is not in base \(expected a weight named "….c_attn.weight"\)/);
    const notTargeted = makeAdapter({ seed: 2, modules: MODULES, config: { target_modules: ['q_proj', 'v_proj'] } });
    expect((await failure(openAdapter('ad', files('ad', notTargeted.files)))).message).toMatch(/mlp\.down_proj" is not selected by adapter_config\.json's target_modules \["q_proj","v_proj"\]/);
    // lora_B missing
    const one = makeAdapter({ seed: 2, modules: [MODULES[0]] });
    const onlyA: FixtureTensor[] = [{ name: 'base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight', dtype: 'F32', shape: [4, H], values: new Float32Array(4 * H) }];
    one.files.set('adapter_model.safetensors', safetensorsFile(onlyA));
    expect((await failure(openAdapter('ad', files('ad', one.files)))).message).toMatch(/q_proj\.lora_B\.weight": missing, although .*lora_A\.weight is present/);
    // DoRA's magnitude vector, an unknown LoRA tensor, a key without PEFT's prefix
    for (const [name, re] of [
      ['base_model.model.model.layers.0.self_attn.q_proj.lora_magnitude_vector', /DoRA magnitude vector; DoRA \(weight-decomposed LoRA\) is not supported/],
      ['base_model.model.model.layers.0.self_attn.q_proj.lora_E', /an unknown LoRA tensor/],
      ['model.layers.0.self_attn.q_proj.lora_A.weight', /expected PEFT's "base_model\.model\.<module>…" key names/],
    ] as const) {
      const f = makeAdapter({ seed: 2, modules: [MODULES[0]] });
      f.files.set('adapter_model.safetensors', safetensorsFile([{ name, dtype: 'F32', shape: [H], values: new Float32Array(H) }]));
      expect((await failure(openAdapter('ad', files('ad', f.files)))).message).toMatch(re);
    }
    // a folder without the weights, or with a pickle only
    const noWeights = new Map(makeAdapter({ seed: 2, modules: MODULES }).files);
    noWeights.delete('adapter_model.safetensors');
    noWeights.set('adapter_model.bin', new Uint8Array(4));
    expect((await failure(openAdapter('ad', files('ad', noWeights)))).message).toMatch(/has no adapter_model\.safetensors; it holds adapter_model\.bin/);
    const refused = makeAdapter({ seed: 2, modules: MODULES, config: { peft_type: 'LOKR' } });
    expect(await failure(openAdapter('ad', files('ad', refused.files)))).toBeInstanceOf(UnsupportedError);
  });

  test('modules_to_save replace the base tensor (shape checked); embedding LoRA and fan_in_fan_out read transposed', async () => {
    const base = await openModel('base', 'base', files('base', model(1).files));
    const head = seeded(5, 'head', V * H);
    const ad = await openAdapter(
      'ad',
      files('ad', makeAdapter({ seed: 2, modules: [{ module: 'model.embed_tokens', shape: [V, H], rank: 3, embedding: true }], config: { modules_to_save: ['lm_head'], target_modules: ['embed_tokens'] }, replace: [{ name: 'lm_head.weight', dtype: 'F32', shape: [V, H], values: head }] }).files),
    );
    const info = applyAdapter(base, ad, 'base+ad');
    expect(info.tensors.get('lm_head.weight')!.source.name).toBe('ad/adapter_model.safetensors');
    expect(info.tensors.get('model.embed_tokens.weight')!.lora).toMatchObject({ rank: 3, transposed: true });
    const bad = await openAdapter('ad', files('ad', makeAdapter({ seed: 2, modules: [MODULES[0]], replace: [{ name: 'lm_head.weight', dtype: 'F32', shape: [V - 1, H], values: new Float32Array((V - 1) * H) }] }).files));
    expect(() => applyAdapter(base, bad, 'base+ad')).toThrow(/tensor "base_model\.model\.lm_head\.weight": shape \[19, 12\], expected \[20, 12\] as "lm_head\.weight" in base/);
    const fifo = await openAdapter('ad', files('ad', makeAdapter({ seed: 2, modules: [{ module: 'model.layers.0.mlp.up_proj', shape: [I, H], rank: 2 }], config: { fan_in_fan_out: true } }).files));
    expect(applyAdapter(base, fifo, 'b+a').tensors.get('model.layers.0.mlp.up_proj.weight')!.lora!.transposed).toBe(true);
  });
});

describe('base+adapter merged on the CPU engine', () => {
  for (const dtype of ['F32', 'BF16'] as const)
    test(`${dtype}: linear(base+adapter, other) equals linear(pre-applied checkpoint, other) computed in float64`, async () => {
      const base = model(1, dtype);
      const other = model(3, dtype);
      const modules: LoraModuleSpec[] = [...MODULES, { module: 'model.embed_tokens', shape: [V, H], rank: 5, embedding: true }];
      const ad = makeAdapter({
        seed: 2,
        modules,
        config: { lora_alpha: 16, use_rslora: true, rank_pattern: { down_proj: 4, embed_tokens: 5 }, alpha_pattern: { v_proj: 2 }, target_modules: ['q_proj', 'v_proj', 'down_proj', 'embed_tokens'], modules_to_save: ['lm_head'] },
        replace: [{ name: 'lm_head.weight', dtype: 'F32', shape: [V, H], values: seeded(9, 'head', V * H) }],
      });
      const models = new Map([
        ['base+ad', await openAdapted('base+ad', 'base', files('base', base.files), files('ad', ad.files))],
        ['other', await openModel('other', 'other', files('other', other.files))],
      ]);
      const recipe = parseMergekitYaml(`merge_method: linear\nmodels:\n  - model: base+ad\n    parameters: {weight: 0.75}\n  - model: {model: other}\n    parameters: {weight: 0.25}\ndtype: float32\n`);
      const plan = buildPlan(recipe, models);
      for (const e of plan.entries) {
        const out = decodeToF32(await cpuTensorBytes(e, {}), e.outDtype);
        // the evaluator's CPU weights (wasm backend) apply the adapter the same way
        expect(await cpuMergeEntry(e), e.name).toEqual(out);
        const b = base.values[e.name];
        let applied: ArrayLike<number> = b;
        const mod = e.name.replace(/\.weight$/, '');
        const spec = modules.find((m) => m.module === mod);
        if (spec) {
          const f = ad.factors.get(mod)!;
          const alpha = mod.endsWith('v_proj') ? 2 : 16;
          applied = loraApplyF64(b, spec.shape[0], spec.shape[1], f.a, f.b, f.rank, alpha / Math.sqrt(f.rank), !!spec.embedding);
        }
        if (e.name === 'lm_head.weight') applied = seeded(9, 'head', V * H);
        let worst = 0;
        for (let i = 0; i < out.length; i++) {
          const ref = 0.75 * applied[i] + 0.25 * other.values[e.name][i];
          worst = Math.max(worst, Math.abs(out[i] - ref) / (1e-6 + 2e-6 * Math.abs(ref)));
        }
        expect(worst, e.name).toBeLessThanOrEqual(1);
        // and the adapter did change the targeted tensors
        if (spec) expect(Array.from(out).some((v, i) => Math.abs(v - (0.75 * b[i] + 0.25 * other.values[e.name][i])) > 1e-3), e.name).toBe(true);
      }
    });
});

describe('the studio: dropped files as an adapter', () => {
  const blob = new Blob([]);
  test('adapterFromPicked takes the folder holding adapter_config.json; groupFiles marks adapter folders', () => {
    const picked = ['my-lora/adapter_config.json', 'my-lora/adapter_model.safetensors', 'my-lora/README.md', 'my-lora/.hidden', 'other/x.txt'].map((path) => ({ path, file: blob }));
    const a = adapterFromPicked(picked)!;
    expect(a.name).toBe('my-lora');
    expect(a.files.map((f) => f.path)).toEqual(['adapter_config.json', 'adapter_model.safetensors', 'README.md']);
    expect(adapterFromPicked(['adapter_config.json', 'adapter_model.safetensors'].map((path) => ({ path, file: blob })))!.name).toBe('adapter');
    expect(adapterFromPicked([{ path: 'm/model.safetensors', file: blob }])).toBeUndefined();
    expect(adapterFromPicked(['a/adapter_config.json', 'b/adapter_config.json'].map((path) => ({ path, file: blob })))).toBeUndefined();
    const g = groupFiles(picked).groups.find((x) => x.name === 'my-lora')!;
    expect(isAdapterGroup(g)).toBe(true);
  });
});

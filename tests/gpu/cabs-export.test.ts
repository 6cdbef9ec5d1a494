// CABS → mergekit export: the exported checkpoints merged with the exported recipe (task_arithmetic,
// or ties without trimming when positions overlap) reproduce the cabs merge bit for bit; and the
// worker's diagnostics session keeps models and decoded inputs across calls with the same models.
import { describe, expect, test } from 'vitest';
import { randn } from './support';
import { getGpu } from '../../src/gpu/device';
import { MemorySource } from '../../src/io/sources';
import { MemorySink } from '../../src/io/sinks';
import type { ByteSource } from '../../src/io/types';
import { openModel } from '../../src/formats/model';
import { buildSafetensorsHeader } from '../../src/formats/safetensors';
import { parseMergekitYaml } from '../../src/recipe/mergekit-yaml';
import { buildPlan } from '../../src/recipe/plan';
import type { ModelInfo } from '../../src/formats/model-info';
import { mergeTensor } from '../../src/backends/webgpu/execute';
import { WebGpuBackend } from '../../src/backends/webgpu/backend';
import { CpuBackend } from '../../src/backends/cpu/backend';
import { exportCabs } from '../../src/merge/cabs-export';
import { DiagnosticsSession } from '../../src/merge/diagnostics-session';
import type { ModelSpec } from '../../src/io/types';
import { encodeF32 } from '../fixtures/dtype-codec';

const SHAPES: Record<string, number[]> = {
  'model.embed_tokens.weight': [10, 16],
  'model.layers.0.input_layernorm.weight': [16],
  'model.layers.0.mlp.up_proj.weight': [24, 16],
  'model.layers.0.self_attn.q_proj.weight': [16, 16],
  'model.norm.weight': [16],
  'lm_head.weight': [10, 16],
};
const CONFIG = { architectures: ['LlamaForCausalLM'], model_type: 'llama', num_hidden_layers: 1, hidden_size: 16, vocab_size: 10, torch_dtype: 'bfloat16' };

/** A checkpoint folder in memory: base values plus noise (fine-tunes), BF16. */
function checkpoint(seed: number, fineTuneOf?: number): Map<string, ByteSource> {
  const names = Object.keys(SHAPES);
  const layout = buildSafetensorsHeader(names.map((name) => ({ name, dtype: 'BF16', shape: SHAPES[name] })), { format: 'pt' });
  const parts: Uint8Array[] = [layout.bytes];
  names.forEach((name, t) => {
    const n = SHAPES[name].reduce((a, b) => a * b, 1);
    let v = randn(n, (fineTuneOf ?? seed) * 100 + t);
    if (fineTuneOf !== undefined) {
      const d = randn(n, seed * 1000 + t, 0.05);
      v = v.map((x, i) => x + d[i]);
    }
    parts.push(encodeF32(v, 'BF16'));
  });
  const file = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
  let o = 0;
  for (const p of parts) {
    file.set(p, o);
    o += p.length;
  }
  const enc = new TextEncoder();
  return new Map<string, ByteSource>([
    ['model.safetensors', new MemorySource('model.safetensors', file)],
    ['config.json', new MemorySource('config.json', enc.encode(JSON.stringify(CONFIG)))],
    ['tokenizer.json', new MemorySource('tokenizer.json', enc.encode('{"model":{"vocab":{}}}'))],
  ]);
}

async function open(files: Record<string, Map<string, ByteSource>>): Promise<Map<string, ModelInfo>> {
  const out = new Map<string, ModelInfo>();
  for (const [ref, f] of Object.entries(files)) out.set(ref, await openModel(ref, ref.split('/').pop()!, f));
  return out;
}

async function mergeAll(recipeYaml: string, models: Map<string, ModelInfo>, chunkElements?: number): Promise<Map<string, Uint8Array>> {
  const gpu = await getGpu();
  const plan = buildPlan(parseMergekitYaml(recipeYaml), models);
  const out = new Map<string, Uint8Array>();
  for (const e of plan.entries) {
    const parts: Uint8Array[] = [];
    await mergeTensor(gpu, e, chunkElements, undefined, async (_c, b) => {
      parts.push(b.slice());
    });
    const all = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
    let o = 0;
    for (const p of parts) {
      all.set(p, o);
      o += p.length;
    }
    out.set(e.name, all);
  }
  return out;
}

/** Index of the first differing byte (the shorter length when one is a prefix), or -1. */
function firstDiff(a: Uint8Array, b: Uint8Array): number {
  for (let i = 0; i < Math.min(a.length, b.length); i++) if (a[i] !== b[i]) return i;
  return a.length === b.length ? -1 : Math.min(a.length, b.length);
}

const originals = () => ({ base: checkpoint(1), 'org/expert_a': checkpoint(2, 1), 'org/expert_b': checkpoint(3, 1) });

const recipe = (a: string, b: string, global: string) => `merge_method: cabs
base_model: base
models:
  - model: org/expert_a
    parameters: {${a}}
  - model: org/expert_b
    parameters: {${b}}
parameters: {${global}}
`;

describe('cabs export for mergekit', () => {
  test.each([
    ['n:m, Σn ≤ m → task_arithmetic', recipe('weight: 1.2, block_keep: 3', 'weight: 0.8, block_keep: 4, priority: 1', 'block_size: 8, lambda: 0.9'), 'task_arithmetic'],
    ['n:m, Σn > m → ties without trimming', recipe('weight: 1, block_keep: 5', 'weight: [0.5, 1.5], block_keep: 6', 'block_size: 8'), 'ties'],
    ['top-k, Σ density ≤ 1', recipe('weight: 1, density: 0.4', 'weight: 1, density: 0.3', ''), 'task_arithmetic'],
    ['top-k, Σ density > 1', recipe('weight: 1, density: 0.7', 'weight: 0.7, density: 0.6', ''), 'ties'],
  ])('%s: the exported recipe over the exported checkpoints reproduces the merge bit for bit', async (_name, yaml, method) => {
    const gpu = await getGpu();
    const models = await open(originals());
    const sink = new MemorySink();
    const s = await exportCabs(new WebGpuBackend(gpu), { recipe: parseMergekitYaml(yaml), models, sink });
    expect(s.method).toBe(method);
    // the CPU engine behind the same door: the same masks, so the same files byte for byte
    const cpuSink = new MemorySink();
    const c = await exportCabs(new CpuBackend({ threads: 0 }), { recipe: parseMergekitYaml(yaml), models, sink: cpuSink });
    expect(c).toEqual(s);
    expect(Object.keys(cpuSink.files).sort()).toEqual(Object.keys(sink.files).sort());
    for (const [path, bytes] of Object.entries(sink.files)) expect(firstDiff(cpuSink.files[path], bytes), path).toBe(-1);
    expect(s.folders).toEqual({ 'org/expert_a': 'expert_a-cabs', 'org/expert_b': 'expert_b-cabs' });
    expect(Object.keys(sink.files).sort()).toEqual([
      'expert_a-cabs/config.json',
      'expert_a-cabs/model.safetensors',
      'expert_a-cabs/tokenizer.json',
      'expert_b-cabs/config.json',
      'expert_b-cabs/model.safetensors',
      'expert_b-cabs/tokenizer.json',
      'mergekit_config.yml',
    ]);
    const exported = parseMergekitYaml(new TextDecoder().decode(sink.files['mergekit_config.yml']));
    expect(exported.merge_method).toBe(method);
    expect(exported.parameters?.normalize).toBe(false);
    expect(exported.models!.map((m) => m.model)).toEqual(['./expert_a-cabs', './expert_b-cabs']);
    // the exported folders as models, next to the original base
    const folder = (f: string) => new Map(Object.entries(sink.files).filter(([p]) => p.startsWith(f + '/')).map(([p, b]) => [p.slice(f.length + 1), new MemorySource(p, b) as ByteSource]));
    const pruned = await open({ base: originals().base, './expert_a-cabs': folder('expert_a-cabs'), './expert_b-cabs': folder('expert_b-cabs') });
    const want = await mergeAll(yaml, models);
    const got = await mergeAll(s.yaml, pruned);
    expect([...got.keys()].sort()).toEqual([...want.keys()].sort());
    for (const [name, bytes] of want) expect(firstDiff(got.get(name)!, bytes), name).toBe(-1);
  });

  test('refuses a recipe that is not cabs, and leaves nothing behind', async () => {
    const gpu = await getGpu();
    const models = await open(originals());
    const sink = new MemorySink();
    const yaml = 'merge_method: task_arithmetic\nbase_model: base\nmodels:\n  - model: org/expert_a\n    parameters: {weight: 1}\n';
    await expect(exportCabs(new WebGpuBackend(gpu), { recipe: parseMergekitYaml(yaml), models, sink })).rejects.toThrow(/merge_method: cabs/);
    expect(sink.files).toEqual({});
  });
});

describe('diagnostics session (the worker API)', () => {
  // the studio hands the worker File objects: name, size and date identify them
  const specs = (files: Record<string, Map<string, ByteSource>>, lastModified = 1000): Promise<ModelSpec[]> =>
    Promise.all(
      Object.entries(files).map(async ([ref, f]) => ({
        ref,
        files: await Promise.all([...f].map(async ([path, src]) => ({ path, size: src.size, blob: new File([(await src.read(0, src.size)).slice()], path, { lastModified }) }))),
      })),
    );

  test('keeps decoded inputs across calls with the same models, reloads when they change, reports errors as records', async () => {
    const session = new DiagnosticsSession();
    const models = await specs(originals());
    const yaml = (d: number) => recipe(`weight: 1, density: ${d}`, 'weight: 1, density: 0.3', '');
    const first = await session.run(getGpu, { recipe: parseMergekitYaml(yaml(0.2)), models });
    if (!first.ok) throw new Error(first.error.message);
    expect(first.models).toEqual(['org/expert_a', 'org/expert_b']);
    expect(first.tensors.map((t) => t.name).sort()).toEqual(Object.keys(SHAPES).sort());
    expect(first.cache.entries).toBe(3 * Object.keys(SHAPES).length);
    const second = await session.run(getGpu, { recipe: parseMergekitYaml(yaml(0.4)), models });
    if (!second.ok) throw new Error(second.error.message);
    expect(second.cache.entries).toBe(first.cache.entries);
    expect(second.tensors[0].density[0]).toBeCloseTo(Math.floor(0.4 * second.tensors[0].numel) / second.tensors[0].numel, 12);
    // a re-saved expert_b (same names and sizes, a new date): the session reloads it
    const other = await specs({ 'org/expert_b': checkpoint(9, 1) }, 2000);
    const third = await session.run(getGpu, { recipe: parseMergekitYaml(yaml(0.4)), models: [models[0], models[1], other[0]] });
    if (!third.ok) throw new Error(third.error.message);
    expect(third.tensors[0].l1[1]).not.toBe(second.tensors[0].l1[1]);
    const bad = await session.run(getGpu, { recipe: parseMergekitYaml(recipe('weight: 1, block_keep: 9', 'weight: 1, block_keep: 1', 'block_size: 8')), models });
    expect(bad.ok).toBe(false);
    if (!bad.ok) expect(bad.error.message).toMatch(/block_keep must be an integer from 0 to block_size = 8/);
    session.reset();
  });
});

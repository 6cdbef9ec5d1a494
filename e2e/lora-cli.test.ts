// `npm run merge` with LoRA inputs ("model+adapter", mergekit's syntax, both YAML forms): the
// adapter folder resolves like a model folder, is applied while the base streams, and the result
// equals merging a checkpoint with the adapter pre-applied in float64 — identically on the CPU
// engine and on WebGPU. Bad adapters stop before any output exists, naming the file and tensor.
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeTinyLlama, type TinyLlama } from '../tests/fixtures/checkpoints';
import { makeAdapter, safetensorsFile, seeded, type FixtureAdapter, type LoraModuleSpec } from '../tests/fixtures/lora';
import { loraApplyF64 } from '../src/methods/shared/reference/lora';
import { parseSafetensorsHeader } from '../src/formats/safetensors';
import { exists, readOutputFolder, runCli, type CliRun } from './support';

const SHAPE = { layers: 2, hidden: 64, intermediate: 96, vocab: 64 } as const;
const H = SHAPE.hidden;

let tmp: string;
let models: string;
let base: TinyLlama;
let other: TinyLlama;
let adapter: FixtureAdapter;
let applied: Record<string, Float32Array>;
/** |W| + scale·Σₖ|B||A| per element: the magnitude the f32 rounding errors of W + scale·B·A scale with. */
let magnitude: Record<string, Float64Array>;
let lowRank: Record<string, Float32Array>;

const MODULES: LoraModuleSpec[] = [
  { module: 'model.layers.0.self_attn.q_proj', shape: [H, H], rank: 8 },
  { module: 'model.layers.1.self_attn.v_proj', shape: [H, H], rank: 8 },
  { module: 'model.layers.1.mlp.down_proj', shape: [H, SHAPE.intermediate], rank: 8 },
  { module: 'model.embed_tokens', shape: [SHAPE.vocab, H], rank: 4, embedding: true },
];
const CONFIG = { r: 8, lora_alpha: 16, rank_pattern: { embed_tokens: 4 }, target_modules: ['q_proj', 'v_proj', 'down_proj', 'embed_tokens'] };

function describeRun(r: CliRun): string {
  return `exit ${r.code}\n--- stderr ---\n${r.stderr}\n--- stdout ---\n${r.stdout}`;
}

async function writeFolder(dir: string, files: Map<string, Uint8Array>): Promise<void> {
  await mkdir(dir, { recursive: true });
  for (const [p, b] of files) await writeFile(join(dir, p), b);
}

beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'lora-cli-'));
  models = join(tmp, 'models');
  base = await writeTinyLlama(join(models, 'base'), { ...SHAPE, seed: 1, dtype: 'F32' });
  other = await writeTinyLlama(join(models, 'org/other'), { ...SHAPE, seed: 2, dtype: 'F32', perturbFrom: { seed: 1, scale: 0.02 } });
  adapter = makeAdapter({ seed: 3, modules: MODULES, config: CONFIG, scale: 0.2 });
  await writeFolder(join(models, 'adapters/a'), adapter.files);
  // the pre-applied checkpoint: W + (alpha/r)·ΔW in float64, stored as f32
  applied = {};
  magnitude = {};
  for (const name of base.tensorNames) {
    const m = MODULES.find((x) => `${x.module}.weight` === name);
    if (!m) {
      applied[name] = base.values[name];
      magnitude[name] = Float64Array.from(base.values[name], Math.abs);
      continue;
    }
    const f = adapter.factors.get(m.module)!;
    applied[name] = Float32Array.from(loraApplyF64(base.values[name], m.shape[0], m.shape[1], f.a, f.b, f.rank, 16 / f.rank, !!m.embedding));
    magnitude[name] = loraApplyF64(base.values[name].map(Math.abs), m.shape[0], m.shape[1], f.a.map(Math.abs), f.b.map(Math.abs), f.rank, 16 / f.rank, !!m.embedding);
  }
  const dir = join(models, 'applied');
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'model.safetensors'), safetensorsFile(base.tensorNames.map((name) => ({ name, dtype: 'F32', shape: base.shapes[name], values: applied[name] }))));
  for (const f of ['config.json', 'tokenizer.json', 'tokenizer_config.json']) await copyFile(join(models, 'base', f), join(dir, f));
  // adapters that do not fit: made for a wider model, and a LoHa
  await writeFolder(join(models, 'adapters/wide'), makeAdapter({ seed: 4, modules: [{ module: 'model.layers.0.self_attn.q_proj', shape: [H, 2 * H], rank: 4 }], config: { r: 4 } }).files);
  await writeFolder(join(models, 'adapters/loha'), makeAdapter({ seed: 5, modules: MODULES, config: { ...CONFIG, peft_type: 'LOHA' } }).files);
  // a fine-tune whose linear deltas have rank 2 (and whose norms changed): what extraction must recover
  lowRank = {};
  for (const name of base.tensorNames) {
    const shape = base.shapes[name];
    const w = base.values[name];
    if (shape.length === 2 && !/embed_tokens|lm_head/.test(name)) {
      const [m, n] = shape;
      const u = seeded(6, `${name}.u`, m * 2, 0.2);
      const v = seeded(6, `${name}.v`, 2 * n, 0.2);
      lowRank[name] = Float32Array.from(loraApplyF64(w, m, n, v, u, 2, 1, false));
    } else lowRank[name] = Float32Array.from(w, (x, i) => x + (shape.length === 1 ? 0.01 * Math.sin(i) : 0));
  }
  const ftDir = join(models, 'lowrank');
  await mkdir(ftDir, { recursive: true });
  await writeFile(join(ftDir, 'model.safetensors'), safetensorsFile(base.tensorNames.map((name) => ({ name, dtype: 'F32', shape: base.shapes[name], values: lowRank[name] }))));
  for (const f of ['config.json', 'tokenizer.json', 'tokenizer_config.json']) await copyFile(join(models, 'base', f), join(ftDir, f));
}, 120_000);

afterAll(async () => {
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

const recipe = (first: string) => `merge_method: linear\nmodels:\n  - model: ${first}\n    parameters: {weight: 0.6}\n  - model: org/other\n    parameters: {weight: 0.4}\ndtype: float32\n`;

describe('merge CLI with a LoRA adapter', () => {
  it('base+adapter merged with another model: equal to merging the pre-applied checkpoint, and the same bytes on the CPU engine and WebGPU', async () => {
    const lora = join(models, 'lora.yml');
    await writeFile(lora, recipe('base+adapters/a'));
    const mapForm = join(models, 'lora-map.yml');
    await writeFile(mapForm, recipe('{model: base, lora: adapters/a}'));
    const pre = join(models, 'applied.yml');
    await writeFile(pre, recipe('applied'));
    const outs: Record<string, string> = {};
    for (const [name, yml, backend] of [['cpu', lora, 'cpu'], ['webgpu', mapForm, 'webgpu'], ['applied', pre, 'cpu']] as const) {
      outs[name] = join(tmp, `out-${name}`);
      const r = await runCli([yml, '--out', outs[name], '--backend', backend, '--chunk-elements', '4096']);
      expect(r.code, describeRun(r)).toBe(0);
    }
    const cpu = await readFile(join(outs.cpu, 'model.safetensors'));
    const gpu = await readFile(join(outs.webgpu, 'model.safetensors'));
    expect(Buffer.compare(cpu, gpu)).toBe(0);
    // mergekit_config.yml keeps the reference as mergekit writes it
    expect(await readFile(join(outs.cpu, 'mergekit_config.yml'), 'utf8')).toContain('model: base+adapters/a');
    const got = (await readOutputFolder(outs.cpu)).tensors;
    const want = (await readOutputFolder(outs.applied)).tensors;
    let changed = 0;
    for (const [name, t] of got) {
      const a = new Float32Array(t.bytes.slice().buffer);
      const b = new Float32Array(want.get(name)!.bytes.slice().buffer);
      const o = other.values[name];
      const mag = magnitude[name];
      // the adapted weight differs from the float64 one by the f32 rounding of B·A's sum (r ≤ 8
      // terms), the scale and the add: (r + 3)·2⁻²⁴ of |W| + scale·Σ|B||A|, weighted 0.6, plus the
      // rounding of the weighted sum (a few units of the result)
      for (let i = 0; i < a.length; i++) {
        const tol = 2 ** -24 * (11 * 0.6 * mag[i] + 4 * (0.6 * mag[i] + 0.4 * Math.abs(o[i])));
        if (!(Math.abs(a[i] - b[i]) <= tol)) throw new Error(`${name}[${i}]: base+adapter ${a[i]} vs pre-applied ${b[i]} (tolerance ${tol})`);
      }
      if (MODULES.some((m) => `${m.module}.weight` === name)) {
        const plain = 0.6 * base.values[name][0] + 0.4 * o[0];
        if (Math.abs(a[0] - plain) > 1e-4) changed++;
      }
    }
    expect(changed).toBe(MODULES.length);
  }, 300_000);

  it('an adapter that does not fit its base, or is not LoRA, stops before any output exists', async () => {
    for (const [ad, re] of [
      ['adapters/wide', /adapters\/wide\/adapter_model\.safetensors: tensor "base_model\.model\.model\.layers\.0\.self_attn\.q_proj\.lora_A\.weight": shape \[4, 128\], expected \[4, 64\]/],
      ['adapters/loha', /adapters\/loha\/adapter_config\.json: peft_type "LOHA" \(LoHa\) is not supported/],
      ['adapters/none', /model "adapters\/none" not found/],
      ['org/other', /adapter "org\/other" .* is not a PEFT adapter folder: it needs adapter_config\.json and adapter_model\.safetensors \(it holds config\.json: a full model, not an adapter\)/],
    ] as const) {
      const yml = join(models, 'bad.yml');
      await writeFile(yml, recipe(`base+${ad}`));
      const out = join(tmp, 'out-bad');
      const r = await runCli([yml, '--out', out, '--backend', 'cpu']);
      expect(r.code, describeRun(r)).toBe(1);
      expect(r.stderr).toMatch(re);
      expect(await exists(out)).toBe(false);
    }
    const yml = join(models, 'inside.yml');
    await writeFile(yml, recipe('base+adapters/a'));
    const inside = join(models, 'adapters/a/merged');
    const r = await runCli([yml, '--out', inside, '--backend', 'cpu']);
    expect(r.code, describeRun(r)).toBe(1);
    expect(r.stderr).toMatch(/is inside the input adapter folder of "base\+adapters\/a"/);
    expect(await exists(inside)).toBe(false);
  }, 120_000);
});

describe('npm run extract-lora', () => {
  it('extracts a PEFT adapter whose application reproduces a fine-tune with rank-2 deltas, reporting 100% retained energy', async () => {
    const out = join(models, 'extracted');
    const r = await runCli(['lowrank', 'base', '--rank', '4', '--out', out, '--models-dir', models, '--backend', 'cpu'], { script: 'src/cli/extract-lora.ts' });
    expect(r.code, describeRun(r)).toBe(0);
    expect(r.stderr).toMatch(/products on the CPU engine/);
    // the products on WebGPU (the lora_matmul kernel in headless Chromium): the same adapter, byte for byte
    const outGpu = join(tmp, 'extracted-webgpu');
    const g = await runCli(['lowrank', 'base', '--rank', '4', '--out', outGpu, '--models-dir', models, '--backend', 'webgpu'], { script: 'src/cli/extract-lora.ts' });
    expect(g.code, describeRun(g)).toBe(0);
    expect(g.stderr).toMatch(/products on WebGPU/);
    for (const f of ['adapter_model.safetensors', 'adapter_config.json']) expect(Buffer.compare(await readFile(join(out, f)), await readFile(join(outGpu, f))), f).toBe(0);
    const lines = r.stdout.split('\n').filter((l) => / r=\d+: /.test(l));
    expect(lines.length).toBe(7 * SHAPE.layers);
    for (const l of lines) expect(l).toMatch(/r=4: 100\.0000% of the delta's energy retained$/);
    expect(r.stdout).toMatch(/wrote .*: 14 LoRA modules .*energy retained: lowest 100\.0000%/);
    const config = JSON.parse(await readFile(join(out, 'adapter_config.json'), 'utf8'));
    expect(config).toMatchObject({ peft_type: 'LORA', task_type: 'CAUSAL_LM', r: 4, lora_alpha: 4, base_model_name_or_path: 'base', use_rslora: false, fan_in_fan_out: false });
    expect(config.target_modules).toEqual(['down_proj', 'gate_proj', 'k_proj', 'o_proj', 'q_proj', 'up_proj', 'v_proj']);
    expect(config.modules_to_save).toEqual(['embed_tokens', 'input_layernorm', 'lm_head', 'norm', 'post_attention_layernorm']);
    // PEFT's key names and shapes: lora_A [r, in], lora_B [out, r]; modules_to_save whole
    const file = new Uint8Array(await readFile(join(out, 'adapter_model.safetensors')));
    const header = await parseSafetensorsHeader('adapter_model.safetensors', file.length, async (o, l) => file.subarray(o, o + l));
    const shapes = new Map(header.tensors.map((t) => [t.name, t.shape.join('x')]));
    expect(shapes.get('base_model.model.model.layers.1.mlp.down_proj.lora_A.weight')).toBe(`4x${SHAPE.intermediate}`);
    expect(shapes.get('base_model.model.model.layers.1.mlp.down_proj.lora_B.weight')).toBe(`${H}x4`);
    expect(shapes.get('base_model.model.model.embed_tokens.weight')).toBe(`${SHAPE.vocab}x${H}`);
    expect(shapes.get('base_model.model.model.norm.weight')).toBe(`${H}`);
    expect(header.tensors.length).toBe(14 * 2 + 2 + 2 * SHAPE.layers + 1);
    // apply it: base+extracted through the merge command equals the fine-tune up to f32 rounding
    const yml = join(models, 'apply-extracted.yml');
    await writeFile(yml, 'merge_method: linear\nmodels:\n  - model: base+extracted\n    parameters: {weight: 1}\ndtype: float32\n');
    const merged = join(tmp, 'out-extracted');
    const m = await runCli([yml, '--out', merged, '--backend', 'cpu']);
    expect(m.code, describeRun(m)).toBe(0);
    const got = (await readOutputFolder(merged)).tensors;
    for (const name of base.tensorNames) {
      const a = new Float32Array(got.get(name)!.bytes.slice().buffer);
      const want = lowRank[name];
      let scale = 0;
      for (let i = 0; i < want.length; i++) scale = Math.max(scale, Math.abs(want[i]), Math.abs(base.values[name][i]));
      for (let i = 0; i < a.length; i++) if (!(Math.abs(a[i] - want[i]) <= 2e-6 * scale)) throw new Error(`${name}[${i}]: ${a[i]} vs the fine-tune's ${want[i]}`);
    }
  }, 300_000);

  it('a base of another shape is refused naming the tensor, leaving no output', async () => {
    await writeTinyLlama(join(models, 'narrow'), { ...SHAPE, hidden: 32, seed: 7, dtype: 'F32' });
    const out = join(tmp, 'out-narrow');
    const r = await runCli(['lowrank', 'narrow', '--rank', '4', '--out', out, '--models-dir', models], { script: 'src/cli/extract-lora.ts' });
    expect(r.code, describeRun(r)).toBe(1);
    expect(r.stderr).toMatch(/error: Tensor "model\.layers\.0\.mlp\.down_proj\.weight": \[64, 96\] in lowrank but \[32, 96\] in the base narrow/);
    expect(await exists(out)).toBe(false);
    const usage = await runCli(['lowrank', 'base', '--out', out], { script: 'src/cli/extract-lora.ts' });
    expect(usage.code).toBe(2);
    expect(usage.stderr).toMatch(/^error: missing --rank <r>/);
  }, 120_000);
});

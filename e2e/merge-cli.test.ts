// End-to-end tests of the headless merge command (`npm run merge`), run as a child process on
// tiny generated checkpoints. Error paths must exit non-zero with a message naming the culprit
// and leave no output folder; successful merges are re-read and compared tensor by tensor with
// the CPU reference twins, and the folder layout is checked against mergekit's.
import { copyFile, mkdir, mkdtemp, readdir, readFile, rm, symlink, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseMergekitYaml } from '../src/recipe/mergekit-yaml';
import { writeTinyLlama, type TinyLlamaOptions } from '../tests/fixtures/checkpoints';
import { compareWithReference, exists, expectedTensors, leftovers, openModelsNode, readOutputFolder, runCli, type CliRun } from './support';

const SHAPE = { layers: 4, hidden: 64, intermediate: 96, vocab: 64 } as const;

let tmp: string;
let models: string;

function model(name: string): string {
  return join(models, name);
}

async function makeModel(name: string, o: Partial<TinyLlamaOptions> & Pick<TinyLlamaOptions, 'seed' | 'dtype'>) {
  return writeTinyLlama(model(name), { ...SHAPE, ...o });
}

async function writeYaml(name: string, text: string): Promise<string> {
  const p = join(models, name);
  await writeFile(p, text);
  return p;
}

function describeRun(r: CliRun): string {
  return `exit ${r.code}${r.signal ? ` (signal ${r.signal})` : ''}\n--- stderr ---\n${r.stderr}\n--- stdout ---\n${r.stdout}`;
}

/** Merges, then checks every tensor against the reference and returns the folder for more checks. */
async function mergeAndCompare(yamlFile: string, out: string, refs: Record<string, string>, opts: { args?: string[]; maxUlp: number | ((name: string) => number); seed?: number }) {
  const r = await runCli([yamlFile, '--out', out, ...(opts.args ?? [])]);
  expect(r.code, describeRun(r)).toBe(0);
  expect(await leftovers(out)).toEqual([out.split('/').pop()]);
  const folder = await readOutputFolder(out);
  const recipe = parseMergekitYaml(await readFile(yamlFile, 'utf8'), yamlFile);
  const expected = await expectedTensors(recipe, await openModelsNode(refs), opts.seed);
  const mismatches = compareWithReference(folder.tensors, expected, opts.maxUlp);
  expect(mismatches.slice(0, 10)).toEqual([]);
  // mergekit writes tensors in name order.
  expect(folder.order).toEqual([...folder.order].sort());
  // Layout shared by every merge.
  for (const f of ['config.json', 'mergekit_config.yml', 'README.md', 'tokenizer.json', 'tokenizer_config.json']) expect(folder.files, f).toContain(f);
  expect(parseMergekitYaml(await readFile(join(out, 'mergekit_config.yml'), 'utf8'), 'mergekit_config.yml')).toEqual(recipe);
  expect((await readFile(join(out, 'README.md'), 'utf8')).length).toBeGreaterThan(0);
  expect(r.stdout).toMatch(/wrote .*: \d+ files/);
  return { folder, recipe, run: r, expected };
}

beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'merge-cli-'));
  models = join(tmp, 'models');
  await mkdir(models, { recursive: true });
  // F32 family: a base and two fine-tunes (base + small seeded noise).
  await makeModel('base', { seed: 1, dtype: 'F32' });
  await makeModel('org/ft-a', { seed: 2, dtype: 'F32', perturbFrom: { seed: 1, scale: 0.02 } });
  await makeModel('org/ft-b', { seed: 3, dtype: 'F32', perturbFrom: { seed: 1, scale: 0.02 } });
  // BF16 family with tied embeddings.
  await makeModel('bf16/base', { seed: 11, dtype: 'BF16', tied: true });
  await makeModel('bf16/ft-a', { seed: 12, dtype: 'BF16', tied: true, perturbFrom: { seed: 11, scale: 0.02 } });
  await makeModel('bf16/ft-b', { seed: 13, dtype: 'BF16', tied: true, perturbFrom: { seed: 11, scale: 0.02 } });
  // Sharded F32 inputs.
  await makeModel('shard/base', { seed: 21, dtype: 'F32', shardBytes: 100_000 });
  await makeModel('shard/ft', { seed: 22, dtype: 'F32', shardBytes: 100_000, perturbFrom: { seed: 21, scale: 0.02 } });
  // Same layout, narrower hidden size.
  await makeModel('narrow', { seed: 31, dtype: 'F32', hidden: 32 });
  // A copy of the base with its weights truncated by 100 bytes.
  await mkdir(model('broken'), { recursive: true });
  for (const f of ['config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json']) await copyFile(model(`base/${f}`), model(`broken/${f}`));
  const size = (await readFile(model('broken/model.safetensors'))).byteLength;
  await truncate(model('broken/model.safetensors'), size - 100);
}, 120_000);

afterAll(async () => {
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

const LINEAR_YAML = `merge_method: linear
models:
  - model: base
    parameters: {weight: 0.2}
  - model: org/ft-a
    parameters: {weight: 0.3}
  - model: org/ft-b
    parameters: {weight: 0.5}
dtype: float32
`;

describe('merge CLI: argument and input errors', () => {
  it('prints usage and exits 2 on bad arguments', async () => {
    for (const args of [[], ['config.yml'], ['config.yml', '--out'], ['config.yml', '--out', 'x', '--bogus'], ['config.yml', '--out', 'x', '--shard-size', 'lots'], ['a.yml', 'b.yml', '--out', 'x'], ['c.yml', '--out', 'x', '--seed', '-3']]) {
      const r = await runCli(args);
      expect(r.code, `${args.join(' ')}\n${describeRun(r)}`).toBe(2);
      expect(r.stderr).toMatch(/^error: /m);
      expect(r.stderr).toContain('usage: npm run merge');
    }
  });

  it('--help prints usage and exits 0', async () => {
    const r = await runCli(['--help']);
    expect(r.code, describeRun(r)).toBe(0);
    expect(r.stdout).toContain('--shard-size');
  });

  it('exits 1 naming the reference when a model folder is missing, with no output folder', async () => {
    const yml = await writeYaml('missing.yml', LINEAR_YAML.replace('org/ft-b', 'org/not-there@v2'));
    const out = join(tmp, 'out-missing');
    const r = await runCli([yml, '--out', out]);
    expect(r.code, describeRun(r)).toBe(1);
    expect(r.stderr).toContain('org/not-there@v2');
    expect(r.stderr).toContain(join(models, 'org/not-there')); // the path tried
    expect(await leftovers(out)).toEqual([]);
  });

  it('exits 1 naming the key and its line for an unknown YAML key', async () => {
    const yml = await writeYaml('unknown-key.yml', LINEAR_YAML.replace('    parameters: {weight: 0.3}\n', '    parameters: {weight: 0.3}\n    colour: blue\n'));
    const out = join(tmp, 'out-unknown');
    const r = await runCli([yml, '--out', out]);
    expect(r.code, describeRun(r)).toBe(1);
    expect(r.stderr).toMatch(/^error: .*colour/m);
    expect(r.stderr).toMatch(/line 7\b/);
    expect(await leftovers(out)).toEqual([]);
  });

  it('exits 1 naming the file for a truncated safetensors file, with no output folder', async () => {
    const yml = await writeYaml('truncated.yml', LINEAR_YAML.replace('org/ft-b', 'broken'));
    const out = join(tmp, 'out-truncated');
    const r = await runCli([yml, '--out', out]);
    expect(r.code, describeRun(r)).toBe(1);
    expect(r.stderr).toMatch(/^error: .*model\.safetensors/m);
    expect(r.stderr).toMatch(/truncated/i);
    expect(await leftovers(out)).toEqual([]);
  });

  it('exits 1 naming the tensor when models disagree on a shape, with no output folder', async () => {
    const yml = await writeYaml('shape.yml', LINEAR_YAML.replace('org/ft-b', 'narrow'));
    const out = join(tmp, 'out-shape');
    const r = await runCli([yml, '--out', out]);
    expect(r.code, describeRun(r)).toBe(1);
    expect(r.stderr).toMatch(/^error: .*model\.layers\.\d+\.\S+ .*shape/m);
    expect(await leftovers(out)).toEqual([]);
  });

  it('refuses a non-empty --out folder and leaves it untouched', async () => {
    const yml = await writeYaml('linear-refuse.yml', LINEAR_YAML);
    const out = join(tmp, 'out-occupied');
    await mkdir(out, { recursive: true });
    await writeFile(join(out, 'keep.txt'), 'mine');
    const r = await runCli([yml, '--out', out]);
    expect(r.code, describeRun(r)).toBe(1);
    expect(r.stderr).toMatch(/not empty/);
    expect(await readFile(join(out, 'keep.txt'), 'utf8')).toBe('mine');
    expect(await leftovers(out)).toEqual(['out-occupied']);
  });
});

describe('merge CLI: merges match the CPU reference', () => {
  it('linear on three single-file F32 models', async () => {
    const yml = await writeYaml('linear.yml', LINEAR_YAML);
    const out = join(tmp, 'out-linear');
    const { folder, run, expected } = await mergeAndCompare(yml, out, { base: model('base'), 'org/ft-a': model('org/ft-a'), 'org/ft-b': model('org/ft-b') }, { maxUlp: 1 });
    // The comparison is not vacuous: one element off by 1e-6 is caught.
    const t = folder.tensors.get('model.layers.2.mlp.up_proj.weight')!;
    const off = new Float32Array(t.bytes.slice().buffer);
    off[17] += 1e-6;
    const tampered = new Map(folder.tensors).set(t.name, { ...t, bytes: new Uint8Array(off.buffer) });
    expect(compareWithReference(tampered, expected, 1).map((m) => m.tensor)).toEqual([t.name]);
    expect(folder.shards).toEqual(['model.safetensors']);
    expect(folder.index).toBeUndefined();
    expect(folder.config.num_hidden_layers).toBe(SHAPE.layers);
    expect(folder.config.torch_dtype).toBe('float32');
    // Tokenizer copied byte for byte from the first model.
    expect(await readFile(join(out, 'tokenizer.json'))).toEqual(await readFile(model('base/tokenizer.json')));
    // no GPU device on this machine: auto picks the CPU engine and says why, without a browser
    expect(run.stderr).toMatch(/^backend: (CPU engine: \d+ worker threads?, (wasm SIMD|scalar JS) \(no GPU device on this machine\)|WebGPU)/m);
  });

  it('ties on BF16 models (tied embeddings, gradient density, bf16 output)', async () => {
    const yml = await writeYaml(
      'ties.yml',
      `merge_method: ties
base_model: bf16/base
models:
  - model: bf16/ft-a
    parameters:
      density: 0.5
      weight: 0.6
  - model: bf16/ft-b
    parameters:
      density: [0.9, 0.3]
      weight: [{filter: mlp, value: 0.5}, {value: 0.4}]
parameters:
  normalize: true
dtype: float32
out_dtype: bfloat16
`,
    );
    const out = join(tmp, 'out-ties');
    const { folder } = await mergeAndCompare(yml, out, { 'bf16/base': model('bf16/base'), 'bf16/ft-a': model('bf16/ft-a'), 'bf16/ft-b': model('bf16/ft-b') }, { maxUlp: 1 });
    expect(folder.config.torch_dtype).toBe('bfloat16');
    expect(folder.config.tie_word_embeddings).toBe(true);
    expect(folder.tensors.has('lm_head.weight')).toBe(false);
    for (const t of folder.tensors.values()) expect(t.dtype).toBe('BF16');
    expect(await readFile(join(out, 'tokenizer_config.json'))).toEqual(await readFile(model('bf16/base/tokenizer_config.json')));
  });

  it('sharded input, --shard-size forcing sharded output, tiny forced chunks', async () => {
    const yml = await writeYaml(
      'task-arith.yml',
      `merge_method: task_arithmetic
base_model: shard/base
models:
  - model: shard/ft
    parameters:
      weight: 0.7
dtype: float32
`,
    );
    const out = join(tmp, 'out-sharded');
    const shardSize = 150_000;
    const { folder } = await mergeAndCompare(yml, out, { 'shard/base': model('shard/base'), 'shard/ft': model('shard/ft') }, {
      args: ['--shard-size', '150K', '--chunk-elements', '1024'],
      maxUlp: 1,
    });
    expect(folder.shards.length).toBeGreaterThan(1);
    const n = folder.shards.length;
    expect(folder.shards).toEqual(Array.from({ length: n }, (_, i) => `model-${String(i + 1).padStart(5, '0')}-of-${String(n).padStart(5, '0')}.safetensors`));
    expect(folder.files).toContain('model.safetensors.index.json');
    expect(folder.files).not.toContain('model.safetensors');
    // mergekit's rule: a shard exceeds the limit only when it holds a single tensor.
    for (const s of folder.shards) {
      const inShard = [...folder.tensors.values()].filter((t) => t.file === s);
      const bytes = inShard.reduce((a, t) => a + t.bytes.byteLength, 0);
      if (inShard.length > 1) expect(bytes, s).toBeLessThanOrEqual(shardSize);
    }
    expect(folder.config.torch_dtype).toBe('float32');
  });

  it('passthrough frankenmerge with slices', async () => {
    const yml = await writeYaml(
      'franken.yml',
      `merge_method: passthrough
slices:
  - sources:
      - model: base
        layer_range: [0, 3]
  - sources:
      - model: org/ft-a
        layer_range: [1, 4]
`,
    );
    const out = join(tmp, 'out-franken');
    const { folder } = await mergeAndCompare(yml, out, { base: model('base'), 'org/ft-a': model('org/ft-a') }, { maxUlp: 0 });
    expect(folder.config.num_hidden_layers).toBe(6);
    const layers = new Set([...folder.tensors.keys()].map((k) => /^model\.layers\.(\d+)\./.exec(k)?.[1]).filter(Boolean));
    expect([...layers].map(Number).sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5]);
    // Output layer 3 is ft-a's layer 1, bit for bit (checked directly, not only via the reference).
    const src = await readOutputFolder(model('org/ft-a'));
    expect(folder.tensors.get('model.layers.3.mlp.up_proj.weight')!.bytes).toEqual(src.tensors.get('model.layers.1.mlp.up_proj.weight')!.bytes);
    expect(folder.tensors.get('model.layers.0.mlp.up_proj.weight')!.bytes).toEqual(
      (await readOutputFolder(model('base'))).tensors.get('model.layers.0.mlp.up_proj.weight')!.bytes,
    );
  });
});

// Sanity of the helpers themselves: a missing output folder is detected.
it('support: leftovers() sees nothing for a folder that was never written', async () => {
  expect(await exists(join(tmp, 'never'))).toBe(false);
  expect(await leftovers(join(tmp, 'never'))).toEqual([]);
});

describe('--export-cabs', () => {
  it('writes the pruned task vectors as checkpoints plus a mergekit recipe that re-merges to the CABS result bit for bit', async () => {
    const yml = await writeYaml(
      'cabs-export.yml',
      `merge_method: cabs
base_model: base
models:
  - model: org/ft-a
    parameters: {weight: 1.0, block_keep: 2, priority: 1}
  - model: org/ft-b
    parameters: {weight: 0.7, block_keep: 2}
parameters: {block_size: 4}
dtype: float32
`,
    );
    // the CABS merge itself
    const direct = join(tmp, 'out-cabs-direct');
    const r1 = await runCli([yml, '--out', direct]);
    expect(r1.code, describeRun(r1)).toBe(0);
    // the export: one checkpoint folder per pruned model + mergekit_config.yml
    const exp = join(tmp, 'out-cabs-export');
    const r2 = await runCli([yml, '--out', exp, '--export-cabs']);
    expect(r2.code, describeRun(r2)).toBe(0);
    const recipe = parseMergekitYaml(await readFile(join(exp, 'mergekit_config.yml'), 'utf8'), 'mergekit_config.yml');
    expect(recipe.merge_method).toBe('task_arithmetic'); // Σ block_keep ≤ block_size: no overlap
    // re-merge the export with the recipe it wrote (the base resolved beside it)
    await symlink(model('base'), join(exp, 'base'));
    const again = join(tmp, 'out-cabs-again');
    const r3 = await runCli([join(exp, 'mergekit_config.yml'), '--out', again]);
    expect(r3.code, describeRun(r3)).toBe(0);
    const a = await readOutputFolder(direct);
    const b = await readOutputFolder(again);
    expect(b.order).toEqual(a.order);
    for (const name of a.order) expect(Buffer.compare(Buffer.from(b.tensors.get(name)!.bytes), Buffer.from(a.tensors.get(name)!.bytes)), name).toBe(0);
  });

  it('refuses a recipe that is not cabs, before any browser starts', async () => {
    const r = await runCli([await writeYaml('not-cabs.yml', LINEAR_YAML), '--out', join(tmp, 'out-not-cabs'), '--export-cabs']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/--export-cabs needs a cabs recipe/);
  });
});

describe('merge CLI: the CPU engine writes what the WebGPU engine writes', () => {
  const recipes: [string, string, Record<string, string>][] = [
    ['ties-bf16', `merge_method: ties\nbase_model: bf16/base\nmodels:\n  - model: bf16/ft-a\n    parameters: {density: 0.5, weight: 0.6}\n  - model: bf16/ft-b\n    parameters: {density: [0.9, 0.3], weight: 0.4}\nparameters: {normalize: true}\nout_dtype: bfloat16\n`, {}],
    ['dare-ties', `merge_method: dare_ties\nbase_model: bf16/base\nmodels:\n  - model: bf16/ft-a\n    parameters: {density: 0.4, weight: 0.5}\n  - model: bf16/ft-b\n    parameters: {density: 0.6, weight: 0.5}\n`, {}],
    ['della', `merge_method: della_linear\nbase_model: base\nmodels:\n  - model: org/ft-a\n    parameters: {density: 0.5, weight: 0.5, epsilon: 0.1}\n  - model: org/ft-b\n    parameters: {density: 0.6, weight: 0.5, epsilon: 0.2}\n`, {}],
    ['slerp', `merge_method: slerp\nbase_model: base\nmodels:\n  - model: base\n  - model: org/ft-a\nparameters: {t: [0, 0.3, 1]}\n`, {}],
  ];
  for (const [name, yaml] of recipes) {
    it(name, async () => {
      const yml = await writeYaml(`engines-${name}.yml`, yaml);
      const bytes: Uint8Array[] = [];
      for (const backend of ['cpu', 'webgpu']) {
        const out = join(tmp, `engines-${name}-${backend}`);
        const r = await runCli([yml, '--out', out, '--backend', backend, '--seed', '7', '--chunk-elements', '4096']);
        expect(r.code, describeRun(r)).toBe(0);
        expect(r.stderr).toMatch(backend === 'cpu' ? /^backend: CPU engine/m : /^backend: WebGPU/m);
        bytes.push(new Uint8Array(await readFile(join(out, 'model.safetensors'))));
      }
      expect(bytes[0].length).toBe(bytes[1].length);
      expect(Buffer.compare(Buffer.from(bytes[0]), Buffer.from(bytes[1]))).toBe(0);
    });
  }
  it('a method error stops both engines with the same message, leaving no output folder', async () => {
    const yml = await writeYaml('engines-k0.yml', `merge_method: ties\nbase_model: base\nmodels:\n  - model: org/ft-a\n    parameters: {weight: 1, density: 0.0000001}\n`);
    const messages: string[] = [];
    for (const backend of ['cpu', 'webgpu']) {
      const out = join(tmp, `engines-k0-${backend}`);
      const r = await runCli([yml, '--out', out, '--backend', backend]);
      expect(r.code, describeRun(r)).toBe(1);
      messages.push(/^error: (.*)$/m.exec(r.stderr)![1]);
      expect(await leftovers(out)).toEqual([]);
    }
    expect(messages[0]).toMatch(/ties: density 1e-7 keeps floor\(.*\) = 0 elements of tensor ".*" \(model org\/ft-a\)/);
    expect(messages[0]).toBe(messages[1]);
  });
  it('--export-cabs on the CPU engine writes the WebGPU engine\'s folder byte for byte', async () => {
    const yml = await writeYaml(
      'engines-cabs.yml',
      `merge_method: cabs\nbase_model: bf16/base\nmodels:\n  - model: bf16/ft-a\n    parameters: {weight: 1, density: 0.6}\n  - model: bf16/ft-b\n    parameters: {weight: 0.5, density: 0.5, priority: 1}\ndtype: float16\n`,
    );
    const trees: Map<string, Buffer>[] = [];
    for (const backend of ['cpu', 'webgpu']) {
      const out = join(tmp, `engines-cabs-${backend}`);
      const r = await runCli([yml, '--out', out, '--export-cabs', '--backend', backend, '--chunk-elements', '4096']);
      expect(r.code, describeRun(r)).toBe(0);
      expect(r.stderr).toMatch(backend === 'cpu' ? /^backend: CPU engine/m : /^backend: WebGPU/m);
      expect(r.stdout).toMatch(/the CABS-pruned task vectors as checkpoints \+ mergekit_config.yml \(ties\)/);
      expect(await leftovers(out)).toEqual([out.split('/').pop()]);
      const files = (await readdir(out, { recursive: true, withFileTypes: true })).filter((d) => d.isFile()).map((d) => join(d.parentPath, d.name).slice(out.length + 1));
      trees.push(new Map(await Promise.all(files.sort().map(async (f) => [f, await readFile(join(out, f))] as [string, Buffer]))));
    }
    const [cpu, gpu] = trees;
    expect([...cpu.keys()]).toEqual([...gpu.keys()]);
    expect([...cpu.keys()]).toContain('ft-a-cabs/model.safetensors');
    for (const [f, bytes] of gpu) expect(Buffer.compare(cpu.get(f)!, bytes), f).toBe(0);
  });
});


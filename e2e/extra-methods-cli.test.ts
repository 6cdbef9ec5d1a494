// The headless merge command on nearswap, nuslerp, multislerp, karcher, sce, ram(plus_tl) and
// arcee_fusion: plan → GPU → output folder, every tensor compared with the CPU twins; arity errors
// exit 1 before any tensor is read, leaving no output.
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseMergekitYaml } from '../src/recipe/mergekit-yaml';
import { writeTinyLlama } from '../tests/fixtures/checkpoints';
import { compareWithReference, expectedTensors, leftovers, openModelsNode, readOutputFolder, runCli, type CliRun } from './support';

const SHAPE = { layers: 2, hidden: 64, intermediate: 96, vocab: 64 } as const;
let tmp: string;
let models: string;
const model = (name: string) => join(models, name);
const describeRun = (r: CliRun) => `exit ${r.code}\n--- stderr ---\n${r.stderr}\n--- stdout ---\n${r.stdout}`;

beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'merge-extra-'));
  models = join(tmp, 'models');
  await mkdir(models, { recursive: true });
  await writeTinyLlama(model('base'), { ...SHAPE, seed: 41, dtype: 'F32' });
  for (const [i, name] of ['ft-a', 'ft-b', 'ft-c'].entries()) await writeTinyLlama(model(name), { ...SHAPE, seed: 42 + i, dtype: 'F32', perturbFrom: { seed: 41, scale: 0.03 } });
  await writeTinyLlama(model('bf16/base'), { ...SHAPE, seed: 51, dtype: 'BF16' });
  await writeTinyLlama(model('bf16/ft'), { ...SHAPE, seed: 52, dtype: 'BF16', perturbFrom: { seed: 51, scale: 0.05 } });
}, 120_000);

afterAll(async () => {
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

async function merge(name: string, yaml: string, refs: string[], maxUlp: number, args: string[] = []) {
  const yml = join(models, `${name}.yml`);
  await writeFile(yml, yaml);
  const out = join(tmp, `out-${name}`);
  const r = await runCli([yml, '--out', out, ...args]);
  expect(r.code, describeRun(r)).toBe(0);
  const folder = await readOutputFolder(out);
  const recipe = parseMergekitYaml(await readFile(yml, 'utf8'), yml);
  const expected = await expectedTensors(recipe, await openModelsNode(Object.fromEntries(refs.map((m) => [m, model(m)]))));
  expect(compareWithReference(folder.tensors, expected, maxUlp).slice(0, 5)).toEqual([]);
  return folder;
}

describe('merge CLI: the remaining mergekit methods match their CPU twins', () => {
  it('nuslerp (task vectors of a third base, columns) and nearswap, tiny chunks', async () => {
    await merge(
      'nuslerp',
      'merge_method: nuslerp\nbase_model: base\nmodels:\n  - model: ft-a\n    parameters: {weight: 0.3}\n  - model: ft-b\n    parameters: {weight: 0.7}\nparameters:\n  nuslerp_flatten: false\n  nuslerp_row_wise: true\ndtype: float32\n',
      ['base', 'ft-a', 'ft-b'],
      16,
      ['--chunk-elements', '4096'],
    );
    await merge('nearswap', 'merge_method: nearswap\nbase_model: base\nmodels:\n  - model: ft-a\nparameters:\n  t: 0.01\n', ['base', 'ft-a'], 2);
  });

  it('multislerp and karcher', async () => {
    await merge(
      'multislerp',
      'merge_method: multislerp\nbase_model: base\nmodels:\n  - model: ft-a\n    parameters: {weight: 1}\n  - model: ft-b\n    parameters: {weight: 2}\n  - model: ft-c\n    parameters: {weight: 1}\n',
      ['base', 'ft-a', 'ft-b', 'ft-c'],
      16,
    );
    await merge('karcher', 'merge_method: karcher\nmodels:\n  - model: ft-a\n  - model: ft-b\n  - model: base\nparameters:\n  max_iter: 20\n  tol: 1.0e-7\n', ['base', 'ft-a', 'ft-b'], 16);
  });

  it('sce, ram and ramplus_tl', async () => {
    const three = ['base', 'ft-a', 'ft-b', 'ft-c'];
    const body = 'base_model: base\nmodels:\n  - model: ft-a\n  - model: ft-b\n  - model: ft-c\n';
    await merge('sce', `merge_method: sce\n${body}parameters:\n  select_topk: 0.4\n`, three, 4, ['--chunk-elements', '4096']);
    await merge('ram', `merge_method: ram\n${body}parameters:\n  epsilon: 0.02\n`, three, 2);
    await merge('ramplus', `merge_method: ramplus_tl\n${body}parameters:\n  epsilon: 0.02\n  r: 0.5\n`, three, 2);
  });

  it('arcee_fusion writes float32 tensors from bfloat16 inputs unless out_dtype is set', async () => {
    const yml = join(models, 'fusion.yml');
    await writeFile(yml, 'merge_method: arcee_fusion\nbase_model: bf16/base\nmodels:\n  - model: bf16/ft\n');
    const out = join(tmp, 'out-fusion');
    const r = await runCli([yml, '--out', out]);
    expect(r.code, describeRun(r)).toBe(0);
    const folder = await readOutputFolder(out);
    for (const t of folder.tensors.values()) expect(t.dtype, t.name).toBe('F32');
    // every element is the base's or the other model's value
    const base = await readOutputFolder(model('bf16/base'));
    const ft = await readOutputFolder(model('bf16/ft'));
    let taken = 0;
    let total = 0;
    for (const [name, t] of folder.tensors) {
      const v = new Float32Array(t.bytes.slice().buffer);
      const b = bf16(base.tensors.get(name)!.bytes);
      const x = bf16(ft.tensors.get(name)!.bytes);
      for (let i = 0; i < v.length; i++) {
        const other = Math.fround(b[i] + Math.fround(x[i] - b[i]));
        expect(v[i] === b[i] || v[i] === other, `${name}[${i}]`).toBe(true);
        if (v[i] !== b[i]) taken++;
        total++;
      }
    }
    expect(taken).toBeGreaterThan(0);
    expect(taken).toBeLessThan(total / 2);
  });

  it('arity errors exit 1 before any tensor is read and leave no output', async () => {
    const yml = join(models, 'nuslerp-bad.yml');
    await writeFile(yml, 'merge_method: nuslerp\nbase_model: base\nmodels:\n  - model: base\n    parameters: {weight: 1}\n  - model: ft-a\n    parameters: {weight: 1}\n');
    const out = join(tmp, 'out-bad');
    const r = await runCli([yml, '--out', out]);
    expect(r.code, describeRun(r)).toBe(1);
    expect(r.stderr).toMatch(/nuslerp needs exactly 2 models besides the optional base_model/);
    expect(await leftovers(out)).toEqual([]);
  });
});

function bf16(bytes: Uint8Array): Float32Array {
  const h = new Uint16Array(bytes.slice().buffer);
  const out = new Float32Array(h.length);
  const u = new Uint32Array(out.buffer);
  for (let i = 0; i < h.length; i++) u[i] = h[i] << 16;
  return out;
}

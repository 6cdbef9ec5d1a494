// Helpers for the CLI end-to-end tests: run `npm run merge` as a child process, read an output
// folder back, and compute the expected tensors with the CPU reference twins (independently of
// the GPU engine: inputs decoded with the test codec, crops applied here, results encoded here).
import { spawn } from 'node:child_process';
import { readFile, readdir, stat } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { openModel } from '../src/formats/model';
import { parseSafetensorsHeader, SHARD_INDEX_FILE, SINGLE_SHARD_FILE } from '../src/formats/safetensors';
import { nodeModelFiles } from '../src/io/node-source';
import { referenceMerge } from '../src/methods/reference';
import { buildPlan, readTokenizerTexts } from '../src/recipe/plan';
import type { ModelInfo } from '../src/formats/model-info';
import type { PlanEntry, PlanInput } from '../src/recipe/plan-types';
import type { Recipe } from '../src/recipe/types';
import { decodeToF32, elementBits, encodeF32, roundTo, ulpDistance, type FixtureDtype } from '../tests/fixtures/dtype-codec';

export const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..');

export interface CliRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs `tsx src/cli/merge.ts <args>` (what `npm run merge -- <args>` runs) and collects its output. */
export function runCli(args: string[], opts: { timeoutMs?: number; env?: NodeJS.ProcessEnv; script?: string } = {}): Promise<CliRun> {
  return new Promise((ok, fail) => {
    const child = spawn(join(REPO, 'node_modules/.bin/tsx'), [opts.script ?? 'src/cli/merge.ts', ...args], {
      cwd: REPO,
      // hermetic: no test reaches the real Hub (the Hub tests point HF_ENDPOINT at the fake one and clear this)
      env: { ...process.env, HF_HUB_OFFLINE: '1', ...opts.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 240_000);
    child.on('error', (e) => {
      clearTimeout(timer);
      fail(e);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      ok({ code, signal, stdout, stderr });
    });
  });
}

export async function exists(p: string): Promise<boolean> {
  return stat(p).then(
    () => true,
    () => false,
  );
}

/** Entries of `dir`'s parent that look like leftovers of an output named `dir` (temporary folders). */
export async function leftovers(dir: string): Promise<string[]> {
  const name = basename(dir);
  const names = await readdir(dirname(dir)).catch(() => [] as string[]);
  return names.filter((n) => n === name || n.startsWith(`${name}.partial-`) || n.startsWith(`.${name}.partial-`));
}

// ---- reading an output folder -----------------------------------------------------------------

export interface StoredTensor {
  name: string;
  dtype: FixtureDtype;
  shape: number[];
  bytes: Uint8Array;
  file: string;
}

export interface OutputFolder {
  files: string[];
  shards: string[];
  index?: { metadata: { total_size: number; [k: string]: unknown }; weight_map: Record<string, string> };
  tensors: Map<string, StoredTensor>;
  /** Tensor names in file order (shard by shard). */
  order: string[];
  config: Record<string, unknown>;
}

/** Reads and validates an output folder: shards (single or indexed), every tensor's bytes, config. */
export async function readOutputFolder(dir: string): Promise<OutputFolder> {
  const files = (await readdir(dir)).sort();
  let index: OutputFolder['index'];
  let shards: string[];
  if (files.includes(SHARD_INDEX_FILE)) {
    index = JSON.parse(await readFile(join(dir, SHARD_INDEX_FILE), 'utf8'));
    shards = [...new Set(Object.values(index!.weight_map))].sort();
  } else {
    if (!files.includes(SINGLE_SHARD_FILE)) throw new Error(`${dir} has neither ${SINGLE_SHARD_FILE} nor ${SHARD_INDEX_FILE} (files: ${files.join(', ')})`);
    shards = [SINGLE_SHARD_FILE];
  }
  const tensors = new Map<string, StoredTensor>();
  const order: string[] = [];
  for (const s of shards) {
    const buf = new Uint8Array(await readFile(join(dir, s)));
    const header = await parseSafetensorsHeader(s, buf.byteLength, async (o, l) => {
      if (o + l > buf.byteLength) throw new Error(`${s}: read past the end`);
      return buf.subarray(o, o + l);
    });
    const dataEnd = header.tensors.reduce((m, t) => Math.max(m, t.end), 0);
    if (header.dataStart + dataEnd !== buf.byteLength) throw new Error(`${s}: ${buf.byteLength - header.dataStart - dataEnd} trailing bytes after the tensor data`);
    for (const t of header.tensors) {
      if (tensors.has(t.name)) throw new Error(`tensor ${t.name} appears in two shards`);
      if (index && index.weight_map[t.name] !== s) throw new Error(`index maps ${t.name} to ${index.weight_map[t.name]}, but it is in ${s}`);
      tensors.set(t.name, { name: t.name, dtype: t.dtype as FixtureDtype, shape: t.shape, bytes: buf.slice(header.dataStart + t.begin, header.dataStart + t.end), file: s });
      order.push(t.name);
    }
  }
  if (index) {
    for (const name of Object.keys(index.weight_map)) if (!tensors.has(name)) throw new Error(`index lists ${name}, which no shard holds`);
    const total = [...tensors.values()].reduce((n, t) => n + t.bytes.byteLength, 0);
    if (index.metadata.total_size !== total) throw new Error(`index total_size ${index.metadata.total_size} ≠ ${total} bytes of tensor data`);
  }
  const config = files.includes('config.json') ? (JSON.parse(await readFile(join(dir, 'config.json'), 'utf8')) as Record<string, unknown>) : {};
  return { files, shards, index, tensors, order, config };
}

// ---- expected values from the CPU reference ---------------------------------------------------

/** Opens model folders the way the engine does (headers only), keyed by the recipe's refs. */
export async function openModelsNode(dirs: Record<string, string>): Promise<Map<string, ModelInfo>> {
  const models = new Map<string, ModelInfo>();
  for (const [ref, dir] of Object.entries(dirs)) models.set(ref, await openModel(ref, basename(dir), await nodeModelFiles(dir)));
  return models;
}

/** The plan the engine builds for this recipe (same options as merge/run.ts). */
export async function planFor(recipe: Recipe, models: Map<string, ModelInfo>, seed?: number) {
  const needsVocab = recipe.tokenizer !== undefined || recipe.tokenizer_source !== undefined;
  return buildPlan(recipe, models, { seed, tokenizerTexts: needsVocab ? await readTokenizerTexts(models) : undefined });
}

/** Input i of an entry, decoded to f32, cropped, and rounded to the compute dtype. */
export async function decodeInput(entry: PlanEntry, inp: PlanInput): Promise<Float32Array> {
  const t = inp.tensor;
  const raw = await t.source.read(t.byteOffset, t.byteLength);
  let data = decodeToF32(raw, t.dtype as FixtureDtype);
  if (inp.crop) {
    const [rows, cols] = inp.crop;
    const fullCols = t.shape[t.shape.length - 1];
    const out = new Float32Array(rows * cols);
    for (let r = 0; r < rows; r++) out.set(data.subarray(r * fullCols, r * fullCols + cols), r * cols);
    data = out;
  }
  if (entry.computeDtype && entry.computeDtype !== t.dtype && entry.computeDtype !== 'F32') data = roundTo(data, entry.computeDtype);
  return data;
}

export interface Expected {
  entry: PlanEntry;
  /** Reference result encoded to the entry's output dtype. */
  bytes: Uint8Array;
  /** Per element, the largest |input| (the scale f32 rounding errors of the arithmetic live at). */
  scale: Float32Array;
}

export async function expectedTensors(recipe: Recipe, models: Map<string, ModelInfo>, seed?: number): Promise<Map<string, Expected>> {
  const plan = await planFor(recipe, models, seed);
  const out = new Map<string, Expected>();
  for (const entry of plan.entries) {
    const inputs = [];
    for (const inp of entry.inputs) inputs.push({ data: await decodeInput(entry, inp), isBase: inp.isBase, params: inp.params, shape: entry.shape });
    const result = referenceMerge({ name: entry.name, method: entry.method, shape: entry.shape, inputs, params: entry.params });
    const scale = new Float32Array(result.length);
    for (const inp of inputs) for (let i = 0; i < scale.length; i++) scale[i] = Math.max(scale[i], Math.abs(inp.data[i]));
    out.set(entry.name, { entry, bytes: encodeF32(result, entry.outDtype), scale });
  }
  return out;
}

export interface Mismatch {
  tensor: string;
  problem: string;
}

/** One unit in the last place of an f32 of magnitude |x|. */
export function ulpF32(x: number): number {
  const a = Math.abs(x);
  if (a < 2 ** -126) return 2 ** -149;
  return 2 ** (Math.floor(Math.log2(a)) - 23);
}

/**
 * Compares every stored tensor with the reference: same set of names, dtype, shape, and values
 * within `maxUlp` units in the last place of the output dtype (0 = bit-exact).
 *
 * The engine does its arithmetic in f32, the reference in f64, so where inputs cancel (task
 * vectors, weighted sums near zero) the output's own ulp is far too strict a unit: an element
 * also passes when |actual − reference| ≤ maxUlp · (inputs + 1) f32 ulps of its largest input
 * (the rounding error any f32 evaluation of the same formula may carry). maxUlp 0 is always exact.
 */
export function compareWithReference(actual: Map<string, StoredTensor>, expected: Map<string, Expected>, maxUlp: number | ((name: string) => number)): Mismatch[] {
  const bad: Mismatch[] = [];
  for (const name of expected.keys()) if (!actual.has(name)) bad.push({ tensor: name, problem: 'missing from the output' });
  for (const [name, t] of actual) {
    const e = expected.get(name);
    if (!e) {
      bad.push({ tensor: name, problem: 'not in the plan' });
      continue;
    }
    if (t.dtype !== e.entry.outDtype) bad.push({ tensor: name, problem: `dtype ${t.dtype}, expected ${e.entry.outDtype}` });
    if (t.shape.join(',') !== e.entry.shape.join(',')) bad.push({ tensor: name, problem: `shape [${t.shape}], expected [${e.entry.shape}]` });
    if (t.bytes.byteLength !== e.bytes.byteLength) {
      bad.push({ tensor: name, problem: `${t.bytes.byteLength} bytes, expected ${e.bytes.byteLength}` });
      continue;
    }
    const limit = typeof maxUlp === 'function' ? maxUlp(name) : maxUlp;
    const a = elementBits(t.bytes, t.dtype);
    const b = elementBits(e.bytes, t.dtype);
    const av32 = decodeToF32(t.bytes, t.dtype);
    const bv32 = decodeToF32(e.bytes, t.dtype);
    const terms = e.entry.inputs.length + 1;
    let worst = 0;
    let at = -1;
    for (let i = 0; i < a.length; i++) {
      let d = a[i] === b[i] ? 0 : ulpDistance(a[i], b[i], t.dtype);
      if (d > limit && limit > 0 && Math.abs(av32[i] - bv32[i]) <= limit * terms * ulpF32(e.scale[i])) d = 0;
      if (d > worst) {
        worst = d;
        at = i;
      }
    }
    if (worst > limit) {
      bad.push({
        tensor: name,
        problem: `element ${at}: ${av32[at]} vs reference ${bv32[at]} (${worst} ulp ${t.dtype}, allowed ${limit}; largest input ${e.scale[at]})`,
      });
    }
  }
  return bad;
}

// `npm run extract-lora -- <finetune> <base> --rank r --out <dir>`: mergekit-extract-lora's job.
// A rank-r PEFT LoRA adapter (adapter_config.json + adapter_model.safetensors with PEFT's key
// names, README.md) whose B·A approximates fine-tune − base per linear module, by randomized SVD
// (merge/extract-lora.ts) with the products on the CPU engine's twin of the lora_matmul kernel.
// Embeddings, lm_head, norms and biases are saved whole (modules_to_save), as mergekit does.
// Prints the retained energy per module. Exit codes: 0 done, 1 error (no output left), 2 usage.
import { mkdir, open, rename, rm, writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { StudioError } from '../errors';
import { isMergeable, type Dtype } from '../formats/dtype';
import { ADAPTER_CONFIG, ADAPTER_WEIGHTS } from '../formats/lora';
import { buildSafetensorsHeader } from '../formats/safetensors';
import { encodeValues } from '../backends/cpu/encode';
import { cpuMatmul, decomposeDelta, deltaOf, extractedConfig, planExtraction, readTensorValues, storedFactor, type Decomposition, type ExtractOptions as DecomposeOptions } from '../merge/extract-lora';
import type { TensorInfo } from '../formats/model-info';
import { parseBackend, parseInteger, parseOrExit, UsageError, walkArgs, type ArgOption, type BackendChoice } from './args';
import { modelSpecOf, openResolved, resolveModel, type ResolvedModel } from './models';
import { REPO_ROOT } from './merge';
import { mayHaveHardwareGpu } from './node-merge';
import { startCliServer, type CliServer } from './server';
import { CHROMIUM_ARGS, findChromium } from '../browser';
import type { Browser } from 'playwright-core';
import { outputTargetProblem } from './output-dir';
import { formatDuration } from './progress';

export const USAGE = `usage: npm run extract-lora -- <finetune> <base> --rank <r> --out <dir> [options]

Extracts a rank-r LoRA adapter (PEFT layout) whose update B·A approximates <finetune> − <base>
for every linear weight. Embeddings, lm_head, norms and biases are saved whole (modules_to_save).
<finetune> and <base> are model folders (or "model+adapter"), resolved like the merge command's.

options:
  --rank <r>               the LoRA rank (required); a module keeps min(r, rows, cols)
  --out, -o <dir>          the adapter folder to write (must not exist or be empty)
  --models-dir <dir>       where relative model references are looked up (default: .)
  --oversample <p>         extra columns of the randomized range finder (default 10)
  --power-iterations <q>   power iterations of the range finder (default 2)
  --seed <n>               seed of the random test matrices (default 0)
  --backend <b>            where the products run: cpu (the CPU engine), webgpu (the lora_matmul kernel
                           in headless Chromium; same bits), or auto (default: webgpu on a GPU machine)
  -h, --help               this text
`;

export interface ExtractOptions {
  finetune: string;
  base: string;
  rank: number;
  out: string;
  modelsDir?: string;
  oversample?: number;
  powerIterations?: number;
  seed?: number;
  backend?: BackendChoice;
}

export function parseExtractArgs(argv: readonly string[]): ExtractOptions | 'help' {
  const o: Partial<ExtractOptions> = {};
  const option = ({ flag: a, value }: ArgOption): boolean | 'help' => {
    switch (a) {
      case '-h':
      case '--help':
        return 'help';
      case '--rank':
      case '-r':
        o.rank = parseInteger('--rank', value(), 1);
        break;
      case '--out':
      case '-o':
        o.out = value();
        break;
      case '--models-dir':
        o.modelsDir = value();
        break;
      case '--oversample':
        o.oversample = parseInteger(a, value(), 0);
        break;
      case '--power-iterations':
        o.powerIterations = parseInteger(a, value(), 0);
        break;
      case '--seed':
        o.seed = parseInteger(a, value(), 0);
        break;
      case '--backend':
        o.backend = parseBackend(value());
        break;
      default:
        return false;
    }
    return true;
  };
  const positional = walkArgs(argv, option, { '-r': '--rank', '-o': '--out' });
  if (positional === 'help') return 'help';
  if (positional.length !== 2) throw new UsageError(`expected <finetune> <base>, got ${positional.length} argument${positional.length === 1 ? '' : 's'}`);
  if (o.rank === undefined) throw new UsageError('missing --rank <r>');
  if (!o.out) throw new UsageError('missing --out <dir>');
  return { ...o, finetune: positional[0], base: positional[1], rank: o.rank, out: o.out };
}

export interface CliIo {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
}

export interface ModuleReport {
  module: string;
  shape: [number, number];
  rank: number;
  retained: number;
  singular: number[];
}

/** Runs an extraction; returns the per-module report (throws StudioError / Error on failure, leaving no output). */
/** Decomposes one module's delta (the products on some engine); the default runs the CPU twin in this process. */
export type Decomposer = (module: string, tuned: TensorInfo, base: TensorInfo, options: DecomposeOptions) => Promise<Decomposition>;

const cpuDecomposer: Decomposer = async (module, tuned, base, options) => {
  const [t, b] = [await readTensorValues(tuned), await readTensorValues(base)];
  const [rows, cols] = tuned.shape;
  return decomposeDelta(deltaOf(t, b), rows, cols, module, options, cpuMatmul);
};

/**
 * Runs an extraction; returns the per-module report (throws StudioError / Error on failure, leaving
 * no output). `engine(models)` may supply another decomposer once the folders are resolved.
 */
export async function extractLora(o: ExtractOptions, log: (line: string) => void = () => {}, engine?: (models: ResolvedModel[]) => Promise<Decomposer>): Promise<ModuleReport[]> {
  const modelsDir = resolve(o.modelsDir ?? '.');
  const [tunedRef, baseRef] = [await resolveModel(o.finetune, modelsDir), await resolveModel(o.base, modelsDir)];
  const [tuned, base] = [await openResolved(tunedRef), await openResolved(baseRef)];
  const plan = planExtraction(tuned, base, o.rank);
  if (plan.modules.length === 0) throw new StudioError('model', `${o.finetune} has no linear weights to decompose`, { model: o.finetune });
  for (const m of plan.modules)
    for (const t of [m.tuned, m.base]) if (!isMergeable(t.dtype)) throw new StudioError('unsupported-dtype', `${t.source.name}: tensor "${t.name}" has dtype ${t.dtype}; only F32, F16 and BF16 can be decomposed`, { tensor: t.name });
  const out = resolve(o.out);
  const problem = await outputTargetProblem(out);
  if (problem) throw new StudioError('io', `refusing to write the output: ${problem}`);
  const decomposer = engine ? await engine([tunedRef, baseRef]) : cpuDecomposer;
  const options: DecomposeOptions = { rank: o.rank, oversample: o.oversample, powerIterations: o.powerIterations, seed: o.seed };

  // the header first: every tensor's shape is known before any data is read
  type Item = { name: string; dtype: Dtype | string; shape: number[]; write: () => Promise<Uint8Array> };
  const items: Item[] = [];
  const done = new Map<string, Promise<Decomposition>>();
  const reports: ModuleReport[] = [];
  const decompose = (m: (typeof plan.modules)[number]) => {
    let p = done.get(m.module);
    if (!p) {
      p = (async () => {
        const [rows, cols] = m.tuned.shape;
        const d = await decomposer(m.module, m.tuned, m.base, options);
        reports.push({ module: m.module, shape: [rows, cols], rank: d.rank, retained: d.retained, singular: d.singular });
        log(`  ${m.module} [${rows}, ${cols}] r=${d.rank}: ${(100 * d.retained).toFixed(4)}% of the delta's energy retained`);
        return d;
      })();
      done.set(m.module, p);
    }
    return p;
  };
  for (const m of plan.modules) {
    const dtype = m.tuned.lora ? 'F32' : (m.tuned.dtype as Dtype);
    const [rows, cols] = m.tuned.shape;
    items.push({ name: `base_model.model.${m.module}.lora_A.weight`, dtype, shape: [m.rank, cols], write: async () => encodeValues(storedFactor((await decompose(m)).a, dtype), dtype) });
    items.push({ name: `base_model.model.${m.module}.lora_B.weight`, dtype, shape: [rows, m.rank], write: async () => encodeValues(storedFactor((await decompose(m)).b, dtype), dtype) });
  }
  for (const w of plan.whole) {
    const t = w.tensor;
    // a "model+adapter" fine-tune's adapted tensors are written as f32 (its merged values)
    if (t.lora) items.push({ name: `base_model.model.${w.name}`, dtype: 'F32', shape: t.shape, write: async () => encodeValues(await readTensorValues(t), 'F32') });
    else items.push({ name: `base_model.model.${w.name}`, dtype: t.dtype, shape: t.shape, write: () => t.source.read(t.byteOffset, t.byteLength) });
  }
  items.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const layout = buildSafetensorsHeader(items.map((i) => ({ name: i.name, dtype: i.dtype as Dtype, shape: i.shape })), { format: 'pt' });

  const temp = `${out}.partial-${process.pid}`;
  await rm(temp, { recursive: true, force: true });
  await mkdir(temp, { recursive: true });
  try {
    const fh = await open(resolve(temp, ADAPTER_WEIGHTS), 'w');
    try {
      await fh.write(layout.bytes);
      for (const [i, item] of items.entries()) {
        const bytes = await item.write();
        const expect = layout.offsets[i].end - layout.offsets[i].begin;
        if (bytes.byteLength !== expect) throw new Error(`internal error: ${item.name} has ${bytes.byteLength} bytes, its header says ${expect}`);
        await fh.write(bytes);
      }
    } finally {
      await fh.close();
    }
    const ranks = new Map(plan.modules.map((m) => [m.module, m.rank]));
    const config = extractedConfig(o.base, ranks, plan.modulesToSave);
    if (plan.whole.some((w) => w.name.endsWith('.bias') && ranks.has(w.name.slice(0, -'.bias'.length)))) config.bias = 'all';
    await writeFile(resolve(temp, ADAPTER_CONFIG), JSON.stringify(config, null, 2) + '\n');
    reports.sort((a, b) => (a.module < b.module ? -1 : a.module > b.module ? 1 : 0));
    const min = reports.reduce((m, r) => Math.min(m, r.retained), 1);
    await writeFile(
      resolve(temp, 'README.md'),
      `---\nbase_model: ${o.base}\nlibrary_name: peft\ntags:\n- lora\n- merge-studio\n---\n\n# LoRA extracted from ${o.finetune}\n\n` +
        `A rank-${o.rank} LoRA adapter approximating \`${o.finetune}\` − \`${o.base}\` (randomized SVD per linear module; ` +
        `${plan.modulesToSave.length ? `saved whole: ${plan.modulesToSave.join(', ')}` : 'no module saved whole'}).\n\n` +
        `| module | shape | rank | energy retained |\n|---|---|---|---|\n` +
        reports.map((r) => `| ${r.module} | ${r.shape.join('×')} | ${r.rank} | ${(100 * r.retained).toFixed(4)}% |`).join('\n') +
        `\n\nLowest retained energy: ${(100 * min).toFixed(4)}%.\n`,
    );
    await rename(temp, out);
  } catch (e) {
    await rm(temp, { recursive: true, force: true });
    throw e;
  }
  return reports;
}

/** Runs the command; resolves to the exit code. Never throws. */
export async function main(argv: readonly string[], io: CliIo = { stdout: process.stdout, stderr: process.stderr }): Promise<number> {
  const parsed = parseOrExit(() => parseExtractArgs(argv), USAGE, io);
  if (typeof parsed === 'number') return parsed;
  const started = Date.now();
  const choice = parsed.backend ?? 'auto';
  const webgpu = choice === 'webgpu' || (choice === 'auto' && mayHaveHardwareGpu());
  let server: CliServer | undefined;
  let browser: Browser | undefined;
  // WebGPU: the page reads the two models from the CLI's server and runs each module's products on its GPU
  const onWebGpu = async (models: ResolvedModel[]): Promise<Decomposer> => {
    server = await startCliServer({ root: REPO_ROOT, models });
    const { chromium } = await import('playwright-core');
    browser = await chromium.launch({ executablePath: findChromium(), args: CHROMIUM_ARGS, headless: true });
    const page = await browser.newPage();
    await page.goto(`${server.origin}/cli.html`);
    await page.waitForFunction(() => window.__engineReady === true, null, { timeout: 120_000 });
    const specs = models.map((m, i) => modelSpecOf(m, i, server!.modelsUrl));
    return async (module, _tuned, _base, options) => {
      const r = await page.evaluate((req) => window.extractLoraModule(req), { models: specs, module, options });
      return { ...r, a: Float32Array.from(r.a), b: Float32Array.from(r.b) };
    };
  };
  try {
    io.stderr.write(`extracting a rank-${parsed.rank} LoRA: ${parsed.finetune} − ${parsed.base} (products on ${webgpu ? 'WebGPU, the lora_matmul kernel in headless Chromium' : 'the CPU engine'}; --backend ${choice})\n`);
    const reports = await extractLora(parsed, (l) => io.stdout.write(l + '\n'), webgpu ? onWebGpu : undefined);
    const min = reports.reduce((m, r) => Math.min(m, r.retained), 1);
    const mean = reports.reduce((a, r) => a + r.retained, 0) / reports.length;
    io.stdout.write(`wrote ${parsed.out}: ${reports.length} LoRA modules in ${formatDuration(Date.now() - started)}; energy retained: lowest ${(100 * min).toFixed(4)}%, mean ${(100 * mean).toFixed(4)}%\n`);
    return 0;
  } catch (e) {
    io.stderr.write(`error: ${e instanceof Error ? e.message : String(e)}\n`);
    return 1;
  } finally {
    await (browser as Browser | undefined)?.close().catch(() => {});
    await (server as CliServer | undefined)?.close().catch(() => {});
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (e) => {
      process.stderr.write(`error: ${e instanceof Error ? e.message : String(e)}\n`);
      process.exit(1);
    },
  );
}

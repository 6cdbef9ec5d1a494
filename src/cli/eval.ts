// `npm run eval -- <model-dir | config.yml> <eval.jsonl>... [--limit N] [--out results.json]`:
// the headless companion of the studio's "Try it". Node checks everything it can first (the
// architecture, the weights the graph needs, the tokenizer against config.json, every JSONL line),
// then drives the same engine worker as the studio in headless Chromium: a config is merged on the
// GPU and never written; the eval sets are scored through onnxruntime-web on the same device.
// Exit codes: 0 success, 1 bad input or evaluation error, 2 bad arguments, 130 interrupted.
import { readFile, stat, writeFile } from 'node:fs/promises';
import { basename, dirname, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Browser } from 'playwright-core';
import { findChromium, CHROMIUM_ARGS } from '../browser';
import { EvalError, StudioError } from '../errors';
import { parseMergekitYaml } from '../recipe/mergekit-yaml';
import type { ModelInfo } from '../formats/model-info';
import type { Recipe } from '../recipe/types';
import { buildPlan, readTokenizerTexts } from '../recipe/plan';
import { graphWeights, parseArch } from '../eval/arch';
import { loadTokenizer } from '../eval/tokenizer';
import { parseEvalSet } from '../eval/evalset';
import { checkTokenization, unscorableError } from '../eval/tokenization-check';
import type { EvalTarget } from '../eval/target';
import type { EvaluateReply, EvaluateRequest, GpuReport } from '../worker/api';
import { EVAL_USAGE, parseEvalArgs, type EvalCliOptions } from './eval-args';
import { parseOrExit } from './args';
import { modelSpecOf, openResolved, recipeModelRefs, resolveModel, resolveModelRef, type ResolvedModel } from './models';
import { CliHub } from './hub';
import { formatDuration } from './progress';
import { startCliServer, type CliServer } from './server';
import { REPO_ROOT } from './merge';

class CliFailure extends Error {
  override name = 'CliFailure';
}

function messageOf(e: unknown): string {
  if (e instanceof StudioError || e instanceof CliFailure) return e.message;
  if (e instanceof Error) return e.name && e.name !== 'Error' ? `${e.name}: ${e.message}` : e.message;
  return String(e);
}

export interface EvalPlan {
  target: EvalTarget;
  models: ResolvedModel[];
  sets: { name: string; text: string }[];
  label: string;
}

async function openInfos(models: ResolvedModel[]): Promise<Map<string, ModelInfo>> {
  const infos = new Map<string, ModelInfo>();
  for (const m of models) infos.set(m.ref, await openResolved(m));
  return infos;
}

/** Everything checked in Node before a browser starts. */
export async function prepareEval(o: EvalCliOptions): Promise<EvalPlan> {
  const targetPath = resolve(o.target);
  const st = await stat(targetPath).catch(() => undefined);
  if (!st) throw new CliFailure(`${o.target}: no such file or folder`);
  let target: EvalTarget;
  let models: ResolvedModel[];
  let config: Record<string, unknown>;
  let tokModel: ModelInfo;
  let weightNames: Set<string>;
  let label: string;
  if (st.isDirectory()) {
    const m = await resolveModel(targetPath, dirname(targetPath));
    models = [m];
    const info = (await openInfos(models)).get(m.ref)!;
    target = { kind: 'model', ref: m.ref };
    config = info.config;
    tokModel = info;
    weightNames = new Set(info.tensors.keys());
    label = basename(targetPath);
  } else {
    let recipe: Recipe;
    try {
      recipe = parseMergekitYaml(await readFile(targetPath, 'utf8'), basename(targetPath));
    } catch (e) {
      throw new CliFailure(`${basename(targetPath)}: ${messageOf(e)}`);
    }
    const modelsDir = resolve(o.modelsDir ?? dirname(targetPath));
    models = [];
    // Hub references resolve as in `npm run merge` (HF_ENDPOINT, HF_TOKEN, the default cache)
    let hub: CliHub | undefined;
    const hubFor = async (ref: string) => {
      hub ??= await CliHub.open({});
      return hub.resolve(ref);
    };
    for (const ref of recipeModelRefs(recipe)) models.push(await resolveModelRef(ref, modelsDir, hubFor));
    const infos = await openInfos(models);
    const needsVocab = recipe.tokenizer !== undefined || recipe.tokenizer_source !== undefined;
    const plan = buildPlan(recipe, infos, { seed: o.seed, tokenizerTexts: needsVocab ? await readTokenizerTexts(infos) : undefined });
    target = { kind: 'recipe', recipe, seed: o.seed };
    config = plan.config;
    const tokRef = plan.tokenizerFrom ?? recipe.base_model ?? recipeModelRefs(recipe)[0];
    tokModel = infos.get(tokRef)!;
    weightNames = new Set(plan.entries.map((e) => e.name));
    label = `${basename(targetPath)} (${recipe.merge_method} merge, not written)`;
  }
  const configFile = `${tokModel.name}/config.json`;
  const arch = parseArch(config, configFile);
  for (const w of graphWeights(arch))
    if (!weightNames.has(w.name)) throw new EvalError(`${label}: the evaluation graph for ${configFile} needs tensor "${w.name}", which the ${st.isDirectory() ? 'checkpoint' : 'merge'} does not provide`, { tensor: w.name });
  const tokJson = tokModel.files.get('tokenizer.json');
  if (!tokJson) throw new EvalError(`${tokModel.name}: no tokenizer.json beside the weights, so the eval sets cannot be tokenized`, { file: `${tokModel.name}/tokenizer.json` });
  const tokCfg = tokModel.files.get('tokenizer_config.json');
  const tok = loadTokenizer({
    tokenizerJson: await tokJson.text(),
    tokenizerConfig: tokCfg ? await tokCfg.text() : undefined,
    file: `${tokModel.name}/tokenizer.json`,
    vocabSize: arch.vocabSize,
    eosTokenId: config.eos_token_id as number | number[] | undefined,
    bosTokenId: config.bos_token_id as number | undefined,
    padTokenId: config.pad_token_id as number | undefined,
  });
  const sets: { name: string; text: string }[] = [];
  for (const file of o.sets) {
    let text: string;
    try {
      text = await readFile(resolve(file), 'utf8');
    } catch (e) {
      throw new CliFailure(`cannot read the eval set ${file}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : messageOf(e)}`);
    }
    const name = basename(file);
    const set = parseEvalSet(name, text);
    const err = unscorableError(checkTokenization(tok, set), tok.file);
    if (err) throw err;
    if (o.mode === 'teacher-forced' && set.kind === 'exact') {
      const bad = set.items.find((it) => it.extract && it.extract !== 'exact');
      if (bad) throw new EvalError(`${name}, line ${bad.line}: --mode teacher-forced needs exact answers; this item uses another extraction (use --mode generate)`, { file: name, line: bad.line });
    }
    sets.push({ name, text });
  }
  return { target, models, sets, label };
}

export interface CliIo {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
}

function pct(x: number | undefined): string {
  return x === undefined ? '–' : `${(100 * x).toFixed(1)}%`;
}

export async function main(argv: readonly string[], io: CliIo = { stdout: process.stdout, stderr: process.stderr }): Promise<number> {
  const err = (s: string) => io.stderr.write(s + '\n');
  const parsed = parseOrExit(() => parseEvalArgs(argv), EVAL_USAGE, io);
  if (typeof parsed === 'number') return parsed;
  const o: EvalCliOptions = parsed;
  const started = Date.now();
  let server: CliServer | undefined;
  let browser: Browser | undefined;
  let interrupted = false;
  const onSigint = () => {
    interrupted = true;
    void (async () => {
      await browser?.close().catch(() => {});
      await server?.close().catch(() => {});
      process.exit(130);
    })();
  };
  process.on('SIGINT', onSigint);
  process.on('SIGTERM', onSigint);
  try {
    const plan = await prepareEval(o);
    if (o.out) {
      const dir = dirname(resolve(o.out));
      if (!(await stat(dir).then((s) => s.isDirectory(), () => false))) throw new CliFailure(`--out ${o.out}: the folder ${dir} does not exist`);
    }
    server = await startCliServer({ root: REPO_ROOT, models: plan.models, verbose: o.verbose });
    const { chromium } = await import('playwright-core');
    browser = await chromium.launch({ executablePath: findChromium(), args: CHROMIUM_ARGS, headless: true, handleSIGINT: false, handleSIGTERM: false });
    const page = await browser.newPage();
    if (o.verbose) {
      page.on('console', (m) => err(`[browser ${m.type()}] ${m.text()}`));
      page.on('pageerror', (e) => err(`[browser error] ${e.message}`));
    }
    await page.goto(`${server.origin}/cli.html`);
    await page.waitForFunction(() => window.__engineReady === true, null, { timeout: 120_000 });
    const gpu: GpuReport = await page.evaluate(() => window.capabilities());
    if (!gpu.available && o.backend === 'webgpu')
      throw new CliFailure('WebGPU unavailable in headless Chromium (no adapter). Debian: install chromium and libvulkan1, or set CHROMIUM_PATH to a Chrome/Chromium with WebGPU; or use --backend cpu.');
    // auto: WebGPU on a hardware adapter, else WebAssembly with CPU-merged weights (the eval service's own rule)
    const want: 'auto' | 'webgpu' | 'wasm' = o.backend === 'cpu' ? 'wasm' : o.backend === 'webgpu' ? 'webgpu' : 'auto';
    const ran = await page.evaluate((b) => window.setEvalBackend(b), want);
    const adapter = gpu.available ? `${[gpu.vendor, gpu.architecture].filter(Boolean).join(' ') || 'unknown adapter'}${gpu.isFallbackAdapter ? ' [software fallback]' : ''}` : 'no WebGPU adapter';
    err(`backend: ${ran === 'wasm' ? 'WebAssembly, weights merged on the CPU' : 'WebGPU'} (${o.backend === 'auto' ? `auto; ${adapter}` : `--backend ${o.backend}`})`);
    err(`evaluating ${plan.label} on ${plan.sets.map((s) => s.name).join(', ')}…`);
    const srv = server;
    const request: EvaluateRequest = {
      target: plan.target,
      models: plan.models.map((m, i) => modelSpecOf(m, i, srv.modelsUrl)),
      evalSets: plan.sets,
      limit: o.limit,
      seed: o.seed,
      mode: o.mode,
      maxNewTokens: o.maxNewTokens,
      perItem: true,
    };
    const crashed = new Promise<never>((_, reject) => page.once('crash', () => reject(new CliFailure('the browser page crashed during the evaluation (out of memory?)'))));
    crashed.catch(() => {});
    const res: EvaluateReply = await Promise.race([page.evaluate((req) => window.runEvaluate(req), request), crashed]);
    if (interrupted) return 130;
    if (!res.ok) {
      err(`error: ${res.error.message}`);
      return 1;
    }
    const s = res.summary;
    const width = Math.max(...s.sets.map((m) => m.name.length), 8);
    io.stdout.write(`${'set'.padEnd(width)}  kind        items  score\n`);
    for (const m of s.sets) {
      const score = m.kind === 'perplexity' ? `perplexity ${m.perplexity?.toFixed(3)}` : `accuracy ${pct(m.accuracy)}`;
      io.stdout.write(`${m.name.padEnd(width)}  ${m.kind.padEnd(10)}  ${String(m.n).padStart(5)}  ${score}\n`);
    }
    io.stdout.write(
      `fitness ${s.fitness.toFixed(4)} · ${s.dtype === 'float16' ? 'f16' : 'f32'} graph · merge ${formatDuration(s.timings.mergeMs)} · eval ${formatDuration(s.timings.evalMs)} · ` +
        `${s.readback.runs} forward passes · weights read back ${s.readback.weightBytes} B · outputs read back ${s.readback.outputBytes} B · total ${formatDuration(Date.now() - started)}\n`,
    );
    if (o.out) {
      const doc = {
        target: plan.label,
        mode: o.mode,
        limit: o.limit ?? null,
        seed: o.seed,
        gpu: { vendor: gpu.vendor, architecture: gpu.architecture, fallback: gpu.isFallbackAdapter },
        fitness: s.fitness,
        sets: s.sets.map((m, k) => ({ ...m, items: s.items?.[k] ?? [] })),
        readback: s.readback,
        timings: s.timings,
        graphDtype: s.dtype,
      };
      await writeFile(resolve(o.out), JSON.stringify(doc, null, 2) + '\n');
      io.stdout.write(`wrote ${o.out}\n`);
    }
    return 0;
  } catch (e) {
    if (interrupted) return 130;
    err(`error: ${messageOf(e)}`);
    return 1;
  } finally {
    await browser?.close().catch(() => {});
    await server?.close().catch(() => {});
    process.off('SIGINT', onSigint);
    process.off('SIGTERM', onSigint);
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (e) => {
      process.stderr.write(`error: ${messageOf(e)}\n`);
      process.exit(1);
    },
  );
}

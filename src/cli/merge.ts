// `npm run merge -- <config.yml> --out <dir> [...]`: the headless merge command.
//
// Node reads and validates the YAML and the models' headers (fast errors, no browser needed),
// then serves the models (HTTP Range) and the headless page (Vite middleware) on 127.0.0.1,
// drives the same engine worker as the studio in headless Chromium with WebGPU, and receives
// the output through the WebSocket sink (io/ws-sink.ts) into "<out>.partial-<pid>", renamed to
// <out> when complete.
// With --push-to-hub the committed folder is then published to the Hub in one commit (cli/publish.ts,
// merge/publish.ts); the token and the namespace are checked with the Hub before the merge starts.
// Exit codes: 0 success, 1 merge/config/model error (no output folder is left) or a failed publish
// (the output folder stays; nothing half-committed on the Hub), 2 bad arguments, 130 interrupted.
import { readFile, stat } from 'node:fs/promises';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { openAsBlob, rmSync } from 'node:fs';
import { basename, dirname, relative, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { Browser, Page } from 'playwright-core';
import { findChromium, CHROMIUM_ARGS } from '../browser';
import { StudioError } from '../errors';
import { parseMergekitYaml } from '../recipe/mergekit-yaml';
import type { Recipe } from '../recipe/types';
import type { ModelInfo } from '../formats/model-info';
import { buildPlan, readTokenizerTexts } from '../recipe/plan';
import type { Plan } from '../recipe/plan-types';
import type { ByteSource } from '../io/types';
import type { GpuReport, MergeProgress, MergeRequest, MergeResult, MergeSummary } from '../worker/api';
import type { MergeBackend } from '../backends/types';
import { nodeCpuBackend } from '../backends/cpu/node-pool';
import { mayHaveHardwareGpu, nodeMerge, outputDirSink } from './node-merge';
import { exportCabs } from '../merge/cabs-export';
import { parseArgs, parseOrExit, USAGE, type CliOptions } from './args';
import { modelName, modelSpecOf, openResolved, recipeModelRefs, resolveModelRef, type ResolvedModel } from './models';
import { CliHub, networkLine } from './hub';
import type { HubPrefetcher } from '../io/hub/prefetch';
import { tokenizerFileSources } from '../merge/tokenizer-files';
import { DEFAULT_RETRY } from '../io/hub/retry';
import { OutputDir, outputTargetProblem } from './output-dir';
import { formatBytes, formatDuration, ProgressPrinter } from './progress';
import { startCliServer, type CliServer } from './server';
import { validateExportFolder, validateOutputFolder } from './validate-output';
import { trafficRatio, type GpuTraffic } from '../gpu/traffic';
import { checkPublishAccess, publishToHub } from '../merge/publish';
import { DEFAULT_STUDIO_URL } from '../recipe/model-card';
import type { ModelIdentity } from '../recipe/share-url';
import { fingerprint, sliceable } from '../formats/fingerprint';
import { folderFiles, PublishPrinter } from './publish';

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

/**
 * The WebGPU engine's traffic ratio (`npm run bench:merge` reads this line): all bytes moved, and
 * device memory only (without uploads, uniform blocks and readbacks), ÷ (input + output bytes).
 */
export function trafficLine(t: GpuTraffic, parts = false): string {
  const denom = t.inputBytes + t.outputBytes;
  const rows = parts ? Object.entries(t.parts).sort((a, b) => b[1] - a[1]) : [];
  const width = Math.max(0, ...rows.map(([p]) => p.length));
  return (
    `GPU traffic: ${formatBytes(t.bytes)} = ${trafficRatio(t).toFixed(3)} × (input ${formatBytes(t.inputBytes)} + output ${formatBytes(t.outputBytes)}); ` +
    `device memory only ${trafficRatio(t, true).toFixed(3)} ×, ${t.dispatches} dispatches` +
    rows.map(([p, b]) => `\n  ${p.padEnd(width)}  ${formatBytes(b).padStart(9)}  ${(denom > 0 ? b / denom : 0).toFixed(3)} ×`).join('')
  );
}

/** "hub: 1.2 GB from the network, 0 B from the cache (0.0 % cached), 2 retries" */
export function hubLine(h: CliHub): string {
  const st = h.stats;
  return (
    `hub: ${formatBytes(st.networkBytes)} from the network, ${formatBytes(st.cacheBytes)} from the cache (${(st.hitShare() * 100).toFixed(1)} % cached)` +
    `${st.retries ? `, ${st.retries} retries` : ''}${h.cacheDir ? `; cache ${h.cacheDir}` : '; no cache'}`
  );
}

/** A failure with a message for the user (printed as "error: <message>", exit 1). */
class CliFailure extends Error {
  override name = 'CliFailure';
}

function messageOf(e: unknown): string {
  if (e instanceof StudioError || e instanceof CliFailure) return e.message;
  if (e instanceof Error) return e.name && e.name !== 'Error' ? `${e.name}: ${e.message}` : e.message;
  return String(e);
}

async function isDirectory(p: string): Promise<boolean> {
  return stat(p).then((s) => s.isDirectory(), () => false);
}

async function loadRecipe(configPath: string): Promise<Recipe> {
  let text: string;
  try {
    text = await readFile(configPath, 'utf8');
  } catch (e) {
    throw new CliFailure(`cannot read the configuration ${configPath}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : messageOf(e)}`);
  }
  try {
    return parseMergekitYaml(text, basename(configPath));
  } catch (e) {
    if (e instanceof StudioError) throw new CliFailure(`${basename(configPath)}: ${e.message}`);
    throw e;
  }
}

/** Awaits every promise; rejects with the first rejection in array order (not in time order), after all settled. */
async function inOrder<T>(ps: Promise<T>[]): Promise<T[]> {
  const settled = await Promise.allSettled(ps);
  for (const r of settled) if (r.status === 'rejected') throw r.reason;
  return settled.map((r) => (r as PromiseFulfilledResult<T>).value);
}

/**
 * Reads every model's headers and builds the merge plan in Node, exactly as the engine will: a
 * malformed or truncated file, a missing tensor, a shape mismatch or a bad parameter fails here,
 * before any browser starts. Returns the opened models (the CPU path merges from them).
 */
async function preflight(recipe: Recipe, models: ResolvedModel[], seed: number | undefined): Promise<{ infos: Map<string, ModelInfo>; plan: Plan }> {
  const infos = new Map<string, ModelInfo>();
  // headers read at once: for Hub models each is a round trip, so they overlap
  const opened = await inOrder(models.map((m) => openResolved(m)));
  models.forEach((m, i) => infos.set(m.ref, opened[i]));
  const needsVocab = recipe.tokenizer !== undefined || recipe.tokenizer_source !== undefined;
  const plan = buildPlan(recipe, infos, { seed, tokenizerTexts: needsVocab ? await readTokenizerTexts(infos) : undefined });
  return { infos, plan };
}

/**
 * What the merge will read, in the order the engine reads it: the Hub prefetcher walks it. The
 * tokenizer files the output copies first (small, but read last: a round trip each at the end
 * otherwise), then the input tensors' byte ranges (plan entries, then inputs).
 */
export function planReads(plan: Plan, recipe: Recipe, infos: Map<string, ModelInfo>): { source: ByteSource; offset: number; length: number }[] {
  return [
    ...tokenizerFileSources(plan, recipe, infos).map((source) => ({ source, offset: 0, length: source.size })),
    ...plan.entries.flatMap((e) => e.inputs.map((i) => ({ source: i.tensor.source, offset: i.tensor.byteOffset, length: i.tensor.byteLength }))),
  ];
}

/**
 * The inputs as the card's share link names them: sizes and the same fingerprint the studio's shelf
 * computes (headers + 64 KiB samples per shard), so the studio recognises the right checkpoints.
 */
async function cardIdentities(models: ResolvedModel[], infos: Map<string, ModelInfo>): Promise<ModelIdentity[]> {
  // the models at once: a Hub file is fingerprinted through its range reads (≤ 128 KiB of data per
  // shard), a round trip each
  return Promise.all(
    models.map(async (m): Promise<ModelIdentity> => {
      const files = await Promise.all(m.files.map(async (f) => ({ path: f.path, file: f.abs ? await openAsBlob(f.abs) : sliceable(f.source!) })));
      const weights = m.files.filter((f) => f.path.toLowerCase().endsWith('.safetensors'));
      return {
        ref: m.ref,
        name: infos.get(m.ref)?.name ?? modelName(m),
        tensors: infos.get(m.ref)?.tensors.size ?? 0,
        bytes: weights.reduce((a, f) => a + f.size, 0),
        hash: await fingerprint(files),
        ...(m.hub ? { hub: { repo: m.hub.repo, commit: m.hub.commit, endpoint: m.hub.endpoint } } : {}),
      };
    }),
  );
}

/** What the model card links to: the studio (--studio-url) with the inputs' identities, and the Hub (HF_ENDPOINT, when set). */
function cardOptions(o: CliOptions, identities: ModelIdentity[]): NonNullable<MergeRequest['card']> {
  return { studioUrl: o.studioUrl ?? DEFAULT_STUDIO_URL, identities, ...(process.env.HF_ENDPOINT ? { hubUrl: process.env.HF_ENDPOINT } : {}) };
}

function buildRequest(recipe: Recipe, models: ResolvedModel[], server: CliServer, o: CliOptions, card: NonNullable<MergeRequest['card']>): MergeRequest {
  return {
    recipe,
    models: models.map((m, i) => modelSpecOf(m, i, server.modelsUrl)),
    output: { kind: 'ws', url: server.sinkWsUrl },
    engine: 'webgpu',
    card,
    ...(o.seed !== undefined ? { seed: o.seed } : {}),
    ...(o.shardSize !== undefined ? { maxShardBytes: o.shardSize } : {}),
    ...(o.chunkElements !== undefined ? { chunkElements: o.chunkElements } : {}),
    ...(o.ioOnly ? { ioOnly: true } : {}),
  };
}

function adapterLine(r: GpuReport): string {
  const name = [r.vendor, r.architecture].filter(Boolean).join(' ') || 'unknown adapter';
  return `GPU: ${name}${r.description ? ` (${r.description})` : ''}${r.isFallbackAdapter ? ' [software fallback]' : ''}`;
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const t = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new CliFailure(what)), ms);
  });
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}

export interface CliIo {
  stdout: NodeJS.WriteStream;
  stderr: NodeJS.WriteStream;
}

/** Runs the command; resolves to the exit code. Never throws. */
export async function main(argv: readonly string[], io: CliIo = { stdout: process.stdout, stderr: process.stderr }): Promise<number> {
  const err = (s: string) => io.stderr.write(s + '\n');
  const parsed = parseOrExit(() => parseArgs(argv), USAGE, io);
  if (typeof parsed === 'number') return parsed;
  const o: CliOptions = parsed;

  const started = Date.now();
  const perfStarted = performance.now();
  // the benchmark's log: how long the main thread (which starts the Hub requests) was kept from them
  const loopDelay = process.env.MERGE_STUDIO_PREFETCH_LOG ? monitorEventLoopDelay({ resolution: 10 }) : undefined;
  loopDelay?.enable();
  const at = (t: number | undefined) => (t === undefined ? '–' : formatDuration(t - perfStarted));
  const configPath = resolve(o.config);
  let output: OutputDir | undefined;
  let server: CliServer | undefined;
  let browser: Browser | undefined;
  let page: Page | undefined;
  let cpu: { backend: MergeBackend; abort: AbortController } | undefined;
  let publishing: AbortController | undefined;
  let hub: CliHub | undefined;
  let prefetch: HubPrefetcher | undefined;
  let interrupted = false;
  const progress = new ProgressPrinter(io.stderr);

  const cleanup = async () => {
    publishing?.abort();
    cpu?.abort.abort();
    cpu?.backend.dispose?.();
    await output?.abort();
    await browser?.close().catch(() => {});
    browser = undefined;
    await server?.close().catch(() => {});
    server = undefined;
  };
  let sigints = 0;
  const onSigint = () => {
    interrupted = true;
    if (++sigints > 1) {
      // Second Ctrl-C: leave now, but never leave a half-written folder behind.
      if (output && output.state !== 'committed') rmSync(output.temp, { recursive: true, force: true });
      process.exit(130);
    }
    progress.message('interrupted: cancelling the merge and removing partial output (Ctrl-C again to force)…');
    void (async () => {
      await page?.evaluate(() => window.cancelMerge()).catch(() => {});
      await cleanup();
      process.exit(130);
    })();
  };
  process.on('SIGINT', onSigint);
  process.on('SIGTERM', onSigint);

  try {
    const recipe = await loadRecipe(configPath);
    const modelsDir = resolve(o.modelsDir ?? dirname(configPath));
    if (o.modelsDir && !(await isDirectory(modelsDir))) throw new CliFailure(`--models-dir ${modelsDir} is not a folder`);
    if (o.exportCabs && recipe.merge_method !== 'cabs')
      throw new CliFailure(`--export-cabs needs a cabs recipe; ${basename(configPath)} uses merge_method ${recipe.merge_method}`);
    const refs = recipeModelRefs(recipe);
    if (refs.length === 0) throw new CliFailure(`${basename(configPath)} names no models`);
    let opening: Promise<CliHub> | undefined;
    const hubFor = async (ref: string, role: 'model' | 'adapter'): Promise<ResolvedModel> => {
      hub = await (opening ??= CliHub.open({
        token: o.token,
        cacheDir: o.noCache ? null : o.cacheDir,
        cacheBytes: o.cacheSize,
        ...(o.retries !== undefined ? { retry: { ...DEFAULT_RETRY, maxRetries: o.retries } } : {}),
        onRetry: (w) => progress.message(`warning: ${w}`),
        // each file's header block (and the last one, for the card's fingerprint) starts
        // downloading as soon as its repo's listing is in
        readEarly: 'merge',
      }));
      const m = await hub.resolve(ref, undefined, role);
      err(`hub: ${CliHub.describe(m)}`);
      return m;
    };
    // every reference resolved at once (Hub round trips overlap); a failure is reported for the
    // first failing reference in recipe order, whichever answered first
    const models = await inOrder(refs.map((ref) => resolveModelRef(ref, modelsDir, hubFor)));
    if (hub) {
      const h = hub;
      progress.extra = (p) => networkLine(h.stats, Math.max(0, p.bytesTotal - p.bytesRead));
    }

    const outPath = resolve(o.out);
    const problem = await outputTargetProblem(outPath);
    if (problem) throw new CliFailure(`refusing to write the output: ${problem}`);
    for (const m of models)
      for (const dir of [m.dir, ...(m.adapter ? [m.adapter.dir] : [])])
        if (dir && (outPath === dir || !relative(dir, outPath).startsWith('..')))
          throw new CliFailure(`--out ${outPath} is inside the input ${dir === m.dir ? 'model' : 'adapter'} folder of "${m.ref}" (${dir})`);

    const { infos, plan } = await preflight(recipe, models, o.seed);
    // Hub inputs: from here the link is kept busy ahead of the engine's reads (the CPU threads' event
    // loops start no requests while they compute); stopped when the merge ends
    prefetch = hub?.prefetch(planReads(plan, recipe, infos));
    if (prefetch && process.env.MERGE_STUDIO_PREFETCH_LOG)
      err(`hub prefetch: first request at t = ${at(prefetch.firstRequestAt)}, plan followed from t = ${at(prefetch.followedAt)}`);
    const card = cardOptions(o, await cardIdentities(models, infos));
    if (prefetch && process.env.MERGE_STUDIO_PREFETCH_LOG) err(`hub prefetch: card identities done at t = ${formatDuration(Date.now() - started)}`);
    if (interrupted) return 130;

    // --push-to-hub: the token and the namespace are checked before the merge, not after it
    const pub = o.pushToHub ? { repo: o.pushToHub, token: o.token ?? process.env.HF_TOKEN ?? '', hubUrl: process.env.HF_ENDPOINT || undefined, private: !o.public } : undefined;
    if (pub) {
      if (!pub.token) throw new CliFailure(`--push-to-hub ${pub.repo} needs a Hugging Face access token with the write role: set HF_TOKEN or pass --token`);
      const user = await checkPublishAccess(pub);
      err(`hub: will publish to ${pub.repo} on ${pub.hubUrl ?? 'https://huggingface.co'} as ${user} (${pub.private ? 'private' : 'public'} if created)`);
      if (interrupted) return 130;
    }
    /** After the output folder is committed: publish it (one Hub commit) when asked. */
    const afterCommit = async (): Promise<number> => {
      if (!pub) return 0;
      publishing = new AbortController();
      const printer = new PublishPrinter(io.stderr);
      try {
        const res = await publishToHub(
          { ...pub, files: await folderFiles(outPath), ...(o.commitMessage ? { commitMessage: o.commitMessage } : {}) },
          { signal: publishing.signal, onProgress: (p) => printer.update(p) },
        );
        printer.finish();
        io.stdout.write(
          `published ${res.url} (${res.created ? `new ${res.private ? 'private' : 'public'} repo` : 'existing repo'}): ${res.files} files, ${formatBytes(res.bytes)}, commit ${res.commit.oid.slice(0, 12)}\n`,
        );
        return 0;
      } catch (e) {
        printer.finish();
        if (interrupted) return 130;
        err(`error: ${messageOf(e)}`);
        const where = relative(process.cwd(), outPath) || '.';
        err(`the merged model is complete in ${where}; to retry the upload alone: npm run publish:hub -- ${where} --push-to-hub ${pub.repo}`);
        return 1;
      } finally {
        publishing = undefined;
      }
    };

    output = new OutputDir(outPath);
    output.validate = o.exportCabs ? validateExportFolder : validateOutputFolder;
    // which engine: --backend, or (auto) WebGPU only on a hardware adapter
    let choice = o.backend;
    let why = '--backend cpu';
    if (choice === 'auto' && !mayHaveHardwareGpu()) {
      choice = 'cpu';
      why = 'no GPU device on this machine';
    }
    const printResult = (s: MergeSummary) => {
      const elapsed = Date.now() - started;
      // the benchmark's clock (bench:hub): the summary line below rounds to a tenth of a second
      if (process.env.MERGE_STUDIO_PREFETCH_LOG) err(`elapsed: ${elapsed} ms`);
      for (const w of s.warnings) err(`warning: ${w}`);
      const files = output!.closed.length ? output!.closed : s.files;
      const total = files.reduce((n, f) => n + f.bytes, 0);
      const width = Math.max(...files.map((f) => f.path.length));
      io.stdout.write(
        `wrote ${relative(process.cwd(), outPath) || '.'}: ${files.length} files, ${formatBytes(total)} in ${formatDuration(elapsed)} ` +
          `(${s.tensors} tensors, ${formatBytes(s.bytesRead)} read, merge ${formatDuration(s.elapsedMs)})\n` +
          files.map((f) => `  ${f.path.padEnd(width)}  ${formatBytes(f.bytes).padStart(9)}\n`).join('') +
          (s.gpuTraffic ? trafficLine(s.gpuTraffic, o.verbose) + '\n' : '') +
          (hub ? hubLine(hub) + '\n' : ''),
      );
    };
    const printExport = (s: { method: string; folders: Record<string, string> }) => {
      const where = relative(process.cwd(), outPath) || '.';
      io.stdout.write(
        `wrote ${where}: the CABS-pruned task vectors as checkpoints + mergekit_config.yml (${s.method}) in ${formatDuration(Date.now() - started)}\n` +
          Object.entries(s.folders).map(([ref, dir]) => `  ${dir}/  (${ref}, pruned)\n`).join('') +
          `mergekit reproduces the CABS merge: cd ${where} && mergekit-yaml mergekit_config.yml <output>\n`,
      );
    };
    const runOnCpu = async (): Promise<number> => {
      // the worker threads read Hub files themselves (the same cache folder; counters shared with this process)
      const backend = nodeCpuBackend(o.threads);
      cpu = { backend, abort: new AbortController() };
      err(`backend: ${backend.description} (${why})`);
      try {
        if (o.exportCabs) {
          // the masks come through the door: the CPU engine's are the WebGPU engine's, bit for bit
          const s = await exportCabs(backend, {
            recipe,
            models: infos,
            sink: outputDirSink(output!),
            seed: o.seed,
            maxShardBytes: o.shardSize,
            chunkElements: o.chunkElements,
            signal: cpu.abort.signal,
          });
          if (interrupted) return 130;
          if (output!.state !== 'committed') throw new CliFailure('the export finished without committing its output; nothing was written');
          printExport(s);
          return 0;
        }
        const summary = await nodeMerge({
          request: { recipe, card, ...(o.seed !== undefined ? { seed: o.seed } : {}), ...(o.shardSize !== undefined ? { maxShardBytes: o.shardSize } : {}), ...(o.chunkElements !== undefined ? { chunkElements: o.chunkElements } : {}), ...(o.ioOnly ? { ioOnly: true } : {}) },
          models: infos,
          output: output!,
          backend,
          signal: cpu.abort.signal,
          onProgress: (p) => progress.update(p),
        }).finally(async () => {
          await hub?.stopPrefetch();
          if (prefetch && (o.verbose || process.env.MERGE_STUDIO_PREFETCH_LOG))
            err(
              `hub prefetch: ${formatBytes(prefetch.networkBytes)} fetched ahead in ${prefetch.requests} runs, up to ${prefetch.maxInFlight} requests / ${formatBytes(prefetch.maxWindowBytes)} in flight, ` +
                `first request at t = ${at(prefetch.firstRequestAt)}, last in at t = ${at(prefetch.lastSettledAt)} (merge done at t = ${formatDuration(Date.now() - started)}); ` +
                `waited for room ${formatDuration(prefetch.waited.room)}, for the readers ${formatDuration(prefetch.waited.budget)}` +
                `${loopDelay ? `; main thread's event loop delay p99 ${(loopDelay.percentile(99) / 1e6).toFixed(0)} ms, max ${(loopDelay.max / 1e6).toFixed(0)} ms` : ''}${prefetch.error ? ` (stopped: ${messageOf(prefetch.error)})` : ''}`,
            );
        });
        progress.finish();
        if (interrupted) return 130;
        if (output!.state !== 'committed') throw new CliFailure('the engine finished without committing its output; nothing was written');
        printResult(summary);
        return await afterCommit();
      } finally {
        backend.dispose();
        await hub?.settle();
      }
    };
    if (choice === 'cpu') return await runOnCpu();

    server = await startCliServer({ root: REPO_ROOT, models, output, verbose: o.verbose });
    const { chromium } = await import('playwright-core');
    browser = await chromium.launch({ executablePath: findChromium(), args: CHROMIUM_ARGS, headless: true, handleSIGINT: false, handleSIGTERM: false });
    page = await browser.newPage();
    if (o.verbose) {
      page.on('console', (m) => progress.message(`[browser ${m.type()}] ${m.text()}`));
      page.on('pageerror', (e) => progress.message(`[browser error] ${e.message}`));
      page.on('worker', (w) => progress.message(`[browser] worker started: ${w.url()}`));
    }
    await page.exposeFunction('__progress', (p: MergeProgress) => progress.update(p));
    await page.goto(`${server.origin}/cli.html`);
    await page.waitForFunction(() => window.__engineReady === true, null, { timeout: 120_000 });

    const gpu = await withTimeout(page.evaluate(() => window.capabilities()), 120_000, 'the engine worker did not report the GPU within 120 s');
    if (choice === 'auto' && (!gpu.available || gpu.isFallbackAdapter)) {
      why = gpu.available ? `WebGPU has only a software adapter here (${adapterLine(gpu)})` : 'no WebGPU adapter in Chromium';
      await browser.close().catch(() => {});
      browser = undefined;
      page = undefined;
      await server.close().catch(() => {});
      server = undefined;
      return await runOnCpu();
    }
    err(`backend: WebGPU in headless Chromium${choice === 'auto' ? ' (hardware adapter found)' : ''}`);
    if (!gpu.available)
      throw new CliFailure(
        'WebGPU unavailable in headless Chromium (no adapter). Check that Chromium supports WebGPU (Debian: the chromium package; libvulkan1 for SwiftShader) or set CHROMIUM_PATH to a Chrome/Chromium that does.',
      );
    err(adapterLine(gpu));
    if (gpu.isFallbackAdapter)
      err('warning: WebGPU is running on a software adapter (SwiftShader): results are exact but the merge will be slow. On a machine with a GPU, check that Chromium can use it.');

    const request = buildRequest(recipe, models, server, o, card);
    const crashed = new Promise<never>((_, reject) => {
      page!.once('crash', () => reject(new CliFailure('the browser page crashed during the merge (out of memory?)')));
      page!.once('close', () => reject(new CliFailure('the browser page closed during the merge')));
    });
    crashed.catch(() => {});
    if (o.exportCabs) {
      const res = await Promise.race([page.evaluate((req) => window.exportCabs(req), request), crashed]);
      progress.finish();
      if (interrupted) return 130;
      if (!res.ok) {
        await output.abort();
        err(`error: ${res.error.message}`);
        return 1;
      }
      if (output.state !== 'committed') throw new CliFailure('the export finished without committing its output; nothing was written');
      printExport(res.summary);
      return 0;
    }
    const result: MergeResult = await Promise.race([page.evaluate((req) => window.runMerge(req), request), crashed]);
    progress.finish();
    if (interrupted) return 130;
    if (!result.ok) {
      await output.abort();
      err(`error: ${hub?.failure?.message ?? result.error.message}`);
      return 1;
    }
    if (output.state !== 'committed') throw new CliFailure('the engine finished without committing its output; nothing was written');

    printResult(result.summary);
    return await afterCommit();
  } catch (e) {
    progress.finish();
    if (interrupted) return 130;
    err(`error: ${hub?.failure && !(e instanceof CliFailure) ? hub.failure.message : messageOf(e)}`);
    if (o.verbose && e instanceof Error && !(e instanceof StudioError) && !(e instanceof CliFailure) && e.stack) err(e.stack);
    return 1;
  } finally {
    await hub?.stopPrefetch();
    await cleanup();
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

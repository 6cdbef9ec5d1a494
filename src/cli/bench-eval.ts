// `npm run bench:eval`: what one evolution candidate costs on the demo models, in headless
// Chromium through the studio's own engine worker: merge on the GPU (never written) + score 100
// items of each task (teacher-forced exact match, the fitness) — candidates per minute, the
// merge/eval split, bytes of weights read back per candidate (target 0), output bytes, and ORT's
// logit error against the CPU reference forward. Prints figures from one run (no timed asserts).
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import { findChromium, CHROMIUM_ARGS } from '../browser';
import type { Recipe } from '../recipe/types';
import type { EvaluateRequest, EvaluateSummary, ModelSpec } from '../worker/api';
import { resolveModel, type ResolvedModel } from './models';
import { startCliServer } from './server';
import { REPO_ROOT } from './merge';

const DEMO = join(REPO_ROOT, 'public/demo');
const CANDIDATES = Number(process.env.BENCH_CANDIDATES ?? 12);
const ITEMS = Number(process.env.BENCH_ITEMS ?? 100);
const TARGET_PER_MINUTE = 30;
const BACKENDS = ['webgpu', 'wasm'] as const;

/** Deterministic candidates of the kinds an evolution proposes (weights and densities vary). */
function candidate(i: number): Recipe {
  const methods = ['ties', 'dare_ties', 'task_arithmetic'] as const;
  const method = methods[i % methods.length];
  const w = (k: number) => Number((0.3 + ((i * 7 + k * 3) % 10) / 10).toFixed(2));
  const d = (k: number) => Number((0.2 + ((i * 5 + k * 4) % 8) / 10).toFixed(2));
  const params = (k: number): Record<string, number> => (method === 'task_arithmetic' ? { weight: w(k) } : { weight: w(k), density: d(k) });
  return {
    merge_method: method,
    base_model: 'demo-base',
    models: [
      { model: 'demo-add', parameters: params(0) },
      { model: 'demo-rev', parameters: params(1) },
    ],
    parameters: method === 'task_arithmetic' ? {} : { normalize: false },
    dtype: 'float32',
    random_seed: 1,
  };
}

async function main(): Promise<void> {
  const models: ResolvedModel[] = [];
  for (const ref of ['demo-base', 'demo-add', 'demo-rev']) models.push(await resolveModel(ref, DEMO));
  const sets: { name: string; text: string }[] = [];
  for (const name of ['addition.search.jsonl', 'reversal.search.jsonl']) sets.push({ name, text: await readFile(join(DEMO, 'evals', name), 'utf8') });
  const server = await startCliServer({ root: REPO_ROOT, models });
  let browser: Browser | undefined;
  try {
    const { chromium } = await import('playwright-core');
    browser = await chromium.launch({ executablePath: findChromium(), args: CHROMIUM_ARGS, headless: true });
    const page = await browser.newPage();
    await page.goto(`${server.origin}/cli.html`);
    await page.waitForFunction(() => window.__engineReady === true, null, { timeout: 120_000 });
    const gpu = await page.evaluate(() => window.capabilities());
    const specs: ModelSpec[] = models.map((m, i) => ({ ref: m.ref, files: m.files.map((f) => ({ path: f.path, size: f.size, url: `${server.modelsUrl}/${i}/${encodeURIComponent(f.path)}` })) }));
    const request = (recipe: Recipe): EvaluateRequest => ({ target: { kind: 'recipe', recipe }, models: specs, evalSets: sets, limit: ITEMS, seed: 0, mode: 'teacher-forced', perItem: false });
    const run = async (recipe: Recipe) => {
      const r = await page.evaluate((req) => window.runEvaluate(req), request(recipe));
      if (!r.ok) throw new Error(r.error.message);
      return r.summary;
    };
    const results: { backend: string; warmMs: number; perCandidate: number; rows: EvaluateSummary[]; check: Awaited<ReturnType<typeof window.logitError>> }[] = [];
    for (const want of BACKENDS) {
      const backend = await page.evaluate((b) => window.setEvalBackend(b), want);
      const t0 = performance.now();
      await run(candidate(0)); // warm-up: headers, decoded inputs, ONNX sessions and shader compilation
      const warmMs = performance.now() - t0;
      const n = backend === 'webgpu' && gpu.isFallbackAdapter ? Math.min(CANDIDATES, 4) : CANDIDATES;
      const rows: EvaluateSummary[] = [];
      const t1 = performance.now();
      for (let i = 1; i <= n; i++) rows.push(await run(candidate(i)));
      const perCandidate = (performance.now() - t1) / n;
      const check = await page.evaluate((req) => window.logitError(req), {
        target: { kind: 'recipe' as const, recipe: candidate(1) },
        models: specs,
        ids: [
          [1, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19],
          [1, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32, 33, 34],
        ],
      });
      results.push({ backend, warmMs, perCandidate, rows, check });
    }
    const fmt = (ms: number) => `${ms.toFixed(0)} ms`;
    console.log(`bench:eval — demo models (4 layers, hidden 64), ${ITEMS} items × 2 tasks per candidate, teacher-forced exact match`);
    console.log(`GPU: ${[gpu.vendor, gpu.architecture].filter(Boolean).join(' ')}${gpu.isFallbackAdapter ? ' (software fallback)' : ''}; candidates: ties / dare_ties / task_arithmetic with varied weights and densities`);
    console.log('| backend | candidates | wall per candidate | merge | evaluate | candidates / minute (target ≥ 30) | weights read back | outputs read back | ORT vs CPU reference logits (max abs, relative) |');
    console.log('|---|---|---|---|---|---|---|---|---|');
    for (const r of results) {
      const mean = (f: (x: EvaluateSummary) => number) => r.rows.reduce((a, x) => a + f(x), 0) / r.rows.length;
      const perMinute = 60_000 / r.perCandidate;
      const check = r.check.ok ? `${r.check.maxAbs.toExponential(1)}, ${r.check.relative.toExponential(1)}` : `failed: ${r.check.error.message}`;
      console.log(
        `| ${r.backend} | ${r.rows.length} (+1 warm-up, ${fmt(r.warmMs)}) | ${fmt(r.perCandidate)} | ${fmt(mean((x) => x.timings.mergeMs))} | ${fmt(mean((x) => x.timings.evalMs))} | ` +
          `**${perMinute.toFixed(1)}** (${(perMinute / TARGET_PER_MINUTE).toFixed(2)}×) | ${mean((x) => x.readback.weightBytes)} B | ${mean((x) => x.readback.outputBytes).toFixed(0)} B | ${check} |`,
      );
    }
    const fit = results.map((r) => r.rows.map((x) => x.fitness.toFixed(4)).join(','));
    console.log(`same fitness on every backend: ${fit.every((f) => fit[0].startsWith(f) || f.startsWith(fit[0]))} (webgpu measures fewer candidates on a software adapter)`);
    console.log('weights read back: 0 on both (WebGPU: merged buffers feed ORT directly; wasm: the weights are merged on the CPU). The logit check alone reads the merged weights back to run the CPU reference.');
  } finally {
    await browser?.close();
    await server.close();
  }
}

main().catch((e) => {
  console.error(`error: ${e instanceof Error ? e.message : String(e)}`);
  process.exit(1);
});

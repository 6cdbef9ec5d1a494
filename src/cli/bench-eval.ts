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
    const t0 = performance.now();
    await run(candidate(0)); // warm-up: headers, decoded inputs, ONNX sessions and shader compilation
    const warmMs = performance.now() - t0;
    const rows: EvaluateSummary[] = [];
    const t1 = performance.now();
    for (let i = 1; i <= CANDIDATES; i++) rows.push(await run(candidate(i)));
    const wall = performance.now() - t1;
    const perCandidate = wall / CANDIDATES;
    const mean = (f: (r: (typeof rows)[number]) => number) => rows.reduce((a, r) => a + f(r), 0) / rows.length;
    const check = await page.evaluate((req) => window.logitError(req), {
      target: { kind: 'recipe' as const, recipe: candidate(1) },
      models: specs,
      ids: [
        [1, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19],
        [1, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32, 33, 34],
      ],
    });
    const perMinute = 60_000 / perCandidate;
    const fmt = (ms: number) => `${ms.toFixed(0)} ms`;
    console.log(`bench:eval — demo models, ${ITEMS} items × 2 tasks per candidate, teacher-forced exact match`);
    console.log(`GPU: ${[gpu.vendor, gpu.architecture].filter(Boolean).join(' ')}${gpu.isFallbackAdapter ? ' (software fallback)' : ''}`);
    console.log(`warm-up (first candidate: sessions + shaders): ${fmt(warmMs)}`);
    console.log(`candidates measured:             ${CANDIDATES} (ties / dare_ties / task_arithmetic, varied weights and densities)`);
    console.log(`wall per candidate:              ${fmt(perCandidate)}  (merge ${fmt(mean((r) => r.timings.mergeMs))}, evaluate ${fmt(mean((r) => r.timings.evalMs))})`);
    console.log(`candidates per minute:           ${perMinute.toFixed(1)}  (target ≥ ${TARGET_PER_MINUTE}: ${(perMinute / TARGET_PER_MINUTE).toFixed(2)}× the target)`);
    console.log(`forward passes per candidate:    ${mean((r) => r.readback.runs).toFixed(1)}`);
    console.log(`weights read back per candidate: ${mean((r) => r.readback.weightBytes)} B (target 0)`);
    console.log(`outputs read back per candidate: ${mean((r) => r.readback.outputBytes).toFixed(0)} B (log-probabilities and argmax ids)`);
    console.log(`fitness range over candidates:   ${Math.min(...rows.map((r) => r.fitness)).toFixed(3)} … ${Math.max(...rows.map((r) => r.fitness)).toFixed(3)}`);
    if (check.ok) console.log(`ORT vs CPU reference logits:     max |Δ| ${check.maxAbs.toExponential(2)}, relative ${check.relative.toExponential(2)} (2 × 16 tokens; this check alone reads ${check.weightBytesReadBack} B of weights back)`);
    else console.log(`ORT vs CPU reference logits:     failed: ${check.error.message}`);
  } finally {
    await browser?.close();
    await server.close();
  }
}

main().catch((e) => {
  console.error(`error: ${e instanceof Error ? e.message : String(e)}`);
  process.exit(1);
});

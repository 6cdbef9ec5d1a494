// `npm run bench:evolve` on the Devanagari demo family (public/demo-lang, the default): the README's
// results table in the shape of Akiba et al.'s, measured in headless Chromium with the studio's own
// engine worker (GPU merges, ONNX evaluation, CMA-ES and SAE in the worker).
//
// Fitness is the target task only (devanagari_addition, the skill asked and answered in the
// language), on a seeded subset of its search split; every reported number is the held-out test
// split (all of it), never used for selection. Each row is run for every seed (BENCH_SEEDS, default
// 1,2,3: the search subset, CMA-ES / SAE and DARE's random drops change with it) and reported as
// mean ± standard deviation, with min–max.
//   baselines     base, expert L, expert M
//   hand-set      task arithmetic / TIES / DARE-TIES, each the best of a stated grid on search
//   evolved       PS (CMA-ES over per-layer-group weight and density), DFS (layer paths over
//                 L ‖ M with input scales), PS+DFS (DFS with the PS merge as model A), SAE vs PS
//   pruning       CABS (n:m) vs TIES vs DARE at equal density, weight chosen on search
// Environment: BENCH_SEEDS, BENCH_GENERATIONS, BENCH_POP, BENCH_LIMIT (search items per
// evaluation), BENCH_METHOD, BENCH_GROUPS, BENCH_PARTS (comma list of baselines,handset,ps,dfs,
// psdfs,sae,cabs), BENCH_JSON (write the rows there too).
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { findChromium, CHROMIUM_ARGS } from '../browser';
import type { Recipe } from '../recipe/types';
import type { EvalSetInput, EvaluateSummary, EvolveConfig, EvolveProgress, ModelSpec, RunView } from '../worker/api';
import type { EvalTarget } from '../eval/target';
import { resolveModel, type ResolvedModel } from './models';
import type { PsMethod, PsSpace } from '../evolve/genome-ps';
import { hopsText } from '../evolve/distinct';
import { startCliServer } from './server';
import { REPO_ROOT } from './merge';
import { EvalError, ModelError, OptimizerError } from '../errors';

interface LangManifest {
  target: string;
  /** Base first, then expert L and expert M, each expert with its own task. */
  models: { name: string; task?: string }[];
  evals: { name: string; split: string; task: string }[];
}

interface Measured {
  /** Held-out target accuracy. */
  heldout: number;
  /** Held-out accuracy on each expert's own task (L, M). */
  own: [number, number];
  search?: number;
  sparsity?: number;
  note: string;
  evaluations: number;
}

const env = (k: string, d: string): string => process.env[k] ?? d;
const SEEDS = env('BENCH_SEEDS', '1,2,3').split(',').map(Number);
const GENERATIONS = Number(env('BENCH_GENERATIONS', '10'));
const POP = Number(env('BENCH_POP', '8'));
const LIMIT = Number(env('BENCH_LIMIT', '50'));
const METHOD = env('BENCH_METHOD', 'ties') as PsMethod;
const GROUPS = Number(env('BENCH_GROUPS', '4'));
const PARTS = new Set(env('BENCH_PARTS', 'baselines,handset,ps,dfs,psdfs,sae,cabs').split(','));
const SAE_BETA = Number(env('BENCH_SAE_BETA', '0.25'));

const GRID = {
  task_arithmetic: { weights: [0.5, 0.75, 1, 1.25], perModel: true },
  ties: { weights: [0.5, 1, 1.5], densities: [0.3, 0.5, 0.7] },
  dare_ties: { weights: [0.5, 1, 1.5], densities: [0.3, 0.5, 0.7] },
};
const PRUNE_DENSITIES = [0.25, 0.5];
const PRUNE_WEIGHTS = [0.75, 1, 1.25];
const BLOCK = 16;

export async function benchEvolveLang(demo: string): Promise<void> {
  const manifest = JSON.parse(await readFile(join(demo, 'manifest.json'), 'utf8')) as LangManifest;
  // Bad input is a message before any work: a budget of zero, a target task without its splits.
  if (!(GENERATIONS >= 1 && POP >= 2 && LIMIT >= 1 && SEEDS.length >= 1 && SEEDS.every(Number.isInteger))) throw new OptimizerError(`the budget must be at least 1 generation of 2 candidates on 1 item, with integer seeds (BENCH_GENERATIONS ${GENERATIONS}, BENCH_POP ${POP}, BENCH_LIMIT ${LIMIT}, BENCH_SEEDS ${SEEDS.join(',')})`);
  for (const split of ['search', 'test']) {
    if (!manifest.evals.some((e) => e.task === manifest.target && e.split === split)) throw new EvalError(`${join(demo, 'manifest.json')}: the target task "${manifest.target}" has no ${split} split among its eval sets`);
  }
  if (manifest.models.length !== 3) throw new ModelError(`${join(demo, 'manifest.json')}: expected a base and two experts, found ${manifest.models.length} models`);
  const [baseRef, lRef, mRef] = manifest.models.map((m) => m.name);
  const taskOf = (i: number): string => {
    const t = manifest.models[i].task;
    if (!t || !manifest.evals.some((e) => e.task === t && e.split === 'test')) throw new EvalError(`${join(demo, 'manifest.json')}: expert ${manifest.models[i].name} names no task with a test split`);
    return t;
  };
  const tasks = { target: manifest.target, L: taskOf(1), M: taskOf(2) };
  const models: ResolvedModel[] = [];
  for (const ref of [baseRef, lRef, mRef]) models.push(await resolveModel(ref, demo));
  const read = async (task: string, split: string): Promise<EvalSetInput> => ({ name: `${task}.${split}.jsonl`, text: await readFile(join(demo, 'evals', `${task}.${split}.jsonl`), 'utf8') });
  const search = [await read(tasks.target, 'search')];
  const test = [await read(tasks.target, 'test'), await read(tasks.L, 'test'), await read(tasks.M, 'test')];
  const server = await startCliServer({ root: REPO_ROOT, models });
  let browser: Browser | undefined;
  const t0 = Date.now();
  let evaluations = 0;
  try {
    const { chromium } = await import('playwright-core');
    browser = await chromium.launch({ executablePath: findChromium(), args: CHROMIUM_ARGS, headless: true });
    const page: Page = await browser.newPage();
    await page.exposeFunction('__evolveProgress', (p: EvolveProgress) => {
      if (p.kind === 'generation') {
        const g = p.run.history.at(-1)!;
        process.stderr.write(`    ${p.run.config.kind} generation ${g.generation + 1}/${p.run.config.generations}: best ${g.best.toFixed(3)} mean ${g.mean.toFixed(3)} (${(g.ms / 1000).toFixed(1)} s)\n`);
      }
    });
    await page.goto(`${server.origin}/cli.html`);
    await page.waitForFunction(() => window.__engineReady === true, null, { timeout: 120_000 });
    const gpu = await page.evaluate(() => window.capabilities());
    const specs: ModelSpec[] = models.map((m, i) => ({ ref: m.ref, files: m.files.map((f) => ({ path: f.path, size: f.size, url: `${server.modelsUrl}/${i}/${encodeURIComponent(f.path)}` })) }));

    const evaluate = async (target: EvalTarget, sets: EvalSetInput[], seed: number, limit: number | undefined, sparsity = false): Promise<EvaluateSummary> => {
      evaluations++;
      const r = await page.evaluate((req) => window.runEvaluate(req), { target, models: specs, evalSets: sets, limit, seed, mode: 'teacher-forced' as const, perItem: false, sparsity: sparsity ? { base: baseRef } : undefined });
      if (!r.ok) throw new Error(r.error.message);
      return r.summary;
    };
    const onSearch = async (target: EvalTarget, seed: number) => (await evaluate(target, search, seed, LIMIT)).fitness;
    const heldout = async (target: EvalTarget, seed: number, note: string, searchFitness?: number, evals = 0): Promise<Measured> => {
      const h = await evaluate(target, test, seed, undefined, target.kind === 'recipe');
      const acc = h.sets.map((m) => m.accuracy ?? 0);
      process.stderr.write(`  seed ${seed}: ${note}: held-out target ${acc[0].toFixed(3)} (own tasks ${acc[1].toFixed(3)} / ${acc[2].toFixed(3)})\n`);
      return { heldout: acc[0], own: [acc[1], acc[2]], search: searchFitness, sparsity: h.sparsity?.sparsity, note, evaluations: evals };
    };
    const recipe = (method: string, wL: number, wM: number, d?: number, extra: Record<string, number | boolean> = {}, seed = 1): Recipe => ({
      merge_method: method,
      base_model: baseRef,
      models: [
        { model: lRef, parameters: d === undefined ? { weight: wL } : { weight: wL, density: d } },
        { model: mRef, parameters: d === undefined ? { weight: wM } : { weight: wM, density: d } },
      ],
      parameters: extra,
      dtype: 'float32',
      random_seed: seed,
    });
    const best = async (cands: { name: string; r: Recipe }[], seed: number): Promise<{ name: string; r: Recipe; f: number }> => {
      let b: { name: string; r: Recipe; f: number } | undefined;
      for (const c of cands) {
        const f = await onSearch({ kind: 'recipe', recipe: c.r }, seed);
        if (!b || f > b.f) b = { ...c, f };
      }
      return b!;
    };
    const evolve = async (id: string, config: EvolveConfig): Promise<RunView> => {
      const r = await page.evaluate((req) => window.runEvolve(req), { id, config, inputs: { models: specs, search, heldout: [test[0]] } });
      if (!r.ok) throw new Error(r.error.message);
      // every candidate of every generation (SAE keeps no CMA-ES counter), plus the held-out scoring
      const n = r.run.history.reduce((a, g) => a + g.points.length, 0);
      evaluations += n;
      return { ...r.run, evaluations: n };
    };

    const rows = new Map<string, Measured[]>();
    const add = (row: string, m: Measured) => rows.set(row, [...(rows.get(row) ?? []), m]);
    for (const seed of SEEDS) {
      process.stderr.write(`seed ${seed}\n`);
      if (PARTS.has('baselines')) {
        for (const [label, ref] of [['base', baseRef], ['expert L', lRef], ['expert M', mRef]]) add(`${label} (${ref})`, await heldout({ kind: 'model', ref }, seed, ref));
      }
      if (PARTS.has('handset')) {
        const ta: { name: string; r: Recipe }[] = [];
        for (const a of GRID.task_arithmetic.weights) for (const b of GRID.task_arithmetic.weights) ta.push({ name: `weights ${a} / ${b}`, r: recipe('task_arithmetic', a, b) });
        const b1 = await best(ta, seed);
        add('best hand-set task arithmetic', await heldout({ kind: 'recipe', recipe: b1.r }, seed, b1.name, b1.f, ta.length));
        for (const method of ['ties', 'dare_ties'] as const) {
          const g = GRID[method];
          const cands: { name: string; r: Recipe }[] = [];
          for (const w of g.weights) for (const d of g.densities) cands.push({ name: `weights ${w}, density ${d}`, r: recipe(method, w, w, d, method === 'ties' ? { normalize: false } : { normalize: false }, seed) });
          const b = await best(cands, seed);
          add(`best hand-set ${method === 'ties' ? 'TIES' : 'DARE-TIES'}`, await heldout({ kind: 'recipe', recipe: b.r, seed }, seed, b.name, b.f, cands.length));
        }
      }
      const space: PsSpace = { method: METHOD, base: baseRef, models: [lRef, mRef], numLayers: 4, layerGroups: GROUPS, weightMax: 2, normalize: false, seedForRandom: seed, densityMin: 0.05 };
      let psBest: Recipe | undefined;
      let psView: RunView | undefined;
      if (PARTS.has('ps') || PARTS.has('psdfs')) {
        process.stderr.write(`  PS (${METHOD}, ${GROUPS} layer groups, ${GENERATIONS} × ${POP})\n`);
        psView = await evolve(`bench-lang-ps-${seed}-${Date.now()}`, { kind: 'ps', ps: space, generations: GENERATIONS, seed, popSize: POP, limit: LIMIT, sparsity: { omega: 1, beta: 0, base: baseRef } });
        psBest = psView.top[0].recipe!;
        add('evolved PS', await heldout({ kind: 'recipe', recipe: psBest, seed }, seed, `${psView.evaluations} evaluations`, psView.top[0].fitness, psView.evaluations));
      }
      if (PARTS.has('dfs')) {
        process.stderr.write('  DFS (L ‖ M, r = 1, input scales)\n');
        const dfs = await evolve(`bench-lang-dfs-${seed}-${Date.now()}`, { kind: 'dfs', dfs: { modelA: lRef, modelB: mRef, layersA: 4, layersB: 4, repeats: 1, scales: true }, dfsA: { kind: 'model', ref: lRef }, generations: GENERATIONS, seed, separable: true, limit: LIMIT });
        const b = dfs.top[0];
        add('evolved DFS', await heldout({ kind: 'path', a: { kind: 'model', ref: lRef }, b: mRef, hops: b.hops! }, seed, hopsText(b.hops!), b.fitness, dfs.evaluations));
      }
      if (PARTS.has('psdfs') && psBest && psView) {
        process.stderr.write('  PS+DFS (model A: the PS merge; B: expert M)\n');
        const a = { kind: 'recipe' as const, recipe: psBest, seed };
        const dfs = await evolve(`bench-lang-psdfs-${seed}-${Date.now()}`, { kind: 'dfs', dfs: { modelA: 'ps-merge', modelB: mRef, layersA: 4, layersB: 4, repeats: 1, scales: true }, dfsA: a, generations: GENERATIONS, seed, separable: true, limit: LIMIT });
        const b = dfs.top[0];
        add('evolved PS+DFS', await heldout({ kind: 'path', a, b: mRef, hops: b.hops! }, seed, hopsText(b.hops!), b.fitness, psView.evaluations + dfs.evaluations));
      }
      if (PARTS.has('sae')) {
        process.stderr.write(`  SAE (β = ${SAE_BETA})\n`);
        const sae = await evolve(`bench-lang-sae-${seed}-${Date.now()}`, { kind: 'sae', ps: space, sae: { archiveSize: POP, beta: SAE_BETA, omega: 1, sparsityTerm: 'absolute', schedule: { sMin: 0.05, sMax: 0.5, t0: 16, tMult: 2 } }, generations: GENERATIONS, seed, popSize: POP, limit: LIMIT, sparsity: { omega: 1, beta: SAE_BETA, base: baseRef } });
        const acc = [...sae.top].sort((x, y) => y.fitness - x.fitness)[0];
        add('SAE, most accurate', await heldout({ kind: 'recipe', recipe: acc.recipe!, seed }, seed, `${sae.evaluations} evaluations`, acc.fitness, sae.evaluations));
        add('SAE, best ω·fitness + β·sparsity', await heldout({ kind: 'recipe', recipe: sae.top[0].recipe!, seed }, seed, `${sae.evaluations} evaluations`, sae.top[0].fitness, sae.evaluations));
      }
      if (PARTS.has('cabs')) {
        for (const d of PRUNE_DENSITIES) {
          const family: [string, (w: number) => Recipe][] = [
            [`CABS n:m ${Math.round(d * BLOCK)}:${BLOCK}`, (w) => recipe('cabs', w, w, d, { block_size: BLOCK }, seed)],
            ['TIES', (w) => recipe('ties', w, w, d, { normalize: false }, seed)],
            ['DARE (dare_linear)', (w) => recipe('dare_linear', w, w, d, {}, seed)],
          ];
          for (const [name, make] of family) {
            const b = await best(PRUNE_WEIGHTS.map((w) => ({ name: `weights ${w}`, r: make(w) })), seed);
            add(`${name}, density ${d}`, await heldout({ kind: 'recipe', recipe: b.r, seed }, seed, b.name, b.f, PRUNE_WEIGHTS.length));
          }
        }
      }
    }

    const minutes = (Date.now() - t0) / 60000;
    const pct = (x: number) => (100 * x).toFixed(1);
    const stat = (xs: number[]) => {
      const m = xs.reduce((a, b) => a + b, 0) / xs.length;
      const sd = xs.length > 1 ? Math.sqrt(xs.reduce((a, b) => a + (b - m) ** 2, 0) / (xs.length - 1)) : 0;
      return { m, sd, lo: Math.min(...xs), hi: Math.max(...xs) };
    };
    const cell = (xs: number[]) => {
      const s = stat(xs);
      return `${pct(s.m)} ± ${pct(s.sd)} (${pct(s.lo)}–${pct(s.hi)})`;
    };
    console.log(`\nbench:evolve — ${demo.split('/').slice(-1)[0]}: target ${tasks.target}; fitness on ${LIMIT} seeded search items, held-out = all ${tasks.target}.test items; seeds ${SEEDS.join(', ')}; evolution ${GENERATIONS} generations × ${POP} (PS/SAE: ${METHOD}, ${GROUPS} layer groups, weight ≤ 2); GPU ${[gpu.vendor, gpu.architecture].join(' ')}${gpu.isFallbackAdapter ? ' (software)' : ''}; ${evaluations} evaluations, ${minutes.toFixed(1)} min`);
    console.log(`| candidate | held-out ${tasks.target} (mean ± sd, min–max) | search | ${tasks.L} | ${tasks.M} | delta sparsity | budget (evaluations per seed) | seed ${SEEDS[0]}'s pick |`);
    console.log('|---|---|---|---|---|---|---|---|');
    const json: Record<string, Measured[]> = {};
    for (const [name, ms] of rows) {
      json[name] = ms;
      const sp = ms.map((m) => m.sparsity).filter((x): x is number => x !== undefined);
      const se = ms.map((m) => m.search).filter((x): x is number => x !== undefined);
      console.log(`| ${name} | **${cell(ms.map((m) => m.heldout))}** | ${se.length ? pct(stat(se).m) : '–'} | ${pct(stat(ms.map((m) => m.own[0])).m)} | ${pct(stat(ms.map((m) => m.own[1])).m)} | ${sp.length ? pct(stat(sp).m) : '–'} | ${ms[0].evaluations || '–'} | ${ms[0].note} |`);
    }
    if (process.env.BENCH_JSON) await writeFile(process.env.BENCH_JSON, JSON.stringify({ seeds: SEEDS, generations: GENERATIONS, pop: POP, limit: LIMIT, method: METHOD, groups: GROUPS, minutes, evaluations, rows: json }, null, 2));
  } finally {
    await browser?.close();
    await server.close();
  }
}

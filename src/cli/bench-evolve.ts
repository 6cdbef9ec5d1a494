// `npm run bench:evolve`: the results table of the README, reproduced on the demo models in
// headless Chromium with the studio's own engine worker (GPU merges, ONNX evaluation, CMA-ES and
// SAE in the worker, runs saved to IndexedDB as in the studio).
//   1. Baselines on the held-out test split: base, each expert, and the best hand-set TIES and
//      task-arithmetic recipes of a small grid (chosen on the search split, like the evolution).
//   2. Evolved PS merge (CMA-ES over per-group weight/density, dare_ties) — fitness on the search
//      split only; its best candidate scored on the held-out split.
//   3. SAE (same space and evaluation budget, β > 0) vs the plain evolution: held-out fitness and
//      sparsity of the merged delta.
//   4. CABS (n:m) vs TIES (magnitude-pruned task vectors) and DARE (dare_linear) at equal density,
//      each with its weight chosen on the search split.
// Budget and seeds are printed with the table; BENCH_GENERATIONS / BENCH_LIMIT / BENCH_SEED change them.
// This is the first demo family's table (BENCH_DEMO=public/demo). The default family, public/demo-lang,
// whose manifest names a target task, runs bench-evolve-lang.ts instead.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { findChromium, CHROMIUM_ARGS } from '../browser';
import type { Recipe } from '../recipe/types';
import type { EvalSetInput, EvaluateSummary, EvolveConfig, EvolveProgress, ModelSpec, RunView } from '../worker/api';
import type { EvalTarget } from '../eval/target';
import { resolveModel, type ResolvedModel } from './models';
import type { PsMethod, PsSpace } from '../evolve/genome-ps';
import { startCliServer } from './server';
import { REPO_ROOT } from './merge';
import { benchEvolveLang } from './bench-evolve-lang';

const DEMO = process.env.BENCH_DEMO ?? join(REPO_ROOT, 'public/demo-lang');
const GENERATIONS = Number(process.env.BENCH_GENERATIONS ?? 12);
const LIMIT = Number(process.env.BENCH_LIMIT ?? 100);
const SEED = Number(process.env.BENCH_SEED ?? 1);
const TASKS = ['addition', 'reversal'];
const SAE_BETA = Number(process.env.BENCH_SAE_BETA ?? 0.25);
const METHOD = (process.env.BENCH_METHOD ?? 'ties') as PsMethod;
const GROUPS = Number(process.env.BENCH_GROUPS ?? 2);
const FILTERS = process.env.BENCH_FILTERS === '1';
const DFS = process.env.BENCH_DFS === '1';
/** CMA-ES step size in gene units ([0, 1] box); Akiba et al. use 1/6. */
const SIGMA0 = Number(process.env.BENCH_SIGMA0 ?? 1 / 6);
const CABS_DENSITIES = [0.25, 0.5];
const CABS_WEIGHTS = [0.75, 1, 1.25];

interface Row {
  name: string;
  search?: number;
  heldout: number;
  perTask: number[];
  sparsity?: number;
  note?: string;
}

async function main(): Promise<void> {
  const manifest = JSON.parse(await readFile(join(DEMO, 'manifest.json'), 'utf8')) as { target?: string };
  if (manifest.target) return benchEvolveLang(DEMO);
  const models: ResolvedModel[] = [];
  for (const ref of ['demo-base', 'demo-add', 'demo-rev']) models.push(await resolveModel(ref, DEMO));
  const read = async (split: string): Promise<EvalSetInput[]> => Promise.all(TASKS.map(async (t) => ({ name: `${t}.${split}.jsonl`, text: await readFile(join(DEMO, 'evals', `${t}.${split}.jsonl`), 'utf8') })));
  const search = await read('search');
  const test = await read('test');
  const server = await startCliServer({ root: REPO_ROOT, models });
  let browser: Browser | undefined;
  const t0 = Date.now();
  try {
    const { chromium } = await import('playwright-core');
    browser = await chromium.launch({ executablePath: findChromium(), args: CHROMIUM_ARGS, headless: true });
    const page: Page = await browser.newPage();
    await page.exposeFunction('__evolveProgress', (p: EvolveProgress) => {
      if (p.kind === 'generation') {
        const g = p.run.history.at(-1)!;
        process.stderr.write(`  ${p.run.config.kind} generation ${g.generation + 1}/${p.run.config.generations}: best ${g.best.toFixed(3)} mean ${g.mean.toFixed(3)}${g.sparsityMean !== undefined ? ` sparsity ${g.sparsityMean.toFixed(3)}` : ''} (${(g.ms / 1000).toFixed(1)} s)\n`);
      }
    });
    await page.goto(`${server.origin}/cli.html`);
    await page.waitForFunction(() => window.__engineReady === true, null, { timeout: 120_000 });
    const gpu = await page.evaluate(() => window.capabilities());
    const specs: ModelSpec[] = models.map((m, i) => ({ ref: m.ref, files: m.files.map((f) => ({ path: f.path, size: f.size, url: `${server.modelsUrl}/${i}/${encodeURIComponent(f.path)}` })) }));

    const evaluate = async (target: EvalTarget, sets: EvalSetInput[], sparsity = false): Promise<EvaluateSummary> => {
      const r = await page.evaluate((req) => window.runEvaluate(req), { target, models: specs, evalSets: sets, limit: LIMIT, seed: SEED, mode: 'teacher-forced' as const, perItem: false, sparsity: sparsity ? { base: 'demo-base' } : undefined });
      if (!r.ok) throw new Error(r.error.message);
      return r.summary;
    };
    const score = (s: EvaluateSummary) => s.sets.map((m) => m.accuracy ?? 0);
    const rows: Row[] = [];
    const addRow = async (name: string, target: EvalTarget, note?: string, searchFitness?: number) => {
      const h = await evaluate(target, test, target.kind === 'recipe');
      rows.push({ name, search: searchFitness, heldout: h.fitness, perTask: score(h), sparsity: h.sparsity?.sparsity, note });
      process.stderr.write(`  ${name}: held-out ${h.fitness.toFixed(3)} (${score(h).map((x) => x.toFixed(3)).join(' / ')})\n`);
      return h;
    };

    process.stderr.write('baselines…\n');
    for (const ref of ['demo-base', 'demo-add', 'demo-rev']) await addRow(ref, { kind: 'model', ref });
    const recipe = (method: string, w: number, d?: number, extra: Record<string, number | boolean> = {}): Recipe => ({
      merge_method: method,
      base_model: 'demo-base',
      models: ['demo-add', 'demo-rev'].map((model) => ({ model, parameters: (d === undefined ? { weight: w } : { weight: w, density: d }) as Record<string, number> })),
      parameters: extra,
      dtype: 'float32',
      random_seed: SEED,
    });
    const grid: { name: string; r: Recipe }[] = [];
    for (const w of [0.5, 0.75, 1.0]) grid.push({ name: `task_arithmetic w=${w}`, r: recipe('task_arithmetic', w) });
    for (const w of [0.5, 1.0]) for (const d of [0.3, 0.5, 0.7]) grid.push({ name: `ties w=${w} d=${d}`, r: recipe('ties', w, d, { normalize: false }) });
    for (const family of ['task_arithmetic', 'ties']) {
      let best: { name: string; r: Recipe; f: number } | undefined;
      for (const g of grid.filter((x) => x.r.merge_method === family)) {
        const f = (await evaluate({ kind: 'recipe', recipe: g.r }, search)).fitness;
        if (!best || f > best.f) best = { ...g, f };
      }
      await addRow(`best hand-set ${family} (${best!.name}, of ${grid.filter((x) => x.r.merge_method === family).length} on search)`, { kind: 'recipe', recipe: best!.r }, undefined, best!.f);
    }

    const evolve = async (id: string, config: EvolveConfig): Promise<RunView> => {
      const r = await page.evaluate((req) => window.runEvolve(req), { id, config, inputs: { models: specs, search, heldout: test } });
      if (!r.ok) throw new Error(r.error.message);
      return r.run;
    };
    const space: PsSpace = { method: METHOD, base: 'demo-base', models: ['demo-add', 'demo-rev'], numLayers: 4, layerGroups: GROUPS, filters: FILTERS ? ['self_attn', 'mlp'] : undefined, weightMax: 2, normalize: false, seedForRandom: SEED, densityMin: 0.05 };
    const popSize = 8;
    process.stderr.write(`PS evolution (${METHOD}, ${GENERATIONS} generations × ${popSize})…\n`);
    const ps = await evolve(`bench-ps-${Date.now()}`, { kind: 'ps', ps: space, generations: GENERATIONS, seed: SEED, popSize, sigma0: SIGMA0, limit: LIMIT, sparsity: { omega: 1, beta: 0, base: 'demo-base' } });
    const psBest = ps.top[0];
    await addRow(`evolved PS (${METHOD}, ${GROUPS} layer groups${FILTERS ? ' × attn/mlp' : ''}, CMA-ES σ0 ${+SIGMA0.toFixed(3)}, ${ps.evaluations} evaluations)`, { kind: 'recipe', recipe: psBest.recipe!, seed: SEED }, undefined, psBest.fitness);

    process.stderr.write(`SAE (same space and budget, ω = 1, β = ${SAE_BETA})…\n`);
    const sae = await evolve(`bench-sae-${Date.now()}`, { kind: 'sae', ps: space, sae: { archiveSize: popSize, beta: SAE_BETA, omega: 1, sparsityTerm: 'absolute', schedule: { sMin: 0.05, sMax: 0.5, t0: 16, tMult: 2 } }, generations: GENERATIONS, seed: SEED, popSize, limit: LIMIT, sparsity: { omega: 1, beta: SAE_BETA, base: 'demo-base' } });
    // SAE's "best" for the comparison: its most accurate candidate on the search split
    const saeBest = [...sae.top].sort((a, b) => b.fitness - a.fitness)[0];
    await addRow(`SAE (β = ${SAE_BETA}, ${GENERATIONS * popSize} children), most accurate`, { kind: 'recipe', recipe: saeBest.recipe!, seed: SEED }, undefined, saeBest.fitness);
    const saeSparse = sae.top[0];
    await addRow(`SAE, best ω·fitness + β·sparsity`, { kind: 'recipe', recipe: saeSparse.recipe!, seed: SEED }, undefined, saeSparse.fitness);

    if (DFS) {
      process.stderr.write(`DFS (layer paths over demo-add ‖ demo-rev, r = 2, input scales; ${GENERATIONS} generations)…\n`);
      const dfs = await evolve(`bench-dfs-${Date.now()}`, {
        kind: 'dfs',
        dfs: { modelA: 'demo-add', modelB: 'demo-rev', layersA: 4, layersB: 4, repeats: 2, scales: true },
        dfsA: { kind: 'model', ref: 'demo-add' },
        generations: GENERATIONS,
        seed: SEED,
        separable: true,
        limit: LIMIT,
      });
      const best = dfs.top[0];
      await addRow(`evolved DFS (${best.hops!.length} hops: ${best.hops!.map((h) => `${h.model.toUpperCase()}${h.layer}×${h.scale.toFixed(2)}`).join(' ')}; ${dfs.evaluations} evaluations)`, { kind: 'path', a: { kind: 'model', ref: 'demo-add' }, b: 'demo-rev', hops: best.hops! }, undefined, best.fitness);
    }

    // CABS with its balanced n:m pruning (block 16, so both densities are exact n:m) against the
    // task-arithmetic family pruned to the same density: TIES (magnitude + sign election) and
    // DARE (dare_linear: random drop + rescale). Each method gets the same small λ grid (one weight
    // for both task vectors), chosen on the search split; the held-out split reports.
    process.stderr.write('CABS vs TIES and DARE at equal density…\n');
    const BLOCK = 16;
    for (const d of CABS_DENSITIES) {
      const family: { name: string; make: (w: number) => Recipe }[] = [
        { name: `CABS n:m = ${Math.round(d * BLOCK)}:${BLOCK}`, make: (w) => recipe('cabs', w, d, { block_size: BLOCK }) },
        { name: 'TIES', make: (w) => recipe('ties', w, d, { normalize: false }) },
        { name: 'DARE (dare_linear)', make: (w) => recipe('dare_linear', w, d) },
      ];
      for (const f of family) {
        let best: { w: number; f: number } | undefined;
        for (const w of CABS_WEIGHTS) {
          const fit = (await evaluate({ kind: 'recipe', recipe: f.make(w) }, search)).fitness;
          if (!best || fit > best.f) best = { w, f: fit };
        }
        await addRow(`${f.name}, density ${d}, weights ${best!.w} (best of ${CABS_WEIGHTS.join(' / ')} on search)`, { kind: 'recipe', recipe: f.make(best!.w) }, undefined, best!.f);
      }
    }

    const pct = (x: number | undefined) => (x === undefined ? '–' : (100 * x).toFixed(1));
    console.log(`\nbench:evolve — demo models, ${LIMIT} items per task per evaluation, seed ${SEED}, ${GENERATIONS} generations × ${popSize}; GPU ${[gpu.vendor, gpu.architecture].join(' ')}${gpu.isFallbackAdapter ? ' (software)' : ''}; ${((Date.now() - t0) / 60000).toFixed(1)} min`);
    console.log('| candidate | search fitness | held-out fitness | addition | reversal | delta sparsity |');
    console.log('|---|---|---|---|---|---|');
    for (const r of rows) console.log(`| ${r.name} | ${pct(r.search)} | **${pct(r.heldout)}** | ${pct(r.perTask[0])} | ${pct(r.perTask[1])} | ${pct(r.sparsity)} |`);
  } finally {
    await browser?.close();
    await server.close();
  }
}

main().catch((e) => {
  console.error(`error: ${e instanceof Error ? e.message : String(e)}`);
  process.exit(1);
});

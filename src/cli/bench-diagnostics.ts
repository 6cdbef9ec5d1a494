// `npm run bench:diagnostics`: how fast the merge diagnostics refresh after a slider move, in
// headless Chromium through the engine worker (the studio's path).
//
// Generates (once, cached in bench-out/diagnostics) a tiny Llama-shaped BF16 checkpoint (hidden 256,
// 4 layers, intermediate 688, vocab 1000) and fine-tunes of it. For each recipe (ties with
// changing densities; cabs with changing n of n:m; ties over 3 task vectors), in a fresh browser:
// the first call (headers, reads, decode, ranks, pipeline compilation), then REFRESHES calls that
// each move one slider (one model's density or n; models in turn), timed from Node around the page call. Prints the first-call time, the median and
// 90th-percentile refresh, the engine's own time, and a few of the figures the studio would draw.
// Target: median refresh ≤ 300 ms. Figures come from one run on one machine; nothing here is a test.
import { mkdir, rm } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseMergekitYaml } from '../recipe/mergekit-yaml';
import type { DiagnosticsReply, DiagnosticsRequest } from '../worker/api';
import { findChromium, CHROMIUM_ARGS } from '../browser';
import { resolveModel } from './models';
import { OutputDir } from './output-dir';
import { startCliServer } from './server';
import { REPO_ROOT } from './merge';
import { writeTinyLlama } from '../../tests/fixtures/checkpoints';

const SHAPE = { layers: 4, hidden: 256, intermediate: 688, vocab: 1000 };
const OUT = resolve(REPO_ROOT, 'bench-out', 'diagnostics');
const MODELS = join(OUT, 'models');
const REFRESHES = Number(process.env.BENCH_REFRESHES ?? 25);

async function ensureModels() {
  const base = join(MODELS, 'base');
  if (!existsSync(join(base, 'model.safetensors'))) {
    process.stderr.write(`generating ${MODELS}…\n`);
    await mkdir(MODELS, { recursive: true });
    await writeTinyLlama(base, { seed: 1, ...SHAPE, dtype: 'BF16' });
  }
  for (const [i, name] of ['expert_a', 'expert_b', 'expert_c'].entries()) {
    const dir = join(MODELS, name);
    if (!existsSync(join(dir, 'model.safetensors'))) await writeTinyLlama(dir, { seed: 10 + i, ...SHAPE, dtype: 'BF16', perturbFrom: { seed: 1, scale: 0.02 } });
  }
}

interface Bench {
  name: string;
  refs: string[];
  /** The recipe for refresh i (i = 0: the first call). */
  yaml(i: number): string;
}

const frac = (i: number, k: number) => 0.1 + 0.8 * ((i * 0.618 + k * 0.37) % 1);
/** A slider move per refresh: call i changes model i mod K only (call 0 sets every model). */
const moved = (i: number, k: number, K: number) => 7 * k + (i >= 1 + k ? Math.floor((i - 1 - k) / K) + 1 : 0);

const BENCHES: Bench[] = [
  {
    name: 'ties, 2 task vectors',
    refs: ['base', 'expert_a', 'expert_b'],
    yaml: (i) =>
      `merge_method: ties\nbase_model: base\nmodels:\n  - model: expert_a\n    parameters: {weight: 0.5, density: ${frac(moved(i, 0, 2), 0).toFixed(3)}}\n  - model: expert_b\n    parameters: {weight: 0.5, density: ${frac(moved(i, 1, 2), 1).toFixed(3)}}\nparameters: {normalize: true}\n`,
  },
  {
    name: 'cabs 2 task vectors, n:32',
    refs: ['base', 'expert_a', 'expert_b'],
    yaml: (i) =>
      `merge_method: cabs\nbase_model: base\nmodels:\n  - model: expert_a\n    parameters: {weight: 1, block_keep: ${1 + ((moved(i, 0, 2) * 7) % 16)}}\n  - model: expert_b\n    parameters: {weight: 1, block_keep: ${1 + ((moved(i, 1, 2) * 5) % 16)}}\nparameters: {block_size: 32}\n`,
  },
  {
    name: 'ties, 3 task vectors',
    refs: ['base', 'expert_a', 'expert_b', 'expert_c'],
    yaml: (i) =>
      `merge_method: ties\nbase_model: base\nmodels:\n${[0, 1, 2].map((k) => `  - model: expert_${'abc'[k]}\n    parameters: {weight: 0.4, density: ${frac(moved(i, k, 3), k).toFixed(3)}}\n`).join('')}parameters: {normalize: true}\n`,
  },
];

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * p))];

async function runBench(b: Bench): Promise<string> {
  const models = await Promise.all(b.refs.map((r) => resolveModel(r, MODELS)));
  const outDir = join(OUT, 'out');
  const output = new OutputDir(outDir, 'bench');
  const server = await startCliServer({ root: REPO_ROOT, models, output });
  const { chromium } = await import('playwright-core');
  const browser = await chromium.launch({ executablePath: findChromium(), args: CHROMIUM_ARGS, headless: true });
  try {
    const page = await browser.newPage();
    if (process.env.BENCH_VERBOSE) page.on('console', (m) => process.stderr.write(`[page] ${m.text()}\n`));
    await page.goto(`${server.origin}/cli.html`);
    await page.waitForFunction(() => window.__engineReady === true, null, { timeout: 120_000 });
    await page.evaluate(() => window.capabilities());
    const specs = models.map((m, i) => ({ ref: m.ref, files: m.files.map((f) => ({ path: f.path, size: f.size, url: `${server.modelsUrl}/${i}/${encodeURIComponent(f.path)}` })) }));
    const call = async (i: number): Promise<{ ms: number; res: DiagnosticsReply }> => {
      const req: DiagnosticsRequest = { recipe: parseMergekitYaml(b.yaml(i)), models: specs };
      const t0 = performance.now();
      const res = await page.evaluate((r) => window.runDiagnostics(r), req);
      const ms = performance.now() - t0;
      if (!res.ok) throw new Error(`${b.name}: ${res.error.message}`);
      if (process.env.BENCH_VERBOSE) process.stderr.write(`  call ${i}: ${ms.toFixed(0)} ms (engine ${res.elapsedMs.toFixed(0)} ms)\n`);
      return { ms, res };
    };
    const first = await call(0);
    const wall: number[] = [];
    const engine: number[] = [];
    let last = first.res;
    for (let i = 1; i <= REFRESHES; i++) {
      const r = await call(i);
      wall.push(r.ms);
      if (r.res.ok) engine.push(r.res.elapsedMs);
      last = r.res;
    }
    if (!last.ok) throw new Error('unreachable');
    const all = last.layers;
    const lines = [
      `${b.name.padEnd(28)} first ${first.ms.toFixed(0).padStart(5)} ms   refresh median ${median(wall).toFixed(0).padStart(4)} ms, p90 ${pct(wall, 0.9).toFixed(0).padStart(4)} ms (engine ${median(engine).toFixed(0)} ms)   ${last.tensors.length} tensors, ${(last.cache.bytes / 2 ** 20).toFixed(1)} MiB resident${median(wall) <= 300 ? '' : '   (over the 300 ms target)'}`,
    ];
    for (const l of all) {
      const label = l.layer === null ? 'other' : `layer ${l.layer}`;
      lines.push(
        `    ${label.padEnd(8)} density ${l.density.map((d) => d.toFixed(3)).join('/')}  merged sparsity ${l.mergedSparsity.toFixed(3)}  conflicts ${(100 * l.conflictRate).toFixed(1)}%  overlap ${l.overlap.map((o) => o.toFixed(3)).join('/')}  share ${l.share.map((s) => s.toFixed(2)).join('/')}`,
      );
    }
    return lines.join('\n');
  } finally {
    await browser.close();
    await server.close();
    await rm(outDir, { recursive: true, force: true });
  }
}

async function main() {
  await ensureModels();
  const { hidden, layers, intermediate, vocab } = SHAPE;
  process.stderr.write(`models: Llama-shaped BF16, hidden ${hidden}, ${layers} layers, intermediate ${intermediate}, vocab ${vocab}; ${REFRESHES} refreshes per recipe\n`);
  for (const b of BENCHES) {
    process.stderr.write(`running ${b.name}…\n`);
    process.stdout.write((await runBench(b)) + '\n');
  }
}

main().catch((e) => {
  process.stderr.write(`bench failed: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
});

// `npm run bench:ui`: how much a merge disturbs the studio's main thread. Builds the app, opens it
// in headless Chromium (WebGPU; SwiftShader without a GPU), records every main-thread long task
// (PerformanceObserver 'longtask', ≥ 50 ms by definition) while the demo recipe merges into a
// stubbed picked folder, several times, then the same for a larger generated merge (3 × 35 MB F16).
// Also times a slider move until the recipe's plan verdict is back from the inspector worker.
// Prints a table and writes bench-out/ui.json. Figures are machine-dependent; compare within a run.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build, preview } from 'vite';
import type { CDPSession, Page } from 'playwright-core';
import { findChromium, CHROMIUM_ARGS } from '../src/browser';
import { writeTinyLlama } from '../tests/fixtures/checkpoints';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const BIG_RUNS = Number(process.env.BENCH_BIG_RUNS ?? 2);

interface LongTask {
  start: number;
  duration: number;
}

function init() {
  // tsx (esbuild keepNames) wraps named functions in page.evaluate bodies with __name().
  (window as unknown as { __name: (f: unknown) => unknown }).__name = (f) => f;
  const w = window as unknown as { __long: { start: number; duration: number }[]; showDirectoryPicker: () => Promise<FileSystemDirectoryHandle> };
  w.__long = [];
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) w.__long.push({ start: e.startTime, duration: e.duration });
  }).observe({ type: 'longtask', buffered: true });
  let n = 0;
  w.showDirectoryPicker = async () => (await navigator.storage.getDirectory()).getDirectoryHandle(`bench-${Date.now()}-${n++}`, { create: true });
}

interface TraceTask {
  wallMs: number;
  cpuMs: number;
}

interface Run {
  ms: number;
  /** PerformanceObserver long tasks (wall clock, ≥ 50 ms). */
  tasks: LongTask[];
  /** Main-thread tasks from a Chromium trace: wall and thread-CPU time of each task ≥ 10 ms wall. */
  trace: TraceTask[];
}

/**
 * One merge from the Merge button to the hashed summary, traced. A long task's wall time counts
 * the time the main thread waited for a CPU (on a 2-core machine SwiftShader's threads take most
 * of it); its thread-CPU time is the work the studio itself did on the main thread.
 */
async function mergeOnce(page: Page, cdp: CDPSession): Promise<Run> {
  const events: TraceEvent[] = [];
  // The CDP event payloads are typed loosely; trace events are read as TraceEvent.
  const onData = (e: { value: object[] }) => events.push(...(e.value as TraceEvent[]));
  cdp.on('Tracing.dataCollected', onData);
  await cdp.send('Tracing.start', { categories: 'devtools.timeline,toplevel', transferMode: 'ReportEvents' });
  const t0 = await page.evaluate(() => performance.now());
  await page.getByRole('button', { name: 'Merge', exact: true }).click();
  // Cheap polling: Playwright's role selectors run on the page's main thread and would show up as
  // long tasks themselves.
  await page.waitForFunction(
    () => {
      const s = document.querySelector('[aria-label="Merge summary"]');
      return !!s && !s.textContent?.includes('hashing…');
    },
    null,
    { timeout: 600_000, polling: 250 },
  );
  const t1 = await page.evaluate(() => performance.now());
  const complete = new Promise((r) => cdp.once('Tracing.tracingComplete', r));
  await cdp.send('Tracing.end');
  await complete;
  cdp.off('Tracing.dataCollected', onData);
  const tasks = await page.evaluate(([a, b]) => (window as unknown as { __long: { start: number; duration: number }[] }).__long.filter((t) => t.start >= a && t.start <= b), [t0, t1]);
  const names = new Map<string, string>();
  for (const e of events) if (e.ph === 'M' && e.name === 'thread_name') names.set(`${e.pid}:${e.tid}`, String(e.args?.name));
  const trace: TraceTask[] = events
    .filter((e) => e.ph === 'X' && (e.name === 'RunTask' || e.name === 'ThreadControllerImpl::RunTask') && names.get(`${e.pid}:${e.tid}`) === 'CrRendererMain' && (e.dur ?? 0) >= 10_000)
    .map((e) => ({ wallMs: (e.dur ?? 0) / 1000, cpuMs: (e.tdur ?? 0) / 1000 }));
  if (process.env.BENCH_VERBOSE) for (const t of tasks) console.log(`  long task at +${Math.round(t.start - t0)} ms: ${Math.round(t.duration)} ms`);
  return { ms: t1 - t0, tasks, trace };
}

async function waitCharts(page: Page): Promise<void> {
  await page.waitForFunction(
    () => {
      const p = document.querySelector('.diagnostics');
      return p?.getAttribute('data-current') === 'yes' && !!p.querySelector('.diag-body') && !p.textContent?.includes('updating');
    },
    null,
    { timeout: 120_000, polling: 100 },
  );
}

interface TraceEvent {
  ph: string;
  name: string;
  pid: number;
  tid: number;
  dur?: number;
  tdur?: number;
  args?: { name?: string };
}

async function main(): Promise<void> {
  const outDir = mkdtempSync(join(tmpdir(), 'bench-ui-'));
  const models = mkdtempSync(join(tmpdir(), 'bench-ui-models-'));
  console.log('building the studio…');
  await build({ root: ROOT, logLevel: 'error', build: { outDir, emptyOutDir: true } });
  const server = await preview({ root: ROOT, logLevel: 'error', build: { outDir }, preview: { port: 0, host: '127.0.0.1' } });
  const { chromium } = await import('playwright-core');
  const browser = await chromium.launch({ executablePath: findChromium(), args: CHROMIUM_ARGS, headless: true });
  const results: Record<string, unknown> = {};
  try {
    const page = await browser.newPage({ viewport: { width: 1440, height: 920 } });
    await page.addInitScript(init);
    await page.goto(server.resolvedUrls!.local[0]);
    await page.waitForSelector('html[data-ready=true]', { timeout: 120_000 });
    await page.waitForFunction(() => /tensors/.test(document.querySelector('#editor-title + .badge')?.textContent ?? ''), null, { timeout: 60_000 });
    const adapter = await page.evaluate(async () => {
      const a = await navigator.gpu?.requestAdapter();
      return a ? `${a.info.vendor} ${a.info.architecture}`.trim() : 'none';
    });

    // 1. slider move → plan verdict back (the inspector worker re-plans the recipe)
    const lat: number[] = [];
    for (let i = 0; i < 10; i++) {
      const v = (0.3 + i * 0.05).toFixed(2);
      const t = await page.evaluate(async (v) => {
        const el = document.querySelector('input[type=range][aria-label="weight of demo-instruct"]') as HTMLInputElement;
        const badge = document.querySelector('#editor-title + .badge')!;
        const t0 = performance.now();
        const set = Object.getOwnPropertyDescriptor(HTMLInputElement.prototype, 'value')!.set!;
        const changed = new Promise<number>((ok) => {
          const obs = new MutationObserver(() => {
            obs.disconnect();
            ok(performance.now() - t0);
          });
          obs.observe(badge.parentElement!, { childList: true, characterData: true, subtree: true, attributes: true, attributeFilter: ['data-for'] });
          setTimeout(() => {
            obs.disconnect();
            ok(performance.now() - t0);
          }, 2000);
        });
        set.call(el, v);
        el.dispatchEvent(new Event('input', { bubbles: true }));
        return { plan: await changed };
      }, v);
      lat.push(t.plan);
    }
    lat.sort((a, b) => a - b);

    // 2. slider move → diagnostics charts redrawn (the engine's GPU diagnostics of the whole recipe)
    const charts: { total: number; engine: number; roundTrip: number; calls: number }[] = [];
    await waitCharts(page);
    for (const v of ['0.2', '0.3', '0.4', '0.5', '0.45', '0.35']) {
      const t = await page.evaluate(async (v) => {
        const el = document.querySelector('input[type=range][aria-label="density of demo-code"]') as HTMLInputElement;
        const set = Object.getOwnPropertyDescriptor(HTMLInputElement.prototype, 'value')!.set!;
        const t0 = performance.now();
        set.call(el, v);
        el.dispatchEvent(new Event('input', { bubbles: true }));
        await new Promise<void>((ok) => {
          const tick = () => {
            const p = document.querySelector('.diagnostics');
            if (p?.getAttribute('data-current') === 'yes' && !p.textContent?.includes('updating')) ok();
            else requestAnimationFrame(tick);
          };
          requestAnimationFrame(tick);
        });
        // the frame after the commit: charts are painted
        await new Promise((r) => requestAnimationFrame(() => r(null)));
        const head = document.querySelector('.diagnostics .panel-head')?.textContent ?? '';
        const trips = performance.getEntriesByName('diagnostics:round-trip').filter((e) => e.startTime >= t0);
        return { total: performance.now() - t0, engine: Number(/GPU (\d+) ms/.exec(head)?.[1] ?? NaN), roundTrip: trips.length ? trips[trips.length - 1].duration : NaN, calls: trips.length };
      }, v);
      charts.push(t);
    }
    charts.sort((a, b) => a.total - b.total);

    // 3. demo merges
    const demo = [];
    const cdp = await page.context().newCDPSession(page);
    for (let i = 0; i < RUNS; i++) demo.push(await mergeOnce(page, cdp));

    // 4. a larger merge: 3 × ~35 MB F16 (generated, dropped through the folder picker)
    const shape = { layers: 8, hidden: 384, intermediate: 1024, vocab: 4096, dtype: 'F16' as const };
    await writeTinyLlama(join(models, 'big-base'), { ...shape, seed: 100 });
    await writeTinyLlama(join(models, 'big-a'), { ...shape, seed: 101, perturbFrom: { seed: 100, scale: 0.02 } });
    await writeTinyLlama(join(models, 'big-b'), { ...shape, seed: 102, perturbFrom: { seed: 100, scale: 0.02 } });
    await page.locator('input[data-testid=input-folder]').setInputFiles(models);
    await page.waitForFunction(() => !document.body.textContent?.includes('Reading headers'), null, { timeout: 60_000 });
    await page.getByRole('textbox', { name: 'mergekit YAML' }).fill(
      'merge_method: ties\nbase_model: big-base\nmodels:\n  - model: big-a\n    parameters:\n      weight: 0.5\n      density: 0.4\n  - model: big-b\n    parameters:\n      weight: 0.5\n      density: 0.6\n',
    );
    await page.waitForFunction(() => /✓ 75 tensors · 3\d/.test(document.querySelector('#editor-title + .badge')?.textContent ?? ''), null, { timeout: 60_000 });
    const big = [];
    for (let i = 0; i < BIG_RUNS; i++) big.push(await mergeOnce(page, cdp));

    const summarize = (runs: Run[]) => {
      const all = runs.flatMap((r) => r.tasks);
      const traced = runs.flatMap((r) => r.trace);
      return {
        runs: runs.length,
        mergeMs: runs.map((r) => Math.round(r.ms)),
        longTasks: all.length,
        longestTaskMs: all.length ? Math.round(Math.max(...all.map((t) => t.duration))) : 0,
        longestTaskCpuMs: traced.length ? +Math.max(...traced.map((t) => t.cpuMs)).toFixed(1) : 0,
        tasksOver50msCpu: traced.filter((t) => t.cpuMs >= 50).length,
      };
    };
    results.adapter = adapter;
    results.cores = (await import('node:os')).cpus().length;
    results.sliderToPlanMs = { median: Math.round(lat[Math.floor(lat.length / 2)]), max: Math.round(lat[lat.length - 1]) };
    const mid = charts[Math.floor(charts.length / 2)];
    results.sliderToChartsMs = { median: Math.round(mid.total), max: Math.round(charts[charts.length - 1].total), engineMedian: Math.round(mid.engine), roundTripMedian: Math.round(mid.roundTrip) };
    if (process.env.BENCH_VERBOSE) for (const c of charts) console.log(`  slider → charts ${c.total.toFixed(0)} ms: engine ${c.engine} ms, worker round trip ${c.roundTrip.toFixed(0)} ms, ${c.calls} call(s)`);
    results.demoMerge = summarize(demo);
    results.largeMerge = { ...summarize(big), readMB: 104 };
    console.log(`adapter: ${adapter}, ${results.cores} CPU cores`);
    console.log(`slider move → plan verdict: median ${(results.sliderToPlanMs as { median: number }).median} ms, max ${(results.sliderToPlanMs as { max: number }).max} ms`);
    const sc = results.sliderToChartsMs as { median: number; max: number; engineMedian: number; roundTripMedian: number };
    console.log(`slider move → diagnostics charts redrawn: median ${sc.median} ms, max ${sc.max} ms (engine diagnostics ${sc.engineMedian} ms, worker round trip ${sc.roundTripMedian} ms)`);
    for (const [k, v] of [
      ['demo merge (3 × 189 kB)', results.demoMerge],
      ['large merge (3 × 35 MB)', results.largeMerge],
    ] as const) {
      const s = v as ReturnType<typeof summarize>;
      console.log(
        `${k}: ${s.runs} run(s), ${s.mergeMs.join(' / ')} ms; main-thread long tasks (≥ 50 ms wall): ${s.longTasks}, longest ${s.longestTaskMs} ms wall; ` +
          `longest task in main-thread CPU time ${s.longestTaskCpuMs} ms (${s.tasksOver50msCpu} ≥ 50 ms)`,
      );
    }
  } finally {
    await browser.close();
    await server.close();
    rmSync(outDir, { recursive: true, force: true });
    rmSync(models, { recursive: true, force: true });
  }
  mkdirSync(join(ROOT, 'bench-out'), { recursive: true });
  writeFileSync(join(ROOT, 'bench-out', 'ui.json'), JSON.stringify(results, null, 2) + '\n');
  console.log('wrote bench-out/ui.json');
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});

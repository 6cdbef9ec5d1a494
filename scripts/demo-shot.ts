// `npm run demo:shot`: the README's picture of an evolution, taken from a real run in the studio.
// Builds the app, opens it headless in Chromium (WebGPU; SwiftShader without a GPU) on a demo
// family (DEMO, default demo: the studio's default), starts the Evolution tab's default run as a first-time user
// would (nothing changed in the form), waits for it to finish, and screenshots the Evolution panel
// (fitness per generation, σ, sparsity, the fitness-vs-sparsity Pareto front, the best
// candidates) to public/<DEMO>-evolution.png. Prints the run's wall time and per-generation best.
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build, preview } from 'vite';
import { findChromium, CHROMIUM_ARGS } from '../src/browser';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const DEMO = process.env.DEMO ?? 'demo';
const OUT = process.env.SHOT_OUT ?? join(ROOT, 'public', `${DEMO}-evolution.png`);

async function main(): Promise<void> {
  if (!/^[\w-]+$/.test(DEMO)) throw new Error(`DEMO must be a folder name under public/, got "${DEMO}"`);
  const outDir = mkdtempSync(join(tmpdir(), 'demo-shot-'));
  await build({ root: ROOT, logLevel: 'error', build: { outDir, emptyOutDir: true } });
  const server = await preview({ root: ROOT, logLevel: 'error', build: { outDir }, preview: { port: 0, host: '127.0.0.1' } });
  const { chromium } = await import('playwright-core');
  const browser = await chromium.launch({ executablePath: findChromium(), args: CHROMIUM_ARGS, headless: true });
  try {
    const context = await browser.newContext({ viewport: { width: 1440, height: 1000 }, colorScheme: 'light', deviceScaleFactor: 1 });
    const page = await context.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(`${server.resolvedUrls!.local[0]}?demo=${DEMO}`);
    await page.waitForSelector('html[data-ready=true]', { timeout: 120_000 });
    await page.waitForFunction(() => !document.body.textContent?.includes('Reading headers'), null, { timeout: 120_000 });
    await page.getByRole('tab', { name: 'Evolution' }).click();
    const panel = page.getByRole('region', { name: 'Evolution' });
    await panel.waitFor();
    // the eval sets arrive after the shelf; the run check names the candidates per generation
    await page.waitForFunction(() => /candidates per generation/.test(document.querySelector('[aria-label="Run check"]')?.textContent ?? ''), null, { timeout: 120_000 });
    process.stderr.write(`run check: ${await panel.getByLabel('Run check').textContent()}\n`);
    const t0 = Date.now();
    await panel.getByRole('button', { name: 'Start evolution' }).click();
    await page.waitForFunction(() => ['done', 'stopped', 'failed'].includes(document.querySelector('.evolution')?.getAttribute('data-status') ?? ''), null, { timeout: 900_000, polling: 500 });
    const wall = (Date.now() - t0) / 1000;
    process.stderr.write(`status ${await page.locator('.evolution').getAttribute('data-status')}; ${wall.toFixed(0)} s; ${await panel.getByLabel('Evolution progress').textContent()}\n`);
    await page.getByRole('table', { name: 'Best candidates' }).waitFor();
    await page.waitForTimeout(500);
    await panel.screenshot({ path: OUT, animations: 'disabled' });
    process.stderr.write(`wrote ${OUT} (${(statSync(OUT).size / 1024).toFixed(0)} KiB)${errors.length ? `; page errors: ${errors.join(' | ')}` : ''}\n`);
  } finally {
    await browser.close();
    await server.close();
    rmSync(outDir, { recursive: true, force: true });
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});

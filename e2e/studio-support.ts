// Shared setup for the studio end-to-end tests: build the app once per file, serve it with
// `vite preview` (cross-origin isolated), drive Debian Chromium through playwright-core, and save a
// screenshot of every panel under test-results/studio/ (looked at by people, not only asserted).
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build, preview, type PreviewServer } from 'vite';
import type { Browser, BrowserContext, Locator, Page } from 'playwright-core';
import { findChromium, CHROMIUM_ARGS } from '../src/browser';
import { REPO } from './support';

export const SHOTS = join(REPO, 'test-results', 'studio');

export interface Studio {
  url: string;
  browser: Browser;
  close(): Promise<void>;
}

/** `webgpu: false` launches Chromium without --enable-unsafe-webgpu: no adapter in the page or its workers. */
export async function startStudio(opts: { webgpu?: boolean } = {}): Promise<Studio> {
  const outDir = mkdtempSync(join(tmpdir(), 'studio-ui-'));
  await build({ root: REPO, logLevel: 'error', build: { outDir, emptyOutDir: true } });
  const server: PreviewServer = await preview({ root: REPO, logLevel: 'error', build: { outDir }, preview: { port: 0, host: '127.0.0.1' } });
  const { chromium } = await import('playwright-core');
  const args = opts.webgpu === false ? CHROMIUM_ARGS.filter((a) => a !== '--enable-unsafe-webgpu' && !a.startsWith('--enable-features=Vulkan')) : CHROMIUM_ARGS;
  const browser = await chromium.launch({ executablePath: findChromium(), args, headless: true });
  mkdirSync(SHOTS, { recursive: true });
  return {
    url: server.resolvedUrls!.local[0],
    browser,
    close: async () => {
      await browser.close().catch(() => {});
      await server.close();
      rmSync(outDir, { recursive: true, force: true });
    },
  };
}

export interface OpenPage {
  page: Page;
  context: BrowserContext;
  /** Page errors and console errors seen so far. */
  errors: string[];
}

/** A fresh context (empty localStorage and OPFS) with the studio open and booted. */
/**
 * `demo`: the public/ folder of demo models (default 'demo-tiny', the random checkpoints these
 * tests were written against; 'demo' is the trained demo the studio loads by default).
 */
export async function openStudio(studio: Studio, opts: { hash?: string; context?: BrowserContext; init?: () => void; colorScheme?: 'light' | 'dark'; demo?: string } = {}): Promise<OpenPage> {
  const context = opts.context ?? (await studio.browser.newContext({ viewport: { width: 1440, height: 920 }, colorScheme: opts.colorScheme ?? 'dark' }));
  const page = await context.newPage();
  if (opts.init) await page.addInitScript(opts.init);
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(m.text());
  });
  await page.goto(studio.url + `?demo=${opts.demo ?? 'demo-tiny'}` + (opts.hash ?? ''));
  await page.waitForSelector('html[data-ready=true]', { timeout: 120_000 });
  return { page, context, errors };
}

export async function shot(target: Page | Locator, name: string): Promise<void> {
  await target.screenshot({ path: join(SHOTS, `${name}.png`), animations: 'disabled' });
}

/** Waits until every model card on the shelf has finished reading its headers. */
export async function shelfSettled(page: Page): Promise<void> {
  await page.waitForFunction(() => !document.body.textContent?.includes('Reading headers'), null, { timeout: 60_000 });
}

/** The plan badge shows the verdict for the current recipe (the inspector worker has answered). */
export async function planSettled(page: Page): Promise<string> {
  const badge = page.locator('#editor-title + .badge');
  await page.waitForFunction(() => document.querySelector('#editor-title + .badge')?.getAttribute('data-current') === 'yes', null, { timeout: 60_000 });
  return (await badge.textContent()) ?? '';
}

export function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** The diagnostics panel shows charts for the current recipe. */
export async function diagnosticsShown(page: Page): Promise<void> {
  await page.waitForFunction(
    () => {
      const p = document.querySelector('.diagnostics');
      return p?.getAttribute('data-current') === 'yes' && !!p.querySelector('.diag-body') && !p.textContent?.includes('updating');
    },
    null,
    { timeout: 120_000, polling: 100 },
  );
}

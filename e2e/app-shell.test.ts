// The studio opens in real Chromium: the built app is served by `vite preview` (with the
// cross-origin isolation headers) and shows the engine worker's WebGPU adapter report.
import { afterAll, beforeAll, expect, test } from 'vitest';
import { build, preview, type PreviewServer } from 'vite';
import type { Browser } from 'playwright-core';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findChromium, CHROMIUM_ARGS } from '../src/browser';

let server: PreviewServer;
let browser: Browser;
const outDir = mkdtempSync(join(tmpdir(), 'studio-build-'));

beforeAll(async () => {
  await build({ logLevel: 'error', build: { outDir, emptyOutDir: true } });
  server = await preview({ logLevel: 'error', build: { outDir }, preview: { port: 0, host: '127.0.0.1' } });
  const { chromium } = await import('playwright-core');
  browser = await chromium.launch({ executablePath: findChromium(), args: CHROMIUM_ARGS, headless: true });
});

afterAll(async () => {
  await browser?.close();
  await server?.close();
  rmSync(outDir, { recursive: true, force: true });
});

test('the built app opens cross-origin isolated and names the WebGPU adapter the engine worker got', async () => {
  const page = await browser.newPage();
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(m.text());
  });
  const url = server.resolvedUrls!.local[0];
  await page.goto(url);
  const adapter = await page.evaluate(async () => {
    const info = (await navigator.gpu.requestAdapter())?.info;
    return info ? { vendor: info.vendor, architecture: info.architecture } : undefined;
  });
  expect(adapter).toBeDefined();
  // the header names the engine worker's adapter once it has probed it
  await expect.poll(() => page.textContent('header'), { timeout: 60_000 }).toContain(adapter!.architecture || adapter!.vendor);
  expect(await page.title()).toBe('Merge Studio');
  expect(await page.evaluate(() => window.crossOriginIsolated)).toBe(true);
  // SwiftShader in CI: the software adapter is flagged, never silent
  if (adapter!.architecture === 'swiftshader') expect(await page.textContent('header')).toMatch(/software/);
  expect(errors).toEqual([]);
});

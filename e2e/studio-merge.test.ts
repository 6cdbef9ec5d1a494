// Merging from the built studio (Chromium, WebGPU): the demo recipe merged into a picked folder
// (showDirectoryPicker stubbed with an OPFS folder, as headless Chromium cannot show the picker), the
// written bytes compared with the engine's CPU reference; the OPFS + download fallback where the
// picker is missing; and "Cancel merge" mid-merge leaving nothing behind.
import { afterAll, beforeAll, expect, test } from 'vitest';
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { parseMergekitYaml } from '../src/recipe/mergekit-yaml';
import { writeTinyLlama } from '../tests/fixtures/checkpoints';
import { compareWithReference, expectedTensors, openModelsNode, readOutputFolder, REPO } from './support';
import { openStudio, planSettled, shelfSettled, shot, startStudio, tempDir, type Studio } from './studio-support';

let studio: Studio;
const root = tempDir('studio-merge-');
const bigDir = join(root, 'big');

beforeAll(async () => {
  // Large enough that a merge on a software adapter runs for seconds (cancel needs a moving target).
  const shape = { layers: 8, hidden: 384, intermediate: 1024, vocab: 4096, dtype: 'F16' as const };
  await writeTinyLlama(join(bigDir, 'big-base'), { ...shape, seed: 100 });
  await writeTinyLlama(join(bigDir, 'big-a'), { ...shape, seed: 101, perturbFrom: { seed: 100, scale: 0.02 } });
  await writeTinyLlama(join(bigDir, 'big-b'), { ...shape, seed: 102, perturbFrom: { seed: 100, scale: 0.02 } });
  studio = await startStudio();
});
afterAll(async () => {
  await studio?.close();
});

/** Headless Chromium has showDirectoryPicker but can never show it: hand out an OPFS folder instead. */
function stubPicker() {
  (window as unknown as { showDirectoryPicker: () => Promise<FileSystemDirectoryHandle> }).showDirectoryPicker = async () =>
    (await navigator.storage.getDirectory()).getDirectoryHandle('picked', { create: true });
}
function noPicker() {
  delete (window as unknown as { showDirectoryPicker?: unknown }).showDirectoryPicker;
  delete (Window.prototype as unknown as { showDirectoryPicker?: unknown }).showDirectoryPicker;
}

/** Every file under an OPFS folder, base64 (small outputs only). */
async function readOpfs(page: Page, dir: string): Promise<Record<string, string>> {
  return page.evaluate(async (dir) => {
    type Iter = FileSystemDirectoryHandle & { entries(): AsyncIterable<[string, FileSystemHandle]> };
    let d = await navigator.storage.getDirectory();
    for (const s of dir.split('/').filter(Boolean)) d = await d.getDirectoryHandle(s);
    const out: Record<string, string> = {};
    const walk = async (h: FileSystemDirectoryHandle, prefix: string) => {
      for await (const [name, c] of (h as Iter).entries()) {
        if (c.kind === 'directory') await walk(c as FileSystemDirectoryHandle, `${prefix}${name}/`);
        else {
          const bytes = new Uint8Array(await (await (c as FileSystemFileHandle).getFile()).arrayBuffer());
          let s = '';
          for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
          out[prefix + name] = btoa(s);
        }
      }
    };
    await walk(d, '');
    return out;
  }, dir);
}

const DEMO = join(REPO, 'public', 'demo-tiny');

test('Merge writes the demo merge into the picked folder, byte-checked against the CPU reference, with per-file SHA-256', async () => {
  const { page, errors } = await openStudio(studio, { init: stubPicker });
  await shelfSettled(page);
  await planSettled(page);
  const recipe = parseMergekitYaml(await page.getByRole('textbox', { name: 'mergekit YAML' }).inputValue());
  await page.getByRole('button', { name: 'Merge', exact: true }).click();
  const summary = page.getByRole('status', { name: 'Merge summary' });
  await summary.waitFor({ timeout: 180_000 });
  await page.waitForFunction(() => !document.querySelector('[aria-label="Merge summary"]')?.textContent?.includes('hashing…'), null, { timeout: 60_000 });
  expect(await summary.textContent()).toContain('Merged 75 tensors');
  await shot(page.getByRole('region', { name: 'Merge', exact: true }), 'merge-done');

  const files = await readOpfs(page, 'picked');
  expect(Object.keys(files).sort()).toEqual(['README.md', 'config.json', 'mergekit_config.yml', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json']);
  const out = join(root, 'out');
  mkdirSync(out, { recursive: true });
  for (const [p, b64] of Object.entries(files)) writeFileSync(join(out, p), Buffer.from(b64, 'base64'));
  const folder = await readOutputFolder(out);
  const models = await openModelsNode({ 'demo-base': join(DEMO, 'demo-base'), 'demo-instruct': join(DEMO, 'demo-instruct'), 'demo-code': join(DEMO, 'demo-code') });
  const expected = await expectedTensors(recipe, models);
  expect(compareWithReference(folder.tensors, expected, 1)).toEqual([]);
  expect(parseMergekitYaml(readFileSync(join(out, 'mergekit_config.yml'), 'utf8'))).toEqual(recipe);

  // the SHA-256 shown for each file is the file's
  const shown = await page.locator('[aria-label="Output files"] td.hash').evaluateAll((tds) => tds.map((td) => (td as HTMLElement).dataset.sha256));
  const paths = await page.locator('[aria-label="Output files"] tbody tr td:first-child').allTextContents();
  paths.forEach((p, i) => expect(shown[i], p).toBe(createHash('sha256').update(readFileSync(join(out, p))).digest('hex')));
  expect(errors).toEqual([]);
});

test('without a folder picker the merge goes to OPFS with download links', async () => {
  const { page, errors } = await openStudio(studio, { init: noPicker });
  await shelfSettled(page);
  await planSettled(page);
  await page.getByRole('textbox', { name: 'Output name' }).fill('demo merge');
  await page.getByRole('button', { name: 'Merge', exact: true }).click();
  const summary = page.getByRole('status', { name: 'Merge summary' });
  await summary.waitFor({ timeout: 180_000 });
  expect(await summary.textContent()).toContain('OPFS');
  const files = await readOpfs(page, 'merges/demo-merge');
  expect(Object.keys(files)).toContain('model.safetensors');
  const [download] = await Promise.all([page.waitForEvent('download'), summary.getByRole('link', { name: 'config.json', exact: true }).click()]);
  const saved = join(root, 'dl-config.json');
  await download.saveAs(saved);
  expect(readFileSync(saved).toString('base64')).toBe(files['config.json']);
  await shot(page.getByRole('region', { name: 'Merge', exact: true }), 'merge-done-opfs');
  expect(errors).toEqual([]);
});

test('Cancel merge stops a running merge and leaves no partial output', async () => {
  const { page, errors } = await openStudio(studio, { init: stubPicker });
  await shelfSettled(page);
  await page.getByTestId('input-folder').setInputFiles(bigDir);
  await shelfSettled(page);
  const yaml = 'merge_method: ties\nbase_model: big-base\nmodels:\n  - model: big-a\n    parameters:\n      weight: 0.5\n      density: 0.4\n  - model: big-b\n    parameters:\n      weight: 0.5\n      density: 0.6\n';
  await page.getByRole('textbox', { name: 'mergekit YAML' }).fill(yaml);
  await expect.poll(() => planSettled(page), { timeout: 30_000 }).toContain('75 tensors');
  await page.getByRole('button', { name: 'Merge', exact: true }).click();
  const bar = page.getByRole('progressbar', { name: 'Merge progress' });
  await bar.waitFor({ timeout: 60_000 });
  // wait for real progress, then cancel
  await page.waitForFunction(() => Number(document.querySelector('[aria-label="Merge progress"]')?.getAttribute('aria-valuenow')) >= 5, null, { timeout: 120_000 });
  await shot(page.getByRole('region', { name: 'Merge', exact: true }), 'merge-progress');
  const stats = (await page.locator('.progress-box .stats').textContent()) ?? '';
  expect(stats).toMatch(/\d+ \/ 75 tensors/);
  expect(stats).toMatch(/MB\/s/);
  await page.getByRole('button', { name: 'Cancel merge' }).click();
  await expect.poll(() => page.getByRole('region', { name: 'Merge', exact: true }).textContent(), { timeout: 60_000 }).toContain('Merge cancelled. No partial output was left behind.');
  expect(await readOpfs(page, 'picked')).toEqual({});
  const left = await page.evaluate(async () => {
    const d = await (await navigator.storage.getDirectory()).getDirectoryHandle('picked');
    const names: string[] = [];
    for await (const k of (d as FileSystemDirectoryHandle & { keys(): AsyncIterable<string> }).keys()) names.push(k);
    return names;
  });
  expect(left).toEqual([]);
  await shot(page.getByRole('region', { name: 'Merge', exact: true }), 'merge-cancelled');
  expect(errors).toEqual([]);
});

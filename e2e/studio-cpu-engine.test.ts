// The studio in a Chromium without WebGPU (no --enable-unsafe-webgpu: navigator.gpu gives no
// adapter, in the page or in its workers): the capability panel says merges run on the CPU engine,
// diagnostics are drawn from the CPU engine's masks, and the demo merge written by the studio is
// byte for byte what the CLI writes.
import { afterAll, beforeAll, expect, test } from 'vitest';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO, runCli } from './support';
import { diagnosticsShown, openStudio, planSettled, shelfSettled, shot, startStudio, tempDir, type Studio } from './studio-support';

let studio: Studio;
const root = tempDir('studio-cpu-');

beforeAll(async () => {
  studio = await startStudio({ webgpu: false });
});
afterAll(async () => {
  await studio?.close();
});

function stubPicker() {
  (window as unknown as { showDirectoryPicker: () => Promise<FileSystemDirectoryHandle> }).showDirectoryPicker = async () =>
    (await navigator.storage.getDirectory()).getDirectoryHandle('picked', { create: true });
}

test('without WebGPU the studio merges the demo recipe on the CPU engine, byte-identical to the CLI', async () => {
  const { page, errors } = await openStudio(studio, { init: stubPicker });
  // really no adapter, in the page and in a worker
  expect(await page.evaluate(async () => !!(navigator.gpu && (await navigator.gpu.requestAdapter())))).toBe(false);
  const panel = page.getByRole('region', { name: 'GPU' });
  await expect.poll(() => panel.textContent(), { timeout: 60_000 }).toContain('CPU engine');
  expect(await panel.textContent()).toContain('WebGPU unavailable');
  await shot(panel, 'capability-cpu-engine');
  await shelfSettled(page);
  await planSettled(page);
  // diagnostics come from the CPU engine too: charts, no error
  await diagnosticsShown(page);
  const diag = page.locator('.diagnostics');
  expect(await diag.getByRole('alert').count()).toBe(0);
  expect(await diag.textContent()).not.toContain('WebGPU');
  await shot(diag, 'diagnostics-cpu-engine');
  const yaml = await page.getByRole('textbox', { name: 'mergekit YAML' }).inputValue();
  await page.getByRole('button', { name: 'Merge', exact: true }).click();
  const summary = page.getByRole('status', { name: 'Merge summary' });
  await summary.waitFor({ timeout: 180_000 });
  await page.waitForFunction(() => !document.querySelector('[aria-label="Merge summary"]')?.textContent?.includes('hashing…'), null, { timeout: 60_000 });
  expect(await summary.textContent()).toContain('Merged 75 tensors');
  await shot(page, 'merge-done-cpu-engine');
  const b64 = await page.evaluate(async () => {
    const d = await (await navigator.storage.getDirectory()).getDirectoryHandle('picked');
    const bytes = new Uint8Array(await (await (await d.getFileHandle('model.safetensors')).getFile()).arrayBuffer());
    let s = '';
    for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
    return btoa(s);
  });
  const studioBytes = Buffer.from(b64, 'base64');

  mkdirSync(root, { recursive: true });
  const cfg = join(root, 'recipe.yml');
  writeFileSync(cfg, yaml);
  const out = join(root, 'cli-out');
  const r = await runCli([cfg, '--out', out, '--models-dir', join(REPO, 'public', 'demo-tiny'), '--backend', 'cpu']);
  expect(r.code, r.stderr).toBe(0);
  const cliBytes = readFileSync(join(out, 'model.safetensors'));
  expect(studioBytes.length).toBe(cliBytes.length);
  expect(Buffer.compare(studioBytes, cliBytes)).toBe(0);
  expect(errors).toEqual([]);
});

// The studio with the fake Hub (tests/fake-hub; the page reaches it by CORS): a share link whose
// checkpoints are Hub references pinned to commits offers to fetch them; a gated one needs the
// token; the fetched models merge to the reference's bytes; "Add from the Hub" takes a URL with a
// revision; the token never reaches the CDN origin, localStorage, IndexedDB, share links or YAML;
// the OPFS byte cache shows its usage and clears.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { parseMergekitYaml } from '../src/recipe/mergekit-yaml';
import { encodeShare, SHARE_PARAM, type ModelIdentity } from '../src/recipe/share-url';
import { startFakeHub, type FakeHub } from '../tests/fake-hub/server';
import { compareWithReference, expectedTensors, openModelsNode, readOutputFolder, REPO } from './support';
import { openStudio, shot, startStudio, type Studio } from './studio-support';
import { tmpdir } from 'node:os';

const DEMO = join(REPO, 'public', 'demo-tiny');
const TOKEN = 'hf_studioSecret987';
let studio: Studio;
let hub: FakeHub;
const commits: Record<string, string> = {};
let root: string;

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'studio-hub-'));
  hub = await startFakeHub({ tokens: [TOKEN] });
  for (const m of ['demo-base', 'demo-instruct', 'demo-code']) commits[m] = await hub.store.commitFolder(`demo/${m}`, join(DEMO, m), { gated: m === 'demo-code' });
  studio = await startStudio();
});
afterAll(async () => {
  await studio?.close();
  await hub?.close();
  rmSync(root, { recursive: true, force: true });
});

function noPicker() {
  delete (window as unknown as { showDirectoryPicker?: unknown }).showDirectoryPicker;
  delete (Window.prototype as unknown as { showDirectoryPicker?: unknown }).showDirectoryPicker;
}

async function readOpfs(page: Page, dir: string): Promise<Record<string, string>> {
  return page.evaluate(async (dir) => {
    type Iter = FileSystemDirectoryHandle & { entries(): AsyncIterable<[string, FileSystemHandle]> };
    let d = await navigator.storage.getDirectory();
    for (const s of dir.split('/').filter(Boolean)) d = await d.getDirectoryHandle(s);
    const out: Record<string, string> = {};
    for await (const [name, c] of (d as Iter).entries()) {
      if (c.kind !== 'file') continue;
      const bytes = new Uint8Array(await (await (c as FileSystemFileHandle).getFile()).arrayBuffer());
      let s = '';
      for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
      out[name] = btoa(s);
    }
    return out;
  }, dir);
}

/** Everything the page persisted: localStorage and every IndexedDB record, as text. */
async function persisted(page: Page): Promise<string> {
  return page.evaluate(async () => {
    const parts: string[] = [];
    for (let i = 0; i < localStorage.length; i++) parts.push(`${localStorage.key(i)}=${localStorage.getItem(localStorage.key(i)!)}`);
    for (const info of await indexedDB.databases()) {
      const db = await new Promise<IDBDatabase>((ok, fail) => {
        const r = indexedDB.open(info.name!);
        r.onsuccess = () => ok(r.result);
        r.onerror = () => fail(r.error);
      });
      for (const store of Array.from(db.objectStoreNames)) {
        const all = await new Promise<unknown[]>((ok, fail) => {
          const r = db.transaction(store).objectStore(store).getAll();
          r.onsuccess = () => ok(r.result);
          r.onerror = () => fail(r.error);
        });
        parts.push(`${store}:${JSON.stringify(all)}`);
      }
      db.close();
    }
    return parts.join('\n');
  });
}

test('a share link of pinned Hub models: fetch (gated needs the token), merge to the reference bytes, token never persisted', async () => {
  const recipeText = readFileSync(join(DEMO, 'recipe.yml'), 'utf8').replace(/\b(demo-base|demo-instruct|demo-code)\b/g, 'demo/$1');
  const recipe = parseMergekitYaml(recipeText, 'recipe.yml');
  const ids: ModelIdentity[] = ['demo-base', 'demo-instruct', 'demo-code'].map((m) => ({
    ref: `demo/${m}`,
    name: m,
    tensors: 0,
    bytes: 0,
    hash: '',
    hub: { repo: `demo/${m}`, commit: commits[m], endpoint: hub.url },
  }));
  const link = `&hub=${encodeURIComponent(hub.url)}#${SHARE_PARAM}=${encodeShare(recipe, ids)}`;
  const { page, errors } = await openStudio(studio, { init: noPicker, hash: link });
  const expects = page.locator('[aria-label="Checkpoints the shared recipe expects"]');
  await expects.waitFor();
  for (const m of ['demo-base', 'demo-instruct']) {
    await expects.getByRole('button', { name: new RegExp(`Fetch demo/${m}@`) }).click();
    await page.getByRole('listitem', { name: `Model demo/${m}` }).getByText('layers').waitFor({ timeout: 60_000 });
  }
  // gated: refused without a token, with the reason shown
  await expects.getByRole('button', { name: /Fetch demo\/demo-code@/ }).click();
  await page.getByRole('button', { name: 'Add from the Hub' }).click();
  const panel = page.getByRole('form', { name: 'Add from the Hub' });
  await expect.poll(() => panel.getByRole('alert').textContent(), { timeout: 30_000 }).toMatch(/"demo\/demo-code@[0-9a-f]{40}" is gated/);
  await panel.getByText('Token, Hub endpoint and cache').click();
  await panel.locator('input[name=hub-token]').fill(TOKEN);
  await panel.getByRole('button', { name: 'Use token' }).click();
  await expect.poll(() => panel.getByTestId('hub-token-state').textContent()).toBe('token set (memory only)');
  await expects.getByRole('button', { name: /Fetch demo\/demo-code@/ }).click();
  await page.getByRole('listitem', { name: 'Model demo/demo-code' }).getByText('layers').waitFor({ timeout: 60_000 });
  // each expected checkpoint now matches (pinned to the commit the link names)
  await expect.poll(() => expects.locator('.badge').allTextContents()).toEqual(['✓ matches', '✓ matches', '✓ matches']);
  await shot(page, 'hub-shelf');

  // merge from the Hub models: reading the headers cached every (small) file whole, so the merge
  // — on the CPU engine's Web Workers here (software adapter) — reads its tensors from the OPFS cache
  const cdnBefore = hub.log.filter((r) => r.origin === 'cdn').length;
  await page.getByRole('textbox', { name: 'Output name' }).fill('hub merge');
  await page.getByRole('button', { name: 'Merge', exact: true }).click();
  const summary = page.getByRole('status', { name: 'Merge summary' });
  await summary.waitFor({ timeout: 180_000 });
  expect(hub.log.filter((r) => r.origin === 'cdn').length).toBe(cdnBefore);
  const files = await readOpfs(page, 'merges/hub-merge');
  const out = join(root, 'out');
  mkdirSync(out, { recursive: true });
  for (const [p, b64] of Object.entries(files)) writeFileSync(join(out, p), Buffer.from(b64, 'base64'));
  const folder = await readOutputFolder(out);
  const models = await openModelsNode({ 'demo/demo-base': join(DEMO, 'demo-base'), 'demo/demo-instruct': join(DEMO, 'demo-instruct'), 'demo/demo-code': join(DEMO, 'demo-code') });
  expect(compareWithReference(folder.tensors, await expectedTensors(recipe, models), 1)).toEqual([]);

  // the token went to the Hub origin only, and nothing persisted it
  const cdn = hub.log.filter((r) => r.origin === 'cdn');
  expect(cdn.length).toBeGreaterThan(0);
  expect(cdn.filter((r) => r.authorization)).toEqual([]);
  expect(hub.log.some((r) => r.origin === 'hub' && r.authorization === `Bearer ${TOKEN}`)).toBe(true);
  await page.getByRole('button', { name: 'Copy share link' }).click();
  const shareLink = await page.getByRole('textbox', { name: 'Share link' }).inputValue();
  expect(shareLink).not.toContain(TOKEN);
  const yaml = await page.evaluate(() => document.body.innerText);
  expect(yaml).not.toContain(TOKEN);
  const stored = await persisted(page);
  expect(stored).not.toContain(TOKEN);
  expect(await page.evaluate(() => JSON.stringify(sessionStorage))).not.toContain(TOKEN);
  // the new link carries the Hub references pinned to their commits
  const code = new URL(shareLink).hash.slice(`#${SHARE_PARAM}=`.length);
  const { decodeShare } = await import('../src/recipe/share-url');
  const decoded = decodeShare(code);
  if (!decoded.ok) throw new Error(decoded.error);
  expect(decoded.payload.models.map((m) => m.hub?.commit).sort()).toEqual(Object.values(commits).sort());
  expect(decoded.payload.models.every((m) => m.hub?.endpoint === hub.url)).toBe(true);

  // the byte cache shows its usage and clears
  await expect.poll(() => panel.getByTestId('hub-cache-usage').textContent(), { timeout: 10_000 }).toMatch(/[1-9][\d.]* (kB|MB) cached/);
  await panel.getByRole('button', { name: 'Clear cache' }).click();
  await expect.poll(() => panel.getByTestId('hub-cache-usage').textContent()).toMatch(/^0 B cached in 0 blocks/);
  expect(errors.filter((e) => !/status of 40[13]/.test(e))).toEqual([]);
});

test('"Add from the Hub" takes a model URL with a revision and refuses a missing repo', async () => {
  const { page } = await openStudio(studio, { hash: `&hub=${encodeURIComponent(hub.url)}` });
  await page.getByRole('button', { name: 'Add from the Hub' }).click();
  const panel = page.getByRole('form', { name: 'Add from the Hub' });
  await panel.locator('input[name=hub-ref]').fill(`${hub.url}/demo/nope`);
  await panel.getByRole('button', { name: 'Add', exact: true }).click();
  await expect.poll(() => panel.getByRole('alert').textContent(), { timeout: 30_000 }).toMatch(/"demo\/nope" not found/);
  await panel.locator('input[name=hub-ref]').fill(`${hub.url}/demo/demo-base/tree/main`);
  await panel.getByRole('button', { name: 'Add', exact: true }).click();
  const card = page.getByRole('listitem', { name: 'Model demo/demo-base@main' });
  await card.getByText('layers').waitFor({ timeout: 60_000 });
  expect(await card.textContent()).toContain(`hub @${commits['demo-base'].slice(0, 7)}`);
  await shot(panel, 'hub-panel');
});

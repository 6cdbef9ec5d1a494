// "Publish to the Hub" from the built studio (Chromium) against the fake Hub's write API (another
// origin, CORS): the demo merge is written into a picked folder, then published; the pushed files
// equal the merged ones byte for byte, in one private commit, with the card's share link back to
// the studio; the token is in no pushed file and nothing persisted (localStorage, OPFS); a token the
// Hub rejects shows an error naming the repository and creates nothing.
import { afterAll, beforeAll, expect, test } from 'vitest';
import type { Page } from 'playwright-core';
import { emptyStore, startWriteHub, type WriteHub } from '../tests/fake-hub/write';
import { openStudio, planSettled, shelfSettled, shot, startStudio, type Studio } from './studio-support';

const TOKEN = 'hf_StudioWriteToken0123456789abcdef';
let studio: Studio;
let hub: WriteHub;

beforeAll(async () => {
  const store = emptyStore();
  store.tokens.set(TOKEN, { name: 'alice', orgs: [], role: 'write' });
  hub = await startWriteHub(store);
  studio = await startStudio();
});
afterAll(async () => {
  await studio?.close();
  await hub?.close();
});

function stubPicker() {
  (window as unknown as { showDirectoryPicker: () => Promise<FileSystemDirectoryHandle> }).showDirectoryPicker = async () =>
    (await navigator.storage.getDirectory()).getDirectoryHandle('picked', { create: true });
}

/** Every file under an OPFS folder, as base64. */
async function readOpfs(page: Page, dir: string): Promise<Record<string, string>> {
  return page.evaluate(async (dir) => {
    type Iter = FileSystemDirectoryHandle & { entries(): AsyncIterable<[string, FileSystemHandle]> };
    const d = await (await navigator.storage.getDirectory()).getDirectoryHandle(dir);
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

test('a merged model is published from the studio: one private commit equal to the merged files; the token is kept nowhere persistent', async () => {
  const { page, errors } = await openStudio(studio, { init: stubPicker });
  await shelfSettled(page);
  await planSettled(page);
  await page.getByRole('button', { name: 'Merge', exact: true }).click();
  await page.getByRole('status', { name: 'Merge summary' }).waitFor({ timeout: 180_000 });

  await page.getByText('Hub address').click();
  await page.getByRole('textbox', { name: 'Hub address' }).fill(hub.url);
  await page.getByRole('textbox', { name: 'Hub repository' }).fill('alice/studio-merge');
  // a token the Hub does not know first: an error naming the repo, nothing created
  await page.getByLabel('Hub token').fill('hf_UnknownToTheHub000000000000000');
  await page.getByRole('button', { name: 'Publish to the Hub' }).click();
  const alert = page.getByRole('alert', { name: 'Publish error' });
  await alert.waitFor({ timeout: 60_000 });
  expect(await alert.textContent()).toMatch(/alice\/studio-merge.*401/);
  expect(hub.store.repos.has('alice/studio-merge')).toBe(false);

  await page.getByLabel('Hub token').fill(TOKEN);
  await page.getByRole('button', { name: 'Publish to the Hub' }).click();
  const done = page.getByRole('status', { name: 'Published' });
  await done.waitFor({ timeout: 120_000 });
  expect(await done.textContent()).toContain(`${hub.url}/alice/studio-merge`);
  expect(await done.textContent()).toContain('new private repository');
  await shot(page.getByRole('region', { name: 'Merge', exact: true }), 'publish-done');

  const repo = hub.store.repos.get('alice/studio-merge')!;
  expect(repo.private).toBe(true);
  expect(repo.commits.length).toBe(2);
  const head = repo.commits[1];
  const local = await readOpfs(page, 'picked');
  expect([...head.files.keys()].filter((p) => p !== '.gitattributes').sort()).toEqual(Object.keys(local).sort());
  for (const [path, b64] of Object.entries(local)) expect(Buffer.from(head.files.get(path)!).equals(Buffer.from(b64, 'base64')), path).toBe(true);
  for (const [path, bytes] of head.files) expect(Buffer.from(bytes).includes(TOKEN), `token in ${path}`).toBe(false);
  const card = new TextDecoder().decode(head.files.get('README.md'));
  expect(card).toMatch(/tags:\n- merge\n- mergekit\n- merge-studio/);
  expect(card).toContain(`(${studio.url}#share=`);
  expect(card).toMatch(/engine: (CPU engine|WebGPU)/);
  // the token: sent to the Hub origin only; kept in memory (sessionStorage only when the user ticks
  // "keep for this tab" in the Hub panel), never in localStorage
  for (const r of hub.log) expect(r.authorization === undefined || r.origin === hub.url, `${r.method} ${r.origin}${r.path}`).toBe(true);
  const persisted = await page.evaluate(() => JSON.stringify(Object.entries(localStorage)));
  expect(persisted).not.toContain(TOKEN);
  expect(await page.evaluate(() => JSON.stringify(Object.entries(sessionStorage)))).not.toContain(TOKEN);
  expect(errors.filter((e) => !/401|Failed to load resource/.test(e))).toEqual([]);
});

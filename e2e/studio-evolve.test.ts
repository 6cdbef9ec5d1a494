// "Try it" and "Evolution" in the built studio (Chromium, WebGPU on SwiftShader), on the trained
// demo models (public/demo) and their eval sets: a greedy completion with no weights read back;
// then a tiny parameter-space run (6 generations of 4 candidates, 8 items per set) whose charts and
// best-candidates table fill live, paused, restored after a reload (IndexedDB), resumed,
// interrupted by another reload mid-run and resumed automatically, finished; the best candidate
// applied to the editor.
import { afterAll, beforeAll, expect, test } from 'vitest';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { parseMergekitYaml } from '../src/recipe/mergekit-yaml';
import { REPO } from './support';
import { openStudio, shelfSettled, shot, startStudio, type Studio } from './studio-support';

let studio: Studio;
/** Generations: enough that Pause lands mid-run even when candidates are fast. */
const G = 6;
const manifest = JSON.parse(readFileSync(join(REPO, 'public', 'demo', 'manifest.json'), 'utf8')) as { evals?: { name: string; split?: string }[] };
const demoSets = manifest.evals ?? [];

beforeAll(async () => {
  studio = await startStudio();
});
afterAll(async () => {
  await studio?.close();
});

const waitStatus = (page: Page, want: string[], timeout = 240_000) =>
  page.waitForFunction((w) => w.includes(document.querySelector('.evolution')?.getAttribute('data-status') ?? ''), want, { timeout, polling: 200 });
const progress = async (page: Page) => (await page.getByLabel('Evolution progress').textContent()) ?? '';

/** Visible form controls without an accessible name (the studio's rule: none). */
const unnamedControls = (page: Page) =>
  page.evaluate(() =>
    [...document.querySelectorAll('input:not([type=hidden]):not([hidden]), select, textarea, button, [role=slider]')]
      .filter((el) => !(el as HTMLElement).closest('[hidden]') && (el as HTMLInputElement).type !== 'file')
      .filter((el) => {
        const label = el.getAttribute('aria-label') || (el as HTMLInputElement).labels?.[0]?.textContent || el.textContent;
        return !label || !label.trim();
      })
      .map((el) => el.outerHTML.slice(0, 80)),
  );

async function evolutionTab(page: Page): Promise<void> {
  await page.getByRole('tab', { name: 'Evolution' }).click();
  await page.getByRole('region', { name: 'Evolution' }).waitFor();
}

test('Try it completes a prompt; a tiny evolution fills charts and table, pauses, survives reloads, resumes, and its best recipe applies', async () => {
  expect(demoSets.length, 'public/demo/manifest.json lists the demo eval sets').toBeGreaterThan(0);
  const { page, errors } = await openStudio(studio, { demo: 'demo' });
  await shelfSettled(page);

  // ---- Try it: greedy completion of the current merge, weights never read back
  await page.getByRole('tab', { name: 'Try it' }).click();
  const sets = page.getByRole('list', { name: 'Eval sets' });
  await expect.poll(() => sets.getByRole('listitem').count(), { timeout: 30_000 }).toBe(demoSets.length);
  await page.getByRole('button', { name: 'Use an example' }).click();
  expect(await page.getByRole('textbox', { name: 'Prompt' }).inputValue()).not.toBe('');
  await page.getByRole('spinbutton', { name: 'Max new tokens' }).fill('4');
  await page.getByRole('button', { name: 'Generate' }).click();
  const completion = page.getByRole('status', { name: 'Completion' });
  await completion.waitFor({ timeout: 120_000 });
  const said = (await completion.locator('mark').textContent()) ?? '';
  expect(said.length).toBeGreaterThan(0);
  expect(said).not.toBe('∅'); // at least one token before end-of-sequence
  expect(await completion.textContent()).toContain('weights read back: 0 B');
  await shot(page.getByRole('region', { name: 'Try it' }), 'try-it-completion');
  expect(await unnamedControls(page)).toEqual([]);

  // ---- a tiny PS run: ties over the recipe's models, 3 generations of 4, 8 items per set
  await evolutionTab(page);
  const panel = page.getByRole('region', { name: 'Evolution' });
  expect(await panel.getByRole('combobox', { name: 'Run kind' }).inputValue()).toBe('ps');
  await panel.getByRole('combobox', { name: 'Evolution method' }).selectOption('ties');
  await panel.getByRole('spinbutton', { name: 'Generations' }).fill(String(G));
  await panel.getByRole('spinbutton', { name: 'Items per set' }).fill('8');
  await panel.getByRole('spinbutton', { name: 'Population' }).fill('4');
  // the demo's names give the roles: *.search.* is the fitness, *.test.* is held out
  for (const s of demoSets) expect(await panel.getByRole('combobox', { name: `Role of ${s.name}` }).inputValue()).toBe(s.split === 'search' ? 'search' : s.split === 'test' ? 'heldout' : 'off');
  expect(await panel.getByLabel('Run check').textContent()).toContain('4 candidates per generation');
  await panel.getByRole('button', { name: 'Start evolution' }).click();
  await waitStatus(page, ['running']);
  expect(await panel.getByRole('button', { name: 'Start evolution' }).isDisabled()).toBe(true);

  // the first generation arrives: charts and the best-candidates table fill
  const table = panel.getByRole('table', { name: 'Best candidates' });
  await table.waitFor({ timeout: 240_000 });
  await panel.getByRole('button', { name: 'Pause' }).click();
  await waitStatus(page, ['pausing', 'paused'], 5_000);
  await waitStatus(page, ['paused']);
  // the generation running when Pause was pressed completes, then the run stops there
  const at = /generation (\d+)\/6 · (\d+) evaluations · [\d.]+ candidates\/min/.exec(await progress(page));
  expect(at).not.toBeNull();
  const done = Number(at![1]);
  expect(done).toBeGreaterThanOrEqual(1);
  expect(done).toBeLessThan(G);
  expect(Number(at![2])).toBe(4 * done);
  const fitness = panel.getByRole('figure', { name: 'Fitness per generation' });
  expect(await fitness.locator('.recharts-line').count()).toBe(2);
  expect(await panel.getByRole('figure', { name: 'Step size σ' }).locator('.recharts-line').count()).toBe(1);
  expect(await panel.getByRole('figure', { name: 'Sparsity per generation' }).locator('.recharts-line').count()).toBe(1);
  const scatter = panel.getByRole('figure', { name: 'Fitness vs sparsity' });
  expect(await scatter.locator('.recharts-scatter-symbol').count()).toBeGreaterThanOrEqual(8);
  expect(await scatter.getAttribute('data-points')).toBe(String(4 * done)); // every candidate so far
  expect(Number(await scatter.getAttribute('data-front'))).toBeGreaterThanOrEqual(1);
  const rows = await table.locator('tbody tr').count();
  expect(rows).toBeGreaterThan(0);
  // held-out fitness with its 95% interval on the 8 items per set; search fitness too
  await expect.poll(() => table.locator('tbody tr td:nth-child(4)').first().textContent()).toMatch(/^\d\.\d{3} \d\.\d{2}–\d\.\d{2}$/);
  expect(await table.locator('tbody tr td:nth-child(3) .ci').first().getAttribute('title')).toBe('95% interval on 8 items per set');
  expect(await panel.locator('.cand-note').textContent()).toMatch(/Fitness is measured on 8 items per set \(2 search sets\): the best candidate's 95% interval is/);
  // each recipe once: no two rows with the same genes
  const geneCells = await table.locator('tbody tr td.cand-genes').allTextContents();
  if (geneCells.length > 1) expect(new Set(geneCells).size).toBe(geneCells.length);
  await shot(panel, 'evolution-paused');

  // ---- reload: the paused run is restored from IndexedDB, Resume continues it
  await page.reload();
  await page.waitForSelector('html[data-ready=true]', { timeout: 120_000 });
  await page.getByRole('tab', { name: 'Evolution' }).waitFor();
  expect(await page.getByRole('tab', { name: 'Evolution' }).getAttribute('aria-selected')).toBe('true'); // the tab survives reloads
  await waitStatus(page, ['paused'], 60_000);
  expect(await progress(page)).toContain(`generation ${done}/${G} · ${4 * done} evaluations`);
  expect(await panel.getByRole('table', { name: 'Best candidates' }).locator('tbody tr').count()).toBe(rows);
  expect(await fitness.locator('.recharts-line').count()).toBe(2);
  await panel.getByText('Configure a run').click(); // folded while a run is shown
  expect(await panel.getByRole('spinbutton', { name: 'Generations' }).inputValue()).toBe(String(G)); // the form survives too
  await panel.getByRole('button', { name: 'Resume' }).click();
  await waitStatus(page, ['running']);
  // a candidate of the next generation is in: the worker has marked the run running in IndexedDB
  await expect.poll(() => progress(page), { timeout: 120_000 }).toMatch(/candidate [2-4]\/4/);

  // ---- the page dies mid-run: on the next load the run resumes by itself and finishes
  await page.reload();
  await page.waitForSelector('html[data-ready=true]', { timeout: 120_000 });
  await waitStatus(page, ['running', 'done'], 60_000);
  await waitStatus(page, ['done']);
  expect(await progress(page)).toContain(`generation ${G}/${G} · ${4 * G} evaluations`);
  await shot(panel, 'evolution-done');

  // ---- the best candidate: YAML, then Apply puts it into the editor
  await panel.getByRole('button', { name: 'YAML of candidate 1' }).click();
  const exported = parseMergekitYaml(await panel.getByRole('textbox', { name: 'Exported YAML' }).inputValue());
  expect(exported.merge_method).toBe('ties');
  await panel.getByRole('button', { name: 'Apply candidate 1' }).click();
  const applied = parseMergekitYaml(await page.getByRole('textbox', { name: 'mergekit YAML' }).inputValue());
  expect(applied).toEqual(exported);
  expect(applied.base_model).toBeTruthy();
  expect(applied.models!.length).toBeGreaterThan(0);
  await panel.getByRole('button', { name: 'Export mergekit-evolve config' }).click();
  expect(await panel.getByRole('textbox', { name: 'Exported YAML' }).inputValue()).toMatch(/merge_method: ties[\s\S]*tasks:/);
  await panel.getByText('Configure a run').click();
  await panel.getByText('Saved runs').click();
  expect(await unnamedControls(page)).toEqual([]);
  await shot(page, 'evolution-applied');
  // late progress messages (their own port) must not bring back a "running" view of a finished run
  expect(await panel.getAttribute('data-status')).toBe('done');
  expect(errors).toEqual([]);
});

/**
 * A slow disk: while sessionStorage says "e2e-hold-idb", every write to the eval-sets store keeps its
 * IndexedDB transaction open (a chain of count() requests), so the write is still in flight when
 * the test reloads. A reload closes the page's connection and aborts that transaction: whatever
 * the studio only had in that write is lost, which is the race the journal exists for.
 */
function slowDisk(): void {
  const hold = () => sessionStorage.getItem('e2e-hold-idb') === '1';
  for (const m of ['put', 'delete'] as const) {
    const original = IDBObjectStore.prototype[m] as (...a: unknown[]) => IDBRequest;
    (IDBObjectStore.prototype as unknown as Record<string, unknown>)[m] = function (this: IDBObjectStore, ...a: unknown[]) {
      const req = original.apply(this, a);
      if (this.name === 'eval-sets' && hold()) {
        const spin = () => {
          if (hold()) this.count().onsuccess = spin;
        };
        spin();
      }
      return req;
    };
  }
}

test('eval files the user adds are kept across reloads until removed, and win over a demo set of the same name', async () => {
  const { page, errors } = await openStudio(studio, { demo: 'demo', init: slowDisk });
  const holdWrites = (on: boolean) => page.evaluate((on) => (on ? sessionStorage.setItem('e2e-hold-idb', '1') : sessionStorage.removeItem('e2e-hold-idb')), on);
  await page.getByRole('tab', { name: 'Try it' }).click();
  const sets = page.getByRole('list', { name: 'Eval sets' });
  const count = () => sets.getByRole('listitem').count();
  await expect.poll(count, { timeout: 30_000 }).toBe(demoSets.length);
  const dir = mkdtempSync(join(tmpdir(), 'evalsets-'));
  const mine = join(dir, 'mine.test.jsonl');
  writeFileSync(mine, '{"prompt": "1+1=", "answer": "2"}\n{"prompt": "2+2=", "answer": "4"}\n{"prompt": "3+3=", "answer": "6"}\n');
  const clash = join(dir, demoSets[0].name); // the user's own file under a demo set's name
  writeFileSync(clash, '{"prompt": "5+5=", "answer": "10"}\n');
  const mineRow = sets.getByRole('listitem').filter({ hasText: 'mine.test.jsonl' });
  const clashRow = sets.getByRole('listitem').filter({ hasText: demoSets[0].name });
  const saveState = (row: typeof mineRow) => row.getByRole('status').textContent();
  const reloaded = async () => {
    await page.reload();
    await page.waitForSelector('html[data-ready=true]', { timeout: 120_000 });
    await page.getByRole('tab', { name: 'Try it' }).click();
  };
  const journal = () => page.evaluate(() => Object.keys(localStorage).filter((k) => k.startsWith('merge-studio-journal')));

  // ---- add while the disk is slow: listed at once, but "saving…" until IndexedDB has it
  await holdWrites(true);
  await page.getByTestId('input-evalsets').setInputFiles([mine, clash]);
  await expect.poll(count).toBe(demoSets.length + 1);
  expect(await saveState(mineRow)).toBe('saving…');
  // reload at once, the writes still in flight: nothing is lost
  await reloaded();
  await expect.poll(() => mineRow.count(), { timeout: 30_000 }).toBe(1);
  expect(await saveState(mineRow)).toBe('saving…'); // listed from the journal, being written again
  await holdWrites(false);
  await expect.poll(count, { timeout: 30_000 }).toBe(demoSets.length + 1);
  await expect.poll(() => saveState(mineRow)).toBe('saved in this browser');
  await expect.poll(() => saveState(clashRow)).toBe('saved in this browser');
  await expect.poll(journal).toEqual([]); // settled writes leave nothing in the journal
  await reloaded();
  await expect.poll(() => page.getByText('Loading the demo eval sets…').count()).toBe(0);
  await expect.poll(count, { timeout: 30_000 }).toBe(demoSets.length + 1);
  expect(await mineRow.textContent()).toContain('3 exact');
  expect(await clashRow.textContent()).toContain('1 exact'); // still the user's file, not the demo's
  expect(await clashRow.getByText('demo').count()).toBe(0);
  expect(await saveState(mineRow)).toBe('saved in this browser');
  await shot(page.getByRole('region', { name: 'Try it' }), 'try-it-eval-sets-saved');

  // ---- remove while the disk is slow and reload at once: the sets do not come back
  await holdWrites(true);
  await page.getByRole('button', { name: 'Remove mine.test.jsonl' }).click();
  await page.getByRole('button', { name: `Remove ${demoSets[0].name}` }).click();
  await expect.poll(count).toBe(demoSets.length - 1);
  await reloaded();
  await holdWrites(false);
  await expect.poll(() => page.getByText('Loading the demo eval sets…').count()).toBe(0);
  await expect.poll(count, { timeout: 30_000 }).toBe(demoSets.length); // the demo set is back, mine is gone
  expect(await mineRow.count()).toBe(0);
  expect(await clashRow.getByText('demo').count()).toBe(1);
  await expect.poll(journal).toEqual([]);
  expect(errors).toEqual([]);
});

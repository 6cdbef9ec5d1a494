// The recipe editor in the built studio (Chromium): every control named, sliders / numeric entry /
// keyboard / per-layer curves / filter tabs / method picker / slices editing the recipe, the YAML pane
// both ways (with the error at its line), import and export, share links reopened in a fresh page
// (and a damaged one explained), and the recipe surviving a reload.
import { afterAll, beforeAll, expect, test } from 'vitest';
import { copyFileSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseMergekitYaml } from '../src/recipe/mergekit-yaml';
import { evaluateSetting } from '../src/recipe/resolve';
import type { Page } from 'playwright-core';
import { openStudio, planSettled, shelfSettled, shot, startStudio, tempDir, type Studio } from './studio-support';
import { REPO } from './support';

let studio: Studio;
const dir = tempDir('studio-recipe-');

beforeAll(async () => {
  studio = await startStudio();
});
afterAll(async () => {
  await studio?.close();
});

const yamlOf = (page: Page) => page.getByRole('textbox', { name: 'mergekit YAML' }).inputValue();
const recipeOf = async (page: Page) => parseMergekitYaml(await yamlOf(page));

async function ready(page: Page) {
  await shelfSettled(page);
  await planSettled(page);
}

test('every control the issue names is there, with that accessible name', async () => {
  const { page, errors } = await openStudio(studio);
  await ready(page);
  for (const name of ['Add model files', 'Add model folder', 'Merge', 'Copy share link', 'Import mergekit YAML', 'Export mergekit YAML'])
    expect(await page.getByRole('button', { name, exact: true }).count(), name).toBe(1);
  expect(await page.getByRole('combobox', { name: 'Merge method' }).count()).toBe(1);
  // Cancel merge exists while a merge runs (studio-merge.test.ts).
  // Every form control has a name.
  const unnamed = await page.evaluate(() =>
    [...document.querySelectorAll('input:not([type=hidden]):not([hidden]), select, textarea, button, [role=slider]')]
      .filter((el) => !(el as HTMLElement).closest('[hidden]') && (el as HTMLInputElement).type !== 'file')
      .filter((el) => {
        const label = el.getAttribute('aria-label') || (el as HTMLInputElement).labels?.[0]?.textContent || el.textContent;
        return !label || !label.trim();
      })
      .map((el) => el.outerHTML.slice(0, 80)),
  );
  expect(unnamed).toEqual([]);
  expect(errors).toEqual([]);
});

test('sliders, numeric entry, keyboard and the per-layer curve edit the recipe; YAML follows', async () => {
  const { page, errors } = await openStudio(studio);
  await ready(page);
  // range slider
  await page.getByRole('slider', { name: 'weight of demo-instruct' }).fill('0.8');
  expect((await recipeOf(page)).models![0].parameters!.weight).toBe(0.8);
  // exact entry
  await page.getByRole('spinbutton', { name: 'weight of demo-code' }).fill('0.25');
  expect(await yamlOf(page)).toContain('weight: 0.25');
  // keyboard on the slider: one step
  await page.getByRole('slider', { name: 'weight of demo-code' }).focus();
  await page.keyboard.press('ArrowRight');
  expect((await recipeOf(page)).models![1].parameters!.weight).toBeCloseTo(0.26, 10);
  // a scalar becomes a per-layer curve
  await page.getByRole('button', { name: 'Per-layer curve for density of demo-code' }).click();
  expect((await recipeOf(page)).models![1].parameters!.density).toEqual([0.5, 0.5, 0.5]);
  // keyboard on a curve anchor
  const a1 = page.getByRole('slider', { name: 'density of demo-instruct, anchor 1 of 3' });
  await a1.focus();
  for (let i = 0; i < 5; i++) await page.keyboard.press('ArrowUp');
  await page.keyboard.press('PageDown');
  let density = (await recipeOf(page)).models![0].parameters!.density as number[];
  expect(density[0]).toBeCloseTo(0.25, 10);
  // drag the last anchor up by the pointer
  const a3 = page.getByRole('slider', { name: 'density of demo-instruct, anchor 3 of 3' });
  const box = (await a3.boundingBox())!;
  await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
  await page.mouse.down();
  await page.mouse.move(box.x + box.width / 2, box.y - 10, { steps: 4 });
  await page.mouse.up();
  density = (await recipeOf(page)).models![0].parameters!.density as number[];
  expect(density[2]).toBeGreaterThan(0.7);
  // the per-layer values shown are mergekit's (t = i / (L - 1) over 8 layers)
  const shown = (await page.getByLabel('Per-layer values: density of demo-instruct').textContent())!;
  const expected = Array.from({ length: 8 }, (_, i) => String(+Number(evaluateSetting(density, i / 7, '')).toFixed(2))).join('');
  expect(shown).toBe(expected);
  // add an anchor: the curve keeps its shape
  await page.getByRole('button', { name: 'Add an anchor to density of demo-instruct' }).click();
  expect(((await recipeOf(page)).models![0].parameters!.density as number[]).length).toBe(4);
  await shot(page.getByRole('region', { name: 'Recipe' }), 'recipe-curves');

  // filter tab: a value only for self_attn tensors
  await page.getByRole('tab', { name: 'self_attn' }).click();
  await page.getByRole('spinbutton', { name: 'weight of demo-code' }).fill('0.9');
  const w = (await recipeOf(page)).models![1].parameters!.weight;
  expect(w).toEqual([{ filter: 'self_attn', value: 0.9 }, { value: 0.26 }]);
  // a custom filter
  await page.getByLabel('Custom tensor filter').fill('q_proj');
  await page.getByLabel('Custom tensor filter').press('Enter');
  expect(await page.getByRole('tab', { name: 'q_proj' }).getAttribute('aria-selected')).toBe('true');
  await page.getByRole('slider', { name: 'lambda' }).fill('1.5');
  expect((await recipeOf(page)).parameters!.lambda).toEqual([{ filter: 'q_proj', value: 1.5 }, { value: 1 }]);
  await shot(page.getByRole('region', { name: 'Recipe' }), 'recipe-filter-tabs');
  await page.getByRole('tab', { name: 'All tensors' }).click();
  await expect.poll(() => planSettled(page)).toContain('75 tensors');
  expect(errors).toEqual([]);
});

test('method picker and the slices editor (passthrough frankenmerge)', async () => {
  const { page, errors } = await openStudio(studio);
  await ready(page);
  const picker = page.getByRole('combobox', { name: 'Merge method' });
  const options = await picker.locator('option').allTextContents();
  expect(options.length).toBeGreaterThanOrEqual(8);
  await picker.selectOption('linear');
  let r = await recipeOf(page);
  expect(r.merge_method).toBe('linear');
  expect(r.models!.map((m) => m.model)).toContain('demo-base');
  await picker.selectOption('slerp');
  r = await recipeOf(page);
  expect(r.merge_method).toBe('slerp');
  expect(r.parameters!.t).toBe(0.5);
  await expect.poll(() => planSettled(page)).toContain('75 tensors');
  // CABS: n:m pruning and the pruning order from per-model priorities
  await picker.selectOption('cabs');
  // slerp kept one input; take demo-code back in from the shelf
  await page.getByRole('listitem', { name: 'Model demo-code' }).getByRole('radio', { name: 'Input' }).check();
  await page.getByRole('spinbutton', { name: 'block_size', exact: true }).fill('4');
  await page.getByRole('spinbutton', { name: 'block_keep of demo-instruct' }).fill('2');
  await page.getByRole('spinbutton', { name: 'block_keep of demo-code' }).fill('2');
  await page.getByRole('spinbutton', { name: 'priority of demo-code' }).fill('1');
  r = await recipeOf(page);
  expect(r.parameters!.block_size).toBe(4);
  expect(r.models!.map((m) => [m.model, m.parameters!.block_keep, m.parameters!.priority])).toEqual([
    ['demo-instruct', 2, undefined],
    ['demo-code', 2, 1],
  ]);
  expect(await page.getByLabel('Pruning order').textContent()).toBe('Pruning order: demo-code (1) → demo-instruct (0)');
  await expect.poll(() => planSettled(page)).toContain('75 tensors');
  await shot(page.getByRole('region', { name: 'Recipe' }), 'recipe-cabs');
  await picker.selectOption('passthrough');
  r = await recipeOf(page);
  expect(r.slices?.length).toBe(1);
  const slices = page.getByRole('region', { name: 'Slices' });
  await slices.getByRole('button', { name: 'Add slice' }).click();
  await slices.getByRole('combobox', { name: 'Model of slice 2 source 1' }).selectOption('demo-code');
  await slices.getByRole('spinbutton', { name: 'First layer of slice 2 source 1' }).fill('4');
  await slices.getByRole('spinbutton', { name: 'End layer (exclusive) of slice 2 source 1' }).fill('8');
  r = await recipeOf(page);
  expect(r.slices!.map((s) => [s.sources[0].model, s.sources[0].layer_range])).toEqual([
    [r.slices![0].sources[0].model, [0, 8]],
    ['demo-code', [4, 8]],
  ]);
  await expect.poll(() => planSettled(page)).toContain('111 tensors'); // 12 layers × 9 + 3
  await shot(page.getByRole('region', { name: 'Recipe' }), 'recipe-slices');
  expect(errors).toEqual([]);
});

test('typing YAML updates the form; invalid YAML shows the error at its line; import and export', async () => {
  const { page, errors } = await openStudio(studio);
  await ready(page);
  const box = page.getByRole('textbox', { name: 'mergekit YAML' });
  const text = (await yamlOf(page)).replace('weight: 0.6', 'weight: 0.7').replace('merge_method: ties', 'merge_method: breadcrumbs_ties');
  await box.fill(text);
  expect(await page.getByRole('combobox', { name: 'Merge method' }).inputValue()).toBe('breadcrumbs_ties');
  expect(await page.getByRole('spinbutton', { name: 'weight of demo-instruct' }).inputValue()).toBe('0.7');
  expect(await page.getByRole('spinbutton', { name: 'gamma of demo-code' }).count()).toBe(1);
  // an invalid line: the text stays, the error names its line, the form keeps the last valid recipe
  await box.fill(text.replace('weight: 0.7', 'wieght: 0.7'));
  const err = page.locator('#yaml-error');
  await expect.poll(() => err.textContent()).toMatch(/line 6/);
  expect(await err.textContent()).toContain('wieght');
  expect(await page.locator('.gutter .err').textContent()).toBe('6');
  expect(await page.getByRole('spinbutton', { name: 'weight of demo-instruct' }).inputValue()).toBe('0.7');
  await shot(page.getByRole('region', { name: 'mergekit YAML' }), 'yaml-error');
  // import a file
  const file = join(dir, 'import.yml');
  writeFileSync(file, 'merge_method: task_arithmetic\nbase_model: demo-base\nmodels:\n  - model: demo-code\n    parameters:\n      weight: 0.3\nparameters:\n  lambda: 0.9\n');
  await page.getByTestId('input-yaml').setInputFiles(file);
  await expect.poll(() => page.getByRole('combobox', { name: 'Merge method' }).inputValue()).toBe('task_arithmetic');
  expect(await page.locator('#yaml-error').count()).toBe(0);
  expect((await recipeOf(page)).parameters!.lambda).toBe(0.9);
  // export it
  const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Export mergekit YAML' }).click()]);
  expect(download.suggestedFilename()).toBe('mergekit_config.yml');
  const out = join(dir, 'export.yml');
  await download.saveAs(out);
  expect(parseMergekitYaml(readFileSync(out, 'utf8'))).toEqual(parseMergekitYaml(readFileSync(file, 'utf8')));
  expect(errors).toEqual([]);
});

test('a share link reopens the recipe in a fresh page and checks the checkpoints; the recipe survives a reload', async () => {
  const a = await openStudio(studio);
  await ready(a.page);
  await a.page.getByRole('spinbutton', { name: 'weight of demo-code' }).fill('0.35');
  await a.page.getByRole('button', { name: 'Per-layer curve for lambda' }).click();
  await a.page.getByRole('spinbutton', { name: 'Seed' }).fill('1234');
  const sent = await yamlOf(a.page);
  await a.page.getByRole('button', { name: 'Copy share link' }).click();
  const link = await a.page.getByRole('textbox', { name: 'Share link' }).inputValue();
  expect(link).toMatch(/#share=[A-Za-z0-9_-]+$/);
  console.log(`share link: ${link.length} characters`);

  // reload keeps the edited recipe
  await a.page.reload();
  await a.page.waitForSelector('html[data-ready=true]');
  await ready(a.page);
  expect(await yamlOf(a.page)).toBe(sent);
  expect(await a.page.getByRole('spinbutton', { name: 'weight of demo-code' }).inputValue()).toBe('0.35');

  // a fresh context (no localStorage) opens the link
  const b = await openStudio(studio, { hash: link.slice(link.indexOf('#')) });
  await ready(b.page);
  expect(parseMergekitYaml(await yamlOf(b.page))).toEqual(parseMergekitYaml(sent));
  expect(parseMergekitYaml(await yamlOf(b.page)).random_seed).toBe(1234);
  const expectList = b.page.getByLabel('Checkpoints the shared recipe expects');
  await expect.poll(() => expectList.textContent()).toContain('All shared checkpoints are here');
  expect(await expectList.textContent()).toMatch(/✓ matchesdemo-base/);
  expect(new URL(b.page.url()).hash).toBe('');
  await shot(b.page, 'share-link-opened');
  // remove a model: the list says which one to drop
  await b.page.getByRole('button', { name: 'Remove demo-code' }).click();
  await expect.poll(() => expectList.textContent()).toContain('missingdemo-code');
  await shot(expectList, 'share-link-expects');
  // drop the same checkpoint under another folder name: it is recognised and takes the recipe's name
  const renamed = join(dir, 'renamed', 'my-code-copy');
  mkdirSync(renamed, { recursive: true });
  for (const f of readdirSync(join(REPO, 'public', 'demo-tiny', 'demo-code'))) copyFileSync(join(REPO, 'public', 'demo-tiny', 'demo-code', f), join(renamed, f));
  await b.page.getByTestId('input-folder').setInputFiles(join(dir, 'renamed'));
  await expect.poll(() => expectList.textContent()).toContain('All shared checkpoints are here');
  expect(await b.page.getByRole('listitem', { name: 'Model demo-code' }).count()).toBe(1);
  // a different checkpoint under the expected name is flagged
  await b.page.getByRole('button', { name: 'Remove demo-code' }).click();
  const other = join(dir, 'other', 'demo-code');
  mkdirSync(other, { recursive: true });
  for (const f of readdirSync(join(REPO, 'public', 'demo-tiny', 'demo-instruct'))) copyFileSync(join(REPO, 'public', 'demo-tiny', 'demo-instruct', f), join(other, f));
  await b.page.getByTestId('input-folder').setInputFiles(join(dir, 'other'));
  await expect.poll(() => expectList.textContent()).toContain('≠ differsdemo-code');

  // a damaged link: an explanation, no crash
  const c = await openStudio(studio, { hash: '#share=' + 'AAAA'.repeat(8) });
  await expect.poll(() => c.page.getByRole('alert').first().textContent()).toContain('This share link could not be opened');
  const d = await openStudio(studio, { hash: '#share=not*base64' });
  await expect.poll(() => d.page.getByRole('alert').first().textContent()).toContain('not base64url');
  await shot(d.page.locator('.notices'), 'share-link-damaged');
  for (const p of [a, b, c, d]) expect(p.errors).toEqual([]);
});

// The studio with models whose vocabularies differ (tests/fixtures/vocab-models.ts): picking a
// tokenizer source in the recipe's options shows, before merging, how many tokens each model
// lacks, which ones, and what fills their embedding rows; a tokenizer that cannot be built blocks
// the merge with a message naming the file.
import { afterAll, beforeAll, expect, test } from 'vitest';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { vocabFamily } from '../tests/fixtures/vocab-models';
import { openStudio, planSettled, shelfSettled, shot, startStudio, tempDir, type Studio } from './studio-support';

let studio: Studio;
const root = tempDir('studio-vocab-');
const pickDir = join(root, 'picked');

beforeAll(async () => {
  const f = vocabFamily({ hidden: 16 });
  for (const m of [f.base, f.chat, f.other]) {
    const dir = join(pickDir, `vocab-${m.spec.ref}`);
    await mkdir(dir, { recursive: true });
    for (const file of m.spec.files) await writeFile(join(dir, file.path), new Uint8Array(await file.blob!.arrayBuffer()));
  }
  studio = await startStudio();
});

afterAll(async () => {
  await studio?.close();
});

test('differing vocabularies: the merge panel lists what each model lacks and how it is filled', async () => {
  const { page, errors } = await openStudio(studio);
  await shelfSettled(page);
  await page.getByTestId('input-folder').setInputFiles(pickDir);
  await shelfSettled(page);
  const box = page.getByRole('textbox', { name: 'mergekit YAML' });
  await box.fill('merge_method: task_arithmetic\nbase_model: vocab-base\nmodels:\n  - model: vocab-chat\n    parameters: {weight: 0.5}\n  - model: vocab-other\n    parameters: {weight: 0.5}\n');
  await planSettled(page);
  expect(await page.getByRole('region', { name: 'Vocabulary' }).count()).toBe(0);

  await page.getByRole('combobox', { name: 'Tokenizer source' }).selectOption('union');
  expect(await box.inputValue()).toContain('tokenizer_source: union');
  expect(await planSettled(page)).toContain('tensors');
  const vocab = page.getByRole('region', { name: 'Vocabulary' });
  await expect.poll(() => vocab.textContent()).toContain('Output vocabulary: 19 tokens');
  const base = vocab.getByRole('listitem', { name: 'Tokens vocab-base lacks' });
  const baseText = (await base.textContent()) ?? '';
  expect(baseText).toContain('vocab-base lacks 4 tokens');
  for (const t of ['"fox"', '"owl"', '"<|im_start|>"', '"<|im_end|>"']) expect(baseText).toContain(t);
  expect(baseText).toContain("2 × vocab-other's row (the only model with it)");
  expect(baseText).toContain("2 × vocab-chat's row (the only model with it)");
  expect(await vocab.getByRole('listitem', { name: 'Tokens vocab-chat lacks' }).textContent()).toContain('lacks 2 tokens');
  await shot(page.getByRole('region', { name: 'Merge', exact: true }), 'vocab-union');

  // base vocabulary: the other model's own words are dropped, it lacks nothing; the chat model's tokens go
  await page.getByRole('combobox', { name: 'Tokenizer source' }).selectOption('base');
  await planSettled(page);
  await expect.poll(() => vocab.textContent()).toContain('Output vocabulary: 15 tokens');
  expect(await vocab.textContent()).toContain('Every model has every token');
  expect(errors).toEqual([]);
});

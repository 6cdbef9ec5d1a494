// LoRA adapters in the studio (Chromium): an adapter folder dropped on a model card makes the model
// "model+adapter" — the card shows r, alpha and targets, the recipe and its YAML follow the new
// name, the plan and diagnostics run with the adapter applied — and it can be removed again. An
// adapter that does not fit is refused on the card with the tensor and expected shape; an adapter
// dropped on the shelf's drop zone is explained, not added as a model.
import { afterAll, beforeAll, expect, test } from 'vitest';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { makeAdapter } from '../tests/fixtures/lora';
import { diagnosticsShown, openStudio, planSettled, shelfSettled, shot, startStudio, tempDir, type Studio } from './studio-support';

let studio: Studio;
const root = tempDir('studio-lora-');

function writeAdapter(name: string, a: ReturnType<typeof makeAdapter>): string[] {
  const dir = join(root, name);
  mkdirSync(dir, { recursive: true });
  return [...a.files].map(([p, b]) => {
    writeFileSync(join(dir, p), b);
    return join(dir, p);
  });
}

let fits: string[];
let wide: string[];

beforeAll(async () => {
  // demo-tiny's models: hidden 32, 8 layers
  fits = writeAdapter('chat-lora', makeAdapter({ seed: 1, modules: [0, 3, 7].flatMap((l) => ['q_proj', 'v_proj'].map((p) => ({ module: `model.layers.${l}.self_attn.${p}`, shape: [32, 32] as [number, number], rank: 4 }))) }));
  wide = writeAdapter('wide-lora', makeAdapter({ seed: 2, modules: [{ module: 'model.layers.0.self_attn.q_proj', shape: [64, 64], rank: 4 }] }));
  studio = await startStudio();
});

afterAll(async () => {
  await studio?.close();
});

/** A synthetic drop of files on the element matching `selector` (files only come through DataTransferItem). */
async function drop(page: Page, selector: string, files: string[]): Promise<void> {
  await page.evaluate(() => {
    document.getElementById('drop-source')?.remove();
    const i = document.createElement('input');
    i.type = 'file';
    i.multiple = true;
    i.id = 'drop-source';
    document.body.appendChild(i);
  });
  await page.locator('#drop-source').setInputFiles(files);
  await page.evaluate((sel) => {
    const input = document.getElementById('drop-source') as HTMLInputElement;
    const dt = new DataTransfer();
    for (const f of input.files!) dt.items.add(f);
    const target = document.querySelector(sel)!;
    target.dispatchEvent(new DragEvent('dragover', { dataTransfer: dt, bubbles: true, cancelable: true }));
    target.dispatchEvent(new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true }));
  }, selector);
}

test('an adapter dropped on a card: model+adapter in the card, the recipe and its YAML; removed again', async () => {
  const { page, errors } = await openStudio(studio);
  await shelfSettled(page);
  await planSettled(page);
  await drop(page, '[data-testid="card-demo-instruct"]', fits);
  const card = page.getByRole('listitem', { name: 'Model demo-instruct+adapter' });
  await expect.poll(() => card.count(), { timeout: 30_000 }).toBe(1);
  const text = (await card.textContent()) ?? '';
  for (const s of ['LoRA', 'r=4', 'alpha=16', 'targets q_proj, v_proj', '6 modules', 'Remove adapter']) expect(text).toContain(s);
  // the recipe follows: the YAML names the model as mergekit does, and the plan is built with it
  const yaml = () => page.getByRole('textbox', { name: 'mergekit YAML' }).inputValue();
  await expect.poll(yaml, { timeout: 20_000 }).toContain('- model: demo-instruct+adapter');
  expect(await planSettled(page)).toContain('75 tensors');
  await expect.poll(() => card.textContent()).toContain('Fits the base demo-base');
  await diagnosticsShown(page);
  await shot(page.getByRole('region', { name: 'Models' }), 'shelf-lora-adapter');

  // an adapter for another shape: refused on the card, which stays as it was
  await drop(page, '[data-testid="card-demo-code"]', wide);
  await expect.poll(() => page.locator('body').textContent(), { timeout: 20_000 }).toContain('Adapter adapter was not applied to demo-code'); // loose files: the folder name is not known
  const body = (await page.locator('body').textContent()) ?? '';
  expect(body).toMatch(/tensor "base_model\.model\.model\.layers\.0\.self_attn\.q_proj\.lora_A\.weight": shape \[4, 64\], expected \[4, 32\]/);
  expect(await page.getByRole('listitem', { name: 'Model demo-code' }).count()).toBe(1);

  // dropped on the drop zone, an adapter is explained rather than added as a model
  await drop(page, '[data-testid="dropzone"]', fits);
  await expect.poll(() => page.locator('body').textContent()).toContain('is a LoRA adapter: drop it on the card of its base model');
  expect(await page.getByRole('list', { name: 'Loaded models' }).getByRole('listitem').count()).toBe(3);

  await card.getByRole('button', { name: 'Remove adapter' }).click();
  await expect.poll(() => page.getByRole('listitem', { name: 'Model demo-instruct' }).count()).toBe(1);
  await expect.poll(yaml).toContain('- model: demo-instruct\n');
  expect(await planSettled(page)).toContain('75 tensors');
  expect(errors).toEqual([]);
}, 240_000);

// `npm run demo:tiny`: writes the end-to-end tests' demo into public/demo-tiny/ (the studio's
// ?demo=demo-tiny; its default demo is the trained one in public/demo/) — three tiny
// Llama-shaped F16 checkpoints (a base and two "fine-tunes" = base + small seeded noise), a sample
// recipe, and manifest.json listing every file (the studio fetches the manifest on first visit).
// Deterministic: the same bytes on every run, so the committed files never churn.
import { mkdir, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeTinyLlama, type TinyLlamaOptions } from '../tests/fixtures/checkpoints';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const OUT = join(ROOT, 'public', 'demo-tiny');

const shape: Omit<TinyLlamaOptions, 'seed'> = { layers: 8, hidden: 32, intermediate: 64, vocab: 128, dtype: 'F16' };
const BASE_SEED = 20250101;

const MODELS: { name: string; description: string; options: TinyLlamaOptions }[] = [
  { name: 'demo-base', description: 'the pretrained base', options: { ...shape, seed: BASE_SEED } },
  { name: 'demo-instruct', description: 'base + seeded noise (scale 0.02)', options: { ...shape, seed: 7, perturbFrom: { seed: BASE_SEED, scale: 0.02 } } },
  { name: 'demo-code', description: 'base + seeded noise (scale 0.03)', options: { ...shape, seed: 11, perturbFrom: { seed: BASE_SEED, scale: 0.03 } } },
];

const RECIPE = `# The demo recipe: TIES over two fine-tunes of one base. Density rises with depth.
merge_method: ties
base_model: demo-base
models:
  - model: demo-instruct
    parameters:
      weight: 0.6
      density: [0.3, 0.5, 0.7]
  - model: demo-code
    parameters:
      weight: 0.4
      density: 0.5
parameters:
  normalize: true
  lambda: 1.0
dtype: float16
`;

async function main(): Promise<void> {
  await rm(OUT, { recursive: true, force: true });
  await mkdir(OUT, { recursive: true });
  const manifest: { version: 1; recipe: string; models: { name: string; description: string; files: { path: string; size: number }[] }[] } = {
    version: 1,
    recipe: 'recipe.yml',
    models: [],
  };
  let total = 0;
  for (const m of MODELS) {
    const t = await writeTinyLlama(join(OUT, m.name), m.options);
    const files = [];
    for (const f of [...t.files].sort()) {
      const size = (await stat(join(OUT, m.name, f))).size;
      total += size;
      files.push({ path: f, size });
    }
    manifest.models.push({ name: m.name, description: m.description, files });
  }
  await writeFile(join(OUT, 'recipe.yml'), RECIPE);
  await writeFile(join(OUT, 'manifest.json'), JSON.stringify(manifest, null, 2) + '\n');
  console.log(`public/demo-tiny: ${MODELS.length} checkpoints, ${(total / 1024).toFixed(0)} KiB`);
  if (total > 1024 * 1024) throw new Error(`demo checkpoints are ${total} bytes; keep them under 1 MiB`);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});

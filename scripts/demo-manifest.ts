// Writes public/demo/manifest.json (what the studio's shelf and eval-set list load) and the demo
// recipe from the trained demo folder. Run by `npm run demo:train` after training; runnable alone:
// `tsx scripts/demo-manifest.ts`.
import { readdir, stat, writeFile } from 'node:fs/promises';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const DEMO_DIR = join(ROOT, 'public', 'demo');

const MODELS = [
  { name: 'demo-base', description: 'the pretrained base (synthetic text; weak at both tasks)' },
  { name: 'demo-add', description: 'the base fine-tuned on multi-digit addition' },
  { name: 'demo-rev', description: 'the base fine-tuned on string reversal' },
];

/** The studio's first-visit recipe: a hand-set TIES merge of the two experts. */
const RECIPE = `# The demo recipe: TIES over the two experts of one base (addition, reversal).
# Evolution (the Evolution tab) searches these weights and densities per layer group.
merge_method: ties
base_model: demo-base
models:
  - model: demo-add
    parameters:
      weight: 1.0
      density: 0.5
  - model: demo-rev
    parameters:
      weight: 1.0
      density: 0.5
parameters:
  normalize: false
dtype: float32
`;

export async function writeDemoManifest(dir = DEMO_DIR): Promise<void> {
  const models = [];
  for (const m of MODELS) {
    const files = [];
    for (const f of (await readdir(join(dir, m.name))).sort()) files.push({ path: f, size: (await stat(join(dir, m.name, f))).size });
    models.push({ ...m, files });
  }
  const evals = [];
  for (const f of (await readdir(join(dir, 'evals'))).sort()) {
    const m = /^(\w+)\.(train|search|test)\.jsonl$/.exec(f);
    if (!m || m[2] === 'train') continue; // the training split stays out of the studio's lists
    evals.push({ name: f, path: `evals/${f}`, split: m[2], task: m[1] });
  }
  await writeFile(join(dir, 'recipe.yml'), RECIPE);
  await writeFile(join(dir, 'manifest.json'), JSON.stringify({ version: 1, recipe: 'recipe.yml', models, evals }, null, 2) + '\n');
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  writeDemoManifest().then(() => console.log('wrote public/demo/manifest.json and recipe.yml'));
}

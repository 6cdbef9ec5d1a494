// `npm run bench:merge`: merge throughput against the I/O floor, in headless Chromium.
//
// Generates (once, cached in bench-out/models) three Llama-shaped F16 checkpoints of ≥ 256 MB each,
// then, each in a fresh browser, runs: the I/O floor (every input byte range read over HTTP and an
// output of the same layout written through the same sink, no GPU work), `linear` and `ties`.
// Prints input MB/s, the ratio merge ÷ floor, and the peak memory (PSS, summed over all Chromium
// processes, sampled every 50 ms) next to the target 4 × largest tensor + 256 MB.
// Ratios come from one run on one machine; nothing here is a test.
import { mkdir, open, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { existsSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseMergekitYaml } from '../formats/mergekit-yaml';
import { buildSafetensorsHeader } from '../formats/safetensors';
import type { MergeRequest, MergeResult } from '../worker/api';
import { findChromium, CHROMIUM_ARGS } from '../browser';
import { resolveModel } from './models';
import { OutputDir } from './output-dir';
import { startCliServer } from './server';
import { REPO_ROOT } from './merge';
import { formatBytes } from './progress';

const SHAPE = { layers: 8, hidden: 1024, intermediate: 2816, vocab: 32000 };
const OUT = resolve(REPO_ROOT, 'bench-out');
const MODELS = join(OUT, 'models');

function tensorShapes(): [string, number[]][] {
  const { layers, hidden: h, intermediate: f, vocab: v } = SHAPE;
  const list: [string, number[]][] = [['model.embed_tokens.weight', [v, h]], ['model.norm.weight', [h]], ['lm_head.weight', [v, h]]];
  for (let l = 0; l < layers; l++) {
    const p = `model.layers.${l}.`;
    list.push([p + 'input_layernorm.weight', [h]], [p + 'post_attention_layernorm.weight', [h]]);
    for (const k of ['q', 'k', 'v', 'o']) list.push([`${p}self_attn.${k}_proj.weight`, [h, h]]);
    list.push([p + 'mlp.gate_proj.weight', [f, h]], [p + 'mlp.up_proj.weight', [f, h]], [p + 'mlp.down_proj.weight', [h, f]]);
  }
  return list.sort((a, b) => (a[0] < b[0] ? -1 : 1));
}

/** Fast seeded F16 data: base values in ±[2^-6, 2^-1); fine-tunes flip low mantissa bits of the base. */
async function writeModel(dir: string, seed: number, fineTune: boolean) {
  await mkdir(dir, { recursive: true });
  const shapes = tensorShapes();
  const layout = buildSafetensorsHeader(shapes.map(([name, shape]) => ({ name, dtype: 'F16', shape })), { format: 'pt' });
  const fh = await open(join(dir, 'model.safetensors.tmp'), 'w');
  await fh.write(layout.bytes);
  let s1 = 0x9e3779b9 ^ 17;
  let s2 = (0x9e3779b9 ^ (fineTune ? seed : 0)) >>> 0;
  const next = (s: number) => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return s >>> 0;
  };
  for (const [, shape] of shapes) {
    const n = shape.reduce((a, b) => a * b, 1);
    const out = new Uint16Array(n);
    for (let i = 0; i < n; i++) {
      s1 = next(s1);
      let h = (s1 & 0x83ff) | ((9 + (s1 >>> 16) % 5) << 10);
      if (fineTune) {
        s2 = next(s2);
        h ^= s2 & 0x3f;
      }
      out[i] = h;
    }
    await fh.write(new Uint8Array(out.buffer));
  }
  await fh.close();
  const { rename } = await import('node:fs/promises');
  await rename(join(dir, 'model.safetensors.tmp'), join(dir, 'model.safetensors'));
  const { layers, hidden, intermediate, vocab } = SHAPE;
  await writeFile(
    join(dir, 'config.json'),
    JSON.stringify({ architectures: ['LlamaForCausalLM'], model_type: 'llama', num_hidden_layers: layers, hidden_size: hidden, intermediate_size: intermediate, vocab_size: vocab, num_attention_heads: 16, num_key_value_heads: 16, torch_dtype: 'float16', tie_word_embeddings: false }, null, 2),
  );
}

async function ensureModels() {
  const names = ['base', 'expert_a', 'expert_b'];
  for (const [i, name] of names.entries()) {
    const dir = join(MODELS, name);
    if (existsSync(join(dir, 'model.safetensors'))) continue;
    process.stderr.write(`generating ${dir}…\n`);
    await writeModel(dir, i, i > 0);
  }
}

const RECIPES: Record<string, string> = {
  linear: `merge_method: linear\nmodels:\n  - model: base\n    parameters: {weight: 0.4}\n  - model: expert_a\n    parameters: {weight: 0.3}\n  - model: expert_b\n    parameters: {weight: 0.3}\n`,
  ties: `merge_method: ties\nbase_model: base\nmodels:\n  - model: expert_a\n    parameters: {weight: 0.5, density: 0.5}\n  - model: expert_b\n    parameters: {weight: 0.5, density: 0.3}\nparameters: {normalize: true}\n`,
};

/** Sum of PSS (kB) over the descendants of pid (Chromium's browser, GPU, renderer… processes). */
async function treePss(root: number): Promise<number> {
  const children = new Map<number, number[]>();
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const st = await readFile(`/proc/${d}/stat`, 'utf8');
      const ppid = Number(st.slice(st.lastIndexOf(')') + 2).split(' ')[1]);
      (children.get(ppid) ?? children.set(ppid, []).get(ppid)!).push(Number(d));
    } catch {
      /* gone */
    }
  }
  let total = 0;
  const stack = [...(children.get(root) ?? [])];
  while (stack.length) {
    const p = stack.pop()!;
    try {
      const r = await readFile(`/proc/${p}/smaps_rollup`, 'utf8');
      total += Number(/^Pss:\s+(\d+)/m.exec(r)?.[1] ?? 0);
    } catch {
      /* gone */
    }
    stack.push(...(children.get(p) ?? []));
  }
  return total;
}

async function runOnce(kind: 'floor' | 'linear' | 'ties'): Promise<{ seconds: number; inputBytes: number; peakPss: number }> {
  const recipe = parseMergekitYaml(kind === 'floor' ? RECIPES.linear : RECIPES[kind]);
  const refs = ['base', 'expert_a', 'expert_b'];
  const models = await Promise.all(refs.map((r) => resolveModel(r, MODELS)));
  const outDir = join(OUT, `out-${kind}`);
  await rm(outDir, { recursive: true, force: true });
  const output = new OutputDir(outDir, 'bench');
  const server = await startCliServer({ root: REPO_ROOT, models, output });
  const { chromium } = await import('playwright-core');
  const browser = await chromium.launch({ executablePath: findChromium(), args: CHROMIUM_ARGS, headless: true });
  let peak = 0;
  let sampling = true;
  const pid = process.pid; // the browser is our child; the Vite server lives in this process and is not counted
  const sampler = (async () => {
    while (sampling && pid) {
      peak = Math.max(peak, await treePss(pid));
      await new Promise((r) => setTimeout(r, 50));
    }
  })();
  try {
    const page = await browser.newPage();
    await page.exposeFunction('__progress', () => {});
    await page.goto(`${server.origin}/cli.html`);
    await page.waitForFunction(() => window.__engineReady === true, null, { timeout: 120_000 });
    await page.evaluate(() => window.capabilities());
    const req: MergeRequest = {
      recipe,
      models: models.map((m, i) => ({ ref: m.ref, files: m.files.map((f) => ({ path: f.path, size: f.size, url: `${server.modelsUrl}/${i}/${encodeURIComponent(f.path)}` })) })),
      output: { kind: 'ws', url: server.sinkWsUrl },
      ioOnly: kind === 'floor',
    };
    const t0 = performance.now();
    const res: MergeResult = await page.evaluate((r) => window.runMerge(r), req);
    const seconds = (performance.now() - t0) / 1000;
    if (!res.ok) throw new Error(`${kind}: ${res.error.message}`);
    return { seconds, inputBytes: res.summary.bytesRead, peakPss: peak * 1024 };
  } finally {
    sampling = false;
    await sampler;
    await browser.close();
    await server.close();
    await rm(outDir, { recursive: true, force: true });
  }
}

async function main() {
  await ensureModels();
  const sizes = await Promise.all(['base', 'expert_a', 'expert_b'].map((m) => stat(join(MODELS, m, 'model.safetensors')).then((s) => s.size)));
  const largest = SHAPE.vocab * SHAPE.hidden * 2;
  const budget = 4 * largest + 256 * 2 ** 20;
  process.stderr.write(`inputs: 3 × ${formatBytes(sizes[0])} F16 (largest tensor ${formatBytes(largest)}); memory target ≤ ${formatBytes(budget)}\n`);
  const results: Record<string, { seconds: number; inputBytes: number; peakPss: number }> = {};
  for (const kind of ['floor', 'linear', 'ties'] as const) {
    process.stderr.write(`running ${kind}…\n`);
    results[kind] = await runOnce(kind);
  }
  const floor = results.floor;
  const rows = (['floor', 'linear', 'ties'] as const).map((k) => {
    const r = results[k];
    const mbs = r.inputBytes / 1e6 / r.seconds;
    const ratio = r.seconds / floor.seconds;
    const target = k === 'linear' ? ' (target ≤ 3×)' : k === 'ties' ? ' (target ≤ 6×)' : '';
    return `${k.padEnd(7)} ${r.seconds.toFixed(1).padStart(6)} s  ${mbs.toFixed(1).padStart(7)} MB/s input  ${ratio.toFixed(2).padStart(5)}× floor${target.padEnd(16)}  peak ${formatBytes(r.peakPss)}${r.peakPss <= budget ? '' : ' (over target)'}`;
  });
  process.stdout.write(rows.join('\n') + '\n');
}

main().catch((e) => {
  process.stderr.write(`bench failed: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
});

// `npm run bench:merge`: whole-command wall time and peak memory of `npm run merge` on the CPU
// engine (and, on request, the WebGPU engine) against the I/O floor and against mergekit itself,
// per method, on two generated input sets:
//   llama  3 × ~440 MB F32, Llama-shaped (6 layers, hidden 1024, vocab 16000, untied)
//   qwen   3 × ~0.99 GB BF16, Qwen2-0.5B-shaped (24 layers, hidden 896, GQA 14/2 with biases,
//          vocab 151936, tied embeddings)
// Every command runs as a child process; peak memory is RSS summed over its process tree, sampled
// every 100 ms. The floor is the same command with --io-only (the same reads and writes, no
// compute). Ratios come from one run on one machine; nothing here is a test.
//
// A second table, "GPU traffic ÷ (input + output)", needs no GPU and no GB inputs: the WebGPU
// engine (SwiftShader is fine: traffic is counted, not timed; gpu/traffic.ts) merges small
// Llama-shaped inputs (TRAFFIC_SHAPE, F32 and BF16; every tensor fits one chunk, as all but the
// embeddings of the GB sets do) with each method's recipe, and again with chunks forced to
// TRAFFIC_SWEPT_CHUNK elements, which sweeps every matrix in several chunks as the big embeddings
// are. The ratio is what a bandwidth-bound GPU's time follows; it depends on dtypes and chunking,
// hardly on size.
//
// Environment:
//   MERGEKIT_YAML=<cmd>   a mergekit-yaml command (e.g. ../shared/mergekit-bench/mergekit-yaml)
//   BENCH_SETS=llama,qwen BENCH_METHODS=linear,ties,…   subsets
//   BENCH_WEBGPU=1        also time --backend webgpu (slow without a hardware GPU)
//   BENCH_THREADS=<n>     CPU engine threads (default: one per core)
//   BENCH_TRAFFIC=only    print only the traffic table (two minutes on SwiftShader); =0 skips it
import { mkdir, open, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { join, resolve } from 'node:path';
import { cpuKernels } from '../methods/shared/cpu/simd';
import { buildSafetensorsHeader } from '../formats/safetensors';
import { REPO_ROOT } from './merge';
import { formatBytes } from './progress';
import { writeTinyLlama } from '../../tests/fixtures/checkpoints';
import { findChromium, CHROMIUM_ARGS } from '../browser';
import { parseMergekitYaml } from '../recipe/mergekit-yaml';
import type { Recipe } from '../recipe/types';
import type { MergeRequest } from '../worker/api';
import { HOST_PARTS, trafficRatio, type GpuTraffic, type TrafficPart } from '../gpu/traffic';
import { recipeModelRefs, resolveModel } from './models';
import { OutputDir } from './output-dir';
import { startCliServer } from './server';

const OUT = resolve(REPO_ROOT, 'bench-out');

interface InputSet {
  name: string;
  dtype: 'F32' | 'BF16';
  config: Record<string, unknown>;
  tensors: [string, number[]][];
}

function llamaSet(): InputSet {
  const L = 6, h = 1024, f = 2816, v = 16000;
  const t: [string, number[]][] = [['model.embed_tokens.weight', [v, h]], ['model.norm.weight', [h]], ['lm_head.weight', [v, h]]];
  for (let l = 0; l < L; l++) {
    const p = `model.layers.${l}.`;
    t.push([p + 'input_layernorm.weight', [h]], [p + 'post_attention_layernorm.weight', [h]]);
    for (const k of ['q', 'k', 'v', 'o']) t.push([`${p}self_attn.${k}_proj.weight`, [h, h]]);
    t.push([p + 'mlp.gate_proj.weight', [f, h]], [p + 'mlp.up_proj.weight', [f, h]], [p + 'mlp.down_proj.weight', [h, f]]);
  }
  return {
    name: 'llama',
    dtype: 'F32',
    tensors: t,
    config: { architectures: ['LlamaForCausalLM'], model_type: 'llama', num_hidden_layers: L, hidden_size: h, intermediate_size: f, vocab_size: v, num_attention_heads: 16, num_key_value_heads: 16, torch_dtype: 'float32', tie_word_embeddings: false },
  };
}

function qwenSet(): InputSet {
  const L = 24, h = 896, f = 4864, v = 151936, kv = 128;
  const t: [string, number[]][] = [['model.embed_tokens.weight', [v, h]], ['model.norm.weight', [h]]];
  for (let l = 0; l < L; l++) {
    const p = `model.layers.${l}.`;
    t.push([p + 'input_layernorm.weight', [h]], [p + 'post_attention_layernorm.weight', [h]]);
    t.push([p + 'self_attn.q_proj.weight', [h, h]], [p + 'self_attn.q_proj.bias', [h]], [p + 'self_attn.k_proj.weight', [kv, h]], [p + 'self_attn.k_proj.bias', [kv]]);
    t.push([p + 'self_attn.v_proj.weight', [kv, h]], [p + 'self_attn.v_proj.bias', [kv]], [p + 'self_attn.o_proj.weight', [h, h]]);
    t.push([p + 'mlp.gate_proj.weight', [f, h]], [p + 'mlp.up_proj.weight', [f, h]], [p + 'mlp.down_proj.weight', [h, f]]);
  }
  return {
    name: 'qwen',
    dtype: 'BF16',
    tensors: t,
    config: { architectures: ['Qwen2ForCausalLM'], model_type: 'qwen2', num_hidden_layers: L, hidden_size: h, intermediate_size: f, vocab_size: v, num_attention_heads: 14, num_key_value_heads: 2, torch_dtype: 'bfloat16', tie_word_embeddings: true },
  };
}

/** Seeded data: base values ~ ±[2^-6, 2^-1); fine-tunes add a small seeded perturbation. */
async function writeModel(dir: string, set: InputSet, seed: number) {
  await mkdir(dir, { recursive: true });
  const sorted = [...set.tensors].sort((a, b) => (a[0] < b[0] ? -1 : 1));
  const layout = buildSafetensorsHeader(sorted.map(([name, shape]) => ({ name, dtype: set.dtype, shape })), { format: 'pt' });
  const tmp = join(dir, 'model.safetensors.tmp');
  const fh = await open(tmp, 'w');
  await fh.write(layout.bytes);
  let s1 = 0x9e3779b9 ^ 17;
  let s2 = (0x85ebca6b ^ (seed * 0x27d4eb2f)) >>> 0;
  const next = (s: number) => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return s >>> 0;
  };
  const f32 = new Float32Array(1 << 20);
  const u32 = new Uint32Array(f32.buffer);
  for (const [, shape] of sorted) {
    const n = shape.reduce((a, b) => a * b, 1);
    for (let done = 0; done < n; done += f32.length) {
      const m = Math.min(f32.length, n - done);
      for (let i = 0; i < m; i++) {
        s1 = next(s1);
        let x = ((s1 & 0xffff) / 65536 - 0.5) * 0.1;
        if (seed > 0) {
          s2 = next(s2);
          x += ((s2 & 0xffff) / 65536 - 0.5) * 0.004;
        }
        f32[i] = x;
      }
      if (set.dtype === 'F32') await fh.write(new Uint8Array(f32.buffer, 0, m * 4));
      else {
        const out = new Uint16Array(m);
        for (let i = 0; i < m; i++) out[i] = (u32[i] + 0x7fff + ((u32[i] >>> 16) & 1)) >>> 16;
        await fh.write(new Uint8Array(out.buffer));
      }
    }
  }
  await fh.close();
  await rename(tmp, join(dir, 'model.safetensors'));
  await writeFile(join(dir, 'config.json'), JSON.stringify(set.config, null, 2));
}

async function ensureModels(set: InputSet): Promise<string> {
  const root = join(OUT, set.name);
  for (const [i, name] of ['base', 'expert_a', 'expert_b'].entries()) {
    const dir = join(root, name);
    if (existsSync(join(dir, 'model.safetensors'))) continue;
    process.stderr.write(`generating ${dir}…\n`);
    await writeModel(dir, set, i);
  }
  return root;
}

const RECIPES: Record<string, string> = {
  linear: 'merge_method: linear\nmodels:\n  - model: base\n    parameters: {weight: 0.4}\n  - model: expert_a\n    parameters: {weight: 0.3}\n  - model: expert_b\n    parameters: {weight: 0.3}\n',
  task_arithmetic: 'merge_method: task_arithmetic\nbase_model: base\nmodels:\n  - model: expert_a\n    parameters: {weight: 0.6}\n  - model: expert_b\n    parameters: {weight: 0.4}\n',
  ties: 'merge_method: ties\nbase_model: base\nmodels:\n  - model: expert_a\n    parameters: {weight: 0.5, density: 0.5}\n  - model: expert_b\n    parameters: {weight: 0.5, density: 0.3}\nparameters: {normalize: true}\n',
  dare_ties: 'merge_method: dare_ties\nbase_model: base\nmodels:\n  - model: expert_a\n    parameters: {weight: 0.5, density: 0.5}\n  - model: expert_b\n    parameters: {weight: 0.5, density: 0.3}\n',
  slerp: 'merge_method: slerp\nbase_model: base\nmodels:\n  - model: base\n  - model: expert_a\nparameters: {t: 0.4}\n',
  della: 'merge_method: della\nbase_model: base\nmodels:\n  - model: expert_a\n    parameters: {weight: 0.5, density: 0.5, epsilon: 0.1}\n  - model: expert_b\n    parameters: {weight: 0.5, density: 0.4, epsilon: 0.1}\n',
};

/** Targets of the traffic ratio (device memory ÷ (input + output)); other methods have none yet. */
const TRAFFIC_TARGETS: Record<string, number> = { linear: 1.5, ties: 3, dare_ties: 3, della: 3 };
const TRAFFIC_SHAPE = { layers: 2, hidden: 256, intermediate: 688, vocab: 1000 };
const TRAFFIC_SWEPT_CHUNK = 16384;

interface TrafficRow {
  /** All bytes ÷ (input + output), and device memory only (no uploads, uniform blocks, readbacks). */
  all: number;
  device: number;
  /** The largest parts, as "part ratio". */
  top: string;
}

function trafficRow(t: GpuTraffic): TrafficRow {
  const denom = t.inputBytes + t.outputBytes;
  const top = Object.entries(t.parts)
    .filter(([p]) => !HOST_PARTS.includes(p as TrafficPart))
    .sort((a, b) => b[1] - a[1])
    .slice(0, 3)
    .map(([p, b]) => `${p} ${(b / denom).toFixed(2)}`)
    .join(', ');
  return { all: trafficRatio(t), device: trafficRatio(t, true), top };
}

/**
 * The traffic table: each method on small F32 and BF16 inputs, with the default chunking and with
 * forced small chunks, merged by the WebGPU engine in one headless Chromium per input set (the
 * output stays in the page; only the traffic comes back).
 */
async function trafficTable(methods: string[], say: (s: string) => void): Promise<void> {
  const { layers, hidden, intermediate, vocab } = TRAFFIC_SHAPE;
  say('');
  say(
    `GPU traffic ÷ (input + output): the WebGPU engine's counted bytes (kernels, uploads, clears, readbacks) over stored input + encoded output bytes, ` +
      `on 3 Llama-shaped models (${layers} layers, hidden ${hidden}, intermediate ${intermediate}, vocab ${vocab}); "device" leaves out the host transfers ` +
      `(uploads, uniform blocks, readbacks: at least 1 × by themselves); targets apply to "device". "swept": chunks of ${TRAFFIC_SWEPT_CHUNK} elements, so every matrix is swept in several chunks.`,
  );
  say('');
  say('| inputs | method | all ÷ (in + out) | device ÷ (in + out) | swept: all / device | target | met? | largest device parts |');
  say('|---|---|---|---|---|---|---|---|');
  const { chromium } = await import('playwright-core');
  for (const dtype of ['F32', 'BF16'] as const) {
    const root = join(OUT, 'traffic', dtype.toLowerCase());
    const names = ['base', 'expert_a', 'expert_b'];
    for (const [i, name] of names.entries()) {
      if (existsSync(join(root, name, 'model.safetensors'))) continue;
      await mkdir(root, { recursive: true });
      await writeTinyLlama(join(root, name), { seed: i === 0 ? 1 : 10 + i, ...TRAFFIC_SHAPE, dtype, perturbFrom: i > 0 ? { seed: 1, scale: 0.02 } : undefined });
    }
    const models = await Promise.all(names.map((r) => resolveModel(r, root)));
    const output = new OutputDir(join(root, 'out'), 'traffic');
    const server = await startCliServer({ root: REPO_ROOT, models, output });
    const browser = await chromium.launch({ executablePath: findChromium(), args: CHROMIUM_ARGS, headless: true });
    try {
      const page = await browser.newPage();
      await page.goto(`${server.origin}/cli.html`);
      await page.waitForFunction(() => window.__engineReady === true, null, { timeout: 120_000 });
      const run = async (recipe: Recipe, chunkElements?: number): Promise<GpuTraffic> => {
        const refs = new Set(recipeModelRefs(recipe));
        const req: MergeRequest = {
          recipe,
          models: models.flatMap((m, i) => (refs.has(m.ref) ? [{ ref: m.ref, files: m.files.map((f) => ({ path: f.path, size: f.size, url: `${server.modelsUrl}/${i}/${encodeURIComponent(f.path)}` })) }] : [])),
          output: { kind: 'memory' },
          engine: 'webgpu',
          ...(chunkElements ? { chunkElements } : {}),
        };
        const res = await page.evaluate(async (r) => {
          const out = await window.runMerge(r);
          return out.ok ? { traffic: out.summary.gpuTraffic } : { error: out.error.message };
        }, req);
        if (!res.traffic) throw new Error(`traffic ${dtype}: ${res.error ?? 'no traffic reported'}`);
        return res.traffic;
      };
      for (const method of methods) {
        process.stderr.write(`traffic ${dtype} ${method}…\n`);
        const recipe = parseMergekitYaml(RECIPES[method]);
        const t = trafficRow(await run(recipe));
        const sw = trafficRow(await run(recipe, TRAFFIC_SWEPT_CHUNK));
        const target = TRAFFIC_TARGETS[method];
        const met = target === undefined ? '—' : t.device <= target && sw.device <= target ? 'yes' : t.device <= target ? 'resident only' : 'no';
        say(`| 3 × ${dtype} | ${method} | ${t.all.toFixed(2)} | ${t.device.toFixed(2)} | ${sw.all.toFixed(2)} / ${sw.device.toFixed(2)} | ${target ?? '—'} | ${met} | ${t.top} |`);
      }
    } finally {
      await browser.close();
      await server.close();
      await rm(join(root, 'out'), { recursive: true, force: true });
    }
  }
}

/** RSS (kB) summed over pid and its descendants. */
async function treeRss(root: number): Promise<number> {
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
  const stack = [root];
  while (stack.length) {
    const p = stack.pop()!;
    try {
      const s = await readFile(`/proc/${p}/status`, 'utf8');
      total += Number(/^VmRSS:\s+(\d+)/m.exec(s)?.[1] ?? 0);
    } catch {
      /* gone */
    }
    stack.push(...(children.get(p) ?? []));
  }
  return total;
}

interface Run {
  seconds: number;
  peak: number;
  ok: boolean;
  tail: string;
}

/** Runs a command, timing it and sampling its process tree's RSS. */
async function timed(cmd: string, args: string[], cwd: string, env?: Record<string, string>): Promise<Run> {
  const t0 = performance.now();
  const child = spawn(cmd, args, { cwd, stdio: ['ignore', 'ignore', 'pipe'], env: env ? { ...process.env, ...env } : process.env });
  let tail = '';
  child.stderr.on('data', (b: Buffer) => (tail = (tail + b.toString()).slice(-2000)));
  let peak = 0;
  let running = true;
  const sampler = (async () => {
    while (running) {
      if (child.pid) peak = Math.max(peak, await treeRss(child.pid));
      await new Promise((r) => setTimeout(r, 100));
    }
  })();
  const code: number = await new Promise((r) => child.on('close', (c) => r(c ?? 1)));
  running = false;
  await sampler;
  return { seconds: (performance.now() - t0) / 1000, peak: peak * 1024, ok: code === 0, tail };
}

async function main() {
  const sets = (process.env.BENCH_SETS ?? 'llama,qwen').split(',').map((s) => (s === 'llama' ? llamaSet() : s === 'qwen' ? qwenSet() : undefined)).filter((s): s is InputSet => !!s);
  const methods = (process.env.BENCH_METHODS ?? Object.keys(RECIPES).join(',')).split(',').filter((m) => RECIPES[m]);
  const mergekit = process.env.MERGEKIT_YAML ? resolve(process.env.MERGEKIT_YAML) : undefined;
  const webgpu = process.env.BENCH_WEBGPU === '1';
  // BENCH_CPU_JS=1: also the CPU engine on its scalar JS kernels (MERGE_CPU_SIMD=0), for comparison
  const cpuJs = process.env.BENCH_CPU_JS === '1';
  const threads = process.env.BENCH_THREADS ? ['--threads', process.env.BENCH_THREADS] : [];
  const tsx = join(REPO_ROOT, 'node_modules/.bin/tsx');
  const cli = join(REPO_ROOT, 'src/cli/merge.ts');
  const lines: string[] = [];
  const say = (s: string) => {
    lines.push(s);
    process.stdout.write(s + '\n');
  };
  const traffic = process.env.BENCH_TRAFFIC;
  if (traffic === 'only') {
    await trafficTable(methods, say);
    await mkdir(OUT, { recursive: true });
    await writeFile(join(OUT, 'bench-merge.md'), lines.join('\n') + '\n');
    return;
  }
  say(`CPU engine kernels: ${cpuKernels().kind === 'wasm-simd' ? 'wasm SIMD' : `scalar JS (${cpuKernels().why})`}`);
  say('');
  say(`| inputs | method | I/O floor | CPU engine | ${cpuJs ? 'CPU, scalar JS | ' : ''}${webgpu ? 'WebGPU engine | ' : ''}${mergekit ? 'mergekit | CPU ÷ mergekit | ' : ''}CPU ÷ floor | peak RSS: CPU${mergekit ? ' / mergekit' : ''} |`);
  say(`|---|---|---|---|${cpuJs ? '---|' : ''}${webgpu ? '---|' : ''}${mergekit ? '---|---|' : ''}---|---|`);
  for (const set of sets) {
    const root = await ensureModels(set);
    const size = statSync(join(root, 'base', 'model.safetensors')).size;
    const label = `3 × ${formatBytes(size)} ${set.dtype} (${set.name})`;
    for (const method of methods) {
      const cfg = join(root, `${method}.yml`);
      await writeFile(cfg, RECIPES[method]);
      const out = (tag: string) => join(root, `out-${method}-${tag}`);
      const ours = async (tag: string, extra: string[], env?: Record<string, string>) => {
        await rm(out(tag), { recursive: true, force: true });
        process.stderr.write(`${set.name} ${method}: ${tag}…\n`);
        const r = await timed(tsx, [cli, cfg, '--out', out(tag), ...extra], root, env);
        await rm(out(tag), { recursive: true, force: true });
        if (!r.ok) throw new Error(`${set.name} ${method} ${tag} failed:\n${r.tail}`);
        return r;
      };
      const floor = await ours('floor', ['--backend', 'cpu', '--io-only', ...threads]);
      const cpu = await ours('cpu', ['--backend', 'cpu', ...threads]);
      const js = cpuJs ? await ours('cpu-js', ['--backend', 'cpu', ...threads], { MERGE_CPU_SIMD: '0' }) : undefined;
      const gpu = webgpu ? await ours('webgpu', ['--backend', 'webgpu']) : undefined;
      let mk: Run | undefined;
      if (mergekit) {
        await rm(out('mergekit'), { recursive: true, force: true });
        process.stderr.write(`${set.name} ${method}: mergekit…\n`);
        mk = await timed(mergekit, [`${method}.yml`, out('mergekit')], root);
        await rm(out('mergekit'), { recursive: true, force: true });
        if (!mk.ok) process.stderr.write(`mergekit failed on ${set.name} ${method}:\n${mk.tail}\n`);
      }
      const s = (r: Run) => `${r.seconds.toFixed(1)} s`;
      say(
        `| ${label} | ${method} | ${s(floor)} | ${s(cpu)} | ${js ? `${s(js)} | ` : ''}${gpu ? `${s(gpu)} | ` : ''}${mergekit ? `${mk?.ok ? s(mk) : 'failed'} | ${mk?.ok ? (cpu.seconds / mk.seconds).toFixed(2) + '×' : '—'} | ` : ''}` +
          `${(cpu.seconds / floor.seconds).toFixed(2)}× | ${formatBytes(cpu.peak)}${mergekit && mk ? ` / ${formatBytes(mk.peak)}` : ''} |`,
      );
    }
  }
  if (traffic !== '0') await trafficTable(methods, say);
  await mkdir(OUT, { recursive: true });
  await writeFile(join(OUT, 'bench-merge.md'), lines.join('\n') + '\n');
}

main().catch((e) => {
  process.stderr.write(`bench failed: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
});

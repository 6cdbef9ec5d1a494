// `npm run bench:hub`: the same merge from local folders and from the fake Hub (tests/fake-hub)
// throttled to a stated bandwidth and latency, as `npm run merge` child processes on the CPU
// engine. Prints, per run: wall time (the command's own "in X s", after its start-up), the bytes
// the Hub sent, time ÷ (bytes ÷ bandwidth) (target ≤ 1.2: requests pipelined so the network is the
// only bound), and for a second run with the same cache folder (an evolution-style repeat) the
// share of bytes read from the cache (target ≥ 95 %). Each merge also runs with --io-only (the same
// reads, no compute): the network-bound floor. One run on one machine; nothing here is a test.
//
// Environment: BENCH_HUB_MBPS (default 100, decimal MB/s), BENCH_HUB_LATENCY_MS (default 30),
// BENCH_HUB_METHOD (default linear), BENCH_THREADS.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { startFakeHub } from '../../tests/fake-hub/server';
import { writeTinyLlama } from '../../tests/fixtures/checkpoints';
import { REPO_ROOT } from './merge';
import { formatBytes } from './progress';

// BENCH_HUB_LAYERS scales the inputs (6 layers: ~46 MB each; 60: ~0.4 GB each), so the fixed costs
// (start-up, resolution, headers) weigh less against the transfer
const LAYERS = Math.max(1, Math.floor(Number(process.env.BENCH_HUB_LAYERS ?? 6)));
const OUT = resolve(REPO_ROOT, 'bench-out', LAYERS === 6 ? 'hub' : `hub-${LAYERS}`);
const SHAPE = { layers: LAYERS, hidden: 512, intermediate: 1376, vocab: 4096, dtype: 'BF16' as const };
const MODELS = ['bench/base', 'bench/ft-a', 'bench/ft-b'];

function run(args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number | null; stdout: string; stderr: string; wallMs: number }> {
  return new Promise((ok, fail) => {
    const t0 = performance.now();
    const child = spawn(join(REPO_ROOT, 'node_modules/.bin/tsx'), ['src/cli/merge.ts', ...args], { cwd: REPO_ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', fail);
    child.on('close', (code) => ok({ code, stdout, stderr, wallMs: performance.now() - t0 }));
  });
}

/** The command's own elapsed time: its "elapsed: N ms" line (MERGE_STUDIO_PREFETCH_LOG), else the summary's "wrote …: 6 files, 45.0 MB in 3.2 s". */
function commandMs(r: { stdout: string; stderr: string }): number {
  const exact = /^elapsed: (\d+) ms$/m.exec(r.stderr);
  if (exact) return Number(exact[1]);
  const stdout = r.stdout;
  const m = / in (\d+(?:\.\d+)?) (ms|s)\b/.exec(stdout) ?? / in (\d+) min (\d+) s/.exec(stdout);
  if (!m) return NaN;
  if (m[2] === 'ms') return Number(m[1]);
  if (m[2] === 's') return Number(m[1]) * 1000;
  return (Number(m[1]) * 60 + Number(m[2])) * 1000;
}

async function main(): Promise<void> {
  const mbps = Number(process.env.BENCH_HUB_MBPS ?? 100);
  const latencyMs = Number(process.env.BENCH_HUB_LATENCY_MS ?? 30);
  const method = process.env.BENCH_HUB_METHOD ?? 'linear';
  const threads = process.env.BENCH_THREADS ? ['--threads', process.env.BENCH_THREADS] : [];
  const bw = mbps * 1e6;
  await mkdir(OUT, { recursive: true });
  const models = join(OUT, 'models');
  if (!existsSync(join(models, MODELS[2], 'config.json'))) {
    process.stderr.write(`writing the inputs (3 × Llama-shaped BF16, ${LAYERS} layers)…\n`);
    await writeTinyLlama(join(models, MODELS[0]), { ...SHAPE, seed: 11 });
    await writeTinyLlama(join(models, MODELS[1]), { ...SHAPE, seed: 12, perturbFrom: { seed: 11, scale: 0.02 } });
    await writeTinyLlama(join(models, MODELS[2]), { ...SHAPE, seed: 13, perturbFrom: { seed: 11, scale: 0.02 } });
  }
  const params = method === 'linear' ? '{ weight: 1.0 }' : '{ weight: 0.5, density: 0.5 }';
  const yaml = `merge_method: ${method}\n${method === 'linear' ? '' : `base_model: ${MODELS[0]}\n`}models:\n${MODELS.map((m) => `  - model: ${m}\n    parameters: ${params}\n`).join('')}dtype: bfloat16\n`;
  await writeFile(join(models, 'merge.yml'), yaml);
  await mkdir(join(OUT, 'hubrefs'), { recursive: true });
  await writeFile(join(OUT, 'hubrefs', 'merge.yml'), yaml);

  const hub = await startFakeHub();
  for (const m of MODELS) await hub.store.commitFolder(m, join(models, m));
  const env = { HF_ENDPOINT: hub.url, HF_TOKEN: '', HF_HUB_OFFLINE: '', MERGE_STUDIO_PREFETCH_LOG: '1' };
  const rows: string[] = [];
  const cache = join(OUT, 'cache');
  try {
    for (const ioOnly of [false, true]) {
      const extra = [...threads, '--backend', 'cpu', ...(ioOnly ? ['--io-only'] : [])];
      const label = ioOnly ? `${method} --io-only` : method;
      const out = (n: string) => join(OUT, `out-${n}`);
      for (const n of ['local', 'hub1', 'hub2']) await rm(out(n), { recursive: true, force: true });
      await rm(cache, { recursive: true, force: true });

      hub.throttle = undefined;
      const local = await run([join(models, 'merge.yml'), '--out', out('local'), ...extra], env);
      if (local.code !== 0) throw new Error(`local merge failed:\n${local.stderr}`);

      hub.throttle = { bytesPerSecond: bw, latencyMs };
      hub.log.length = 0;
      const cold = await run([join(OUT, 'hubrefs', 'merge.yml'), '--out', out('hub1'), '--cache-dir', cache, ...extra], env);
      if (cold.code !== 0) throw new Error(`hub merge failed:\n${cold.stderr}`);
      const coldBytes = hub.bytesSent();
      const coldRequests = hub.log.length;
      const coldPrefetch = cold.stderr.split('\n').filter((l) => l.startsWith('hub prefetch:')).join('; ');
      hub.log.length = 0;
      const warm = await run([join(OUT, 'hubrefs', 'merge.yml'), '--out', out('hub2'), '--cache-dir', cache, ...extra], env);
      if (warm.code !== 0) throw new Error(`second hub merge failed:\n${warm.stderr}`);
      const warmBytes = hub.bytesSent();
      const hit = /\(([\d.]+) % cached\)/.exec(warm.stdout)?.[1] ?? '?';
      const tLocal = commandMs(local);
      const tCold = commandMs(cold);
      const tWarm = commandMs(warm);
      const floor = (coldBytes / bw) * 1000;
      rows.push(
        `${label}:\n` +
          `  local folders          ${(tLocal / 1000).toFixed(2)} s\n` +
          `  Hub, cold cache        ${(tCold / 1000).toFixed(2)} s   ${formatBytes(coldBytes)} over ${coldRequests} requests; bytes ÷ bandwidth = ${(floor / 1000).toFixed(2)} s; ratio ${(tCold / floor).toFixed(2)} (target ≤ 1.2)\n` +
          (coldPrefetch ? `                         ${coldPrefetch}\n` : '') +
          `  Hub, second run        ${(tWarm / 1000).toFixed(2)} s   ${formatBytes(warmBytes)} from the Hub; ${hit} % of the bytes read came from the cache (target ≥ 95 %)`,
      );
    }
  } finally {
    await hub.close();
  }
  process.stdout.write(
    `bench:hub — ${MODELS.length} × ${LAYERS}-layer Llama-shaped BF16 inputs, fake Hub throttled to ${mbps} MB/s and ${latencyMs} ms per request, CPU engine\n` +
      rows.join('\n') +
      '\n',
  );
}

main().catch((e: unknown) => {
  process.stderr.write(`error: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
});

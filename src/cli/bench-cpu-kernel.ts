// `npm run bench:cpu-kernel`: one thread's CPU time per output element of linear over 3 inputs (and
// task_arithmetic over a base and 2 task models), the wasm SIMD kernels (shaders/cpu/wsum.wat)
// against the scalar JS twin, for BF16 / F16 / F32 inputs encoded back to the same dtype. Two grains: "kernel" runs linear's CpuMethod over stored bytes
// already in memory (decode–sum–encode only, as a worker sees them after its reads), "tensor" the
// whole CPU engine path of one tensor (chunk reads from memory, the kernel, chunk assembly).
// Environment: BENCH_ELEMENTS (default 16 M), BENCH_REPEAT (best of, default 5).
import { cpuKernels, setCpuSimd } from '../methods/shared/cpu/simd';
import { linearCpu } from '../methods/linear/cpu';
import { cpuTensorBytes } from '../backends/cpu/tensor';
import { splitChunks, CPU_CHUNK } from '../backends/cpu/job';
import { MemorySource } from '../io/sources';
import { halfBits } from '../formats/dtype-codec';
import type { CpuJob } from '../methods/shared/cpu/method';
import type { PlanEntry } from '../recipe/plan-types';
import type { Dtype } from '../formats/dtype';

const N = Number(process.env.BENCH_ELEMENTS ?? 16 * 1024 * 1024);
const REPEAT = Number(process.env.BENCH_REPEAT ?? 5);

function inputBytes(n: number, dtype: Dtype, seed: number): Uint8Array {
  const v = new Float32Array(n);
  let s = seed;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    v[i] = ((s / 2 ** 32) * 2 - 1) * 0.05;
  }
  if (dtype === 'F32') return new Uint8Array(v.buffer);
  const h = new Uint16Array(n);
  for (let i = 0; i < n; i++) h[i] = halfBits.fromF32(v[i], dtype);
  return new Uint8Array(h.buffer);
}

function entryOf(dtype: Dtype, bytes: Uint8Array[], method = 'linear'): PlanEntry {
  return {
    name: 'model.layers.0.mlp.up_proj.weight',
    shape: [N],
    method,
    params: method === 'linear' ? { normalize: true } : {},
    outDtype: dtype,
    seed: 1,
    inputs: bytes.map((b, i) => ({ model: `m${i}`, isBase: method !== 'linear' && i === 0, params: { weight: [0.5, 0.3, 0.2][i] }, tensor: { name: 'w', dtype, shape: [N], source: new MemorySource(`m${i}`, b), byteOffset: 0, byteLength: b.byteLength } })),
  };
}

/** linear's kernel alone: stored bytes handed out as views, encoded chunks dropped. */
async function kernelOnly(entry: PlanEntry, bytes: Uint8Array[], dtype: Dtype): Promise<void> {
  const size = dtype === 'F32' ? 4 : 2;
  const job: CpuJob = {
    entry,
    n: N,
    chunks: splitChunks(N, CPU_CHUNK),
    encodeTo: dtype,
    input: () => Promise.reject(new Error('not used')),
    inputs: () => Promise.reject(new Error('not used')),
    stored: async (i, c) => ({ bytes: bytes[i].subarray(c.start * size, (c.start + c.count) * size), dtype }),
    fail: (m) => {
      throw new Error(m);
    },
  };
  await linearCpu.run(job, async () => {});
}

async function best(run: () => Promise<unknown>): Promise<number> {
  let t = Infinity;
  for (let r = 0; r < REPEAT; r++) {
    const c0 = process.cpuUsage();
    await run();
    const c = process.cpuUsage(c0);
    t = Math.min(t, (c.user + c.system) * 1000); // ns of CPU time
  }
  return t / N;
}

async function main() {
  console.log(`3 inputs, ${(N / 2 ** 20).toFixed(0)} Mi elements, one thread, CPU ns per output element (best of ${REPEAT})`);
  console.log('| method | inputs → output | grain | scalar JS | wasm SIMD | speed-up |');
  console.log('|---|---|---|---|---|---|');
  for (const dtype of ['BF16', 'F16', 'F32'] as Dtype[]) {
    const bytes = [1, 2, 3].map((s) => inputBytes(N, dtype, s));
    const entry = entryOf(dtype, bytes);
    for (const grain of ['kernel', 'tensor'] as const) {
      const run = () => (grain === 'kernel' ? kernelOnly(entry, bytes, dtype) : cpuTensorBytes(entry, {}));
      setCpuSimd(false);
      const js = await best(run);
      setCpuSimd(undefined);
      if (cpuKernels().kind !== 'wasm-simd') throw new Error(`no SIMD kernels here: ${cpuKernels().why}`);
      const wasm = await best(run);
      console.log(`| linear | 3 × ${dtype} → ${dtype} | ${grain} | ${js.toFixed(2)} ns | ${wasm.toFixed(2)} ns | ${(js / wasm).toFixed(1)}× |`);
    }
    // task_arithmetic (base + 2 task models), the whole tensor path
    const ta = entryOf(dtype, bytes, 'task_arithmetic');
    setCpuSimd(false);
    const js = await best(() => cpuTensorBytes(ta, {}));
    setCpuSimd(undefined);
    const wasm = await best(() => cpuTensorBytes(ta, {}));
    console.log(`| task_arithmetic | 3 × ${dtype} → ${dtype} | tensor | ${js.toFixed(2)} ns | ${wasm.toFixed(2)} ns | ${(js / wasm).toFixed(1)}× |`);
  }
}

main().catch((e) => {
  process.stderr.write(`bench failed: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
});

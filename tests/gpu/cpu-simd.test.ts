// The CPU engine's wasm SIMD kernels in Chromium: they validate and run on the page and in a Web
// Worker (where the browser CPU engine's threads merge), and linear's bytes equal the WebGPU
// engine's and the scalar JS twin's — odd sizes, every input dtype, BF16 / F16 / F32 outputs.
import { afterEach, describe, expect, test } from 'vitest';
import { gpuBytes, makeEntry, perturb, randn } from './support';
import type { Dtype } from '../../src/formats/dtype';
import { cpuTensorBytes } from '../../src/backends/cpu/tensor';
import { toPortableEntry } from '../../src/backends/cpu/task';
import { browserCpuBackend } from '../../src/backends/cpu/browser-pool';
import { cpuKernels, setCpuSimd } from '../../src/methods/shared/cpu/simd';
import type { PlanEntry } from '../../src/recipe/plan-types';

const SHAPE = [37, 113]; // 4181 elements: not a multiple of 4 or 8, one block and a tail
const N = 37 * 113;

function entry(dtypes: Dtype[], out: Dtype, normalize = true): PlanEntry {
  const base = randn(N, 5);
  const inputs = dtypes.map((dtype, i) => ({ data: perturb(base, 11 + i, 0.05), dtype, params: { weight: [0.3, 0.5, 0.7, -0.2][i] } }));
  return makeEntry('linear', SHAPE, inputs, { normalize }, out);
}

const firstDiff = (a: Uint8Array, b: Uint8Array) => {
  if (a.length !== b.length) return -2;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return i;
  return -1;
};

afterEach(() => setCpuSimd(undefined));

describe('CPU engine SIMD kernels in Chromium', () => {
  test('the page validates and compiles them', () => {
    expect(cpuKernels()).toEqual({ kind: 'wasm-simd', why: 'WebAssembly 128-bit SIMD' });
  });

  for (const [name, dtypes, out, normalize] of [
    ['3 × BF16 → BF16', ['BF16', 'BF16', 'BF16'], 'BF16', true],
    ['3 × F32 → F32, not normalised', ['F32', 'F32', 'F32'], 'F32', false],
    ['BF16 + F16 + F32 + BF16 → F16', ['BF16', 'F16', 'F32', 'BF16'], 'F16', true],
    ['2 × F16 → BF16', ['F16', 'F16'], 'BF16', true],
  ] as [string, Dtype[], Dtype, boolean][])
    test(`linear ${name}: wasm = scalar JS = WebGPU, bit for bit`, async () => {
      const e = entry(dtypes, out, normalize);
      const wasm = await cpuTensorBytes(e, {});
      setCpuSimd(false);
      const js = await cpuTensorBytes(e, {});
      setCpuSimd(undefined);
      expect(firstDiff(wasm, js), 'first byte where wasm and JS differ').toBe(-1);
      expect(firstDiff(wasm, await gpuBytes(e)), 'first byte where wasm and WebGPU differ').toBe(-1);
    });

  test('a Web Worker runs them too, with the same bytes', async () => {
    const e = entry(['BF16', 'BF16', 'BF16'], 'BF16');
    const w = new Worker(new URL('./cpu-simd-probe.worker.ts', import.meta.url), { type: 'module' });
    try {
      const reply = await new Promise<{ kernels: { kind: string }; bytes: Uint8Array }>((resolve, reject) => {
        w.onmessage = (ev) => resolve(ev.data);
        w.onerror = (ev) => reject(new Error(ev.message));
        w.postMessage(toPortableEntry(e));
      });
      expect(reply.kernels.kind).toBe('wasm-simd');
      expect(firstDiff(reply.bytes, await gpuBytes(e))).toBe(-1);
    } finally {
      w.terminate();
    }
  });

  test("the browser CPU engine (its own Web Workers) merges linear to the GPU's bytes and says which kernels ran", async () => {
    const e = entry(['BF16', 'F32', 'BF16'], 'BF16');
    const backend = browserCpuBackend(1);
    expect(backend.description).toBe('CPU engine: 1 worker thread, wasm SIMD');
    const parts: Uint8Array[] = [];
    try {
      await backend.mergeTensors([e], { chunk: async (_e, _c, bytes) => void parts.push(bytes.slice()), done: async () => {} });
    } finally {
      backend.dispose();
    }
    expect(parts.length).toBe(1);
    expect(firstDiff(parts[0], await gpuBytes(e))).toBe(-1);
  });
});

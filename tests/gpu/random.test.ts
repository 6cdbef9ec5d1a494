// DARE / DELLA on the GPU against the CPU twin: the random masks must be IDENTICAL (same
// counter-based RNG, integer keep decisions), outputs equal to f32 arithmetic, bytes identical for
// any chunking; plus statistics of the GPU masks and reproducibility from the seed.
import { describe, expect, test } from 'vitest';
import { closeness, gpuBytes, gpuValues, makeEntry, perturb, randn, referenceValues, type TestInput } from './support';
import type { Dtype } from '../../src/formats/dtype';
import type { PlanEntry } from '../../src/recipe/plan-types';
import { getGpu } from '../../src/gpu/device';
import { TensorJob } from '../../src/gpu/tensor-job';
import { magnitudeRankPruneMask, maskWordOffsets, maskWords, randomPruneMask } from '../../src/methods/shared/webgpu/random-prune';
import { magpruneMask, randomMask } from '../../src/methods/shared/reference/random-sparsify';
import { roundTo } from '../fixtures/dtype-codec';

/** Runs `make` on a job over the entry and returns the mask as one byte per element. */
async function gpuMask(entry: PlanEntry, chunkElements: number, rowLen: number | undefined, make: (job: TensorJob) => Promise<GPUBuffer>): Promise<Uint8Array> {
  const gpu = await getGpu();
  const job = new TensorJob(gpu.device, entry, { chunkElements, rowLen });
  try {
    const mask = await make(job);
    const b = job.batch();
    b.read(mask, maskWords(job.chunks) * 4);
    const [bytes] = await b.submit();
    const words = new Uint32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
    const offsets = maskWordOffsets(job.chunks);
    const out = new Uint8Array(job.n);
    for (const c of job.chunks)
      for (let i = 0; i < c.count; i++) out[c.start + i] = (words[offsets[c.index] + (i >>> 5)] >>> (i & 31)) & 1;
    return out;
  } finally {
    job.dispose();
  }
}

function firstDiff(a: Uint8Array, b: Uint8Array): number {
  if (a.length !== b.length) return -2;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return i;
  return -1;
}

const taskDelta = (x: Float32Array, base: Float32Array) => {
  const d = new Float32Array(x.length);
  for (let i = 0; i < x.length; i++) d[i] = x[i] - base[i];
  return d;
};

describe('randomPruneMask (DARE) equals the CPU twin bit for bit', () => {
  for (const [n, d, chunk] of [[20467, 0.3, 4096], [20467, 0.3, 1 << 20], [100, 0.9, 4096], [1, 0.5, 4096], [65536 + 17, 0.05, 8192]] as const) {
    test(`n=${n} density=${d} chunk=${chunk}`, async () => {
      const entry = makeEntry('dare_linear', [n], [{ data: new Float32Array(n), dtype: 'F32' }]);
      entry.seed = 0xabc123;
      const got = await gpuMask(entry, chunk, undefined, (job) => randomPruneMask(job, d, 2));
      expect(firstDiff(got, randomMask(n, d, 0xabc123, 2))).toBe(-1);
    });
  }

  test('kept fraction on 2^20 elements within 5σ; another seed or stream gives another mask', async () => {
    const n = 1 << 20;
    const entry = makeEntry('dare_linear', [n], [{ data: new Float32Array(n), dtype: 'F32' }]);
    for (const d of [0.1, 0.5]) {
      const m = await gpuMask(entry, 1 << 18, undefined, (job) => randomPruneMask(job, d, 1));
      const kept = m.reduce((a, b) => a + b, 0);
      expect(Math.abs(kept - n * d)).toBeLessThan(5 * Math.sqrt(n * d * (1 - d)));
    }
    const a = await gpuMask(entry, 1 << 20, undefined, (job) => randomPruneMask(job, 0.5, 1));
    const b = await gpuMask(entry, 1 << 20, undefined, (job) => randomPruneMask(job, 0.5, 1, { seed: entry.seed + 1 }));
    const c = await gpuMask(entry, 1 << 20, undefined, (job) => randomPruneMask(job, 0.5, 2));
    expect(firstDiff(a, b)).toBeGreaterThanOrEqual(0);
    expect(firstDiff(a, c)).toBeGreaterThanOrEqual(0);
  });
});

describe('magnitudeRankPruneMask (DELLA) equals the CPU twin bit for bit', () => {
  const cases: { name: string; shape: number[]; data: () => { x: Float32Array; base: Float32Array }; d: number; e: number }[] = [
    { name: 'rows of 211 (several rows per sort tile)', shape: [97, 211], d: 0.5, e: 0.3, data: () => { const base = randn(97 * 211, 1); return { base, x: perturb(base, 2, 0.05) }; } },
    { name: 'rows of 3001 (global bitonic stages)', shape: [7, 3001], d: 0.4, e: 0.2, data: () => { const base = randn(7 * 3001, 3); return { base, x: perturb(base, 4, 0.05) }; } },
    { name: 'one 1-D row of 20000', shape: [20000], d: 0.5, e: -0.25, data: () => { const base = randn(20000, 5); return { base, x: perturb(base, 6, 0.05) }; } },
    { name: 'many exact ties (lower index ranks first)', shape: [40, 500], d: 0.5, e: 0.45, data: () => { const base = randn(20000, 7); return { base, x: base.map((v, i) => v + (((i * 5) % 7) - 3) * 0.125) }; } },
    { name: 'rows of 1', shape: [300, 1], d: 0.3, e: 0.1, data: () => { const base = randn(300, 8); return { base, x: perturb(base, 9, 0.05) }; } },
    {
      name: 'NaN, ±inf, ±0 in the task vector', shape: [16, 64], d: 0.5, e: 0.4,
      data: () => {
        const base = randn(1024, 10);
        const x = perturb(base, 11, 0.05);
        for (let i = 0; i < 1024; i += 13) x[i] = [NaN, Infinity, -Infinity, base[i]][(i / 13) % 4];
        return { base, x };
      },
    },
  ];
  for (const c of cases) {
    for (const dtype of ['F32', 'BF16'] as Dtype[]) {
      test(`${c.name}, ${dtype}`, async () => {
        const { x, base } = c.data();
        const n = x.length;
        const C = c.shape[c.shape.length - 1];
        const entry = makeEntry('della', c.shape, [{ data: base, dtype, isBase: true }, { data: x, dtype }]);
        const want = magpruneMask(taskDelta(roundTo(x, dtype), roundTo(base, dtype)), C, c.d, c.e, entry.seed, 1);
        for (const chunk of [4096, 1 << 22]) {
          const got = await gpuMask(entry, chunk, C, (job) => magnitudeRankPruneMask(job, 1, 0, c.d, c.e, 1));
          expect(firstDiff(got, want)).toBe(-1);
        }
        expect(n).toBe(want.length);
      });
    }
  }

  test('a job whose chunks split rows is refused', async () => {
    const entry = makeEntry('della', [10, 1000], [{ data: randn(10000, 1), dtype: 'F32', isBase: true }, { data: randn(10000, 2), dtype: 'F32' }]);
    await expect(gpuMask(entry, 4096, undefined, (job) => magnitudeRankPruneMask(job, 1, 0, 0.5, 0.1, 1))).rejects.toThrow(/splits rows of 1000/);
  });
});

interface Case {
  name: string;
  method: string;
  shape: number[];
  inputs: (dtype: Dtype) => TestInput[];
  params?: Record<string, number | boolean | string>;
}

function family(n: number, seed: number, count: number, scale = 0.05) {
  const base = randn(n, seed);
  return { base, others: Array.from({ length: count }, (_, i) => perturb(base, seed * 31 + i + 1, scale)) };
}

const ODD = [97, 211];
const N = ODD[0] * ODD[1];
const withBase = (f: { base: Float32Array; others: Float32Array[] }, d: Dtype, per: Record<string, number>[]): TestInput[] => [
  { data: f.base, dtype: d, isBase: true },
  ...f.others.map((x, i) => ({ data: x, dtype: d, params: per[i] })),
];

const cases: Case[] = [
  { name: 'dare_ties', method: 'dare_ties', shape: ODD, inputs: (d) => withBase(family(N, 1, 3), d, [{ weight: 0.5, density: 0.3 }, { weight: 0.3, density: 0.55 }, { weight: 0.9, density: 0.7 }]) },
  { name: 'dare_ties normalize, no rescale, λ', method: 'dare_ties', shape: ODD, params: { normalize: true, rescale: false, lambda: 0.8 }, inputs: (d) => withBase(family(N, 2, 2), d, [{ weight: 0.6, density: 0.4 }, { weight: 0.4, density: 0.5 }]) },
  { name: 'dare_linear', method: 'dare_linear', shape: ODD, inputs: (d) => withBase(family(N, 3, 2), d, [{ weight: 0.6, density: 0.2 }, { weight: 0.4, density: 1 }]) },
  { name: 'dare_linear rescale_inverse_density', method: 'dare_linear', shape: ODD, params: { rescale_inverse_density: true }, inputs: (d) => withBase(family(N, 4, 2), d, [{ weight: 0.6, density: 0.25 }, { weight: 0.4, density: 0 }]) },
  { name: 'della', method: 'della', shape: ODD, inputs: (d) => withBase(family(N, 5, 3), d, [{ weight: 0.5, density: 0.3, epsilon: 0.15 }, { weight: 0.3, density: 0.55, epsilon: 0.1 }, { weight: 0.9, density: 0.7, epsilon: 0.25 }]) },
  { name: 'della_linear', method: 'della_linear', shape: ODD, inputs: (d) => withBase(family(N, 6, 2), d, [{ weight: 0.7, density: 0.5, epsilon: 0.4 }, { weight: 0.3, density: 0.4, epsilon: -0.2 }]) },
  { name: 'della_linear on long rows', method: 'della_linear', shape: [5, 5000], inputs: (d) => withBase(family(25000, 7, 1), d, [{ weight: 1, density: 0.4, epsilon: 0.3 }]) },
  { name: 'della 1-D', method: 'della', shape: [9001], params: { rescale: false }, inputs: (d) => withBase(family(9001, 8, 2), d, [{ weight: 1, density: 0.5, epsilon: 0.2 }, { weight: 0.5, density: 0.6, epsilon: 0.1 }]) },
];

describe.each(['F32', 'BF16', 'F16'] as Dtype[])('random GTA methods: GPU vs CPU twin, %s inputs', (dtype) => {
  for (const c of cases) {
    test(c.name, async () => {
      const inputs = c.inputs(dtype);
      const entry = makeEntry(c.method, c.shape, inputs, c.params ?? {}, 'F32');
      const want = referenceValues(entry, inputs);
      const tiny = await gpuValues(entry, 4096);
      const r = closeness(tiny, want, 2e-5, 1e-6);
      expect(r.detail).toBe('');
      const whole = await gpuBytes(entry);
      expect(firstDiff(whole, new Uint8Array(tiny.buffer))).toBe(-1);
    });
  }
});

describe('reproducibility and the L1 rescale on the GPU', () => {
  test('same seed → same bytes; another seed → another output', async () => {
    for (const c of [cases[0], cases[4]]) {
      const inputs = c.inputs('BF16');
      const entry = makeEntry(c.method, c.shape, inputs, c.params ?? {}, 'BF16');
      const a = await gpuBytes(entry, 8192);
      expect(firstDiff(await gpuBytes(entry), a)).toBe(-1);
      const other = await gpuBytes({ ...entry, seed: entry.seed + 1 });
      expect(firstDiff(other, a)).toBeGreaterThanOrEqual(0);
    }
  });

  test('Σ|out − base| equals Σ|δ| (one model, weight 1, zero base)', async () => {
    for (const method of ['dare_linear', 'della_linear']) {
      const n = 64 * 1000;
      const x = randn(n, 40);
      const inputs: TestInput[] = [{ data: new Float32Array(n), dtype: 'F32', isBase: true }, { data: x, dtype: 'F32', params: { weight: 1, density: 0.3, epsilon: 0.2 } }];
      const out = await gpuValues(makeEntry(method, [64, 1000], inputs, {}, 'F32'), 16384);
      let so = 0, sx = 0, kept = 0;
      for (let i = 0; i < n; i++) {
        so += Math.abs(out[i]);
        sx += Math.abs(x[i]);
        if (out[i] !== 0) kept++;
      }
      expect(Math.abs(so / sx - 1)).toBeLessThan(1e-5);
      expect(Math.abs(kept / n - 0.3)).toBeLessThan(0.02);
    }
  });
});

// CABS and the magnitude-pruning primitives on the GPU against their CPU twins: every dtype, odd
// shapes (rows not a multiple of the block), forced small chunks, bit-identical output for any
// chunking, and the CABS invariants measured on the GPU's own masks.
import { describe, expect, test } from 'vitest';
import { closeness, gpuBytes, gpuValues, makeEntry, perturb, randn, referenceValues, type TestInput } from './support';
import type { Dtype } from '../../src/formats/dtype';
import type { PlanEntry } from '../../src/recipe/plan-types';
import { getGpu } from '../../src/gpu/device';
import { TensorJob } from '../../src/gpu/tensor-job';
import { cabsGpu } from '../../src/methods/cabs/webgpu';
import { magnitudePruneMask, magnitudeTopkMask, newMask, pruneRowLen, type PruneScope } from '../../src/methods/shared/webgpu/prune';
import { cabsSelect, keepCount, magnitudeKeys, nmMask, rowTopkMask, tensorTopkMask } from '../../src/methods/reference';
import { roundTo } from '../fixtures/dtype-codec';

const ODD = [97, 211];
const N = ODD[0] * ODD[1];

function family(n: number, seed: number, count: number, scale = 0.05) {
  const base = randn(n, seed);
  return { base, others: Array.from({ length: count }, (_, i) => perturb(base, seed * 31 + i + 1, scale)) };
}

/** Quantised deltas: masses of equal magnitudes inside blocks and at thresholds. */
function quantised(n: number, seed: number, count: number) {
  const base = randn(n, seed);
  return { base, others: Array.from({ length: count }, (_, k) => base.map((x, i) => x + ((((i * (3 + 2 * k)) % 7) - 3) * 0.125))) };
}

interface Case {
  name: string;
  shape: number[];
  params: Record<string, number>;
  inputs: (d: Dtype) => TestInput[];
}

const withBase = (f: { base: Float32Array; others: Float32Array[] }, d: Dtype, params: Record<string, number>[]): TestInput[] => [
  { data: f.base, dtype: d, isBase: true },
  ...f.others.map((x, i) => ({ data: x, dtype: d, params: params[i] })),
];

const cases: Case[] = [
  { name: 'n:m, Σn = m, tails of 3', shape: ODD, params: { block_size: 8 },
    inputs: (d) => withBase(family(N, 1, 3), d, [{ weight: 1, block_keep: 2 }, { weight: 0.7, block_keep: 3 }, { weight: 1.3, block_keep: 3 }]) },
  { name: 'n:m, Σn > m, priorities, λ', shape: ODD, params: { block_size: 8, lambda: 0.8 },
    inputs: (d) => withBase(family(N, 2, 2), d, [{ weight: 1, block_keep: 5 }, { weight: 1.2, block_keep: 5, priority: 2 }]) },
  { name: 'n:m with many exact ties', shape: [61, 67], params: { block_size: 16 },
    inputs: (d) => withBase(quantised(61 * 67, 3, 3), d, [{ weight: 1, block_keep: 4 }, { weight: 0.5, block_keep: 6 }, { weight: 0.8, block_keep: 9 }]) },
  { name: 'n:m, density → n, m wider than a row', shape: [300, 24], params: { block_size: 32 },
    inputs: (d) => withBase(family(300 * 24, 4, 2), d, [{ weight: 1, density: 0.25 }, { weight: 1, density: 0.5 }]) },
  { name: 'top-k, Σ density ≤ 1', shape: ODD, params: {},
    inputs: (d) => withBase(family(N, 5, 3), d, [{ weight: 1, density: 0.3 }, { weight: 0.6, density: 0.2 }, { weight: 1, density: 0.45 }]) },
  { name: 'top-k, Σ density > 1 (overlap)', shape: ODD, params: { lambda: 1.1 },
    inputs: (d) => withBase(family(N, 6, 2), d, [{ weight: 1, density: 0.7 }, { weight: 0.9, density: 0.6, priority: -1 }]) },
  { name: 'top-k with many exact ties', shape: [9001], params: {},
    inputs: (d) => withBase(quantised(9001, 7, 2), d, [{ weight: 1, density: 0.4 }, { weight: 1, density: 0.35 }]) },
];

describe.each(['F32', 'BF16', 'F16'] as Dtype[])('cabs GPU vs CPU twin, %s inputs', (dtype) => {
  for (const c of cases) {
    test(c.name, async () => {
      const inputs = c.inputs(dtype);
      const entry = makeEntry('cabs', c.shape, inputs, c.params, 'F32');
      const want = referenceValues(entry, inputs);
      const tiny = await gpuValues(entry, 4096);
      const r = closeness(tiny, want, 2e-5, 1e-6);
      expect(r.detail).toBe('');
      const whole = await gpuBytes(entry);
      const small = new Uint8Array(tiny.buffer);
      expect(whole.length).toBe(small.length);
      let diff = -1;
      for (let i = 0; i < whole.length; i++)
        if (whole[i] !== small[i]) {
          diff = i;
          break;
        }
      expect(diff).toBe(-1);
    });
  }
});

async function readMask(job: TensorJob, mask: GPUBuffer): Promise<Uint8Array> {
  const words = Math.ceil(job.n / 32);
  const b = job.batch();
  b.read(mask, words * 4);
  const [bytes] = await b.submit();
  const w = new Uint32Array(bytes.buffer, bytes.byteOffset, words);
  const out = new Uint8Array(job.n);
  for (let i = 0; i < job.n; i++) out[i] = (w[i >>> 5] >>> (i & 31)) & 1;
  return out;
}

function jobFor(entry: PlanEntry, chunkElements: number, rowLen?: number): Promise<TensorJob> {
  return getGpu().then((gpu) => new TensorJob(gpu.device, entry, { chunkElements, rowLen }));
}

async function gpuCabsMasks(entry: PlanEntry, chunkElements: number): Promise<Uint8Array[]> {
  const job = await jobFor(entry, chunkElements, cabsGpu.rowLen?.({ entry }));
  try {
    const s = (await cabsGpu.sparsify!(job))!;
    const out: Uint8Array[] = [];
    for (const m of s.masks) out.push(await readMask(job, m!));
    return out;
  } finally {
    job.dispose();
  }
}

function refSelect(entry: PlanEntry, inputs: TestInput[]) {
  return cabsSelect({
    name: entry.name,
    method: 'cabs',
    shape: entry.shape,
    params: entry.params,
    inputs: inputs.map((inp, i) => ({ data: roundTo(inp.data, inp.dtype), isBase: !!inp.isBase, params: entry.inputs[i].params, shape: entry.shape })),
  });
}

const sum = (m: Uint8Array, from = 0, to = m.length) => {
  let s = 0;
  for (let i = from; i < to; i++) s += m[i];
  return s;
};

describe('cabs masks on the GPU', () => {
  test('Σn ≤ m: overlap exactly 0, every block keeps exactly n, density exactly n/m, equal to the twin, any chunking', async () => {
    // rows of 256 = 8 full blocks of 32: per-row and per-tensor density is exactly n/m
    const shape = [40, 256];
    const n = 40 * 256;
    const ns = [3, 8, 12, 9]; // Σ = 32 = m
    const inputs = withBase(family(n, 11, 4, 0.1), 'BF16', ns.map((k, i) => ({ weight: 1, block_keep: k, priority: i % 2 })));
    const entry = makeEntry('cabs', shape, inputs, { block_size: 32 });
    const masks = await gpuCabsMasks(entry, 4096);
    const again = await gpuCabsMasks(entry, 1 << 20);
    const ref = refSelect(entry, inputs);
    masks.forEach((m, k) => {
      expect(Array.from(m)).toEqual(Array.from(ref.masks[k]));
      expect(Array.from(again[k])).toEqual(Array.from(m));
      for (let b0 = 0; b0 < n; b0 += 32) expect(sum(m, b0, b0 + 32)).toBe(ns[k]);
      for (let r = 0; r < 40; r++) expect(sum(m, r * 256, (r + 1) * 256) / 256).toBe(ns[k] / 32);
    });
    for (let i = 0; i < n; i++) expect(masks[0][i] + masks[1][i] + masks[2][i] + masks[3][i]).toBeLessThanOrEqual(1);
  });

  test('Σ density ≤ 1 in top-k mode: overlap exactly 0, floor(density·numel) kept, equal to the twin', async () => {
    const inputs = withBase(family(N, 12, 3), 'F16', [{ weight: 1, density: 0.25 }, { weight: 1, density: 0.35 }, { weight: 1, density: 0.4 }]);
    const entry = makeEntry('cabs', ODD, inputs, {});
    const masks = await gpuCabsMasks(entry, 4096);
    const ref = refSelect(entry, inputs);
    masks.forEach((m, k) => {
      expect(Array.from(m)).toEqual(Array.from(ref.masks[k]));
      expect(sum(m)).toBe(Math.floor([0.25, 0.35, 0.4][k] * N));
    });
    for (let i = 0; i < N; i++) expect(masks[0][i] + masks[1][i] + masks[2][i]).toBeLessThanOrEqual(1);
  });
});

describe('magnitude pruning primitives vs CPU twins', () => {
  const scopes: [string, PruneScope, Record<string, number>][] = [
    ['tensor 70%', 'tensor', { sparsity: 0.7 }],
    ['row 55%', 'row', { sparsity: 0.55 }],
    ['2:4', 'nm', { n: 2, m: 4 }],
    ['3:16 with tails', 'nm', { n: 3, m: 16 }],
  ];
  for (const [name, scope, p] of scopes) {
    for (const taskVector of [true, false]) {
      test(`${name}, ${taskVector ? 'task vector' : 'raw weights'}, chunk-invariant`, async () => {
        const f = quantised(N, 21, 1);
        const inputs: TestInput[] = [{ data: f.base, dtype: 'BF16', isBase: true }, { data: f.others[0], dtype: 'BF16' }];
        const entry = makeEntry('cabs', ODD, inputs, {});
        const x = roundTo(f.others[0], 'BF16');
        const keys = magnitudeKeys(x, taskVector ? roundTo(f.base, 'BF16') : undefined);
        const want =
          scope === 'tensor' ? tensorTopkMask(keys, keepCount(p.sparsity, N)) : scope === 'row' ? rowTopkMask(keys, 211, keepCount(p.sparsity, 211)) : nmMask(keys, 211, p.n, p.m);
        for (const chunk of [4096, 1 << 20]) {
          const job = await jobFor(entry, chunk, pruneRowLen(scope, ODD));
          try {
            const req = scope === 'nm' ? { scope, n: p.n, m: p.m } : { scope, sparsity: p.sparsity };
            const mask = await magnitudePruneMask(job, { x: 1, base: taskVector ? 0 : undefined, ...(req as { scope: 'nm'; n: number; m: number }) });
            const got = await readMask(job, mask);
            let first = -1;
            for (let i = 0; i < N; i++)
              if (got[i] !== want[i]) {
                first = i;
                break;
              }
            expect(first).toBe(-1);
          } finally {
            job.dispose();
          }
        }
      });
    }
  }

  test('top-k with a `used` mask fills from free positions first', async () => {
    const f = family(N, 31, 1);
    const inputs: TestInput[] = [{ data: f.base, dtype: 'F32', isBase: true }, { data: f.others[0], dtype: 'F32' }];
    const entry = makeEntry('cabs', ODD, inputs, {});
    const keys = magnitudeKeys(f.others[0], f.base);
    // used = every third element; keep more than the free count so taken ones are needed too
    const usedRef = new Uint8Array(N).map((_, i) => (i % 3 === 0 ? 1 : 0));
    const free = N - sum(usedRef);
    const keep = free + 1000;
    const want = tensorTopkMask(keys, keep, usedRef);
    const job = await jobFor(entry, 4096);
    try {
      const used = await newMask(job, 'used');
      const words = new Uint32Array(Math.ceil(N / 32));
      usedRef.forEach((v, i) => v && (words[i >>> 5] |= 1 << (i & 31)));
      job.device.queue.writeBuffer(used, 0, words);
      for (const known of [free, undefined]) {
        const mask = await magnitudeTopkMask(job, { x: 1, base: 0, used, keep, free: known });
        expect(Array.from(await readMask(job, mask))).toEqual(Array.from(want));
      }
    } finally {
      job.dispose();
    }
  });
});

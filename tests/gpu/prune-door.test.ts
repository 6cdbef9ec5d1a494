// The pruning primitives through the backend door (backends/types.ts PruneBackend): the CPU engine
// gives the WebGPU engine's masks bit for bit — every pruning method, whole-tensor and row-chunked
// (della's masks laid out per chunk on the GPU), forced small chunks — and the same decoded inputs.
import { describe, expect, test } from 'vitest';
import { makeEntry, perturb, randn, type TestInput } from './support';
import type { Dtype } from '../../src/formats/dtype';
import { getGpu } from '../../src/gpu/device';
import { WebGpuBackend } from '../../src/backends/webgpu/backend';
import { CpuBackend } from '../../src/backends/cpu/backend';
import { copyBits } from '../../src/backends/webgpu/prune';

const SHAPE = [97, 211];
const N = 97 * 211;

function inputs(seed: number, per: Record<string, number>[], dtype: Dtype): TestInput[] {
  const base = randn(N, seed);
  return [{ data: base, dtype, isBase: true }, ...per.map((params, i) => ({ data: perturb(base, seed * 31 + i + 1, 0.05), dtype, params }))];
}

const CASES: [string, string, Record<string, number>[], Record<string, number | boolean>, Dtype][] = [
  ['ties', 'ties', [{ weight: 0.5, density: 0.3 }, { weight: 0.3, density: 0.55 }, { weight: 0.9, density: 0.7 }], {}, 'BF16'],
  ['dare_ties', 'dare_ties', [{ weight: 0.5, density: 0.4 }, { weight: 0.3, density: 0.5 }], {}, 'F16'],
  ['della (row chunks)', 'della', [{ weight: 0.5, density: 0.4, epsilon: 0.1 }, { weight: 0.3, density: 0.6, epsilon: 0.2 }], {}, 'F32'],
  ['breadcrumbs_ties', 'breadcrumbs_ties', [{ weight: 0.5, density: 0.6, gamma: 0.05 }, { weight: 0.5, density: 0.7, gamma: 0.1 }], {}, 'BF16'],
  ['cabs n:m', 'cabs', [{ weight: 1, block_keep: 3 }, { weight: 0.7, block_keep: 4, priority: 1 }], { block_size: 8 }, 'BF16'],
  ['cabs n:m, overlapping, tail blocks', 'cabs', [{ weight: 1, block_keep: 4 }, { weight: 0.7, block_keep: 5 }], { block_size: 6 }, 'F32'],
  ['cabs top-k', 'cabs', [{ weight: 1, density: 0.7 }, { weight: 0.7, density: 0.6 }], {}, 'F16'],
];

describe('pruning primitives through the door: CPU engine = WebGPU', () => {
  test.each(CASES)('%s: the same masks and factors for any chunking', async (_name, method, per, global, dtype) => {
    const entry = makeEntry(method, SHAPE, inputs(7, per, dtype), global);
    const gpu = new WebGpuBackend(await getGpu());
    const cpu = new CpuBackend({ threads: 0 });
    const want = await gpu.entryMasks(entry);
    expect(want).toBeDefined();
    const kept = want!.masks.map((m) => (m ? m.reduce((a, w) => a + popcount(w), 0) : N));
    expect(kept.some((k) => k > 0 && k < N)).toBe(true); // the masks prune something
    for (const chunkElements of [undefined, 4096]) {
      expect(await cpu.entryMasks(entry, { chunkElements })).toEqual(want);
      if (chunkElements) expect(await gpu.entryMasks(entry, { chunkElements })).toEqual(want);
    }
  });

  test('methods that do not prune, and entries without a base, have no masks on either engine', async () => {
    const gpu = new WebGpuBackend(await getGpu());
    const cpu = new CpuBackend({ threads: 0 });
    const linear = makeEntry('linear', SHAPE, inputs(3, [{ weight: 0.5 }, { weight: 0.5 }], 'F32'));
    const noBase = makeEntry('ties', SHAPE, inputs(3, [{ weight: 0.5, density: 0.5 }], 'F32').map((x) => ({ ...x, isBase: false, params: { weight: 0.5, density: 0.5 } })));
    for (const e of [linear, noBase]) {
      expect(await gpu.entryMasks(e)).toBeUndefined();
      expect(await cpu.entryMasks(e)).toBeUndefined();
    }
  });

  test.each([
    ['BF16', undefined],
    ['F32', 'F16'],
    ['F16', 'BF16'],
  ] as [Dtype, Dtype | undefined][])('decoded %s input (compute dtype %s): the same f32 values', async (dtype, compute) => {
    const entry = makeEntry('linear', [33, 129], inputs(5, [{ weight: 1 }], dtype).map((x) => ({ ...x, data: x.data.subarray(0, 33 * 129) })));
    if (compute) entry.computeDtype = compute;
    const gpu = new WebGpuBackend(await getGpu());
    const cpu = new CpuBackend({ threads: 0 });
    for (const i of [0, 1]) {
      const want = await gpu.decodedInput(entry, i, { chunkElements: 1024 });
      const got = await cpu.decodedInput(entry, i);
      expect(new Uint32Array(got.buffer, got.byteOffset, got.length)).toEqual(new Uint32Array(want.buffer, want.byteOffset, want.length));
    }
  });

  test('copyBits moves any bit range to any offset', () => {
    const src = new Uint32Array([0xdeadbeef, 0x12345678, 0xcafef00d]);
    const bit = (a: Uint32Array, e: number) => (a[e >>> 5] >>> (e & 31)) & 1;
    for (const [from, to, count] of [[0, 0, 96], [3, 0, 70], [0, 5, 60], [33, 64, 31], [7, 13, 0]]) {
      const dst = new Uint32Array(5);
      copyBits(src, from, dst, to, count);
      for (let e = 0; e < 160; e++) expect(bit(dst, e), `${from}→${to} bit ${e}`).toBe(e >= to && e < to + count ? bit(src, from + e - to) : 0);
    }
  });
});

function popcount(w: number): number {
  w = w - ((w >>> 1) & 0x55555555);
  w = (w & 0x33333333) + ((w >>> 2) & 0x33333333);
  return (((w + (w >>> 4)) & 0x0f0f0f0f) * 0x01010101) >>> 24;
}

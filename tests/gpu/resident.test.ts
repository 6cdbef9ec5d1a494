// GPU-resident merges (what evaluation feeds to onnxruntime-web) must hold exactly what a merge to
// disk writes, for any chunking and output dtype; the delta counters must match a CPU count.
import { describe, expect, test } from 'vitest';
import { makeEntry, perturb, randn, gpuValues, type TestInput } from './support';
import { getGpu } from '../../src/gpu/device';
import { Batch } from '../../src/gpu/buffers';
import { mergeResident, type ResidentWeights } from '../../src/eval/resident';
import { deltaStats } from '../../src/eval/delta-stats';
import type { PlanEntry } from '../../src/recipe/plan-types';
import type { Dtype } from '../../src/formats/dtype';

async function readBack(w: ResidentWeights, name: string): Promise<Float32Array> {
  const t = w.get(name)!;
  const b = new Batch(w.device);
  b.read(t.buffer, t.buffer.size);
  const [bytes] = await b.submit();
  return new Float32Array(bytes.buffer, bytes.byteOffset, t.shape.reduce((a, x) => a * x, 1));
}

function tiesEntry(name: string, n: number, seed: number, outDtype: Dtype, densities = [0.4, 0.6]): PlanEntry {
  const base = randn(n, seed);
  const inputs: TestInput[] = [
    { data: base, dtype: 'BF16', isBase: true },
    ...densities.map((d, i) => ({ data: perturb(base, seed + i + 1, 0.05), dtype: 'BF16' as Dtype, params: { weight: 0.7 - 0.2 * i, density: d } })),
  ];
  const e = makeEntry('ties', [n / 64, 64], inputs, { normalize: true, lambda: 1 }, outDtype);
  e.name = name;
  return e;
}

describe('resident merge', () => {
  test.each(['F32', 'F16', 'BF16'] as Dtype[])('equals the merge-to-disk values (out %s), chunked or whole', async (dtype) => {
    const gpu = await getGpu();
    const entries = [tiesEntry('model.layers.0.mlp.up_proj.weight', 64 * 300, 5, dtype), tiesEntry('model.layers.1.mlp.up_proj.weight', 64 * 40, 9, dtype)];
    for (const chunk of [undefined, 4096]) {
      const w = await mergeResident(gpu, entries, { chunkElements: chunk });
      try {
        for (const e of entries) {
          const want = await gpuValues(e);
          const got = await readBack(w, e.name);
          expect(Array.from(got)).toEqual(Array.from(want));
        }
      } finally {
        w.dispose();
      }
    }
  });

  test('delta counts and attraction match a CPU count', async () => {
    const gpu = await getGpu();
    const child = [tiesEntry('model.layers.0.mlp.up_proj.weight', 64 * 64, 3, 'F32', [0.5, 0.5]), tiesEntry('model.norm.weight', 64 * 2, 4, 'F32', [0.9, 0.9])];
    const parent = [tiesEntry('model.layers.0.mlp.up_proj.weight', 64 * 64, 3, 'F32', [0.2, 0.2]), tiesEntry('model.norm.weight', 64 * 2, 4, 'F32', [0.3, 0.3])];
    const baseEntries = child.map((e) => ({ ...e, method: 'passthrough', inputs: [e.inputs[0]], params: {} }));
    const [wc, wp, wb] = [await mergeResident(gpu, child), await mergeResident(gpu, parent), await mergeResident(gpu, baseEntries)];
    try {
      const s = await deltaStats(wc, wb, wp);
      let kept = 0, filled = 0, numel = 0, layer0Kept = 0;
      for (const e of child) {
        const [c, p, b] = [await readBack(wc, e.name), await readBack(wp, e.name), await readBack(wb, e.name)];
        numel += c.length;
        for (let i = 0; i < c.length; i++)
          if (c[i] !== b[i]) {
            kept++;
            if (e.name.includes('layers.0')) layer0Kept++;
            if (p[i] === b[i]) filled++;
          }
      }
      expect(kept).toBeGreaterThan(0);
      expect(filled).toBeGreaterThan(0);
      expect(s.numel).toBe(numel);
      expect(s.kept).toBe(kept);
      expect(s.filled).toBe(filled);
      expect(s.sparsity).toBeCloseTo(1 - kept / numel, 12);
      expect(s.attraction).toBeCloseTo(filled / kept, 12);
      expect(s.layers).toEqual([{ layer: 0, numel: 64 * 64, kept: layer0Kept, sparsity: 1 - layer0Kept / (64 * 64) }]);
    } finally {
      for (const w of [wc, wp, wb]) w.dispose();
    }
  });
});

// Merge diagnostics on the GPU against a CPU computation from the CPU twins' masks: exact counts,
// f64-close sums, identical results for any chunking, layer aggregation.
import { describe, expect, test } from 'vitest';
import { makeEntry, perturb, randn, type TestInput } from './support';
import type { PlanEntry } from '../../src/recipe/plan-types';
import { getGpu } from '../../src/gpu/device';
import { diagnose, pairIndex, DiagCache, type DiagnosticsResult, type TensorDiagnostics } from '../../src/merge/diagnostics';
import { CpuDiagCache, diagnoseCpu } from '../../src/merge/diagnostics-cpu';
import { CpuInputCache } from '../../src/backends/cpu/input-cache';
import { InputCache } from '../../src/gpu/input-cache';
import { RankCache } from '../../src/gpu/rank-cache';
import { absF32, cabsSelect, taskVector, topkMask } from '../../src/methods/reference';
import { referenceDiagnostics, type RefDiagnostics } from '../../src/merge/diagnostics-reference';
import { magpruneMask } from '../../src/methods/shared/reference/random-sparsify';
import { roundTo } from '../fixtures/dtype-codec';
import type { Dtype } from '../../src/formats/dtype';

function family(n: number, seed: number, count: number, scale = 0.05) {
  const base = randn(n, seed);
  return { base, others: Array.from({ length: count }, (_, i) => perturb(base, seed * 31 + i + 1, scale)) };
}

function entryOf(method: string, shape: number[], f: { base: Float32Array; others: Float32Array[] }, params: Record<string, number>[], global: Record<string, number | boolean> = {}, dtype: Dtype = 'BF16', name?: string): { entry: PlanEntry; inputs: TestInput[] } {
  const inputs: TestInput[] = [{ data: f.base, dtype, isBase: true }, ...f.others.map((x, i) => ({ data: x, dtype, params: params[i] }))];
  const entry = makeEntry(method, shape, inputs, global);
  if (name) entry.name = name;
  return { entry, inputs };
}

const decoded = (inputs: TestInput[]) => inputs.map((i) => roundTo(i.data, i.dtype));

function expectMatches(t: TensorDiagnostics, r: RefDiagnostics) {
  expect(t.numel).toBe(r.numel);
  expect(t.kept).toEqual(r.kept);
  expect(t.nonzero).toEqual(r.nonzero);
  expect(t.mergedNonzero).toBe(r.union);
  expect(t.multi).toBe(r.multi);
  expect(t.conflicts).toBe(r.conflicts);
  expect(t.intersections).toEqual(r.intersections);
  const close = (a: number[], b: number[]) => a.forEach((v, k) => expect(Math.abs(v - b[k])).toBeLessThanOrEqual(1e-5 * Math.abs(b[k]) + 1e-9));
  close(t.norm, r.sq.map(Math.sqrt));
  close(t.keptNorm, r.keptSq.map(Math.sqrt));
  close(t.l1, r.l1);
  const K = r.kept.length;
  for (let a = 0; a < K; a++)
    for (let b = a + 1; b < K; b++) {
      const inter = r.intersections[pairIndex(a, b, K)];
      const uni = r.nonzero[a] + r.nonzero[b] - inter;
      expect(t.overlap[pairIndex(a, b, K)]).toBeCloseTo(uni ? inter / uni : 0, 12);
    }
  expect(t.conflictRate).toBeCloseTo(r.multi ? r.conflicts / r.multi : 0, 12);
}

const strip = (d: DiagnosticsResult) => ({ ...d, elapsedMs: 0 });

async function both(entries: PlanEntry[]): Promise<DiagnosticsResult> {
  const gpu = await getGpu();
  const small = await diagnose(gpu, entries, { chunkElements: 4096 });
  const whole = await diagnose(gpu, entries);
  expect(strip(small)).toEqual(strip(whole)); // any chunking: the same figures, bit for bit
  return whole;
}

describe('diagnostics vs a CPU computation', () => {
  test('cabs n:m with overlaps (Σn > m): counts exact, sums close, chunk-invariant', async () => {
    const shape = [61, 67];
    const { entry, inputs } = entryOf('cabs', shape, family(61 * 67, 1, 3, 0.1), [
      { weight: 1, block_keep: 4 },
      { weight: 0.5, block_keep: 6 },
      { weight: 1.5, block_keep: 9 },
    ], { block_size: 16 });
    const d = await both([entry]);
    const x = decoded(inputs);
    const sel = cabsSelect({ name: entry.name, method: 'cabs', shape, params: entry.params, inputs: inputs.map((inp, i) => ({ data: x[i], isBase: !!inp.isBase, params: entry.inputs[i].params, shape })) });
    const ref = referenceDiagnostics(sel.deltas, sel.masks, [1, 0.5, 1.5]);
    expect(d.models).toEqual(['m1', 'm2', 'm3']);
    expectMatches(d.tensors[0], ref);
    expect(ref.multi).toBeGreaterThan(0);
    expect(ref.conflicts).toBeGreaterThan(0);
  });

  test('cabs with Σn ≤ m: no position is shared, overlap 0, conflict rate 0', async () => {
    const { entry } = entryOf('cabs', [40, 64], family(40 * 64, 2, 2), [{ weight: 1, block_keep: 8 }, { weight: 1, block_keep: 8 }], { block_size: 16 });
    const d = await both([entry]);
    const t = d.tensors[0];
    expect(t.multi).toBe(0);
    expect(t.overlap).toEqual([0]);
    expect(t.density).toEqual([0.5, 0.5]);
    expect(t.conflictRate).toBe(0);
  });

  test('ties (top-k masks): counts exact, shares sum to 1', async () => {
    const n = 97 * 211;
    const dens = [0.3, 0.5, 0.2];
    const w = [0.7, 0.4, 1];
    const { entry, inputs } = entryOf('ties', [97, 211], family(n, 3, 3), dens.map((d, i) => ({ weight: w[i], density: d })), { normalize: true });
    const d = await both([entry]);
    const x = decoded(inputs);
    const deltas = x.slice(1).map((v) => taskVector(v, x[0]));
    const masks = deltas.map((t, k) => topkMask(absF32(t), Math.floor(dens[k] * n)));
    expectMatches(d.tensors[0], referenceDiagnostics(deltas, masks, w));
    expect(d.tensors[0].share.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 12);
  });

  test('task_arithmetic (dense task vectors)', async () => {
    const { entry, inputs } = entryOf('task_arithmetic', [9001], family(9001, 4, 2), [{ weight: 0.6 }, { weight: 0.4 }], {}, 'F16');
    const d = await both([entry]);
    const x = decoded(inputs);
    const deltas = x.slice(1).map((v) => taskVector(v, x[0]));
    expectMatches(d.tensors[0], referenceDiagnostics(deltas, [undefined, undefined], [0.6, 0.4]));
  });

  test('della (row-chunked random masks, per-chunk mask layout)', async () => {
    const shape = [50, 300];
    const { entry, inputs } = entryOf('della', shape, family(50 * 300, 5, 2), [{ weight: 1, density: 0.5, epsilon: 0.1 }, { weight: 0.5, density: 0.4, epsilon: 0.2 }], { rescale: false, normalize: false });
    const d = await both([entry]);
    const x = decoded(inputs);
    const deltas = x.slice(1).map((v) => taskVector(v, x[0]));
    const masks = deltas.map((t, k) => magpruneMask(t, 300, [0.5, 0.4][k], [0.1, 0.2][k], entry.seed, k + 1));
    expectMatches(d.tensors[0], referenceDiagnostics(deltas, masks, [1, 0.5]));
  });

  test('layers aggregate their tensors; tensors without a base are skipped; the input cache is reused', async () => {
    const a = entryOf('ties', [64, 64], family(4096, 6, 2), [{ weight: 1, density: 0.3 }, { weight: 1, density: 0.3 }], {}, 'BF16', 'model.layers.0.self_attn.q_proj.weight');
    const b = entryOf('ties', [64, 96], family(64 * 96, 7, 2), [{ weight: 1, density: 0.6 }, { weight: 1, density: 0.2 }], {}, 'BF16', 'model.layers.0.mlp.up_proj.weight');
    const c = entryOf('ties', [10, 64], family(640, 8, 2), [{ weight: 1, density: 0.5 }, { weight: 1, density: 0.5 }], {}, 'BF16', 'model.embed_tokens.weight');
    const lin = makeEntry('linear', [8], [{ data: randn(8, 9), dtype: 'F32', params: { weight: 1 } }], {});
    const gpu = await getGpu();
    const cache = new InputCache(64 << 20);
    const d = await diagnose(gpu, [a.entry, b.entry, c.entry, lin], { inputCache: cache });
    expect(d.skipped.map((s) => s.name)).toEqual([lin.name]);
    expect(d.layers.map((l) => l.layer)).toEqual([0, null]);
    const l0 = d.layers[0];
    const [ta, tb] = d.tensors;
    expect(l0.tensors).toBe(2);
    expect(l0.numel).toBe(ta.numel + tb.numel);
    expect(l0.kept).toEqual([ta.kept[0] + tb.kept[0], ta.kept[1] + tb.kept[1]]);
    expect(l0.intersections).toEqual([ta.intersections[0] + tb.intersections[0]]);
    expect(l0.norm[0]).toBeCloseTo(Math.hypot(ta.norm[0], tb.norm[0]), 10);
    expect(l0.density[0]).toBeCloseTo((0.3 * 4096 + 0.6 * 64 * 96) / (4096 + 64 * 96), 3);
    // a second call reads nothing: every decoded input comes from the cache
    const misses = cache.misses;
    const again = await diagnose(gpu, [a.entry, b.entry, c.entry, lin], { inputCache: cache });
    expect(cache.misses).toBe(misses);
    expect(strip(again)).toEqual(strip(d));
    cache.clear();
  });

  test('cached ranks (the worker session) give the same masks and figures as radix selects and n:m ranking', async () => {
    const gpu = await getGpu();
    const f = family(97 * 211, 10, 3);
    const q = (k: number) => f.others[k].map((v, i) => (i % 5 === 0 ? f.base[i] + 0.25 * ((i % 3) - 1) : v)); // many equal |δ|
    const quant = { base: f.base, others: [q(0), q(1), q(2)] };
    const entries = [
      entryOf('ties', [97, 211], quant, [{ weight: 1, density: 0.3 }, { weight: 0.5, density: 0.55 }, { weight: 1, density: 0.2 }], {}, 'BF16', 'model.layers.0.a.weight').entry,
      entryOf('breadcrumbs', [97, 211], quant, [{ weight: 1, density: 0.6, gamma: 0.05 }, { weight: 1, density: 0.5, gamma: 0.01 }, { weight: 1, density: 0.9, gamma: 0.2 }], {}, 'BF16', 'model.layers.1.a.weight').entry,
      entryOf('cabs', [97, 211], quant, [{ weight: 1, block_keep: 5 }, { weight: 1, block_keep: 7, priority: 1 }, { weight: 1, block_keep: 6 }], { block_size: 16 }, 'BF16', 'model.layers.2.a.weight').entry,
      entryOf('cabs', [97, 211], quant, [{ weight: 1, block_keep: 2 }, { weight: 1, block_keep: 3 }, { weight: 1, block_keep: 3 }], { block_size: 8 }, 'BF16', 'model.layers.3.a.weight').entry,
    ];
    const plain = await diagnose(gpu, entries);
    const ranks = new RankCache(256 << 20);
    const cache = new InputCache(256 << 20);
    const first = await diagnose(gpu, entries, { rankCache: ranks, inputCache: cache });
    const second = await diagnose(gpu, entries, { rankCache: ranks, inputCache: cache });
    expect(ranks.bytes).toBeGreaterThan(0);
    expect(strip(first)).toEqual(strip(plain));
    expect(strip(second)).toEqual(strip(plain));
    ranks.clear();
    cache.clear();
  });

  test.each([10, 17])('%i task vectors (pair counts past the register path; unpacked state past 16)', async (K) => {
    const n = 3000;
    const dens = Array.from({ length: K }, (_, k) => 0.1 + (k % 7) * 0.1);
    const w = Array.from({ length: K }, (_, k) => (k % 3 === 0 ? -0.5 : 1));
    const { entry, inputs } = entryOf('ties', [n], family(n, 20 + K, K), dens.map((d, k) => ({ weight: w[k], density: d })), {}, 'F32');
    const d = await both([entry]);
    const x = decoded(inputs);
    const deltas = x.slice(1).map((v) => taskVector(v, x[0]));
    const masks = deltas.map((t, k) => topkMask(absF32(t), Math.floor(dens[k] * n)));
    expectMatches(d.tensors[0], referenceDiagnostics(deltas, masks, w));
  });

  test('kept planes and sums (the worker session): after a parameter change only what changed is recomputed, same figures as fresh', async () => {
    const gpu = await getGpu();
    const f = family(97 * 211, 30, 3);
    const ties = (d0: number) => entryOf('ties', [97, 211], f, [{ weight: 1, density: d0 }, { weight: -0.5, density: 0.4 }, { weight: 1, density: 0.25 }], {}, 'BF16', 'model.layers.0.a.weight').entry;
    const cabsE = (n0: number, n2 = 2) => entryOf('cabs', [97, 211], f, [{ weight: 1, block_keep: n0 }, { weight: 1, block_keep: 3 }, { weight: 1, block_keep: n2 }], { block_size: 8 }, 'BF16', 'model.layers.1.a.weight').entry;
    const caches = { diagCache: new DiagCache(64 << 20), rankCache: new RankCache(64 << 20), inputCache: new InputCache(64 << 20) };
    for (const [a, b] of [[0.3, 0.6], [0.6, 0.3]] as const) {
      await diagnose(gpu, [ties(a), cabsE(a === 0.3 ? 2 : 4)], caches);
      const cached = await diagnose(gpu, [ties(b), cabsE(a === 0.3 ? 4 : 2)], caches);
      const fresh = await diagnose(gpu, [ties(b), cabsE(a === 0.3 ? 4 : 2)]);
      expect(strip(cached)).toEqual(strip(fresh));
    }
    // cabs: changing the last model in pruning order recomputes only that one
    await diagnose(gpu, [cabsE(2, 2)], caches);
    const cached = await diagnose(gpu, [cabsE(2, 5)], caches);
    expect(strip(cached)).toEqual(strip(await diagnose(gpu, [cabsE(2, 5)])));
    caches.diagCache.clear();
    caches.rankCache.clear();
    caches.inputCache.clear();
  });
});

describe('diagnostics on the CPU engine (a studio without WebGPU)', () => {
  const f = family(97 * 211, 41, 3);
  const cases = () => [
    entryOf('ties', [97, 211], f, [{ weight: 0.5, density: 0.3 }, { weight: 0.3, density: 0.55 }, { weight: 0.9, density: 0.7 }], {}, 'BF16', 'model.layers.0.mlp.up_proj.weight').entry,
    entryOf('dare_ties', [97, 211], f, [{ weight: 0.5, density: 0.4 }, { weight: 0.3, density: 0.5 }, { weight: 0.4, density: 0.6 }], {}, 'F32', 'model.layers.1.mlp.up_proj.weight').entry,
    entryOf('della', [97, 211], f, [{ weight: 0.5, density: 0.4, epsilon: 0.1 }, { weight: 0.3, density: 0.5, epsilon: 0.1 }, { weight: 0.4, density: 0.6, epsilon: 0.2 }], {}, 'F16', 'model.layers.2.mlp.up_proj.weight').entry,
    entryOf('task_arithmetic', [97, 211], f, [{ weight: 0.5 }, { weight: 0.3 }, { weight: 0.4 }], {}, 'BF16', 'model.norm.weight').entry,
    entryOf('cabs', [97, 211], f, [{ weight: 1, block_keep: 3 }, { weight: 0.7, block_keep: 4, priority: 1 }, { weight: 0.5, block_keep: 2 }], { block_size: 8 }, 'BF16', 'model.layers.3.mlp.up_proj.weight').entry,
    entryOf('cabs', [97, 211], f, [{ weight: 1, density: 0.5 }, { weight: 0.7, density: 0.6 }, { weight: 0.5, density: 0.3 }], {}, 'F32', 'model.layers.3.mlp.down_proj.weight').entry,
  ];
  const noTime = (d: DiagnosticsResult) => ({ ...d, elapsedMs: 0, engine: 'any' });

  test('ties, dare_ties, della, task_arithmetic and cabs (n:m, top-k): the GPU\'s figures, sums bit for bit', async () => {
    const entries = cases();
    const gpu = await diagnose(await getGpu(), entries);
    const cpu = await diagnoseCpu(entries);
    expect(cpu.engine).toBe('cpu');
    expect(noTime(cpu)).toEqual(noTime(gpu)); // counts, norms, L1 sums, shares, overlaps: identical
    for (const t of gpu.tensors.filter((x) => x.method !== 'task_arithmetic')) expect(t.kept.some((k) => k < t.numel), t.name).toBe(true); // masks were compared, not only dense vectors
  });

  test('with caches: a refresh after a parameter change equals a fresh computation, inputs are read once', async () => {
    const inputCache = new CpuInputCache(1 << 30);
    const diagCache = new CpuDiagCache(1 << 30);
    const first = cases();
    await diagnoseCpu(first, { inputCache, diagCache });
    const entries = inputCache.size;
    expect(entries).toBe(4 * 3); // 4 inputs in 3 dtypes (entries of one dtype read the same bytes: one key)
    expect(diagCache.bytes).toBeGreaterThan(0);
    // a slider move: the second model's density / block_keep changes in every tensor
    const moved = cases();
    for (const e of moved) {
      const p = e.inputs[2].params;
      if ('density' in p) p.density = (p.density as number) * 0.5;
      if ('block_keep' in p) p.block_keep = 1;
      if ('weight' in p && e.method === 'task_arithmetic') p.weight = 0.8;
    }
    expect(diagCache.reused).toBe(0);
    const cached = await diagnoseCpu(moved, { inputCache, diagCache });
    expect(inputCache.size).toBe(entries);
    // unchanged task vectors keep their planes: the first and third of the GTA-family tensors, and in
    // cabs those pruned before the changed one (its own mask changes and, n:m, those after it)
    expect(diagCache.reused).toBeGreaterThanOrEqual(2 * 4);
    expect(noTime(cached)).toEqual(noTime(await diagnoseCpu(moved)));
    expect(noTime(cached)).toEqual(noTime(await diagnose(await getGpu(), moved)));
    expect(noTime(cached)).not.toEqual(noTime(await diagnoseCpu(first)));
  });
});

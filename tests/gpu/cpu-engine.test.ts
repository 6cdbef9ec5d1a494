// The CPU engine against the WebGPU engine, in the same Chromium: every method of the table, each
// input dtype, F32 and BF16 outputs, odd sizes, the default and a forced 4096-element CPU chunking.
// Methods replayed in f32 ('exact') must give the GPU's bytes; methods still on their reference
// twin ('reference') must stay within the GPU tests' tolerance (and the test prints how close).
import { describe, expect, test } from 'vitest';
import { closeness, gpuBytes, makeEntry, perturb, randn, type TestInput } from './support';
import type { Dtype } from '../../src/formats/dtype';
import { decodeElements } from '../../src/formats/dtype-codec';
import { cpuTensorBytes } from '../../src/backends/cpu/tensor';
import { cpuMethod } from '../../src/methods/cpu';
import { METHODS } from '../../src/methods/specs';

const MERGE_METHOD_NAMES = METHODS.map((m) => m.name);

interface Case {
  method: string;
  params?: Record<string, number | boolean | string>;
  inputs: (d: Dtype) => TestInput[];
  shape?: number[];
}

const SHAPE = [97, 211];
const N = 97 * 211;
function fam(seed: number, count: number, scale = 0.05) {
  const base = randn(N, seed);
  return { base, others: Array.from({ length: count }, (_, i) => perturb(base, seed * 31 + i + 1, scale)) };
}
const withBase = (seed: number, per: Record<string, number>[], d: Dtype, scale = 0.05): TestInput[] => {
  const f = fam(seed, per.length, scale);
  return [{ data: f.base, dtype: d, isBase: true }, ...f.others.map((x, i) => ({ data: x, dtype: d, params: per[i] }))];
};

const CASES: Case[] = [
  { method: 'linear', params: { normalize: true }, inputs: (d) => fam(1, 3).others.map((x, i) => ({ data: x, dtype: d, params: { weight: [0.3, 0.5, 0.7][i] } })) },
  { method: 'passthrough', inputs: (d) => [{ data: randn(N, 2), dtype: d, params: { scale: 0.7 } }] },
  { method: 'task_arithmetic', params: { lambda: 0.8 }, inputs: (d) => withBase(3, [{ weight: 0.6 }, { weight: -0.4 }], d) },
  { method: 'task_arithmetic', inputs: (d) => withBase(60, [{ weight: 0.7 }, { weight: 0.3 }], d) },
  { method: 'task_arithmetic', params: { normalize: true }, inputs: (d) => withBase(61, [{ weight: 0.5 }, { weight: 0.3 }, { weight: 0.9 }], d) },
  { method: 'task_arithmetic', inputs: (d) => withBase(62, [{ weight: 1.5 }], d) },
  { method: 'dare_linear', params: { rescale_inverse_density: true, lambda: 0.9 }, inputs: (d) => withBase(63, [{ weight: 0.5, density: 1 }, { weight: 0.5, density: 1 }], d) },
  { method: 'ties', params: { normalize: true }, inputs: (d) => withBase(4, [{ weight: 0.5, density: 0.3 }, { weight: 0.3, density: 0.55 }, { weight: 0.9, density: 0.7 }], d) },
  { method: 'ties', params: { normalize: true, rescale: true, lambda: 1.3 }, inputs: (d) => withBase(5, [{ weight: 1, density: 0.4 }, { weight: 0.5, density: 0.25 }], d, 0.001) },
  { method: 'breadcrumbs', inputs: (d) => withBase(6, [{ weight: 0.7, density: 0.6, gamma: 0.01 }, { weight: 0.3, density: 0.6, gamma: 0.05 }], d) },
  { method: 'breadcrumbs_ties', params: { normalize: true }, inputs: (d) => withBase(7, [{ weight: 0.4, density: 0.5, gamma: 0.02 }, { weight: 0.6, density: 0.5, gamma: 0.02 }], d) },
  { method: 'dare_linear', inputs: (d) => withBase(8, [{ weight: 0.5, density: 0.4 }, { weight: 0.5, density: 0.7 }], d) },
  { method: 'dare_ties', inputs: (d) => withBase(9, [{ weight: 0.6, density: 0.3 }, { weight: 0.4, density: 0.5 }], d) },
  { method: 'dare_ties', params: { rescale_inverse_density: true }, inputs: (d) => withBase(10, [{ weight: 0.6, density: 0.3 }, { weight: 0.4, density: 0.5 }], d) },
  { method: 'della', inputs: (d) => withBase(11, [{ weight: 0.6, density: 0.5, epsilon: 0.1 }, { weight: 0.4, density: 0.4, epsilon: 0.2 }], d) },
  { method: 'della_linear', params: { rescale: false }, inputs: (d) => withBase(12, [{ weight: 0.6, density: 0.5, epsilon: 0.1 }, { weight: 0.4, density: 0.6, epsilon: 0.15 }], d) },
  { method: 'slerp', params: { t: 0.3 }, inputs: (d) => [{ data: randn(N, 13), dtype: d, isBase: true }, { data: randn(N, 14), dtype: d }] },
  { method: 'nuslerp', inputs: (d) => fam(15, 2).others.map((x, i) => ({ data: x, dtype: d, params: { weight: [0.3, 0.7][i] } })) },
  { method: 'nuslerp', inputs: (d) => withBase(25, [{ weight: 0.6 }, { weight: 0.2 }], d) },
  { method: 'nuslerp', params: { nuslerp_flatten: false }, inputs: (d) => withBase(26, [{ weight: 0.5 }, { weight: 0.5 }], d, 0.3) },
  { method: 'nuslerp', params: { nuslerp_flatten: false }, inputs: (d) => fam(27, 2).others.map((x, i) => ({ data: x, dtype: d, params: { weight: [0, 0][i] } })) },
  // columns over several 256-row blocks (forced chunks hold whole blocks), with and without base; identical models: lerp
  { method: 'nuslerp', params: { nuslerp_flatten: false, nuslerp_row_wise: true }, shape: [600, 37], inputs: (d) => { const b = randn(600 * 37, 28); return [{ data: b, dtype: d, isBase: true }, ...[0.3, 0.9].map((w, i) => ({ data: perturb(b, 281 + i, 0.1), dtype: d, params: { weight: w } }))]; } },
  { method: 'nuslerp', params: { nuslerp_flatten: false, nuslerp_row_wise: true }, shape: [600, 37], inputs: (d) => [0.4, 0.6].map((w, i) => ({ data: randn(600 * 37, 29 + i), dtype: d, params: { weight: w } })) },
  { method: 'nuslerp', inputs: (d) => { const x = randn(N, 30); return [0.25, 0.75].map((w) => ({ data: x, dtype: d, params: { weight: w } })); } },
  { method: 'multislerp', inputs: (d) => withBase(16, [{ weight: 0.5 }, { weight: 0.5 }], d, 0.2) },
  { method: 'multislerp', params: { normalize_weights: false }, inputs: (d) => fam(31, 3, 0.3).others.map((x, i) => ({ data: x, dtype: d, params: { weight: [0.3, 0.5, 0.4][i] } })) },
  { method: 'multislerp', params: { eps: 1e-4 }, inputs: (d) => withBase(32, [{ weight: 0.2 }, { weight: 0.3 }, { weight: 0.5 }, { weight: 0.1 }], d, 0.1) },
  // antipodal task vectors (exact in every dtype) with equal weights: ‖m‖ < eps, mergekit's w₀X₀ + w₁X₁ fallback
  { method: 'multislerp', inputs: (d) => { const b = randn(N, 33).map((v) => Math.round(v * 4) / 4); const x = randn(N, 34).map((v) => (Math.round(v * 2) + 0.5) / 8); return [{ data: b, dtype: d, isBase: true }, ...[1, -1].map((s) => ({ data: b.map((v, i) => v + s * x[i]), dtype: d, params: { weight: 0.5 } }))]; } },
  { method: 'karcher', inputs: (d) => fam(17, 3, 0.2).others.map((x) => ({ data: x, dtype: d })) },
  // stops at max_iter; converged at once (tol above every angle); a zero input (not valid) with a base
  { method: 'karcher', params: { max_iter: 2, tol: 1e-9 }, inputs: (d) => fam(35, 4, 0.5).others.map((x) => ({ data: x, dtype: d })) },
  { method: 'karcher', params: { tol: 1e-2 }, inputs: (d) => fam(36, 3, 0.001).others.map((x) => ({ data: x, dtype: d })) },
  { method: 'karcher', params: { max_iter: 0 }, inputs: (d) => fam(37, 3, 0.2).others.map((x) => ({ data: x, dtype: d })) },
  { method: 'karcher', inputs: (d) => [{ data: randn(N, 38), dtype: d, isBase: true }, { data: new Float32Array(N), dtype: d }, { data: randn(N, 39), dtype: d }] },
  // antipodal inputs: the mean is ~0 (first unit vector); all-zero inputs: zeros
  { method: 'karcher', inputs: (d) => { const x = randn(N, 40); return [{ data: x, dtype: d }, { data: x.map((v) => -v), dtype: d }]; } },
  { method: 'karcher', inputs: (d) => [{ data: new Float32Array(N), dtype: d }, { data: new Float32Array(N), dtype: d }] },
  { method: 'model_stock', inputs: (d) => withBase(18, [{}, {}, {}], d, 0.1) },
  { method: 'model_stock', params: { filter_wise: true }, inputs: (d) => withBase(41, [{}, {}, {}, {}], d, 0.1) },
  // rows longer than the 256 lanes; one 1-D row over the whole tensor
  { method: 'model_stock', params: { filter_wise: true }, shape: [30, 700], inputs: (d) => { const b = randn(30 * 700, 42); return [{ data: b, dtype: d, isBase: true }, ...[0, 1].map((i) => ({ data: perturb(b, 421 + i, 0.05), dtype: d }))]; } },
  { method: 'model_stock', params: { filter_wise: true }, shape: [N], inputs: (d) => withBase(43, [{}, {}], d, 0.1) },
  { method: 'sce', params: { select_topk: 0.5 }, inputs: (d) => withBase(19, [{ weight: 1 }, { weight: 1 }], d) },
  { method: 'sce', params: { select_topk: 1 }, inputs: (d) => withBase(50, [{}, {}, {}], d) },
  // deltas on a 0.05 grid: the variances tie massively (zeros included) at the select threshold
  { method: 'sce', params: { select_topk: 0.3 }, inputs: (d) => withBase(51, [{}, {}, {}], d).map((x, i, all) => (i === 0 ? x : { ...x, data: x.data.map((v, j) => all[0].data[j] + Math.round((v - all[0].data[j]) * 20) / 20) })) },
  { method: 'nearswap', params: { t: 0.01 }, inputs: (d) => withBase(20, [{}], d) },
  { method: 'nearswap', params: { t: 0.0005 }, inputs: (d) => withBase(44, [{}], d, 0.001) },
  { method: 'nearswap', params: { t: 0 }, inputs: (d) => withBase(45, [{}], d) },
  { method: 'ram', inputs: (d) => withBase(21, [{}, {}], d) },
  { method: 'ramplus_tl', inputs: (d) => withBase(22, [{}, {}], d) },
  { method: 'ram', params: { epsilon: 0.01 }, inputs: (d) => withBase(52, [{}, {}, {}], d, 0.01) },
  { method: 'ramplus_tl', params: { r: 0.6, alpha: 0.9, epsilon: 0.01 }, inputs: (d) => withBase(53, [{}, {}, {}], d, 0.006) },
  { method: 'arcee_fusion', inputs: (d) => withBase(23, [{}], d) },
  // many equal importances: a third of the deltas zero, the rest on a 0.05 grid
  { method: 'arcee_fusion', inputs: (d) => withBase(54, [{}], d).map((x, i, all) => (i === 0 ? x : { ...x, data: x.data.map((v, j) => all[0].data[j] + (j % 3 === 0 ? 0 : 1) * Math.round((v - all[0].data[j]) * 20) / 20) })) },
  { method: 'cabs', params: { block_size: 4 }, inputs: (d) => withBase(24, [{ weight: 1, block_keep: 2 }, { weight: 0.8, block_keep: 2 }], d) },
  // top-k mode in pruning order (priority 2 first): the last model finds too few free positions; tied |τ|
  { method: 'cabs', params: { block_size: 0, lambda: 1.2 }, inputs: (d) => withBase(55, [{ weight: 1, density: 0.5 }, { weight: 0.7, density: 0.6, priority: 2 }, { weight: 0.5, density: 0.3, priority: 2 }], d).map((x, i, all) => (i === 0 ? x : { ...x, data: x.data.map((v, j) => all[0].data[j] + Math.round((v - all[0].data[j]) * 40) / 40) })) },
  // n:m with overlap (Σn > m), a tail block of 211 mod 16 = 3 and tied |τ|
  { method: 'cabs', params: { block_size: 16, lambda: 0.9 }, inputs: (d) => withBase(56, [{ weight: 1, block_keep: 10 }, { weight: 0.6, block_keep: 9, priority: 1 }], d).map((x, i, all) => (i === 0 ? x : { ...x, data: x.data.map((v, j) => all[0].data[j] + Math.round((v - all[0].data[j]) * 40) / 40) })) },
  // long blocks (100, tail 11), block_keep from density, tied |τ|
  { method: 'cabs', params: { block_size: 100 }, inputs: (d) => withBase(57, [{ weight: 0.8, block_keep: 60 }, { weight: 0.5, density: 0.55 }], d).map((x, i, all) => (i === 0 ? x : { ...x, data: x.data.map((v, j) => all[0].data[j] + Math.round((v - all[0].data[j]) * 40) / 40) })) },
];

test('the table covers every method the engine knows', () => {
  const covered = new Set(CASES.map((c) => c.method));
  expect(MERGE_METHOD_NAMES.filter((m) => !covered.has(m))).toEqual([]);
  for (const m of MERGE_METHOD_NAMES) expect(cpuMethod(m), m).toBeDefined();
});

const worst: Record<string, number> = {};

describe.each(['F32', 'BF16', 'F16'] as Dtype[])('CPU engine vs WebGPU engine, %s inputs', (dtype) => {
  for (const [ci, c] of CASES.entries()) {
    for (const out of ['F32', 'BF16'] as Dtype[]) {
      test(`${c.method}#${ci} → ${out}`, async () => {
        const entry = makeEntry(c.method, c.shape ?? SHAPE, c.inputs(dtype), c.params ?? {}, out);
        const want = await gpuBytes(entry);
        const cpu = await cpuTensorBytes(entry, {});
        const tiny = await cpuTensorBytes(entry, { chunkElements: 4096 });
        expect(tiny).toEqual(cpu); // chunk invariance on the CPU too
        if (cpuMethod(c.method)!.fidelity === 'exact') {
          let first = -1;
          for (let i = 0; i < want.length; i++) if (want[i] !== cpu[i]) { first = i; break; }
          expect(first, `first differing byte of ${want.length}`).toBe(-1);
        } else {
          const a = decodeElements(cpu, out);
          const b = decodeElements(want, out);
          const r = closeness(a, b, 2e-4, 1e-5);
          worst[`${c.method} ${dtype}→${out}`] = r.worst;
          expect(r.detail).toBe('');
        }
      });
    }
  }
});

// Every method's GPU path against its CPU twin: each input dtype, odd sizes, forced tiny chunks,
// and chunk-size invariance (bit-identical output whatever the chunking).
import { describe, expect, test } from 'vitest';
import { closeness, gpuBytes, gpuValues, makeEntry, perturb, randn, referenceValues, type TestInput } from './support';
import type { Dtype } from '../../src/formats/dtype';
import { METHODS } from '../../src/methods/specs';
import { gpuMethod } from '../../src/methods/webgpu';

interface Case {
  name: string;
  method: string;
  shape: number[];
  inputs: (dtype: Dtype) => TestInput[];
  params?: Record<string, number | boolean | string>;
  rtol?: number;
}

function family(n: number, seed: number, count: number, scale = 0.05) {
  const base = randn(n, seed);
  return { base, others: Array.from({ length: count }, (_, i) => perturb(base, seed * 31 + i + 1, scale)) };
}

const ODD = [97, 211]; // 20467 elements: odd, not a multiple of the 4096-element chunk alignment
const N = ODD[0] * ODD[1];

const cases: Case[] = [
  { name: 'linear normalize', method: 'linear', shape: ODD, params: { normalize: true },
    inputs: (d) => { const f = family(N, 1, 3); return f.others.map((x, i) => ({ data: x, dtype: d, params: { weight: [0.3, 0.5, 0.7][i] } })); } },
  { name: 'linear unnormalized', method: 'linear', shape: ODD, params: { normalize: false },
    inputs: (d) => { const f = family(N, 2, 2); return f.others.map((x, i) => ({ data: x, dtype: d, params: { weight: [1.5, -0.25][i] } })); } },
  { name: 'task_arithmetic λ', method: 'task_arithmetic', shape: ODD, params: { normalize: false, lambda: 0.8 },
    inputs: (d) => { const f = family(N, 3, 2); return [{ data: f.base, dtype: d, isBase: true }, ...f.others.map((x, i) => ({ data: x, dtype: d, params: { weight: [0.6, 0.4][i] } }))]; } },
  { name: 'ties', method: 'ties', shape: ODD, params: { normalize: true, lambda: 1 },
    inputs: (d) => { const f = family(N, 4, 3); return [{ data: f.base, dtype: d, isBase: true }, ...f.others.map((x, i) => ({ data: x, dtype: d, params: { weight: [0.5, 0.3, 0.9][i], density: [0.3, 0.55, 0.7][i] } }))]; } },
  { name: 'ties with rescale and many exact ties', method: 'ties', shape: [9001], params: { normalize: true, rescale: true },
    inputs: (d) => {
      // quantised deltas: huge numbers of equal magnitudes at the cut-off
      const base = randn(9001, 5);
      const mk = (s: number) => base.map((x, i) => x + (((i * s) % 7) - 3) * 0.125);
      return [{ data: base, dtype: d, isBase: true }, { data: mk(3), dtype: d, params: { weight: 1, density: 0.4 } }, { data: mk(5), dtype: d, params: { weight: 0.5, density: 0.25 } }];
    } },
  { name: 'breadcrumbs', method: 'breadcrumbs', shape: ODD, params: {},
    inputs: (d) => { const f = family(N, 6, 2); return [{ data: f.base, dtype: d, isBase: true }, ...f.others.map((x, i) => ({ data: x, dtype: d, params: { weight: [0.7, 0.3][i], density: 0.6, gamma: [0.01, 0.05][i] } }))]; } },
  { name: 'breadcrumbs n_top = 0 drops the delta', method: 'breadcrumbs', shape: [50], params: {},
    inputs: (d) => { const f = family(50, 7, 1); return [{ data: f.base, dtype: d, isBase: true }, { data: f.others[0], dtype: d, params: { weight: 1, density: 0.9, gamma: 0.01 } }]; } },
  { name: 'breadcrumbs_ties', method: 'breadcrumbs_ties', shape: ODD, params: { normalize: true },
    inputs: (d) => { const f = family(N, 8, 3); return [{ data: f.base, dtype: d, isBase: true }, ...f.others.map((x, i) => ({ data: x, dtype: d, params: { weight: [0.4, 0.4, 0.2][i], density: 0.5, gamma: 0.02 } }))]; } },
  { name: 'slerp', method: 'slerp', shape: ODD, params: { t: 0.3 }, rtol: 2e-4,
    inputs: (d) => [{ data: randn(N, 9), dtype: d, isBase: true }, { data: randn(N, 10), dtype: d }] },
  { name: 'slerp colinear → lerp', method: 'slerp', shape: ODD, params: { t: 0.7 },
    inputs: (d) => { const a = randn(N, 11); return [{ data: a, dtype: d, isBase: true }, { data: a.map((x) => 2 * x), dtype: d }]; } },
  { name: 'model_stock', method: 'model_stock', shape: ODD, params: { filter_wise: false }, rtol: 2e-4,
    inputs: (d) => { const f = family(N, 12, 3, 0.1); return [{ data: f.base, dtype: d, isBase: true }, ...f.others.map((x) => ({ data: x, dtype: d }))]; } },
  { name: 'model_stock filter_wise', method: 'model_stock', shape: ODD, params: { filter_wise: true }, rtol: 2e-4,
    inputs: (d) => { const f = family(N, 13, 2, 0.1); return [{ data: f.base, dtype: d, isBase: true }, ...f.others.map((x) => ({ data: x, dtype: d }))]; } },
  { name: 'passthrough scale', method: 'passthrough', shape: ODD, params: {},
    inputs: (d) => [{ data: randn(N, 14), dtype: d, params: { scale: 0.5 } }] },
];

describe.each(['F32', 'BF16', 'F16'] as Dtype[])('GPU vs CPU twin, %s inputs', (dtype) => {
  for (const c of cases) {
    test(c.name, async () => {
      const inputs = c.inputs(dtype);
      const entry = makeEntry(c.method, c.shape, inputs, c.params ?? {}, 'F32');
      const want = referenceValues(entry, inputs);
      const tiny = await gpuValues(entry, 4096); // forced tiny chunks: 5 of them
      const r = closeness(tiny, want, c.rtol ?? 2e-5, 1e-6);
      expect(r.detail).toBe('');
      // chunk invariance: the default (single chunk) run gives the same bytes as the tiny-chunk run
      const whole = await gpuBytes(entry);
      const small = new Uint8Array(tiny.buffer);
      expect(whole.length).toBe(small.length);
      let diff = -1;
      for (let i = 0; i < whole.length; i++) if (whole[i] !== small[i]) { diff = i; break; }
      expect(diff).toBe(-1);
    });
  }
});

describe('output dtypes round to nearest even like the CPU twin', () => {
  for (const out of ['BF16', 'F16'] as Dtype[]) {
    test(`ties → ${out}`, async () => {
      const inputs = cases[3].inputs('F32');
      const entry = makeEntry('ties', ODD, inputs, { normalize: true }, out);
      const got = await gpuValues(entry, 2048);
      const want = referenceValues(entry, inputs);
      // reference computes in f64, GPU in f32: at most one ulp of the 16-bit output apart
      const r = closeness(got, want, out === 'BF16' ? 2 ** -7 : 2 ** -10, 1e-6);
      expect(r.detail).toBe('');
    });
  }
});

test('ties refuses density that keeps no element (mergekit asserts k > 0)', async () => {
  const f = family(100, 20, 1);
  const entry = makeEntry('ties', [100], [{ data: f.base, dtype: 'F32', isBase: true }, { data: f.others[0], dtype: 'F32', params: { weight: 1, density: 0.001 } }], {});
  await expect(gpuBytes(entry)).rejects.toThrow(/density 0.001 keeps floor/);
});

test('embedding crop: a larger input is read as its leading [rows, cols] block, in any chunking', async () => {
  const [R, C, r, c] = [1031, 45, 1000, 41];
  const big = randn(R * C, 30);
  const small = randn(r * c, 31);
  const inputs: TestInput[] = [
    { data: big, dtype: 'BF16', params: { weight: 0.25 } },
    { data: small, dtype: 'BF16', params: { weight: 0.75 } },
  ];
  const entry = makeEntry('linear', [r, c], inputs, { normalize: true }, 'F32');
  entry.inputs[0].tensor.shape = [R, C];
  entry.inputs[0].crop = [r, c];
  const cropped = new Float32Array(r * c);
  for (let i = 0; i < r; i++) cropped.set(big.subarray(i * C, i * C + c), i * c);
  const want = referenceValues(entry, [{ ...inputs[0], data: cropped }, inputs[1]]);
  for (const chunk of [4096, undefined]) {
    const got = await gpuValues(entry, chunk);
    expect(closeness(got, want, 2e-6, 1e-7).detail).toBe('');
  }
});

describe('the WebGPU table', () => {
  test('derives an implementation of the same name for every method of the list', () => {
    for (const m of METHODS) expect(gpuMethod(m.name)?.name, m.name).toBe(m.name);
    expect(gpuMethod('no_such_method')).toBeUndefined();
  });
});

// GPU vs CPU twin for nearswap, nuslerp, multislerp, karcher, sce, ram, ramplus_tl, arcee_fusion:
// each input dtype, odd sizes, forced 4096-element chunks, and bit-identical output whatever the chunking.
import { describe, expect, test } from 'vitest';
import { closeness, gpuBytes, gpuValues, makeEntry, perturb, randn, referenceValues, type TestInput } from './support';
import type { Dtype } from '../../src/formats/dtype';
import { arceeFusionImportance } from '../../src/methods/arcee-fusion/reference';
import { roundTo } from '../fixtures/dtype-codec';

interface Case {
  name: string;
  method: string;
  shape: number[];
  inputs: (dtype: Dtype) => TestInput[];
  params?: Record<string, number | boolean | string>;
  rtol?: number;
  atol?: number;
  /** Forced chunk size (default 4096 elements). */
  chunk?: number;
}

function family(n: number, seed: number, count: number, scale = 0.05) {
  const base = randn(n, seed);
  return { base, others: Array.from({ length: count }, (_, i) => perturb(base, seed * 31 + i + 1, scale)) };
}

/** Task vectors changing a given fraction of the entries each (else exactly the base's value). */
function sparseFamily(n: number, seed: number, count: number, fractions: number[]) {
  const f = family(n, seed, count);
  f.others.forEach((x, k) => {
    const u = randn(n, seed * 7 + k);
    for (let i = 0; i < n; i++) if (Math.abs(u[i]) > quantile(fractions[k])) x[i] = f.base[i];
  });
  return f;
}
/** |z| of a standard normal exceeded with probability 1 − p (p = fraction kept). */
function quantile(p: number): number {
  let lo = 0;
  let hi = 10;
  for (let it = 0; it < 60; it++) {
    const mid = (lo + hi) / 2;
    // P(|z| < mid) = erf(mid/√2)
    if (erf(mid / Math.SQRT2) < p) lo = mid;
    else hi = mid;
  }
  return lo;
}
function erf(x: number): number {
  const t = 1 / (1 + 0.3275911 * x);
  return 1 - (((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t) * Math.exp(-x * x);
}

const ODD = [97, 211]; // 20467 elements: odd, not a multiple of the 4096-element chunk alignment
const N = ODD[0] * ODD[1];
const withBase = (d: Dtype, f: { base: Float32Array; others: Float32Array[] }, params: (i: number) => Record<string, number> = () => ({})): TestInput[] => [
  { data: f.base, dtype: d, isBase: true },
  ...f.others.map((x, i) => ({ data: x, dtype: d, params: params(i) })),
];

const cases: Case[] = [
  { name: 'nearswap', method: 'nearswap', shape: ODD, params: { t: 0.02 },
    inputs: (d) => withBase(d, family(N, 101, 1)) },
  { name: 'nearswap: identical tensors and a large t', method: 'nearswap', shape: [5000], params: { t: 0.5 },
    inputs: (d) => { const f = family(5000, 102, 1, 0.3); f.others[0].fill(0, 0, 100); f.base.fill(0, 0, 100); return withBase(d, f); } },
  { name: 'nuslerp flatten', method: 'nuslerp', shape: ODD, params: {}, rtol: 2e-4,
    inputs: (d) => [{ data: randn(N, 111), dtype: d, params: { weight: 0.3 } }, { data: randn(N, 112), dtype: d, params: { weight: 0.7 } }] },
  { name: 'nuslerp flatten, task vectors of a third base model', method: 'nuslerp', shape: ODD, params: { nuslerp_flatten: true }, rtol: 2e-4,
    inputs: (d) => { const f = family(N, 113, 2); return [{ data: f.others[0], dtype: d, params: { weight: 1 } }, { data: f.others[1], dtype: d, params: { weight: 2 } }, { data: f.base, dtype: d, isBase: true }]; } },
  { name: 'nuslerp rows (flatten off), weights summing to ~0 give t = 0.5', method: 'nuslerp', shape: [211, 97], params: { nuslerp_flatten: false }, rtol: 2e-4,
    inputs: (d) => [{ data: randn(N, 114), dtype: d, params: { weight: 0.5 } }, { data: randn(N, 115), dtype: d, params: { weight: -0.5 } }] },
  { name: 'nuslerp rows with some colinear rows (lerp) and a base', method: 'nuslerp', shape: [211, 97], params: { nuslerp_flatten: false, nuslerp_row_wise: false }, rtol: 2e-4,
    inputs: (d) => {
      const f = family(N, 116, 2);
      for (let r = 0; r < 211; r += 3) for (let j = 0; j < 97; j++) f.others[1][r * 97 + j] = f.base[r * 97 + j] + 2 * (f.others[0][r * 97 + j] - f.base[r * 97 + j]);
      return [{ data: f.base, dtype: d, isBase: true }, { data: f.others[0], dtype: d, params: { weight: 0.6 } }, { data: f.others[1], dtype: d, params: { weight: 0.4 } }];
    } },
  { name: 'nuslerp columns (row_wise), several column blocks per tensor', method: 'nuslerp', shape: [600, 37], params: { nuslerp_flatten: false, nuslerp_row_wise: true }, rtol: 2e-4,
    inputs: (d) => { const f = family(600 * 37, 117, 2, 0.2); return [{ data: f.others[0], dtype: d, params: { weight: 0.25 } }, { data: f.base, dtype: d, isBase: true }, { data: f.others[1], dtype: d, params: { weight: 0.75 } }]; } },
  { name: 'nuslerp columns of a 3-D tensor (dim 0 against the rest)', method: 'nuslerp', shape: [13, 5, 41], params: { nuslerp_flatten: false, nuslerp_row_wise: true }, rtol: 2e-4,
    inputs: (d) => [{ data: randn(13 * 5 * 41, 118), dtype: d, params: { weight: 0.5 } }, { data: randn(13 * 5 * 41, 119), dtype: d, params: { weight: 0.2 } }] },
  { name: 'nuslerp 1-D without flatten is one vector', method: 'nuslerp', shape: [5003], params: { nuslerp_flatten: false }, rtol: 2e-4,
    inputs: (d) => [{ data: randn(5003, 120), dtype: d, params: { weight: 0.5 } }, { data: randn(5003, 121), dtype: d, params: { weight: 0.2 } }] },
  { name: 'multislerp, 3 task vectors of a base', method: 'multislerp', shape: ODD, params: {}, rtol: 2e-4,
    inputs: (d) => withBase(d, family(N, 131, 3), (i) => ({ weight: [0.2, 0.5, 0.3][i] })) },
  { name: 'multislerp, 2 models without base, unnormalized weights', method: 'multislerp', shape: ODD, params: { normalize_weights: false }, rtol: 2e-4,
    inputs: (d) => [{ data: randn(N, 132), dtype: d, params: { weight: 0.7 } }, { data: randn(N, 133), dtype: d, params: { weight: 0.6 } }] },
  { name: 'multislerp, 4 models, eps 1e-4', method: 'multislerp', shape: [3001], params: { eps: 1e-4 }, rtol: 2e-4,
    inputs: (d) => Array.from({ length: 4 }, (_, i) => ({ data: randn(3001, 134 + i), dtype: d, params: { weight: [1, 2, 3, 4][i] } })) },
  { name: 'multislerp, antipodal pair with equal weights falls back to the weighted sum', method: 'multislerp', shape: ODD, params: {},
    inputs: (d) => { const x = randn(N, 138); return [{ data: x, dtype: d, params: { weight: 1 } }, { data: x.map((v) => -v), dtype: d, params: { weight: 1 } }]; } },
  { name: 'multislerp, one model is returned as it is', method: 'multislerp', shape: [777], params: {},
    inputs: (d) => withBase(d, family(777, 139, 1), () => ({ weight: 0.3 })) },
  { name: 'karcher, 3 unrelated tensors', method: 'karcher', shape: ODD, params: {}, rtol: 2e-4,
    inputs: (d) => [0, 1, 2].map((i) => ({ data: randn(N, 141 + i, 1 + i), dtype: d })) },
  { name: 'karcher, a base and 3 fine-tunes (nearly colinear), tol 1e-7, 20 iterations', method: 'karcher', shape: ODD, params: { tol: 1e-7, max_iter: 20 }, rtol: 2e-4,
    inputs: (d) => withBase(d, family(N, 145, 3, 0.1)) },
  { name: 'karcher, max_iter 0: the normalised mean direction', method: 'karcher', shape: [4099], params: { max_iter: 0 }, rtol: 2e-4,
    inputs: (d) => [0, 1].map((i) => ({ data: randn(4099, 146 + i), dtype: d })) },
  { name: 'karcher, a zero tensor takes no part but counts in the scale', method: 'karcher', shape: [6000], params: {}, rtol: 2e-4,
    inputs: (d) => [{ data: randn(6000, 148), dtype: d }, { data: new Float32Array(6000), dtype: d }, { data: randn(6000, 149, 2), dtype: d }] },
  { name: 'karcher, all zero → zeros; identical inputs → unchanged direction', method: 'karcher', shape: [5000], params: {},
    inputs: (d) => [{ data: new Float32Array(5000), dtype: d }, { data: new Float32Array(5000), dtype: d }] },
  { name: 'karcher, identical inputs', method: 'karcher', shape: [5000], params: {}, rtol: 2e-5,
    inputs: (d) => { const x = randn(5000, 150); return [{ data: x, dtype: d }, { data: x, dtype: d }]; } },
  { name: 'sce, select_topk 1 (no selection), 3 models', method: 'sce', shape: ODD, params: {},
    inputs: (d) => withBase(d, family(N, 161, 3)) },
  { name: 'sce, select_topk 0.3', method: 'sce', shape: ODD, params: { select_topk: 0.3 },
    inputs: (d) => withBase(d, family(N, 162, 3)) },
  { name: 'sce, select_topk 0.5 with many equal variances and zero-variance positions', method: 'sce', shape: [9001], params: { select_topk: 0.5 },
    inputs: (d) => {
      // quantised deltas: repeated variances (ties at the cut-off) and positions where both models agree (variance 0)
      const b = randn(9001, 163);
      const mk = (s: number) => b.map((x, i) => x + (((i * s) % 5) - 2) * 0.25);
      return [{ data: b, dtype: d, isBase: true }, { data: mk(3), dtype: d }, { data: mk(7), dtype: d }];
    } },
  { name: 'sce, select_topk 0: nothing kept → base', method: 'sce', shape: [3000], params: { select_topk: 0 },
    inputs: (d) => withBase(d, family(3000, 164, 2)) },
  { name: 'sce, tiny task vectors (uniform weights below 1e-6 energy)', method: 'sce', shape: ODD, params: { select_topk: 0.8 },
    inputs: (d) => withBase(d, family(N, 165, 2, 1e-4)) },
  { name: 'ram, 3 sparse task vectors (unique and shared changes)', method: 'ram', shape: ODD, params: {},
    inputs: (d) => withBase(d, sparseFamily(N, 171, 3, [0.3, 0.5, 0.2])) },
  { name: 'ram, epsilon 0.02 on dense task vectors', method: 'ram', shape: ODD, params: { epsilon: 0.02 },
    inputs: (d) => withBase(d, family(N, 172, 2)) },
  { name: 'ramplus_tl, 3 sparse task vectors', method: 'ramplus_tl', shape: ODD, params: {},
    inputs: (d) => withBase(d, sparseFamily(N, 173, 3, [0.3, 0.5, 0.05])) },
  { name: 'ramplus_tl, r 0.5, alpha 1, a model with no unique change', method: 'ramplus_tl', shape: [9001], params: { r: 0.5, alpha: 1 },
    inputs: (d) => { const f = sparseFamily(9001, 174, 2, [0.6, 0.4]); const both = f.others[0].map((x, i) => (x !== f.base[i] && f.others[1][i] !== f.base[i] ? x + 0.01 : f.base[i])); return withBase(d, { base: f.base, others: [...f.others, both] }); } },
];

function runCases(list: Case[]): void {
  describe.each(['F32', 'BF16', 'F16'] as Dtype[])('GPU vs CPU twin, %s inputs', (dtype) => {
    for (const c of list) {
      test(c.name, async () => {
        const inputs = c.inputs(dtype);
        const entry = makeEntry(c.method, c.shape, inputs, c.params ?? {}, 'F32');
        const want = referenceValues(entry, inputs);
        const tiny = await gpuValues(entry, c.chunk ?? 4096);
        const r = closeness(tiny, want, c.rtol ?? 2e-5, c.atol ?? 1e-6);
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
}

runCases(cases);

// arcee_fusion: the GPU computes the softmax KL in f32 (WGSL exp/log), the twin in f64, so an element
// whose importance lies within rounding of the threshold may go either way; every other element must
// match the twin exactly, and the output must not depend on the chunking.
interface FusionCase {
  name: string;
  shape: number[];
  inputs: (dtype: Dtype) => TestInput[];
}

const fusionCases: FusionCase[] = [
  { name: 'a fine-tune of the base, rows of 211', shape: ODD, inputs: (d) => withBase(d, family(N, 181, 1, 0.05)) },
  { name: 'identical rows (KL 0), near-identical rows (KL at rounding level) and changed rows', shape: [211, 97],
    inputs: (d) => {
      const f = family(N, 182, 1, 0.1);
      for (let r = 0; r < 211; r++) {
        if (r % 5 === 0) for (let j = 0; j < 97; j++) f.others[0][r * 97 + j] = f.base[r * 97 + j];
        if (r % 5 === 1) for (let j = 0; j < 97; j++) f.others[0][r * 97 + j] = f.base[r * 97 + j] * (j === 3 ? 1.01 : 1);
      }
      return withBase(d, f);
    } },
  { name: 'a 1-D tensor is one softmax row', shape: [6007], inputs: (d) => withBase(d, family(6007, 183, 1, 0.2)) },
  { name: 'three elements (quantiles read back)', shape: [3], inputs: (d) => withBase(d, { base: Float32Array.of(0.5, -1, 2), others: [Float32Array.of(0.7, -1, 1)] }) },
];

describe.each(['F32', 'BF16', 'F16'] as Dtype[])('arcee_fusion GPU vs CPU twin, %s inputs', (dtype) => {
  for (const c of fusionCases) {
    test(c.name, async () => {
      const inputs = c.inputs(dtype);
      const entry = makeEntry('arcee_fusion', c.shape, inputs, {}, 'F32');
      const want = referenceValues(entry, inputs);
      const ref = arceeFusionImportance({
        name: entry.name, method: entry.method, shape: c.shape, params: {},
        inputs: inputs.map((x) => ({ data: roundTo(x.data, x.dtype), isBase: !!x.isBase, params: {}, shape: c.shape })),
      });
      const got = await gpuValues(entry, 4096);
      const b = roundTo(inputs[0].data, dtype);
      const x = roundTo(inputs[1].data, dtype);
      let ambiguous = 0;
      let kept = 0;
      for (let i = 0; i < got.length; i++) {
        if (Object.is(got[i], want[i])) {
          if (ref.importance[i] >= ref.threshold) kept++;
          continue;
        }
        // a flip is allowed only within rounding of the threshold, and must still be b or b + (x − b)
        const near = Math.abs(ref.importance[i] - ref.threshold) <= 1e-4 * Math.abs(ref.threshold) + 1e-12;
        const other = Math.fround(b[i] + Math.fround(x[i] - b[i]));
        expect(near && (got[i] === b[i] || got[i] === other), `element ${i}: gpu ${got[i]} vs twin ${want[i]}`).toBe(true);
        ambiguous++;
      }
      expect(ambiguous).toBeLessThanOrEqual(Math.max(1, got.length * 1e-3));
      if (got.length > 100) expect(kept).toBeGreaterThan(0); // the threshold selects something
      const whole = await gpuBytes(entry);
      expect(Array.from(whole)).toEqual(Array.from(new Uint8Array(got.buffer)));
    });
  }
});

// CPU reference twins: small hand-checked cases. Every expected number below was worked out by hand
// (comments show the arithmetic), not produced by the function under test.

import { describe, expect, it } from 'vitest';
import {
  referenceMerge,
  taskVector,
  descendingRanks,
  descendingOrder,
  topkMask,
  breadcrumbsRange,
  type RefEntry,
  type RefInput,
} from '../../src/methods/reference';
import { MethodError } from '../../src/errors';

type P = Record<string, number | boolean | string>;
const inp = (data: number[], params: P = {}, isBase = false): RefInput => ({
  data: Float32Array.from(data),
  isBase,
  params,
  shape: [data.length],
});
const base = (data: number[]) => inp(data, {}, true);
const entry = (method: string, inputs: RefInput[], params: P = {}, shape?: number[]): RefEntry => ({
  name: 'model.layers.0.mlp.down_proj.weight',
  method,
  shape: shape ?? [inputs[0].data.length],
  inputs,
  params,
});
const close = (got: Float32Array, want: number[], digits = 5) => {
  expect(got).toBeInstanceOf(Float32Array);
  expect(got.length).toBe(want.length);
  want.forEach((w, i) => expect(got[i], `element ${i}`).toBeCloseTo(w, digits));
};
const exact = (got: Float32Array, want: number[]) => expect(Array.from(got)).toEqual(want);

describe('topk utilities', () => {
  it('taskVector rounds the subtraction to f32', () => {
    // 1 − 2⁻³⁰ is not an f32; the nearest f32 is 1 (spacing just below 1 is 2⁻²⁴).
    expect(Array.from(taskVector(Float32Array.of(1, 5), Float32Array.of(2 ** -30, 2)))).toEqual([1, 3]);
  });

  it('ranks descending, ties by lower index, NaN first, −0 == +0', () => {
    // values:  1    3    3   NaN  −0   0    2
    // order:  NaN(3) 3(1) 3(2) 2(6) 1(0) −0(4) 0(5)
    expect(Array.from(descendingRanks(Float32Array.of(1, 3, 3, NaN, -0, 0, 2)))).toEqual([4, 1, 2, 0, 5, 6, 3]);
    // negatives rank below positives: 2 > −1 > −5
    expect(Array.from(descendingRanks(Float32Array.of(-1, -5, 2)))).toEqual([1, 2, 0]);
  });

  it('topkMask keeps the lower index at a tie on the k-th value', () => {
    // |δ| = 1 3 2 2 .5 2, k = 3 → 3(idx1), then the 2s in index order: idx2, idx3 (idx5 dropped)
    expect(Array.from(topkMask(Float32Array.of(1, 3, 2, 2, 0.5, 2), 3))).toEqual([0, 1, 1, 1, 0, 0]);
  });

  it('descendingOrder agrees with a comparator sort on a tie-heavy random tensor', () => {
    let s = 12345;
    const rnd = () => ((s = (s * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    const n = 100_003;
    const v = new Float32Array(n);
    for (let i = 0; i < n; i++) v[i] = Math.round(rnd() * 200) / 16 - (rnd() < 0.01 ? 1e30 : 0);
    const want = Array.from({ length: n }, (_, i) => i).sort((a, b) => v[b] - v[a] || a - b);
    expect(Array.from(descendingOrder(v))).toEqual(want);
  });

  it('handles 1e6 elements', () => {
    const n = 1_000_000;
    const v = new Float32Array(n);
    for (let i = 0; i < n; i++) v[i] = (i * 7919) % 1000;
    const m = topkMask(v, 1000); // 999 occurs 1000 times; the first 1000 by index are kept
    let kept = 0;
    for (let i = 0; i < n; i++) kept += m[i];
    expect(kept).toBe(1000);
    expect(v[m.indexOf(1)]).toBe(999);
  });
});

describe('linear', () => {
  const X = [inp([1, 2, 3], { weight: 1 }), inp([3, 4, 5], { weight: 3 })];
  it('normalizes by default', () => {
    // (1·[1,2,3] + 3·[3,4,5]) = [10,14,18]; / 4
    exact(referenceMerge(entry('linear', X)), [2.5, 3.5, 4.5]);
  });
  it('without normalize', () => {
    exact(referenceMerge(entry('linear', X, { normalize: false })), [10, 14, 18]);
  });
  it('has no zero-sum guard', () => {
    const out = referenceMerge(entry('linear', [inp([1, 0], { weight: 0 }), inp([2, 0], { weight: 0 })]));
    expect(Number.isNaN(out[0])).toBe(true); // 0/0
  });
  it('missing weight is a MethodError', () => {
    expect(() => referenceMerge(entry('linear', [inp([1], {}), inp([2], { weight: 1 })]))).toThrow(MethodError);
  });
});

describe('task_arithmetic', () => {
  // base [1,1,1,1]; δA = [1,−1,0,2] (w .5); δB = [0,2,0,−2] (w 1)
  // ΣW = [.5, 1.5, 0, −1]
  const ins = () => [base([1, 1, 1, 1]), inp([2, 0, 1, 3], { weight: 0.5 }), inp([1, 3, 1, -1], { weight: 1 })];
  it('lambda scales the summed task vector (normalize off by default)', () => {
    // ×2 → [1,3,0,−2]; + base
    exact(referenceMerge(entry('task_arithmetic', ins(), { lambda: 2 })), [2, 4, 1, -1]);
  });
  it('normalize divides by Σw', () => {
    // ΣW/1.5 = [1/3, 1, 0, −2/3]; ×2 → [2/3, 2, 0, −4/3]; + 1
    close(referenceMerge(entry('task_arithmetic', ins(), { lambda: 2, normalize: true })), [5 / 3, 3, 1, -1 / 3]);
  });
  it('no non-base inputs → base unchanged', () => {
    exact(referenceMerge(entry('task_arithmetic', [base([1, 2])])), [1, 2]);
  });
  it('needs a base', () => {
    expect(() => referenceMerge(entry('task_arithmetic', [inp([1], { weight: 1 })]))).toThrow(MethodError);
  });
});

describe('ties', () => {
  it('top-k keeps the lower index at a magnitude tie', () => {
    // δ = [1,−3,2,−2,.5,2], density .5 → k = 3: keep idx1 (3), idx2, idx3 (2s, lower indices); idx5 dropped
    const b = [10, 10, 10, 10, 10, 10];
    const x = [11, 7, 12, 8, 10.5, 12];
    exact(referenceMerge(entry('ties', [base(b), inp(x, { weight: 1, density: 0.5 })])), [10, 7, 12, 8, 10, 10]);
  });

  it('sign election: a weighted sum of exactly 0 elects +; div 0 → 1', () => {
    // base 1; δA = [1,−1,0,2] wA=.75; δB = [−3,−2,0,−2] wB=.25 (density 1: no pruning)
    // e0: W = .75, −.75 → sum 0 → + → A only: .75/.75 = 1   (unweighted δ sum −2 would elect −)
    // e1: W = −.75, −.5 → − → both: −1.25/1 = −1.25
    // e2: W = 0, 0 → + but sign(0) never matches → mixed 0, div 0 → 1
    // e3: W = 1.5, −.5 → + → A only: 1.5/.75 = 2
    const ins = [base([1, 1, 1, 1]), inp([2, 0, 1, 3], { weight: 0.75 }), inp([-2, -1, 1, -1], { weight: 0.25 })];
    exact(referenceMerge(entry('ties', ins)), [2, -0.25, 1, 3]);
    // without normalize: mixed = [.75, −1.25, 0, 1.5]
    exact(referenceMerge(entry('ties', ins, { normalize: false })), [1.75, -0.25, 1, 2.5]);
  });

  it('k == 0 throws a MethodError naming tensor and density', () => {
    // floor(.2·4) = 0
    const e = entry('ties', [base([0, 0, 0, 0]), inp([1, 2, 3, 4], { weight: 1, density: 0.2 })]);
    expect(() => referenceMerge(e)).toThrow(MethodError);
    expect(() => referenceMerge(e)).toThrow(/model\.layers\.0\.mlp\.down_proj\.weight.*density 0\.2/);
  });

  it('rescale: L1 norm of the pruned task vector restored', () => {
    // δ = [4,−1,2,.5], density .5 → keep 4, 2; Σ|δ| = 7.5, Σ|kept| = 6 → ×1.25 → [5,0,2.5,0]
    // weight .5, normalize: (.5·5)/.5 = 5
    const ins = [base([0, 0, 0, 0]), inp([4, -1, 2, 0.5], { weight: 0.5, density: 0.5 })];
    exact(referenceMerge(entry('ties', ins, { rescale: true })), [5, 0, 2.5, 0]);
    exact(referenceMerge(entry('ties', ins)), [4, 0, 2, 0]);
  });

  it('density ≥ 1 leaves δ unchanged (default density 1)', () => {
    exact(referenceMerge(entry('ties', [base([0, 0]), inp([1, -2], { weight: 1 })])), [1, -2]);
  });
});

describe('breadcrumbs', () => {
  // δ magnitudes 1..10; descending: 10(i1) 9(i8) 8(i3) 7(i5) 6(i7) 5(i0) 4(i9) 3(i2) 2(i6) 1(i4)
  const delta = [5, -10, 3, 8, -1, 7, 2, -6, 9, 4];
  const x = delta.map((d) => 100 + d);
  const b = delta.map(() => 100);

  it('drops the top n_top and bottom n_bot magnitudes', () => {
    // n=10, γ=.1 → n_top 1; d=.5 → target 5; n_bot = 4 → keep ranks 1..5: i8 i3 i5 i7 i0
    expect(breadcrumbsRange(0.5, 0.1, 10)).toEqual({ lo: 1, hi: 6, nTop: 1, nBot: 4 });
    const out = referenceMerge(entry('breadcrumbs', [base(b), inp(x, { weight: 1, density: 0.5, gamma: 0.1 })]));
    exact(out, [105, 100, 100, 108, 100, 107, 100, 94, 109, 100]);
  });

  it('n_bot < 0 moves the shortfall out of n_top', () => {
    // d=.9 → target 9; γ=.2 → n_top 2; n_bot = −1 → n_top 1, n_bot 0 → drop only the largest (i1)
    expect(breadcrumbsRange(0.9, 0.2, 10)).toEqual({ lo: 1, hi: 10, nTop: 1, nBot: 0 });
    const out = referenceMerge(entry('breadcrumbs', [base(b), inp(x, { weight: 1, density: 0.9, gamma: 0.2 })]));
    exact(out, [105, 100, 103, 108, 99, 107, 102, 94, 109, 104]);
  });

  it('n_top == 0 → empty mask (mergekit slice [n_bot:-0]) → output = base', () => {
    // 50 elements, γ .01 (default) → floor(.5) = 0
    const bb = Array.from({ length: 50 }, (_, i) => i / 4);
    const xx = bb.map((v, i) => v + (i % 7) - 3);
    expect(breadcrumbsRange(0.5, 0.01, 50).lo).toBe(50);
    for (const m of ['breadcrumbs', 'breadcrumbs_ties']) {
      exact(referenceMerge(entry(m, [base(bb), inp(xx, { weight: 1, density: 0.5 })])), bb);
      exact(referenceMerge(entry(m, [base(bb), inp(xx, { weight: 1, density: 0.5 })], { rescale: true })), bb);
    }
  });

  it('breadcrumbs_ties elects signs after pruning', () => {
    // A: δ as above, γ .1, d .5 → kept [5,0,0,8,0,7,0,−6,9,0], w 1
    // B: δ = −1 everywhere, density 1, w 3 → W_B = −3
    // sums: [2,−3,−3,5,−3,4,−3,−9,6,−3] → maj [+,−,−,+,−,+,−,−,+,−]
    // normalize off: mixed = [5,−3,−3,8,−3,7,−3,−9,9,−3]
    const xb = b.map((v) => v - 1);
    const out = referenceMerge(
      entry('breadcrumbs_ties', [base(b), inp(x, { weight: 1, density: 0.5, gamma: 0.1 }), inp(xb, { weight: 3 })]),
    );
    exact(out, [105, 97, 97, 108, 97, 107, 97, 91, 109, 97]);
  });
});

describe('slerp', () => {
  const v0 = [1, 2, 3];
  const v1 = [3, -1, 2];
  it('t = 0 → base, t = 1 → other', () => {
    exact(referenceMerge(entry('slerp', [base(v0), inp(v1)], { t: 0 })), v0);
    exact(referenceMerge(entry('slerp', [inp(v1), base(v0)], { t: 1 })), v1);
  });
  it('colinear → lerp', () => {
    // other = 2·base; .75·v0 + .25·2v0 = 1.25·v0
    exact(referenceMerge(entry('slerp', [base(v0), inp([2, 4, 6])], { t: 0.25 })), [1.25, 2.5, 3.75]);
  });
  it('orthogonal: θ = π/2, t = .5 → sin(π/4)·(v0 + v1) on the raw tensors', () => {
    // v0 = [3,0,4,0] (‖·‖ 5), v1 = [0,2,0,0] (‖·‖ 2): d = 0
    const s = Math.SQRT1_2;
    close(referenceMerge(entry('slerp', [base([3, 0, 4, 0]), inp([0, 2, 0, 0])], { t: 0.5 })), [3 * s, 2 * s, 4 * s, 0]);
  });
  it('one input → unchanged', () => {
    exact(referenceMerge(entry('slerp', [base(v0)], { t: 0.3 })), v0);
  });
  it('t is required', () => {
    expect(() => referenceMerge(entry('slerp', [base(v0), inp(v1)]))).toThrow(MethodError);
  });
});

describe('model_stock', () => {
  it('orthogonal deltas: c = 0 → t = 0 → base', () => {
    // oA = [1,0], oB = [0,2]
    exact(referenceMerge(entry('model_stock', [base([1, 1]), inp([2, 1]), inp([1, 3])])), [1, 1]);
  });
  it('identical deltas: c = 1 → t = 1 → mean', () => {
    exact(referenceMerge(entry('model_stock', [base([1, 1]), inp([2, 3]), inp([2, 3])])), [2, 3]);
  });
  it('c = .5 → t = 2·.5/(1+.5) = 2/3', () => {
    // oA = [1,1,0,0], oB = [1,0,1,0]: dot 1 / (√2·√2) = .5; mean = [1,.5,.5,0]
    close(referenceMerge(entry('model_stock', [base([0, 0, 0, 0]), inp([1, 1, 0, 0]), inp([1, 0, 1, 0])])), [2 / 3, 1 / 3, 1 / 3, 0]);
  });
  const rows = () => [base([0, 0, 0, 0]), inp([1, 0, 1, 2]), inp([0, 1, 1, 2])];
  it('filter_wise: one t per row', () => {
    // row 0: [1,0] ⊥ [0,1] → t 0 → [0,0]; row 1: identical → t 1 → mean [1,2]
    exact(referenceMerge(entry('model_stock', rows(), { filter_wise: true }, [2, 2])), [0, 0, 1, 2]);
  });
  it('whole tensor without filter_wise', () => {
    // dot = 0+0+1+4 = 5; norms √6·√6 → c = 5/6; t = (10/6)/(11/6) = 10/11; mean = [.5,.5,1,2]
    const t = 10 / 11;
    close(referenceMerge(entry('model_stock', rows(), {}, [2, 2])), [0.5 * t, 0.5 * t, t, 2 * t]);
    // a 1-D tensor with filter_wise is one row: same numbers
    close(referenceMerge(entry('model_stock', rows(), { filter_wise: true }, [4])), [0.5 * t, 0.5 * t, t, 2 * t]);
  });
  it('zero delta: max(‖oA‖‖oB‖, 1e-6) avoids 0/0 → c = 0 → base', () => {
    exact(referenceMerge(entry('model_stock', [base([1, 2]), inp([1, 2]), inp([3, 2])])), [1, 2]);
  });
  it('fewer than 2 non-base models → MethodError', () => {
    expect(() => referenceMerge(entry('model_stock', [base([1, 2]), inp([1, 3])]))).toThrow(MethodError);
  });
});

describe('passthrough', () => {
  it('copies, or scales when scale is set', () => {
    exact(referenceMerge(entry('passthrough', [inp([1, -2, 3])])), [1, -2, 3]);
    exact(referenceMerge(entry('passthrough', [inp([1, -2, 3], { scale: 2 })])), [2, -4, 6]);
  });
  it('exactly one input', () => {
    expect(() => referenceMerge(entry('passthrough', [inp([1]), inp([2])]))).toThrow(MethodError);
  });
});

it('unknown method is a MethodError', () => {
  expect(() => referenceMerge(entry('no_such_method', [inp([1])]))).toThrow(/no CPU reference/);
});

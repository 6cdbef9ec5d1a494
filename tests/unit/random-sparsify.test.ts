// DARE / DELLA on the CPU: the counter-based RNG twin, exact keep decisions, statistics of the masks,
// the L1 rescale, reproducibility, validation at plan time and YAML round trips.
import { describe, expect, test } from 'vitest';
import { hashU32, keepThreshold, magpruneKeep, magpruneKeepParams, rand01, randU24 } from '../../src/methods/shared/reference/rng';
import { dareSparsify, dellaSparsify, magnitudeRowRanks, magpruneMask, randomMask } from '../../src/methods/shared/reference/random-sparsify';
import { referenceMerge, type RefEntry } from '../../src/methods/reference';
import { getMethod, MERGEKIT_ONLY } from '../../src/methods/specs';
import { parseMergekitYaml, recipeToMergekitYaml } from '../../src/recipe/mergekit-yaml';
import { buildPlan } from '../../src/recipe/plan';
import { MethodError } from '../../src/errors';
import type { ModelInfo, TensorInfo } from '../../src/formats/model-info';
import type { ByteSource } from '../../src/io/types';
import { mulberry32 } from '../fixtures/prng';

function randn(n: number, seed: number): Float32Array {
  const r = mulberry32(seed);
  return Float32Array.from({ length: n }, () => Math.sqrt(-2 * Math.log(Math.max(r(), 1e-12))) * Math.cos(2 * Math.PI * r()));
}
const sumAbs = (xs: ArrayLike<number>) => {
  let s = 0;
  for (let i = 0; i < xs.length; i++) s += Math.abs(xs[i]);
  return s;
};
const count = (m: Uint8Array) => m.reduce((a, b) => a + b, 0);

describe('counter-based RNG (twin of prelude.wgsl)', () => {
  test('hash_u32 is lowbias32 (values computed independently with BigInt)', () => {
    const ref = (x: number) => {
      const M = 0xffffffffn;
      let h = BigInt(x >>> 0);
      h ^= h >> 16n;
      h = (h * 0x7feb352dn) & M;
      h ^= h >> 15n;
      h = (h * 0x846ca68bn) & M;
      h ^= h >> 16n;
      return Number(h);
    };
    expect(hashU32(0)).toBe(0);
    for (const x of [1, 2, 0x9e3779b9, 0xffffffff, 123456789, 0x80000000]) expect(hashU32(x)).toBe(ref(x));
    const r = mulberry32(3);
    for (let k = 0; k < 1000; k++) {
      const x = Math.floor(r() * 2 ** 32);
      expect(hashU32(x)).toBe(ref(x));
    }
  });

  test('rand_u24 = hash(hash(i ^ stream·φ) ^ seed) >> 8, rand01 = that / 2^24', () => {
    const M = 0xffffffffn;
    const i = 777, stream = 3, seed = 0xdeadbeef;
    const mixed = Number((BigInt(i) ^ ((BigInt(stream) * 0x9e3779b9n) & M)) & M);
    expect(randU24(seed, stream, i)).toBe(hashU32((hashU32(mixed) ^ seed) >>> 0) >>> 8);
    expect(rand01(seed, stream, i)).toBe(randU24(seed, stream, i) / 2 ** 24);
    for (let k = 0; k < 1000; k++) {
      const u = randU24(k * 7919, k % 5, k * 31);
      expect(Number.isInteger(u) && u >= 0 && u < 2 ** 24).toBe(true);
    }
  });

  test('uniform: mean and decile counts of 1e6 draws', () => {
    const n = 1_000_000;
    const bins = new Array(10).fill(0);
    let mean = 0;
    for (let i = 0; i < n; i++) {
      const u = rand01(42, 1, i);
      mean += u;
      bins[Math.floor(u * 10)]++;
    }
    mean /= n;
    expect(Math.abs(mean - 0.5)).toBeLessThan(5 * Math.sqrt(1 / 12 / n));
    const sd = Math.sqrt(n * 0.1 * 0.9);
    for (const b of bins) expect(Math.abs(b - n / 10)).toBeLessThan(5 * sd);
  });

  test('keepThreshold: rand01 < fround(p) ⇔ rand_u24 < threshold', () => {
    expect(keepThreshold(0)).toBe(0);
    expect(keepThreshold(-0.5)).toBe(0);
    expect(keepThreshold(NaN)).toBe(0);
    expect(keepThreshold(1)).toBe(2 ** 24);
    expect(keepThreshold(0.5)).toBe(2 ** 23);
    expect(keepThreshold(0.1)).toBe(Math.ceil(Math.fround(0.1) * 2 ** 24));
    for (const p of [0.1, 0.3, 0.53, 0.999]) {
      const t = keepThreshold(p);
      // the boundary: u = t − 1 is kept, u = t is not
      expect((t - 1) / 2 ** 24 < Math.fround(p)).toBe(true);
      expect(t / 2 ** 24 < Math.fround(p)).toBe(false);
    }
  });
});

describe('DARE mask (random)', () => {
  test('kept fraction within 5σ of density on 1e6 elements', () => {
    const n = 1_000_000;
    for (const d of [0.05, 0.3, 0.5, 0.9]) {
      const kept = count(randomMask(n, d, 1234, 2));
      expect(Math.abs(kept - n * d)).toBeLessThan(5 * Math.sqrt(n * d * (1 - d)));
    }
  });

  test('same seed and stream → same mask; another seed or stream → another mask', () => {
    const a = randomMask(10000, 0.5, 7, 1);
    expect(randomMask(10000, 0.5, 7, 1)).toEqual(a);
    const b = randomMask(10000, 0.5, 8, 1);
    const c = randomMask(10000, 0.5, 7, 2);
    const agree = (x: Uint8Array, y: Uint8Array) => x.reduce((s, v, i) => s + (v === y[i] ? 1 : 0), 0) / x.length;
    // independent masks agree on about half the elements
    expect(Math.abs(agree(a, b) - 0.5)).toBeLessThan(0.03);
    expect(Math.abs(agree(a, c) - 0.5)).toBeLessThan(0.03);
  });

  test('masks are nested in density (a kept element stays kept at a higher density)', () => {
    const lo = randomMask(5000, 0.2, 9, 0);
    const hi = randomMask(5000, 0.6, 9, 0);
    for (let i = 0; i < lo.length; i++) if (lo[i]) expect(hi[i]).toBe(1);
  });

  test('L1 rescale: Σ|masked·s| equals Σ|δ|; inverse-density rescale divides by density', () => {
    const delta = randn(200_000, 5);
    const out = dareSparsify(delta, 0.3, true, false, 11, 1);
    expect(Math.abs(sumAbs(out) / sumAbs(delta) - 1)).toBeLessThan(1e-5);
    const plain = dareSparsify(delta, 0.3, false, false, 11, 1);
    const inv = dareSparsify(delta, 0.3, true, true, 11, 1);
    const mask = randomMask(delta.length, 0.3, 11, 1);
    for (let i = 0; i < delta.length; i += 997) {
      expect(plain[i]).toBe(mask[i] ? delta[i] : 0);
      expect(inv[i]).toBeCloseTo(mask[i] ? delta[i] / Math.fround(0.3) : 0, 12);
    }
    // density ≥ 1 leaves δ as it is; density 0 drops everything (no rescale of an empty mask)
    expect(Array.from(dareSparsify(delta.subarray(0, 50), 1, true, false, 1, 1))).toEqual(Array.from(delta.subarray(0, 50)));
    expect(sumAbs(dareSparsify(delta.subarray(0, 50), 0, true, true, 1, 1))).toBe(0);
  });
});

describe('DELLA MagPrune', () => {
  test('ranks: ascending |δ| per row, equal magnitudes lower index first, −0 = +0, NaN highest', () => {
    expect(Array.from(magnitudeRowRanks(Float32Array.of(3, -1, 2, 1, 0), 5))).toEqual([5, 2, 4, 3, 1]);
    expect(Array.from(magnitudeRowRanks(Float32Array.of(-0, 0, NaN, Infinity, -NaN, 1), 6))).toEqual([1, 2, 5, 4, 6, 3]);
    // two rows of 3, ranked independently; a 1-element row has rank 1
    expect(Array.from(magnitudeRowRanks(Float32Array.of(5, 4, 6, -1, 1, 0.5), 3))).toEqual([2, 1, 3, 2, 3, 1]);
    expect(Array.from(magnitudeRowRanks(Float32Array.of(7, 8), 1))).toEqual([1, 1]);
  });

  test('keep decision is exact: u < 2^24·p(r) with p on the 2^-24 grid', () => {
    const r = mulberry32(17);
    for (let k = 0; k < 5000; k++) {
      const d = 0.2 + 0.6 * r();
      const e = (r() - 0.5) * 2 * Math.min(d, 1 - d) * 0.99;
      const C = 1 + Math.floor(r() * 40000);
      const rank = 1 + Math.floor(r() * C);
      const u = Math.floor(r() * 2 ** 24);
      const kp = magpruneKeepParams(d, e);
      // exact rational comparison: u·den < lo·den + span·num
      const [num, den] = C === 1 ? [1, 2] : [e < 0 ? C - rank : rank - 1, C - 1];
      const want = BigInt(u) * BigInt(den) < BigInt(kp.lo) * BigInt(den) + BigInt(kp.span) * BigInt(num);
      expect(magpruneKeep(u, rank, C, kp)).toBe(want);
    }
    // endpoints: rank 1 gets d − ε, rank C gets d + ε (to 2^-24)
    const kp = magpruneKeepParams(0.5, 0.1);
    expect(kp.lo / 2 ** 24).toBeCloseTo(0.4, 7);
    expect((kp.lo + kp.span) / 2 ** 24).toBeCloseTo(0.6, 7);
    // a single-element row keeps with probability d
    expect(magpruneKeep(2 ** 23 - 1, 1, 1, kp)).toBe(true);
    expect(magpruneKeep(2 ** 23 + 1, 1, 1, kp)).toBe(false);
  });

  test('per-rank keep rates follow p(r) = (d − ε) + 2ε·(r − 1)/(C − 1) (deciles, 5σ)', () => {
    const C = 100;
    const rows = 10_000;
    const delta = randn(C * rows, 21);
    for (const [d, e] of [[0.5, 0.3], [0.3, 0.2], [0.6, -0.25]]) {
      const mask = magpruneMask(delta, C, d, e, 99, 3);
      const ranks = magnitudeRowRanks(delta, C);
      const kept = new Array(10).fill(0);
      const expected = new Array(10).fill(0);
      const variance = new Array(10).fill(0);
      for (let i = 0; i < delta.length; i++) {
        const bin = Math.floor(((ranks[i] - 1) * 10) / C);
        const p = d - e + (2 * e * (ranks[i] - 1)) / (C - 1);
        kept[bin] += mask[i];
        expected[bin] += p;
        variance[bin] += p * (1 - p);
      }
      for (let b = 0; b < 10; b++) expect(Math.abs(kept[b] - expected[b])).toBeLessThan(5 * Math.sqrt(variance[b]));
      // and the ramp is really there: the top decile keeps clearly more (or less, for ε < 0)
      expect(Math.sign(kept[9] - kept[0])).toBe(Math.sign(e));
    }
  });

  test('1-D tensors are one row; density ≤ 0 keeps nothing; density ≥ 1 keeps δ', () => {
    const delta = randn(5000, 4);
    const m = magpruneMask(delta, delta.length, 0.5, 0.4, 1, 1);
    const ranks = magnitudeRowRanks(delta, delta.length);
    // the largest fifth is kept ~0.82, the smallest fifth ~0.18
    let top = 0, bottom = 0;
    for (let i = 0; i < delta.length; i++) {
      if (ranks[i] > 4000) top += m[i];
      if (ranks[i] <= 1000) bottom += m[i];
    }
    expect(top).toBeGreaterThan(700);
    expect(bottom).toBeLessThan(300);
    expect(count(magpruneMask(delta, 50, 0, 0.15, 1, 1))).toBe(0);
    expect(Array.from(dellaSparsify(delta.subarray(0, 10), 10, 1, 0.15, true, 1, 1))).toEqual(Array.from(delta.subarray(0, 10)));
  });

  test('L1 rescale makes Σ|out| = Σ|δ| to 1e-5', () => {
    const delta = randn(64 * 333, 8);
    const out = dellaSparsify(delta, 333, 0.4, 0.15, true, 5, 2);
    expect(Math.abs(sumAbs(out) / sumAbs(delta) - 1)).toBeLessThan(1e-5);
  });
});

describe('dare_* / della* through the CPU twin', () => {
  const n = 6 * 50;
  const base = randn(n, 1);
  const xs = [randn(n, 2), randn(n, 3)].map((d) => base.map((b, i) => b + 0.1 * d[i]));
  const entry = (method: string, params: RefEntry['params'], seed = 1, per: RefEntry['inputs'][number]['params'][] = [{ weight: 0.7, density: 0.5 }, { weight: 0.3, density: 0.4 }]): RefEntry => ({
    name: 'model.layers.0.mlp.up_proj.weight',
    method,
    shape: [6, 50],
    params,
    seed,
    inputs: [
      { data: base, isBase: true, params: {}, shape: [6, 50] },
      ...xs.map((x, k) => ({ data: x, isBase: false, params: per[k], shape: [6, 50] })),
    ],
  });

  test('dare_linear with one model and weight 1: base + masked δ scaled to the same L1', () => {
    const e = entry('dare_linear', {}, 3, [{ weight: 1, density: 0.5 }]);
    e.inputs = e.inputs.slice(0, 2);
    const out = referenceMerge(e);
    const delta = new Float32Array(n);
    for (let i = 0; i < n; i++) delta[i] = xs[0][i] - base[i];
    const mask = randomMask(n, 0.5, 3, 1); // stream = the input's index (1: after the base)
    let sd = 0, sm = 0;
    for (let i = 0; i < n; i++) {
      sd += Math.abs(delta[i]);
      sm += mask[i] ? Math.abs(delta[i]) : 0;
    }
    for (let i = 0; i < n; i++) expect(out[i]).toBeCloseTo(base[i] + (mask[i] ? (delta[i] * sd) / sm : 0), 5);
  });

  test('reproducible: same seed → same bytes; another seed → another output', () => {
    for (const m of ['dare_ties', 'dare_linear', 'della', 'della_linear']) {
      const a = referenceMerge(entry(m, {}, 5));
      expect(referenceMerge(entry(m, {}, 5))).toEqual(a);
      const b = referenceMerge(entry(m, {}, 6));
      expect(b).not.toEqual(a);
    }
  });

  test('a random method without a seed is refused', () => {
    const e = entry('dare_ties', {});
    delete e.seed;
    expect(() => referenceMerge(e)).toThrow(/needs the entry's seed/);
  });

  test('della with an invalid epsilon is refused naming the range', () => {
    expect(() => referenceMerge(entry('della', {}, 1, [{ weight: 1, density: 0.1, epsilon: 0.15 }, { weight: 1, density: 0.5 }]))).toThrow(/0 < density − epsilon and density \+ epsilon < 1/);
  });
});

describe('specs, registry and plan-time validation', () => {
  test('defaults follow mergekit §1.6; the four methods are registered', () => {
    const table: Record<string, [boolean, boolean]> = { dare_ties: [false, true], dare_linear: [false, true], della: [true, true], della_linear: [false, true] };
    for (const [name, [normalize, rescale]] of Object.entries(table)) {
      const m = getMethod(name);
      expect(MERGEKIT_ONLY).not.toContain(name);
      expect(m.random).toBe(true);
      expect(m.base).toBe('required');
      expect(m.params.find((p) => p.name === 'normalize')?.default).toBe(normalize);
      expect(m.params.find((p) => p.name === 'rescale')?.default).toBe(rescale);
      expect(m.params.find((p) => p.name === 'density')?.default).toBe(1);
    }
    expect(getMethod('della').params.find((p) => p.name === 'epsilon')?.default).toBe(0.15);
    expect(getMethod('dare_ties').params.find((p) => p.name === 'rescale_inverse_density')?.default).toBe(false);
    expect(getMethod('della').params.find((p) => p.name === 'rescale_inverse_density')).toBeUndefined();
  });

  test('della validate: 0 < d − ε and d + ε < 1, base exempt, d ≥ 1 and d ≤ 0 unchecked', () => {
    const v = getMethod('della').validate!;
    const nb = [{ model: 'b', isBase: true }, { model: 'a', isBase: false }];
    expect(() => v({}, [{}, { density: 0.5, epsilon: 0.15 }], nb)).not.toThrow();
    expect(() => v({}, [{}, { density: 0.5, epsilon: -0.15 }], nb)).not.toThrow();
    expect(() => v({}, [{ density: 0.1, epsilon: 0.15 }, { density: 0.5, epsilon: 0.15 }], nb)).not.toThrow();
    expect(() => v({}, [{}, { density: 1, epsilon: 0.5 }], nb)).not.toThrow();
    expect(() => v({}, [{}, { density: 0, epsilon: 0.5 }], nb)).not.toThrow();
    for (const [d, e] of [[0.1, 0.15], [0.9, 0.15], [0.5, 0.5], [0.5, -0.6]]) {
      let err: unknown;
      try {
        v({}, [{}, { density: d, epsilon: e }], nb);
      } catch (x) {
        err = x;
      }
      expect(err).toBeInstanceOf(MethodError);
      expect((err as MethodError).message).toMatch(/model a.*0 < density − epsilon and density \+ epsilon < 1/);
      expect((err as MethodError).details.key).toBe('epsilon');
    }
    // dare has no epsilon rule
    expect(() => getMethod('dare_ties').validate!({}, [{}, { density: 0.1, epsilon: 0.5 }], nb)).not.toThrow();
  });

  test('the planner refuses an invalid della before reading any tensor, naming the tensor', () => {
    const model = (ref: string): ModelInfo => {
      const src = { name: 'model.safetensors', size: 0, read: async () => { throw new Error('no tensor data may be read'); } } as unknown as ByteSource;
      const tensors = new Map<string, TensorInfo>();
      for (const [name, shape] of [['model.norm.weight', [4]], ['model.layers.0.mlp.up_proj.weight', [8, 4]]] as const)
        tensors.set(name, { name, dtype: 'F32', shape: [...shape], source: src, byteOffset: 0, byteLength: 0 });
      return { ref, name: ref, config: { architectures: ['LlamaForCausalLM'], num_hidden_layers: 1, hidden_size: 4, vocab_size: 10 }, tensors, files: new Map(), numLayers: 1 };
    };
    const models = new Map([['org/base', model('org/base')], ['org/a', model('org/a')]]);
    const recipe = parseMergekitYaml(`merge_method: della
base_model: org/base
models:
  - model: org/a
    parameters: {weight: 1, density: 0.9, epsilon: 0.2}
`);
    let err: unknown;
    try {
      buildPlan(recipe, models);
    } catch (x) {
      err = x;
    }
    expect(err).toBeInstanceOf(MethodError);
    expect((err as Error).message).toMatch(/^Tensor "[^"]+": della: density 0.9 and epsilon 0.2 \(model org\/a\)/);
    const ok = buildPlan(parseMergekitYaml(recipeToMergekitYaml({ ...recipe, models: [{ model: 'org/a', parameters: { weight: 1, density: 0.7, epsilon: 0.2 } }] })), models);
    expect(ok.entries.length).toBeGreaterThan(0);
    expect(ok.entries.every((e) => e.method === 'della')).toBe(true);
  });

  test('YAML round trips of every new method and its parameters', () => {
    const texts = [
      `merge_method: dare_ties
base_model: org/base
models:
  - model: org/a
    parameters: {weight: 0.6, density: [0.3, 0.7]}
  - model: org/b
    parameters: {weight: 0.4, density: 0.53}
parameters: {normalize: true, rescale: false, lambda: 0.9, int8_mask: true}
random_seed: 17
dtype: bfloat16
`,
      `merge_method: dare_linear
base_model: org/base
models:
  - model: org/a
    parameters: {weight: 0.5, density: 0.5}
parameters: {rescale_inverse_density: true}
`,
      `merge_method: della
base_model: org/base
models:
  - model: org/a
    parameters: {weight: 1, density: 0.5, epsilon: 0.1}
  - model: org/b
    parameters:
      weight: 0.5
      density: [{filter: mlp, value: 0.6}, {value: 0.3}]
      epsilon: 0.05
parameters: {lambda: 1.1}
`,
      `merge_method: della_linear
base_model: org/base
models:
  - model: org/a
    parameters: {weight: 0.7, density: 0.4, epsilon: 0.2}
parameters: {normalize: true}
`,
    ];
    for (const t of texts) {
      const r = parseMergekitYaml(t);
      expect(parseMergekitYaml(recipeToMergekitYaml(r))).toEqual(r);
    }
    // rescale_inverse_density belongs to dare_* only
    expect(() => parseMergekitYaml(texts[3].replace('normalize: true', 'rescale_inverse_density: true'))).toThrow(/unknown parameter "rescale_inverse_density"/);
  });
});

// CABS and the magnitude-pruning twins: hand-checked small cases (the expected values are worked
// out in the comments, not produced by the code under test), invariants on random tensors, spec
// validation, and YAML round trips of every cabs parameter.
import { describe, expect, it, test } from 'vitest';
import { referenceMerge, cabsSelect, magnitudeKeys, nmMask, rowTopkMask, tensorTopkMask, keepCount, type RefEntry, type RefInput } from '../../src/methods/reference';
import { cabs, cabsOrder, blockQuota } from '../../src/methods/cabs/spec';
import { parseMergekitYaml, recipeToMergekitYaml } from '../../src/recipe/mergekit-yaml';
import { MethodError } from '../../src/errors';
import { buildPlan } from '../../src/recipe/plan';
import type { ModelInfo, TensorInfo } from '../../src/formats/model-info';
import type { ByteSource } from '../../src/io/types';

type P = Record<string, number | boolean | string>;
const inp = (data: number[], params: P = {}, isBase = false, shape?: number[]): RefInput => ({ data: Float32Array.from(data), isBase, params, shape: shape ?? [data.length] });
const entry = (inputs: RefInput[], params: P, shape: number[]): RefEntry => ({ name: 'model.layers.0.mlp.up_proj.weight', method: 'cabs', shape, inputs, params });
const zeros = (n: number) => new Array<number>(n).fill(0);
const bits = (m: Uint8Array) => Array.from(m).join('');

describe('magnitude pruning twins', () => {
  it('keys drop the sign and order like |δ|', () => {
    const k = magnitudeKeys(Float32Array.of(-2, 1, 0, -0), Float32Array.of(0, 0, 0, 0));
    expect(k[0] > k[1]).toBe(true);
    expect(k[2]).toBe(0);
    expect(k[3]).toBe(0); // −0 and +0 are the same key
  });

  it('whole-tensor top-k keeps the lower index at a tie', () => {
    // |x| = 1 3 2 2 .5 2, k = 3 → idx1 (3), then the 2s in index order: idx2, idx3
    expect(bits(tensorTopkMask(magnitudeKeys(Float32Array.of(1, -3, 2, -2, 0.5, 2)), 3))).toBe('011100');
  });

  it('per-row top-k', () => {
    // rows [1 4 2] [5 5 0] keep 2 per row → row 0: 4, 2; row 1: both 5s
    expect(bits(rowTopkMask(magnitudeKeys(Float32Array.of(1, 4, 2, 5, -5, 0)), 3, 2))).toBe('011110');
  });

  it('n:m with a shorter tail keeps floor(n·len/m) there', () => {
    // one row of 6, 2:4 → block [0,4) keeps 2, tail [4,6) keeps floor(2·2/4) = 1
    // |x| = 1 9 3 2 | 4 7 → idx 1 (9), idx 2 (3); tail: idx 5 (7)
    expect(bits(nmMask(magnitudeKeys(Float32Array.of(1, 9, 3, 2, 4, 7)), 6, 2, 4))).toBe('011001');
    expect([blockQuota(2, 4, 4), blockQuota(2, 4, 2), blockQuota(3, 4, 1), blockQuota(3, 8, 3)]).toEqual([2, 1, 0, 1]);
  });

  it('n:m prefers free positions and fills from taken ones only when it must', () => {
    // block of 4, n = 3, used = 1100 → free 2, 3 kept, plus the largest taken: |x| 5 > 1 → idx 0
    const keys = magnitudeKeys(Float32Array.of(5, 1, 0.1, 0.2));
    expect(bits(nmMask(keys, 4, 3, 4, Uint8Array.of(1, 1, 0, 0)))).toBe('1011');
  });

  it('keepCount for a sparsity', () => {
    expect([keepCount(0.75, 8), keepCount(0.5, 3), keepCount(0, 5), keepCount(1, 5)]).toEqual([2, 1, 5, 0]);
  });
});

describe('CABS CPU twin', () => {
  const base = zeros(8);
  const x1 = [4, -1, 3, 2, 0.5, 0.5, -2, 1];
  const x2 = [1, 5, -3, 0.1, 2, -3, 7, 7];

  it('Σn = m: disjoint masks, each block keeps exactly n, merge is Σ wₖτₖ', () => {
    // shape [2, 4], m = 4, n = 2 each, order m1 then m2.
    // row 0: m1 |τ| 4 1 3 2 → idx 0, 2; m2 may only use 1, 3 → keeps both (5, 0.1)
    // row 1: m1 |τ| .5 .5 2 1 → idx 6, 7; m2 gets 4, 5 (2, −3)
    const e = entry([inp(base, {}, true), inp(x1, { weight: 1, block_keep: 2 }), inp(x2, { weight: 0.5, block_keep: 2 })], { block_size: 4 }, [2, 4]);
    const s = cabsSelect(e);
    expect(bits(s.masks[0])).toBe('10100011');
    expect(bits(s.masks[1])).toBe('01011100');
    // out = 1·τ1 on m1's positions, 0.5·τ2 on m2's
    expect(Array.from(referenceMerge(e))).toEqual([4, 2.5, 3, Math.fround(0.05), 1, -1.5, -2, 1]);
  });

  it('priority reverses the order: the higher priority takes positions first', () => {
    // m2 first: row 0 |τ2| 1 5 3 .1 → idx 1, 2; m1 gets 0, 3. row 1 |τ2| 2 3 7 7 → idx 6, 7 (tie → both); m1 gets 4, 5
    const e = entry([inp(base, {}, true), inp(x1, { weight: 1, block_keep: 2 }), inp(x2, { weight: 1, block_keep: 2, priority: 1 })], { block_size: 4 }, [2, 4]);
    const s = cabsSelect(e);
    expect(s.order.map((m) => m.input)).toEqual([1, 0]);
    expect(bits(s.masks[1])).toBe('01100011');
    expect(bits(s.masks[0])).toBe('10011100');
  });

  it('equal magnitudes in a block: lower index first', () => {
    // one block of 4, |τ| all 1, n = 1 → idx 0; the next model gets idx 1
    const e = entry([inp(zeros(4), {}, true), inp([1, -1, 1, 1], { weight: 1, block_keep: 1 }), inp([-1, 1, 1, -1], { weight: 1, block_keep: 1 })], { block_size: 4 }, [4]);
    const s = cabsSelect(e);
    expect(bits(s.masks[0])).toBe('1000');
    expect(bits(s.masks[1])).toBe('0100');
  });

  it('Σn > m: the overlap is filled from the largest taken positions and resolved TIES-style', () => {
    // one block of 4, m1 n = 3: |τ1| 4 1 3 2 → idx 0, 2, 3. m2 n = 2: free idx 1 (5), then the
    // largest taken |τ2|: idx 0 (1), 2 (3), 3 (.1) → idx 2 (−3). Overlap at idx 2: τ1 = 3, τ2 = −3.
    // idx 2: W = 1·3 and 1·(−3) → sum 0 elects +, keep only +3 → Δ = 3.
    // with w2 = 2: W = 3, −6 → sum −3 elects −, Δ = −6.
    const inputs = (w2: number) => [inp(zeros(4), {}, true), inp([4, -1, 3, 2], { weight: 1, block_keep: 3 }), inp([1, 5, -3, 0.1], { weight: w2, block_keep: 2 })];
    const s = cabsSelect(entry(inputs(1), { block_size: 4 }, [4]));
    expect(bits(s.masks[0])).toBe('1011');
    expect(bits(s.masks[1])).toBe('0110');
    expect(Array.from(referenceMerge(entry(inputs(1), { block_size: 4 }, [4])))).toEqual([4, 5, 3, 2]);
    expect(Array.from(referenceMerge(entry(inputs(2), { block_size: 4 }, [4])))).toEqual([4, 10, -6, 2]);
    // λ scales the merged delta: base + 0.5·Δ
    expect(Array.from(referenceMerge(entry(inputs(1), { block_size: 4, lambda: 0.5 }, [4])))).toEqual([2, 2.5, 1.5, 1]);
  });

  it('block_keep defaults to round(density·block_size)', () => {
    // density 0.5, m = 4 → n = 2
    const e = entry([inp(zeros(4), {}, true), inp([4, -1, 3, 2], { weight: 1, density: 0.5 })], { block_size: 4 }, [4]);
    expect(bits(cabsSelect(e).masks[0])).toBe('1010');
  });

  it('top-k mode (m = 0): floor(density·numel) per model, free positions first', () => {
    // numel 8: m1 density .25 → 2: |τ1| top = idx 0 (4), idx 2 (3).
    // m2 density .5 → 4 among free 1,3,4,5,6,7: |τ2| 5 .1 2 3 7 7 → idx 6, 7, 1, 5
    const e = entry([inp(base, {}, true), inp(x1, { weight: 1, density: 0.25 }), inp(x2, { weight: 1, density: 0.5 })], {}, [8]);
    const s = cabsSelect(e);
    expect(bits(s.masks[0])).toBe('10100000');
    expect(bits(s.masks[1])).toBe('01000111');
    // densities summing above 1: m1 .75 → 6 of |τ1| sorted 4(0) 3(2) 2(3) 2(6) 1(1) 1(7) .5(4) .5(5)
    // → keeps 0 2 3 6 1 7, leaving 4 and 5 free
    // m2 .5 → 4: free 4, 5 first, then the largest taken |τ2|: 7(6), 7(7) → mask 4 5 6 7
    const e2 = entry([inp(base, {}, true), inp(x1, { weight: 1, density: 0.75 }), inp(x2, { weight: 1, density: 0.5 })], {}, [8]);
    const s2 = cabsSelect(e2);
    expect(bits(s2.masks[0])).toBe('11110011');
    expect(bits(s2.masks[1])).toBe('00001111');
  });

  it('the base alone is returned unchanged', () => {
    expect(Array.from(referenceMerge(entry([inp([1, 2], {}, true)], { block_size: 2 }, [2])))).toEqual([1, 2]);
  });

  describe('invariants on random tensors', () => {
    let seed = 7;
    const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31) - 0.5;
    const rows = 13;
    const L = 40; // 5 full blocks of 8 per row
    const n = rows * L;
    const make = (ns: number[], m: number) => {
      const b = Array.from({ length: n }, rnd);
      return entry([inp(b, {}, true, [rows, L]), ...ns.map((k, i) => inp(b.map((v) => v + rnd() * (i + 1)), { weight: 1, block_keep: k }, false, [rows, L]))], { block_size: m }, [rows, L]);
    };
    test.each([
      [[2, 3, 3], 8],
      [[1, 1, 1, 1], 4],
      [[4, 4], 8],
    ])('Σn ≤ m, n = %j, m = %i: no overlap, every block keeps exactly n, density exactly n/m', (ns, m) => {
      const s = cabsSelect(make(ns, m));
      for (let i = 0; i < n; i++) expect(s.masks.reduce((a, mk) => a + mk[i], 0)).toBeLessThanOrEqual(1);
      s.masks.forEach((mk, k) => {
        for (let b0 = 0; b0 < n; b0 += m) expect(mk.slice(b0, b0 + m).reduce((a, v) => a + v, 0)).toBe(ns[k]);
        expect(mk.reduce((a, v) => a + v, 0) / n).toBe(ns[k] / m);
      });
    });
    it('Σn > m: every block still keeps exactly n per model', () => {
      const s = cabsSelect(make([5, 5], 8));
      s.masks.forEach((mk) => {
        for (let b0 = 0; b0 < n; b0 += 8) expect(mk.slice(b0, b0 + 8).reduce((a, v) => a + v, 0)).toBe(5);
      });
      // overlap per block is exactly 5 + 5 − 8 = 2
      for (let b0 = 0; b0 < n; b0 += 8) {
        let both = 0;
        for (let i = b0; i < b0 + 8; i++) both += s.masks[0][i] & s.masks[1][i];
        expect(both).toBe(2);
      }
    });
  });
});

describe('cabs spec', () => {
  const v = (g: P, pm: P[]) => () => cabs.validate!(g, pm);
  it('accepts valid settings', () => {
    expect(v({ block_size: 4 }, [{ block_keep: 2, weight: 1, density: 1 }, { density: 0.3, weight: 1 }])).not.toThrow();
    expect(v({ block_size: 0 }, [{ density: 0.3, weight: 1 }])).not.toThrow();
  });
  it.each([
    [{ block_size: 2.5 }, [{}], 'block_size', /integer from 0/],
    [{ block_size: -1 }, [{}], 'block_size', /integer from 0/],
    [{ block_size: 5000 }, [{}], 'block_size', /4096/],
    [{ block_size: 4 }, [{ block_keep: 5 }], 'block_keep', /from 0 to block_size = 4/],
    [{ block_size: 4 }, [{ block_keep: 1.5 }], 'block_keep', /integer/],
    [{ block_size: 0 }, [{ block_keep: 2 }], 'block_keep', /block_size is 0/],
    [{ block_size: 4 }, [{ density: 1.5 }], 'density', /between 0 and 1/],
  ])('%j %j → MethodError on %s', (g, pm, key, msg) => {
    let err: unknown;
    try {
      cabs.validate!(g as P, pm as P[]);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(MethodError);
    expect((err as MethodError).details.key).toBe(key);
    expect((err as Error).message).toMatch(msg);
  });
  it('pruning order: descending priority, stable', () => {
    const ms = [0, 1, 2, 3].map((i) => ({ input: i, weight: 1, density: 1, n: 0, priority: [0, 2, 0, 2][i] }));
    expect(cabsOrder(ms).map((m) => m.input)).toEqual([1, 3, 0, 2]);
  });
});

describe('cabs YAML', () => {
  const YAML = `merge_method: cabs
base_model: org/base
models:
  - model: org/a
    parameters: {weight: 1.2, block_keep: 64, priority: 1}
  - model: org/b
    parameters:
      weight: [1.0, 0.8]
      block_keep: [{filter: mlp, value: 32}, {value: 64}]
  - model: org/c
    parameters: {weight: 0.5, density: 0.25}
parameters: {block_size: 256, lambda: 0.9}
dtype: bfloat16
`;
  it('round-trips every parameter', () => {
    const r = parseMergekitYaml(YAML);
    expect(r.merge_method).toBe('cabs');
    expect(r.parameters).toEqual({ block_size: 256, lambda: 0.9 });
    expect(r.models![0].parameters).toEqual({ weight: 1.2, block_keep: 64, priority: 1 });
    expect(r.models![1].parameters!.block_keep).toEqual([{ filter: 'mlp', value: 32 }, { value: 64 }]);
    expect(parseMergekitYaml(recipeToMergekitYaml(r))).toEqual(r);
  });
  it('rejects an unknown parameter naming the cabs parameters', () => {
    expect(() => parseMergekitYaml(YAML.replace('block_size: 256', 'blocks: 256'))).toThrow(/unknown parameter "blocks".*block_size \(global\)/);
  });

  const dummy = (name: string): ByteSource => ({ name, size: 0, read: async () => new Uint8Array(0), text: async () => '' }) as unknown as ByteSource;
  const fake = (ref: string): ModelInfo => {
    const tensors = new Map<string, TensorInfo>();
    const add = (name: string, shape: number[]) => tensors.set(name, { name, dtype: 'F32', shape, source: dummy('model.safetensors'), byteOffset: 0, byteLength: 0 });
    add('model.embed_tokens.weight', [10, 8]);
    add('model.layers.0.mlp.up_proj.weight', [16, 8]);
    add('model.norm.weight', [8]);
    return { ref, name: ref, config: { num_hidden_layers: 1, hidden_size: 8 }, tensors, files: new Map(), numLayers: 1 };
  };
  const models = new Map(['org/base', 'org/a', 'org/b'].map((r) => [r, fake(r)]));
  const recipe = (params: string) => `merge_method: cabs
base_model: org/base
models:
  - model: org/a
    parameters: {weight: 1, block_keep: 2}
  - model: org/b
    parameters: {weight: 1, block_keep: 2}
parameters: {${params}}
`;
  it('plans with resolved block_keep, block_size, priority', () => {
    const plan = buildPlan(parseMergekitYaml(recipe('block_size: 4')), models);
    const e = plan.entries.find((x) => x.name === 'model.layers.0.mlp.up_proj.weight')!;
    expect(e.params).toMatchObject({ block_size: 4, lambda: 1 });
    expect(e.inputs.filter((i) => !i.isBase).map((i) => i.params)).toEqual([
      { weight: 1, block_keep: 2, density: 1, priority: 0 },
      { weight: 1, block_keep: 2, density: 1, priority: 0 },
    ]);
  });
  it('the planner rejects block_keep > block_size before any tensor is read', () => {
    expect(() => buildPlan(parseMergekitYaml(recipe('block_size: 1')), models)).toThrow(MethodError);
    expect(() => buildPlan(parseMergekitYaml(recipe('block_size: 1')), models)).toThrow(/block_keep must be an integer from 0 to block_size = 1/);
  });
});

describe('cabs export recipe (mergekit)', () => {
  it('task_arithmetic over the pruned folders, weights and λ carried over, normalize off; YAML round-trips', async () => {
    const { cabsExportRecipe } = await import('../../src/merge/cabs-export-recipe');
    const r = parseMergekitYaml(`merge_method: cabs
base_model: org/base
models:
  - model: org/a
    parameters: {weight: [1.0, 0.8], block_keep: 3, priority: 1}
  - model: org/b
    parameters: {weight: 1.2, density: 0.5}
parameters: {block_size: 8, lambda: 0.9}
dtype: bfloat16
`);
    const out = cabsExportRecipe(r, { 'org/a': 'a-cabs', 'org/b': 'b-cabs' }, 'task_arithmetic');
    expect(out).toEqual({
      merge_method: 'task_arithmetic',
      base_model: 'org/base',
      models: [
        { model: './a-cabs', parameters: { weight: [1.0, 0.8] } },
        { model: './b-cabs', parameters: { weight: 1.2 } },
      ],
      parameters: { lambda: 0.9, normalize: false },
      dtype: 'bfloat16',
    });
    expect(parseMergekitYaml(recipeToMergekitYaml(out))).toEqual(out);
    const ties = cabsExportRecipe(r, { 'org/a': 'a-cabs', 'org/b': 'b-cabs' }, 'ties');
    expect(parseMergekitYaml(recipeToMergekitYaml(ties))).toEqual(ties);
  });

  it('overlap-free exactly when Σ block_keep ≤ block_size (or Σ floor(density·numel) ≤ numel) in every tensor', async () => {
    const { cabsOverlapFree } = await import('../../src/merge/cabs-export-recipe');
    const e = (params: P, ps: P[], shape = [4, 8]) =>
      ({ name: 't', shape, method: 'cabs', params, inputs: [{ isBase: true, params: {} }, ...ps.map((p) => ({ isBase: false, params: p }))] }) as unknown as import('../../src/recipe/plan-types').PlanEntry;
    expect(cabsOverlapFree([e({ block_size: 8 }, [{ weight: 1, block_keep: 3 }, { weight: 1, block_keep: 5 }])])).toBe(true);
    expect(cabsOverlapFree([e({ block_size: 8 }, [{ weight: 1, block_keep: 4 }, { weight: 1, block_keep: 5 }])])).toBe(false);
    // density → n = round(0.5·8) = 4 and round(0.4·8) = 3
    expect(cabsOverlapFree([e({ block_size: 8 }, [{ weight: 1, density: 0.5 }, { weight: 1, density: 0.4 }])])).toBe(true);
    // top-k over 32 elements: floor(.5·32) + floor(.5·32) = 32 ≤ 32; .5 + .55 → 16 + 17 > 32
    expect(cabsOverlapFree([e({}, [{ weight: 1, density: 0.5 }, { weight: 1, density: 0.5 }])])).toBe(true);
    expect(cabsOverlapFree([e({}, [{ weight: 1, density: 0.5 }, { weight: 1, density: 0.55 }])])).toBe(false);
  });
});

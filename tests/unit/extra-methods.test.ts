// nearswap, nuslerp, multislerp, karcher, sce, ram, ramplus_tl, arcee_fusion: hand-checked CPU twin
// cases (every expected number is worked out in the comments), planner validation before any tensor
// is read, and mergekit YAML round trips of each method's parameters.
import { describe, expect, it } from 'vitest';
import { referenceMerge, type RefEntry, type RefInput } from '../../src/methods/reference';
import { buildPlan } from '../../src/recipe/plan';
import { parseMergekitYaml, recipeToMergekitYaml } from '../../src/recipe/mergekit-yaml';
import { MethodError, RecipeError } from '../../src/errors';
import type { ModelInfo, TensorInfo } from '../../src/formats/model-info';
import type { ByteSource } from '../../src/io/types';
import type { Recipe } from '../../src/recipe/types';
import { arceeFusionImportance } from '../../src/methods/arcee-fusion/reference';
import { fusionQuantileIndices, fusionThreshold, quantileSelection } from '../../src/methods/arcee-fusion/fusion-math';

type P = Record<string, number | boolean | string>;
const inp = (data: number[], params: P = {}, isBase = false): RefInput => ({ data: Float32Array.from(data), isBase, params, shape: [data.length] });
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
const errorOf = (fn: () => unknown): Error => {
  try {
    fn();
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected an error');
};
const S = Math.SQRT1_2; // sin(π/4) = 0.70710678

// ---- fake checkpoints whose tensor bytes must never be read ---------------------------------------

const unreadable = (name: string): ByteSource =>
  ({
    name,
    size: 0,
    read: async () => {
      throw new Error(`${name}: a tensor was read`);
    },
    text: async () => '',
  }) as unknown as ByteSource;

function fakeModel(ref: string, layers = 2, h = 4): ModelInfo {
  const shapes: Record<string, number[]> = { 'model.embed_tokens.weight': [10, h], 'model.norm.weight': [h], 'lm_head.weight': [10, h] };
  for (let i = 0; i < layers; i++) {
    shapes[`model.layers.${i}.input_layernorm.weight`] = [h];
    shapes[`model.layers.${i}.mlp.up_proj.weight`] = [8, h];
  }
  const src = unreadable(`${ref}/model.safetensors`);
  const tensors = new Map<string, TensorInfo>();
  for (const [name, shape] of Object.entries(shapes)) tensors.set(name, { name, dtype: 'BF16', shape, source: src, byteOffset: 0, byteLength: 0 });
  return {
    ref,
    name: ref,
    config: { architectures: ['LlamaForCausalLM'], num_hidden_layers: layers, hidden_size: h, vocab_size: 10, torch_dtype: 'bfloat16' },
    tensors,
    files: new Map(),
    numLayers: layers,
  };
}
const MODELS = new Map(['A', 'B', 'C', 'D'].map((r) => [r, fakeModel(r)]));
const plan = (r: Recipe) => buildPlan(r, MODELS);
const yamlRoundTrip = (text: string) => {
  const r = parseMergekitYaml(text);
  expect(parseMergekitYaml(recipeToMergekitYaml(r))).toEqual(r);
  return r;
};

// ---- nearswap -------------------------------------------------------------------------------------

describe('nearswap', () => {
  it('twin: swaps where |base − x| ≤ t, else moves x toward base by t / |base − x|', () => {
    // i0: d = 0 → t / 1e-6 clamps to 1 → x (0)
    // i1: d = 0.5 → w = 0.1 / 0.5 = 0.2 → 0.2·1.5 + 0.8·1 = 1.1
    // i2: d = 0.001 → w = 100 → clamp 1 → x = 2.001 (as f32)
    // i3: d = 7 → w = 1/70 → 10/70 + 3·69/70 = (10 + 207)/70 = 3.1
    close(referenceMerge(entry('nearswap', [base([0, 1, 2, 3]), inp([0, 1.5, 2.001, 10])], { t: 0.1 })), [0, 1.1, Math.fround(2.001), 3.1]);
  });

  it('planner: a base and exactly one other model, t required and ≥ 0, all before any tensor is read', () => {
    expect(plan({ merge_method: 'nearswap', base_model: 'A', models: [{ model: 'B' }], parameters: { t: 0.001 } }).entries.length).toBeGreaterThan(0);
    const noBase = errorOf(() => plan({ merge_method: 'nearswap', models: [{ model: 'A' }, { model: 'B' }], parameters: { t: 0.1 } }));
    expect(noBase).toBeInstanceOf(RecipeError);
    expect(noBase.message).toBe('merge_method nearswap needs a base_model; the merge has none');
    const three = errorOf(() => plan({ merge_method: 'nearswap', base_model: 'A', models: [{ model: 'B' }, { model: 'C' }], parameters: { t: 0.1 } }));
    expect(three.message).toBe('merge_method nearswap takes at most 2 models (base included); the merge has 3: B, C, A (base)');
    const missing = errorOf(() => plan({ merge_method: 'nearswap', base_model: 'A', models: [{ model: 'B' }] }));
    expect(missing).toBeInstanceOf(RecipeError);
    expect(missing.message).toMatch(/Missing required parameter t/);
    const negative = errorOf(() => plan({ merge_method: 'nearswap', base_model: 'A', models: [{ model: 'B' }], parameters: { t: -0.5 } }));
    expect(negative).toBeInstanceOf(MethodError);
    expect(negative.message).toBe('Tensor "model.embed_tokens.weight": nearswap: t must be a number ≥ 0, got -0.5');
  });

  it('YAML round trip', () => {
    const r = yamlRoundTrip(`merge_method: nearswap
base_model: A
models:
  - model: B
parameters:
  t: [0.0001, 0.001]
dtype: float32
`);
    expect(r.parameters).toEqual({ t: [0.0001, 0.001] });
  });
});

// ---- nuslerp --------------------------------------------------------------------------------------

describe('nuslerp', () => {
  it('twin: whole-tensor slerp with t = w_b / (w_a + w_b)', () => {
    // a ⟂ b, θ = π/2, sin θ = 1: weights 1, 1 → t = ½ → sin(π/4)·a + sin(π/4)·b
    close(referenceMerge(entry('nuslerp', [inp([1, 0], { weight: 1 }), inp([0, 1], { weight: 1 })])), [S, S]);
    // weights 1, 3 → t = ¾ → sin(π/8) = 0.3826834, sin(3π/8) = 0.9238795
    close(referenceMerge(entry('nuslerp', [inp([1, 0], { weight: 1 }), inp([0, 1], { weight: 3 })])), [0.3826834, 0.9238795]);
    // weights 1, −1: |sum| < 1e-6 → t = ½
    close(referenceMerge(entry('nuslerp', [inp([1, 0], { weight: 1 }), inp([0, 1], { weight: -1 })])), [S, S]);
  });

  it('twin: task vectors of a third base model', () => {
    // base (1, 1); a − base = (1, 0), b − base = (0, 1) → base + (S, S)
    close(referenceMerge(entry('nuslerp', [inp([2, 1], { weight: 1 }), base([1, 1]), inp([1, 2], { weight: 1 })])), [1 + S, 1 + S]);
  });

  it('twin: rows (flatten off) and columns (row_wise), colinear vectors lerp', () => {
    // rows of [[1,0],[1,0]] and [[0,1],[2,0]]: row 0 ⟂ → (S, S); row 1 colinear (sin θ = 0) → lerp ½ → (1.5, 0)
    const rows = entry('nuslerp', [inp([1, 0, 1, 0], { weight: 1 }), inp([0, 1, 2, 0], { weight: 1 })], { nuslerp_flatten: false }, [2, 2]);
    close(referenceMerge(rows), [S, S, 1.5, 0]);
    // columns of [[1,1],[0,0]] and [[0,2],[1,0]]: column 0 is (1,0) vs (0,1) → (S, S); column 1 (1,0) vs (2,0) → (1.5, 0)
    const cols = entry('nuslerp', [inp([1, 1, 0, 0], { weight: 1 }), inp([0, 2, 1, 0], { weight: 1 })], { nuslerp_flatten: false, nuslerp_row_wise: true }, [2, 2]);
    close(referenceMerge(cols), [S, 1.5, S, 0]);
    // row_wise alone does nothing while flatten is on (mergekit flattens first)
    const flat = entry('nuslerp', [inp([1, 1, 0, 0], { weight: 1 }), inp([0, 2, 1, 0], { weight: 1 })], { nuslerp_row_wise: true }, [2, 2]);
    // ‖a‖ = √2, ‖b‖ = √5, a·b = 2 → cos θ = 2/√10, θ = 0.8860771; coefficients sin(θ/2)/sin θ = 0.5590170·… computed:
    const th = Math.acos(2 / Math.sqrt(10));
    const k = Math.sin(th / 2) / Math.sin(th);
    close(referenceMerge(flat), [k * 1, k * 3, k * 1, 0]);
  });

  it('planner: exactly two models besides an optional, distinct base', () => {
    expect(plan({ merge_method: 'nuslerp', models: [{ model: 'A', parameters: { weight: 0.5 } }, { model: 'B', parameters: { weight: 0.5 } }] }).entries.length).toBeGreaterThan(0);
    const withBase = plan({ merge_method: 'nuslerp', base_model: 'C', models: [{ model: 'A', parameters: { weight: 0.5 } }, { model: 'B', parameters: { weight: 0.5 } }] });
    expect(withBase.entries[0].inputs.map((i) => [i.model, i.isBase])).toEqual([['A', false], ['B', false], ['C', true]]);
    const baseIsOne = errorOf(() => plan({ merge_method: 'nuslerp', base_model: 'A', models: [{ model: 'A', parameters: { weight: 0.5 } }, { model: 'B', parameters: { weight: 0.5 } }] }));
    expect(baseIsOne).toBeInstanceOf(RecipeError);
    expect(baseIsOne.message).toBe(
      'merge_method nuslerp needs exactly 2 models besides the optional base_model; the merge has 1: A (base), B (the base_model A must be a further model, not one of them)',
    );
    const three = errorOf(() =>
      plan({ merge_method: 'nuslerp', models: [{ model: 'A', parameters: { weight: 1 } }, { model: 'B', parameters: { weight: 1 } }, { model: 'C', parameters: { weight: 1 } }] }),
    );
    expect(three.message).toBe('merge_method nuslerp needs exactly 2 models besides the optional base_model; the merge has 3: A, B, C');
    const noWeight = errorOf(() => plan({ merge_method: 'nuslerp', models: [{ model: 'A', parameters: { weight: 1 } }, { model: 'B' }] }));
    expect(noWeight.message).toMatch(/Missing required parameter weight for model B/);
  });

  it('YAML round trip', () => {
    const r = yamlRoundTrip(`merge_method: nuslerp
base_model: C
models:
  - model: A
    parameters:
      weight: [0.2, 0.8]
  - model: B
    parameters:
      weight: 0.5
parameters:
  nuslerp_flatten: false
  nuslerp_row_wise: true
dtype: bfloat16
`);
    expect(r.parameters).toEqual({ nuslerp_flatten: false, nuslerp_row_wise: true });
  });
});

// ---- multislerp -----------------------------------------------------------------------------------

describe('multislerp', () => {
  it('twin: normalised weighted mean of the unit vectors, scaled by the weighted mean norm', () => {
    // a = (2,0), b = (0,4): u = (1,0), (0,1); w = ½, ½ → m̂ = (S, S); T = 0 (each uᵢ − (uᵢ·m̂)m̂ = ±(½, −½)
    // cancel); L = eps → cos L = 1; scale Σ wᵢnᵢ = ½·2 + ½·4 = 3 → (3S, 3S) = (2.1213203, 2.1213203)
    close(referenceMerge(entry('multislerp', [inp([2, 0], { weight: 1 }), inp([0, 4], { weight: 1 })])), [3 * S, 3 * S]);
    // w = ¼, ¾: m = (¼, ¾), ‖m‖ = √(10)/4 = 0.7905694 → m̂ = (0.3162278, 0.9486833); scale ¼·2 + ¾·4 = 3.5
    close(referenceMerge(entry('multislerp', [inp([2, 0], { weight: 1 }), inp([0, 4], { weight: 3 })])), [3.5 * 0.3162278, 3.5 * 0.9486833]);
    // with a base (1, 1): task vectors (2, 0), (0, 4) → base + (3S, 3S)
    close(referenceMerge(entry('multislerp', [base([1, 1]), inp([3, 1], { weight: 1 }), inp([1, 5], { weight: 1 })])), [1 + 3 * S, 1 + 3 * S]);
    // normalize_weights off: w = 1, 1 → m = (1, 1), m̂ = (S, S); scale 1·2 + 1·4 = 6
    close(referenceMerge(entry('multislerp', [inp([2, 0], { weight: 1 }), inp([0, 4], { weight: 1 })], { normalize_weights: false })), [6 * S, 6 * S]);
  });

  it('twin: one model is returned as it is; an antipodal pair falls back to the weighted sum; more models are an error', () => {
    close(referenceMerge(entry('multislerp', [base([1, 1]), inp([5, 7], { weight: 0.2 })])), [5, 7]);
    // (1,2) and (−1,−2) with w = ½, ½: m = 0 → ½a + ½b = 0, plus base (1, 1)
    close(referenceMerge(entry('multislerp', [base([1, 1]), inp([2, 3], { weight: 1 }), inp([0, -1], { weight: 1 })])), [1, 1]);
    const e = errorOf(() => referenceMerge(entry('multislerp', [inp([1, 2], { weight: 1 }), inp([-1, -2], { weight: 1 }), inp([0, 0], { weight: 0 })])));
    expect(e).toBeInstanceOf(MethodError);
  });

  it('planner: weights required of the interpolated models only; a zero weight sum is refused when normalising', () => {
    const ok = plan({ merge_method: 'multislerp', base_model: 'C', models: [{ model: 'A', parameters: { weight: 1 } }, { model: 'B', parameters: { weight: 2 } }] });
    expect(ok.entries[0].inputs.map((i) => i.isBase)).toEqual([false, false, true]);
    const zero = errorOf(() =>
      plan({ merge_method: 'multislerp', base_model: 'C', models: [{ model: 'A', parameters: { weight: 0.5 } }, { model: 'B', parameters: { weight: -0.5 } }], parameters: { weight: 3 } }),
    );
    expect(zero).toBeInstanceOf(MethodError);
    expect(zero.message).toMatch(/^Tensor "model\.embed_tokens\.weight": multislerp: the weights sum to 0, and normalize_weights divides by their sum/);
    expect(
      plan({ merge_method: 'multislerp', models: [{ model: 'A', parameters: { weight: 0.5 } }, { model: 'B', parameters: { weight: -0.5 } }], parameters: { normalize_weights: false } }).entries.length,
    ).toBeGreaterThan(0);
    const eps = errorOf(() => plan({ merge_method: 'multislerp', models: [{ model: 'A', parameters: { weight: 1 } }, { model: 'B', parameters: { weight: 1 } }], parameters: { eps: -1 } }));
    expect(eps.message).toBe('Tensor "model.embed_tokens.weight": multislerp: eps must be a number ≥ 0, got -1');
    const baseOnly = errorOf(() => plan({ merge_method: 'multislerp', base_model: 'A', models: [{ model: 'A' }] }));
    expect(baseOnly.message).toBe('merge_method multislerp needs at least 1 model besides the optional base_model; the merge has 0: A (base) (the base_model A must be a further model, not one of them)');
  });

  it('YAML round trip', () => {
    const r = yamlRoundTrip(`merge_method: multislerp
base_model: C
models:
  - model: A
    parameters:
      weight: 1
  - model: B
    parameters:
      weight:
        - filter: mlp
          value: 0.5
        - value: 2
parameters:
  normalize_weights: false
  eps: 1.0e-06
`);
    expect(r.parameters).toEqual({ normalize_weights: false, eps: 1e-6 });
  });
});

// ---- karcher --------------------------------------------------------------------------------------

describe('karcher', () => {
  it('twin: Karcher mean of the directions, scaled by the mean norm', () => {
    // (2,0), (0,4): units e₁, e₂; mean direction (S, S); T = Σ ½(θ/sin θ)(uᵢ − cᵢu) = 0 by symmetry;
    // scale ½·2 + ½·4 = 3 → (3S, 3S)
    close(referenceMerge(entry('karcher', [inp([2, 0]), inp([0, 4])])), [3 * S, 3 * S]);
    // angles 0, 90°, 0 on the unit circle: the intrinsic mean is at 30° (the extrinsic start, atan ½ =
    // 26.57°, moves by the mean signed angle (−26.57·2 + 63.43)/3 = 3.43° in one step) → (cos 30°, sin 30°)
    close(referenceMerge(entry('karcher', [inp([1, 0]), inp([0, 1]), inp([1, 0])])), [Math.sqrt(3) / 2, 0.5]);
  });

  it('twin: zero tensors take no part but count in the scale; all zero → zeros; one input unchanged', () => {
    // valid: (2,0), (0,4) with α' = ½ each → direction (S, S); scale (0 + 2 + 4)/3 = 2
    close(referenceMerge(entry('karcher', [inp([0, 0]), inp([2, 0]), inp([0, 4])])), [2 * S, 2 * S]);
    close(referenceMerge(entry('karcher', [inp([0, 0]), inp([0, 0])])), [0, 0]);
    close(referenceMerge(entry('karcher', [inp([3, -1])])), [3, -1]);
  });

  it('planner: max_iter a non-negative integer, tol ≥ 0; the base is an ordinary input', () => {
    const p = plan({ merge_method: 'karcher', base_model: 'C', models: [{ model: 'A' }, { model: 'B' }], parameters: { max_iter: 5 } });
    expect(p.entries[0].inputs.length).toBe(3);
    const frac = errorOf(() => plan({ merge_method: 'karcher', models: [{ model: 'A' }, { model: 'B' }], parameters: { max_iter: 2.5 } }));
    expect(frac).toBeInstanceOf(MethodError);
    expect(frac.message).toBe('Tensor "model.embed_tokens.weight": karcher: max_iter must be an integer ≥ 0, got 2.5');
    const tol = errorOf(() => plan({ merge_method: 'karcher', models: [{ model: 'A' }, { model: 'B' }], parameters: { tol: -1e-5 } }));
    expect(tol.message).toBe('Tensor "model.embed_tokens.weight": karcher: tol must be a number ≥ 0, got -0.00001');
  });

  it('YAML round trip', () => {
    const r = yamlRoundTrip(`merge_method: karcher
models:
  - model: A
  - model: B
  - model: C
parameters:
  max_iter: 25
  tol: 1.0e-07
dtype: float32
`);
    expect(r.parameters).toEqual({ max_iter: 25, tol: 1e-7 });
  });
});

// ---- sce ------------------------------------------------------------------------------------------

describe('sce', () => {
  it('twin: energy weights, unweighted sign election, average of the agreeing task vectors', () => {
    // τA = (1, 2, −1, 0), τB = (3, −2, −1, 0); mean squares 6/4 = 1.5 and 14/4 = 3.5 → w = (0.3, 0.7)
    // election sums (4, 0, −2, 0) → signs +, + (0 elects +), −, +
    // i0: both agree: 0.3 + 2.1 = 2.4 over 1; i1: only A: 0.6 / 0.3 = 2; i2: both: −1; i3: none: 0 / max(0, 1e-6) = 0
    close(referenceMerge(entry('sce', [base([0, 0, 0, 0]), inp([1, 2, -1, 0]), inp([3, -2, -1, 0])])), [2.4, 2, -1, 0]);
  });

  it('twin: select_topk keeps the k largest variances, k = int(count_nonzero(var)·select_topk)', () => {
    // base 1: τA = (1, 2, −1, 0), τB = (3, −2, −1, 0); variances (1, 4, 0, 0); 2 non-zero → k = 1 → only i1
    // masked: τA = (0, 2, 0, 0), τB = (0, −2, 0, 0); w = (½, ½); i1 elects + (sum 0): A alone → 2
    close(referenceMerge(entry('sce', [base([1, 1, 1, 1]), inp([2, 3, 0, 1]), inp([4, -1, 0, 1])], { select_topk: 0.5 })), [1, 3, 1, 1]);
    // select_topk ≤ 0 keeps nothing: the base
    close(referenceMerge(entry('sce', [base([1, 1, 1, 1]), inp([2, 3, 0, 1]), inp([4, -1, 0, 1])], { select_topk: 0 })), [1, 1, 1, 1]);
  });

  it('twin: uniform weights when Σ mean(τ²) < 1e-6', () => {
    // τ = 1e-4 and 3e-4: mean squares 1e-8 + 9e-8 < 1e-6 → w = (½, ½) → 2e-4 (energy weights would give 2.8e-4)
    close(referenceMerge(entry('sce', [base([0]), inp([1e-4]), inp([3e-4])])), [2e-4], 9);
  });

  it('planner: a base is required; select_topk any number; YAML round trip', () => {
    const noBase = errorOf(() => plan({ merge_method: 'sce', models: [{ model: 'A' }, { model: 'B' }] }));
    expect(noBase.message).toBe('merge_method sce needs a base_model; the merge has none');
    const p = plan({ merge_method: 'sce', base_model: 'C', models: [{ model: 'A' }, { model: 'B' }], parameters: { select_topk: 0.7 } });
    expect(p.entries[0].params).toEqual({ select_topk: 0.7, int8_mask: false });
    const r = yamlRoundTrip(`merge_method: sce
base_model: C
models:
  - model: A
  - model: B
parameters:
  select_topk: [0.5, 1]
  int8_mask: true
`);
    expect(r.parameters).toEqual({ select_topk: [0.5, 1], int8_mask: true });
  });
});

// ---- ram, ramplus_tl ------------------------------------------------------------------------------

describe('ram and ramplus_tl', () => {
  it('twin ram: unique changes kept, shared ones averaged, |τ| ≤ epsilon ignored', () => {
    // τA = (1, 2, 0, 1e-6, −3), τB = (0, 4, 0, 0, 3); changed: A at 0,1,4 (1e-6 ≤ 1e-5), B at 1,4
    // → 1 (A only), (2 + 4)/2 = 3, 0, 0, (−3 + 3)/2 = 0
    close(referenceMerge(entry('ram', [base([0, 0, 0, 0, 0]), inp([1, 2, 0, 1e-6, -3]), inp([0, 4, 0, 0, 3])])), [1, 3, 0, 0, 0]);
    // epsilon 1.5 drops A's 1 at i0 (and nothing else changes): (2+4)/2, (−3+3)/2
    close(referenceMerge(entry('ram', [base([0, 0, 0, 0, 0]), inp([1, 2, 0, 1e-6, -3]), inp([0, 4, 0, 0, 3])], { epsilon: 1.5 })), [0, 3, 0, 0, 0]);
  });

  it('twin ramplus_tl: unique changes scaled by 1 + r·clamp(shared/unique, 0, alpha)', () => {
    // A changes all 11 entries (1 … 1, 2), B only the last (4): A has 10 unique, 1 shared → ρ = 0.1;
    // r = 0.5 → λA = 1.05 → ten entries 1.05, the shared one (2 + 4)/2 = 3
    const a = [...new Array(10).fill(1), 2];
    const b = [...new Array(10).fill(0), 4];
    close(referenceMerge(entry('ramplus_tl', [base(new Array(11).fill(0)), inp(a), inp(b)], { r: 0.5, alpha: 0.2 })), [...new Array(10).fill(1.05), 3]);
    // alpha caps ρ: A with 1 unique and 2 shared (ρ = 2) → λ = 1 + 0.1·0.2 = 1.02
    close(referenceMerge(entry('ramplus_tl', [base([0, 0, 0]), inp([1, 2, -3]), inp([0, 4, 3])])), [1.02, 3, 0]);
  });

  it('planner: a base is required; epsilon ≥ 0; YAML round trip', () => {
    expect(errorOf(() => plan({ merge_method: 'ram', models: [{ model: 'A' }, { model: 'B' }] })).message).toBe('merge_method ram needs a base_model; the merge has none');
    const eps = errorOf(() => plan({ merge_method: 'ramplus_tl', base_model: 'C', models: [{ model: 'A' }], parameters: { epsilon: -1 } }));
    expect(eps).toBeInstanceOf(MethodError);
    expect(eps.message).toBe('Tensor "model.embed_tokens.weight": ramplus_tl: epsilon must be a number ≥ 0, got -1');
    expect(plan({ merge_method: 'ramplus_tl', base_model: 'C', models: [{ model: 'A' }, { model: 'B' }] }).entries[0].params).toEqual({ r: 0.1, alpha: 0.2, epsilon: 1e-5 });
    const r = yamlRoundTrip(`merge_method: ramplus_tl
base_model: C
models:
  - model: A
  - model: B
parameters:
  r: 0.3
  alpha:
    - filter: mlp
      value: 0.5
    - value: 0.2
  epsilon: 1.0e-06
`);
    expect(r.parameters?.r).toBe(0.3);
    yamlRoundTrip(`merge_method: ram
base_model: C
models:
  - model: A
  - model: B
parameters:
  epsilon: 0.0001
`);
  });
});

// ---- arcee_fusion ---------------------------------------------------------------------------------

describe('arcee_fusion', () => {
  it('twin: one softmax row; the upper outliers of |x − base|·KL are taken', () => {
    // 1-D: one KL for the whole row, so the importance orders like |d| = .1 … .7, 5 (n = 8).
    // Positions floor(q·7) = 1, 3, 5 → Q(¼) = .2·KL, Q(½) = .4·KL, Q(¾) = .6·KL → thr = (.4 + 1.5·.4)·KL = KL
    // → only |d| = 5 ≥ 1 is taken
    const x = [0.1, -0.2, 0.3, -0.4, 0.5, -0.6, 0.7, 5];
    close(referenceMerge(entry('arcee_fusion', [base(new Array(8).fill(0)), inp(x)])), [0, 0, 0, 0, 0, 0, 0, 5]);
  });

  it('twin: KL per row; when most importances are 0 the threshold is 0 and everything is taken (as mergekit)', () => {
    // row 0: x = (1, 0) vs (0, 0): KL > 0 → importance (KL, 0); row 1 identical → KL 0 → (0, 0)
    // sorted (0, 0, 0, KL): positions 0, 1, 2 are all 0 → thr = 0 → importance ≥ 0 everywhere → x
    close(referenceMerge(entry('arcee_fusion', [base([0, 0, 0, 0]), inp([1, 0, 3, 3])], {}, [2, 2])), [1, 0, 3, 3]);
    // the row KL itself: softmax(1, 0) = (0.7310586, 0.2689414) against (½, ½):
    // 0.7310586·ln(1.4621172) + 0.2689414·ln(0.5378828) = 0.7310586·0.3798855 − 0.2689414·0.6201145 = 0.2777185 − 0.1667745 = 0.1109440
    const imp = arceeFusionImportance(entry('arcee_fusion', [base([0, 0, 0, 0]), inp([1, 0, 3, 3])], {}, [2, 2])).importance;
    expect(imp[0]).toBeCloseTo(0.110944, 6);
    expect(Array.from(imp.slice(1))).toEqual([0, 0, 0]);
  });

  it('quantile selection: non-negative values by the top-k of max(v, 0), negative ones by magnitude', () => {
    // n = 10 values, 3 negative: ascending position 5 is the (10 − 5) = 5th largest non-negative …
    expect(quantileSelection(5, 3, 10)).toEqual({ k: 5, form: 'positive', sign: 1 });
    // … position 1 is the 2nd most negative value: the 2nd largest of max(−v, 0), negated
    expect(quantileSelection(1, 3, 10)).toEqual({ k: 2, form: 'negative', sign: -1 });
    expect(quantileSelection(3, 3, 10)).toEqual({ k: 7, form: 'positive', sign: 1 });
    expect(fusionQuantileIndices(8)).toEqual([1, 3, 5]);
    expect(fusionThreshold(0.2, 0.4, 0.6)).toBe(Math.fround(0.4 + Math.fround(1.5 * Math.fround(0.6 - 0.2))));
  });

  it('planner: exactly the base and one other model; float32 output unless out_dtype is set', () => {
    const p = plan({ merge_method: 'arcee_fusion', base_model: 'B', models: [{ model: 'A' }], dtype: 'bfloat16' });
    expect(new Set(p.entries.map((e) => e.outDtype))).toEqual(new Set(['F32']));
    expect(p.config.torch_dtype).toBe('bfloat16'); // mergekit writes dtype there although the tensors are float32 (#604)
    const o = plan({ merge_method: 'arcee_fusion', base_model: 'B', models: [{ model: 'A' }], out_dtype: 'bfloat16' });
    expect(new Set(o.entries.map((e) => e.outDtype))).toEqual(new Set(['BF16']));
    const noBase = errorOf(() => plan({ merge_method: 'arcee_fusion', models: [{ model: 'A' }, { model: 'B' }] }));
    expect(noBase).toBeInstanceOf(RecipeError);
    expect(noBase.message).toBe('arcee_fusion merges exactly two models, one of them the base_model; the merge has 2: A, B and no base_model');
    const three = errorOf(() => plan({ merge_method: 'arcee_fusion', base_model: 'B', models: [{ model: 'A' }, { model: 'C' }] }));
    expect(three.message).toBe('arcee_fusion merges exactly two models, one of them the base_model; the merge has 3: A, C, B (base)');
    // other methods keep the checkpoint dtype
    expect(plan({ merge_method: 'nearswap', base_model: 'B', models: [{ model: 'A' }], parameters: { t: 0.1 } }).entries[0].outDtype).toBe('BF16');
  });

  it('YAML round trip', () => {
    const r = yamlRoundTrip(`merge_method: arcee_fusion
base_model: B
models:
  - model: A
dtype: bfloat16
out_dtype: bfloat16
`);
    expect(r.merge_method).toBe('arcee_fusion');
    const e = errorOf(() => parseMergekitYaml('merge_method: arcee_fusion\nbase_model: B\nmodels:\n  - model: A\nparameters:\n  t: 0.5\n'));
    expect(e).toBeInstanceOf(RecipeError);
  });
});

// LoRA extraction's numerics (merge/extract-lora.ts) on the CPU twin: a delta of rank ≤ r is
// reproduced by B·A up to f32 error; with r below the rank, the kept singular values and the
// retained energy match the delta's known spectrum; the small CPU steps (QR, Jacobi SVD) are exact
// to float64 rounding; which tensors are decomposed and which saved whole, and the config keys.
import { describe, expect, test } from 'vitest';
import { cpuMatmul, decomposeDelta, extractedConfig, jacobiSvd, orthonormalize, planExtraction } from '../../src/merge/extract-lora';
import { matmulF64 } from '../../src/methods/shared/reference/lora';
import type { ModelInfo, TensorInfo } from '../../src/formats/model-info';
import { MemorySource } from '../../src/io/sources';
import { ShapeMismatchError } from '../../src/errors';
import { seeded } from '../fixtures/lora';

/** A delta with a known SVD: D = U·diag(s)·Vᵀ (U m × ρ, V n × ρ orthonormal), stored in f32. */
function knownDelta(m: number, n: number, s: number[], seed: number): Float32Array {
  const rho = s.length;
  const u = orthonormalize(seeded(seed, 'U', m * rho), m, rho).q;
  const v = orthonormalize(seeded(seed, 'V', n * rho), n, rho).q;
  const d = new Float32Array(m * n);
  for (let i = 0; i < m; i++)
    for (let j = 0; j < n; j++) {
      let acc = 0;
      for (let t = 0; t < rho; t++) acc += u[i * rho + t] * s[t] * v[j * rho + t];
      d[i * n + j] = acc;
    }
  return d;
}

describe('randomized SVD of a delta', () => {
  test('rank(D) ≤ r: B·A reproduces D up to f32 error, 100% of the energy retained', async () => {
    const [m, n] = [48, 70];
    const d = knownDelta(m, n, [3, 1.5, 0.7, 0.2, 0.05], 1);
    const f = await decomposeDelta(d, m, n, 'x', { rank: 8 }, cpuMatmul);
    expect(f.rank).toBe(8);
    expect(f.a.length).toBe(8 * n);
    expect(f.b.length).toBe(m * 8);
    const ba = matmulF64(f.b, f.a, m, 8, n);
    let worst = 0;
    let scale = 0;
    for (let i = 0; i < d.length; i++) {
      worst = Math.max(worst, Math.abs(ba[i] - d[i]));
      scale = Math.max(scale, Math.abs(d[i]));
    }
    expect(worst).toBeLessThan(2e-6 * scale);
    expect(f.retained).toBeCloseTo(1, 6);
    expect(f.singular.slice(5).every((x) => x < 1e-5)).toBe(true);
  });

  test('r below the rank: the r largest singular values, the retained energy Σσ²ᵢ<ᵣ / ‖D‖², and the best rank-r error', async () => {
    const [m, n] = [64, 40];
    const s = [4, 2.5, 1.25, 0.6, 0.3, 0.15, 0.07];
    const d = knownDelta(m, n, s, 2);
    const f = await decomposeDelta(d, m, n, 'y', { rank: 3, oversample: 6, powerIterations: 2 }, cpuMatmul);
    for (let i = 0; i < 3; i++) expect(Math.abs(f.singular[i] - s[i]) / s[i]).toBeLessThan(1e-4);
    const total = s.reduce((a, x) => a + x * x, 0);
    expect(Math.abs(f.total - total) / total).toBeLessThan(1e-6);
    expect(Math.abs(f.retained - (s[0] ** 2 + s[1] ** 2 + s[2] ** 2) / total)).toBeLessThan(1e-5);
    // ‖D − BA‖²_F equals the discarded energy (Eckart–Young) to the same accuracy
    const ba = matmulF64(f.b, f.a, m, 3, n);
    let err = 0;
    for (let i = 0; i < d.length; i++) err += (d[i] - ba[i]) ** 2;
    expect(Math.abs(err - (total - (s[0] ** 2 + s[1] ** 2 + s[2] ** 2))) / total).toBeLessThan(1e-5);
  });

  test('a zero delta gives zero factors and no NaN; a 1-row weight keeps rank 1', async () => {
    const z = await decomposeDelta(new Float32Array(12 * 9), 12, 9, 'z', { rank: 4 }, cpuMatmul);
    expect(z.retained).toBe(1);
    expect([...z.a, ...z.b].every((x) => x === 0)).toBe(true);
    const row = await decomposeDelta(Float32Array.from(seeded(3, 'row', 30)), 1, 30, 'row', { rank: 4 }, cpuMatmul);
    expect(row.rank).toBe(1);
    expect(row.retained).toBeCloseTo(1, 6);
  });

  test('the same seed gives the same factors; another seed the same product', async () => {
    const d = knownDelta(30, 20, [2, 1], 4);
    const a = await decomposeDelta(d, 30, 20, 'w', { rank: 2 }, cpuMatmul);
    const b = await decomposeDelta(d, 30, 20, 'w', { rank: 2 }, cpuMatmul);
    expect(b.a).toEqual(a.a);
    const c = await decomposeDelta(d, 30, 20, 'w', { rank: 2, seed: 9 }, cpuMatmul);
    const pa = matmulF64(a.b, a.a, 30, 2, 20);
    const pc = matmulF64(c.b, c.a, 30, 2, 20);
    for (let i = 0; i < pa.length; i++) expect(Math.abs(pa[i] - pc[i])).toBeLessThan(1e-5);
  });
});

describe('the CPU steps', () => {
  test('orthonormalize: QᵀQ = I, Q·R = X, dependent columns completed', () => {
    const [rows, k] = [25, 6];
    const x = seeded(5, 'x', rows * k);
    for (let i = 0; i < rows; i++) x[i * k + 4] = 2 * x[i * k + 1] - x[i * k + 0]; // dependent column
    const { q, r } = orthonormalize(x, rows, k);
    for (let a = 0; a < k; a++)
      for (let b = 0; b < k; b++) {
        let dot = 0;
        for (let i = 0; i < rows; i++) dot += q[i * k + a] * q[i * k + b];
        expect(Math.abs(dot - (a === b ? 1 : 0))).toBeLessThan(1e-12);
      }
    const qr = matmulF64(q, r, rows, k, k);
    for (let i = 0; i < x.length; i++) expect(Math.abs(qr[i] - x[i])).toBeLessThan(1e-6);
  });
  test('jacobiSvd: U·diag(s)·Vᵀ = M, s descending and non-negative', () => {
    const k = 7;
    const m = Float64Array.from(seeded(6, 'm', k * k));
    const { u, s, v } = jacobiSvd(m, k);
    for (let i = 1; i < k; i++) expect(s[i]).toBeLessThanOrEqual(s[i - 1]);
    for (let i = 0; i < k; i++)
      for (let j = 0; j < k; j++) {
        let acc = 0;
        for (let t = 0; t < k; t++) acc += u[i * k + t] * s[t] * v[j * k + t];
        expect(Math.abs(acc - m[i * k + j])).toBeLessThan(1e-12);
      }
  });
});

describe('what is decomposed', () => {
  const src = new MemorySource('m.safetensors', new Uint8Array(0));
  const t = (name: string, shape: number[]): TensorInfo => ({ name, dtype: 'F32', shape, source: src, byteOffset: 0, byteLength: 0 });
  const info = (ref: string, tensors: TensorInfo[]): ModelInfo => ({ ref, name: ref, config: {}, files: new Map(), numLayers: 1, tensors: new Map(tensors.map((x) => [x.name, x])) });
  const names = ['model.embed_tokens.weight', 'model.layers.0.self_attn.q_proj.weight', 'model.layers.0.self_attn.q_proj.bias', 'model.layers.0.input_layernorm.weight', 'model.norm.weight', 'lm_head.weight'];
  const shapes: Record<string, number[]> = { 'model.embed_tokens.weight': [10, 4], 'model.layers.0.self_attn.q_proj.weight': [4, 4], 'model.layers.0.self_attn.q_proj.bias': [4], 'model.layers.0.input_layernorm.weight': [4], 'model.norm.weight': [4], 'lm_head.weight': [10, 4] };
  test('linear weights become LoRA modules; embeddings, lm_head, norms whole (modules_to_save), biases whole beside their module', () => {
    const m = info('ft', names.map((n) => t(n, shapes[n])));
    const p = planExtraction(m, info('base', names.map((n) => t(n, shapes[n]))), 8);
    expect(p.modules.map((x) => [x.module, x.rank])).toEqual([['model.layers.0.self_attn.q_proj', 4]]);
    expect(p.whole.map((x) => x.name).sort()).toEqual(names.filter((n) => n !== 'model.layers.0.self_attn.q_proj.weight').sort());
    expect(p.modulesToSave).toEqual(['embed_tokens', 'input_layernorm', 'lm_head', 'norm']);
  });
  test('a linear weight of another shape in the base is refused naming the tensor', () => {
    const ft = info('ft', [t('model.layers.0.mlp.up_proj.weight', [8, 4])]);
    expect(() => planExtraction(ft, info('base', [t('model.layers.0.mlp.up_proj.weight', [8, 5])]), 2)).toThrow(ShapeMismatchError);
    expect(() => planExtraction(ft, info('base', [t('model.layers.0.mlp.up_proj.weight', [8, 5])]), 2)).toThrow(/^Tensor "model\.layers\.0\.mlp\.up_proj\.weight": \[8, 4\] in ft but \[8, 5\] in the base base; is base the model ft was fine-tuned from\?$/);
    expect(() => planExtraction(ft, info('base', []), 2)).toThrow(/not in the base base/);
  });
  test("adapter_config.json carries PEFT's keys, mergekit's values (alpha = r, rank_pattern for smaller modules)", () => {
    const c = extractedConfig('org/base', new Map([['model.layers.0.self_attn.q_proj', 8], ['model.layers.0.mlp.down_proj', 4]]), ['norm']);
    expect(c).toMatchObject({ peft_type: 'LORA', task_type: 'CAUSAL_LM', r: 8, lora_alpha: 8, base_model_name_or_path: 'org/base', target_modules: ['down_proj', 'q_proj'], modules_to_save: ['norm'], rank_pattern: { 'model.layers.0.mlp.down_proj': 4 }, alpha_pattern: { 'model.layers.0.mlp.down_proj': 4 }, use_rslora: false, fan_in_fan_out: false });
  });
});

describe('npm run extract-lora arguments', () => {
  test('positional fine-tune and base, --rank and --out required, numbers checked, backend named', async () => {
    const { parseExtractArgs } = await import('../../src/cli/extract-lora');
    expect(parseExtractArgs(['ft', 'base', '--rank', '16', '--out', 'o', '--backend', 'webgpu', '--power-iterations=1'])).toEqual({ finetune: 'ft', base: 'base', rank: 16, out: 'o', backend: 'webgpu', powerIterations: 1 });
    expect(parseExtractArgs(['--help'])).toBe('help');
    expect(() => parseExtractArgs(['ft', '--rank', '4', '--out', 'o'])).toThrow(/expected <finetune> <base>, got 1 argument$/);
    expect(() => parseExtractArgs(['ft', 'b', '--out', 'o'])).toThrow(/missing --rank/);
    expect(() => parseExtractArgs(['ft', 'b', '--rank', '0', '--out', 'o'])).toThrow(/--rank/);
    expect(() => parseExtractArgs(['ft', 'b', '--rank', '4'])).toThrow(/missing --out/);
    expect(() => parseExtractArgs(['ft', 'b', '--rank', '4', '--out', 'o', '--backend', 'tpu'])).toThrow(/backend/);
    expect(() => parseExtractArgs(['ft', 'b', '--rank', '4', '--rank', '5', '--out', 'o'])).toThrow(/--rank was given twice/);
  });
});

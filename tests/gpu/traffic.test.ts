// The WebGPU backend's traffic counter (gpu/traffic.ts): a linear merge checked against a hand count
// of its uploads, kernels and readbacks, and counting leaves the output bytes unchanged. Also the
// passes that keep traffic down: the GTA merge fused into one pass for ≤ 3 task vectors (and the
// per-model passes beyond, checked against the CPU engine's f32 replay).
import { describe, expect, test } from 'vitest';
import { getGpu } from '../../src/gpu/device';
import { WebGpuBackend } from '../../src/backends/webgpu/backend';
import type { GpuTraffic } from '../../src/gpu/traffic';
import type { PlanEntry } from '../../src/recipe/plan-types';
import type { Dtype } from '../../src/formats/dtype';
import { gpuBytes, makeEntry, perturb, randn, type TestInput } from './support';
import { cpuTensorBytes } from '../../src/backends/cpu/tensor';

async function mergeCounted(entry: PlanEntry, chunkElements?: number): Promise<{ bytes: Uint8Array; traffic: GpuTraffic }> {
  const backend = new WebGpuBackend(await getGpu());
  const parts: Uint8Array[] = [];
  const res = await backend.mergeTensors([entry], { chunk: async (_e, _c, b) => void parts.push(b), done: async () => {} }, { chunkElements });
  const bytes = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
  let o = 0;
  for (const p of parts) {
    bytes.set(p, o);
    o += p.length;
  }
  if (!res?.gpuTraffic) throw new Error('no traffic reported');
  return { bytes, traffic: res.gpuTraffic };
}

const words16 = (n: number) => 4 * Math.ceil(n / 2);

describe('GPU traffic', () => {
  // 64 × 97 = 6208 elements (even); inputs BF16, BF16, F32; output BF16
  const shape = [64, 97];
  const n = 64 * 97;
  const base = randn(n, 1);
  const dtypes: Dtype[] = ['BF16', 'BF16', 'F32'];
  const entry = () =>
    makeEntry('linear', shape, dtypes.map((dtype, i) => ({ data: perturb(base, i + 2, 0.05), dtype, params: { weight: [0.2, 0.3, 0.5][i] } })), { normalize: true }, 'BF16');

  test('linear, one chunk: stored words up, one wsum pass that encodes, one readback', async () => {
    const { bytes, traffic } = await mergeCounted(entry());
    expect(bytes).toEqual(await gpuBytes(entry()));
    const stored = 2 * n + 2 * n + 4 * n;
    const parts = {
      upload: stored + 3 * 4, // the three inputs' stored words, then the three f32 coefficients
      'wsum.wsum_encode': words16(n) + words16(n) + 4 * n + 3 * 4 + words16(n), // reads: in0, in1, in2, coef; writes the BF16 words
      readback: 2 * n,
      uniforms: 32, // WsumParams
    };
    expect(traffic.parts).toEqual(parts);
    expect(traffic.dispatches).toBe(1);
    expect(traffic.bytes).toBe(Object.values(parts).reduce((a, b) => a + b, 0));
    expect(traffic.inputBytes).toBe(stored);
    expect(traffic.outputBytes).toBe(2 * n);
  });

  test('linear in two chunks moves the same bytes but for one more set of uniform blocks and coefficient reads', async () => {
    const one = await mergeCounted(entry());
    const two = await mergeCounted(entry(), 4096);
    expect(two.bytes).toEqual(one.bytes);
    expect(two.traffic.dispatches).toBe(2);
    expect(two.traffic.parts.uniforms).toBe(2 * one.traffic.parts.uniforms);
    expect(two.traffic.bytes - two.traffic.parts.uniforms).toBe(one.traffic.bytes - one.traffic.parts.uniforms + 3 * 4);
  });

  test('ties, dare_ties, della: counted without changing the output; a second sweep re-uploads but reads no new input', async () => {
    for (const method of ['ties', 'dare_ties', 'della']) {
      const e = () =>
        makeEntry(
          method,
          shape,
          [{ data: base, dtype: 'BF16', isBase: true }, ...[2, 3].map((s, i) => ({ data: perturb(base, s, 0.05), dtype: 'BF16' as Dtype, params: { weight: 0.5, density: [0.5, 0.3][i], epsilon: 0.1 } }))],
          {},
          'BF16',
        );
      const one = await mergeCounted(e());
      expect(one.bytes, method).toEqual(await gpuBytes(e()));
      expect(one.traffic.inputBytes, method).toBe(3 * 2 * n);
      expect(one.traffic.outputBytes, method).toBe(2 * n);
      expect(one.traffic.parts.upload, method).toBeGreaterThanOrEqual(3 * 2 * n);
      // della's chunks hold whole rows of 97: 97 · 42 = 4074 elements per chunk
      const swept = await mergeCounted(e(), 4096);
      expect(swept.bytes, method).toEqual(one.bytes);
      expect(swept.traffic.inputBytes, method).toBe(3 * 2 * n);
      expect(swept.traffic.parts.upload, method).toBeGreaterThan(one.traffic.parts.upload);
      // one fused merge pass that encodes
      expect(one.traffic.parts['gtafused.gta_fused_encode'], method).toBeGreaterThan(0);
      // the top-k selection (ties), DARE's L1 rescale and the merge read the stored words of a
      // resident tensor: each input uploaded once (ties adds its tie-count prefixes), nothing decoded
      if (method !== 'della') {
        expect(one.traffic.parts.upload - 3 * 2 * n, method).toBeGreaterThanOrEqual(0);
        expect(one.traffic.parts.upload - 3 * 2 * n, method).toBeLessThan(64);
        expect(Object.keys(one.traffic.parts).filter((p) => p.startsWith('codec.'))).toEqual([]);
      }
      expect(Object.keys(one.traffic.parts).filter((p) => p.startsWith('gta.') || p.startsWith('encode.')), method).toEqual([]);
    }
  });

  test('task_arithmetic: one pass straight from the stored words (nothing decoded)', async () => {
    const e = makeEntry('task_arithmetic', shape, [{ data: base, dtype: 'BF16', isBase: true }, ...[0.6, -0.4].map((weight, i) => ({ data: perturb(base, 50 + i, 0.05), dtype: 'BF16' as Dtype, params: { weight } }))], {}, 'BF16');
    const { bytes, traffic } = await mergeCounted(e);
    expect(bytes).toEqual(await cpuTensorBytes(e, {}));
    expect(traffic.dispatches).toBe(1);
    // stored words in (3 × 2n) and encoded words out (2n)
    expect(traffic.parts['gtafused.gta_fused_encode']).toBe(3 * words16(n) + words16(n));
  });

  test('four task vectors take the per-model GTA passes: the bytes of the CPU engine', async () => {
    const withBase = (dtype: Dtype, per: Record<string, number>[]): TestInput[] => [
      { data: base, dtype, isBase: true },
      ...per.map((params, i) => ({ data: perturb(base, 40 + i, 0.05), dtype, params })),
    ];
    const cases: [string, Record<string, number>[]][] = [
      ['ties', [0.3, 0.5, 0.7, 0.4].map((density, i) => ({ weight: [0.5, 0.3, 0.9, 0.2][i], density }))],
      ['dare_ties', [0.3, 0.5, 0.7, 0.4].map((density, i) => ({ weight: [0.5, 0.3, 0.9, 0.2][i], density }))],
      ['task_arithmetic', [0.6, -0.4, 0.3, 0.2].map((weight) => ({ weight }))],
    ];
    for (const [method, per] of cases)
      for (const out of ['F32', 'BF16'] as Dtype[]) {
        const e = makeEntry(method, shape, withBase('BF16', per), { normalize: true }, out);
        const { bytes, traffic } = await mergeCounted(e);
        expect(traffic.parts['gtafused.gta_fused'] ?? traffic.parts['gtafused.gta_fused_encode'], method).toBeUndefined();
        expect(bytes, `${method} → ${out}`).toEqual(await cpuTensorBytes(e, {}));
        expect(await gpuBytes(e, 4096), `${method} → ${out}, chunked`).toEqual(bytes);
      }
  });

  test('ties whose cut-off splits a tie: no mask pass (key and index thresholds in the merge), the CPU engine\'s bytes for any chunking', async () => {
    // magnitudes on a coarse grid: many equal |δ|, so every density's cut-off falls inside a tie
    const grid = (seed: number) => perturb(base, seed, 0.05).map((v, i) => base[i] + Math.round((v - base[i]) * 64) / 64);
    const e = () =>
      makeEntry('ties', shape, [{ data: base, dtype: 'F32', isBase: true }, ...[7, 8].map((sd, i) => ({ data: grid(sd), dtype: 'F32' as Dtype, params: { weight: [0.6, 0.5][i], density: [0.37, 0.52][i] } }))], {}, 'F32');
    const one = await mergeCounted(e());
    expect(one.bytes).toEqual(await cpuTensorBytes(e(), {}));
    expect(Object.keys(one.traffic.parts).filter((p) => p === 'select.make_mask' || p === 'select.tie_count')).toEqual([]);
    expect(one.traffic.parts['select.hist_index']).toBeGreaterThan(0); // the tie was split and resolved by index
    const swept = await mergeCounted(e(), 4096);
    expect(swept.bytes).toEqual(one.bytes);
  });

  test('della with rows of at most 1024 slots: one pass per model (keys, sort, mask, L1 sums), the CPU engine\'s bytes', async () => {
    for (const dtype of ['BF16', 'F32'] as Dtype[]) {
      const e = () =>
        makeEntry('della', shape, [{ data: base, dtype, isBase: true }, ...[2, 3].map((sd, i) => ({ data: perturb(base, sd, 0.05), dtype, params: { weight: 0.5, density: [0.5, 0.3][i], epsilon: 0.1 } }))], {}, 'BF16');
      const one = await mergeCounted(e());
      expect(one.bytes, dtype).toEqual(await cpuTensorBytes(e(), {}));
      const parts = Object.keys(one.traffic.parts);
      expect(parts.filter((p) => p.startsWith('prune.mag_') && p !== 'prune.mag_rank_local'), dtype).toEqual([]);
      expect(parts.filter((p) => p === 'prune.l1_rows' || p.startsWith('codec.')), dtype).toEqual([]); // no separate L1 pass, nothing decoded
      expect((await mergeCounted(e(), 4096)).bytes, dtype).toEqual(one.bytes);
    }
  });
});

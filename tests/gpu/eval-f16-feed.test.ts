// f16 evaluation on WebGPU (precision.ts, weights.ts): the half-precision weight copies the graph is
// fed are encoded on the GPU from the merged f32 buffers and equal the CPU codec's f16 bits; the
// service picks f16 only for a device with shader-f16. This machine's adapter (SwiftShader) has no
// shader-f16, so an f16 session cannot run here: the f16 graph is checked on the wasm EP
// (eval-graph.test.ts) and the selection against a device that reports the feature.
import { afterAll, describe, expect, test } from 'vitest';
import { getGpu, type Gpu } from '../../src/gpu/device';
import { Batch, storage } from '../../src/gpu/buffers';
import { mergeResident, ResidentWeights } from '../../src/eval/resident';
import { GpuWeights } from '../../src/eval/weights';
import { EvalService } from '../../src/eval/service';
import { f32ToF16Bits } from '../fixtures/dtype-codec';
import { makeEntry, perturb, randn } from './support';
import { halfBits } from '../../src/formats/dtype-codec';

const disposers: (() => void)[] = [];
afterAll(() => disposers.forEach((d) => d()));

async function readU16(device: GPUDevice, buf: GPUBuffer, n: number): Promise<Uint16Array> {
  const b = new Batch(device);
  b.read(buf, Math.ceil(n / 2) * 4);
  const [raw] = await b.submit();
  return new Uint16Array(raw.buffer, raw.byteOffset, n);
}

describe('f16 weight feeds on WebGPU', () => {
  test('feed(…, "float16") encodes each f32 tensor once on the GPU, bit-equal to the CPU codec (odd lengths, subnormals, overflow)', async () => {
    const gpu = await getGpu();
    const resident = new ResidentWeights(gpu.device);
    const values = new Map<string, Float32Array>([
      ['w.odd', Float32Array.from(randn(1001, 3, 2))],
      ['w.edge', Float32Array.from([0, -0, 1, 65504, 65520, 1e5, -1e5, 6.1e-5, 5.96e-8, 2.98e-8, 1e-10, 1 + 2 ** -11, 1 + 3 * 2 ** -11])],
    ]);
    for (const [name, v] of values) {
      const buffer = storage(gpu.device, v.byteLength);
      gpu.device.queue.writeBuffer(buffer, 0, v.buffer as ArrayBuffer, v.byteOffset, v.byteLength);
      resident.tensors.set(name, { name, shape: [v.length], buffer });
    }
    const w = new GpuWeights(resident, gpu);
    disposers.push(() => w.dispose());
    for (const [name, v] of values) {
      const t = w.feed(name, [v.length], 'float16');
      expect([t.type, t.location, t.dims]).toEqual(['float16', 'gpu-buffer', [v.length]]);
      const bits = await readU16(gpu.device, t.gpuBuffer, v.length);
      expect(Array.from(bits)).toEqual(Array.from(v, f32ToF16Bits));
      // cached: the same buffer on the next feed; the f32 feed is the resident buffer itself
      expect(w.feed(name, [v.length], 'float16').gpuBuffer).toBe(t.gpuBuffer);
      expect(w.feed(name, [v.length]).gpuBuffer).toBe(resident.get(name)!.buffer);
    }
  });

  test("mergeResident store 'f16': each merged tensor kept as half words only (BF16/F32 outputs, chunked, an odd length), fed as is; host() decodes them", async () => {
    const gpu = await getGpu();
    const base = randn(64 * 37 + 1, 11);
    const entries = (['BF16', 'F32'] as const).map((dtype, k) => {
      const e = makeEntry('ties', [base.length], [
        { data: base, dtype: 'BF16', isBase: true },
        { data: perturb(base, 12 + k, 0.05), dtype: 'BF16', params: { weight: 0.7, density: 0.5 } },
        { data: perturb(base, 14 + k, 0.05), dtype: 'BF16', params: { weight: 0.5, density: 0.6 } },
      ], { normalize: true, lambda: 1 }, dtype);
      e.name = `model.layers.${k}.mlp.up_proj.weight`;
      return e;
    });
    const full = await mergeResident(gpu, entries);
    const half = await mergeResident(gpu, entries, { store: 'f16', chunkElements: 1000 });
    disposers.push(() => full.dispose(), () => half.dispose());
    expect(half.bytes * 2).toBeLessThanOrEqual(full.bytes + 8);
    const wFull = new GpuWeights(full, gpu);
    const wHalf = new GpuWeights(half, gpu);
    const { values } = await wFull.host();
    const { values: decoded, bytesReadBack } = await wHalf.host();
    expect(bytesReadBack).toBe(entries.reduce((a, e) => a + Math.ceil(base.length / 2) * 4, 0));
    for (const e of entries) {
      const t = half.get(e.name)!;
      expect(t.dtype).toBe('F16');
      const fed = wHalf.feed(e.name, [base.length], 'float16');
      expect(fed.gpuBuffer).toBe(t.buffer);
      const bits = await readU16(gpu.device, t.buffer, base.length);
      expect(Array.from(bits)).toEqual(Array.from(values.get(e.name)!, f32ToF16Bits));
      expect(Array.from(decoded.get(e.name)!)).toEqual(Array.from(values.get(e.name)!, (v) => Math.fround(halfBits.toF32(f32ToF16Bits(v), 'F16'))));
      expect(() => wHalf.feed(e.name, [base.length], 'float32')).toThrow(/resident as f16/);
    }
  });

  test('the service computes in f16 only on a device with shader-f16 (this adapter: f32; a forced f16 is refused)', async () => {
    const real = await getGpu();
    expect(real.device.features.has('shader-f16')).toBe(false); // SwiftShader: why f16 is not run here
    expect(await new EvalService(getGpu, { backend: 'webgpu' }).graphDtype()).toBe('float32');
    await expect(new EvalService(getGpu, { backend: 'webgpu', precision: 'float16' }).graphDtype()).rejects.toThrow(/shader-f16/);
    const withF16 = async (): Promise<Gpu> => ({ ...real, isFallbackAdapter: false, device: { features: new Set(['shader-f16']) } as unknown as GPUDevice });
    expect(await new EvalService(withF16, { backend: 'webgpu' }).graphDtype()).toBe('float16');
    expect(await new EvalService(withF16, { backend: 'auto' }).graphDtype()).toBe('float16');
    expect(await new EvalService(withF16, { backend: 'webgpu', precision: 'float32' }).graphDtype()).toBe('float32');
    expect(await new EvalService(withF16, { backend: 'wasm' }).graphDtype()).toBe('float32');
  });
});

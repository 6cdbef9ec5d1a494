// LoRA on the engine: the tiled lora_matmul kernel against its CPU twin (identical bits) and a
// float64 reference (within the f32 summation bound), for odd shapes, ranks 1..64, transposed
// operands, chunk ranges starting mid-row and stored 16-bit inputs; then whole tensors with an
// adapter through both engines (WebGPU TensorJob and the CPU engine), byte for byte, any chunking;
// and LoRA extraction's randomized SVD with its products on WebGPU, equal to the CPU twin's.
import { describe, expect, test } from 'vitest';
import { getGpu } from '../../src/gpu/device';
import { Batch, storage, uploadBytes } from '../../src/gpu/buffers';
import { loraMatmul } from '../../src/gpu/ops-lora';
import { loraMatmulCpu } from '../../src/methods/shared/cpu/lora';
import { cpuTensorBytes } from '../../src/backends/cpu/tensor';
import { MemorySource } from '../../src/io/sources';
import type { Dtype } from '../../src/formats/dtype';
import type { LoraTarget } from '../../src/formats/model-info';
import { decodeElements } from '../../src/formats/dtype-codec';
import { loraApplyF64 } from '../../src/methods/shared/reference/lora';
import { encodeF32, roundTo } from '../fixtures/dtype-codec';
import { gpuBytes, makeEntry, randn } from './support';
import { cpuMatmul, decomposeDelta } from '../../src/merge/extract-lora';
import { webgpuMatmul } from '../../src/merge/extract-lora-webgpu';

const U = 2 ** -24;
const f32bytes = (v: Float32Array) => new Uint8Array(v.buffer, v.byteOffset, v.byteLength);

async function gpuProduct(
  L: { data: Float32Array; s0: number; s1: number },
  R: { data: Float32Array; s0: number; s1: number },
  g: { cols: number; inner: number; start: number; n: number },
  scale: number,
  x?: { bytes: Uint8Array; dtype: Dtype },
): Promise<Float32Array> {
  const { device } = await getGpu();
  const lb = uploadBytes(device, f32bytes(L.data));
  const rb = uploadBytes(device, f32bytes(R.data));
  const xb = x ? uploadBytes(device, x.bytes) : undefined;
  const out = storage(device, g.n * 4);
  const b = new Batch(device);
  loraMatmul(b, { buf: lb, s0: L.s0, s1: L.s1 }, { buf: rb, s0: R.s0, s1: R.s1 }, out, g, { scale, x: xb && { words: xb, dtype: x!.dtype } });
  b.read(out, g.n * 4);
  const [bytes] = await b.submit();
  for (const buf of [lb, rb, xb, out]) buf?.destroy();
  return new Float32Array(bytes.buffer, bytes.byteOffset, g.n);
}

interface Case {
  rows: number;
  cols: number;
  rank: number;
  transposed: boolean;
  start: number;
  n: number;
  dtype?: Dtype;
  scale: number;
}

const CASES: Case[] = [
  { rows: 1, cols: 1, rank: 1, transposed: false, start: 0, n: 1, scale: 1 },
  { rows: 17, cols: 33, rank: 1, transposed: false, start: 0, n: 17 * 33, scale: 2 },
  { rows: 31, cols: 47, rank: 7, transposed: true, start: 0, n: 31 * 47, scale: 0.75 },
  { rows: 70, cols: 19, rank: 64, transposed: false, start: 5, n: 70 * 19 - 9, scale: 16 / Math.sqrt(64), dtype: 'BF16' },
  { rows: 5, cols: 300, rank: 16, transposed: true, start: 299, n: 602, scale: 0.5, dtype: 'F16' },
  { rows: 129, cols: 65, rank: 33, transposed: false, start: 1024, n: 4096, scale: 1.25, dtype: 'F32' },
  { rows: 40, cols: 40, rank: 17, transposed: false, start: 0, n: 1600, scale: 3, dtype: 'BF16' },
];

describe('lora_matmul: GPU vs CPU twin vs float64', () => {
  for (const c of CASES) {
    test(`W [${c.rows}, ${c.cols}] r=${c.rank}${c.transposed ? ' transposed' : ''} elements [${c.start}, ${c.start + c.n})${c.dtype ? ` + ${c.dtype} x` : ''}`, async () => {
      const seed = c.rows * 1000 + c.cols * 10 + c.rank;
      const a = randn(c.rank * (c.transposed ? c.rows : c.cols), seed); // A [r, in]
      const b = randn((c.transposed ? c.cols : c.rows) * c.rank, seed + 1); // B [out, r]
      const wFull = c.dtype ? roundTo(randn(c.rows * c.cols, seed + 2), c.dtype) : new Float32Array(c.rows * c.cols);
      const geometry = c.transposed
        ? { L: { data: a, s0: 1, s1: c.rows }, R: { data: b, s0: 1, s1: c.rank } }
        : { L: { data: b, s0: c.rank, s1: 1 }, R: { data: a, s0: c.cols, s1: 1 } };
      const chunkW = wFull.subarray(c.start, c.start + c.n);
      const x = c.dtype ? { bytes: encodeF32(chunkW, c.dtype), dtype: c.dtype } : undefined;
      const g = { cols: c.cols, inner: c.rank, start: c.start, n: c.n };
      const gpu = await gpuProduct(geometry.L, geometry.R, g, c.scale, x);
      const cpu = loraMatmulCpu(geometry.L, geometry.R, g, { scale: c.scale, x: x && decodeElements(x.bytes, x.dtype) });
      // identical bits
      expect(new Uint32Array(gpu.buffer, gpu.byteOffset, gpu.length)).toEqual(new Uint32Array(cpu.buffer));
      // float64: W + scale·ΔW, within the recursive-summation bound (inner + 2 roundings) plus one for the add
      const ref = loraApplyF64(wFull, c.rows, c.cols, a, b, c.rank, Math.fround(c.scale), c.transposed);
      const abs = loraApplyF64(new Float32Array(c.rows * c.cols), c.rows, c.cols, a.map(Math.abs), b.map(Math.abs), c.rank, Math.abs(c.scale), c.transposed);
      let worst = 0;
      for (let i = 0; i < c.n; i++) {
        const gi = c.start + i;
        const bound = (c.rank + 2) * U * abs[gi] * 1.01 + U * Math.abs(ref[gi]) * 1.01 + 1e-30;
        worst = Math.max(worst, Math.abs(gpu[i] - ref[gi]) / bound);
      }
      expect(worst).toBeLessThanOrEqual(1);
    });
  }
});

/** A LoRA target over in-memory factors (A [r, in], B [out, r] as f32 files). */
function loraOf(a: Float32Array, b: Float32Array, aShape: number[], bShape: number[], scale: number, transposed: boolean, dtype: Dtype = 'F32'): LoraTarget {
  const ab = encodeF32(a, dtype);
  const bb = encodeF32(b, dtype);
  const file = new Uint8Array(3 + ab.length + bb.length);
  file.set(ab, 3);
  file.set(bb, 3 + ab.length);
  const src = new MemorySource('adapter/adapter_model.safetensors', file);
  return {
    adapter: 'adapter',
    a: { name: 'base_model.model.x.lora_A.weight', dtype, shape: aShape, source: src, byteOffset: 3, byteLength: ab.length },
    b: { name: 'base_model.model.x.lora_B.weight', dtype, shape: bShape, source: src, byteOffset: 3 + ab.length, byteLength: bb.length },
    rank: aShape[0],
    scale,
    transposed,
  };
}

describe('a tensor with an adapter, through both engines', () => {
  const ROWS = 97;
  const COLS = 211;
  const cases: { method: string; dtype: Dtype; rank: number; transposed: boolean; outDtype: Dtype; computeBf16?: boolean; adapterDtype?: Dtype }[] = [
    { method: 'linear', dtype: 'F32', rank: 8, transposed: false, outDtype: 'F32' },
    { method: 'task_arithmetic', dtype: 'BF16', rank: 5, transposed: true, outDtype: 'BF16', adapterDtype: 'BF16' },
    { method: 'ties', dtype: 'F16', rank: 64, transposed: false, outDtype: 'F16', computeBf16: true },
    { method: 'slerp', dtype: 'BF16', rank: 3, transposed: false, outDtype: 'F32' },
  ];
  for (const c of cases) {
    test(`${c.method}, ${c.dtype} base + r=${c.rank}${c.transposed ? ' transposed' : ''} adapter: same bytes on WebGPU and the CPU engine, any chunking`, async () => {
      const n = ROWS * COLS;
      const base = randn(n, 7);
      const ft = randn(n, 8, 0.5).map((v, i) => base[i] + 0.05 * v);
      const a = randn(c.rank * (c.transposed ? ROWS : COLS), 9, 0.3);
      const b = randn((c.transposed ? COLS : ROWS) * c.rank, 10, 0.3);
      const aShape = [c.rank, c.transposed ? ROWS : COLS];
      const bShape = [c.transposed ? COLS : ROWS, c.rank];
      const withBase = c.method !== 'linear';
      const inputs = withBase
        ? [{ data: base, dtype: c.dtype, isBase: true }, { data: ft, dtype: c.dtype, params: { weight: 0.7, density: 0.5 } }]
        : [{ data: ft, dtype: c.dtype, params: { weight: 1 } }];
      const entry = makeEntry(c.method, [ROWS, COLS], inputs, c.method === 'slerp' ? { t: 0.4 } : {}, c.outDtype);
      if (c.computeBf16) entry.computeDtype = 'BF16';
      // the adapter sits on the last input (the fine-tune side)
      const last = entry.inputs[entry.inputs.length - 1];
      const plain = await cpuTensorBytes(entry, {});
      last.tensor = { ...last.tensor, lora: loraOf(a, b, aShape, bShape, 0.5, c.transposed, c.adapterDtype) };
      const gpu = await gpuBytes(entry);
      const gpuChunked = await gpuBytes(entry, 4096);
      const cpu = await cpuTensorBytes(entry, {});
      const cpuChunked = await cpuTensorBytes(entry, { chunkElements: 4096 });
      expect(gpuChunked).toEqual(gpu);
      expect(cpu).toEqual(gpu);
      expect(cpuChunked).toEqual(gpu);
      expect(cpu).not.toEqual(plain); // the adapter was applied
      if (c.method === 'linear') {
        // weight 1 on one model: the output is the adapted tensor, W + 0.5·B·A within f32 rounding
        const ref = loraApplyF64(roundTo(ft, c.dtype), ROWS, COLS, a, b, c.rank, 0.5, c.transposed);
        const out = new Float32Array(gpu.buffer, gpu.byteOffset, n);
        let worst = 0;
        for (let i = 0; i < n; i++) worst = Math.max(worst, Math.abs(out[i] - ref[i]) / (1e-6 + 1e-5 * Math.abs(ref[i])));
        expect(worst).toBeLessThanOrEqual(1);
      }
    });
  }
});

describe('extraction products on WebGPU', () => {
  test('a randomized SVD with the lora_matmul kernel gives the CPU twin’s factors bit for bit', async () => {
    const { device } = await getGpu();
    const [m, n] = [75, 131];
    // a delta of rank 6 plus small noise, so the power iterations and truncation all matter
    const u = randn(m * 6, 31);
    const v = randn(6 * n, 32);
    const d = Float32Array.from(loraApplyF64(randn(m * n, 33, 1e-3), m, n, v, u, 6, 1, false));
    const engine = webgpuMatmul(device);
    try {
      const gpu = await decomposeDelta(d, m, n, 'model.layers.0.mlp.up_proj', { rank: 4 }, engine);
      const cpu = await decomposeDelta(d, m, n, 'model.layers.0.mlp.up_proj', { rank: 4 }, cpuMatmul);
      expect(new Uint32Array(gpu.a.buffer)).toEqual(new Uint32Array(cpu.a.buffer));
      expect(new Uint32Array(gpu.b.buffer)).toEqual(new Uint32Array(cpu.b.buffer));
      expect(gpu.singular).toEqual(cpu.singular);
      expect(gpu.retained).toBeGreaterThan(0.5);
    } finally {
      engine.dispose?.();
    }
  });
});

describe('a cropped input with an adapter (embeddings cropped to the base vocabulary)', () => {
  test('the crop keeps the leading rows and columns of W + scale·ΔW on both engines, any chunking', async () => {
    const [rows, cols, r] = [97, 211, 6];
    const [outRows, outCols] = [90, 200];
    const w = randn(rows * cols, 41);
    for (const transposed of [false, true]) {
      const a = randn(r * (transposed ? rows : cols), 42, 0.3);
      const b = randn((transposed ? cols : rows) * r, 43, 0.3);
      const entry = makeEntry('linear', [rows, cols], [{ data: w, dtype: 'BF16', params: { weight: 1 } }], {}, 'F32');
      entry.shape = [outRows, outCols];
      const inp = entry.inputs[0];
      inp.crop = [outRows, outCols];
      inp.tensor = { ...inp.tensor, lora: loraOf(a, b, [r, transposed ? rows : cols], [transposed ? cols : rows, r], 0.25, transposed) };
      const gpu = await gpuBytes(entry);
      expect(await gpuBytes(entry, 4096)).toEqual(gpu);
      expect(await cpuTensorBytes(entry, {})).toEqual(gpu);
      expect(await cpuTensorBytes(entry, { chunkElements: 4096 })).toEqual(gpu);
      const full = loraApplyF64(roundTo(w, 'BF16'), rows, cols, a, b, r, 0.25, transposed);
      const out = new Float32Array(gpu.buffer, gpu.byteOffset, outRows * outCols);
      for (let i = 0; i < outRows; i++)
        for (let j = 0; j < outCols; j++) {
          const ref = full[i * cols + j];
          expect(Math.abs(out[i * outCols + j] - ref)).toBeLessThanOrEqual(1e-6 + 1e-5 * Math.abs(ref));
        }
    }
  });
});

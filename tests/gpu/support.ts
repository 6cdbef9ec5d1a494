// Helpers for GPU-vs-reference tests in real Chromium: build plan entries over in-memory tensors,
// run them through the engine's GPU path, and run the CPU twin on the same (dtype-rounded) data.
import type { PlanEntry, PlanInput } from '../../src/recipe/plan-types';
import type { Dtype } from '../../src/formats/dtype';
import { MemorySource } from '../../src/io/sources';
import { getGpu } from '../../src/gpu/device';
import { mergeTensor } from '../../src/backends/webgpu/execute';
import { referenceMerge } from '../../src/methods/reference';
import { decodeToF32, encodeF32, roundTo } from '../fixtures/dtype-codec';
import { mulberry32 } from '../fixtures/prng';

export interface TestInput {
  data: Float32Array;
  dtype: Dtype;
  isBase?: boolean;
  params?: Record<string, number | boolean | string>;
}

export function randn(n: number, seed: number, scale = 1): Float32Array {
  const r = mulberry32(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const u = Math.max(r(), 1e-12);
    out[i] = scale * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * r());
  }
  return out;
}

/** A fine-tune-like tensor: base + scale·noise. */
export function perturb(base: Float32Array, seed: number, scale: number): Float32Array {
  const d = randn(base.length, seed, scale);
  return base.map((x, i) => x + d[i]);
}

export function makeEntry(method: string, shape: number[], inputs: TestInput[], params: Record<string, number | boolean | string> = {}, outDtype: Dtype = 'F32'): PlanEntry {
  const planInputs: PlanInput[] = inputs.map((inp, i) => {
    const bytes = encodeF32(inp.data, inp.dtype);
    const pad = 5; // unaligned offset inside the "file"
    const file = new Uint8Array(bytes.length + pad);
    file.set(bytes, pad);
    return {
      model: `m${i}`,
      isBase: !!inp.isBase,
      params: inp.params ?? {},
      tensor: { name: 't', dtype: inp.dtype, shape, source: new MemorySource(`m${i}.safetensors`, file), byteOffset: pad, byteLength: bytes.length },
    };
  });
  return { name: 'model.layers.0.mlp.up_proj.weight', shape, method, inputs: planInputs, params, outDtype, seed: 1 };
}

/** Runs the entry on the GPU; returns the raw output bytes. */
export async function gpuBytes(entry: PlanEntry, chunkElements?: number): Promise<Uint8Array> {
  const gpu = await getGpu();
  const parts: Uint8Array[] = [];
  await mergeTensor(gpu, entry, chunkElements, undefined, async (_c, bytes) => {
    parts.push(bytes);
  });
  const out = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

export async function gpuValues(entry: PlanEntry, chunkElements?: number): Promise<Float32Array> {
  return decodeToF32(await gpuBytes(entry, chunkElements), entry.outDtype);
}

/** The CPU twin on the same inputs (rounded to their storage dtype), rounded to the output dtype. */
export function referenceValues(entry: PlanEntry, inputs: TestInput[]): Float32Array {
  const out = referenceMerge({
    name: entry.name,
    method: entry.method,
    shape: entry.shape,
    params: entry.params,
    seed: entry.seed,
    inputs: inputs.map((inp, i) => ({ data: roundTo(inp.data, inp.dtype), isBase: !!inp.isBase, params: entry.inputs[i].params, shape: entry.shape })),
  });
  return roundTo(out, entry.outDtype);
}

/** Max |a−b| / (|b| + atol) style check; returns the worst index for messages. */
export function closeness(a: Float32Array, b: Float32Array, rtol: number, atol: number): { ok: boolean; worst: number; detail: string } {
  if (a.length !== b.length) return { ok: false, worst: -1, detail: `length ${a.length} vs ${b.length}` };
  let worst = -1;
  let worstExcess = 0;
  for (let i = 0; i < a.length; i++) {
    const tol = atol + rtol * Math.abs(b[i]);
    const err = Math.abs(a[i] - b[i]);
    const bothNaN = Number.isNaN(a[i]) && Number.isNaN(b[i]);
    if (!bothNaN && !(err <= tol)) {
      const excess = Number.isFinite(err) ? err - tol : Infinity;
      if (excess > worstExcess || worst < 0) {
        worstExcess = excess;
        worst = i;
      }
    }
  }
  return { ok: worst < 0, worst, detail: worst < 0 ? '' : `index ${worst}: gpu ${a[worst]} vs reference ${b[worst]}` };
}

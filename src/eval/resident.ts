// Merged weights that never leave the GPU: every plan entry runs through the same method kernels as
// a merge to disk, but each chunk's f32 result is copied into one whole-tensor buffer instead of
// being encoded and read back. The evaluator feeds those buffers to onnxruntime-web as graph inputs
// (Tensor.fromGpuBuffer), so a candidate costs kernels + one forward pass and zero weight readback.
import type { Gpu } from '../gpu/device';
import type { Plan, PlanEntry } from '../recipe/plan-types';
import type { InputCacheLike } from '../gpu/input-cache';
import { UnsupportedError, MethodError } from '../errors';
import { TensorJob, elementCount } from '../gpu/tensor-job';
import { chunkLimit } from '../backends/webgpu/execute';
import { gpuMethod } from '../methods/webgpu';
import { Batch, storage } from '../gpu/buffers';
import { decode, encode16 } from '../gpu/ops';

export interface ResidentTensor {
  name: string;
  shape: number[];
  /**
   * The values, already rounded through the recipe's output dtype (what a written checkpoint would
   * hold): f32, or — with `store: 'f16'` — IEEE half words, two per u32 (what an f16 graph reads).
   */
  buffer: GPUBuffer;
  /** Element type of `buffer` (default 'F32'). */
  dtype?: 'F32' | 'F16';
}

/** A set of resident tensors by name; dispose() frees them all. */
export class ResidentWeights {
  readonly tensors = new Map<string, ResidentTensor>();
  constructor(readonly device: GPUDevice) {}

  get(name: string): ResidentTensor | undefined {
    return this.tensors.get(name);
  }

  get bytes(): number {
    let n = 0;
    for (const t of this.tensors.values()) n += elementCount(t.shape) * (t.dtype === 'F16' ? 2 : 4);
    return n;
  }

  dispose(): void {
    for (const t of this.tensors.values()) t.buffer.destroy();
    this.tensors.clear();
  }
}

export interface ResidentOptions {
  signal?: AbortSignal;
  /** Decoded inputs kept across candidates with the same models (the base and experts do not change). */
  inputCache?: InputCacheLike;
  /** Only these output tensors (default: all). */
  only?: (name: string) => boolean;
  chunkElements?: number;
  /**
   * 'f32' (default), or 'f16' for an f16 evaluation graph: each tensor is encoded to half words as
   * soon as it is merged and its f32 buffer freed, so the resident set is half the size and the peak
   * is that plus one tensor in f32.
   */
  store?: 'f32' | 'f16';
}

/** Runs a plan's entries on the GPU and keeps every output tensor resident (f32, or f16 with `store`). */
export async function mergeResident(gpu: Gpu, plan: Plan | PlanEntry[], opts: ResidentOptions = {}): Promise<ResidentWeights> {
  const entries = Array.isArray(plan) ? plan : plan.entries;
  const out = new ResidentWeights(gpu.device);
  try {
    for (const entry of entries) {
      if (opts.only && !opts.only(entry.name)) continue;
      const f32 = await mergeOne(gpu, entry, opts);
      if (opts.store !== 'f16') {
        out.tensors.set(entry.name, { name: entry.name, shape: entry.shape, buffer: f32 });
        continue;
      }
      const n = elementCount(entry.shape);
      const half = storage(gpu.device, Math.ceil(n / 2) * 4, `resident-f16:${entry.name}`);
      if (n > 0) {
        const b = new Batch(gpu.device);
        encode16(b, 'F16', f32, half, n);
        b.temps.push(f32);
        await b.submit();
      } else f32.destroy();
      out.tensors.set(entry.name, { name: entry.name, shape: entry.shape, buffer: half, dtype: 'F16' });
    }
    return out;
  } catch (e) {
    out.dispose();
    throw e;
  }
}

async function mergeOne(gpu: Gpu, entry: PlanEntry, opts: ResidentOptions): Promise<GPUBuffer> {
  const method = gpuMethod(entry.method);
  if (!method) throw new UnsupportedError(`merge method "${entry.method}" has no GPU implementation`);
  const n = elementCount(entry.shape);
  const device = gpu.device;
  const target = storage(device, n * 4, `resident:${entry.name}`);
  if (n === 0) return target;
  const job = new TensorJob(device, entry, {
    chunkElements: chunkLimit(gpu, entry, opts.chunkElements),
    rowLen: method.rowLen?.({ entry }),
    signal: opts.signal,
    inputCache: opts.inputCache,
  });
  let covered = 0;
  try {
    await method.run(job, async (c, result) => {
      const b = job.batch();
      if (entry.outDtype === 'F32') {
        b.enc.copyBufferToBuffer(result, 0, target, c.start * 4, c.count * 4);
      } else {
        // Round through the output dtype exactly as the written checkpoint would, then widen again.
        const words = storage(device, Math.ceil(c.count / 2) * 4, 'resident-words');
        const widened = storage(device, c.count * 4, 'resident-widened');
        encode16(b, entry.outDtype, result, words, c.count);
        decode(b, entry.outDtype, words, widened, c.count);
        b.enc.copyBufferToBuffer(widened, 0, target, c.start * 4, c.count * 4);
        b.temps.push(words, widened);
      }
      await b.submit();
      covered += c.count;
    });
  } catch (e) {
    target.destroy();
    throw e;
  } finally {
    job.dispose();
  }
  if (covered !== n) {
    target.destroy();
    throw new MethodError(`internal error: tensor "${entry.name}" produced ${covered} elements, expected ${n}`);
  }
  return target;
}

// Whole-tensor statistics from per-block (or per-row) f32 partials, combined in f64 in block order.
import type { TensorJob, Chunk } from '../../../gpu/tensor-job';
import { uploadF32 } from '../../../gpu/buffers';
import type { Batch } from '../../../gpu/buffers';

/**
 * Runs `record` on every chunk; it records reductions writing `outputs` partial arrays (one f32 per
 * block/row of the chunk) into the given buffers. Returns, per output, all partials in order.
 */
export async function collectPartials(
  job: TensorJob,
  outputs: number,
  partsPerChunk: (c: Chunk) => number,
  record: (b: Batch, c: Chunk, outs: GPUBuffer[]) => Promise<void> | void,
): Promise<Float32Array[]> {
  const all: Float32Array[][] = Array.from({ length: outputs }, () => []);
  for (const c of job.chunks) {
    const parts = partsPerChunk(c);
    const outs = Array.from({ length: outputs }, (_, k) => job.scratch(`partials${k}`, Math.max(16, parts * 4)));
    const b = job.batch();
    await record(b, c, outs);
    outs.forEach((o) => b.read(o, parts * 4));
    const res = await b.submit();
    res.forEach((bytes, k) => all[k].push(new Float32Array(bytes.buffer, bytes.byteOffset, parts)));
    job.endChunk();
  }
  return all.map((list) => {
    const total = list.reduce((a, x) => a + x.length, 0);
    const out = new Float32Array(total);
    let o = 0;
    for (const x of list) {
      out.set(x, o);
      o += x.length;
    }
    return out;
  });
}

export function sum64(xs: Float32Array): number {
  let s = 0;
  for (let i = 0; i < xs.length; i++) s += xs[i];
  return s;
}

/** A coefficient buffer (f32) for axpy. */
export function coefs(job: TensorJob, name: string, values: ArrayLike<number>): GPUBuffer {
  return job.own(name, uploadF32(job.device, Float32Array.from(values), 'f32', job.traffic));
}

/** Copies input i through unchanged, chunk by chunk (a tensor with nothing to merge). */
export async function emitInput(job: TensorJob, emit: (c: Chunk, out: GPUBuffer) => Promise<void>, i: number): Promise<void> {
  for (const c of job.chunks) {
    await emit(c, await job.input(i, c));
    job.endChunk();
  }
}

// One plan entry on the CPU engine, in this thread: method passes over chunks, then encode to the
// output dtype chunk by chunk in order.
import type { PlanEntry } from '../../recipe/plan-types';
import { itemSize } from '../../formats/dtype';
import { MethodError, UnsupportedError } from '../../errors';
import { readChunkBytes } from '../../recipe/chunk-read';
import { RowGatherReader } from '../../recipe/row-gather';
import { CpuTensorJob, CPU_CHUNK, splitChunks, elementCount, type Chunk } from './job';
import { cpuMethod } from '../../methods/cpu';
import { encodeValues } from './encode';
import { roundThrough } from '../../formats/dtype-codec';

export interface CpuTensorOptions {
  chunkElements?: number;
  signal?: AbortSignal;
  ioOnly?: boolean;
}

export async function cpuMergeTensor(entry: PlanEntry, o: CpuTensorOptions, write: (c: Chunk, bytes: Uint8Array) => Promise<void>): Promise<void> {
  if (o.ioOnly) {
    // the same reads as a single-sweep kernel makes (methods/shared/cpu/read-ahead.ts: the next
    // chunk's in flight while this one is handled), so the floor is not slower than the merge
    const read = (c: Chunk) => Promise.all(entry.inputs.map((inp, i) => (inp.rows ? new RowGatherReader(entry, i, o.signal).chunk(c) : readChunkBytes(inp, c, o.signal))));
    const chunks = splitChunks(elementCount(entry.shape), o.chunkElements ?? CPU_CHUNK);
    let next: Promise<unknown> | undefined;
    for (let k = 0; k < chunks.length; k++) {
      await (next ?? read(chunks[k]));
      next = k + 1 < chunks.length ? read(chunks[k + 1]) : undefined;
      next?.catch(() => {});
      await write(chunks[k], new Uint8Array(chunks[k].count * itemSize(entry.outDtype)));
    }
    return;
  }
  const method = cpuMethod(entry.method);
  if (!method) throw new UnsupportedError(`merge method "${entry.method}" has no CPU implementation`);
  const job = new CpuTensorJob(entry, { chunkElements: o.chunkElements, rowLen: method.rowLen?.(entry), singleSweep: method.singleSweep?.(entry), signal: o.signal, encodeTo: entry.outDtype });
  try {
    if (job.n === 0) {
      await write({ index: 0, start: 0, count: 0 }, new Uint8Array(0));
      return;
    }
    await method.run(job, async (c, out, encoded) => {
      const have = encoded ? encoded.byteLength / itemSize(entry.outDtype) : out.length;
      if (have !== c.count) throw new MethodError(`internal error: tensor "${entry.name}" chunk at ${c.start} has ${have} values, expected ${c.count}`, { tensor: entry.name });
      await write(c, encoded ?? encodeValues(out, entry.outDtype));
    });
  } finally {
    job.dispose();
  }
}

/** The whole tensor's encoded bytes (what a worker thread sends back). */
export async function cpuTensorBytes(entry: PlanEntry, o: CpuTensorOptions): Promise<Uint8Array> {
  const out = new Uint8Array(elementCount(entry.shape) * itemSize(entry.outDtype));
  let at = 0;
  await cpuMergeTensor(entry, o, async (_c, bytes) => {
    out.set(bytes, at);
    at += bytes.byteLength;
  });
  if (at !== out.byteLength) throw new MethodError(`internal error: tensor "${entry.name}" produced ${at} bytes, expected ${out.byteLength}`, { tensor: entry.name });
  return out;
}

/**
 * One entry's f32 values as a checkpoint of its outDtype would hold them (the evaluator's CPU
 * weights: the same values the WebGPU engine keeps resident), inputs from `decoded`.
 */
export async function cpuMergeValues(entry: PlanEntry, decoded: (i: number) => Promise<Float32Array>, signal?: AbortSignal): Promise<Float32Array> {
  const method = cpuMethod(entry.method);
  if (!method) throw new UnsupportedError(`merge method "${entry.method}" has no CPU implementation`);
  const job = new CpuTensorJob(entry, { rowLen: method.rowLen?.(entry), signal, decoded });
  const out = new Float32Array(job.n);
  try {
    if (job.n > 0)
      await method.run(job, async (c, values) => {
        if (values.length !== c.count) throw new MethodError(`internal error: tensor "${entry.name}" chunk at ${c.start} has ${values.length} values, expected ${c.count}`, { tensor: entry.name });
        out.set(values, c.start);
      });
  } finally {
    job.dispose();
  }
  return entry.outDtype === 'F32' ? out : roundThrough(out, entry.outDtype);
}

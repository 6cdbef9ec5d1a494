// Runs one plan entry on the GPU: method kernels over chunks, then encode to the output dtype and
// read back, chunk by chunk and in order.
import type { Gpu } from '../gpu/device';
import type { PlanEntry } from '../recipe/plan-types';
import { UnsupportedError } from '../errors';
import { TensorJob, readChunkBytes, splitChunks, elementCount, type Chunk } from './tensor-job';
import { itemSize } from '../formats/dtype';
import { gpuMethod } from './gpu';
import { encode16 } from '../gpu/ops';
import { storage } from '../gpu/buffers';

/** GPU memory a tensor's chunk set may use (inputs + scratch), bounding peak memory. */
const CHUNK_BUDGET_BYTES = 384 * 1024 * 1024;

/** Elements per chunk for an entry: the binding limit, the memory budget, or a forced size. */
export function chunkLimit(gpu: Gpu, entry: PlanEntry, chunkElements?: number): number {
  const budget = Math.floor(CHUNK_BUDGET_BYTES / (4 * (entry.inputs.length + 5)));
  return Math.min(chunkElements ?? Infinity, gpu.maxBindingElements, budget);
}

/**
 * Starts reading the inputs of a tensor that will be merged next, when it fits one chunk (its
 * bytes are then exactly what the job's first read needs): I/O overlaps the current tensor's GPU work.
 */
export function prefetchTensor(gpu: Gpu, entry: PlanEntry, chunkElements: number | undefined, signal?: AbortSignal): Promise<Uint8Array>[] | undefined {
  const method = gpuMethod(entry.method);
  const n = elementCount(entry.shape);
  const chunks = splitChunks(n, chunkLimit(gpu, entry, chunkElements), method?.rowLen?.({ entry }));
  if (n === 0 || chunks.length !== 1) return undefined;
  return entry.inputs.map((inp) => {
    const p = readChunkBytes(inp, chunks[0], signal);
    p.catch(() => {}); // observed by the job that consumes it
    return p;
  });
}

/** Runs one plan entry on the GPU and hands its encoded bytes, chunk by chunk and in order, to `write`. */
export async function mergeTensor(
  gpu: Gpu,
  entry: PlanEntry,
  chunkElements: number | undefined,
  signal: AbortSignal | undefined,
  write: (c: Chunk, bytes: Uint8Array) => Promise<void>,
  prefetched?: Promise<Uint8Array>[],
): Promise<void> {
  const method = gpuMethod(entry.method);
  if (!method) throw new UnsupportedError(`merge method "${entry.method}" has no GPU implementation`);
  const job = new TensorJob(gpu.device, entry, { chunkElements: chunkLimit(gpu, entry, chunkElements), rowLen: method.rowLen?.({ entry }), signal, prefetched });
  try {
    if (job.n === 0) {
      await write({ index: 0, start: 0, count: 0 }, new Uint8Array(0));
      return;
    }
    await method.run(job, async (c, out) => {
      const b = job.batch();
      let bytes: number;
      if (entry.outDtype === 'F32') {
        bytes = c.count * 4;
        b.read(out, bytes);
      } else {
        const words = storage(gpu.device, Math.ceil(c.count / 2) * 4, 'encoded');
        encode16(b, entry.outDtype, out, words, c.count);
        bytes = c.count * 2;
        b.read(words, bytes);
        b.temps.push(words);
      }
      const [data] = await b.submit();
      await write(c, data);
    });
  } finally {
    job.dispose();
  }
}

/**
 * The I/O floor for benchmarks: reads the same input byte ranges in the same chunks as a merge
 * and writes an output of the right size (zeros), without touching the GPU.
 */
export async function readTensorOnly(
  gpu: Gpu,
  entry: PlanEntry,
  chunkElements: number | undefined,
  signal: AbortSignal | undefined,
  write: (c: Chunk, bytes: Uint8Array) => Promise<void>,
  prefetched?: Promise<Uint8Array>[],
): Promise<void> {
  for (const c of splitChunks(elementCount(entry.shape), chunkLimit(gpu, entry, chunkElements))) {
    // the same parallel reads and read-ahead as a merge, so the floor is a fair one
    await Promise.all(c.index === 0 && prefetched ? prefetched : entry.inputs.map((inp) => readChunkBytes(inp, c, signal)));
    await write(c, new Uint8Array(c.count * itemSize(entry.outDtype)));
  }
}

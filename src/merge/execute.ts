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

/** Runs one plan entry on the GPU and hands its encoded bytes, chunk by chunk and in order, to `write`. */
export async function mergeTensor(
  gpu: Gpu,
  entry: PlanEntry,
  chunkElements: number | undefined,
  signal: AbortSignal | undefined,
  write: (c: Chunk, bytes: Uint8Array) => Promise<void>,
): Promise<void> {
  const method = gpuMethod(entry.method);
  if (!method) throw new UnsupportedError(`merge method "${entry.method}" has no GPU implementation`);
  const budget = Math.floor(CHUNK_BUDGET_BYTES / (4 * (entry.inputs.length + 5)));
  const limit = Math.min(chunkElements ?? Infinity, gpu.maxBindingElements, budget);
  const job = new TensorJob(gpu.device, entry, { chunkElements: limit, rowLen: method.rowLen?.({ entry }), signal });
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
): Promise<void> {
  const budget = Math.floor(CHUNK_BUDGET_BYTES / (4 * (entry.inputs.length + 5)));
  const limit = Math.min(chunkElements ?? Infinity, gpu.maxBindingElements, budget);
  for (const c of splitChunks(elementCount(entry.shape), limit)) {
    for (const inp of entry.inputs) await readChunkBytes(inp, c, signal);
    await write(c, new Uint8Array(c.count * itemSize(entry.outDtype)));
  }
}

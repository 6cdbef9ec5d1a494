// Runs one plan entry on the GPU: method kernels over chunks, then encode to the output dtype and
// read back, chunk by chunk and in order.
import type { Gpu } from '../../gpu/device';
import type { PlanEntry } from '../../recipe/plan-types';
import { UnsupportedError } from '../../errors';
import { TensorJob, readChunkBytes, splitChunks, elementCount, type Chunk } from '../../gpu/tensor-job';
import { itemSize, type Dtype } from '../../formats/dtype';
import { gpuMethod } from '../../methods/webgpu';
import { encode16 } from '../../gpu/ops';
import { storage } from '../../gpu/buffers';
import { MemorySource } from '../../io/sources';
import { RowGatherReader } from '../../recipe/row-gather';
import type { TrafficMeter } from '../../gpu/traffic';

/** GPU memory a tensor's chunk set may use (inputs + scratch), bounding peak memory. */
const CHUNK_BUDGET_BYTES = 192 * 1024 * 1024;

/**
 * A tensor too large for one chunk is swept several times (statistics, selection, apply). Its
 * inputs' bytes are then read once and kept in memory for the sweeps, when they fit this budget
 * (a few times the largest tensor), instead of being read from the files on every sweep.
 */
const RAW_CACHE_BYTES = 256 * 1024 * 1024;

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
  // gathered inputs (tokenizer merges) are read by the job, which also computes their fill rows
  if (n === 0 || chunks.length !== 1 || entry.inputs.some((inp) => inp.rows)) return undefined;
  return entry.inputs.map((inp) => {
    const p = readChunkBytes(inp, chunks[0], signal);
    p.catch(() => {}); // observed by the job that consumes it
    return p;
  });
}

/**
 * Runs one plan entry on the GPU and hands its encoded bytes, chunk by chunk and in order, to
 * `write`. With a traffic meter, counts the GPU traffic, the stored input bytes and the output bytes.
 */
export async function mergeTensor(
  gpu: Gpu,
  entry: PlanEntry,
  chunkElements: number | undefined,
  signal: AbortSignal | undefined,
  write: (c: Chunk, bytes: Uint8Array) => Promise<void>,
  prefetched?: Promise<Uint8Array>[],
  traffic?: TrafficMeter,
): Promise<void> {
  const method = gpuMethod(entry.method);
  if (!method) throw new UnsupportedError(`merge method "${entry.method}" has no GPU implementation`);
  const limit = chunkLimit(gpu, entry, chunkElements);
  const rowLen = method.rowLen?.({ entry });
  if (!method.singleSweep?.(entry)) entry = await cacheSweptInputs(entry, limit, rowLen, signal);
  const job = new TensorJob(gpu.device, entry, { chunkElements: limit, rowLen, signal, prefetched, traffic, emitEncoded: true });
  try {
    if (job.n === 0) {
      await write({ index: 0, start: 0, count: 0 }, new Uint8Array(0));
      return;
    }
    await method.run(job, async (c, out, encoded) => {
      const b = job.batch();
      let bytes: number;
      if (entry.outDtype === 'F32' || encoded) {
        bytes = c.count * itemSize(entry.outDtype);
        b.read(out, bytes);
      } else {
        const words = storage(gpu.device, Math.ceil(c.count / 2) * 4, 'encoded');
        encode16(b, entry.outDtype, out, words, c.count);
        bytes = c.count * 2;
        b.read(words, bytes);
        b.temps.push(words);
      }
      const [data] = await b.submit();
      if (traffic) traffic.outputBytes += bytes;
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
    await Promise.all(c.index === 0 && prefetched ? prefetched : entry.inputs.map((inp, i) => (inp.rows ? new RowGatherReader(entry, i, signal).chunk(c) : readChunkBytes(inp, c, signal))));
    await write(c, new Uint8Array(c.count * itemSize(entry.outDtype)));
  }
}

/** For a multi-chunk tensor whose inputs fit RAW_CACHE_BYTES: the same entry reading from memory. */
async function cacheSweptInputs(entry: PlanEntry, limit: number, rowLen: number | undefined, signal?: AbortSignal): Promise<PlanEntry> {
  const n = elementCount(entry.shape);
  if (splitChunks(n, limit, rowLen).length <= 1) return entry;
  const total = entry.inputs.reduce((a, i) => a + n * itemSize(i.tensor.dtype as Dtype), 0);
  if (total > RAW_CACHE_BYTES) return entry;
  const whole: Chunk = { index: 0, start: 0, count: n };
  const inputs = await Promise.all(
    entry.inputs.map(async (inp) => {
      if (inp.rows) return inp; // gathered per chunk (its own rows are read in runs)
      const bytes = await readChunkBytes(inp, whole, signal); // already cropped to the output layout
      const source = new MemorySource(inp.tensor.source.name, bytes);
      return { ...inp, crop: undefined, tensor: { ...inp.tensor, shape: entry.shape, source, byteOffset: 0, byteLength: bytes.length } };
    }),
  );
  return { ...entry, inputs };
}

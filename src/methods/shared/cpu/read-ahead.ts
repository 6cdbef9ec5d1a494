// A single-sweep CPU kernel's chunk loop with the next chunk's reads in flight while it computes
// the current one: a thread's reads (async, in Node's I/O pool or the browser's) overlap its own
// arithmetic instead of alternating with it. One chunk ahead: a few MB more held per thread.
import type { Chunk, CpuJob, StoredChunk } from './method';

export interface ChunkInputs {
  c: Chunk;
  /** Input i's stored bytes (indexed like entry.inputs), when the kernel decodes them itself (CpuJob.stored). */
  stored: (StoredChunk | undefined)[];
  /** Input i's values, for the inputs without stored bytes (LoRA-adapted, row-gathered, already decoded). */
  whole: (Float32Array | undefined)[];
}

/** The job's chunks with the inputs listed (default: all) read, one chunk ahead. */
export async function* readAhead(job: CpuJob, which: readonly number[] = job.entry.inputs.map((_, i) => i)): AsyncGenerator<ChunkInputs> {
  const read = async (c: Chunk): Promise<ChunkInputs> => {
    const stored: (StoredChunk | undefined)[] = [];
    const whole: (Float32Array | undefined)[] = [];
    await Promise.all(which.map(async (i) => (stored[i] = await job.stored?.(i, c))));
    await Promise.all(which.map(async (i) => (whole[i] = stored[i] ? undefined : await job.input(i, c))));
    return { c, stored, whole };
  };
  let next: Promise<ChunkInputs> | undefined;
  for (let k = 0; k < job.chunks.length; k++) {
    const cur = await (next ?? read(job.chunks[k]));
    next = k + 1 < job.chunks.length ? read(job.chunks[k + 1]) : undefined;
    next?.catch(() => {}); // surfaces when awaited; not an unhandled rejection if the caller stops first
    yield cur;
  }
}

// What crosses to a CPU engine worker and back: a plan entry whose byte sources are portable
// descriptions (io/portable.ts), and the tensor's encoded bytes or a typed error record.
import type { PlanEntry } from '../../recipe/plan-types';
import type { PortableSource } from '../../io/types';
import { openPortable, portableOf } from '../../io/portable';
import { ResourceError, toRecord, type ErrorRecord } from '../../errors';
import { tensorMemory, type SizedEntry } from './memory';
import { cpuTensorBytes } from './tensor';

export interface PortableEntry extends Omit<PlanEntry, 'inputs'> {
  inputs: (Omit<PlanEntry['inputs'][number], 'tensor'> & { tensor: Omit<PlanEntry['inputs'][number]['tensor'], 'source'> & { source: PortableSource } })[];
}

export interface CpuTask {
  id: number;
  entry: PortableEntry;
  chunkElements?: number;
  ioOnly?: boolean;
}

export type CpuReply = { id: number; ok: true; bytes: Uint8Array } | { id: number; ok: false; error: ErrorRecord };

export function toPortableEntry(e: PlanEntry): PortableEntry {
  return { ...e, inputs: e.inputs.map((i) => ({ ...i, tensor: { ...i.tensor, source: portableOf(i.tensor.source) } })) };
}

export function fromPortableEntry(e: PortableEntry): PlanEntry {
  return { ...e, inputs: e.inputs.map((i) => ({ ...i, tensor: { ...i.tensor, source: openPortable(i.tensor.source) } })) };
}

/** Runs one task in this thread (the body of both the Node and the browser worker). */
export async function runCpuTask(t: CpuTask): Promise<CpuReply> {
  try {
    const bytes = await cpuTensorBytes(fromPortableEntry(t.entry), { chunkElements: t.chunkElements, ioOnly: t.ioOnly });
    return { id: t.id, ok: true, bytes };
  } catch (e) {
    if (e instanceof RangeError && /alloc|invalid typed array length|array buffer/i.test(e.message))
      return { id: t.id, ok: false, error: toRecord(outOfMemory(t.entry, e.message)) };
    return { id: t.id, ok: false, error: toRecord(e) };
  }
}

/** The error a tensor too large for this machine's memory gets: which tensor, and how much it needs. */
export function outOfMemory(e: SizedEntry, why: string): ResourceError {
  const need = tensorMemory(e);
  return new ResourceError(
    `tensor "${e.name}" [${e.shape.join(', ')}] needs about ${(need / 2 ** 30).toFixed(2)} GiB of memory on the CPU engine (its inputs and output) and the allocation failed (${why}); close other programs, use fewer threads (--threads) or a machine with more memory`,
    { tensor: e.name },
  );
}

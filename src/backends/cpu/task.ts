// What crosses to a CPU engine worker and back: a plan entry whose byte sources are portable
// descriptions (io/portable.ts), and the tensor's encoded bytes or a typed error record.
import type { PlanEntry } from '../../recipe/plan-types';
import type { PortableSource } from '../../io/types';
import { openPortable, portableOf } from '../../io/portable';
import { ResourceError, toRecord, type ErrorRecord } from '../../errors';
import { tensorMemory, type SizedEntry } from './memory';
import { cpuTensorBytes } from './tensor';

type Tensor = PlanEntry['inputs'][number]['tensor'];
type PortableTensor<T> = Omit<T, 'source'> & { source: PortableSource };
type PortableLora = Omit<NonNullable<Tensor['lora']>, 'a' | 'b'> & { a: PortableTensor<Tensor>; b: PortableTensor<Tensor> };

export interface PortableEntry extends Omit<PlanEntry, 'inputs'> {
  inputs: (Omit<PlanEntry['inputs'][number], 'tensor'> & { tensor: Omit<PortableTensor<Tensor>, 'lora'> & { lora?: PortableLora } })[];
}

export interface CpuTask {
  id: number;
  entry: PortableEntry;
  chunkElements?: number;
  ioOnly?: boolean;
}

export type CpuReply = { id: number; ok: true; bytes: Uint8Array } | { id: number; ok: false; error: ErrorRecord };

export function toPortableEntry(e: PlanEntry): PortableEntry {
  const lora = (l: Tensor['lora']): PortableLora | undefined => l && { ...l, a: { ...l.a, source: portableOf(l.a.source) }, b: { ...l.b, source: portableOf(l.b.source) } };
  return { ...e, inputs: e.inputs.map((i) => ({ ...i, tensor: { ...i.tensor, source: portableOf(i.tensor.source), lora: lora(i.tensor.lora) } })) };
}

export function fromPortableEntry(e: PortableEntry): PlanEntry {
  const lora = (l: PortableLora | undefined): Tensor['lora'] => l && { ...l, a: { ...l.a, source: openPortable(l.a.source) }, b: { ...l.b, source: openPortable(l.b.source) } };
  return { ...e, inputs: e.inputs.map((i) => ({ ...i, tensor: { ...i.tensor, source: openPortable(i.tensor.source), lora: lora(i.tensor.lora) } })) };
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

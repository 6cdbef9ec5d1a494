// The pruning primitives on the CPU engine (the door's PruneBackend, backends/types.ts): a merge
// method's masks over its task vectors (CpuMethod.sparsify: the f32 replay of the WebGPU side's
// sparsify, so the same bits) and an input decoded as the merge reads it. They run in the calling
// thread: a mask is a few bits per element and the callers (CABS export, diagnostics) consume it
// tensor by tensor. With an input cache, decoded inputs are kept across calls (diagnostics refreshes).
import type { PlanEntry, PlanInput } from '../../recipe/plan-types';
import type { EntryMasks, PruneOptions } from '../types';
import { isMergeable, type Dtype } from '../../formats/dtype';
import { inputCacheKey, readChunkBytes, readLoraFactors } from '../../recipe/chunk-read';
import { gatherFillValues, RowGatherReader } from '../../recipe/row-gather';
import { decodeInputChunk } from '../../methods/shared/cpu/lora';
import { cpuMethod } from '../../methods/cpu';
import { CancelledError, UnsupportedDtypeError } from '../../errors';
import { CpuTensorJob, elementCount } from './job';
import type { CpuInputCache } from './input-cache';

export interface CpuPruneOptions extends PruneOptions {
  /** Decoded whole-tensor inputs kept across calls. */
  inputCache?: CpuInputCache;
}

/** Input `inp` of an entry as f32 (whole tensor, crop applied), rounded to the compute dtype like the GPU decode. */
export async function cpuDecodedInput(entry: PlanEntry, inp: PlanInput, o: CpuPruneOptions = {}): Promise<Float32Array> {
  if (o.signal?.aborted) throw new CancelledError();
  const chunk = { index: 0, start: 0, count: elementCount(entry.shape) };
  const key = o.inputCache ? inputCacheKey(inp, chunk, entry.computeDtype) : undefined;
  const hit = key !== undefined ? o.inputCache!.get(key) : undefined;
  if (hit) return hit;
  if (!isMergeable(inp.tensor.dtype)) throw new UnsupportedDtypeError(inp.tensor.source.name, inp.tensor.name, inp.tensor.dtype);
  // a tokenizer merge's embedding input is gathered into the output's rows; a "model+adapter" input
  // gets its LoRA update first — as both engines' jobs read them
  const values = inp.rows
    ? gatherFillValues(await new RowGatherReader(entry, entry.inputs.indexOf(inp), o.signal).chunk(chunk), inp.tensor.dtype as Dtype, entry.computeDtype)
    : await decodeInputChunk(inp, chunk, await readChunkBytes(inp, chunk, o.signal), entry.computeDtype, () => readLoraFactors(inp.tensor.lora!, o.signal));
  if (key !== undefined) o.inputCache!.offer(key, values);
  return values;
}

/** A job over the entry as its CPU method chunks it (rows for row-wise methods), reading through the cache. */
export function cpuPruneJob(entry: PlanEntry, o: CpuPruneOptions = {}): CpuTensorJob {
  const method = cpuMethod(entry.method);
  return new CpuTensorJob(entry, {
    chunkElements: o.chunkElements,
    rowLen: method?.rowLen?.(entry),
    signal: o.signal,
    decoded: o.inputCache ? (i) => cpuDecodedInput(entry, entry.inputs[i], o) : undefined,
  });
}

/** The entry's merge method's masks (undefined: the method does not prune, or no task vector). */
export async function cpuEntryMasks(entry: PlanEntry, o: CpuPruneOptions = {}): Promise<EntryMasks | undefined> {
  if (o.signal?.aborted) throw new CancelledError();
  const method = cpuMethod(entry.method);
  if (!method?.sparsify || !entry.inputs.some((x) => x.isBase)) return undefined;
  const job = cpuPruneJob(entry, o);
  try {
    const s = await method.sparsify(job);
    if (!s) return undefined;
    const words = Math.max(1, Math.ceil(job.n / 32));
    return { base: s.base, models: s.models, masks: s.masks.map((m) => (m ? (m.length === words ? m : fit(m, words)) : undefined)), coefs: s.coefs };
  } finally {
    job.dispose();
  }
}

function fit(m: Uint32Array, words: number): Uint32Array {
  const out = new Uint32Array(words);
  out.set(m.subarray(0, words));
  return out;
}

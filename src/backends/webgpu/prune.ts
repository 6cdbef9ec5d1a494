// The pruning primitives on WebGPU (the door's PruneBackend, backends/types.ts): a merge method's
// masks (GpuMethod.sparsify, the kernels of methods/shared/webgpu/{select,prune,random-prune}.ts)
// read back as whole-tensor bitmasks, and an input decoded by the codec kernels and read back.
import type { Gpu } from '../../gpu/device';
import type { PlanEntry } from '../../recipe/plan-types';
import type { EntryMasks, PruneOptions } from '../types';
import { TensorJob, type Chunk } from '../../gpu/tensor-job';
import { gpuMethod } from '../../methods/webgpu';
import { chunkLimit } from './execute';

/**
 * Copies `count` bits from bit `from` of `src` to bit `to` of `dst` (dst bits are only set).
 * A method may lay its masks out per chunk (della's row chunks: Sparsified.bitBase), the door's
 * masks are addressed by flat element index.
 */
export function copyBits(src: Uint32Array, from: number, dst: Uint32Array, to: number, count: number): void {
  if (from % 32 === 0 && to % 32 === 0) {
    const w = count >>> 5;
    dst.set(src.subarray(from >>> 5, (from >>> 5) + w), to >>> 5);
    for (let e = w * 32; e < count; e++) if ((src[(from + e) >>> 5] >>> ((from + e) & 31)) & 1) dst[(to + e) >>> 5] |= 1 << ((to + e) & 31);
    return;
  }
  for (let e = 0; e < count; e++) if ((src[(from + e) >>> 5] >>> ((from + e) & 31)) & 1) dst[(to + e) >>> 5] |= 1 << ((to + e) & 31);
}

/** The entry's merge method's masks, read back (undefined: the method does not prune, or no task vector). */
export async function gpuEntryMasks(gpu: Gpu, entry: PlanEntry, o: PruneOptions = {}): Promise<EntryMasks | undefined> {
  const method = gpuMethod(entry.method);
  if (!method?.sparsify || !entry.inputs.some((x) => x.isBase)) return undefined;
  const job = new TensorJob(gpu.device, entry, { chunkElements: chunkLimit(gpu, entry, o.chunkElements), rowLen: method.rowLen?.({ entry }), signal: o.signal });
  try {
    const s = await method.sparsify(job);
    if (!s) return undefined;
    const words = Math.max(1, Math.ceil(job.n / 32));
    const b = job.batch();
    const slots = s.masks.map((m) => (m ? b.read(m, m.size) : -1));
    const bytes = s.masks.some(Boolean) ? await b.submit() : [];
    const masks = s.masks.map((m, k) => {
      if (!m) return undefined;
      const raw = bytes[slots[k]];
      const src = new Uint32Array(raw.buffer, raw.byteOffset, raw.byteLength >>> 2);
      const out = new Uint32Array(words);
      const aligned = job.chunks.every((c: Chunk) => s.bitBase(c) === c.start);
      if (aligned) out.set(src.subarray(0, Math.min(words, src.length)));
      else for (const c of job.chunks) copyBits(src, s.bitBase(c), out, c.start, c.count);
      return out;
    });
    return { base: s.base, models: s.models, masks, coefs: s.coefs };
  } finally {
    job.dispose();
  }
}

/** Input i of the entry decoded on the GPU (crop, compute-dtype rounding) and read back. */
export async function gpuDecodedInput(gpu: Gpu, entry: PlanEntry, i: number, o: PruneOptions = {}): Promise<Float32Array> {
  const job = new TensorJob(gpu.device, entry, { chunkElements: chunkLimit(gpu, entry, o.chunkElements), signal: o.signal });
  try {
    const out = new Float32Array(job.n);
    for (const c of job.chunks) {
      if (c.count === 0) continue;
      const buf = await job.input(i, c);
      const b = job.batch();
      b.read(buf, c.count * 4);
      const [bytes] = await b.submit();
      out.set(new Float32Array(bytes.buffer, bytes.byteOffset, c.count), c.start);
      job.endChunk();
    }
    return out;
  } finally {
    job.dispose();
  }
}

// The WebGPU backend: today's kernels behind the backend door. One tensor at a time on the device,
// the next tensor's inputs read ahead while the current one runs.
import type { Gpu } from '../../gpu/device';
import type { PlanEntry } from '../../recipe/plan-types';
import type { EntryMasks, MergeBackend, MergeTensorsOptions, MergeTensorsResult, PruneOptions, TensorWriter } from '../types';
import { gpuDecodedInput, gpuEntryMasks } from './prune';
import { TrafficMeter } from '../../gpu/traffic';
import { mergeTensor, prefetchTensor, readTensorOnly } from './execute';
import { CancelledError } from '../../errors';

export class WebGpuBackend implements MergeBackend {
  readonly kind = 'webgpu';
  constructor(readonly gpu: Gpu) {}

  get description(): string {
    const a = this.gpu.adapterInfo;
    return `WebGPU: ${[a.vendor, a.architecture].filter(Boolean).join(' ') || 'adapter'}${this.gpu.isFallbackAdapter ? ' (software fallback)' : ''}`;
  }

  /** Merges the entries; returns the GPU traffic they caused (none for ioOnly). */
  async mergeTensors(entries: readonly PlanEntry[], write: TensorWriter, o: MergeTensorsOptions = {}): Promise<MergeTensorsResult> {
    const { signal, chunkElements } = o;
    const traffic = o.ioOnly ? undefined : new TrafficMeter();
    let ahead: { entry: PlanEntry; bytes: Promise<Uint8Array>[] | undefined } | undefined;
    for (const [i, entry] of entries.entries()) {
      if (signal?.aborted) throw new CancelledError();
      const prefetched = ahead?.entry === entry ? ahead.bytes : undefined;
      const next = entries[i + 1];
      ahead = next ? { entry: next, bytes: prefetchTensor(this.gpu, next, chunkElements, signal) } : undefined;
      const onChunk = (c: { start: number; count: number }, bytes: Uint8Array) => write.chunk(entry, c, bytes);
      if (o.ioOnly) await readTensorOnly(this.gpu, entry, chunkElements, signal, onChunk, prefetched);
      else await mergeTensor(this.gpu, entry, chunkElements, signal, onChunk, prefetched, traffic);
      await write.done(entry);
    }
    return { gpuTraffic: traffic?.summary() };
  }

  entryMasks(entry: PlanEntry, o?: PruneOptions): Promise<EntryMasks | undefined> {
    return gpuEntryMasks(this.gpu, entry, o);
  }

  decodedInput(entry: PlanEntry, i: number, o?: PruneOptions): Promise<Float32Array> {
    return gpuDecodedInput(this.gpu, entry, i, o);
  }
}

// The one backend door: how merges (to a folder, OPFS, the CLI) get an output tensor's bytes.
// Two implementations: WebGPU (backends/webgpu/: the WGSL kernels) and the CPU engine
// (backends/cpu: the same passes replayed in f32 on worker threads). Callers never branch on which.
import type { PlanEntry } from '../recipe/plan-types';
import type { GpuTraffic } from '../gpu/traffic';

export type BackendKind = 'webgpu' | 'cpu';

/** Receives the encoded output (the entry's outDtype), tensor by tensor in the order given. */
export interface TensorWriter {
  /** Bytes of elements [start, start + count) of the entry; chunks arrive in order. */
  chunk(entry: PlanEntry, chunk: { start: number; count: number }, bytes: Uint8Array): Promise<void>;
  /** Every chunk of the entry has been written. */
  done(entry: PlanEntry): Promise<void>;
}

export interface MergeTensorsOptions {
  signal?: AbortSignal;
  /** Upper bound on elements per chunk (tests force tiny values to prove chunk invariance). */
  chunkElements?: number;
  /** Read the inputs and write zeros of the right size (the I/O floor of the benchmark). */
  ioOnly?: boolean;
}

/** What a backend may report about the merge it ran. */
export interface MergeTensorsResult {
  /** WebGPU: bytes its kernels, uploads, clears and readbacks moved (gpu/traffic.ts). */
  gpuTraffic?: GpuTraffic;
}

export interface MergeBackend {
  readonly kind: BackendKind;
  /** For messages: "WebGPU: NVIDIA …", "CPU engine: 2 worker threads". */
  readonly description: string;
  /** Merges `entries`, handing each one's bytes to `write` in the given order. */
  mergeTensors(entries: readonly PlanEntry[], write: TensorWriter, o?: MergeTensorsOptions): Promise<MergeTensorsResult | void>;
  /** Frees threads / devices the backend started (it may be used again afterwards). */
  dispose?(): void;
}

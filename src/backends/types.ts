// The one backend door: how merges (to a folder, OPFS, the CLI) get an output tensor's bytes, and
// the pruning primitives (a method's masks and the decoded inputs, without merging: the CABS
// export, merge diagnostics). Two implementations: WebGPU (backends/webgpu/: the WGSL kernels) and
// the CPU engine (backends/cpu: the same passes replayed in f32 on worker threads, the same masks).
// Callers never branch on which.
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

export interface PruneOptions {
  signal?: AbortSignal;
  /** Upper bound on elements per chunk (masks and values never depend on it). */
  chunkElements?: number;
}

/**
 * One plan entry's pruned task vectors τₖ = xₖ − base, as its merge method prunes them (the GTA
 * family: ties, breadcrumbs, dare_*, della*; cabs), without merging.
 */
export interface EntryMasks {
  /** Input index of the base. */
  base: number;
  /** Input indices of the task vectors, in recipe order. */
  models: number[];
  /**
   * Per task vector: its keep mask as a whole-tensor bitmask — ceil(n/32) u32 words (at least 1),
   * bit e of the mask is flat element e — or undefined when every position is kept.
   */
  masks: (Uint32Array | undefined)[];
  /** Per task vector: the factor its kept elements enter the merge with (weight × any rescale). */
  coefs: number[];
}

/** The pruning primitives behind the door: identical results (same masks, same values) on every backend. */
export interface PruneBackend {
  readonly kind: BackendKind;
  /**
   * The masks the entry's merge method keeps (identical bits on every backend); undefined when the
   * method does not prune (linear, slerp, …) or the entry has no base or no task vector.
   */
  entryMasks(entry: PlanEntry, o?: PruneOptions): Promise<EntryMasks | undefined>;
  /** Input `i` of the entry decoded to f32 (crop applied, rounded to the compute dtype), as the merge reads it. */
  decodedInput(entry: PlanEntry, i: number, o?: PruneOptions): Promise<Float32Array>;
}

export interface MergeBackend extends PruneBackend {
  readonly kind: BackendKind;
  /** For messages: "WebGPU: NVIDIA …", "CPU engine: 2 worker threads". */
  readonly description: string;
  /** Merges `entries`, handing each one's bytes to `write` in the given order. */
  mergeTensors(entries: readonly PlanEntry[], write: TensorWriter, o?: MergeTensorsOptions): Promise<MergeTensorsResult | void>;
  /** Frees threads / devices the backend started (it may be used again afterwards). */
  dispose?(): void;
}

import type { TensorJob, Chunk } from '../../../gpu/tensor-job';

/**
 * Emits one chunk of the output (f32, chunk.count elements); resolves once it is written. With
 * `encoded`, `out` already holds the chunk in the entry's 16-bit outDtype (encode16's layout):
 * only when the job was made with `emitEncoded` (a merge to disk) and outDtype is not F32.
 */
export type Emit = (c: Chunk, out: GPUBuffer, encoded?: boolean) => Promise<void>;

/** The GPU side of a merge method: composed from kernel wrappers in gpu/ops.ts. */
export interface GpuMethod {
  name: string;
  /** Row length when the method's statistics are per row (chunks then hold whole rows). */
  rowLen?(job: { entry: TensorJob['entry'] }): number | undefined;
  run(job: TensorJob, emit: Emit): Promise<void>;
  /** True when the method reads each chunk once (no statistics sweeps): its inputs are not cached. */
  singleSweep?(entry: TensorJob['entry']): boolean;
  /**
   * The method's sparsified task vectors of one tensor, without merging (merge/diagnostics.ts).
   * Methods that do not sparsify leave it out (every task vector is then dense).
   */
  sparsify?(job: TensorJob): Promise<Sparsified | undefined>;
}

/** A method's pruned task vectors for one tensor: masks over τₖ = xₖ − base and their merge factors. */
export interface Sparsified {
  /** Input index of the base. */
  base: number;
  /** Input indices of the task vectors, in recipe order. */
  models: number[];
  /** Per task vector: its keep bitmask (owned by the job), or undefined when every position is kept. */
  masks: (GPUBuffer | undefined)[];
  /** Bit of chunk c's element 0 in the masks (c.start for whole-tensor bitmasks). */
  bitBase(c: Chunk): number;
  /** Per task vector: the factor its kept elements enter the merge with (weight × any rescale). */
  coefs: number[];
  /** Each task vector's mask depends only on its own input and parameters (not on the other models'). */
  independent?: boolean;
  /** Otherwise, per task vector, the inputs whose parameters its mask depends on (default: every input). */
  deps?: number[][];
}

export { num, bool } from '../params';

// The CPU engine's side of a merge method (the twin of ../webgpu/types.ts GpuMethod): the same passes
// over the same chunks, in f32 operation for operation, so its output equals the WebGPU engine's.
// A method folder's optional cpu.ts implements it; the CPU engine (backends/cpu) supplies the job.
import type { PlanEntry } from '../../../recipe/plan-types';
import type { Dtype } from '../../../formats/dtype';

export interface Chunk {
  index: number;
  /** First element (flat, in the output / cropped layout). */
  start: number;
  count: number;
}

/** One output tensor as a CPU method sees it (backends/cpu/job.ts CpuTensorJob implements it). */
export interface CpuJob {
  readonly entry: PlanEntry;
  /** Elements of the output tensor. */
  readonly n: number;
  /** The chunk geometry (the WebGPU engine's: 4096-aligned, or whole rows of rowLen). */
  readonly chunks: readonly Chunk[];
  /** Input i's values over chunk c (f32, rounded to the compute dtype): a view, do not write to it. */
  input(i: number, c: Chunk): Promise<Float32Array>;
  /** All inputs (or those listed) over chunk c, read concurrently. */
  inputs(c: Chunk, which?: readonly number[]): Promise<Float32Array[]>;
  /**
   * Input i's stored bytes over chunk c when its values are those bytes decoded (then rounded to
   * `roundTo`) and nothing more — no LoRA update, no row gather, not already decoded — else
   * undefined (read it with input()). A single-sweep kernel decodes them blockwise itself
   * (formats/dtype-codec decodeInto), touching each input element once.
   */
  stored?(i: number, c: Chunk): Promise<StoredChunk | undefined>;
  /**
   * Set when the chunks are written as bytes of this dtype (the CPU engine's merge, not the
   * evaluator's f32 weights): a method may then hand emit the encoded bytes itself
   * (backends/cpu/encode's encodeValues, bit for bit), fused into its last loop.
   */
  readonly encodeTo?: Dtype;
  /** Throws the method's error naming the tensor. */
  fail(message: string): never;
}

/** An input chunk's stored little-endian elements and the compute dtype they are rounded to. */
export interface StoredChunk {
  bytes: Uint8Array;
  dtype: Dtype;
  roundTo?: Dtype;
}

/**
 * Hands one chunk of the output (f32, chunk.count values) on; resolves once it is written. With
 * `encoded` (only when the job has encodeTo: chunk.count elements of that dtype) the bytes are
 * written as given and `out` is not read.
 */
export type CpuEmit = (c: Chunk, out: Float32Array, encoded?: Uint8Array) => Promise<void>;

export interface CpuMethod {
  name: string;
  /** Row length when statistics are per row (chunks then hold whole rows). */
  rowLen?(entry: PlanEntry): number | undefined;
  /** The method reads each chunk once (inputs are streamed, not held). */
  singleSweep?(entry: PlanEntry): boolean;
  run(job: CpuJob, emit: CpuEmit): Promise<void>;
  /**
   * How the output compares with the WebGPU engine's: 'exact' (same bits, the arithmetic is
   * replayed in f32 in the GPU's order) or 'reference' (the f64 CPU reference twin: within the
   * tolerance the GPU tests allow, not bit-identical).
   */
  fidelity: 'exact' | 'reference';
  /**
   * The method's pruned task vectors of one tensor without merging (merge diagnostics on the CPU,
   * the twin of the WebGPU side's sparsify). Methods that do not prune leave it out (dense).
   */
  sparsify?(job: CpuJob): Promise<CpuSparsified | undefined>;
}

/** Masks over τₖ = xₖ − base (bit g of a mask: global element g) and each kept element's merge factor. */
export interface CpuSparsified {
  base: number;
  models: number[];
  masks: (Uint32Array | undefined)[];
  coefs: number[];
}

export { num, bool } from '../params';

/** Copies input i through chunk by chunk. */
export async function emitInput(job: CpuJob, emit: CpuEmit, i: number): Promise<void> {
  for (const c of job.chunks) await emit(c, await job.input(i, c));
}

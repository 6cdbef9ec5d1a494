// One output tensor on the CPU: the same chunk geometry, reads (crops included) and decode (with
// the compute dtype's rounding) as the WebGPU TensorJob, so every method sees the same f32 values.
// Memory: a tensor whose decoded inputs fit DECODED_BUDGET is decoded once and swept from memory;
// a larger one keeps its inputs' stored bytes (half the size for 16-bit dtypes) when the method
// sweeps more than once, and decodes chunk by chunk; a single-sweep method reads chunk by chunk.
import type { PlanEntry } from '../../recipe/plan-types';
import { isMergeable, itemSize, type Dtype } from '../../formats/dtype';
import { readChunkBytes, readLoraFactors } from '../../recipe/chunk-read';
import { gatherFillValues, RowGatherReader } from '../../recipe/row-gather';
import { decodeInputChunk } from '../../methods/shared/cpu/lora';
import { CancelledError, MethodError, UnsupportedDtypeError } from '../../errors';
import type { Chunk, CpuJob, StoredChunk } from '../../methods/shared/cpu/method';

export type { Chunk };

/** Elements per CPU chunk: large enough to amortise calls, small enough to stay in cache-friendly strides. */
export const CPU_CHUNK = 1 << 20;
/** Top-k tie blocks and reduction blocks align chunks as on the GPU. */
const ALIGN = 4096;
/** Decoded f32 inputs of one tensor kept whole when they fit this (bytes). */
export const DECODED_BUDGET = 384 * 1024 * 1024;

export function elementCount(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

export function splitChunks(n: number, maxElements: number, rowLen?: number): Chunk[] {
  const size = rowLen && rowLen > 0 ? Math.max(1, Math.floor(maxElements / rowLen)) * rowLen : Math.max(ALIGN, Math.floor(maxElements / ALIGN) * ALIGN);
  const out: Chunk[] = [];
  for (let start = 0, i = 0; start < n; start += size, i++) out.push({ index: i, start, count: Math.min(size, n - start) });
  if (n === 0) out.push({ index: 0, start: 0, count: 0 });
  return out;
}

export interface CpuJobOptions {
  chunkElements?: number;
  rowLen?: number;
  /** The method reads every chunk once: stream the inputs instead of holding them. */
  singleSweep?: boolean;
  signal?: AbortSignal;
  /**
   * Whole-tensor decoded inputs from elsewhere (the evaluator's cache of decoded base and expert
   * tensors, kept across candidates): used instead of reading, and never written to.
   */
  decoded?: (i: number) => Promise<Float32Array>;
  /** The chunks are written as bytes of this dtype: methods may emit them encoded (CpuJob.encodeTo). */
  encodeTo?: Dtype;
}

export class CpuTensorJob implements CpuJob {
  readonly n: number;
  readonly chunks: Chunk[];
  private decoded: (Float32Array | undefined)[];
  private raw: (Uint8Array | undefined)[];
  private factors: (Promise<{ a: Float32Array; b: Float32Array }> | undefined)[] = [];
  private readonly whole: boolean;

  constructor(
    readonly entry: PlanEntry,
    readonly opts: CpuJobOptions = {},
  ) {
    this.n = elementCount(entry.shape);
    for (const inp of entry.inputs)
      if (!isMergeable(inp.tensor.dtype)) throw new UnsupportedDtypeError(inp.tensor.source.name, inp.tensor.name, inp.tensor.dtype);
    const decodedBytes = this.n * 4 * entry.inputs.length;
    this.whole = !!opts.decoded || (decodedBytes <= DECODED_BUDGET && !opts.singleSweep);
    // whole-tensor decode: one chunk geometry still applies (reductions are blockwise anyway)
    this.chunks = splitChunks(this.n, opts.chunkElements ?? CPU_CHUNK, opts.rowLen);
    this.decoded = entry.inputs.map(() => undefined);
    this.raw = entry.inputs.map(() => undefined);
  }

  get encodeTo(): Dtype | undefined {
    return this.opts.encodeTo;
  }

  get computeDtype(): Dtype | undefined {
    return this.entry.computeDtype;
  }

  private check(): void {
    if (this.opts.signal?.aborted) throw new CancelledError();
  }

  /**
   * Input i's stored bytes over chunk c decoded (a LoRA update added first, as the WebGPU job's
   * lora_matmul does) and rounded to the compute dtype.
   */
  private decode(i: number, c: { start: number; count: number }, bytes: Uint8Array): Promise<Float32Array> {
    const inp = this.entry.inputs[i];
    return decodeInputChunk(inp, c, bytes, this.entry.computeDtype, () => (this.factors[i] ??= readLoraFactors(inp.tensor.lora!, this.opts.signal)));
  }

  /** Input i's values over chunk c (f32, rounded to the compute dtype): a view, do not write to it. */
  async input(i: number, c: Chunk): Promise<Float32Array> {
    this.check();
    const inp = this.entry.inputs[i];
    const dtype = inp.tensor.dtype as Dtype;
    const gather = this.gatherOf(i);
    if (gather && !(this.whole && this.opts.decoded)) {
      // a tokenizer merge's embedding input: own rows gathered in output order, fill rows substituted
      if (this.whole) {
        let d = this.decoded[i];
        if (!d) d = this.decoded[i] = gatherFillValues(await gather.chunk({ start: 0, count: this.n }), dtype, this.entry.computeDtype);
        return d.subarray(c.start, c.start + c.count);
      }
      return gatherFillValues(await gather.chunk(c), dtype, this.entry.computeDtype);
    }
    if (this.whole) {
      let d = this.decoded[i];
      if (!d) {
        if (this.opts.decoded) d = this.decoded[i] = await this.opts.decoded(i);
        else {
          const all = { start: 0, count: this.n };
          const bytes = await readChunkBytes(inp, all, this.opts.signal);
          d = this.decoded[i] = await this.decode(i, all, bytes);
        }
      }
      return d.subarray(c.start, c.start + c.count);
    }
    if (this.opts.singleSweep || this.chunks.length === 1) {
      const bytes = await readChunkBytes(inp, c, this.opts.signal);
      return this.decode(i, c, bytes);
    }
    let r = this.raw[i];
    if (!r) r = this.raw[i] = await readChunkBytes(inp, { start: 0, count: this.n }, this.opts.signal);
    const size = itemSize(dtype);
    return this.decode(i, c, r.subarray(c.start * size, (c.start + c.count) * size));
  }

  /** Input i's stored bytes over chunk c, when a kernel may decode them itself (CpuJob.stored). */
  async stored(i: number, c: Chunk): Promise<StoredChunk | undefined> {
    this.check();
    const inp = this.entry.inputs[i];
    if (inp.rows || inp.tensor.lora || this.whole) return undefined;
    const dtype = inp.tensor.dtype as Dtype;
    const roundTo = this.entry.computeDtype;
    if (this.opts.singleSweep || this.chunks.length === 1) return { bytes: await readChunkBytes(inp, c, this.opts.signal), dtype, roundTo };
    let r = this.raw[i];
    if (!r) r = this.raw[i] = await readChunkBytes(inp, { start: 0, count: this.n }, this.opts.signal);
    const size = itemSize(dtype);
    return { bytes: r.subarray(c.start * size, (c.start + c.count) * size), dtype, roundTo };
  }

  private gathers = new Map<number, RowGatherReader>();

  private gatherOf(i: number): RowGatherReader | undefined {
    if (!this.entry.inputs[i].rows) return undefined;
    let g = this.gathers.get(i);
    if (!g) this.gathers.set(i, (g = new RowGatherReader(this.entry, i, this.opts.signal)));
    return g;
  }

  /** All inputs over chunk c, read concurrently. */
  inputs(c: Chunk, which: readonly number[] = this.entry.inputs.map((_, i) => i)): Promise<Float32Array[]> {
    return Promise.all(which.map((i) => this.input(i, c)));
  }

  fail(message: string): never {
    throw new MethodError(`Tensor "${this.entry.name}": ${message}`, { tensor: this.entry.name });
  }

  dispose(): void {
    this.gathers.clear();
    this.decoded = [];
    this.raw = [];
    this.factors = [];
  }
}

// One output tensor on the GPU: splits it into chunks, reads each input's byte range for a chunk,
// uploads and decodes it to f32. Chunk starts are multiples of 1024 elements (the reduction block),
// or whole rows for row-wise methods, so results never depend on the chunk size.
// When the tensor fits in one chunk, decoded inputs stay resident across a method's passes;
// otherwise each pass re-reads its chunks (memory stays bounded by a few chunks).
// Chunk starts are multiples of 4096 elements (top-k tie blocks; also 1024-element reduction blocks).
import type { PlanEntry, PlanInput } from '../recipe/plan-types';
import { isMergeable, type Dtype } from '../formats/dtype';
import { CancelledError, UnsupportedDtypeError } from '../errors';
import { Batch, storage, uploadBytes } from './buffers';
import { decode, TIE_BLOCK } from './ops';
import type { InputCacheLike } from './input-cache';
import type { TrafficMeter } from './traffic';
import { inputCacheKey, loraGeometry, readChunkBytes, readDtype, readLoraFactors } from '../recipe/chunk-read';
import { RowGatherReader } from '../recipe/row-gather';
import { gatherFill } from './ops-gather';
import { loraMatmul, type Strided } from './ops-lora';

export { readChunkBytes };

export interface Chunk {
  index: number;
  /** First element (flat, in the output / cropped layout). */
  start: number;
  count: number;
}

export interface JobOptions {
  /** Upper bound on elements per chunk (tests force tiny values). */
  chunkElements: number;
  /** Chunks must hold whole rows of this length (row-wise methods). */
  rowLen?: number;
  signal?: AbortSignal;
  onRead?: (bytes: number) => void;
  /** Bytes of chunk 0 of each input, already being read (the executor reads ahead one tensor). */
  prefetched?: Promise<Uint8Array>[];
  /** Decoded chunks kept across jobs (merge diagnostics); buffers it adopts are not freed by the job. */
  inputCache?: InputCacheLike;
  /** Magnitude ranks kept across jobs: exact top-k selections become one pass (select.ts, merge diagnostics). */
  rankCache?: RankCacheLike;
  /** Counts the job's GPU traffic (batches, uploads) and the stored input bytes it reads. */
  traffic?: TrafficMeter;
  /** The consumer takes chunks already encoded to a 16-bit outDtype (methods/shared/webgpu/types.ts Emit). */
  emitEncoded?: boolean;
}

/** What a job asks of a rank cache (gpu/rank-cache.ts implements it; select.ts and CABS use it). */
export interface RankEntry {
  /** rank[e] of element e (u32, GPU). */
  ranks: GPUBuffer;
  /** order[r] = element of rank r (CPU). */
  order: Uint32Array;
  /** Per "rowLen:m": for each n:m block, its elements' offsets in rank order (u32, GPU). */
  blocks: Map<string, GPUBuffer>;
}

export interface RankCacheLike {
  /** Ranks of |x_xi − x_bi| for a resident job (undefined when not resident or over budget). */
  ranks(job: TensorJob, xi: number, bi: number): Promise<RankEntry | undefined>;
  /** Per n:m block (rows of rowLen, blocks of m), its elements' offsets within the block in rank order. */
  blockOrder(job: TensorJob, xi: number, bi: number, rowLen: number, m: number): Promise<GPUBuffer | undefined>;
}

/**
 * Stored words that already are the decoded f32 values: F32 not rounded to a 16-bit compute dtype
 * (decode_f32 would copy them bit for bit, so the upload is used as the decoded buffer).
 */
export function isDecoded(dtype: Dtype, computeDtype?: Dtype): boolean {
  return dtype === 'F32' && computeDtype !== 'BF16' && computeDtype !== 'F16';
}

export function elementCount(shape: number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

export function splitChunks(n: number, maxElements: number, rowLen?: number): Chunk[] {
  let size: number;
  if (rowLen && rowLen > 0) size = Math.max(1, Math.floor(maxElements / rowLen)) * rowLen;
  // multiples of the top-k tie block (itself a multiple of the 1024-element reduction block)
  else size = Math.max(TIE_BLOCK, Math.floor(maxElements / TIE_BLOCK) * TIE_BLOCK);
  const out: Chunk[] = [];
  for (let start = 0, i = 0; start < n || (n === 0 && i === 0); start += size, i++) {
    out.push({ index: i, start, count: Math.min(size, n - start) });
    if (n === 0) break;
  }
  return out;
}

export class TensorJob {
  readonly n: number;
  readonly chunks: Chunk[];
  readonly resident: boolean;
  private cache = new Map<string, GPUBuffer>();
  private transient: GPUBuffer[] = [];
  private scratchBufs = new Map<string, GPUBuffer>();
  /** Reads in flight, by "input:chunk": every input of a chunk is requested at once. */
  private pending = new Map<string, Promise<Uint8Array>>();
  /** "input:chunk" already uploaded once: a second upload (another sweep) is not new input. */
  private uploaded = new Set<string>();
  /** Inputs' LoRA factors (f32 buffers, owned as scratch), by input index. */
  private loraFactors = new Map<number, Promise<{ a: GPUBuffer; b: GPUBuffer }>>();
  readonly maxChunk: number;
  /** Inputs whose rows a tokenizer merge permutes and fills (PlanInput.rows), by index. */
  private gathers = new Map<number, RowGatherReader>();

  constructor(
    readonly device: GPUDevice,
    readonly entry: PlanEntry,
    readonly opts: JobOptions,
  ) {
    this.n = elementCount(entry.shape);
    this.chunks = splitChunks(this.n, opts.chunkElements, opts.rowLen);
    this.resident = this.chunks.length === 1;
    this.maxChunk = Math.max(1, ...this.chunks.map((c) => c.count));
    for (const inp of entry.inputs) {
      if (!isMergeable(inp.tensor.dtype)) throw new UnsupportedDtypeError(inp.tensor.source.name, inp.tensor.name, inp.tensor.dtype);
    }
    entry.inputs.forEach((inp, i) => {
      if (inp.rows) this.gathers.set(i, new RowGatherReader(entry, i, opts.signal));
    });
    opts.prefetched?.forEach((p, i) => {
      if (!this.gathers.has(i)) this.pending.set(`${i}:0`, p);
    });
  }

  /** The bytes of input i, chunk c; starts the reads of the chunk's other inputs alongside. */
  private bytes(i: number, c: Chunk): Promise<Uint8Array> {
    for (let j = 0; j < this.entry.inputs.length; j++) {
      if (this.gathers.has(j)) continue; // read by gathered(), which also computes its fills
      const key = `${j}:${c.index}`;
      if (this.pending.has(key) || this.cache.has(key)) continue;
      if (this.opts.inputCache?.get(inputCacheKey(this.entry.inputs[j], c, this.entry.computeDtype))) continue;
      const p = readChunkBytes(this.entry.inputs[j], c, this.opts.signal);
      p.catch(() => {}); // observed by whoever awaits it
      this.pending.set(key, p);
    }
    const key = `${i}:${c.index}`;
    const p = this.pending.get(key) ?? readChunkBytes(this.entry.inputs[i], c, this.opts.signal);
    this.pending.delete(key);
    return p;
  }

  batch(): Batch {
    return new Batch(this.device, this.opts.traffic);
  }

  /** The traffic meter of the job, if any (for uploads made outside a batch). */
  get traffic(): TrafficMeter | undefined {
    return this.opts.traffic;
  }

  /** Uploads stored bytes of input i, chunk c (counting them as input bytes the first time). */
  private upload(i: number, c: Chunk, bytes: Uint8Array): GPUBuffer {
    const t = this.opts.traffic;
    const key = `${i}:${c.index}`;
    if (t && !this.uploaded.has(key)) {
      this.uploaded.add(key);
      t.inputBytes += bytes.byteLength;
    }
    return uploadBytes(this.device, bytes, `${this.entry.name}#${i}.raw`, t);
  }

  /** Input i's LoRA factors as f32 buffers, uploaded once per job. */
  private factors(i: number): Promise<{ a: GPUBuffer; b: GPUBuffer }> {
    let p = this.loraFactors.get(i);
    if (!p) {
      const lora = this.entry.inputs[i].tensor.lora!;
      p = readLoraFactors(lora, this.opts.signal).then(({ a, b }) => {
        const t = this.opts.traffic;
        if (t) t.inputBytes += lora.a.byteLength + lora.b.byteLength;
        const up = (v: Float32Array, k: string) => this.own(`lora${i}.${k}`, uploadBytes(this.device, new Uint8Array(v.buffer, v.byteOffset, v.byteLength), `${this.entry.name}#${i}.lora_${k}`, t));
        return { a: up(a, 'A'), b: up(b, 'B') };
      });
      this.loraFactors.set(i, p);
    }
    return p;
  }

  /**
   * Stored words of input i (chunk c) with its LoRA update added, as a new f32 buffer: W + scale·ΔW
   * (lora_matmul), the words freed. Inputs without an adapter are returned as they are.
   */
  private async adapt(i: number, c: Chunk, words: GPUBuffer): Promise<GPUBuffer> {
    const inp = this.entry.inputs[i];
    if (!inp.tensor.lora) return words;
    const f = await this.factors(i);
    const g = loraGeometry(inp);
    const view = (v: { which: 'a' | 'b'; s0: number; s1: number }): Strided => ({ buf: f[v.which], s0: v.s0, s1: v.s1 });
    const out = storage(this.device, c.count * 4, `${this.entry.name}#${i}.lora`);
    const b = this.batch();
    loraMatmul(b, view(g.L), view(g.R), out, { cols: g.cols, inner: g.inner, start: c.start, n: c.count }, { scale: g.scale, x: { words, dtype: inp.tensor.dtype as Dtype } });
    b.temps.push(words);
    await b.submit();
    return out;
  }

  /**
   * The stored words of input i for chunk c, uploaded but not decoded, for kernels that decode as
   * they read (wsum, gtaFused, l1Blocks). Kept across sweeps for a resident tensor (and decoded
   * from there if input() is asked for later), else freed at endChunk.
   */
  async rawInput(i: number, c: Chunk): Promise<{ words: GPUBuffer; dtype: Dtype }> {
    // a gathered input has no stored words in output order to decode from: its decoded chunk
    if (this.gathers.has(i)) return { words: await this.input(i, c), dtype: 'F32' };
    const dtype = readDtype(this.entry.inputs[i]);
    const key = `raw:${i}:${c.index}`;
    const hit = this.cache.get(key);
    if (hit) return { words: hit, dtype };
    if (this.opts.signal?.aborted) throw new CancelledError();
    const bytes = await this.bytes(i, c);
    this.opts.onRead?.(bytes.byteLength);
    const words = await this.adapt(i, c, this.upload(i, c, bytes));
    if (this.resident) this.cache.set(key, words);
    else this.transient.push(words);
    return { words, dtype };
  }

  /** Whether input i's chunk c is decoded and kept (resident, or in the shared input cache): input() costs nothing. */
  hasDecoded(i: number, c: Chunk): boolean {
    if (this.cache.has(`${i}:${c.index}`)) return true;
    return !!this.opts.inputCache?.get(inputCacheKey(this.entry.inputs[i], c, this.entry.computeDtype));
  }

  /**
   * Input i of chunk c for kernels that decode stored words themselves (gtaFused, l1Blocks): the
   * decoded f32 buffer when an earlier sweep left it (read as F32; rounding it again to the compute
   * dtype changes nothing), else the stored words: nothing is decoded or read twice for it.
   */
  async source(i: number, c: Chunk): Promise<{ words: GPUBuffer; dtype: Dtype }> {
    if (this.hasDecoded(i, c)) return { words: await this.input(i, c), dtype: 'F32' };
    return this.rawInput(i, c);
  }

  /** Decoded f32 buffer of input i for chunk c. */
  async input(i: number, c: Chunk): Promise<GPUBuffer> {
    const key = `${i}:${c.index}`;
    const hit = this.cache.get(key);
    if (hit) return hit;
    const ck = this.opts.inputCache ? inputCacheKey(this.entry.inputs[i], c, this.entry.computeDtype) : undefined;
    const shared = ck !== undefined ? this.opts.inputCache!.get(ck) : undefined;
    if (shared) return shared;
    if (this.opts.signal?.aborted) throw new CancelledError();
    const inp = this.entry.inputs[i];
    const gather = this.gathers.get(i);
    if (gather) {
      // the own rows' stored words in output order, decoded with the fill rows substituted
      const g = await gather.chunk(c);
      this.opts.onRead?.(g.bytes.byteLength);
      const words = this.upload(i, c, g.bytes);
      const out = storage(this.device, c.count * 4, `${this.entry.name}#${i}.gathered`);
      const b = this.batch();
      gatherFill(b, g, words, inp.tensor.dtype as Dtype, out, c.count, this.entry.computeDtype);
      b.temps.push(words);
      await b.submit();
      if (ck !== undefined && this.opts.inputCache!.offer(ck, out, c.count * 4)) return out;
      if (this.resident) this.cache.set(key, out);
      else this.transient.push(out);
      return out;
    }
    // the stored words an earlier sweep kept (resident), or uploaded now
    const kept = this.cache.get(`raw:${key}`);
    let words = kept;
    if (!words) {
      const bytes = await this.bytes(i, c);
      this.opts.onRead?.(bytes.byteLength);
      words = await this.adapt(i, c, this.upload(i, c, bytes));
    }
    let out = words;
    const dtype = readDtype(inp);
    if (!isDecoded(dtype, this.entry.computeDtype)) {
      out = storage(this.device, c.count * 4, `${this.entry.name}#${i}.f32`);
      const b = this.batch();
      decode(b, dtype, words, out, c.count, this.entry.computeDtype);
      if (!kept) b.temps.push(words);
      await b.submit();
    }
    if (ck !== undefined && this.opts.inputCache!.offer(ck, out, c.count * 4)) return out;
    if (this.resident) this.cache.set(key, out);
    else this.transient.push(out);
    return out;
  }

  /** Frees buffers loaded for the current chunk (no-op for resident tensors). */
  endChunk(): void {
    for (const b of this.transient) b.destroy();
    this.transient = [];
  }

  /** The 16-bit dtype a method may encode its output to itself before emitting it (Emit's `encoded`). */
  get encodeTo(): 'F16' | 'BF16' | undefined {
    const d = this.entry.outDtype;
    return this.opts.emitEncoded && (d === 'F16' || d === 'BF16') ? d : undefined;
  }

  /** A named scratch buffer of maxChunk f32 (or `bytes`), reused across chunks. */
  scratch(name: string, bytes = this.maxChunk * 4): GPUBuffer {
    let b = this.scratchBufs.get(name);
    if (!b || b.size < bytes) {
      b?.destroy();
      b = storage(this.device, bytes, `${this.entry.name}:${name}`);
      this.scratchBufs.set(name, b);
    }
    return b;
  }

  /** Tracks a buffer to free when the job ends. */
  own(name: string, buf: GPUBuffer): GPUBuffer {
    this.scratchBufs.get(name)?.destroy();
    this.scratchBufs.set(name, buf);
    return buf;
  }

  dispose(): void {
    this.pending.clear();
    this.loraFactors.clear();
    this.endChunk();
    for (const b of new Set(this.cache.values())) b.destroy();
    for (const b of this.scratchBufs.values()) b.destroy();
    this.cache.clear();
    this.scratchBufs.clear();
  }
}

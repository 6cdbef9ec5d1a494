// Reading an input's bytes for a range of output elements, cropped embeddings included. Kept apart
// from gpu/tensor-job.ts (which pulls in the GPU layer) so CPU paths — the wasm evaluation backend and
// its Node tests — read tensors exactly as the GPU jobs do.
import type { PlanInput } from './plan-types';
import type { LoraTarget, TensorInfo } from '../formats/model-info';
import { itemSize, type Dtype } from '../formats/dtype';
import { MethodError } from '../errors';
import { decodeElements } from '../formats/dtype-codec';

/**
 * Names the decoded f32 values of an input's chunk: the file, the tensor's bytes, the crop, the
 * compute dtype and the element range, so a changed model file never hits a cache (gpu/input-cache.ts,
 * eval/cpu-weights.ts).
 */
export function inputCacheKey(inp: PlanInput, c: { start: number; count: number }, computeDtype?: string): string {
  const t = inp.tensor;
  const l = t.lora;
  const lora = l ? `${l.a.source.name}:${l.a.source.size}:${l.a.byteOffset}:${l.b.byteOffset}:${l.scale}:${l.transposed}` : '';
  return [t.source.name, t.source.size, t.name, t.byteOffset, t.dtype, t.shape.join('x'), inp.crop?.join('x') ?? '', inp.rows?.key ?? '', computeDtype ?? '', c.start, c.count, lora].join('|');
}

/** Bytes of elements [start, start+count) of an input in the (possibly cropped) output layout. */
export async function readChunkBytes(inp: PlanInput, c: { start: number; count: number }, signal?: AbortSignal): Promise<Uint8Array> {
  const t = inp.tensor;
  if (inp.rows) throw new MethodError(`internal error: ${t.source.name} ${t.name} has a row map; read it with RowGatherReader (recipe/row-gather.ts)`, { tensor: t.name });
  const size = itemSize(t.dtype as Dtype);
  if (!inp.crop || inp.crop[1] === t.shape[t.shape.length - 1]) {
    // contiguous: a crop that only drops rows is a prefix
    return t.source.read(t.byteOffset + c.start * size, c.count * size, signal);
  }
  const [, cols] = inp.crop;
  const fullCols = t.shape[t.shape.length - 1];
  const r0 = Math.floor(c.start / cols);
  const r1 = Math.ceil((c.start + c.count) / cols);
  const raw = await t.source.read(t.byteOffset + r0 * fullCols * size, (r1 - r0) * fullCols * size, signal);
  // copy the kept [0, cols) prefix of each row, as contiguous runs
  const out = new Uint8Array(c.count * size);
  for (let e = 0; e < c.count; ) {
    const g = c.start + e;
    const row = Math.floor(g / cols) - r0;
    const col = g % cols;
    const run = Math.min(cols - col, c.count - e);
    const from = (row * fullCols + col) * size;
    out.set(raw.subarray(from, from + run * size), e * size);
    e += run;
  }
  return out;
}

/** The LoRA factors of an input, decoded to f32 (whole: r × (rows + cols) values). */
export async function readLoraFactors(lora: LoraTarget, signal?: AbortSignal): Promise<{ a: Float32Array; b: Float32Array }> {
  const read = (t: TensorInfo) => t.source.read(t.byteOffset, t.byteLength, signal).then((bytes) => decodeElements(bytes, t.dtype as Dtype));
  const [a, b] = await Promise.all([read(lora.a), read(lora.b)]);
  return { a, b };
}

/** A strided view of a factor: element (i, j) at `which`[i·s0 + j·s1]. */
export interface FactorView {
  which: 'a' | 'b';
  s0: number;
  s1: number;
}

/**
 * How an input's LoRA update reads in the chunk's output layout: ΔW[row, col] = Σₖ L(row, k)·R(k, col)
 * over `inner` = rank, `cols` the output layout's columns (a crop keeps the leading rows and columns).
 */
export function loraGeometry(inp: PlanInput): { L: FactorView; R: FactorView; cols: number; inner: number; scale: number } {
  const t = inp.tensor;
  const lora = t.lora!;
  // strides from the factors' own shapes (the stored W's full dims), so a crop — or an input whose
  // bytes were already cropped (backends/webgpu/execute.ts cacheSweptInputs) — reads the right rows
  const cols = inp.crop ? inp.crop[1] : t.shape[t.shape.length - 1];
  const r = lora.rank;
  const aRow = lora.a.shape[1];
  // B [rows, r] · A [r, in]; transposed: Aᵀ [rows, r] (A is [r, rows]) · Bᵀ [r, cols] (B is [cols, r])
  const g = lora.transposed ? { L: { which: 'a' as const, s0: 1, s1: aRow }, R: { which: 'b' as const, s0: 1, s1: r } } : { L: { which: 'b' as const, s0: r, s1: 1 }, R: { which: 'a' as const, s0: aRow, s1: 1 } };
  return { ...g, cols, inner: r, scale: lora.scale };
}

/** The stored dtype an input's chunk has once read: F32 when a LoRA update is added to it. */
export function readDtype(inp: PlanInput): Dtype {
  return inp.tensor.lora ? 'F32' : (inp.tensor.dtype as Dtype);
}

/** A flat range of a matrix product's output (the LoRA kernel and its CPU twin). */
export interface ProductRange {
  /** Columns of the output matrix. */
  cols: number;
  /** The shared dimension. */
  inner: number;
  /** Flat output range [start, start + n). */
  start: number;
  n: number;
}

// Reading an input's bytes for a range of output elements, cropped embeddings included. Kept apart
// from gpu/tensor-job.ts (which pulls in the GPU layer) so CPU paths — the wasm evaluation backend and
// its Node tests — read tensors exactly as the GPU jobs do.
import type { PlanInput } from './plan-types';
import { itemSize, type Dtype } from '../formats/dtype';
import { MethodError } from '../errors';

/**
 * Names the decoded f32 values of an input's chunk: the file, the tensor's bytes, the crop, the
 * compute dtype and the element range, so a changed model file never hits a cache (gpu/input-cache.ts,
 * eval/cpu-weights.ts).
 */
export function inputCacheKey(inp: PlanInput, c: { start: number; count: number }, computeDtype?: string): string {
  const t = inp.tensor;
  return [t.source.name, t.source.size, t.name, t.byteOffset, t.dtype, t.shape.join('x'), inp.crop?.join('x') ?? '', inp.rows?.key ?? '', computeDtype ?? '', c.start, c.count].join('|');
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

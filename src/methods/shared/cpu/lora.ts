// The CPU twin of shaders/lora.wgsl (gpu/ops-lora.ts): the same f32 operations in the same order,
// so a LoRA update (and every product of the extraction) has the same bits on both engines.
import type { Dtype } from '../../../formats/dtype';
import { decodeElements, roundThrough } from '../../../formats/dtype-codec';
import type { PlanInput } from '../../../recipe/plan-types';
import { loraGeometry, type FactorView, type ProductRange } from '../../../recipe/chunk-read';

/** A matrix operand: element (i, j) at data[off + i·s0 + j·s1]. */
export interface StridedArray {
  data: Float32Array;
  off?: number;
  s0: number;
  s1: number;
}

export type { ProductRange };

const f = Math.fround;

/**
 * out[i] = (x ? x[i] : 0) + scale · Σₖ L(row, k)·R(k, col) for i in [0, n), (row, col) =
 * divmod(start + i, cols): per element, acc = 0 then acc += f32(L·R) in k order, then
 * f32(x + f32(scale · acc)) — exactly the kernel's operations.
 */
export function loraMatmulCpu(L: StridedArray, R: StridedArray, g: ProductRange, o: { scale?: number; x?: Float32Array } = {}): Float32Array {
  const out = new Float32Array(g.n);
  const scale = f(o.scale ?? 1);
  const { data: ld, s0: l0, s1: l1 } = L;
  const { data: rd, s0: r0, s1: r1 } = R;
  const lo = L.off ?? 0;
  const ro = R.off ?? 0;
  const x = o.x;
  let row = Math.floor(g.start / g.cols);
  let col = g.start - row * g.cols;
  for (let i = 0; i < g.n; i++) {
    let acc = 0;
    let li = lo + row * l0;
    let ri = ro + col * r1;
    for (let k = 0; k < g.inner; k++, li += l1, ri += r0) acc = f(acc + f(ld[li] * rd[ri]));
    const d = f(scale * acc);
    out[i] = x ? f(x[i] + d) : d;
    if (++col === g.cols) {
      col = 0;
      row++;
    }
  }
  return out;
}

/**
 * An input chunk's values with its LoRA update added (f32, not yet rounded to a compute dtype), as
 * the WebGPU tensor job computes them: `bytes` are the chunk's stored bytes.
 */
export function adaptChunk(inp: PlanInput, c: { start: number; count: number }, bytes: Uint8Array, factors: { a: Float32Array; b: Float32Array }): Float32Array {
  const g = loraGeometry(inp);
  const view = (v: FactorView): StridedArray => ({ data: factors[v.which], s0: v.s0, s1: v.s1 });
  const x = decodeElements(bytes, inp.tensor.dtype as Dtype);
  return loraMatmulCpu(view(g.L), view(g.R), { cols: g.cols, inner: g.inner, start: c.start, n: c.count }, { scale: g.scale, x });
}

/**
 * An input chunk's stored bytes as the engines' kernels see them: decoded, its LoRA update added
 * first when it has one (`factors` read on demand), then rounded to the compute dtype. The CPU
 * engine, the evaluator's CPU weights and the extraction read inputs through this one function.
 */
export async function decodeInputChunk(
  inp: PlanInput,
  c: { start: number; count: number },
  bytes: Uint8Array,
  computeDtype: Dtype | undefined,
  factors: () => Promise<{ a: Float32Array; b: Float32Array }>,
): Promise<Float32Array> {
  const dtype = inp.tensor.dtype as Dtype;
  if (!inp.tensor.lora) return decodeElements(bytes, dtype, computeDtype);
  const adapted = adaptChunk(inp, c, bytes, await factors());
  return computeDtype && computeDtype !== 'F32' ? roundThrough(adapted, computeDtype) : adapted;
}

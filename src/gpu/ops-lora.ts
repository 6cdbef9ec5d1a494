// Typed wrapper of shaders/lora.wgsl: a tiled f32 product of strided operands over a flat range of
// the output, optionally added to a stored tensor chunk (LoRA applied while a tensor streams).
import type { Dtype } from '../formats/dtype';
import type { Batch } from './buffers';
import { dispatch, workgroups } from './kernels';
import type { ProductRange } from '../recipe/chunk-read';

const CODE: Record<Dtype, number> = { F32: 0, F16: 1, BF16: 2 };

/** A matrix operand: element (i, j) at buf[off + i·s0 + j·s1] (f32). */
export interface Strided {
  buf: GPUBuffer;
  off?: number;
  s0: number;
  s1: number;
}

export type { ProductRange };

/**
 * out[i] = (x ? decode(x[i]) : 0) + scale · Σₖ L(row, k)·R(k, col) for i in [0, n), (row, col) =
 * divmod(start + i, cols); sums in k order, one f32 product and add per k (the CPU twin's order).
 */
export function loraMatmul(b: Batch, L: Strided, R: Strided, out: GPUBuffer, g: ProductRange, o: { scale?: number; x?: { words: GPUBuffer; dtype: Dtype } } = {}): void {
  if (g.n === 0) return;
  const row0 = Math.floor(g.start / g.cols);
  const last = Math.floor((g.start + g.n - 1) / g.cols);
  const tilesX = Math.ceil(g.cols / 16);
  const tiles = tilesX * Math.ceil((last - row0 + 1) / 16);
  dispatch(
    b, 'lora', 'lora_matmul',
    {
      n: g.n, start: g.start, cols: g.cols, inner: g.inner, row0, tiles_x: tilesX,
      l_off: L.off ?? 0, l_row: L.s0, l_k: L.s1, r_off: R.off ?? 0, r_k: R.s0, r_col: R.s1,
      dt: o.x ? CODE[o.x.dtype] : 0, flags: o.x ? 1 : 0, scale: o.scale ?? 1,
    },
    [o.x?.words, L.buf, R.buf, out],
    workgroups(tiles, 1),
  );
}

// Typed wrapper of shaders/gather.wgsl: an embedding input's chunk in the output vocabulary of a
// tokenizer merge, decoded from stored words laid out in output order, fill rows substituted.
import type { Dtype } from '../formats/dtype';
import type { GatheredChunk } from '../recipe/row-gather';
import { uploadBytes, type Batch } from './buffers';
import { dispatch, workgroups } from './kernels';

const CODE: Record<Dtype, number> = { F32: 0, F16: 1, BF16: 2 };

/**
 * out[0..n) = the chunk's values: words (g.bytes uploaded, dtype) decoded and rounded to roundTo
 * for own rows, g.fill's rows for filled ones. Uploads the row selectors and fill rows (freed with b).
 */
export function gatherFill(b: Batch, g: GatheredChunk, words: GPUBuffer, dtype: Dtype, out: GPUBuffer, n: number, roundTo?: Dtype): void {
  const round = roundTo === 'BF16' && dtype !== 'BF16' ? 1 : roundTo === 'F16' && dtype !== 'F16' ? 2 : 0;
  const sel = uploadBytes(b.device, new Uint8Array(g.rowSel.buffer, g.rowSel.byteOffset, g.rowSel.byteLength), 'gather.row_sel', b.traffic);
  const fill = uploadBytes(b.device, new Uint8Array(g.fill.buffer, g.fill.byteOffset, g.fill.byteLength), 'gather.fill', b.traffic);
  b.temps.push(sel, fill);
  dispatch(b, 'gather', 'gather_fill', { n, cols: g.cols, col0: g.col0, dtype: CODE[dtype], round_to: round, fill_rows: g.fillRows }, [words, sel, fill, out], workgroups(n));
}

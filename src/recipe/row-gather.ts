// The gather-with-fill read of an embedding input whose rows a tokenizer merge permutes
// (PlanInput.rows, recipe/vocab.ts). For a chunk of output elements it reads the model's own rows
// (coalesced into runs of consecutive source rows, only the columns the chunk covers) into stored
// bytes laid out as the output, and lists, per output row of the chunk, whether it is the model's
// own row (0) or fill k + 1, with the fill rows' f32 values. WebGPU decodes and fills in one kernel
// (shaders/gather.wgsl, gpu/ops-gather.ts); gatherFillValues below is its CPU twin (same bits).
// Fill values are computed here, on the host, for both engines: a donor row, the mean of the rows
// of the models that have the token (in the merge dtype, as mergekit adds them), zeros, or — for
// pad_to_multiple_of — the mean of the input's own permuted rows (one streaming pass, cached).
import type { PlanEntry, PlanInput } from './plan-types';
import type { FillSource } from './vocab';
import { itemSize, type Dtype } from '../formats/dtype';
import { decodeElements, roundThrough } from '../formats/dtype-codec';
import { MethodError } from '../errors';

export interface GatheredChunk {
  /** Stored bytes of elements [start, start + count) in the output layout; fill rows are zeros. */
  bytes: Uint8Array;
  /** Per output row the chunk touches (from its first): 0 = the input's own row, k + 1 = fill row k. */
  rowSel: Uint32Array;
  /** The chunk's fill rows, whole rows of `cols` f32 values. */
  fill: Float32Array;
  /** Rows of `fill`. */
  fillRows: number;
  /** Column of the chunk's first element within its row. */
  col0: number;
  cols: number;
}

/** Gaps of at most this many unused source rows are read through rather than split into two reads. */
const READ_GAP_ROWS = 16;

/**
 * Reads gathered chunks of input `i` of `entry`; computes (and keeps) the fill rows the chunks need.
 * One per (entry, input) for the duration of a tensor's merge.
 */
export class RowGatherReader {
  private readonly inp: PlanInput;
  private readonly cols: number;
  private readonly dtype: Dtype;
  private readonly size: number;
  private fillCache = new Map<number, Promise<Float32Array>>();

  constructor(
    readonly entry: PlanEntry,
    readonly i: number,
    private readonly signal?: AbortSignal,
  ) {
    this.inp = entry.inputs[i];
    if (!this.inp.rows) throw new MethodError(`internal error: input ${i} of "${entry.name}" has no row map`, { tensor: entry.name });
    if (entry.shape.length !== 2) throw new MethodError(`internal error: "${entry.name}" gathers rows but is not a matrix`, { tensor: entry.name });
    this.cols = entry.shape[1];
    this.dtype = this.inp.tensor.dtype as Dtype;
    this.size = this.inp.rows.map.length;
  }

  /** The dtype mergekit's permuted matrix has: the merge dtype, else the input's own. */
  private get workDtype(): Dtype {
    return this.entry.computeDtype ?? this.dtype;
  }

  private round(v: Float32Array): Float32Array {
    const w = this.workDtype;
    return w === 'F32' ? v : roundThrough(v, w);
  }

  /** Raw row `row` of input j, decoded (rounded to the compute dtype, as every input is). */
  private async rawRow(j: number, row: number): Promise<Float32Array> {
    const t = this.entry.inputs[j].tensor;
    const size = itemSize(t.dtype as Dtype);
    const cols = t.shape[1];
    if (cols !== this.cols) throw new MethodError(`internal error: "${this.entry.name}" input ${j} has ${cols} columns, expected ${this.cols}`, { tensor: this.entry.name });
    const bytes = await t.source.read(t.byteOffset + row * cols * size, cols * size, this.signal);
    return decodeElements(bytes, t.dtype as Dtype, this.entry.computeDtype);
  }

  /** The f32 values of fill k (one row). */
  fillRow(k: number): Promise<Float32Array> {
    let p = this.fillCache.get(k);
    if (!p) {
      p = this.computeFill(this.inp.rows!.fills[k]);
      this.fillCache.set(k, p);
    }
    return p;
  }

  private async computeFill(f: FillSource): Promise<Float32Array> {
    switch (f.kind) {
      case 'zero':
        return new Float32Array(this.cols);
      case 'row':
        return this.rawRow(f.input, f.row);
      case 'mean': {
        // embed = zeros; embed += row (each model that has the token); embed /= count — in the work dtype
        const w = this.workDtype;
        const acc = new Float32Array(this.cols);
        for (const r of f.rows) {
          const x = await this.rawRow(r.input, r.row);
          for (let c = 0; c < this.cols; c++) acc[c] = acc[c] + x[c];
          if (w !== 'F32') acc.set(roundThrough(acc, w));
        }
        for (let c = 0; c < this.cols; c++) acc[c] = acc[c] / f.rows.length;
        return this.round(acc);
      }
      case 'pad-mean':
        return this.padMean(f.size);
    }
  }

  /** Mean of the input's first `size` output rows (own and filled), summed in f64, one streaming pass. */
  private async padMean(size: number): Promise<Float32Array> {
    const sum = new Float64Array(this.cols);
    const rowsPerRead = Math.max(1, Math.floor((4 << 20) / (this.cols * 4)));
    for (let r0 = 0; r0 < size; r0 += rowsPerRead) {
      const rows = Math.min(rowsPerRead, size - r0);
      const c = { start: r0 * this.cols, count: rows * this.cols };
      const v = gatherFillValues(await this.chunk(c), this.dtype, this.entry.computeDtype);
      for (let e = 0; e < v.length; e++) sum[e % this.cols] += v[e];
    }
    const mean = new Float32Array(this.cols);
    for (let c = 0; c < this.cols; c++) mean[c] = sum[c] / size;
    return this.round(mean);
  }

  /** The gathered chunk of output elements [start, start + count). */
  async chunk(c: { start: number; count: number }): Promise<GatheredChunk> {
    const { map } = this.inp.rows!;
    const t = this.inp.tensor;
    const cols = this.cols;
    const size = itemSize(this.dtype);
    const bytes = new Uint8Array(c.count * size);
    const col0 = c.start % cols;
    const r0 = Math.floor(c.start / cols);
    const r1 = c.count > 0 ? Math.floor((c.start + c.count - 1) / cols) : r0 - 1;
    const rowSel = new Uint32Array(Math.max(0, r1 - r0 + 1));
    // own rows of the chunk, by source row
    const own: { out: number; src: number }[] = [];
    const fillsHere = new Map<number, number>(); // fill index → local fill row
    for (let r = r0; r <= r1; r++) {
      const m = map[r];
      if (m >= 0) own.push({ out: r, src: m });
      else {
        const k = -m - 1;
        let local = fillsHere.get(k);
        if (local === undefined) fillsHere.set(k, (local = fillsHere.size));
        rowSel[r - r0] = local + 1;
      }
    }
    // the part of output row r inside the chunk: [from, to) columns
    const span = (r: number): [number, number] => [r === r0 ? col0 : 0, r === r1 ? c.start + c.count - r1 * cols : cols];
    own.sort((a, b) => a.src - b.src);
    const reads: Promise<void>[] = [];
    for (let a = 0; a < own.length; ) {
      let b = a + 1;
      while (b < own.length && own[b].src - own[b - 1].src <= READ_GAP_ROWS) b++;
      const first = own[a].src;
      const last = own[b - 1].src;
      const group = own.slice(a, b);
      reads.push(
        t.source.read(t.byteOffset + first * cols * size, (last - first + 1) * cols * size, this.signal).then((raw) => {
          for (const g of group) {
            const [from, to] = span(g.out);
            const src = ((g.src - first) * cols + from) * size;
            bytes.set(raw.subarray(src, src + (to - from) * size), (g.out * cols + from - c.start) * size);
          }
        }),
      );
      a = b;
    }
    await Promise.all(reads);
    const fill = new Float32Array(fillsHere.size * cols);
    for (const [k, local] of fillsHere) fill.set(await this.fillRow(k), local * cols);
    return { bytes, rowSel, fill, fillRows: fillsHere.size, col0, cols };
  }
}

/**
 * The CPU twin of shaders/gather.wgsl's gather_fill: the chunk's f32 values — stored words decoded
 * (rounded to the compute dtype) for own rows, the fill values for filled ones.
 */
export function gatherFillValues(g: GatheredChunk, dtype: Dtype, computeDtype?: Dtype): Float32Array {
  const out = decodeElements(g.bytes, dtype, computeDtype);
  const { cols, col0, rowSel, fill } = g;
  for (let e = 0; e < out.length; ) {
    const local = col0 + e;
    const r = Math.floor(local / cols);
    const col = local - r * cols;
    const run = Math.min(cols - col, out.length - e);
    const sel = rowSel[r];
    if (sel !== 0) out.set(fill.subarray((sel - 1) * cols + col, (sel - 1) * cols + col + run), e);
    e += run;
  }
  return out;
}

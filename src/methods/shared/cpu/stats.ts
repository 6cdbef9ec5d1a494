// The WebGPU engine's deterministic reductions, reproduced operation for operation in f32 so the
// CPU engine derives the same statistics (and so the same output bits): a 1024-element block is
// summed by 256 "threads" (thread t adds elements t, t+256, t+512, t+768 in that order), then a
// fixed pairwise tree (strides 128…1) — shaders/prelude.wgsl tree(), shaders/reduce.wgsl. Per-block
// f32 partials are then added in f64 in block order, as the GPU engine's host code does.

const f = Math.fround;
const lanes = new Float32Array(256);

/** The workgroup tree over 256 lanes (default: `lanes`): returns lane 0 after strides 128, 64, …, 1. */
function tree(l: Float32Array = lanes): number {
  for (let stride = 128; stride > 0; stride >>= 1) for (let t = 0; t < stride; t++) l[t] = l[t] + l[t + stride];
  return l[0];
}

/**
 * l1_rows (shaders/prune.wgsl) over the whole rows of one chunk: per row, thread t adds elements
 * t, t+256, … of the row in order, then the tree; the row sums are added to `totals` in row order.
 */
export function l1RowSums(d: Float32Array, mask: Uint32Array, start: number, C: number, totals: [number, number]): [number, number] {
  let [t0, t1] = totals;
  const lanes1 = l1Lanes1;
  for (let r0 = 0; r0 < d.length; r0 += C) {
    for (let t = 0; t < 256; t++) {
      let a0 = 0;
      let a1 = 0;
      for (let j = t; j < C; j += 256) {
        const v = Math.abs(d[r0 + j]);
        a0 = f(a0 + v);
        const g = start + r0 + j;
        if ((mask[g >>> 5] >>> (g & 31)) & 1) a1 = f(a1 + v);
      }
      lanes[t] = a0;
      lanes1[t] = a1;
    }
    t0 += tree();
    t1 += tree(lanes1);
  }
  return [t0, t1];
}

/**
 * l1_blocks over one chunk without callbacks (the hot path of the L1 rescale): Σ|d| and Σ|d| over
 * the elements whose bit (start + i) is set in `mask`, added to `totals`.
 */
export function l1BlockSums(d: Float32Array, mask: Uint32Array, start: number, totals: [number, number]): [number, number] {
  // (per 1024-element block: the l1_blocks kernel's 256 threads and tree)
  let [t0, t1] = totals;
  const n = d.length;
  const lanes1 = l1Lanes1;
  for (let b = 0; b < n; b += 1024) {
    for (let t = 0; t < 256; t++) {
      let a0 = 0;
      let a1 = 0;
      for (let k = 0; k < 4; k++) {
        const i = b + k * 256 + t;
        if (i < n) {
          const v = Math.abs(d[i]);
          a0 = f(a0 + v);
          const g = start + i;
          if ((mask[g >>> 5] >>> (g & 31)) & 1) a1 = f(a1 + v);
        }
      }
      lanes[t] = a0;
      lanes1[t] = a1;
    }
    t0 += tree();
    t1 += tree(lanes1);
  }
  return [t0, t1];
}
const l1Lanes1 = new Float32Array(256);

/**
 * dot_blocks (shaders/reduce.wgsl) over the first n elements of one chunk: per 1024-element block,
 * lane t adds a[i]·b[i] for i = t, t+256, t+512, t+768 (f32 products and sums), then the tree; each
 * block's f32 partial is added to `total` in f64, in block order (collectPartials + sum64). Callers
 * pass task vectors already rounded to f32 (x − base) where the GPU subtracts the base.
 */
export function dotBlockSum(a: Float32Array, b: Float32Array, n: number, total: number): number {
  for (let s = 0; s < n; s += 1024) {
    const end = Math.min(n, s + 1024);
    for (let t = 0; t < 256; t++) {
      let acc = 0;
      for (let i = s + t; i < end; i += 256) acc = f(acc + f(a[i] * b[i]));
      lanes[t] = acc;
    }
    total += tree();
  }
  return total;
}

/**
 * dot_rows (shaders/reduce.wgsl) over the whole rows (rowLen elements) in the first n elements of a
 * chunk: per row, lane t adds a·b over elements t, t+256, … of the row, then the tree; row r's f32
 * sum is written to out[at + r].
 */
export function dotRowSums(a: Float32Array, b: Float32Array, n: number, rowLen: number, out: Float32Array, at: number): void {
  for (let r0 = 0, r = at; r0 < n; r0 += rowLen, r++) {
    for (let t = 0; t < 256; t++) {
      let acc = 0;
      for (let i = r0 + t, end = r0 + rowLen; i < end; i += 256) acc = f(acc + f(a[i] * b[i]));
      lanes[t] = acc;
    }
    out[r] = tree();
  }
}

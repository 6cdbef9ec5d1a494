// The WebGPU engine's deterministic reductions, reproduced operation for operation in f32 so the
// CPU engine derives the same statistics (and so the same output bits): a 1024-element block is
// summed by 256 "threads" (thread t adds elements t, t+256, t+512, t+768 in that order), then a
// fixed pairwise tree (strides 128…1) — shaders/prelude.wgsl tree(), shaders/reduce.wgsl. Per-block
// f32 partials are then added in f64 in block order, as the GPU engine's host code does.

const f = Math.fround;
const lanes = new Float32Array(256);

/** The workgroup tree over lanes[0..256): returns lanes[0] after strides 128, 64, …, 1. */
function tree(): number {
  for (let stride = 128; stride > 0; stride >>= 1) for (let t = 0; t < stride; t++) lanes[t] = lanes[t] + lanes[t + stride];
  return lanes[0];
}

/**
 * Σ over 1024-element blocks of v(i) (i local to `values`' arrays), each block summed as
 * the GPU does, blocks added in f64. `v` returns the f32 term of element i (0 to skip it).
 * `total`: the running f64 sum of earlier chunks (partials are added one by one, in order, exactly
 * as the host adds the GPU's).
 */
export function blockSum(n: number, v: (i: number) => number, total = 0): number {
  for (let start = 0; start < n; start += 1024) {
    for (let t = 0; t < 256; t++) {
      let acc = 0;
      for (let k = 0; k < 4; k++) {
        const i = start + k * 256 + t;
        if (i < n) acc = f(acc + v(i));
      }
      lanes[t] = acc;
    }
    total += tree();
  }
  return total;
}

/** Two block sums in one sweep (l1_blocks: Σ|δ| and Σ|δ·mask|). */
export function blockSum2(n: number, v: (i: number) => number, keep: (i: number) => boolean, totals: [number, number] = [0, 0]): [number, number] {
  let [t0, t1] = totals;
  const lanes1 = new Float32Array(256);
  for (let start = 0; start < n; start += 1024) {
    for (let t = 0; t < 256; t++) {
      let a0 = 0;
      let a1 = 0;
      for (let k = 0; k < 4; k++) {
        const i = start + k * 256 + t;
        if (i < n) {
          const d = v(i);
          a0 = f(a0 + d);
          if (keep(i)) a1 = f(a1 + d);
        }
      }
      lanes[t] = a0;
      lanes1[t] = a1;
    }
    t0 += tree();
    for (let stride = 128; stride > 0; stride >>= 1) for (let t = 0; t < stride; t++) lanes1[t] = lanes1[t] + lanes1[t + stride];
    t1 += lanes1[0];
  }
  return [t0, t1];
}

/**
 * Per-row sums as shaders/prune.wgsl l1_rows: thread t adds elements t, t+256, … of the row in
 * order, then the tree. Returns [Σ|δ|, Σ|δ·mask|] of one row of `len` elements starting at `r0`.
 */
export function rowSum2(r0: number, len: number, v: (i: number) => number, keep: (i: number) => boolean): [number, number] {
  const lanes1 = rowLanes1;
  for (let t = 0; t < 256; t++) {
    let a0 = 0;
    let a1 = 0;
    for (let j = t; j < len; j += 256) {
      const d = v(r0 + j);
      a0 = f(a0 + d);
      if (keep(r0 + j)) a1 = f(a1 + d);
    }
    lanes[t] = a0;
    lanes1[t] = a1;
  }
  const s0 = tree();
  for (let stride = 128; stride > 0; stride >>= 1) for (let t = 0; t < stride; t++) lanes1[t] = lanes1[t] + lanes1[t + stride];
  return [s0, lanes1[0]];
}
const rowLanes1 = new Float32Array(256);

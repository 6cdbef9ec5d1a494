// Exact, deterministic magnitude ranking shared by the sparsifiers (TIES top-k, breadcrumbs).
//
// ORDER AND TIE RULE (the contract the GPU select kernels must reproduce bit for bit):
//   * Elements are ranked by their f32 value in DESCENDING order (callers pass |δ| as f32).
//   * Equal values are ranked by flat index, LOWER INDEX FIRST (rank 0 = largest, earliest).
//   * −0 and +0 compare equal (so they tie and fall back to the index rule).
//   * NaN ranks above +Infinity (torch's descending sort puts NaN first); NaNs tie among themselves.
// mergekit's torch.argsort is unstable, so at a tie its choice is undefined; this rule pins it.
//
// Implementation: each f32 is mapped to an order-preserving u32 key, complemented for descending
// order, and sorted with a stable LSD radix sort (two 16-bit passes) starting from index order —
// stability gives the lower-index-first tie rule for free. O(n), fine for tensors of 1e7 elements.

/** δ = fround(x − base): the task vector, with the subtraction rounded to f32 like the GPU. */
export function taskVector(x: Float32Array, base: Float32Array): Float32Array {
  if (x.length !== base.length) throw new RangeError(`taskVector: lengths differ (${x.length} vs ${base.length})`);
  const out = new Float32Array(x.length);
  for (let i = 0; i < x.length; i++) out[i] = x[i] - base[i]; // Float32Array store rounds to f32
  return out;
}

/** |v| for every element, as f32 (exact: abs never rounds). */
export function absF32(v: Float32Array): Float32Array {
  const out = new Float32Array(v.length);
  for (let i = 0; i < v.length; i++) out[i] = Math.abs(v[i]);
  return out;
}

/** Order-preserving u32 key of an f32 bit pattern (ascending key ⇔ ascending value), NaN highest. */
export function orderKey(bits: number): number {
  if ((bits & 0x7f800000) === 0x7f800000 && (bits & 0x007fffff) !== 0) return 0xffffffff; // NaN
  if (bits === 0x80000000) bits = 0; // −0 → +0
  return bits & 0x80000000 ? ~bits >>> 0 : (bits | 0x80000000) >>> 0;
}

/**
 * Indices in descending-value order (ties: lower index first). order[r] is the flat index of the
 * element with rank r.
 */
export function descendingOrder(values: Float32Array): Uint32Array {
  const n = values.length;
  const bits = new Uint32Array(values.buffer, values.byteOffset, n);
  const keys = new Uint32Array(n);
  for (let i = 0; i < n; i++) keys[i] = ~orderKey(bits[i]) >>> 0; // ascending in this key = descending value
  let src = new Uint32Array(n);
  for (let i = 0; i < n; i++) src[i] = i;
  let dst = new Uint32Array(n);
  const count = new Uint32Array(65536);
  for (const shift of [0, 16]) {
    count.fill(0);
    for (let i = 0; i < n; i++) count[(keys[i] >>> shift) & 0xffff]++;
    let sum = 0;
    for (let b = 0; b < 65536; b++) {
      const c = count[b];
      count[b] = sum;
      sum += c;
    }
    for (let i = 0; i < n; i++) {
      const idx = src[i];
      dst[count[(keys[idx] >>> shift) & 0xffff]++] = idx;
    }
    [src, dst] = [dst, src];
  }
  return src;
}

/** rank[i] = position of element i in descending order (0 = largest; ties: lower index first). */
export function descendingRanks(values: Float32Array): Int32Array {
  const order = descendingOrder(values);
  const rank = new Int32Array(values.length);
  for (let r = 0; r < order.length; r++) rank[order[r]] = r;
  return rank;
}

/** Mask (1 = keep) of the elements whose descending rank r satisfies lo ≤ r < hi. */
export function rankRangeMask(values: Float32Array, lo: number, hi: number): Uint8Array {
  const n = values.length;
  const mask = new Uint8Array(n);
  const from = Math.max(0, lo);
  const to = Math.min(n, hi);
  if (from >= to) return mask;
  const order = descendingOrder(values);
  for (let r = from; r < to; r++) mask[order[r]] = 1;
  return mask;
}

/** Mask of the k largest values (pass |δ|): descending rank < k, ties broken by lower index. */
export function topkMask(absValues: Float32Array, k: number): Uint8Array {
  return rankRangeMask(absValues, 0, k);
}

// CPU twins of the magnitude-pruning primitives (methods/shared/webgpu/prune.ts) and of the CABS selection.
//
// KEYS: an element's magnitude key is the f32 bit pattern of δ with the sign bit cleared
// (δ = fround(x − base) for task vectors, x for raw weights). For every non-NaN value this orders
// exactly like |δ| (−0 and +0 are the same key); NaNs rank above +∞ (by payload, as on the GPU).
// RANK ORDER everywhere: eligible ("free") before not, then key descending, then lower flat index.
// Masks are Uint8Array (1 = keep), one entry per element.

import { blockQuota } from '../../cabs/spec';

/** δ = fround(x − base) (or x), as the u32 magnitude key described above. */
export function magnitudeKeys(x: Float32Array, base?: Float32Array): Uint32Array {
  const d = new Float32Array(x.length);
  if (base) for (let i = 0; i < x.length; i++) d[i] = x[i] - base[i];
  else d.set(x);
  const bits = new Uint32Array(d.buffer);
  const out = new Uint32Array(x.length);
  for (let i = 0; i < x.length; i++) out[i] = bits[i] & 0x7fffffff;
  return out;
}

/** Length of a row (the last dimension; 1 for a scalar). */
export function rowLength(shape: readonly number[]): number {
  return shape.length ? shape[shape.length - 1] : 1;
}

/** Elements to keep for a target sparsity: count − round(sparsity·count), clamped to [0, count]. */
export function keepCount(sparsity: number, count: number): number {
  return Math.min(count, Math.max(0, count - Math.round(sparsity * count)));
}

/** Indices [from, to) ordered by key descending, lower index first at equal keys (stable radix). */
function orderDesc(keys: Uint32Array, idx: Uint32Array): Uint32Array {
  if (idx.length < 4096) return Uint32Array.from(idx).sort((a, b) => keys[b] - keys[a] || a - b);
  let src = Uint32Array.from(idx);
  let dst = new Uint32Array(src.length);
  const count = new Uint32Array(65536);
  for (const shift of [0, 16]) {
    count.fill(0);
    for (let i = 0; i < src.length; i++) count[~(keys[src[i]] >>> shift) & 0xffff]++;
    let sum = 0;
    for (let b = 0; b < 65536; b++) {
      const c = count[b];
      count[b] = sum;
      sum += c;
    }
    for (let i = 0; i < src.length; i++) {
      const j = src[i];
      dst[count[~(keys[j] >>> shift) & 0xffff]++] = j;
    }
    [src, dst] = [dst, src];
  }
  return src;
}

/**
 * Keeps `q` elements of the index set `idx` (ascending), in rank order: free (used[i] = 0) first,
 * then key descending, then lower index. Sets mask[i] = 1 for the kept ones.
 */
function keepTop(keys: Uint32Array, idx: Uint32Array, q: number, used: Uint8Array | undefined, mask: Uint8Array): void {
  if (q <= 0 || idx.length === 0) return;
  const order = orderDesc(keys, idx);
  let left = q;
  if (used) {
    for (let r = 0; r < order.length && left > 0; r++) if (!used[order[r]]) (mask[order[r]] = 1), left--;
    for (let r = 0; r < order.length && left > 0; r++) if (used[order[r]]) (mask[order[r]] = 1), left--;
  } else {
    for (let r = 0; r < order.length && left > 0; r++) (mask[order[r]] = 1), left--;
  }
}

/** Whole-tensor exact top-k (k elements; free ones first when `used` is given). */
export function tensorTopkMask(keys: Uint32Array, k: number, used?: Uint8Array): Uint8Array {
  const n = keys.length;
  const mask = new Uint8Array(n);
  const idx = new Uint32Array(n);
  for (let i = 0; i < n; i++) idx[i] = i;
  keepTop(keys, idx, Math.min(k, n), used, mask);
  return mask;
}

/** Per-row top-k: every row of rowLen keeps min(k, rowLen) elements. */
export function rowTopkMask(keys: Uint32Array, rowLen: number, k: number): Uint8Array {
  const n = keys.length;
  const mask = new Uint8Array(n);
  if (rowLen <= 0) return mask;
  for (let r0 = 0; r0 < n; r0 += rowLen) {
    const idx = new Uint32Array(Math.min(rowLen, n - r0));
    for (let j = 0; j < idx.length; j++) idx[j] = r0 + j;
    keepTop(keys, idx, Math.min(k, idx.length), undefined, mask);
  }
  return mask;
}

/** n:m quota of a block of length b ≤ m: n for a full block, floor(n·b/m) for a shorter tail. */
export const nmQuota = blockQuota;

/**
 * n:m along rows: each row of rowLen is cut into blocks of m consecutive elements (the last one
 * possibly shorter); each block keeps nmQuota(n, m, len) elements — free ones first when `used` is given.
 */
export function nmMask(keys: Uint32Array, rowLen: number, n: number, m: number, used?: Uint8Array): Uint8Array {
  const total = keys.length;
  const mask = new Uint8Array(total);
  if (rowLen <= 0 || m <= 0) return mask;
  for (let r0 = 0; r0 < total; r0 += rowLen) {
    const len = Math.min(rowLen, total - r0);
    for (let b0 = 0; b0 < len; b0 += m) {
      const b = Math.min(m, len - b0);
      const idx = new Uint32Array(b);
      for (let j = 0; j < b; j++) idx[j] = r0 + b0 + j;
      keepTop(keys, idx, Math.min(b, nmQuota(n, m, b)), used, mask);
    }
  }
  return mask;
}

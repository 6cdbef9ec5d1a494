// Exact whole-tensor top-k on the CPU: the selections of ../webgpu/select.ts, found by two 16-bit
// histogram sweeps instead of the GPU's three radix passes (the same threshold T and tie quota r).
// A key is a 31-bit pattern (select.wgsl key(): f32 bits with the sign bit cleared, so it orders
// like |value|); rank order is key descending, then lower flat index first. A selection is
//   mode 0: nothing;  mode 1: key ≥ T;  mode 2: key > T, or key == T for the first r tied elements.
// Keys come per chunk from a callback (the twin of select.ts KeyBuffer): |x − base| for the GTA
// family, sce's variance, CABS's free/taken keys. Requests sharing a callback share its calls.
// Masks are bitmasks over global element indices (bit e = flat element e).
import type { Chunk, CpuJob } from './method';

export interface Selection {
  mode: 0 | 1 | 2;
  t: number;
  r: number;
}
export const NONE: Selection = { mode: 0, t: 0, r: 0 };
const ALL: Selection = { mode: 1, t: 0, r: 0 };

/**
 * Chunk c's keys (c.count of them; bit 31 is ignored, as select.wgsl masks it). Every array is read
 * before the next call of any key callback, so it may be a reused scratch buffer.
 */
export type KeySource = (c: Chunk) => Uint32Array | Promise<Uint32Array>;

export interface TopKRequest {
  k: number;
  keys: KeySource;
}

/** What a sweep needs of a job: its size and chunks (CpuJob). */
export interface Sweep {
  readonly n: number;
  readonly chunks: readonly Chunk[];
}

/** The distinct key sources of some requests, each with the indices of its requests. */
function bySource<R extends { keys: KeySource }>(reqs: readonly R[], which: readonly number[]): [KeySource, number[]][] {
  const m = new Map<KeySource, number[]>();
  for (const i of which) {
    const list = m.get(reqs[i].keys);
    if (list) list.push(i);
    else m.set(reqs[i].keys, [i]);
  }
  return [...m];
}

/**
 * For each request, the selection "rank < k" over its keys (k ≤ 0: nothing; k ≥ n: everything), as
 * selectTopKs of ../webgpu/select.ts finds it: two sweeps over the chunks, shared by all requests.
 */
export async function selectTopKs(job: Sweep, reqs: readonly TopKRequest[]): Promise<Selection[]> {
  const n = job.n;
  const out: Selection[] = reqs.map((r) => (r.k <= 0 ? NONE : ALL));
  const live = reqs.map((_, i) => i).filter((i) => reqs[i].k > 0 && reqs[i].k < n);
  if (!live.length) return out;
  const sources = bySource(reqs, live);
  const hi = reqs.map((_, i) => (live.includes(i) ? new Uint32Array(32768) : undefined));
  const lo = reqs.map((_, i) => (live.includes(i) ? new Uint32Array(65536) : undefined));
  const bin = reqs.map(() => 0);
  const above = reqs.map(() => 0);
  // 1. histogram of the high 15 bits; the bin holding the k-th largest key
  for (const c of job.chunks)
    for (const [src, ids] of sources) {
      const keys = await src(c);
      for (const i of ids) {
        const h = hi[i]!;
        for (let e = 0; e < c.count; e++) h[(keys[e] & 0x7fffffff) >>> 16]++;
      }
    }
  for (const i of live) {
    const h = hi[i]!;
    let acc = 0;
    let b = 32767;
    for (; b > 0 && acc + h[b] < reqs[i].k; b--) acc += h[b];
    bin[i] = b;
    above[i] = acc;
  }
  // 2. histogram of the low 16 bits inside that bin: the threshold and how many ties it keeps
  for (const c of job.chunks)
    for (const [src, ids] of sources) {
      const keys = await src(c);
      for (const i of ids) {
        const l = lo[i]!;
        const want = bin[i];
        for (let e = 0; e < c.count; e++) {
          const key = keys[e] & 0x7fffffff;
          if (key >>> 16 === want) l[key & 0xffff]++;
        }
      }
    }
  for (const i of live) {
    const l = lo[i]!;
    const k = reqs[i].k;
    let acc = above[i];
    let b = 65535;
    for (; b > 0 && acc + l[b] < k; b--) acc += l[b];
    const t = ((bin[i] << 16) | b) >>> 0;
    const r = k - acc;
    out[i] = r === l[b] ? { mode: 1, t, r: 0 } : { mode: 2, t, r };
  }
  return out;
}

/**
 * Marks sel(s1) ∧ ¬sel(s2) (make_mask of select.wgsl) chunk by chunk. Chunks must come in index
 * order: the ties at a mode-2 threshold are counted as they are met, so the first r are kept.
 */
export class SelectionMarker {
  private seen1 = 0;
  private seen2 = 0;

  constructor(
    readonly s1: Selection,
    readonly s2: Selection = NONE,
  ) {}

  /** ORs bit (start + e) into `mask` for every selected keys[e]. */
  mark(keys: Uint32Array, start: number, mask: Uint32Array): void {
    const { mode: m1, t: t1, r: r1 } = this.s1;
    const { mode: m2, t: t2, r: r2 } = this.s2;
    const n = keys.length;
    if (m1 === 0) return;
    let seen1 = this.seen1;
    let seen2 = this.seen2;
    for (let e = 0; e < n; e++) {
      const key = keys[e] & 0x7fffffff;
      let keep = m1 === 1 ? key >= t1 : key > t1 || (key === t1 && seen1++ < r1);
      if (m2 !== 0 && (m2 === 1 ? key >= t2 : key > t2 || (key === t2 && seen2++ < r2))) keep = false;
      if (keep) {
        const g = start + e;
        mask[g >>> 5] |= 1 << (g & 31);
      }
    }
    this.seen1 = seen1;
    this.seen2 = seen2;
  }
}

export interface MaskRequest {
  keys: KeySource;
  s1: Selection;
  s2?: Selection;
  /** ceil(n/32) words; selected bits are OR-ed in. */
  mask: Uint32Array;
}

/** Marks every request's selection into its mask, in one sweep shared by all of them. */
export async function buildMasks(job: Sweep, reqs: readonly MaskRequest[]): Promise<void> {
  const live = reqs.map((_, i) => i).filter((i) => reqs[i].s1.mode !== 0);
  if (!live.length) return;
  const markers = reqs.map((r) => new SelectionMarker(r.s1, r.s2));
  const sources = bySource(reqs, live);
  for (const c of job.chunks)
    for (const [src, ids] of sources) {
      const keys = await src(c);
      for (const i of ids) markers[i].mark(keys.subarray(0, c.count), c.start, reqs[i].mask);
    }
}

/**
 * Key sources of |xᵢ − base| (the GPU's default key: the bits of fround(xᵢ − base), sign cleared),
 * one per input index, sharing one scratch buffer and the current chunk's base.
 */
export function deltaKeys(job: CpuJob, bi: number): (xi: number) => KeySource {
  let d = new Float32Array(0);
  let bits = new Uint32Array(0);
  let baseChunk: Chunk | undefined;
  let base: Float32Array = new Float32Array(0);
  const sources = new Map<number, KeySource>();
  return (xi) => {
    let s = sources.get(xi);
    if (!s) {
      s = async (c) => {
        if (baseChunk !== c) {
          base = await job.input(bi, c);
          baseChunk = c;
        }
        const x = await job.input(xi, c);
        if (d.length < c.count) {
          d = new Float32Array(c.count);
          bits = new Uint32Array(d.buffer);
        }
        for (let e = 0; e < c.count; e++) d[e] = x[e] - base[e];
        return bits.subarray(0, c.count);
      };
      sources.set(xi, s);
    }
    return s;
  };
}

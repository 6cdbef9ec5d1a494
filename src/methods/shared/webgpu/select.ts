// Exact whole-tensor top-k by |δ| on the GPU: a 3-pass radix select (11/11/9-bit digits) over the
// f32 bit patterns finds the k-th largest key T; ties at T are kept lowest index first, using
// per-block tie counts and an exclusive prefix (only when some, not all, tied elements are kept).
// Every request of a tensor (one per model, two for breadcrumbs) shares each sweep over the chunks,
// so a tensor too large to stay resident is re-read 3 times for selection, not 3 × models times;
// requests keyed against the base go in pairs (hist2), so each sweep reads the base once per pair.
// The second sweep also collects the keys of the first pass's bucket (its count is known: at most
// LIST_BYTES of them), so the third pass histograms that short list instead of sweeping the tensor,
// and compacts it to the second pass's bucket, the only pairs the tie's index select reads.
import type { TensorJob, Chunk } from '../../../gpu/tensor-job';
import { histogram, histogramIndex, histogramList, histogramPair, makeMask, tieCount, NONE, TIE_BLOCK, type FusedInput, type KeySource, type Selection } from '../../../gpu/ops';
import { storage, uploadU32 } from '../../../gpu/buffers';
import { rankMask } from '../../../gpu/ops-magnitude';

/** Keys the second pass may collect for the third, all requests together (bytes). */
const LIST_BYTES = 64 * 1024 * 1024;

/**
 * Digits of the key, top first. Keys are |δ| bit patterns (≤ 0x7fffffff: bit 31 is always 0), so
 * the first digit starts at bit 30 — sign-free 11/11/9 bits, not 11/11/10 with the first digit's
 * top bit wasted: the first pass resolves one more mantissa bit, which halves the bucket the second
 * pass collects on 16-bit inputs (few distinct magnitudes), and with it the list's writes and reads.
 */
const PASSES = [
  { shift: 20, bits: 11 },
  { shift: 9, bits: 11 },
  { shift: 0, bits: 9 },
];

export interface TopKRequest {
  /** Input index of x; the key is |x − base|. */
  xi: number;
  k: number;
  /** Instead of input xi: a chunk's ready-made keys (f32 bit patterns ≤ 0x7fffffff, base not subtracted). */
  keys?: KeyBuffer;
}

/** A chunk's key buffer (e.g. magnitude.wgsl free_keys: taken positions as key 0). */
export type KeyBuffer = (c: Chunk) => Promise<GPUBuffer>;

/**
 * Per request, where its key is read from in chunk c: its keys buffer, or input xi and the base
 * (the decoded buffers a sweep left, else the stored words, decoded by the kernels as they read).
 */
async function keyInputs(job: TensorJob, bi: number, reqs: { xi: number; keys?: KeyBuffer }[], c: Chunk): Promise<KeySource[]> {
  const xs = new Map<number, FusedInput>();
  const out: KeySource[] = [];
  let base: FusedInput | undefined;
  for (const r of reqs) {
    if (r.keys) {
      out.push({ x: await r.keys(c) });
      continue;
    }
    base ??= await job.source(bi, c);
    if (!xs.has(r.xi)) xs.set(r.xi, await job.source(r.xi, c));
    out.push({ x: xs.get(r.xi)!, base, roundTo: job.entry.computeDtype });
  }
  return out;
}

/** For each request, the selection "rank < k" (rank by |x − base| descending, then index). */
export async function selectTopKs(job: TensorJob, bi: number, reqs: TopKRequest[]): Promise<Selection[]> {
  const n = job.n;
  const out: Selection[] = reqs.map((r) => (r.k <= 0 ? NONE : { mode: 1, t: 0, r: 0 }));
  let live = reqs.map((r, i) => i).filter((i) => reqs[i].k > 0 && reqs[i].k < n);
  // With cached ranks (job.opts.rankCache, resident tensors), "rank < k" needs no radix select.
  const rc = job.opts.rankCache;
  if (rc && live.length) {
    const ranked: number[] = [];
    for (const i of live) if (!reqs[i].keys && (await rc.ranks(job, reqs[i].xi, bi))) ranked.push(i);
    for (const i of ranked) out[i] = { mode: 2, t: 0, r: 0, rank: reqs[i].k } as RankedSelection;
    live = live.filter((i) => !ranked.includes(i));
  }
  if (!live.length) return out;
  const state = live.map((i) => ({ i, prefixMask: 0, prefixValue: 0, remaining: reqs[i].k, lastCount: 0, below: undefined as number | undefined }));
  const bins = job.scratch('bins', 2048 * 4 * live.length);
  let list: { buf: GPUBuffer; offsets: number[]; counts: number[]; words: number; compact?: { offsets: number[]; counts: number[] } } | undefined;
  try {
    for (const [pi, p] of PASSES.entries()) {
      const clear = job.batch();
      clear.clear(bins);
      if (pi === 1) {
        // collect the first pass's buckets (lastCount keys each) for the last pass
        const counts = state.map((s) => s.lastCount);
        const offsets = counts.map((_, j) => counts.slice(0, j).reduce((a, c) => a + 2 * c + 1, 0));
        const words = counts.reduce((a, c) => a + 2 * c + 1, 0);
        // room for the list and, after it, its compacted second-pass buckets (no larger)
        if (2 * words * 4 <= LIST_BYTES) {
          list = { buf: storage(job.device, Math.max(4, 2 * words * 4), 'select.list'), offsets, counts, words };
          for (const o of offsets) clear.clear(list.buf, o * 4, 4);
        }
      }
      if (pi === 2 && list) {
        // the last pass compacts each list to the second pass's bucket (lastCount pairs each), a
        // superset of the tie at the cut-off: the index select then reads only those
        const counts = state.map((s) => s.lastCount);
        const offsets = counts.map((_, j) => list!.words + counts.slice(0, j).reduce((a, c) => a + 2 * c + 1, 0));
        list.compact = { offsets, counts };
        for (const o of offsets) clear.clear(list.buf, o * 4, 4);
      }
      await clear.submit();
      if (pi === 2 && list) {
        const b = job.batch();
        const cp = list.compact!;
        state.forEach((s, j) => histogramList(b, list!.buf, list!.offsets[j], list!.counts[j], p.shift, s.prefixMask, s.prefixValue, bins, j * 2048, { offset: cp.offsets[j], count: cp.counts[j] }));
        await b.submit();
      } else
        for (const c of job.chunks) {
          const src = await keyInputs(job, bi, state.map((s) => reqs[s.i]), c);
          const b = job.batch();
          const collect = pi === 1 && list ? list : undefined;
          for (let j = 0; j < state.length; j++) {
            const s = state[j];
            const t = state[j + 1];
            if (t && src[j].base && src[j].base === src[j + 1].base && src[j].roundTo === src[j + 1].roundTo) {
              const kc = collect && { list: collect.buf, chunkStart: c.start, offset: collect.offsets[j], count: collect.counts[j], offset2: collect.offsets[j + 1], count2: collect.counts[j + 1] };
              histogramPair(b, src[j], src[j + 1], c.count, p.shift, [s.prefixMask, s.prefixValue, t.prefixMask, t.prefixValue], bins, j * 2048, kc);
              j++;
            } else histogram(b, src[j], c.count, p.shift, s.prefixMask, s.prefixValue, bins, j * 2048, collect && { list: collect.buf, chunkStart: c.start, offset: collect.offsets[j], count: collect.counts[j] });
          }
          await b.submit();
          job.endChunk();
        }
      const rb = job.batch();
      rb.read(bins, 2048 * 4 * live.length);
      const [bytes] = await rb.submit();
      state.forEach((s, j) => {
        const counts = new Uint32Array(bytes.buffer, bytes.byteOffset + j * 2048 * 4, 2048);
        // the kernel bins (key >> shift) & 2047: in the last pass that includes bits 9 and 10, already fixed
        // by the prefix, so all 2048 bins are scanned every time
        let cum = 0;
        let digit = -1;
        for (let d = 2047; d >= 0; d--) {
          if (cum + counts[d] >= s.remaining) {
            digit = d;
            break;
          }
          cum += counts[d];
        }
        if (digit < 0) throw new Error(`radix select lost track of rank ${reqs[s.i].k} in "${job.entry.name}"`);
        s.remaining -= cum;
        s.lastCount = counts[digit];
        s.prefixValue = (s.prefixValue | (digit << p.shift)) >>> 0;
        s.prefixMask = (s.prefixMask | (((1 << p.bits) - 1) << p.shift)) >>> 0;
      });
    }
    // a cut-off that splits a tie: the kept tied elements are the r lowest indices among those with
    // key T (all in the collected list), i.e. index < I — found by a radix select over the list
    if (list) {
      const split = state.map((s, j) => ({ s, j })).filter(({ s }) => s.remaining !== s.lastCount);
      const idx = split.map(({ s }) => ({ remaining: s.remaining, prefixMask: 0, prefixValue: 0 }));
      for (const p of split.length ? indexDigits(n) : []) {
        const b = job.batch();
        b.clear(bins);
        const cp = list!.compact!;
        split.forEach(({ s, j }, q) => histogramIndex(b, list!.buf, cp.offsets[j], cp.counts[j], s.prefixValue, p.shift, idx[q].prefixMask, idx[q].prefixValue, bins, q * 2048));
        b.read(bins, 2048 * 4 * split.length);
        const [bytes] = await b.submit();
        idx.forEach((x, q) => {
          const counts = new Uint32Array(bytes.buffer, bytes.byteOffset + q * 2048 * 4, 2048);
          // lowest index first: the digit where the running count from below reaches the rank
          let cum = 0;
          let digit = -1;
          for (let d = 0; d < 2048; d++) {
            if (cum + counts[d] >= x.remaining) {
              digit = d;
              break;
            }
            cum += counts[d];
          }
          if (digit < 0) throw new Error(`tie select lost track of rank ${x.remaining} in "${job.entry.name}"`);
          x.remaining -= cum;
          x.prefixValue = (x.prefixValue | (digit << p.shift)) >>> 0;
          x.prefixMask = (x.prefixMask | (((1 << p.bits) - 1) << p.shift)) >>> 0;
        });
      }
      split.forEach(({ s }, q) => (s.below = idx[q].prefixValue + 1));
    }
  } finally {
    list?.buf.destroy();
  }
  for (const s of state) {
    out[s.i] = s.remaining === s.lastCount ? { mode: 1, t: s.prefixValue, r: s.remaining } : { mode: 2, t: s.prefixValue, r: s.remaining, ...(s.below !== undefined ? { below: s.below } : {}) };
  }
  return out;
}

/** 11-bit digits (top first) of indices below n: only the bits n − 1 needs (higher ones are 0). */
function indexDigits(n: number): { shift: number; bits: number }[] {
  const nb = n <= 1 ? 1 : 32 - Math.clz32(n - 1);
  const out: { shift: number; bits: number }[] = [];
  for (let top = nb; top > 0; top -= 11) out.push({ shift: Math.max(0, top - 11), bits: Math.min(11, top) });
  return out;
}

export interface MaskRequest {
  xi: number;
  /** As TopKRequest.keys. */
  keys?: KeyBuffer;
  s1: Selection;
  s2: Selection;
  /** ceil(n/32) words; chunk starts are multiples of 1024 so each chunk owns its words. */
  mask: GPUBuffer;
}

/** A selection "rank < rank" over cached ranks (only meaningful to buildMasks of the same job). */
export type RankedSelection = Selection & { rank?: number };

/** The rank bound of a selection when it can be served from cached ranks: NONE → 0, all → n, ranked → rank. */
function rankBound(s: RankedSelection, n: number): number | undefined {
  if (s.rank !== undefined) return s.rank;
  if (s.mode === 0) return 0;
  if (s.mode === 1 && s.t === 0) return n;
  return undefined;
}

/** Builds every mask sel(s1) && !sel(s2) of the key |x − base|, sharing sweeps over the chunks. */
export async function buildMasks(job: TensorJob, bi: number, reqs: MaskRequest[]): Promise<void> {
  const rc = job.opts.rankCache;
  if (rc && reqs.length) {
    const rest: MaskRequest[] = [];
    const b = job.batch();
    for (const r of reqs) {
      const hi = rankBound(r.s1, job.n);
      const lo = rankBound(r.s2, job.n);
      const e = !r.keys && hi !== undefined && lo !== undefined && ((r.s1 as RankedSelection).rank !== undefined || (r.s2 as RankedSelection).rank !== undefined) ? await rc.ranks(job, r.xi, bi) : undefined;
      if (e) rankMask(b, job.n, e.ranks, lo!, hi!, r.mask);
      else rest.push(r);
    }
    await b.submit();
    reqs = rest;
  }
  if (!reqs.length) return;
  const nBlocks = Math.ceil(job.n / TIE_BLOCK);
  const ties: ([GPUBuffer, GPUBuffer] | undefined)[] = reqs.map(() => undefined);
  const tied = reqs.map((r, i) => i).filter((i) => reqs[i].s1.mode === 2 || reqs[i].s2.mode === 2);
  if (tied.length) {
    const counts = tied.map(() => [storage(job.device, nBlocks * 4, 'ties1'), storage(job.device, nBlocks * 4, 'ties2')] as const);
    for (const c of job.chunks) {
      const src = await keyInputs(job, bi, tied.map((i) => reqs[i]), c);
      const b = job.batch();
      for (const [j, i] of tied.entries()) tieCount(b, src[j], c.count, reqs[i].s1, reqs[i].s2, c.start / TIE_BLOCK, counts[j][0], counts[j][1]);
      await b.submit();
      job.endChunk();
    }
    const rb = job.batch();
    for (const [t1, t2] of counts) {
      rb.read(t1, nBlocks * 4);
      rb.read(t2, nBlocks * 4);
    }
    const res = await rb.submit();
    for (const [j, i] of tied.entries()) {
      counts[j][0].destroy();
      counts[j][1].destroy();
      const pre = (k: number) => uploadU32(job.device, exclusivePrefix(new Uint32Array(res[k].buffer, res[k].byteOffset, nBlocks)), 'u32', job.traffic);
      ties[i] = [job.own(`ties1.${i}`, pre(2 * j)), job.own(`ties2.${i}`, pre(2 * j + 1))];
    }
  }
  for (const c of job.chunks) {
    const src = await keyInputs(job, bi, reqs, c);
    const b = job.batch();
    for (const [i, r] of reqs.entries()) makeMask(b, src[i], c.count, r.s1, r.s2, c.start, ties[i]?.[0], ties[i]?.[1], r.mask);
    await b.submit();
    job.endChunk();
  }
}

/** Exclusive prefix with the total appended (length n + 1): block b holds ties [out[b], out[b+1]). */
function exclusivePrefix(counts: Uint32Array): Uint32Array {
  const out = new Uint32Array(counts.length + 1);
  let s = 0;
  for (let i = 0; i < counts.length; i++) {
    out[i] = s;
    s += counts[i];
  }
  out[counts.length] = s;
  return out;
}

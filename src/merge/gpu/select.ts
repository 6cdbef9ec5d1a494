// Exact whole-tensor top-k by |δ| on the GPU: a 3-pass radix select (11/11/10-bit digits) over the
// f32 bit patterns finds the k-th largest key T; ties at T are kept lowest index first, using
// per-block tie counts and an exclusive prefix (only when some, not all, tied elements are kept).
import type { TensorJob } from '../tensor-job';
import { histogram, makeMask, tieCount, NONE, type Selection } from '../../gpu/ops';
import { storage, uploadU32 } from '../../gpu/buffers';

const PASSES = [
  { shift: 21, bits: 11 },
  { shift: 10, bits: 11 },
  { shift: 0, bits: 10 },
];

/** The selection "rank < k" over the key |x − base| (base index undefined → |x|). */
export async function selectTopK(job: TensorJob, xi: number, bi: number | undefined, k: number): Promise<Selection> {
  const n = job.n;
  if (k <= 0) return NONE;
  if (k >= n) return { mode: 1, t: 0, r: 0 };
  let prefixMask = 0;
  let prefixValue = 0;
  let remaining = k;
  let lastCount = 0;
  const bins = job.scratch('bins', 2048 * 4);
  for (const p of PASSES) {
    const first = job.batch();
    first.clear(bins);
    await first.submit();
    for (const c of job.chunks) {
      const x = await job.input(xi, c);
      const base = bi === undefined ? undefined : await job.input(bi, c);
      const b = job.batch();
      histogram(b, x, base, c.count, p.shift, prefixMask, prefixValue, bins);
      await b.submit();
      job.endChunk();
    }
    const rb = job.batch();
    rb.read(bins, 2048 * 4);
    const [bytes] = await rb.submit();
    const counts = new Uint32Array(bytes.buffer, bytes.byteOffset, 2048);
    let cum = 0;
    let digit = -1;
    // the kernel bins (key >> shift) & 2047: in the last pass that includes bit 10, already fixed by
    // the prefix, so scan all 2048 bins every time
    for (let d = 2047; d >= 0; d--) {
      if (cum + counts[d] >= remaining) {
        digit = d;
        break;
      }
      cum += counts[d];
    }
    if (digit < 0) throw new Error(`radix select lost track of rank ${k} in "${job.entry.name}"`);
    remaining -= cum;
    lastCount = counts[digit];
    prefixValue = (prefixValue | (digit << p.shift)) >>> 0;
    prefixMask = (prefixMask | (((1 << p.bits) - 1) << p.shift)) >>> 0;
  }
  return { mode: remaining === lastCount ? 1 : 2, t: prefixValue, r: remaining };
}

/**
 * Builds the whole-tensor bitmask sel(s1) && !sel(s2) for the key |x − base| into `mask`
 * (ceil(n/32) words; chunk starts are multiples of 1024 so each chunk owns its words).
 */
export async function buildMask(job: TensorJob, xi: number, bi: number | undefined, s1: Selection, s2: Selection, mask: GPUBuffer): Promise<void> {
  const nBlocks = Math.ceil(job.n / 1024);
  let ties1: GPUBuffer | undefined;
  let ties2: GPUBuffer | undefined;
  if (s1.mode === 2 || s2.mode === 2) {
    const c1 = storage(job.device, nBlocks * 4, 'ties1');
    const c2 = storage(job.device, nBlocks * 4, 'ties2');
    for (const c of job.chunks) {
      const x = await job.input(xi, c);
      const base = bi === undefined ? undefined : await job.input(bi, c);
      const b = job.batch();
      tieCount(b, x, base, c.count, s1, s2, c.start / 1024, c1, c2);
      await b.submit();
      job.endChunk();
    }
    const rb = job.batch();
    rb.read(c1, nBlocks * 4);
    rb.read(c2, nBlocks * 4);
    const [b1, b2] = await rb.submit();
    c1.destroy();
    c2.destroy();
    ties1 = job.own('ties1', uploadU32(job.device, exclusivePrefix(new Uint32Array(b1.buffer, b1.byteOffset, nBlocks))));
    ties2 = job.own('ties2', uploadU32(job.device, exclusivePrefix(new Uint32Array(b2.buffer, b2.byteOffset, nBlocks))));
  }
  for (const c of job.chunks) {
    const x = await job.input(xi, c);
    const base = bi === undefined ? undefined : await job.input(bi, c);
    const b = job.batch();
    makeMask(b, x, base, c.count, s1, s2, c.start, ties1, ties2, mask);
    await b.submit();
    job.endChunk();
  }
}

function exclusivePrefix(counts: Uint32Array): Uint32Array {
  const out = new Uint32Array(counts.length);
  let s = 0;
  for (let i = 0; i < counts.length; i++) {
    out[i] = s;
    s += counts[i];
  }
  return out;
}

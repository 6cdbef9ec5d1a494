// Magnitude-pruning primitives on the GPU, for the studio's sparsity sliders, SAE-style pruning and
// CABS: keep the largest |δ| (δ = x − base for a task vector, x for raw weights) of
//   * the whole tensor (exact top-k: the radix select of select.ts),
//   * every row (top-k per row of the last dimension: one workgroup per row), or
//   * every block of m consecutive elements of a row (n:m; a shorter tail block keeps floor(n·len/m)).
// Equal magnitudes are kept lowest flat index first. With `used` (a bitmask of positions already
// taken, e.g. by an earlier task vector in CABS), free positions are preferred: the quota is filled
// from free positions first and only then from taken ones.
//
// Masks are whole-tensor bitmasks in buildMasks' format: ceil(n/32) u32 words, bit e of the mask is
// flat element e. Results never depend on the chunking, provided the job is chunked as the scope
// needs: 'tensor' needs the default chunking (starts at multiples of 4096 elements), 'row' and 'nm'
// need whole rows (JobOptions.rowLen = the last dimension; see pruneRowLen). A resident tensor (one
// chunk) suits every scope. CPU twins: methods/shared/reference/prune.ts.
import type { TensorJob, Chunk } from '../../../gpu/tensor-job';
import { storage, type Batch } from '../../../gpu/buffers';
import { freeKeys, maskOr, nmKeys, nmMaskBits, rowTopkBits, wordRange, type MagGeometry } from '../../../gpu/ops-magnitude';
import { buildMasks, selectTopKs, type KeyBuffer } from './select';
import { NONE } from '../../../gpu/ops';
import { GpuError } from '../../../errors';

export type PruneScope = 'tensor' | 'row' | 'nm';

/** Row length the job must be chunked with for a scope (undefined: the default chunking). */
export function pruneRowLen(scope: PruneScope, shape: readonly number[]): number | undefined {
  return scope === 'tensor' ? undefined : shape.length ? shape[shape.length - 1] : 1;
}

/** Words of a whole-tensor bitmask of n elements. */
export function maskWordCount(n: number): number {
  return Math.ceil(n / 32);
}

/** A new, cleared whole-tensor bitmask owned by the job. */
export async function newMask(job: TensorJob, name: string): Promise<GPUBuffer> {
  const mask = job.own(name, storage(job.device, Math.max(4, maskWordCount(job.n) * 4), name));
  const b = job.batch();
  b.clear(mask);
  await b.submit();
  return mask;
}

export interface PruneInput {
  /** Input index of x. */
  x: number;
  /** Input index of the base: prune the task vector x − base. Absent: prune the raw weights x. */
  base?: number;
  /** Positions already taken (bitmask of the same format): kept only after every free one. */
  used?: GPUBuffer;
  /** Where to write the mask (cleared first); default: a new buffer owned by the job. */
  mask?: GPUBuffer;
}

export function geometry(c: Chunk): MagGeometry {
  return { n: c.count, chunkStart: c.start, bitBase: c.start };
}

function rowLenOf(job: TensorJob): number {
  return job.entry.shape.length ? job.entry.shape[job.entry.shape.length - 1] : 1;
}

function checkRows(job: TensorJob, what: string): number {
  const L = rowLenOf(job);
  if (L > 0 && job.chunks.some((c) => c.start % L !== 0 || (c.count % L !== 0 && c.start + c.count !== job.n)))
    throw new GpuError(`${what} of "${job.entry.name}" needs chunks of whole rows (JobOptions.rowLen = ${L})`);
  return L;
}

async function target(job: TensorJob, inp: PruneInput, name: string): Promise<GPUBuffer> {
  if (!inp.mask) return newMask(job, name);
  const b = job.batch();
  b.clear(inp.mask);
  await b.submit();
  return inp.mask;
}

/** Number of positions not set in `used` (a readback of the bitmask). */
export async function freeCount(job: TensorJob, used: GPUBuffer): Promise<number> {
  const words = maskWordCount(job.n);
  if (!words) return 0;
  const b = job.batch();
  b.read(used, words * 4);
  const [bytes] = await b.submit();
  const w = new Uint32Array(bytes.buffer, bytes.byteOffset, words);
  let set = 0;
  for (let i = 0; i < words; i++) {
    let v = w[i];
    if (i === words - 1 && job.n % 32) v &= (1 << job.n % 32) - 1 || 0xffffffff;
    v -= (v >>> 1) & 0x55555555;
    v = (v & 0x33333333) + ((v >>> 2) & 0x33333333);
    set += (((v + (v >>> 4)) & 0x0f0f0f0f) * 0x01010101) >>> 24;
  }
  return job.n - set;
}

/**
 * Whole-tensor exact top-`keep` by magnitude (the default chunking). With `used`, the quota is
 * filled from free positions first (`free` = their number when the caller knows it), then from taken ones.
 */
export async function magnitudeTopkMask(job: TensorJob, inp: PruneInput & { keep: number; free?: number }): Promise<GPUBuffer> {
  const mask = await target(job, inp, `topk${inp.x}`);
  const n = job.n;
  const keep = Math.min(n, Math.max(0, Math.floor(inp.keep)));
  if (keep === 0 || n === 0) return mask;
  const bi = inp.base ?? -1;
  const raw: KeyBuffer = (c) => job.input(inp.x, c);
  const keyed = (name: string, taken: boolean): KeyBuffer => async (c) => {
    const out = job.scratch(name);
    const b = job.batch();
    freeKeys(b, geometry(c), await job.input(inp.x, c), inp.base !== undefined ? await job.input(inp.base, c) : undefined, inp.used, taken, out);
    await b.submit();
    return out;
  };
  if (!inp.used) {
    const req = inp.base !== undefined ? { xi: inp.x, k: keep } : { xi: inp.x, k: keep, keys: raw };
    const [s1] = await selectTopKs(job, bi, [req]);
    await buildMasks(job, bi, [{ ...req, s1, s2: NONE, mask }]);
    return mask;
  }
  const free = inp.free ?? (await freeCount(job, inp.used));
  const k1 = Math.min(keep, free);
  const k2 = keep - k1;
  const reqs = [{ xi: inp.x, k: k1, keys: keyed('keys.free', false) }];
  if (k2 > 0) reqs.push({ xi: inp.x, k: k2, keys: keyed('keys.taken', true) });
  const sels = await selectTopKs(job, bi, reqs);
  const extra = k2 > 0 ? job.own(`topk${inp.x}.taken`, storage(job.device, Math.max(4, maskWordCount(n) * 4), 'taken')) : undefined;
  await buildMasks(job, bi, reqs.map((r, i) => ({ ...r, s1: sels[i], s2: NONE, mask: i === 0 ? mask : extra! })));
  if (extra) {
    const b = job.batch();
    maskOr(b, extra, mask, 0, maskWordCount(n));
    await b.submit();
  }
  return mask;
}

/** Top-`keep` of every row (whole-row chunks). */
export async function magnitudeRowMask(job: TensorJob, inp: PruneInput & { keep: number }): Promise<GPUBuffer> {
  if (inp.used) throw new GpuError('magnitudeRowMask: `used` is not supported per row');
  const L = checkRows(job, 'per-row pruning');
  const mask = await target(job, inp, `rows${inp.x}`);
  const keep = Math.max(0, Math.floor(inp.keep));
  if (keep === 0 || job.n === 0) return mask;
  for (const c of job.chunks) {
    const b = job.batch();
    rowTopkBits(b, geometry(c), L, keep, await job.input(inp.x, c), inp.base !== undefined ? await job.input(inp.base, c) : undefined, mask);
    await b.submit();
    job.endChunk();
  }
  return mask;
}

/** Records the n:m selection of one chunk into `mask` (OR), preferring positions free in `used`. */
export function recordNm(b: Batch, job: TensorJob, c: Chunk, x: GPUBuffer, base: GPUBuffer | undefined, used: GPUBuffer | undefined, n: number, m: number, mask: GPUBuffer): void {
  if (n <= 0 || c.count === 0) return;
  const keys = job.scratch('nm.keys');
  const g = geometry(c);
  nmKeys(b, g, x, base, used, keys);
  nmMaskBits(b, g, rowLenOf(job), n, m, keys, mask);
}

/** ORs the words of `src` that cover chunk c into `dst`. */
export function recordOr(b: Batch, c: Chunk, src: GPUBuffer, dst: GPUBuffer): void {
  const { first, words } = wordRange(c.start, c.count);
  if (words) maskOr(b, src, dst, first, words);
}

/** n of every m consecutive elements of each row (whole-row chunks); tails keep floor(n·len/m). */
export async function magnitudeNmMask(job: TensorJob, inp: PruneInput & { n: number; m: number }): Promise<GPUBuffer> {
  if (!(Number.isInteger(inp.m) && inp.m > 0 && Number.isInteger(inp.n) && inp.n >= 0 && inp.n <= inp.m))
    throw new GpuError(`n:m pruning needs integers 0 ≤ n ≤ m, m ≥ 1; got ${inp.n}:${inp.m}`);
  checkRows(job, 'n:m pruning');
  const mask = await target(job, inp, `nm${inp.x}`);
  for (const c of job.chunks) {
    const b = job.batch();
    recordNm(b, job, c, await job.input(inp.x, c), inp.base !== undefined ? await job.input(inp.base, c) : undefined, inp.used, inp.n, inp.m, mask);
    await b.submit();
    job.endChunk();
  }
  return mask;
}

/** Keeps count for a target sparsity (fraction of zeros): count − round(sparsity·count). */
export function keepFor(sparsity: number, count: number): number {
  return Math.min(count, Math.max(0, count - Math.round(sparsity * count)));
}

/**
 * One entry point for the sliders: prune input x (minus base) to `sparsity` over the scope
 * ('nm' takes n and m instead). Returns the job-owned mask.
 */
export async function magnitudePruneMask(
  job: TensorJob,
  inp: PruneInput & ({ scope: 'tensor' | 'row'; sparsity: number } | { scope: 'nm'; n: number; m: number }),
): Promise<GPUBuffer> {
  if (inp.scope === 'nm') return magnitudeNmMask(job, inp);
  if (inp.scope === 'row') return magnitudeRowMask(job, { ...inp, keep: keepFor(inp.sparsity, rowLenOf(job)) });
  return magnitudeTopkMask(job, { ...inp, keep: keepFor(inp.sparsity, job.n) });
}

// Random pruning masks on the GPU, for DARE / DELLA (gta.ts) and for the studio (e.g. SAE genomes).
//
// Masks are bitmasks in the job's chunk layout: chunk c owns words [maskWordOffsets[c], +ceil(count/32))
// and bit i of them is the chunk's local element i. For 4096-aligned chunks (methods without rowLen)
// the offset is chunk.start / 32, so bit e of the whole mask is simply element e of the tensor.
//
// Every decision uses the counter-based RNG of shaders/prelude.wgsl (rand_u24(seed, stream, global
// element index)), so a mask does not depend on the chunking and the CPU twin
// (methods/shared/reference/rng.ts, random-sparsify.ts) reproduces it bit for bit.
import type { TensorJob, Chunk } from '../../../gpu/tensor-job';
import { storage } from '../../../gpu/buffers';
import { l1Rows, magLoad, magMask, magRankLocal, magSortGlobal, magSortLocal, randMask, SORT_TILE, type RowGroup } from '../../../gpu/ops-prune';
import { keepThreshold, magpruneKeepParams } from '../reference/rng';
import { GpuError } from '../../../errors';

/** First mask word of each chunk (ceil(count/32) words per chunk, in chunk order). */
export function maskWordOffsets(chunks: readonly Chunk[]): number[] {
  const out: number[] = [];
  let w = 0;
  for (const c of chunks) {
    out.push(w);
    w += Math.ceil(c.count / 32);
  }
  return out;
}

/** Words a mask of the job needs. */
export function maskWords(chunks: readonly Chunk[]): number {
  return chunks.reduce((a, c) => a + Math.ceil(c.count / 32), 0);
}

export interface MaskOptions {
  /** Defaults to the plan entry's per-tensor seed. */
  seed?: number;
  /** Write into this buffer (≥ maskWords·4 bytes) instead of a new one owned by the job. */
  mask?: GPUBuffer;
  /** Name under which a new mask is owned by the job (freed with it). */
  name?: string;
}

function maskBuffer(job: TensorJob, o: MaskOptions | undefined, fallback: string): GPUBuffer {
  if (o?.mask) return o.mask;
  const name = o?.name ?? fallback;
  return job.own(name, storage(job.device, Math.max(4, maskWords(job.chunks) * 4), name));
}

/**
 * DARE's random mask: element e is kept ⇔ rand01(seed, stream, e) < keepFraction (rounded to f32),
 * i.e. kept with probability keepFraction, independently of the tensor's values (no input is read).
 * `stream` separates masks of one tensor (the GTA methods use the model input's index).
 */
export async function randomPruneMask(job: TensorJob, keepFraction: number, stream: number, o?: MaskOptions): Promise<GPUBuffer> {
  const mask = maskBuffer(job, o, `randmask.${stream}`);
  const seed = (o?.seed ?? job.entry.seed) >>> 0;
  const thr = keepThreshold(keepFraction);
  const offsets = maskWordOffsets(job.chunks);
  const b = job.batch();
  for (const c of job.chunks) randMask(b, c.count, c.start, offsets[c.index], seed, stream >>> 0, thr, mask);
  await b.submit();
  return mask;
}

/**
 * DELLA's MagPrune mask (mergekit's della_magprune): per row (the last dimension; chunks must hold
 * whole rows, i.e. the job was made with rowLen = that length), elements are ranked by |x − base|
 * ascending (equal magnitudes: lower index first; NaN above +inf) and the element of rank r (1..C)
 * is kept with probability p(r) = (d − ε) + 2ε·(r − 1)/(C − 1) (see magpruneKeepParams for the
 * exact fixed-point rule and C = 1). The caller validates 0 < d − |ε| and d + |ε| < 1.
 * Ranks come from a bitonic sort of (key, index) pairs per row: stages with strides below
 * SORT_TILE run in workgroup memory, larger strides one dispatch each over global memory. Rows of
 * at most SORT_TILE slots take one pass (mag_rank_local: keys, sort, mask and L1 sums in workgroup
 * memory, the inputs read once as stored words — no decoded copy, no key buffers).
 */
export async function magnitudeRankPruneMask(
  job: TensorJob,
  xi: number,
  bi: number | undefined,
  density: number,
  epsilon: number,
  stream: number,
  o?: MaskOptions,
): Promise<GPUBuffer> {
  const mask = maskBuffer(job, o, `magmask.${stream}`);
  await magnitudeRankPruneMasks(job, bi, [{ xi, density, epsilon, stream, mask }], { seed: o?.seed });
  return mask;
}

export interface MagPruneRequest {
  xi: number;
  density: number;
  epsilon: number;
  stream: number;
  /** Written (cleared first): ≥ maskWords(job.chunks)·4 bytes. */
  mask: GPUBuffer;
}

/** Whole-tensor Σ|x − base| and Σ|(x − base)·mask| (f32 per-row partials added in f64, row order). */
export interface L1Sums {
  all: number;
  kept: number;
}

/**
 * Several MagPrune masks of one tensor in ONE sweep over its chunks (each chunk read once for all
 * requests). With `l1`, the same sweep also returns each mask's L1 sums for the rescale.
 */
export async function magnitudeRankPruneMasks(job: TensorJob, bi: number | undefined, reqs: MagPruneRequest[], o: { seed?: number; l1?: boolean } = {}): Promise<L1Sums[]> {
  const sums: L1Sums[] = reqs.map(() => ({ all: 0, kept: 0 }));
  if (!reqs.length) return sums;
  const C = rowLength(job);
  const kps = reqs.map((r) => {
    const kp = magpruneKeepParams(r.density, r.epsilon);
    if (!(kp.lo >= 0 && kp.lo <= 16777216 && kp.span >= 0 && kp.span < 2 ** 25))
      throw new RangeError(`magnitudeRankPruneMask: density ${r.density} ± epsilon ${r.epsilon} is not a probability range inside (0, 1)`);
    return kp;
  });
  const seed = (o.seed ?? job.entry.seed) >>> 0;
  const offsets = maskWordOffsets(job.chunks);
  const pad = 2 ** Math.ceil(Math.log2(Math.max(1, C)));
  const maxBinding = job.device.limits.maxStorageBufferBindingSize;
  if (pad * 4 > maxBinding) throw new GpuError(`tensor "${job.entry.name}": rows of ${C} elements are too long for the GPU row sort (${pad} slots)`);
  if (pad <= SORT_TILE) {
    const clear = job.batch();
    for (const r of reqs) clear.clear(r.mask, 0, maskWords(job.chunks) * 4);
    await clear.submit();
    for (const c of job.chunks) {
      const base = bi === undefined ? undefined : await job.source(bi, c);
      const rows = c.count / C;
      const parts = o.l1 ? reqs.map((_, k) => [job.scratch(`magl1a${k}`, Math.max(16, rows * 4)), job.scratch(`magl1b${k}`, Math.max(16, rows * 4))]) : [];
      const b = job.batch();
      for (const [k, r] of reqs.entries()) {
        const x = await job.source(r.xi, c);
        const g: RowGroup = { rowLen: C, pad, rows, row0: 0 };
        magRankLocal(b, x, base, job.entry.computeDtype, g, c.start, offsets[c.index], { seed, stream: r.stream >>> 0, ...kps[k] }, r.mask, o.l1 ? { out0: parts[k][0], out1: parts[k][1] } : undefined);
        if (o.l1) {
          b.read(parts[k][0], rows * 4);
          b.read(parts[k][1], rows * 4);
        }
      }
      const res = await b.submit();
      addSums(sums, res, o.l1 ? reqs.length : 0, rows);
      job.endChunk();
    }
    return sums;
  }
  // rows sorted together: scratch of about one chunk of (key, index) pairs
  const perGroup = Math.max(1, Math.min(Math.floor(job.maxChunk / pad), Math.floor(maxBinding / 4 / pad)));
  const slots = Math.min(perGroup, Math.max(1, ...job.chunks.map((c) => c.count / C))) * pad;
  const keys = storage(job.device, slots * 4, 'magkeys');
  const idx = storage(job.device, slots * 4, 'magidx');
  try {
    const clear = job.batch();
    for (const r of reqs) clear.clear(r.mask, 0, maskWords(job.chunks) * 4);
    await clear.submit();
    for (const c of job.chunks) {
      const base = bi === undefined ? undefined : await job.input(bi, c);
      const rows = c.count / C;
      const parts = o.l1 ? reqs.map((_, k) => [job.scratch(`magl1a${k}`, Math.max(16, rows * 4)), job.scratch(`magl1b${k}`, Math.max(16, rows * 4))]) : [];
      const b = job.batch();
      for (const [k, r] of reqs.entries()) {
        const x = await job.input(r.xi, c);
        for (let row0 = 0; row0 < rows; row0 += perGroup) {
          const g: RowGroup = { rowLen: C, pad, rows: Math.min(perGroup, rows - row0), row0 };
          magLoad(b, x, base, g, keys, idx);
          if (pad > 1) {
            magSortLocal(b, g, 2, Math.min(pad, SORT_TILE), keys, idx);
            for (let kk = 2 * SORT_TILE; kk <= pad; kk *= 2) {
              for (let j = kk / 2; j >= SORT_TILE; j /= 2) magSortGlobal(b, g, kk, j, keys, idx);
              magSortLocal(b, g, kk, kk, keys, idx);
            }
          }
          magMask(b, g, c.start, offsets[c.index], { seed, stream: r.stream >>> 0, ...kps[k] }, idx, r.mask);
        }
        if (o.l1) {
          l1Rows(b, x, base, r.mask, offsets[c.index], c.count, C, parts[k][0], parts[k][1]);
          b.read(parts[k][0], rows * 4);
          b.read(parts[k][1], rows * 4);
        }
      }
      const res = await b.submit();
      addSums(sums, res, o.l1 ? reqs.length : 0, rows);
      job.endChunk();
    }
  } finally {
    keys.destroy();
    idx.destroy();
  }
  return sums;
}

/** Adds the per-row L1 partials read back (two per request, in request order) to the sums, in row order. */
function addSums(sums: L1Sums[], res: Uint8Array[], requests: number, rows: number): void {
  for (let k = 0; k < requests; k++) {
    const all = new Float32Array(res[2 * k].buffer, res[2 * k].byteOffset, rows);
    const kept = new Float32Array(res[2 * k + 1].buffer, res[2 * k + 1].byteOffset, rows);
    for (let i = 0; i < rows; i++) {
      sums[k].all += all[i];
      sums[k].kept += kept[i];
    }
  }
}

/** The row length of a row-chunked job (its declared rowLen, or the last dimension). */
export function rowLength(job: TensorJob): number {
  const C = job.opts.rowLen ?? job.entry.shape[job.entry.shape.length - 1] ?? 1;
  for (const c of job.chunks)
    if (c.start % C !== 0 || c.count % C !== 0)
      throw new GpuError(`tensor "${job.entry.name}": chunk at ${c.start} (${c.count} elements) splits rows of ${C}; declare rowLen for per-row pruning`);
  return C;
}

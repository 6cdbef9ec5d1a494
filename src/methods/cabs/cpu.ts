// CABS on the CPU (semantics: ./spec.ts), replaying methods/cabs/webgpu.ts in f32:
//   n:m (m > 0)  chunks of whole rows, each read once: per task vector in pruning order its n:m
//                selection over the keys of nm_keys (free bit | |τ| bits; rank: key descending, then
//                lower index — nm_mask's order), OR-ed into its mask and then into `used`; then the
//                merge of the chunk;
//   top-k (m = 0) per task vector in pruning order the exact top-k of shared/cpu/select.ts over the
//                keys of free_keys (free positions first; a second select among the taken ones when
//                the quota exceeds the free count), as magnitudeTopkMask runs it; then one merge sweep;
//   merge        cabs_sum, cabs_agree, cabs_finish model by model in recipe order, in f32.
// Masks are bitmasks over global element indices, whatever the chunking.
import type { Chunk, CpuEmit, CpuJob, CpuMethod } from '../shared/cpu/method';
import { emitInput, num } from '../shared/cpu/method';
import { buildMasks, selectTopKs, type KeySource } from '../shared/cpu/select';
import { blockQuota, cabsBlockSize, cabsModel, cabsOrder, topkQuota, type CabsModel } from './spec';
import { rowLength } from '../shared/reference/prune';

const f = Math.fround;


interface CabsPlan {
  bi: number;
  /** Task vectors in recipe order. */
  models: CabsModel[];
  /** The same, in pruning order. */
  order: CabsModel[];
  m: number;
  lambda: number;
  masks: Uint32Array[];
  used: Uint32Array;
}

function plan(job: CpuJob): CabsPlan | undefined {
  const { inputs, params } = job.entry;
  const bi = inputs.findIndex((x) => x.isBase);
  const others = inputs.map((_, i) => i).filter((i) => i !== bi);
  if (bi < 0 || others.length === 0) return undefined;
  const m = cabsBlockSize(params);
  const models = others.map((i) => cabsModel(i, inputs[i].params, m));
  const words = Math.max(1, Math.ceil(job.n / 32));
  return { bi, models, order: cabsOrder(models), m, lambda: num(params, 'lambda', 1), masks: models.map(() => new Uint32Array(words)), used: new Uint32Array(words) };
}

/** used |= mask over the words holding chunk c's bits (recordOr). */
function orWords(c: Chunk, src: Uint32Array, dst: Uint32Array): void {
  if (c.count === 0) return;
  const last = Math.ceil((c.start + c.count) / 32);
  for (let w = Math.floor(c.start / 32); w < last; w++) dst[w] |= src[w];
}

/**
 * The n:m selections of one chunk of whole rows, every task vector in pruning order (nm_keys,
 * nm_mask, mask_or). `xs[i]` is input i over the chunk.
 */
class NmSelector {
  private keys = new Uint32Array(0);
  private d = new Float32Array(0);
  private sorted = new Float64Array(0);

  constructor(
    private readonly p: CabsPlan,
    private readonly L: number,
  ) {}

  select(c: Chunk, xs: Float32Array[]): void {
    const { p, L } = this;
    const m = p.m;
    const base = xs[p.bi];
    const n = c.count;
    if (this.keys.length < n) {
      this.keys = new Uint32Array(n);
      this.d = new Float32Array(n);
    }
    if (this.sorted.length < m) this.sorted = new Float64Array(m);
    const { keys, d } = this;
    const db = new Uint32Array(d.buffer);
    for (const md of p.order) {
      if (md.n <= 0) continue;
      const mask = p.masks[p.models.indexOf(md)];
      const used = p.used;
      const x = xs[md.input];
      // nm_keys: (free ? 1 << 31 : 0) | |τ| bits
      for (let e = 0; e < n; e++) {
        const g = c.start + e;
        d[e] = x[e] - base[e];
        const free = ((used[g >>> 5] >>> (g & 31)) & 1) === 0;
        keys[e] = ((free ? 0x80000000 : 0) | (db[e] & 0x7fffffff)) >>> 0;
      }
      // nm_mask: per block, the first q in rank order (key descending, then lower index)
      for (let r0 = 0; r0 < n; r0 += L) {
        for (let b0 = 0; b0 < L; b0 += m) {
          const blen = Math.min(m, L - b0);
          const q = blockQuota(md.n, m, blen);
          if (q === 0) continue;
          const s = r0 + b0;
          if (q >= blen) {
            for (let j = 0; j < blen; j++) setBit(mask, c.start + s + j);
            continue;
          }
          this.keepTop(keys, s, blen, q, c.start, mask);
        }
      }
      orWords(c, mask, used);
    }
  }

  /** Sets the bits of the top q of keys[s, s + len) (key descending, then lower index). */
  private keepTop(keys: Uint32Array, s: number, len: number, q: number, start: number, mask: Uint32Array): void {
    if (len <= 64) {
      // nm_mask's own count: an element is kept when fewer than q block elements rank before it
      for (let i = 0; i < len; i++) {
        const ki = keys[s + i];
        let rank = 0;
        for (let j = 0; j < len && rank < q; j++) {
          const kj = keys[s + j];
          if (kj > ki || (kj === ki && j < i)) rank++;
        }
        if (rank < q) setBit(mask, start + s + i);
      }
      return;
    }
    // larger blocks: sort (key, ~index) pairs, exact in a double (32 + 12 bits), and take the top q
    const v = len === this.sorted.length ? this.sorted : this.sorted.subarray(0, len);
    for (let j = 0; j < len; j++) v[j] = keys[s + j] * 4096 + (4095 - j);
    v.sort();
    for (let r = len - q; r < len; r++) setBit(mask, start + s + 4095 - (v[r] % 4096));
  }
}

function setBit(mask: Uint32Array, g: number): void {
  mask[g >>> 5] |= 1 << (g & 31);
}

/** free_keys over chunk c: eligible (free, or taken when `taken`) ? min(|τ| bits, 0x7ffffffe) + 1 : 0. */
function freeKeys(job: CpuJob, x: number, bi: number, used: Uint32Array, taken: boolean): KeySource {
  let d = new Float32Array(0);
  let bits = new Uint32Array(0);
  return async (c) => {
    const [xv, base] = await job.inputs(c, [x, bi]);
    if (d.length < c.count) {
      d = new Float32Array(c.count);
      bits = new Uint32Array(d.buffer);
    }
    for (let e = 0; e < c.count; e++) {
      const g = c.start + e;
      d[e] = xv[e] - base[e];
      const free = ((used[g >>> 5] >>> (g & 31)) & 1) === 0;
      bits[e] = free !== taken ? Math.min(bits[e] & 0x7fffffff, 0x7ffffffe) + 1 : 0;
    }
    return bits.subarray(0, c.count);
  };
}

/** The top-k (m = 0) masks: each task vector in pruning order, free positions first (magnitudeTopkMask). */
async function topkMasks(job: CpuJob, p: CabsPlan): Promise<void> {
  const n = job.n;
  let free = n;
  for (const md of p.order) {
    const mask = p.masks[p.models.indexOf(md)];
    const keep = topkQuota(md.density, n);
    if (keep <= 0) continue;
    const k1 = Math.min(keep, free);
    const k2 = keep - k1;
    const reqs = [{ k: k1, keys: freeKeys(job, md.input, p.bi, p.used, false) }];
    if (k2 > 0) reqs.push({ k: k2, keys: freeKeys(job, md.input, p.bi, p.used, true) });
    const sels = await selectTopKs(job, reqs);
    // the free and the taken selections are disjoint: both are marked into the model's mask
    await buildMasks(job, reqs.map((r, i) => ({ keys: r.keys, s1: sels[i], mask })));
    free -= Math.min(keep, free);
    orWords({ index: 0, start: 0, count: n }, mask, p.used);
  }
}

/** cabs_sum, cabs_agree, cabs_finish over one chunk (`xs[i]`: input i over it). */
function merge(p: CabsPlan, c: Chunk, xs: Float32Array[]): Float32Array {
  const n = c.count;
  const base = xs[p.bi];
  const lambda = f(p.lambda);
  const sum = new Float32Array(n);
  const mixed = new Float32Array(n);
  const W = new Float32Array(n);
  for (const pass of ['sum', 'agree'] as const)
    for (const [k, md] of p.models.entries()) {
      // W = (x − base)·w where the mask bit is set, else 0
      const x = xs[md.input];
      const mask = p.masks[k];
      const w = f(md.weight);
      for (let e = 0; e < n; e++) {
        const g = c.start + e;
        W[e] = ((mask[g >>> 5] >>> (g & 31)) & 1) === 0 ? 0 : f(x[e] - base[e]) * w;
      }
      if (pass === 'sum') {
        if (k === 0) sum.set(W);
        else for (let e = 0; e < n; e++) sum[e] = sum[e] + W[e];
        continue;
      }
      for (let e = 0; e < n; e++) {
        const We = W[e];
        const maj = sum[e] >= 0 ? 1 : -1;
        const m = (We > 0 ? 1 : We < 0 ? -1 : 0) === maj ? We : 0;
        mixed[e] = k === 0 ? m : mixed[e] + m;
      }
    }
  const out = sum;
  for (let e = 0; e < n; e++) {
    let m = mixed[e];
    if (lambda !== 1) m = f(m * lambda);
    out[e] = base[e] + m;
  }
  return out;
}

export const cabsCpu: CpuMethod = {
  name: 'cabs',
  fidelity: 'exact',
  rowLen: (entry) => (cabsBlockSize(entry.params) > 0 ? rowLength(entry.shape) : undefined),
  // n:m reads each chunk once (selection and merge); top-k sweeps the tensor per task vector
  singleSweep: (entry) => cabsBlockSize(entry.params) > 0,
  async run(job: CpuJob, emit: CpuEmit) {
    const p = plan(job);
    if (!p) return emitInput(job, emit, Math.max(0, job.entry.inputs.findIndex((x) => x.isBase)));
    if (p.m > 0) {
      const nm = new NmSelector(p, rowLength(job.entry.shape));
      for (const c of job.chunks) {
        const xs = await job.inputs(c);
        nm.select(c, xs);
        await emit(c, merge(p, c, xs));
      }
      return;
    }
    await topkMasks(job, p);
    for (const c of job.chunks) await emit(c, merge(p, c, await job.inputs(c)));
  },
  // the masks alone (diagnostics, the CABS export): the selections of run() without the merge
  async sparsify(job: CpuJob) {
    const p = plan(job);
    if (!p) return undefined;
    if (p.m > 0) {
      const nm = new NmSelector(p, rowLength(job.entry.shape));
      for (const c of job.chunks) nm.select(c, await job.inputs(c));
    } else await topkMasks(job, p);
    return { base: p.bi, models: p.models.map((md) => md.input), masks: p.masks, coefs: p.models.map((md) => f(md.weight)) };
  },
};

/** The CPU engine's implementation of this folder's spec (methods/cpu.ts). */
export function cpu(): CpuMethod {
  return cabsCpu;
}

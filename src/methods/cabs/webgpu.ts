// CABS on the GPU (semantics: ./spec.ts; CPU twin: ./reference.ts).
// n:m (m > 0): chunks hold whole rows, and every block lies inside one chunk, so each chunk is
// read once: for every task vector in pruning order, its n:m selection among positions still free
// (a running `used` bitmask, 1 bit per element) is OR-ed into its mask and then into `used`; the
// chunk is then merged (TIES rule over the kept values) and emitted.
// top-k (m = 0): one exact whole-tensor radix select per task vector, in pruning order, over keys
// that zero the taken positions (select.ts), then one merge pass.
// Masks are whole-tensor bitmasks (bit e = flat element e), whatever the chunking.
import { emitInput } from '../shared/webgpu/stats';
import type { GpuMethod, Sparsified } from '../shared/webgpu/types';
import { num } from '../shared/webgpu/types';
import type { TensorJob, Chunk } from '../../gpu/tensor-job';
import { cabsBlockSize, cabsModel, cabsOrder, topkQuota, type CabsModel } from './spec';
import { rowLength } from '../shared/reference/prune';
import { cabsAgree, cabsFinish, cabsSum } from '../../gpu/ops-cabs';
import { magnitudeTopkMask, newMask, recordNm, recordOr } from '../shared/webgpu/prune';
import type { Batch } from '../../gpu/buffers';
import { blockWalk } from '../../gpu/ops-magnitude';


interface CabsPlan {
  bi: number;
  models: CabsModel[];
  order: CabsModel[];
  m: number;
  lambda: number;
  masks: GPUBuffer[];
}

async function plan(job: TensorJob): Promise<CabsPlan | undefined> {
  const { inputs, params } = job.entry;
  const bi = inputs.findIndex((x) => x.isBase);
  const others = inputs.map((_, i) => i).filter((i) => i !== bi);
  if (bi < 0 || others.length === 0) return undefined;
  const m = cabsBlockSize(params);
  const models = others.map((i) => cabsModel(i, inputs[i].params, m));
  const masks: GPUBuffer[] = [];
  for (const [k] of models.entries()) masks.push(await newMask(job, `cabs.mask${k}`));
  return { bi, models, order: cabsOrder(models), m, lambda: num(params, 'lambda', 1), masks };
}

/** Records the n:m selections of chunk c for every task vector, in pruning order. */
async function recordSelections(job: TensorJob, p: CabsPlan, used: GPUBuffer, c: Chunk, b: Batch): Promise<void> {
  const base = await job.input(p.bi, c);
  for (const md of p.order) {
    const k = p.models.indexOf(md);
    if (md.n <= 0) continue;
    recordNm(b, job, c, await job.input(md.input, c), base, used, md.n, p.m, p.masks[k]);
    recordOr(b, c, p.masks[k], used);
  }
}

/** The top-k (m = 0) masks: each task vector in turn, free positions first. */
async function topkMasks(job: TensorJob, p: CabsPlan, used: GPUBuffer): Promise<void> {
  let free = job.n;
  for (const md of p.order) {
    const k = p.models.indexOf(md);
    const keep = topkQuota(md.density, job.n);
    if (keep <= 0) continue;
    await magnitudeTopkMask(job, { x: md.input, base: p.bi, used, free, keep, mask: p.masks[k] });
    free -= Math.min(keep, free);
    const b = job.batch();
    recordOr(b, { index: 0, start: 0, count: job.n }, p.masks[k], used);
    await b.submit();
  }
}

async function recordMerge(job: TensorJob, p: CabsPlan, c: Chunk, b: Batch): Promise<GPUBuffer> {
  const base = await job.input(p.bi, c);
  const xs: GPUBuffer[] = [];
  for (const md of p.models) xs.push(await job.input(md.input, c));
  const sum = job.scratch('sum');
  const mixed = job.scratch('mixed');
  const step = (k: number) => ({ x: xs[k], base, mask: p.masks[k], bitBase: c.start, w: Math.fround(p.models[k].weight), init: k === 0 });
  p.models.forEach((_, k) => cabsSum(b, step(k), c.count, sum));
  p.models.forEach((_, k) => cabsAgree(b, step(k), c.count, sum, mixed));
  cabsFinish(b, base, mixed, sum, c.count, p.lambda);
  return sum;
}

async function buildAll(job: TensorJob, p: CabsPlan, onChunk?: (c: Chunk, b: Batch) => Promise<void>): Promise<void> {
  const used = await newMask(job, 'cabs.used');
  if (p.m > 0 && job.opts.rankCache && job.resident) {
    // cached block orders (merge diagnostics): one walk per block instead of ranking every element
    const rc = job.opts.rankCache;
    const L = rowLength(job.entry.shape);
    const orders: (GPUBuffer | undefined)[] = [];
    for (const md of p.models) orders.push(md.n > 0 ? await rc.blockOrder(job, md.input, p.bi, L, p.m) : undefined);
    if (p.models.every((md, k) => md.n <= 0 || orders[k])) {
      const c = job.chunks[0];
      const b = job.batch();
      for (const md of p.order) {
        const k = p.models.indexOf(md);
        if (md.n <= 0) continue;
        blockWalk(b, job.n, L, md.n, p.m, orders[k]!, used, p.masks[k]);
        recordOr(b, c, p.masks[k], used);
      }
      if (onChunk) await onChunk(c, b);
      else await b.submit();
      return;
    }
  }
  if (p.m > 0) {
    for (const c of job.chunks) {
      const b = job.batch();
      await recordSelections(job, p, used, c, b);
      if (onChunk) await onChunk(c, b);
      else await b.submit();
      job.endChunk();
    }
    return;
  }
  await topkMasks(job, p, used);
  if (onChunk)
    for (const c of job.chunks) {
      await onChunk(c, job.batch());
      job.endChunk();
    }
}

export const cabsGpu: GpuMethod = {
  name: 'cabs',
  rowLen: ({ entry }) => (cabsBlockSize(entry.params) > 0 ? rowLength(entry.shape) : undefined),
  async run(job, emit) {
    const p = await plan(job);
    if (!p) {
      const bi = Math.max(0, job.entry.inputs.findIndex((x) => x.isBase));
      await emitInput(job, emit, bi);
      return;
    }
    await buildAll(job, p, async (c, b) => {
      const out = await recordMerge(job, p, c, b);
      await b.submit();
      await emit(c, out);
    });
  },
  async sparsify(job): Promise<Sparsified | undefined> {
    const p = await plan(job);
    if (!p) return undefined;
    await buildAll(job, p);
    // a task vector's mask depends on its own parameters and those of the models pruned before it
    const deps = p.models.map((md) => p.order.slice(0, p.order.indexOf(md) + 1).map((x) => x.input));
    return { base: p.bi, models: p.models.map((md) => md.input), masks: p.masks, bitBase: (c) => c.start, coefs: p.models.map((md) => Math.fround(md.weight)), deps };
  },
};

/** The WebGPU implementation of this folder's spec (methods/webgpu.ts). */
export function webgpu(): GpuMethod {
  return cabsGpu;
}

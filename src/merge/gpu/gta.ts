// The generalized task arithmetic family on the GPU (task_arithmetic, ties, breadcrumbs,
// breadcrumbs_ties): per-model sparsification masks from exact top-k, optional L1 rescale,
// weighted sum with optional "sum" sign consensus, normalize, lambda — mergekit's order of operations.
import type { GpuMethod } from './types';
import { bool, num } from './types';
import { gtaAgree, gtaFinish, gtaSum, l1Blocks, NONE, type Selection } from '../../gpu/ops';
import { storage } from '../../gpu/buffers';
import { buildMask, selectTopK } from './select';
import { collectPartials, sum64 } from './stats';
import type { GtaVariant } from '../methods/gta';
import { MethodError } from '../../errors';
import type { TensorJob } from '../tensor-job';

export function gtaGpu(v: GtaVariant): GpuMethod {
  return {
    name: v.name,
    async run(job, emit) {
      const { inputs, params, name } = job.entry;
      const bi = inputs.findIndex((x) => x.isBase);
      const others = inputs.map((_, i) => i).filter((i) => i !== bi);
      if (others.length === 0 || bi < 0) {
        for (const c of job.chunks) {
          await emit(c, await job.input(Math.max(bi, 0), c));
          job.endChunk();
        }
        return;
      }
      const normalize = bool(params, 'normalize', v.normalize);
      const rescale = bool(params, 'rescale', v.rescale);
      const lambda = num(params, 'lambda', 1);
      const weights = others.map((i) => Math.fround(num(inputs[i].params, 'weight')));
      const masks: (GPUBuffer | undefined)[] = [];
      const scales: number[] = [];
      for (const i of others) {
        const sel = v.sparsifier ? await sparsifierSelection(job, v, i, bi) : undefined;
        if (!sel) {
          masks.push(undefined);
          scales.push(1);
          continue;
        }
        const mask = job.own(`mask${i}`, storage(job.device, Math.ceil(job.n / 32) * 4, `mask${i}`));
        await buildMask(job, i, bi, sel[0], sel[1], mask);
        masks.push(mask);
        scales.push(rescale ? await l1Scale(job, i, bi, mask) : 1);
      }
      const total = weights.reduce((a, b) => a + b, 0);
      const scalarDiv = Math.abs(total) < 1e-8 ? 1 : total;
      for (const c of job.chunks) {
        const base = await job.input(bi, c);
        const xs: GPUBuffer[] = [];
        for (const i of others) xs.push(await job.input(i, c));
        const step = (k: number, init: boolean) => ({ x: xs[k], base, mask: masks[k], maskWordOffset: c.start / 32, w: weights[k], s: scales[k], init });
        const sum = job.scratch('sum');
        const mixed = job.scratch('mixed');
        const div = v.consensus ? job.scratch('div') : undefined;
        const out = job.scratch('out');
        const b = job.batch();
        if (v.consensus) {
          xs.forEach((_, k) => gtaSum(b, step(k, k === 0), c.count, sum));
          xs.forEach((_, k) => gtaAgree(b, step(k, k === 0), c.count, sum, mixed, div!));
        } else {
          xs.forEach((_, k) => gtaSum(b, step(k, k === 0), c.count, mixed));
        }
        gtaFinish(b, base, mixed, div, out, c.count, { normalize, consensus: v.consensus, lambda, scalarDiv });
        await b.submit();
        await emit(c, out);
        job.endChunk();
      }
      void name;
    },
  };
}

/** The two selections (keep = s1 && !s2) for a model's sparsifier, or undefined when it keeps all. */
async function sparsifierSelection(job: TensorJob, v: GtaVariant, i: number, bi: number): Promise<[Selection, Selection] | undefined> {
  const p = job.entry.inputs[i].params;
  const density = num(p, 'density', 1);
  if (density >= 1) return undefined;
  const n = job.n;
  if (v.sparsifier === 'magnitude') {
    const k = Math.floor(density * n);
    if (!(k > 0))
      throw new MethodError(
        `ties: density ${density} keeps floor(${density}·${n}) = 0 elements of tensor "${job.entry.name}" (model ${job.entry.inputs[i].model}); mergekit refuses this (k must be > 0)`,
        { tensor: job.entry.name, model: job.entry.inputs[i].model, key: 'density' },
      );
    return [await selectTopK(job, i, bi, k), NONE];
  }
  if (v.sparsifier === 'magnitude_outliers') {
    const gamma = num(p, 'gamma', 0.01);
    let nTop = Math.floor(gamma * n);
    const target = Math.floor(density * n);
    let nBot = n - target - nTop;
    if (nBot < 0) {
      nTop += nBot;
      nBot = 0;
    }
    // mergekit slices [n_bot : -n_top]; with n_top == 0 that slice is empty: the whole delta is dropped.
    if (nTop <= 0) return [NONE, NONE];
    const keepTo = await selectTopK(job, i, bi, n - nBot);
    const dropTop = await selectTopK(job, i, bi, nTop);
    return [keepTo, dropTop];
  }
  throw new MethodError(`sparsifier ${v.sparsifier} is not available on the GPU yet`);
}

/** L1 rescale factor Σ|δ| / Σ|masked δ| (1 when either is below 1e-7), as mergekit's rescaled_masked_tensor. */
async function l1Scale(job: TensorJob, i: number, bi: number, mask: GPUBuffer): Promise<number> {
  const [full, kept] = await collectPartials(job, 2, (c) => Math.ceil(c.count / 1024), async (b, c, outs) => {
    l1Blocks(b, await job.input(i, c), await job.input(bi, c), mask, c.start / 32, c.count, outs[0], outs[1]);
  });
  const bsum = sum64(full);
  const asum = sum64(kept);
  if (bsum < 1e-7 || asum < 1e-7) return 1;
  return bsum / asum;
}

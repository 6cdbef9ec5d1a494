// The generalized task arithmetic family on the GPU (task_arithmetic, ties, breadcrumbs,
// breadcrumbs_ties, dare_*, della*): per-model sparsification masks (exact top-k, or the random
// masks of random-prune.ts), optional L1 rescale, weighted sum with optional "sum" sign consensus,
// normalize, lambda — mergekit's order of operations.
// della ranks magnitudes per row, so its chunks hold whole rows (rowLen) and need not start at a
// multiple of 32: every mask is laid out per chunk (maskWordOffsets), and its L1 sums are per row.
import type { GpuMethod, Sparsified } from '../shared/webgpu/types';
import { bool, num } from '../shared/webgpu/types';
import { GTA_FUSED_MAX, gtaAgree, gtaFinish, gtaFused, gtaSum, l1Blocks, NONE, type FusedThresholds } from '../../gpu/ops';
import { storage } from '../../gpu/buffers';
import { buildMasks, selectTopKs, type MaskRequest, type TopKRequest } from '../shared/webgpu/select';
import { collectPartials, sum64, emitInput } from '../shared/webgpu/stats';
import { magnitudeRankPruneMasks, maskWordOffsets, maskWords, randomPruneMask, type MagPruneRequest } from '../shared/webgpu/random-prune';
import { gtaSparsifyPlan, gtaVariant, type GtaVariant } from './spec';
import type { MethodSpec } from '../spec';
import type { TensorJob } from '../../gpu/tensor-job';

export function gtaGpu(v: GtaVariant): GpuMethod {
  return {
    name: v.name,
    rowLen: v.sparsifier === 'della_magprune' ? ({ entry }) => entry.shape[entry.shape.length - 1] ?? 1 : undefined,
    // without pruning (no sparsifier, or every density ≥ 1) the merge is one sweep
    singleSweep: (entry) => !v.sparsifier || entry.inputs.every((i) => i.isBase || num(i.params, 'density', 1) >= 1),
    async sparsify(job): Promise<Sparsified | undefined> {
      const bi = job.entry.inputs.findIndex((x) => x.isBase);
      const others = job.entry.inputs.map((_, i) => i).filter((i) => i !== bi);
      if (others.length === 0 || bi < 0) return undefined;
      const s = await gtaSparsify(job, v, bi, others, bool(job.entry.params, 'rescale', v.rescale));
      return { base: bi, models: others, masks: s.masks, bitBase: (c) => s.wordOffsets[c.index] * 32, coefs: s.weights.map((w, k) => w * s.scales[k]), independent: true };
    },
    async run(job, emit) {
      const { inputs, params } = job.entry;
      const bi = inputs.findIndex((x) => x.isBase);
      const others = inputs.map((_, i) => i).filter((i) => i !== bi);
      if (others.length === 0 || bi < 0) {
        await emitInput(job, emit, Math.max(bi, 0));
        return;
      }
      const normalize = bool(params, 'normalize', v.normalize);
      const rescale = bool(params, 'rescale', v.rescale);
      const lambda = num(params, 'lambda', 1);
      // the fused merge keeps a top-k selection without a tie at its cut-off by comparing keys: no mask pass
      const fused = others.length <= GTA_FUSED_MAX;
      const { weights, masks, scales, wordOffsets, sel } = await gtaSparsify(job, v, bi, others, rescale, fused);
      const total = weights.reduce((a, b) => a + b, 0);
      const scalarDiv = Math.abs(total) < 1e-8 ? 1 : total;
      for (const c of job.chunks) {
        if (others.length <= GTA_FUSED_MAX) {
          // one pass: from the decoded inputs an earlier sweep left (resident tensors), else straight
          // from the stored words (nothing decoded)
          const base = await job.source(bi, c);
          const xs = [];
          for (const i of others) xs.push(await job.source(i, c));
          const encode = job.encodeTo;
          const out = encode ? job.scratch('encoded', Math.ceil(job.maxChunk / 2) * 4) : job.scratch('out');
          const b = job.batch();
          gtaFused(
            b, c.count, base, xs.map((x, k) => ({ x, mask: masks[k], sel: sel[k], w: weights[k], s: scales[k] })),
            { maskWordOffset: wordOffsets[c.index], chunkStart: c.start, normalize, consensus: v.consensus, lambda, scalarDiv, roundTo: job.entry.computeDtype, encode },
            out,
          );
          await b.submit();
          await emit(c, out, !!encode);
          job.endChunk();
          continue;
        }
        const base = await job.input(bi, c);
        const xs: GPUBuffer[] = [];
        for (const i of others) xs.push(await job.input(i, c));
        const step = (k: number, init: boolean) => ({ x: xs[k], base, mask: masks[k], maskWordOffset: wordOffsets[c.index], w: weights[k], s: scales[k], init });
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
    },
  };
}

/**
 * Every task vector's weight, sparsification mask (per-chunk word layout) and rescale factor. With
 * `thresholds`, a top-k selection (without an L1 rescale over its mask, and whose second
 * selection, breadcrumbs', splits no tie) comes back as key and index thresholds (`sel`) instead
 * of a mask: gta_fused compares the keys itself.
 */
async function gtaSparsify(job: TensorJob, v: GtaVariant, bi: number, others: number[], rescale: boolean, thresholds = false) {
  const { inputs } = job.entry;
  const weights = others.map((i) => Math.fround(num(inputs[i].params, 'weight')));
  // sparsification: every model's selections share the sweeps over the tensor
  const plans = others.map((i) => gtaSparsifyPlan(v, job.entry, i, job.n));
  const reqs: TopKRequest[] = [];
  for (const [k, pl] of plans.entries()) if (pl?.kind === 'select') reqs.push(...pl.ks.map((kk) => ({ xi: others[k], k: kk })));
  const sels = await selectTopKs(job, bi, reqs);
  const masks: (GPUBuffer | undefined)[] = [];
  const maskReqs: MaskRequest[] = [];
  const wordOffsets = maskWordOffsets(job.chunks);
  const scales: number[] = others.map(() => 1);
  const sel: (FusedThresholds | undefined)[] = others.map(() => undefined);
  const magReqs: (MagPruneRequest & { k: number })[] = [];
  let r = 0;
  for (const [k, pl] of plans.entries()) {
    if (!pl) {
      masks.push(undefined);
      continue;
    }
    if (thresholds && !rescale && pl.kind === 'select') {
      const s1 = sels[r];
      const s2 = pl.ks.length > 1 ? sels[r + 1] : NONE;
      if ((s1.mode !== 2 || s1.below !== undefined) && s2.mode !== 2) {
        r += pl.ks.length;
        sel[k] = { lo: s1.mode === 0 ? 0xffffffff : s1.t, below: s1.mode === 2 ? s1.below! : s1.mode === 1 ? 0xffffffff : 0, hi: s2.mode === 0 ? 0xffffffff : s2.t };
        masks.push(undefined);
        continue;
      }
    }
    const mask = job.own(`mask${k}`, storage(job.device, Math.max(4, maskWords(job.chunks) * 4), `mask${k}`));
    masks.push(mask);
    if (pl.kind === 'random') {
      await randomPruneMask(job, pl.density, others[k], { mask });
      if (pl.inverse) scales[k] = pl.density > 0 ? 1 / Math.fround(pl.density) : 1;
      continue;
    }
    if (pl.kind === 'magprune') {
      magReqs.push({ k, xi: others[k], density: pl.density, epsilon: pl.epsilon, stream: others[k], mask });
      continue;
    }
    if (pl.kind === 'empty') {
      const b = job.batch();
      b.clear(mask);
      await b.submit();
      continue;
    }
    const s1 = sels[r++];
    const s2 = pl.ks.length > 1 ? sels[r++] : NONE;
    maskReqs.push({ xi: others[k], s1, s2, mask });
  }
  await buildMasks(job, bi, maskReqs);
  // della: masks and their L1 sums (per row) in one sweep over the chunks
  const magSums = await magnitudeRankPruneMasks(job, bi, magReqs, { l1: rescale });
  if (rescale) magReqs.forEach((q, j) => (scales[q.k] = l1Scale(magSums[j].all, magSums[j].kept)));
  // L1 rescale of the other masks, except those rescaled by 1/density (rescale_inverse_density)
  // (an empty mask keeps its factor 1: Σ|masked δ| = 0)
  const l1Masks = masks.map((m, k) => {
    const pl = plans[k];
    return pl?.kind === 'magprune' || pl?.kind === 'empty' || (pl?.kind === 'random' && pl.inverse) ? undefined : m;
  });
  if (rescale && l1Masks.some((m) => m)) {
    const l1 = await l1Scales(job, others, bi, l1Masks, wordOffsets);
    l1Masks.forEach((m, k) => m && (scales[k] = l1[k]));
  }
  return { weights, masks, scales, wordOffsets, sel };
}

/** mergekit's rescaled_masked_tensor factor: Σ|δ| / Σ|masked δ|, 1 when either is below 1e-7. */
function l1Scale(all: number, kept: number): number {
  return all < 1e-7 || kept < 1e-7 ? 1 : all / kept;
}

/** L1 rescale factors from per-1024-block partials (chunks 4096-aligned: mask word = start / 32). */
async function l1Scales(job: TensorJob, others: number[], bi: number, masks: (GPUBuffer | undefined)[], wordOffsets: number[]): Promise<number[]> {
  // from the decoded inputs a selection sweep left, else from the stored words (DARE's masks read no input)
  const parts = await collectPartials(job, 2 * others.length, (c) => Math.ceil(c.count / 1024), async (b, c, outs) => {
    const base = await job.source(bi, c);
    for (const [k, i] of others.entries())
      if (masks[k]) l1Blocks(b, await job.source(i, c), base, masks[k], wordOffsets[c.index], c.count, outs[2 * k], outs[2 * k + 1], job.entry.computeDtype);
  });
  return others.map((_, k) => {
    if (!masks[k]) return 1;
    const bsum = sum64(parts[2 * k]);
    const asum = sum64(parts[2 * k + 1]);
    return bsum < 1e-7 || asum < 1e-7 ? 1 : bsum / asum;
  });
}

/** The WebGPU implementation of each of this folder's specs (methods/webgpu.ts). */
export function webgpu(spec: MethodSpec): GpuMethod {
  return gtaGpu(gtaVariant(spec));
}

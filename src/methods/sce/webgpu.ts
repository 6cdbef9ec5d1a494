import type { GpuMethod } from '../shared/webgpu/types';
import { num } from '../shared/webgpu/types';
import { NONE } from '../../gpu/ops';
import { nonzeroBlocks, sceAgree, sceFinish, sqBlocks, tvSqDev, tvSum, type TaskVec } from '../../gpu/ops-stack';
import { storage } from '../../gpu/buffers';
import { buildMasks, selectTopKs, type KeyBuffer } from '../shared/webgpu/select';
import { collectPartials, sum64, emitInput } from '../shared/webgpu/stats';
import type { Chunk } from '../../gpu/tensor-job';
import { sceK, sceWeights } from './spec';

/**
 * SCE: (select_topk < 1) the positions of the k largest variances across the task vectors (variance
 * computed model by model in f32 and selected exactly by the radix select on its bits, lowest index
 * first at ties), energy weights from block reductions, then the unweighted sign election and the
 * weighted average of the agreeing task vectors, divided by max(Σ agreeing weights, 1e-6).
 */
export const sceGpu: GpuMethod = {
  name: 'sce',
  async run(job, emit) {
    const { inputs, params } = job.entry;
    const bi = inputs.findIndex((x) => x.isBase);
    const others = inputs.map((_, i) => i).filter((i) => i !== bi);
    if (bi < 0 || others.length === 0) {
      await emitInput(job, emit, Math.max(bi, 0));
      return;
    }
    const M = others.length;
    const topk = num(params, 'select_topk', 1);
    const tvs = async (c: Chunk, mask?: GPUBuffer): Promise<TaskVec[]> => {
      const base = await job.input(bi, c);
      const out: TaskVec[] = [];
      for (const i of others) out.push({ x: await job.input(i, c), base, mask, maskWordOffset: c.start / 32 });
      return out;
    };

    let mask: GPUBuffer | undefined;
    if (topk < 1) {
      mask = job.own('sce.mask', storage(job.device, Math.ceil(job.n / 32) * 4, 'sce.mask'));
      const inv = Math.fround(1 / M);
      let cached: GPUBuffer | undefined;
      const variance: KeyBuffer = async (c) => {
        if (cached) return cached;
        const sum = job.scratch('sce.vsum');
        const v = job.scratch('sce.var');
        const b = job.batch();
        const ts = await tvs(c);
        ts.forEach((t, k) => tvSum(b, t, c.count, sum, k === 0));
        ts.forEach((t, k) => tvSqDev(b, t, c.count, sum, v, inv, k === 0, k === M - 1));
        await b.submit();
        if (job.resident) cached = v;
        return v;
      };
      let k = 0;
      if (topk > 0) {
        const [nz] = await collectPartials(job, 1, (c) => Math.ceil(c.count / 1024), async (b, c, outs) => {
          nonzeroBlocks(b, await variance(c), c.count, outs[0]);
        });
        k = sceK(sum64(nz), topk);
      }
      if (k === 0) {
        const b = job.batch();
        b.clear(mask);
        await b.submit();
      } else {
        const [sel] = await selectTopKs(job, bi, [{ xi: bi, k, keys: variance }]);
        await buildMasks(job, bi, [{ xi: bi, keys: variance, s1: sel, s2: NONE, mask }]);
      }
    }

    const energy = await collectPartials(job, M, (c) => Math.ceil(c.count / 1024), async (b, c, outs) => {
      (await tvs(c, mask)).forEach((t, k) => sqBlocks(b, t, c.count, outs[k]));
    });
    const w = sceWeights(energy.map(sum64), job.n).map(Math.fround);
    for (const c of job.chunks) {
      const ts = await tvs(c, mask);
      const sum = job.scratch('sum');
      const mixed = job.scratch('mixed');
      const div = job.scratch('div');
      const b = job.batch();
      ts.forEach((t, k) => tvSum(b, t, c.count, sum, k === 0));
      ts.forEach((t, k) => sceAgree(b, t, c.count, sum, mixed, div, w[k], k === 0));
      sceFinish(b, ts[0].base, c.count, sum, mixed, div);
      await b.submit();
      await emit(c, sum);
      job.endChunk();
    }
  },
};

/** The WebGPU implementation of this folder's spec (methods/webgpu.ts). */
export function webgpu(): GpuMethod {
  return sceGpu;
}

import type { GpuMethod } from '../shared/webgpu/types';
import type { MethodSpec } from '../spec';
import { ramLambda, ramplusTl } from './spec';
import { num } from '../shared/webgpu/types';
import { ramAcc, ramBlocks, ramCount, type TaskVec } from '../../gpu/ops-stack';
import { collectPartials, sum64, emitInput } from '../shared/webgpu/stats';
import type { Chunk } from '../../gpu/tensor-job';

/**
 * RAM / RAM+: per entry, the number of models whose |τ| > epsilon (counted model by model); a change
 * made by one model is kept (× λᵢ for RAM+), changes made by several are averaged over them. RAM+'s
 * per-model shared/unique counts are exact integers from per-block counts.
 */
function ramGpuFor(plus: boolean): GpuMethod {
  return {
    name: plus ? 'ramplus_tl' : 'ram',
    async run(job, emit) {
      const { inputs, params } = job.entry;
      const bi = inputs.findIndex((x) => x.isBase);
      const others = inputs.map((_, i) => i).filter((i) => i !== bi);
      if (bi < 0 || others.length === 0) {
        await emitInput(job, emit, Math.max(bi, 0));
        return;
      }
      const M = others.length;
      const epsilon = num(params, 'epsilon', 1e-5);
      const eps = Math.fround(epsilon);
      const tvs = async (c: Chunk): Promise<TaskVec[]> => {
        const base = await job.input(bi, c);
        const out: TaskVec[] = [];
        for (const i of others) out.push({ x: await job.input(i, c), base });
        return out;
      };
      let lambdas = others.map(() => 1);
      if (plus) {
        const counts = await collectPartials(job, 2 * M, (c) => Math.ceil(c.count / 1024), async (b, c, outs) => {
          const ts = await tvs(c);
          const cnt = job.scratch('cnt');
          ts.forEach((t, k) => ramCount(b, t, c.count, cnt, eps, k === 0));
          ts.forEach((t, k) => ramBlocks(b, t, c.count, cnt, eps, outs[2 * k], outs[2 * k + 1]));
        });
        const r = num(params, 'r', 0.1);
        const alpha = num(params, 'alpha', 0.2);
        lambdas = others.map((_, k) => ramLambda(sum64(counts[2 * k]), sum64(counts[2 * k + 1]), r, alpha, epsilon));
      }
      for (const c of job.chunks) {
        const ts = await tvs(c);
        const cnt = job.scratch('cnt');
        const acc = job.scratch('acc');
        const b = job.batch();
        ts.forEach((t, k) => ramCount(b, t, c.count, cnt, eps, k === 0));
        ts.forEach((t, k) => ramAcc(b, t, c.count, cnt, acc, eps, lambdas[k], k === 0, k === M - 1));
        await b.submit();
        await emit(c, acc);
        job.endChunk();
      }
    },
  };
}

export const ramGpu = ramGpuFor(false);
export const ramplusTlGpu = ramGpuFor(true);

/** The WebGPU implementation of each of this folder's specs (methods/webgpu.ts). */
export function webgpu(spec: MethodSpec): GpuMethod {
  return spec.name === ramplusTl.name ? ramplusTlGpu : ramGpu;
}

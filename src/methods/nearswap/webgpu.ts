import type { GpuMethod } from '../shared/webgpu/types';
import { emitInput } from '../shared/webgpu/stats';
import { num } from '../shared/webgpu/types';
import { nearswapKernel } from '../../gpu/ops-combine';

/** NearSwap: w = clamp(t / max(|base − x|, 1e-6), 0, 1), out = w·x + (1 − w)·base, elementwise. */
export const nearswapGpu: GpuMethod = {
  name: 'nearswap',
  async run(job, emit) {
    const { inputs, params } = job.entry;
    const bi = inputs.findIndex((x) => x.isBase);
    const oi = inputs.findIndex((x) => !x.isBase);
    if (bi < 0 || oi < 0) {
      // a single tensor (the planner only lets this through for one-input slices): unchanged
      await emitInput(job, emit, 0);
      return;
    }
    const t = Math.fround(num(params, 't'));
    for (const c of job.chunks) {
      const base = await job.input(bi, c);
      const x = await job.input(oi, c);
      const out = job.scratch('out');
      const b = job.batch();
      nearswapKernel(b, x, base, out, c.count, t);
      await b.submit();
      await emit(c, out);
      job.endChunk();
    }
  },
};

/** The WebGPU implementation of this folder's spec (methods/webgpu.ts). */
export function webgpu(): GpuMethod {
  return nearswapGpu;
}

import type { GpuMethod } from '../shared/webgpu/types';
import { axpy } from '../../gpu/ops';
import { coefs } from '../shared/webgpu/stats';

/** Copies its single input; multiplies by `scale` when one is set. */
export const passthroughGpu: GpuMethod = {
  name: 'passthrough',
  singleSweep: () => true,
  async run(job, emit) {
    const scale = job.entry.inputs[0].params.scale;
    const coef = typeof scale === 'number' ? coefs(job, 'scale', [scale]) : undefined;
    for (const c of job.chunks) {
      const x = await job.input(0, c);
      if (!coef) {
        await emit(c, x);
      } else {
        const acc = job.scratch('acc');
        const b = job.batch();
        axpy(b, coef, x, acc, c.count, { init: true });
        await b.submit();
        await emit(c, acc);
      }
      job.endChunk();
    }
  },
};

/** The WebGPU implementation of this folder's spec (methods/webgpu.ts). */
export function webgpu(): GpuMethod {
  return passthroughGpu;
}

import type { GpuMethod } from '../shared/webgpu/types';
import { num } from '../shared/webgpu/types';
import { axpy, dotBlocks } from '../../gpu/ops';
import { coefs, collectPartials, sum64, emitInput } from '../shared/webgpu/stats';
import { slerpCoefficients } from './spec';

/**
 * mergekit's slerp: unit directions from whole-tensor norms (normalised only above 1e-8), lerp when
 * |cos| > 0.9995, else sin-weights applied to the raw tensors. v0 is the base (t = 0).
 */
export const slerpGpu: GpuMethod = {
  name: 'slerp',
  async run(job, emit) {
    const { inputs } = job.entry;
    if (inputs.length === 1) {
      await emitInput(job, emit, 0);
      return;
    }
    const i0 = Math.max(0, inputs.findIndex((x) => x.isBase));
    const i1 = i0 === 0 ? 1 : 0;
    const t = num(job.entry.params, 't');
    const [aa, bb, ab] = await collectPartials(job, 3, (c) => Math.ceil(c.count / 1024), async (b, c, outs) => {
      const v0 = await job.input(i0, c);
      const v1 = await job.input(i1, c);
      dotBlocks(b, v0, v0, undefined, c.count, false, false, outs[0]);
      dotBlocks(b, v1, v1, undefined, c.count, false, false, outs[1]);
      dotBlocks(b, v0, v1, undefined, c.count, false, false, outs[2]);
    });
    const [c0, c1] = slerpCoefficients(t, sum64(aa), sum64(bb), sum64(ab));
    const coef = coefs(job, 'c', [c0, c1]);
    for (const c of job.chunks) {
      const v0 = await job.input(i0, c);
      const v1 = await job.input(i1, c);
      const acc = job.scratch('acc');
      const b = job.batch();
      axpy(b, coef, v0, acc, c.count, { init: true, coefOffset: 0 });
      axpy(b, coef, v1, acc, c.count, { init: false, coefOffset: 1 });
      await b.submit();
      await emit(c, acc);
      job.endChunk();
    }
  },
};

/** The WebGPU implementation of this folder's spec (methods/webgpu.ts). */
export function webgpu(): GpuMethod {
  return slerpGpu;
}

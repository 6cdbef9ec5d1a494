import type { GpuMethod } from './types';
import { bool, num } from './types';
import { axpy, divide } from '../../gpu/ops';
import { coefs } from './stats';

/** Σ wᵢ·Xᵢ (input order), then ÷ Σ wᵢ when normalize — no zero-sum guard, as mergekit. */
export const linearGpu: GpuMethod = {
  name: 'linear',
  singleSweep: () => true,
  async run(job, emit) {
    const { inputs, params } = job.entry;
    const w = inputs.map((i) => Math.fround(num(i.params, 'weight')));
    const normalize = bool(params, 'normalize', true);
    const total = Math.fround(w.reduce((a, b) => a + b, 0));
    const coef = coefs(job, 'w', w);
    for (const c of job.chunks) {
      const xs: GPUBuffer[] = [];
      for (let i = 0; i < inputs.length; i++) xs.push(await job.input(i, c));
      const acc = job.scratch('acc');
      const b = job.batch();
      xs.forEach((x, i) => axpy(b, coef, x, acc, c.count, { init: i === 0, coefOffset: i }));
      if (normalize) divide(b, acc, c.count, total);
      await b.submit();
      await emit(c, acc);
      job.endChunk();
    }
  },
};

import type { GpuMethod } from '../shared/webgpu/types';
import { bool, num } from '../shared/webgpu/types';
import { weightedSum } from '../../gpu/ops-wsum';
import { coefs } from '../shared/webgpu/stats';

/** Σ wᵢ·Xᵢ (input order), then ÷ Σ wᵢ when normalize — no zero-sum guard, as mergekit. One fused
 *  pass from the stored words (decode, weight, sum, divide; and encode, for a 16-bit merge to disk). */
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
      const raw = await Promise.all(inputs.map((_, i) => job.rawInput(i, c)));
      const acc = job.scratch('acc');
      const dtype = job.encodeTo;
      const encode = dtype ? { dtype, words: job.scratch('encoded', Math.ceil(job.maxChunk / 2) * 4) } : undefined;
      const b = job.batch();
      weightedSum(b, raw, coef, acc, c.count, { roundTo: job.entry.computeDtype, div: normalize ? total : undefined, encode });
      await b.submit();
      await emit(c, encode ? encode.words : acc, !!encode);
      job.endChunk();
    }
  },
};

/** The WebGPU implementation of this folder's spec (methods/webgpu.ts). */
export function webgpu(): GpuMethod {
  return linearGpu;
}

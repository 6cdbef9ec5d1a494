// linear on the CPU engine, replaying shaders/wsum.wgsl in f32.
import type { CpuMethod } from '../shared/cpu/method';
import { bool, num } from '../shared/cpu/method';

const f = Math.fround;

/** Σ wᵢ·Xᵢ in input order (f32 coefficients, f32 sums), then ÷ fround(Σ wᵢ) when normalize. */
export const linearCpu: CpuMethod = {
  name: 'linear',
  fidelity: 'exact',
  singleSweep: () => true,
  async run(job, emit) {
    const { inputs, params } = job.entry;
    const w = inputs.map((i) => f(num(i.params, 'weight')));
    const normalize = bool(params, 'normalize', true);
    const div = f(w.reduce((a, b) => a + b, 0));
    for (const c of job.chunks) {
      const xs = await job.inputs(c);
      const out = new Float32Array(c.count);
      // the GPU adds inputs four at a time into an f32 accumulator: the same sums in the same order
      // (the accumulator starts at 0.0: 0 + (−0) is +0, as on the GPU)
      const x0 = xs[0];
      const w0 = w[0];
      for (let e = 0; e < c.count; e++) out[e] = 0 + f(w0 * x0[e]);
      for (let j = 1; j < xs.length; j++) {
        const x = xs[j];
        const wj = w[j];
        for (let e = 0; e < c.count; e++) out[e] = out[e] + f(wj * x[e]);
      }
      if (normalize) for (let e = 0; e < c.count; e++) out[e] = out[e] / div;
      await emit(c, out);
    }
  },
};

/** The CPU engine's implementation of this folder's spec (methods/cpu.ts). */
export function cpu(): CpuMethod {
  return linearCpu;
}

// linear and passthrough, replaying shaders/wsum.wgsl and elementwise.wgsl axpy in f32.
import type { CpuMethod } from '../method';
import { bool, emitInput, num } from '../method';

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

/** Copies its single input; × scale (f32) when one is set. */
export const passthroughCpu: CpuMethod = {
  name: 'passthrough',
  fidelity: 'exact',
  singleSweep: () => true,
  async run(job, emit) {
    const scale = job.entry.inputs[0].params.scale;
    if (typeof scale !== 'number') return emitInput(job, emit, 0);
    const s = f(scale);
    for (const c of job.chunks) {
      const x = await job.input(0, c);
      const out = new Float32Array(c.count);
      for (let e = 0; e < c.count; e++) out[e] = s * x[e];
      await emit(c, out);
    }
  },
};

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
      // one pass per element, the GPU's order: acc = 0.0 + w₀x₀ (so −0 becomes +0), acc += wⱼxⱼ
      // for each further input, then ÷ Σw — every step rounded to f32
      const n = c.count;
      const [x0, x1, x2, x3] = xs;
      const [w0, w1, w2, w3] = w;
      const M = xs.length;
      // the division by Σw is folded into the same loop (one pass over the output, not two; the same
      // f32 operations: the sum is rounded on its store-free path exactly as before, then divided)
      const d = normalize ? div : 1;
      if (M === 1) for (let e = 0; e < n; e++) out[e] = (0 + f(w0 * x0[e])) / d;
      else if (M === 2) for (let e = 0; e < n; e++) out[e] = f(f(0 + f(w0 * x0[e])) + f(w1 * x1[e])) / d;
      else if (M === 3) for (let e = 0; e < n; e++) out[e] = f(f(f(0 + f(w0 * x0[e])) + f(w1 * x1[e])) + f(w2 * x2[e])) / d;
      else {
        for (let e = 0; e < n; e++) out[e] = f(f(f(0 + f(w0 * x0[e])) + f(w1 * x1[e])) + f(w2 * x2[e])) + f(w3 * x3[e]);
        for (let j = 4; j < M; j++) {
          const x = xs[j];
          const wj = w[j];
          for (let e = 0; e < n; e++) out[e] = out[e] + f(wj * x[e]);
        }
        if (normalize) for (let e = 0; e < n; e++) out[e] = out[e] / div;
      }
      await emit(c, out);
    }
  },
};

/** The CPU engine's implementation of this folder's spec (methods/cpu.ts). */
export function cpu(): CpuMethod {
  return linearCpu;
}

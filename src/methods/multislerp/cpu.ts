// multislerp on the CPU engine, replaying methods/multislerp/webgpu.ts in f32: the Gram matrix of
// the task vectors from dot_blocks partials (stats.ts), the shared f64 coefficients (spec.ts), then
// the delta_axpy chain of shaders/combine.wgsl in model order.
import type { CpuMethod } from '../shared/cpu/method';
import { bool, emitInput, num } from '../shared/cpu/method';
import { dotBlockSum } from '../shared/cpu/stats';
import { multislerpCoefficients, multislerpWeights } from './spec';

const f = Math.fround;

export const multislerpCpu: CpuMethod = {
  name: 'multislerp',
  fidelity: 'exact',
  async run(job, emit) {
    const { inputs, params, name } = job.entry;
    const bi = inputs.findIndex((x) => x.isBase);
    const others = inputs.map((_, i) => i).filter((i) => i !== bi);
    // mergekit returns a single model's tensor as it is
    if (others.length <= 1) return emitInput(job, emit, others.length ? others[0] : 0);
    const hasBase = bi >= 0;
    const w = multislerpWeights(others.map((i) => num(inputs[i].params, 'weight')), bool(params, 'normalize_weights', true));
    const eps = num(params, 'eps', 1e-8);
    const N = others.length;
    const pairs: [number, number][] = [];
    for (let p = 0; p < N; p++) for (let q = p; q < N; q++) pairs.push([p, q]);
    const totals = new Float64Array(pairs.length);
    let d: Float32Array[] = [];
    for (const c of job.chunks) {
      const xs = await job.inputs(c, others);
      const n = c.count;
      let X = xs;
      if (hasBase) {
        const base = await job.input(bi, c);
        if (!d.length || d[0].length < n) d = others.map(() => new Float32Array(n));
        for (let k = 0; k < N; k++) {
          const x = xs[k];
          const dk = d[k];
          for (let e = 0; e < n; e++) dk[e] = x[e] - base[e];
        }
        X = d;
      }
      for (let k = 0; k < pairs.length; k++) totals[k] = dotBlockSum(X[pairs[k][0]], X[pairs[k][1]], n, totals[k]);
    }
    const G = Array.from({ length: N }, () => new Array<number>(N).fill(0));
    pairs.forEach(([p, q], k) => (G[p][q] = G[q][p] = totals[k]));
    const r = Float32Array.from(multislerpCoefficients(G, w, eps, name));
    // out = (base | 0) + r₀·X₀, then += rₖ·Xₖ in model order (Xₖ = xₖ − base rounded to f32, or xₖ)
    for (const c of job.chunks) {
      const xs = await job.inputs(c, others);
      const n = c.count;
      const out = new Float32Array(n);
      if (hasBase) {
        const base = await job.input(bi, c);
        const r0 = r[0];
        const x0 = xs[0];
        for (let e = 0; e < n; e++) out[e] = base[e] + f(r0 * f(x0[e] - base[e]));
        for (let k = 1; k < N; k++) {
          const rk = r[k];
          const x = xs[k];
          for (let e = 0; e < n; e++) out[e] = out[e] + f(rk * f(x[e] - base[e]));
        }
      } else {
        const r0 = r[0];
        const x0 = xs[0];
        for (let e = 0; e < n; e++) out[e] = 0 + f(r0 * x0[e]);
        for (let k = 1; k < N; k++) {
          const rk = r[k];
          const x = xs[k];
          for (let e = 0; e < n; e++) out[e] = out[e] + f(rk * x[e]);
        }
      }
      await emit(c, out);
    }
  },
};

/** The CPU engine's implementation of this folder's spec (methods/cpu.ts). */
export function cpu(): CpuMethod {
  return multislerpCpu;
}

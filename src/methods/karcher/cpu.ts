// karcher on the CPU engine, replaying methods/karcher/webgpu.ts in f32: the norms (dot_blocks,
// stats.ts), the shared f64 iteration on coefficients (spec.ts karcherCoefficients) whose projection
// passes materialise v = Σ pᵢ·xᵢ chunk by chunk with the axpy chain of shaders/elementwise.wgsl and
// reduce ‖v‖², v·xⱼ as dot_blocks does, then the result's axpy chain.
import type { CpuMethod, CpuJob } from '../shared/cpu/method';
import { emitInput, num } from '../shared/cpu/method';
import { dotBlockSum } from '../shared/cpu/stats';
import { karcherCoefficients, type KarcherProjection } from './spec';

const f = Math.fround;

/** v = Σ kᵢ·xᵢ over `used` in order (f32 coefficients; the first term is stored as is), or zeros. */
function combine(xs: Float32Array[], k: Float32Array, used: number[], n: number, v: Float32Array): void {
  if (used.length === 0) {
    v.fill(0, 0, n);
    return;
  }
  const k0 = k[used[0]];
  const x0 = xs[used[0]];
  for (let e = 0; e < n; e++) v[e] = k0 * x0[e];
  for (let u = 1; u < used.length; u++) {
    const ki = k[used[u]];
    const x = xs[used[u]];
    for (let e = 0; e < n; e++) v[e] = v[e] + f(ki * x[e]);
  }
}

/** One projection pass (webgpu.ts projectPass): ‖v‖² and v·xⱼ for j in `dots`, v = Σ pᵢ·xᵢ. */
async function projectPass(job: CpuJob, p: number[], dots: number[]): Promise<KarcherProjection> {
  const k = Float32Array.from(p);
  const used = p.map((_, i) => i).filter((i) => p[i] !== 0);
  let vv = 0;
  const sums = new Float64Array(dots.length);
  let v = new Float32Array(0);
  for (const c of job.chunks) {
    const xs = await job.inputs(c);
    const n = c.count;
    if (v.length < n) v = new Float32Array(n);
    combine(xs, k, used, n, v);
    vv = dotBlockSum(v, v, n, vv);
    for (let m = 0; m < dots.length; m++) sums[m] = dotBlockSum(v, xs[dots[m]], n, sums[m]);
  }
  const vx = new Array<number>(p.length).fill(0);
  dots.forEach((j, m) => (vx[j] = sums[m]));
  return { vv, vx };
}

export const karcherCpu: CpuMethod = {
  name: 'karcher',
  fidelity: 'exact',
  async run(job, emit) {
    const { inputs, params } = job.entry;
    const N = inputs.length;
    if (N === 1) return emitInput(job, emit, 0);
    const maxIter = num(params, 'max_iter', 10);
    const tol = num(params, 'tol', 1e-5);
    const sq = new Float64Array(N);
    for (const c of job.chunks) {
      const xs = await job.inputs(c);
      for (let i = 0; i < N; i++) sq[i] = dotBlockSum(xs[i], xs[i], c.count, sq[i]);
    }
    const norms = Array.from(sq, (s) => Math.sqrt(s));
    const a = await karcherCoefficients(norms, maxIter, tol, (p, dots) => projectPass(job, p, dots));
    const k = Float32Array.from(a);
    const used = a.map((_, i) => i).filter((i) => a[i] !== 0);
    for (const c of job.chunks) {
      const out = new Float32Array(c.count);
      combine(await job.inputs(c), k, used, c.count, out);
      await emit(c, out);
    }
  },
};

/** The CPU engine's implementation of this folder's spec (methods/cpu.ts). */
export function cpu(): CpuMethod {
  return karcherCpu;
}

import type { GpuMethod } from '../shared/webgpu/types';
import { num } from '../shared/webgpu/types';
import { axpy, dotBlocks } from '../../gpu/ops';
import { coefs, collectPartials, sum64, emitInput } from '../shared/webgpu/stats';
import type { TensorJob } from '../../gpu/tensor-job';
import { karcherCoefficients } from './spec';

/**
 * mergekit's karcher (α = 1/N, max_iter, tol). Every vector the iteration forms — the mean u and the
 * tangent T — is a combination Σ cᵢ·xᵢ of the inputs, so it is kept as coefficients: one pass per
 * iteration materialises T = Σ tᵢ·xᵢ chunk by chunk in f32 (as mergekit forms it from the unit
 * vectors) and reduces ‖T‖² and T·xⱼ in deterministic blocks; u·xⱼ and ‖u‖² follow in f64 from the
 * update u' = cos‖T‖·u + sin‖T‖·T/‖T‖. The result scale·u is one more pass.
 */
export const karcherGpu: GpuMethod = {
  name: 'karcher',
  async run(job, emit) {
    const { inputs, params } = job.entry;
    const N = inputs.length;
    if (N === 1) {
      await emitInput(job, emit, 0);
      return;
    }
    const maxIter = num(params, 'max_iter', 10);
    const tol = num(params, 'tol', 1e-5);
    const all = inputs.map((_, i) => i);
    const normParts = await collectPartials(job, N, (c) => Math.ceil(c.count / 1024), async (b, c, outs) => {
      for (const i of all) {
        const x = await job.input(i, c);
        dotBlocks(b, x, x, undefined, c.count, false, false, outs[i]);
      }
    });
    const norms = normParts.map((p) => Math.sqrt(sum64(p)));
    const a = await karcherCoefficients(norms, maxIter, tol, (p, dots) => projectPass(job, p, dots));
    const k = coefs(job, 'out', a);
    const used = all.filter((i) => a[i] !== 0);
    for (const c of job.chunks) {
      const out = job.scratch('acc');
      const b = job.batch();
      if (used.length === 0) b.clear(out, 0, c.count * 4); // no valid input: zeros
      for (const [n, i] of used.entries()) axpy(b, k, await job.input(i, c), out, c.count, { init: n === 0, coefOffset: i });
      await b.submit();
      await emit(c, out);
      job.endChunk();
    }
  },
};

/** One pass: v = Σ pᵢ·xᵢ per chunk (f32, input order); returns ‖v‖² and v·xⱼ (j in `dots`, else 0). */
async function projectPass(job: TensorJob, p: number[], dots: number[]): Promise<{ vv: number; vx: number[] }> {
  const N = p.length;
  const k = coefs(job, 'proj', p);
  const used = p.map((_, i) => i).filter((i) => p[i] !== 0);
  const parts = await collectPartials(job, 1 + dots.length, (c) => Math.ceil(c.count / 1024), async (b, c, outs) => {
    const v = job.scratch('v');
    if (used.length === 0) b.clear(v, 0, c.count * 4);
    for (const [n, i] of used.entries()) axpy(b, k, await job.input(i, c), v, c.count, { init: n === 0, coefOffset: i });
    dotBlocks(b, v, v, undefined, c.count, false, false, outs[0]);
    for (const [n, j] of dots.entries()) dotBlocks(b, v, await job.input(j, c), undefined, c.count, false, false, outs[1 + n]);
  });
  const vx = new Array<number>(N).fill(0);
  dots.forEach((j, n) => (vx[j] = sum64(parts[1 + n])));
  return { vv: sum64(parts[0]), vx };
}

/** The WebGPU implementation of this folder's spec (methods/webgpu.ts). */
export function webgpu(): GpuMethod {
  return karcherGpu;
}

import type { GpuMethod } from '../shared/webgpu/types';
import { num } from '../shared/webgpu/types';
import { axpy, dotBlocks } from '../../gpu/ops';
import { coefs, collectPartials, sum64, emitInput } from '../shared/webgpu/stats';
import type { TensorJob } from '../../gpu/tensor-job';

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
    const valid = all.filter((i) => norms[i] > tol);
    const alpha = 1 / N;
    let a = new Array<number>(N).fill(0); // u = Σ aᵢ·xᵢ
    if (valid.length > 0) {
      const an = new Array<number>(N).fill(0); // α renormalised over the valid inputs
      for (const i of valid) an[i] = 1 / valid.length;
      const project = (p: number[]) => projectPass(job, p, valid);
      // initial mean: normalise Σ α'ᵢ·xᵢ/nᵢ, or the first valid unit vector when that is ~0
      const p0 = an.map((x, i) => (x ? x / norms[i] : 0));
      const m = await project(p0);
      const mn = Math.sqrt(m.vv);
      let ux: number[];
      let uu: number;
      if (mn < tol) {
        a = a.map((_, i) => (i === valid[0] ? 1 / norms[i] : 0));
        const u = await project(a);
        ux = u.vx;
        uu = u.vv;
      } else {
        a = p0.map((x) => x / mn);
        ux = m.vx.map((x) => x / mn);
        uu = m.vv / (mn * mn);
      }
      for (let it = 0; it < maxIter; it++) {
        // T = Σ α'ⱼ (θⱼ / sin θⱼ)(xⱼ/nⱼ − cⱼ·u), cⱼ = clamp(u·xⱼ/nⱼ, ±1); θⱼ < tol skipped
        const t = new Array<number>(N).fill(0);
        let gamma = 0;
        let any = false;
        for (const j of valid) {
          const cj = Math.min(1, Math.max(-1, ux[j] / norms[j]));
          const th = Math.acos(cj);
          if (th < tol) continue;
          const beta = (an[j] * th) / Math.sin(th);
          t[j] += beta / norms[j];
          gamma += beta * cj;
          any = true;
        }
        if (!any) break; // T = 0
        for (let i = 0; i < N; i++) t[i] -= gamma * a[i];
        const T = await project(t);
        const tn = Math.sqrt(T.vv);
        if (tn < tol) break;
        const cs = Math.cos(tn);
        const sn = Math.sin(tn) / tn;
        let tu = 0;
        for (let i = 0; i < N; i++) tu += a[i] * T.vx[i];
        a = a.map((x, i) => cs * x + sn * t[i]);
        ux = ux.map((x, j) => cs * x + sn * T.vx[j]);
        uu = cs * cs * uu + 2 * cs * sn * tu + sn * sn * T.vv;
        const un = Math.sqrt(Math.max(0, uu));
        if (un > tol) {
          a = a.map((x) => x / un);
          ux = ux.map((x) => x / un);
          uu /= un * un;
        }
      }
      let scale = 0;
      for (const i of all) scale += alpha * norms[i];
      a = a.map((x) => x * scale);
    }
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

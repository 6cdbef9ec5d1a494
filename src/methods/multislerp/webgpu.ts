import type { GpuMethod } from '../shared/webgpu/types';
import { bool, num } from '../shared/webgpu/types';
import { dotBlocks } from '../../gpu/ops';
import { deltaAxpy } from '../../gpu/ops-combine';
import { coefs, collectPartials, sum64, emitInput } from '../shared/webgpu/stats';
import { MethodError } from '../../errors';

/**
 * mergekit's multislerp on the Gram matrix G of the task vectors Xᵢ (xᵢ − base, or xᵢ): every vector
 * it forms (unit vectors, their weighted mean m, the tangent sum T, the result) is a combination
 * Σ cᵢ·Xᵢ, so one pass of block dot products gives all norms and dots in f64, and the result is
 * [base +] Σ rᵢ·Xᵢ. Returns r, or throws where mergekit raises (‖m‖ < eps with more than 2 models).
 */
export function multislerpCoefficients(G: number[][], w: number[], eps: number, tensor: string): number[] {
  const N = w.length;
  const quad = (a: number[], b: number[]) => {
    let s = 0;
    for (let i = 0; i < N; i++) for (let j = 0; j < N; j++) s += a[i] * G[i][j] * b[j];
    return s;
  };
  const norms = G.map((row, i) => Math.sqrt(Math.max(0, row[i])));
  const mu = w.map((wi, i) => wi / (norms[i] + eps)); // m = Σ wᵢ·uᵢ, uᵢ = Xᵢ/(nᵢ + eps)
  const mn = Math.sqrt(Math.max(0, quad(mu, mu)));
  if (mn < eps) {
    if (N === 2) return [w[0], w[1]]; // mergekit's fallback: w₀X₀ + w₁X₁
    throw new MethodError(
      `multislerp: the weighted mean of the unit task vectors of tensor "${tensor}" is zero (antipodal models whose weights cancel); use different weights`,
      { tensor, key: 'weight' },
    );
  }
  const mhat = mu.map((x) => x / mn);
  // dᵢ = uᵢ·m̂;  T = Σ wᵢ (uᵢ − dᵢ·m̂)
  let D = 0;
  for (let i = 0; i < N; i++) {
    let gi = 0;
    for (let j = 0; j < N; j++) gi += G[i][j] * mhat[j];
    D += w[i] * (gi / (norms[i] + eps));
  }
  const T = mu.map((x, j) => x - D * mhat[j]);
  const L = Math.sqrt(Math.max(0, quad(T, T))) + eps;
  let avg = 0;
  for (let i = 0; i < N; i++) avg += norms[i] * w[i];
  const cl = Math.cos(L);
  const sl = Math.sin(L) / L;
  return mhat.map((x, j) => (x * cl + T[j] * sl) * avg);
}

export const multislerpGpu: GpuMethod = {
  name: 'multislerp',
  async run(job, emit) {
    const { inputs, params, name } = job.entry;
    const bi = inputs.findIndex((x) => x.isBase);
    const others = inputs.map((_, i) => i).filter((i) => i !== bi);
    if (others.length <= 1) {
      // mergekit returns a single model's tensor as it is
      const only = others.length ? others[0] : 0;
      await emitInput(job, emit, only);
      return;
    }
    const hasBase = bi >= 0;
    let w = others.map((i) => num(inputs[i].params, 'weight'));
    if (bool(params, 'normalize_weights', true)) {
      const s = w.reduce((a, b) => a + b, 0);
      w = w.map((x) => x / s);
    }
    const eps = num(params, 'eps', 1e-8);
    const N = others.length;
    const pairs: [number, number][] = [];
    for (let p = 0; p < N; p++) for (let q = p; q < N; q++) pairs.push([p, q]);
    const parts = await collectPartials(job, pairs.length, (c) => Math.ceil(c.count / 1024), async (b, c, outs) => {
      const base = hasBase ? await job.input(bi, c) : undefined;
      const xs: GPUBuffer[] = [];
      for (const i of others) xs.push(await job.input(i, c));
      pairs.forEach(([p, q], k) => dotBlocks(b, xs[p], xs[q], base, c.count, hasBase, hasBase, outs[k]));
    });
    const G = Array.from({ length: N }, () => new Array<number>(N).fill(0));
    pairs.forEach(([p, q], k) => (G[p][q] = G[q][p] = sum64(parts[k])));
    const r = coefs(job, 'r', multislerpCoefficients(G, w, eps, name));
    for (const c of job.chunks) {
      const base = hasBase ? await job.input(bi, c) : undefined;
      const out = job.scratch('out');
      const b = job.batch();
      for (const [k, i] of others.entries())
        deltaAxpy(b, r, await job.input(i, c), base, out, c.count, { init: k === 0, initBase: hasBase, subBase: hasBase, coefOffset: k });
      await b.submit();
      await emit(c, out);
      job.endChunk();
    }
  },
};

/** The WebGPU implementation of this folder's spec (methods/webgpu.ts). */
export function webgpu(): GpuMethod {
  return multislerpGpu;
}

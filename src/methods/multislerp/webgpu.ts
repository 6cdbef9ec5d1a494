import type { GpuMethod } from '../shared/webgpu/types';
import { bool, num } from '../shared/webgpu/types';
import { dotBlocks } from '../../gpu/ops';
import { deltaAxpy } from '../../gpu/ops-combine';
import { coefs, collectPartials, sum64, emitInput } from '../shared/webgpu/stats';
import { multislerpCoefficients, multislerpWeights } from './spec';

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
    const w = multislerpWeights(others.map((i) => num(inputs[i].params, 'weight')), bool(params, 'normalize_weights', true));
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

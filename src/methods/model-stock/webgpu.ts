import type { GpuMethod } from '../shared/webgpu/types';
import { bool } from '../shared/webgpu/types';
import { axpy, dotBlocks, dotRows } from '../../gpu/ops';
import { coefs, collectPartials, sum64, emitInput } from '../shared/webgpu/stats';
import { MethodError } from '../../errors';
import { modelStockT } from './spec';

/**
 * Model Stock: cosines between task vectors oᵢ = wᵢ − w₀ (whole tensor, or per row when filter_wise),
 * t = N·c / (1 + (N−1)·c), result t·mean(wᵢ) + (1−t)·w₀.
 */
export const modelStockGpu: GpuMethod = {
  name: 'model_stock',
  rowLen: ({ entry }) => (bool(entry.params, 'filter_wise', false) ? entry.shape[entry.shape.length - 1] ?? 1 : undefined),
  async run(job, emit) {
    const { inputs, params, shape, name } = job.entry;
    const bi = inputs.findIndex((x) => x.isBase);
    const others = inputs.map((_, i) => i).filter((i) => i !== bi);
    if (bi < 0 || others.length === 0) {
      await emitInput(job, emit, Math.max(bi, 0));
      return;
    }
    if (others.length < 2) throw new MethodError(`model_stock needs a base model and at least 2 other models for tensor "${name}"; found ${others.length}`, { tensor: name });
    const filterWise = bool(params, 'filter_wise', false);
    const rowLen = filterWise ? shape[shape.length - 1] ?? 1 : 0;
    const N = others.length;
    const pairs: [number, number][] = [];
    for (let a = 0; a < N; a++) for (let b = a; b < N; b++) pairs.push([a, b]);
    const parts = await collectPartials(job, pairs.length, (c) => (filterWise ? c.count / rowLen : Math.ceil(c.count / 1024)), async (b, c, outs) => {
      const base = await job.input(bi, c);
      const xs: GPUBuffer[] = [];
      for (const i of others) xs.push(await job.input(i, c));
      pairs.forEach(([p, q], k) => {
        if (filterWise) dotRows(b, xs[p], xs[q], base, c.count, rowLen, true, true, outs[k]);
        else dotBlocks(b, xs[p], xs[q], base, c.count, true, true, outs[k]);
      });
    });
    const rows = filterWise ? parts[0].length : 1;
    const dot = (p: number, q: number, r: number) => {
      const k = pairs.findIndex(([a, b]) => a === Math.min(p, q) && b === Math.max(p, q));
      return filterWise ? parts[k][r] : sum64(parts[k]);
    };
    const tRow = new Float64Array(rows);
    for (let r = 0; r < rows; r++) tRow[r] = modelStockT(N, (p, q) => dot(p, q, r));
    const wOther = coefs(job, 'wo', Array.from(tRow, (t) => t / N));
    const wBase = coefs(job, 'wb', Array.from(tRow, (t) => 1 - t));
    for (const c of job.chunks) {
      const base = await job.input(bi, c);
      const acc = job.scratch('acc');
      const b = job.batch();
      const coefOffset = filterWise ? c.start / rowLen : 0;
      for (let k = 0; k < N; k++) axpy(b, wOther, await job.input(others[k], c), acc, c.count, { init: k === 0, rowLen, coefOffset });
      axpy(b, wBase, base, acc, c.count, { init: false, rowLen, coefOffset });
      await b.submit();
      await emit(c, acc);
      job.endChunk();
    }
  },
};

/** The WebGPU implementation of this folder's spec (methods/webgpu.ts). */
export function webgpu(): GpuMethod {
  return modelStockGpu;
}

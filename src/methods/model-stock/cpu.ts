// model_stock on the CPU engine, replaying methods/model-stock/webgpu.ts in f32: the pair dot
// products of the task vectors (dot_blocks, or dot_rows when filter_wise; stats.ts), t from the
// shared f64 host code (spec.ts modelStockT), then the axpy chain of shaders/elementwise.wgsl.
import type { CpuMethod } from '../shared/cpu/method';
import { bool, emitInput } from '../shared/cpu/method';
import { dotBlockSum, dotRowSums } from '../shared/cpu/stats';
import { MethodError } from '../../errors';
import { modelStockT } from './spec';

const f = Math.fround;

export const modelStockCpu: CpuMethod = {
  name: 'model_stock',
  fidelity: 'exact',
  rowLen: (entry) => (bool(entry.params, 'filter_wise', false) ? entry.shape[entry.shape.length - 1] ?? 1 : undefined),
  async run(job, emit) {
    const { inputs, params, shape, name } = job.entry;
    const bi = inputs.findIndex((x) => x.isBase);
    const others = inputs.map((_, i) => i).filter((i) => i !== bi);
    if (bi < 0 || others.length === 0) return emitInput(job, emit, Math.max(bi, 0));
    if (others.length < 2) throw new MethodError(`model_stock needs a base model and at least 2 other models for tensor "${name}"; found ${others.length}`, { tensor: name });
    const filterWise = bool(params, 'filter_wise', false);
    const rowLen = filterWise ? shape[shape.length - 1] ?? 1 : 0;
    const N = others.length;
    const pairs: [number, number][] = [];
    for (let a = 0; a < N; a++) for (let b = a; b < N; b++) pairs.push([a, b]);
    const rows = filterWise ? job.n / rowLen : 1;
    // per pair: the f32 row sums (filter_wise), or the f64 sum of the block partials
    const rowDots = filterWise ? pairs.map(() => new Float32Array(rows)) : [];
    const totals = new Float64Array(pairs.length);
    let d: Float32Array[] = [];
    for (const c of job.chunks) {
      const base = await job.input(bi, c);
      const xs = await job.inputs(c, others);
      const n = c.count;
      if (!d.length || d[0].length < n) d = others.map(() => new Float32Array(n));
      // oᵢ = xᵢ − base, rounded to f32 as the kernel's av()/bv()
      for (let k = 0; k < N; k++) {
        const x = xs[k];
        const dk = d[k];
        for (let e = 0; e < n; e++) dk[e] = x[e] - base[e];
      }
      for (let k = 0; k < pairs.length; k++) {
        const [p, q] = pairs[k];
        if (filterWise) dotRowSums(d[p], d[q], n, rowLen, rowDots[k], c.start / rowLen);
        else totals[k] = dotBlockSum(d[p], d[q], n, totals[k]);
      }
    }
    const pairIndex = (p: number, q: number) => pairs.findIndex(([a, b]) => a === Math.min(p, q) && b === Math.max(p, q));
    const wo = new Float32Array(rows);
    const wb = new Float32Array(rows);
    for (let r = 0; r < rows; r++) {
      const t = modelStockT(N, (p, q) => (filterWise ? rowDots[pairIndex(p, q)][r] : totals[pairIndex(p, q)]));
      wo[r] = t / N;
      wb[r] = 1 - t;
    }
    // acc = (t/N)·x₀ (no 0 + term: −0 stays), acc += (t/N)·xₖ in model order, acc += (1 − t)·base
    for (const c of job.chunks) {
      const base = await job.input(bi, c);
      const xs = await job.inputs(c, others);
      const n = c.count;
      const L = filterWise ? rowLen : n;
      const r0 = filterWise ? c.start / rowLen : 0;
      const acc = new Float32Array(n);
      for (let s = 0, r = r0; s < n; s += L, r++) {
        const w = wo[r];
        const x0 = xs[0];
        for (let e = s; e < s + L; e++) acc[e] = w * x0[e];
        for (let k = 1; k < N; k++) {
          const x = xs[k];
          for (let e = s; e < s + L; e++) acc[e] = acc[e] + f(w * x[e]);
        }
        const w0 = wb[r];
        for (let e = s; e < s + L; e++) acc[e] = acc[e] + f(w0 * base[e]);
      }
      await emit(c, acc);
    }
  },
};

/** The CPU engine's implementation of this folder's spec (methods/cpu.ts). */
export function cpu(): CpuMethod {
  return modelStockCpu;
}

// nuslerp on the CPU engine, replaying methods/nuslerp/webgpu.ts in f32: per vector (whole tensor,
// rows, or columns) ‖v0‖², ‖v1‖², v0·v1 as the GPU reduces them (dot_blocks, dot_rows: stats.ts;
// col_dots: per block of 256 rows and column, summed down the rows), the shared f64 coefficients
// (spec.ts), then the delta_axpy pair of shaders/combine.wgsl.
import type { CpuMethod } from '../shared/cpu/method';
import { emitInput, num } from '../shared/cpu/method';
import { dotBlockSum, dotRowSums } from '../shared/cpu/stats';
import { MethodError } from '../../errors';
import type { PlanEntry } from '../../recipe/plan-types';
import { NUSLERP_COL_BLOCK, nuslerpChunkRow, nuslerpCoefficients, nuslerpEntryGeometry, nuslerpT } from './spec';

const f = Math.fround;


export const nuslerpCpu: CpuMethod = {
  name: 'nuslerp',
  fidelity: 'exact',
  rowLen: (entry) => nuslerpChunkRow(entry),
  async run(job, emit) {
    const { inputs, name } = job.entry;
    const bi = inputs.findIndex((x) => x.isBase);
    const others = inputs.map((_, i) => i).filter((i) => i !== bi);
    if (inputs.length === 1) return emitInput(job, emit, 0);
    if (others.length !== 2)
      throw new MethodError(`nuslerp merges exactly two models (plus an optional, distinct base model); tensor "${name}" has ${others.length} besides the base`, { tensor: name });
    const [ia, ib] = others;
    const t = nuslerpT(num(inputs[ia].params, 'weight'), num(inputs[ib].params, 'weight'));
    const hasBase = bi >= 0;
    const { mode, rowLen: L } = nuslerpEntryGeometry(job.entry);
    const which = hasBase ? [ia, ib, bi] : [ia, ib];

    // 1. statistics: per vector the f64 sums of the GPU's f32 partials, in block order
    const vectors = mode === 'flat' ? 1 : L;
    const rows = mode === 'rows' ? job.n / L : 0;
    const aaR = new Float32Array(rows);
    const bbR = new Float32Array(rows);
    const abR = new Float32Array(rows);
    const aa = new Float64Array(mode === 'rows' ? 0 : vectors);
    const bb = new Float64Array(aa.length);
    const ab = new Float64Array(aa.length);
    const colA = new Float32Array(mode === 'cols' ? L : 0);
    const colB = new Float32Array(colA.length);
    const colAB = new Float32Array(colA.length);
    let da = new Float32Array(0);
    let db = new Float32Array(0);
    for (const c of job.chunks) {
      const [a, v, base] = await job.inputs(c, which);
      const n = c.count;
      let x = a;
      let y = v;
      if (base) {
        if (da.length < n) {
          da = new Float32Array(n);
          db = new Float32Array(n);
        }
        for (let e = 0; e < n; e++) {
          da[e] = a[e] - base[e];
          db[e] = v[e] - base[e];
        }
        x = da;
        y = db;
      }
      if (mode === 'flat') {
        aa[0] = dotBlockSum(x, x, n, aa[0]);
        bb[0] = dotBlockSum(y, y, n, bb[0]);
        ab[0] = dotBlockSum(x, y, n, ab[0]);
      } else if (mode === 'rows') {
        dotRowSums(x, x, n, L, aaR, c.start / L);
        dotRowSums(y, y, n, L, bbR, c.start / L);
        dotRowSums(x, y, n, L, abR, c.start / L);
      } else {
        // col_dots: thread (block, j) sums rows r0..r1 of column j in row order, in f32
        for (let r0 = 0; r0 < n; r0 += NUSLERP_COL_BLOCK * L) {
          const end = Math.min(n, r0 + NUSLERP_COL_BLOCK * L);
          colA.fill(0);
          colB.fill(0);
          colAB.fill(0);
          for (let i0 = r0; i0 < end; i0 += L)
            for (let j = 0; j < L; j++) {
              const xi = x[i0 + j];
              const yi = y[i0 + j];
              colA[j] = colA[j] + f(xi * xi);
              colB[j] = colB[j] + f(yi * yi);
              colAB[j] = colAB[j] + f(xi * yi);
            }
          for (let j = 0; j < L; j++) {
            aa[j] += colA[j];
            bb[j] += colB[j];
            ab[j] += colAB[j];
          }
        }
      }
    }
    const count = mode === 'rows' ? rows : vectors;
    const c0 = new Float32Array(count);
    const c1 = new Float32Array(count);
    for (let k = 0; k < count; k++) {
      const [k0, k1] = mode === 'rows' ? nuslerpCoefficients(t, aaR[k], bbR[k], abR[k]) : nuslerpCoefficients(t, aa[k], bb[k], ab[k]);
      c0[k] = k0;
      c1[k] = k1;
    }

    // 2. out = (base | 0) + c0·(a − base) + c1·(b − base), per element in f32 (delta_axpy twice)
    for (const c of job.chunks) {
      const [a, v, base] = await job.inputs(c, which);
      const n = c.count;
      const out = new Float32Array(n);
      if (mode === 'flat') {
        const k0 = c0[0];
        const k1 = c1[0];
        if (base) for (let e = 0; e < n; e++) out[e] = f(base[e] + f(k0 * f(a[e] - base[e]))) + f(k1 * f(v[e] - base[e]));
        else for (let e = 0; e < n; e++) out[e] = f(0 + f(k0 * a[e])) + f(k1 * v[e]);
      } else if (mode === 'rows') {
        for (let s = 0, r = c.start / L; s < n; s += L, r++) {
          const k0 = c0[r];
          const k1 = c1[r];
          if (base) for (let e = s; e < s + L; e++) out[e] = f(base[e] + f(k0 * f(a[e] - base[e]))) + f(k1 * f(v[e] - base[e]));
          else for (let e = s; e < s + L; e++) out[e] = f(0 + f(k0 * a[e])) + f(k1 * v[e]);
        }
      } else {
        // chunks start on a row, so the column of element e is e % L
        for (let s = 0; s < n; s += L) {
          if (base)
            for (let j = 0, e = s; j < L; j++, e++) out[e] = f(base[e] + f(c0[j] * f(a[e] - base[e]))) + f(c1[j] * f(v[e] - base[e]));
          else for (let j = 0, e = s; j < L; j++, e++) out[e] = f(0 + f(c0[j] * a[e])) + f(c1[j] * v[e]);
        }
      }
      await emit(c, out);
    }
  },
};

/** The CPU engine's implementation of this folder's spec (methods/cpu.ts). */
export function cpu(): CpuMethod {
  return nuslerpCpu;
}

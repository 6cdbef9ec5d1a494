import type { GpuMethod } from '../shared/webgpu/types';
import { num } from '../shared/webgpu/types';
import { dotBlocks, dotRows } from '../../gpu/ops';
import { colDots, COL_BLOCK, deltaAxpy, type CoefMode } from '../../gpu/ops-combine';
import { coefs, collectPartials, emitInput } from '../shared/webgpu/stats';
import { MethodError } from '../../errors';
import type { PlanEntry } from '../../recipe/plan-types';
import { nuslerpChunkRow, nuslerpCoefficients, nuslerpEntryGeometry, nuslerpT } from './spec';


/**
 * NuSLERP: per vector (whole tensor, rows, or columns) norms and dot products of the two models (or
 * of their task vectors against a third, base model) from deterministic block / row / column-block
 * partials, f64 coefficients, then out = [base +] c0·v0 + c1·v1.
 */
export const nuslerpGpu: GpuMethod = {
  name: 'nuslerp',
  rowLen: ({ entry }) => nuslerpChunkRow(entry),
  async run(job, emit) {
    const { inputs, name } = job.entry;
    const bi = inputs.findIndex((x) => x.isBase);
    const others = inputs.map((_, i) => i).filter((i) => i !== bi);
    if (inputs.length === 1) {
      await emitInput(job, emit, 0);
      return;
    }
    if (others.length !== 2)
      throw new MethodError(`nuslerp merges exactly two models (plus an optional, distinct base model); tensor "${name}" has ${others.length} besides the base`, { tensor: name });
    const [ia, ib] = others;
    const t = nuslerpT(num(inputs[ia].params, 'weight'), num(inputs[ib].params, 'weight'));
    const hasBase = bi >= 0;
    const { mode, rowLen: L } = nuslerpEntryGeometry(job.entry);

    const parts = await collectPartials(
      job,
      3,
      (c) => (mode === 'flat' ? Math.ceil(c.count / 1024) : mode === 'rows' ? c.count / L : Math.ceil(c.count / L / COL_BLOCK) * L),
      async (b, c, outs) => {
        const a = await job.input(ia, c);
        const v = await job.input(ib, c);
        const base = hasBase ? await job.input(bi, c) : undefined;
        if (mode === 'cols') colDots(b, a, v, base, c.count, L, outs[0], outs[1], outs[2]);
        else if (mode === 'rows') {
          dotRows(b, a, a, base, c.count, L, hasBase, hasBase, outs[0]);
          dotRows(b, v, v, base, c.count, L, hasBase, hasBase, outs[1]);
          dotRows(b, a, v, base, c.count, L, hasBase, hasBase, outs[2]);
        } else {
          dotBlocks(b, a, a, base, c.count, hasBase, hasBase, outs[0]);
          dotBlocks(b, v, v, base, c.count, hasBase, hasBase, outs[1]);
          dotBlocks(b, a, v, base, c.count, hasBase, hasBase, outs[2]);
        }
      },
    );
    // per-vector sums in f64, in block order
    const vectors = mode === 'flat' ? 1 : mode === 'rows' ? parts[0].length : L;
    const stride = mode === 'cols' ? L : 1;
    const per = mode === 'flat' ? parts[0].length : mode === 'rows' ? 1 : parts[0].length / L;
    const c0 = new Float64Array(vectors);
    const c1 = new Float64Array(vectors);
    for (let v = 0; v < vectors; v++) {
      let aa = 0;
      let bb = 0;
      let ab = 0;
      for (let k = 0; k < per; k++) {
        const at = mode === 'rows' ? v : k * stride + (mode === 'cols' ? v : 0);
        aa += parts[0][at];
        bb += parts[1][at];
        ab += parts[2][at];
      }
      [c0[v], c1[v]] = nuslerpCoefficients(t, aa, bb, ab);
    }
    const k0 = coefs(job, 'c0', c0);
    const k1 = coefs(job, 'c1', c1);
    const coefMode: CoefMode = mode === 'flat' ? 'scalar' : mode === 'rows' ? 'row' : 'col';
    for (const c of job.chunks) {
      const a = await job.input(ia, c);
      const v = await job.input(ib, c);
      const base = hasBase ? await job.input(bi, c) : undefined;
      const out = job.scratch('out');
      const coefOffset = mode === 'rows' ? c.start / L : 0;
      const b = job.batch();
      deltaAxpy(b, k0, a, base, out, c.count, { init: true, initBase: hasBase, subBase: hasBase, mode: coefMode, rowLen: L, coefOffset });
      deltaAxpy(b, k1, v, base, out, c.count, { init: false, subBase: hasBase, mode: coefMode, rowLen: L, coefOffset });
      await b.submit();
      await emit(c, out);
      job.endChunk();
    }
  },
};

/** The WebGPU implementation of this folder's spec (methods/webgpu.ts). */
export function webgpu(): GpuMethod {
  return nuslerpGpu;
}

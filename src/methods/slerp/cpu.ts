// slerp on the CPU: the GPU's dot_blocks reductions (stats.ts) and its axpy pair, in f32.
import type { CpuMethod } from '../shared/cpu/method';
import { emitInput, num } from '../shared/cpu/method';
import { dotBlockSum } from '../shared/cpu/stats';
import { slerpCoefficients } from './spec';

const f = Math.fround;

export const slerpCpu: CpuMethod = {
  name: 'slerp',
  fidelity: 'exact',
  async run(job, emit) {
    const { inputs } = job.entry;
    if (inputs.length === 1) return emitInput(job, emit, 0);
    const i0 = Math.max(0, inputs.findIndex((x) => x.isBase));
    const i1 = i0 === 0 ? 1 : 0;
    const t = num(job.entry.params, 't');
    let aa = 0;
    let bb = 0;
    let ab = 0;
    for (const c of job.chunks) {
      const [v0, v1] = await job.inputs(c, [i0, i1]);
      aa = dotBlockSum(v0, v0, c.count, aa);
      bb = dotBlockSum(v1, v1, c.count, bb);
      ab = dotBlockSum(v0, v1, c.count, ab);
    }
    const [c0, c1] = slerpCoefficients(t, aa, bb, ab).map(f);
    for (const c of job.chunks) {
      const [v0, v1] = await job.inputs(c, [i0, i1]);
      const out = new Float32Array(c.count);
      for (let e = 0; e < c.count; e++) out[e] = f(c0 * v0[e]) + f(c1 * v1[e]);
      await emit(c, out);
    }
  },
};

/** The CPU engine's implementation of this folder's spec (methods/cpu.ts). */
export function cpu(): CpuMethod {
  return slerpCpu;
}

// nearswap on the CPU engine, replaying shaders/combine.wgsl nearswap in f32.
import type { CpuMethod } from '../shared/cpu/method';
import { emitInput, num } from '../shared/cpu/method';

const f = Math.fround;
/** The WGSL literal 1e-6 (an f32). */
const EPS = f(1e-6);

/** w = clamp(t / max(|base − x|, 1e-6), 0, 1); out = w·x + (1 − w)·base, each operation in f32. */
export const nearswapCpu: CpuMethod = {
  name: 'nearswap',
  fidelity: 'exact',
  singleSweep: () => true,
  async run(job, emit) {
    const { inputs, params } = job.entry;
    const bi = inputs.findIndex((x) => x.isBase);
    const oi = inputs.findIndex((x) => !x.isBase);
    // a single tensor (the planner only lets this through for one-input slices): unchanged
    if (bi < 0 || oi < 0) return emitInput(job, emit, 0);
    const t = f(num(params, 't'));
    for (const c of job.chunks) {
      const [base, x] = await job.inputs(c, [bi, oi]);
      const out = new Float32Array(c.count);
      for (let e = 0; e < c.count; e++) {
        const xe = x[e];
        const v = base[e];
        const d = Math.abs(f(v - xe));
        let w = f(t / (d > EPS ? d : EPS));
        w = w > 0 ? (w < 1 ? w : 1) : 0;
        out[e] = f(w * xe) + f(f(1 - w) * v);
      }
      await emit(c, out);
    }
  },
};

/** The CPU engine's implementation of this folder's spec (methods/cpu.ts). */
export function cpu(): CpuMethod {
  return nearswapCpu;
}

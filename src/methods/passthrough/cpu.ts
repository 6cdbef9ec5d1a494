// passthrough on the CPU engine, replaying shaders/elementwise.wgsl axpy in f32.
import type { CpuMethod } from '../shared/cpu/method';
import { emitInput } from '../shared/cpu/method';

const f = Math.fround;

/** Copies its single input; × scale (f32) when one is set. */
export const passthroughCpu: CpuMethod = {
  name: 'passthrough',
  fidelity: 'exact',
  singleSweep: () => true,
  async run(job, emit) {
    const scale = job.entry.inputs[0].params.scale;
    if (typeof scale !== 'number') return emitInput(job, emit, 0);
    const s = f(scale);
    for (const c of job.chunks) {
      const x = await job.input(0, c);
      const out = new Float32Array(c.count);
      for (let e = 0; e < c.count; e++) out[e] = s * x[e];
      await emit(c, out);
    }
  },
};

/** The CPU engine's implementation of this folder's spec (methods/cpu.ts). */
export function cpu(): CpuMethod {
  return passthroughCpu;
}

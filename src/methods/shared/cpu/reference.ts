// Methods without an f32 replay yet run on their CPU reference twin (methods/reference.ts: the oracle
// the WebGPU kernels are tested against — same selections, same random masks, f64 arithmetic), on
// the whole tensor at once. Their output is within the GPU tests' tolerance of the WebGPU engine's,
// not bit-identical, and memory is the tensor's decoded inputs plus its output.
import type { CpuMethod } from './method';
import { referenceMerge } from '../../reference';

export function referenceCpu(name: string): CpuMethod {
  return {
    name,
    fidelity: 'reference',
    async run(job, emit) {
      const whole = { index: 0, start: 0, count: job.n };
      const data = await job.inputs(whole);
      const e = job.entry;
      const inputs = e.inputs.map((inp, i) => ({ data: data[i], isBase: inp.isBase, params: inp.params, shape: e.shape }));
      const out = referenceMerge({ name: e.name, method: e.method, shape: e.shape, inputs, params: e.params, seed: e.seed });
      if (out.length !== job.n) job.fail(`the CPU reference produced ${out.length} elements, expected ${job.n}`);
      for (const c of job.chunks) await emit(c, out.subarray(c.start, c.start + c.count));
    },
  };
}

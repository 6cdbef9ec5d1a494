// ram and ramplus_tl on the CPU, replaying methods/ram/webgpu.ts in f32 (shaders/stack.wgsl):
//   ramplus_tl  one counting sweep: per element the number of models with |τ| > eps (ram_count),
//               per model its shared (count > 1) and unique (count == 1) changes (ram_blocks: exact
//               integer counts) → ramLambda, the GPU's host function;
//   apply       ram_count, then ram_acc model by model: + z·λₖ (count 1), + z / count (count > 1),
//               base added on the last model.
import type { CpuMethod } from '../shared/cpu/method';
import { emitInput, num } from '../shared/cpu/method';
import type { MethodSpec } from '../spec';
import { ramLambda, ramplusTl } from './spec';

const f = Math.fround;

function ramCpuFor(plus: boolean): CpuMethod {
  return {
    name: plus ? 'ramplus_tl' : 'ram',
    fidelity: 'exact',
    singleSweep: () => !plus,
    async run(job, emit) {
      const { inputs, params } = job.entry;
      const bi = inputs.findIndex((x) => x.isBase);
      const others = inputs.map((_, i) => i).filter((i) => i !== bi);
      if (bi < 0 || others.length === 0) return emitInput(job, emit, Math.max(bi, 0));
      const M = others.length;
      const epsilon = num(params, 'epsilon', 1e-5);
      const eps = f(epsilon);
      let cnt = new Float32Array(0);
      /** ram_count over chunk c: the number of models whose |τ| > eps, per element. */
      const count = (xs: Float32Array[], base: Float32Array, n: number): Float32Array => {
        if (cnt.length !== n) cnt = new Float32Array(n);
        cnt.fill(0);
        for (const x of xs) for (let e = 0; e < n; e++) if (Math.abs(f(x[e] - base[e])) > eps) cnt[e]++;
        return cnt;
      };
      let lambdas = others.map(() => 1);
      if (plus) {
        const shared = others.map(() => 0);
        const unique = others.map(() => 0);
        for (const c of job.chunks) {
          const base = await job.input(bi, c);
          const xs = await job.inputs(c, others);
          const cn = count(xs, base, c.count);
          for (let k = 0; k < M; k++) {
            const x = xs[k];
            let s = 0;
            let u = 0;
            for (let e = 0; e < c.count; e++) {
              if (!(Math.abs(f(x[e] - base[e])) > eps)) continue;
              if (cn[e] > 1) s++;
              if (cn[e] === 1) u++;
            }
            shared[k] += s;
            unique[k] += u;
          }
        }
        const r = num(params, 'r', 0.1);
        const alpha = num(params, 'alpha', 0.2);
        lambdas = others.map((_, k) => ramLambda(shared[k], unique[k], r, alpha, epsilon));
      }
      const lam = lambdas.map(f);
      for (const c of job.chunks) {
        const base = await job.input(bi, c);
        const xs = await job.inputs(c, others);
        const n = c.count;
        const cn = count(xs, base, n);
        const acc = new Float32Array(n);
        for (let k = 0; k < M; k++) {
          const x = xs[k];
          const lk = lam[k];
          const last = k === M - 1;
          for (let e = 0; e < n; e++) {
            const d = f(x[e] - base[e]);
            const z = Math.abs(d) > eps ? d : 0;
            const ce = cn[e];
            const term = ce === 1 ? f(z * lk) : ce > 1 ? f(z / ce) : 0;
            let s = k === 0 ? term : f(acc[e] + term);
            if (last) s = base[e] + s;
            acc[e] = s;
          }
        }
        await emit(c, acc);
      }
    },
  };
}

export const ramCpu = ramCpuFor(false);
export const ramplusTlCpu = ramCpuFor(true);

/** The CPU engine's implementation of each of this folder's specs (methods/cpu.ts). */
export function cpu(spec: MethodSpec): CpuMethod {
  return spec.name === ramplusTl.name ? ramplusTlCpu : ramCpu;
}

// sce on the CPU, replaying methods/sce/webgpu.ts pass by pass in f32 (shaders/stack.wgsl):
//   select_topk < 1  the variance key per chunk (tv_sum, tv_sqdev: model by model, f32), its non-zero
//                    count, then the exact top-k of shared/cpu/select.ts on the variance bits (ties
//                    lowest index first) into a bitmask over global indices;
//   energy           Σ τₘ² of the masked task vectors per 1024-block as sq_blocks reduces it
//                    (stats.ts dotBlockSum(τ, τ): the same lanes and tree), blocks added in f64
//                    → sceWeights (the GPU's host function, in spec.ts);
//   apply            the f32 election sum (tv_sum), sce_agree and sce_finish in model order.
import type { CpuJob, CpuMethod } from '../shared/cpu/method';
import { emitInput, num } from '../shared/cpu/method';
import { dotBlockSum } from '../shared/cpu/stats';
import { buildMasks, selectTopKs, type KeySource } from '../shared/cpu/select';
import { sceK, sceWeights } from './spec';

const f = Math.fround;
/** The literal 1e-6 of sce_finish, an f32 in WGSL. */
const EPS = f(1e-6);

/** The population variance across the task vectors of chunk c, as tv_sum + tv_sqdev compute it. */
function varianceKeys(job: CpuJob, bi: number, others: number[]): KeySource {
  const inv = f(1 / others.length);
  const M = others.length;
  let v = new Float32Array(0);
  let bits = new Uint32Array(0);
  return async (c) => {
    const base = await job.input(bi, c);
    const xs = await job.inputs(c, others);
    if (v.length < c.count) {
      v = new Float32Array(c.count);
      bits = new Uint32Array(v.buffer);
    }
    for (let e = 0; e < c.count; e++) {
      const b = base[e];
      let sum = f(xs[0][e] - b);
      for (let k = 1; k < M; k++) sum = f(sum + f(xs[k][e] - b));
      const mean = f(sum * inv);
      let q = 0;
      for (let k = 0; k < M; k++) {
        const d = f(f(xs[k][e] - b) - mean);
        const sq = f(d * d);
        q = k === 0 ? sq : f(q + sq);
      }
      v[e] = q * inv;
    }
    return bits.subarray(0, c.count);
  };
}

/** Chunk c's task vector k (x − base, zero where the mask bit is clear) into `d`. */
function taskVector(x: Float32Array, base: Float32Array, start: number, mask: Uint32Array | undefined, d: Float32Array): void {
  const n = d.length;
  if (!mask) {
    for (let e = 0; e < n; e++) d[e] = x[e] - base[e];
    return;
  }
  for (let e = 0; e < n; e++) {
    const g = start + e;
    d[e] = ((mask[g >>> 5] >>> (g & 31)) & 1) === 0 ? 0 : x[e] - base[e];
  }
}

export const sceCpu: CpuMethod = {
  name: 'sce',
  fidelity: 'exact',
  async run(job, emit) {
    const { inputs, params } = job.entry;
    const bi = inputs.findIndex((x) => x.isBase);
    const others = inputs.map((_, i) => i).filter((i) => i !== bi);
    if (bi < 0 || others.length === 0) return emitInput(job, emit, Math.max(bi, 0));
    const M = others.length;
    const n = job.n;
    const topk = num(params, 'select_topk', 1);

    let mask: Uint32Array | undefined;
    if (topk < 1) {
      mask = new Uint32Array(Math.max(1, Math.ceil(n / 32)));
      const variance = varianceKeys(job, bi, others);
      let k = 0;
      if (topk > 0) {
        // nz_blocks: per-block f32 counts of var ≠ 0, exact integers, so their sum is the count
        let nz = 0;
        for (const c of job.chunks) {
          const bits = await variance(c);
          for (let e = 0; e < c.count; e++) if ((bits[e] & 0x7fffffff) !== 0) nz++;
        }
        k = sceK(nz, topk);
      }
      if (k !== 0) {
        const [sel] = await selectTopKs(job, [{ k, keys: variance }]);
        await buildMasks(job, [{ keys: variance, s1: sel, mask }]);
      }
    }

    // energy: Σ τₘ² per model over the masked task vectors
    const energy = others.map(() => 0);
    let d = new Float32Array(0);
    for (const c of job.chunks) {
      const base = await job.input(bi, c);
      if (d.length !== c.count) d = new Float32Array(c.count);
      for (let k = 0; k < M; k++) {
        taskVector(await job.input(others[k], c), base, c.start, mask, d);
        energy[k] = dotBlockSum(d, d, c.count, energy[k]);
      }
    }
    const w = sceWeights(energy, n).map(f);

    for (const c of job.chunks) {
      const base = await job.input(bi, c);
      const xs = await job.inputs(c, others);
      const count = c.count;
      const tvs = xs.map((x) => {
        const t = new Float32Array(count);
        taskVector(x, base, c.start, mask, t);
        return t;
      });
      // tv_sum: the election sum (the first model's τ as is, then + τ in model order)
      const sum = new Float32Array(tvs[0]);
      for (let k = 1; k < M; k++) {
        const t = tvs[k];
        for (let e = 0; e < count; e++) sum[e] = sum[e] + t[e];
      }
      // sce_agree, model by model: mixed += agree ? τ·w : 0, div += agree ? w : 0
      const mixed = new Float32Array(count);
      const div = new Float32Array(count);
      for (let k = 0; k < M; k++) {
        const t = tvs[k];
        const wk = w[k];
        for (let e = 0; e < count; e++) {
          const de = t[e];
          const maj = sum[e] >= 0 ? 1 : -1;
          const agree = (de > 0 ? 1 : de < 0 ? -1 : 0) === maj;
          const m = agree ? f(de * wk) : 0;
          const dv = agree ? wk : 0;
          if (k === 0) {
            mixed[e] = m;
            div[e] = dv;
          } else {
            mixed[e] = mixed[e] + m;
            div[e] = div[e] + dv;
          }
        }
      }
      // sce_finish: base + mixed / max(div, 1e-6)
      const out = sum;
      for (let e = 0; e < count; e++) out[e] = base[e] + f(mixed[e] / Math.max(div[e], EPS));
      await emit(c, out);
    }
  },
};

/** The CPU engine's implementation of this folder's spec (methods/cpu.ts). */
export function cpu(): CpuMethod {
  return sceCpu;
}

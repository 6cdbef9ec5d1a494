// linear on the CPU engine, replaying shaders/wsum.wgsl in f32.
import type { CpuMethod, StoredChunk } from '../shared/cpu/method';
import { bool, num } from '../shared/cpu/method';
import { decodeInto, encodeInto } from '../../formats/dtype-codec';
import { itemSize } from '../../formats/dtype';

const f = Math.fround;
const EMPTY = new Float32Array(0);

/**
 * Elements per block of the fused loop: the inputs' stored bytes are decoded a block at a time into
 * scratch arrays that stay in cache (a few × 16 KB), summed from there and, when the engine writes
 * bytes, encoded from there: each input element crosses memory once (read as stored) and each
 * output element once (written encoded), not as decoded and f32 arrays written and read back.
 */
const BLOCK = 4096;

/**
 * out[off + e] for e < len: Σ wᵢ·xᵢ[e] in input order (f32 products, f32 sums), then ÷ d. The GPU's
 * order: acc = 0.0 + w₀x₀ (so −0 becomes +0), acc += wⱼxⱼ for each further input, then ÷ Σw —
 * every step rounded to f32 (the division of two f32 values in f64 rounds to the f32 quotient).
 */
function weightedSum(xs: readonly Float32Array[], w: readonly number[], d: number, normalize: boolean, out: Float32Array, off: number, len: number): void {
  const M = xs.length;
  const [x0, x1, x2, x3] = xs;
  const [w0, w1, w2, w3] = w;
  if (M === 1) for (let e = 0; e < len; e++) out[off + e] = (0 + f(w0 * x0[e])) / d;
  else if (M === 2) for (let e = 0; e < len; e++) out[off + e] = f(f(0 + f(w0 * x0[e])) + f(w1 * x1[e])) / d;
  else if (M === 3) for (let e = 0; e < len; e++) out[off + e] = f(f(f(0 + f(w0 * x0[e])) + f(w1 * x1[e])) + f(w2 * x2[e])) / d;
  else {
    for (let e = 0; e < len; e++) out[off + e] = f(f(f(0 + f(w0 * x0[e])) + f(w1 * x1[e])) + f(w2 * x2[e])) + f(w3 * x3[e]);
    for (let j = 4; j < M; j++) {
      const x = xs[j];
      const wj = w[j];
      for (let e = 0; e < len; e++) out[off + e] = out[off + e] + f(wj * x[e]);
    }
    if (normalize) for (let e = 0; e < len; e++) out[off + e] = out[off + e] / d;
  }
}

/** Σ wᵢ·Xᵢ in input order (f32 coefficients, f32 sums), then ÷ fround(Σ wᵢ) when normalize. */
export const linearCpu: CpuMethod = {
  name: 'linear',
  fidelity: 'exact',
  singleSweep: () => true,
  async run(job, emit) {
    const { inputs, params } = job.entry;
    const w = inputs.map((i) => f(num(i.params, 'weight')));
    const normalize = bool(params, 'normalize', true);
    // ÷ 1 is exact, so an unnormalised sum of up to four inputs divides by 1 (as before)
    const d = normalize ? f(w.reduce((a, b) => a + b, 0)) : 1;
    const scratch = inputs.map(() => new Float32Array(BLOCK));
    const encodeTo = job.encodeTo;
    const block = new Float32Array(BLOCK);
    for (const c of job.chunks) {
      // inputs whose stored bytes can be decoded here are decoded block by block; the rest
      // (LoRA-adapted, row-gathered, already decoded) come whole from the job
      const stored: (StoredChunk | undefined)[] = await Promise.all(inputs.map((_, i) => job.stored?.(i, c)));
      const whole = await Promise.all(inputs.map((_, i) => (stored[i] ? undefined : job.input(i, c))));
      const n = c.count;
      const out = encodeTo ? undefined : new Float32Array(n);
      const encoded = encodeTo ? new Uint8Array(n * itemSize(encodeTo)) : undefined;
      const xs: Float32Array[] = [];
      for (let off = 0; off < n; off += BLOCK) {
        const len = Math.min(BLOCK, n - off);
        for (let i = 0; i < inputs.length; i++) {
          const s = stored[i];
          if (s) {
            const size = s.bytes.byteLength / n;
            xs[i] = decodeInto(s.bytes.subarray(off * size, (off + len) * size), s.dtype, scratch[i], s.roundTo);
          } else xs[i] = whole[i]!.subarray(off, off + len);
        }
        if (out) weightedSum(xs, w, d, normalize, out, off, len);
        else {
          weightedSum(xs, w, d, normalize, block, 0, len);
          encodeInto(block.subarray(0, len), encodeTo!, encoded!, off);
        }
      }
      await emit(c, out ?? EMPTY, encoded);
    }
  },
};

/** The CPU engine's implementation of this folder's spec (methods/cpu.ts). */
export function cpu(): CpuMethod {
  return linearCpu;
}

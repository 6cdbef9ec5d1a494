// linear on the CPU engine, replaying shaders/wsum.wgsl in f32.
import type { CpuEmit, CpuJob, CpuMethod } from '../shared/cpu/method';
import { readAhead } from '../shared/cpu/read-ahead';
import { bool, num } from '../shared/cpu/method';
import { decodeInto, encodeInto } from '../../formats/dtype-codec';
import { itemSize } from '../../formats/dtype';
import { kernelDtype, wsumKernels, type KernelDtype, type WsumKernels } from '../shared/cpu/simd';

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
    const encodeTo = job.encodeTo;
    const simd = inputs.length > 0 ? wsumKernels() : undefined;
    if (simd) return runSimd(simd, job, emit, w, d, normalize);
    const scratch = inputs.map(() => new Float32Array(BLOCK));
    const block = new Float32Array(BLOCK);
    // inputs whose stored bytes can be decoded here are decoded block by block; the rest
    // (LoRA-adapted, row-gathered, already decoded) come whole from the job
    for await (const { c, stored, whole } of readAhead(job)) {
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

/**
 * The same blockwise loop on the wasm SIMD kernels (shaders/cpu/wsum.wat): each input's stored bytes
 * (or decoded values) for a block are copied into the kernel's memory, summed into an f32
 * accumulator there, divided and encoded there, and the encoded block copied out — the same f32
 * steps in the same order as weightedSum, and dtype-codec's codecs, so the same bytes.
 * Normalize off divides by nothing: the scalar loop's ÷ 1 (three inputs or fewer) changes no value
 * the accumulator can hold (a sum is never a signalling NaN).
 */
async function runSimd(k: WsumKernels, job: CpuJob, emit: CpuEmit, w: readonly number[], d: number, normalize: boolean): Promise<void> {
  const { inputs } = job.entry;
  const M = inputs.length;
  const encodeTo = job.encodeTo;
  const outKind = encodeTo ? kernelDtype(encodeTo) : 0;
  if (outKind === undefined) return job.fail(`cannot encode ${encodeTo} on the CPU engine`);
  const outSize = encodeTo ? itemSize(encodeTo) : 4;
  // one region per input (stored bytes, up to 4 per element), the accumulator, the encoded block,
  // and a decode scratch for inputs rounded to another compute dtype
  const R = BLOCK * 4;
  const acc = M * R;
  const dst = acc + R;
  const tmp = dst + R;
  k.reserve(tmp + R);
  // no await between a block's copy in and copy out: other jobs in this thread (interleaved at
  // their awaits) may use the same memory between this job's chunks, never inside a block
  for await (const { c, stored, whole } of readAhead(job)) {
    const n = c.count;
    const out = encodeTo ? undefined : new Float32Array(n);
    const encoded = encodeTo ? new Uint8Array(n * outSize) : undefined;
    const kinds: KernelDtype[] = [];
    const rounds: KernelDtype[] = [];
    const views: Uint8Array[] = [];
    for (let i = 0; i < M; i++) {
      const s = stored[i];
      if (s) {
        const kind = kernelDtype(s.dtype);
        if (kind === undefined) job.fail(`input ${i} is ${s.dtype}, which the CPU engine cannot decode`);
        kinds[i] = kind;
        rounds[i] = s.roundTo && s.roundTo !== s.dtype ? kernelDtype(s.roundTo) ?? 0 : 0;
        views[i] = s.bytes;
      } else {
        const v = whole[i]!;
        kinds[i] = 0;
        rounds[i] = 0;
        views[i] = new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
      }
    }
    const mem = k.bytes;
    for (let off = 0; off < n; off += BLOCK) {
      const len = Math.min(BLOCK, n - off);
      for (let i = 0; i < M; i++) {
        const size = kinds[i] === 0 ? 4 : 2;
        mem.set(views[i].subarray(off * size, (off + len) * size), i * R);
        if (rounds[i] !== 0) {
          k.decode(i * R, kinds[i], rounds[i], tmp, len);
          k.wsum(tmp, 0, w[i], acc, len, i === 0);
        } else k.wsum(i * R, kinds[i], w[i], acc, len, i === 0);
      }
      k.finish(acc, normalize, d, outKind, dst, len);
      if (encoded) encoded.set(mem.subarray(dst, dst + len * outSize), off * outSize);
      else out!.set(new Float32Array(mem.buffer, dst, len), off);
    }
    await emit(c, out ?? EMPTY, encoded);
  }
}

/** The CPU engine's implementation of this folder's spec (methods/cpu.ts). */
export function cpu(): CpuMethod {
  return linearCpu;
}

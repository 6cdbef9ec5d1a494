// The generalized task arithmetic family on the CPU (task_arithmetic, ties, breadcrumbs,
// breadcrumbs_ties, dare_*, della*), replaying methods/gta/webgpu.ts pass by pass in f32:
//   selection sweeps  exact top-k by key = bits(fround(x − base)) & 0x7fffffff (shared/cpu/select.ts:
//                     two 16-bit histogram sweeps, ties at the threshold kept lowest index first —
//                     the rule of methods/shared/webgpu/select.ts and the reference twin);
//   mask sweep        the selections, DARE's counter-based Bernoulli mask, or DELLA's per-row ranks
//                     (bitmasks over global element indices), with the L1 sums of the rescale as the
//                     GPU reduces them (stats.ts);
//   apply sweep       W = fround(fround(d·s)·w) per model, the f32 sign election and sums of
//                     shaders/gta.wgsl in model order, normalize, λ, + base.
// Every model's selections share each sweep, so a tensor is read (3 + 1 + 1) times at most.
import type { CpuMethod } from '../shared/cpu/method';
import { bool, emitInput, num } from '../shared/cpu/method';
import type { Chunk, CpuEmit, CpuJob } from '../shared/cpu/method';
import { readAhead } from '../shared/cpu/read-ahead';
import { kernelDtype, wsumKernels, type KernelDtype, type WsumKernels } from '../shared/cpu/simd';
import { itemSize } from '../../formats/dtype';
import { gtaSparsifyPlan, gtaVariant, type GtaVariant } from './spec';
import type { MethodSpec } from '../spec';
import { hashU32 as hash, keepThreshold, magpruneKeep, magpruneKeepParams } from '../shared/reference/rng';
import { l1BlockSums, l1RowSums } from '../shared/cpu/stats';
import { deltaKeys, NONE, selectTopKs, SelectionMarker, type Selection } from '../shared/cpu/select';

const f = Math.fround;

export function gtaCpu(v: GtaVariant): CpuMethod {
  return {
    name: v.name,
    fidelity: 'exact',
    rowLen: v.sparsifier === 'della_magprune' ? (entry) => entry.shape[entry.shape.length - 1] ?? 1 : undefined,
    singleSweep: (entry) => !v.sparsifier || entry.inputs.every((i) => i.isBase || num(i.params, 'density', 1) >= 1),
    async sparsify(job) {
      const bi = job.entry.inputs.findIndex((x) => x.isBase);
      const others = job.entry.inputs.map((_, i) => i).filter((i) => i !== bi);
      if (others.length === 0 || bi < 0) return undefined;
      const s = await sparsify(job, v, bi, others, bool(job.entry.params, 'rescale', v.rescale));
      return { base: bi, models: others, masks: s.masks, coefs: s.weights.map((w, k) => w * s.scales[k]) };
    },
    async run(job, emit) {
      const { inputs, params } = job.entry;
      const bi = inputs.findIndex((x) => x.isBase);
      const others = inputs.map((_, i) => i).filter((i) => i !== bi);
      if (others.length === 0 || bi < 0) return emitInput(job, emit, Math.max(bi, 0));
      const normalize = bool(params, 'normalize', v.normalize);
      const rescale = bool(params, 'rescale', v.rescale);
      const lambda = f(num(params, 'lambda', 1));
      const { weights, masks, scales } = await sparsify(job, v, bi, others, rescale);
      const total = weights.reduce((a, b) => a + b, 0);
      const scalarDiv = f(Math.abs(total) < 1e-8 ? 1 : total);
      const M = others.length;
      // model by model, as the kernels run (gta_sum, gta_agree, gta_finish), over cache-sized
      // blocks of the chunk: each element sees the same f32 steps in the same order
      const B = 4096;
      const W = others.map(() => new Float32Array(B));
      const sum = new Float32Array(B);
      const mixed = new Float32Array(B);
      const div = new Float32Array(B);
      const sk32 = scales.map(f);
      // task arithmetic without pruning (and without consensus): one pass per element, unrolled
      const plain = !v.consensus && masks.every((m) => !m) && M <= 3;
      const post = (m: number) => {
        if (normalize) m = f(m / scalarDiv);
        return lambda !== 1 ? f(m * lambda) : m;
      };
      const simd = wsumKernels();
      if (simd && plain) return plainSimd(simd, job, emit, bi, others, weights, sk32, normalize ? scalarDiv : undefined, lambda);
      const apply = simd && new ApplySimd(simd, job, masks, sk32, weights, v.consensus, normalize, scalarDiv, lambda);
      for (const c of job.chunks) {
        const base = await job.input(bi, c);
        const xs = await job.inputs(c, others);
        // the SIMD kernels take keep bits from a word boundary: row-aligned (della) chunks may not start on one
        if (apply && !plain && (c.start % 32 === 0 || masks.every((m) => !m))) {
          await apply.chunk(c, base, xs, emit);
          continue;
        }
        const out = new Float32Array(c.count);
        if (plain) {
          const [x0, x1, x2] = xs;
          const [s0, s1, s2] = sk32;
          const [w0, w1, w2] = weights;
          const n = c.count;
          // W = fround(fround(fround(x − base)·s)·w), summed in model order, as gta_sum does
          const simple = !normalize && lambda === 1 && sk32.every((s) => s === 1);
          if (M === 1) for (let e = 0; e < n; e++) out[e] = base[e] + post(f(f(f(x0[e] - base[e]) * s0) * w0));
          else if (M === 2 && simple)
            for (let e = 0; e < n; e++) {
              const b = base[e];
              out[e] = b + f(f(f(x0[e] - b) * w0) + f(f(x1[e] - b) * w1));
            }
          else if (M === 2) for (let e = 0; e < n; e++) out[e] = base[e] + post(f(f(f(f(x0[e] - base[e]) * s0) * w0) + f(f(f(x1[e] - base[e]) * s1) * w1)));
          else
            for (let e = 0; e < n; e++) {
              const b = base[e];
              out[e] = b + post(f(f(f(f(f(x0[e] - b) * s0) * w0) + f(f(f(x1[e] - b) * s1) * w1)) + f(f(f(x2[e] - b) * s2) * w2)));
            }
          await emit(c, out);
          continue;
        }
        for (let b0 = 0; b0 < c.count; b0 += B) {
          const n = Math.min(B, c.count - b0);
          for (let k = 0; k < M; k++) {
            const Wk = W[k];
            const x = xs[k];
            const mask = masks[k];
            const sk = sk32[k];
            const wk = weights[k];
            if (mask) {
              for (let e = 0; e < n; e++) {
                const g = c.start + b0 + e;
                const d = ((mask[g >>> 5] >>> (g & 31)) & 1) === 0 ? 0 : f(x[b0 + e] - base[b0 + e]);
                Wk[e] = f(d * sk) * wk;
              }
            } else if (sk === 1) {
              for (let e = 0; e < n; e++) Wk[e] = f(x[b0 + e] - base[b0 + e]) * wk;
            } else {
              for (let e = 0; e < n; e++) Wk[e] = f(f(x[b0 + e] - base[b0 + e]) * sk) * wk;
            }
          }
          if (v.consensus) {
            sum.set(W[0].subarray(0, n));
            for (let k = 1; k < M; k++) {
              const Wk = W[k];
              for (let e = 0; e < n; e++) sum[e] = sum[e] + Wk[e];
            }
            for (let k = 0; k < M; k++) {
              const Wk = W[k];
              const wk = weights[k];
              for (let e = 0; e < n; e++) {
                const x = Wk[e];
                // sign(W) == (S ≥ 0 ? +1 : −1): zeros (and NaN) never agree
                const agree = sum[e] >= 0 ? x > 0 : x < 0;
                if (k === 0) {
                  mixed[e] = agree ? x : 0;
                  div[e] = agree ? wk : 0;
                } else if (agree) {
                  mixed[e] = mixed[e] + x;
                  div[e] = div[e] + wk;
                } else {
                  mixed[e] = mixed[e] + 0; // −0 + 0 is +0, as on the GPU
                }
              }
            }
            for (let e = 0; e < n; e++) {
              let m = mixed[e];
              if (normalize) m = f(m / (div[e] === 0 ? 1 : div[e]));
              if (lambda !== 1) m = f(m * lambda);
              out[b0 + e] = base[b0 + e] + m;
            }
          } else {
            const acc = W[0];
            for (let k = 1; k < M; k++) {
              const Wk = W[k];
              for (let e = 0; e < n; e++) acc[e] = acc[e] + Wk[e];
            }
            for (let e = 0; e < n; e++) {
              let m = acc[e];
              if (normalize) m = f(m / scalarDiv);
              if (lambda !== 1) m = f(m * lambda);
              out[b0 + e] = base[b0 + e] + m;
            }
          }
        }
        await emit(c, out);
      }
    },
  };
}

/**
 * The plain loop (no pruning, no consensus, up to 3 task vectors) on the wasm SIMD kernels
 * (shaders/cpu/wsum.wat tsum / tfinish), block by block as linear runs: each input's stored bytes
 * (or decoded values) copied into the kernel's memory and decoded there to f32 (with the compute
 * dtype's rounding), t = ((x − base)·s)·w summed in model order, ÷ Σw when normalizing, × λ,
 * + base, encoded — the scalar loop's f32 steps in its order, so the same bytes.
 */
async function plainSimd(k: WsumKernels, job: CpuJob, emit: CpuEmit, bi: number, others: number[], weights: number[], scales: number[], div: number | undefined, lambda: number): Promise<void> {
  const all = [bi, ...others];
  const encodeTo = job.encodeTo;
  const outKind = encodeTo ? kernelDtype(encodeTo) : 0;
  if (outKind === undefined) return job.fail(`cannot encode ${encodeTo} on the CPU engine`);
  const outSize = encodeTo ? itemSize(encodeTo) : 4;
  // per input: a region for its block's bytes as read and one for its f32 values; the accumulator;
  // the encoded block
  const B = 4096;
  const R = B * 4;
  const raw = (j: number) => j * R;
  const vals = (j: number) => (all.length + j) * R;
  const acc = 2 * all.length * R;
  const dst = acc + R;
  k.reserve(dst + R);
  for await (const { c, stored, whole } of readAhead(job, all)) {
    const n = c.count;
    const out = encodeTo ? undefined : new Float32Array(n);
    const encoded = encodeTo ? new Uint8Array(n * outSize) : undefined;
    const src = all.map((i) => {
      const s = stored[i];
      if (!s) {
        const v = whole[i]!;
        return { bytes: new Uint8Array(v.buffer, v.byteOffset, v.byteLength), kind: 0 as KernelDtype, round: 0 as KernelDtype };
      }
      const kind = kernelDtype(s.dtype);
      if (kind === undefined) return job.fail(`input ${i} is ${s.dtype}, which the CPU engine cannot decode`);
      return { bytes: s.bytes, kind, round: (s.roundTo && s.roundTo !== s.dtype ? kernelDtype(s.roundTo) ?? 0 : 0) as KernelDtype };
    });
    const mem = k.bytes;
    for (let off = 0; off < n; off += B) {
      const len = Math.min(B, n - off);
      // f32 values of every input over the block (F32 without rounding: the copied bytes themselves)
      const at = src.map((s, j) => {
        const size = s.kind === 0 ? 4 : 2;
        mem.set(s.bytes.subarray(off * size, (off + len) * size), raw(j));
        if (s.kind === 0 && s.round === 0) return raw(j);
        k.decode(raw(j), s.kind, s.round, vals(j), len);
        return vals(j);
      });
      for (let t = 0; t < others.length; t++) k.tsum(at[t + 1], at[0], f(scales[t]), weights[t], acc, len, t === 0);
      k.tfinish(acc, at[0], div !== undefined, div ?? 1, lambda !== 1, lambda, outKind, dst, len);
      if (encoded) encoded.set(mem.subarray(dst, dst + len * outSize), off * outSize);
      else out!.set(new Float32Array(mem.buffer, dst, len), off);
    }
    await emit(c, out ?? new Float32Array(0), encoded);
  }
}

/**
 * The apply sweep (after pruning: masks, rescale, the sign election) on the wasm SIMD kernels, block
 * by block in the scalar loop's order: W = fround(fround(d·s)·w) per model, then either the plain
 * sum or the consensus (S = ΣW, each model's vote into mixed and div), ÷, × λ, + base, encoded —
 * the same f32 steps, so the same bytes. Inputs come decoded (the method reads them several times).
 */
class ApplySimd {
  private readonly M: number;
  private readonly R = 4096 * 4;

  constructor(
    private readonly k: WsumKernels,
    private readonly job: CpuJob,
    private readonly masks: readonly (Uint32Array | undefined)[],
    private readonly scales: readonly number[],
    private readonly weights: readonly number[],
    private readonly consensus: boolean,
    private readonly normalize: boolean,
    private readonly scalarDiv: number,
    private readonly lambda: number,
  ) {
    this.M = weights.length;
    // regions: base, M inputs, M W's, M keep-word blocks, sum, mixed, div, the encoded block
    k.reserve((3 * this.M + 5) * this.R);
  }

  async chunk(c: Chunk, base: Float32Array, xs: Float32Array[], emit: CpuEmit): Promise<void> {
    const { k, M, R, job } = this;
    const g = k.gta;
    const encodeTo = job.encodeTo;
    const outKind = encodeTo ? kernelDtype(encodeTo) : 0;
    if (outKind === undefined) return job.fail(`cannot encode ${encodeTo} on the CPU engine`);
    const outSize = encodeTo ? itemSize(encodeTo) : 4;
    const n = c.count;
    const out = encodeTo ? undefined : new Float32Array(n);
    const encoded = encodeTo ? new Uint8Array(n * outSize) : undefined;
    const X = (i: number) => (1 + i) * R;
    const W = (i: number) => (1 + M + i) * R;
    const K = (i: number) => (1 + 2 * M + i) * R;
    const sum = (1 + 3 * M) * R;
    const mixed = sum + R;
    const div = mixed + R;
    const dst = div + R;
    const f32 = (a: Float32Array, from: number, len: number) => new Uint8Array(a.buffer, a.byteOffset + from * 4, len * 4);
    const mem = k.bytes;
    for (let b0 = 0; b0 < n; b0 += 4096) {
      const len = Math.min(4096, n - b0);
      mem.set(f32(base, b0, len), 0);
      for (let i = 0; i < M; i++) {
        mem.set(f32(xs[i], b0, len), X(i));
        const mask = this.masks[i];
        if (mask) {
          const w0 = (c.start + b0) >>> 5;
          const words = mask.subarray(w0, Math.min(mask.length, w0 + Math.ceil(len / 32)));
          mem.set(new Uint8Array(words.buffer, words.byteOffset, words.byteLength), K(i));
        }
        g.gw(X(i), 0, mask ? K(i) : 0, this.scales[i], this.weights[i], W(i), len);
      }
      for (let i = 0; i < M; i++) g.gsum(W(i), sum, len, i === 0 ? 1 : 0);
      if (this.consensus) {
        for (let i = 0; i < M; i++) g.gagree(W(i), sum, mixed, div, this.weights[i], len, i === 0 ? 1 : 0);
        g.cfinish(mixed, div, 0, this.normalize ? 1 : 0, this.lambda !== 1 ? 1 : 0, this.lambda, outKind, dst, len);
      } else k.tfinish(sum, 0, this.normalize, this.scalarDiv, this.lambda !== 1, this.lambda, outKind, dst, len);
      if (encoded) encoded.set(mem.subarray(dst, dst + len * outSize), b0 * outSize);
      else out!.set(new Float32Array(mem.buffer, dst, len), b0);
    }
    await emit(c, out ?? new Float32Array(0), encoded);
  }
}

/** Every task vector's weight (f32), keep bitmask (undefined: all kept) and rescale factor. */
async function sparsify(job: CpuJob, v: GtaVariant, bi: number, others: number[], rescale: boolean) {
  const { inputs } = job.entry;
  const n = job.n;
  const weights = others.map((i) => f(num(inputs[i].params, 'weight')));
  const plans = others.map((i) => gtaSparsifyPlan(v, job.entry, i, job.n));
  const words = Math.ceil(n / 32);
  const masks: (Uint32Array | undefined)[] = plans.map((p) => (p ? new Uint32Array(Math.max(1, words)) : undefined));
  const scales = others.map(() => 1);
  // 1. exact top-k thresholds for every 'select' plan, in shared sweeps
  const keysOf = deltaKeys(job, bi);
  const reqs: { k: number; ki: number; slot: number }[] = [];
  plans.forEach((p, ki) => p?.kind === 'select' && p.ks.forEach((kk, slot) => reqs.push({ k: kk, ki, slot })));
  const sels = await selectTopKs(job, reqs.map((r) => ({ k: r.k, keys: keysOf(others[r.ki]) })));
  const selOf = (ki: number, slot: number): Selection => sels[reqs.findIndex((r) => r.ki === ki && r.slot === slot)] ?? NONE;
  const markers = plans.map((p, ki) => (p?.kind === 'select' ? new SelectionMarker(selOf(ki, 0), p.ks.length > 1 ? selOf(ki, 1) : NONE) : undefined));
  // 2. masks (and the L1 sums of those rescaled by them) in one sweep
  const l1 = plans.map((p) => rescale && !!p && p.kind !== 'magprune' && p.kind !== 'empty' && !(p.kind === 'random' && p.inverse));
  const l1Rows = plans.map((p) => rescale && p?.kind === 'magprune');
  const totals: [number, number][] = plans.map(() => [0, 0]);
  const seed = job.entry.seed >>> 0;
  const rowLen = job.entry.shape[job.entry.shape.length - 1] ?? 1;
  for (const c of job.chunks) {
    if (!plans.some((p) => p && p.kind !== 'empty')) break;
    const base = await job.input(bi, c);
    for (const [ki, p] of plans.entries()) {
      if (!p || p.kind === 'empty') continue;
      const x = await job.input(others[ki], c);
      const mask = masks[ki]!;
      const d = new Float32Array(c.count);
      for (let e = 0; e < c.count; e++) d[e] = x[e] - base[e];
      const bits = new Uint32Array(d.buffer);
      if (p.kind === 'select') markers[ki]!.mark(bits, c.start, mask);
      else if (p.kind === 'random') {
        const thr = keepThreshold(p.density);
        const stream = others[ki] >>> 0;
        const sm = Math.imul(stream, 0x9e3779b9);
        for (let e = 0; e < c.count; e++) {
          const g = c.start + e;
          if (hash(hash((g ^ sm) >>> 0) ^ seed) >>> 8 < thr) setBit(mask, g);
        }
      } else {
        magpruneRows(d, c.start, rowLen, p, seed, others[ki] >>> 0, mask);
      }
      if (l1[ki]) totals[ki] = l1BlockSums(d, mask, c.start, totals[ki]);
      if (l1Rows[ki]) totals[ki] = l1RowSums(d, mask, c.start, rowLen, totals[ki]);
    }
  }
  plans.forEach((p, ki) => {
    if (p?.kind === 'random' && p.inverse) scales[ki] = p.density > 0 ? 1 / f(p.density) : 1;
    else if (l1[ki] || l1Rows[ki]) {
      const [all, kept] = totals[ki];
      scales[ki] = all < 1e-7 || kept < 1e-7 ? 1 : all / kept;
    }
  });
  return { weights, masks, scales };
}

function setBit(mask: Uint32Array, g: number): void {
  mask[g >>> 5] |= 1 << (g & 31);
}


/**
 * DELLA's MagPrune over the whole rows of one chunk (d = the chunk's δ, `start` its first element):
 * each row's elements ordered by (key, index) ascending — a stable LSD radix sort over the 31-bit
 * key in four 8-bit digits, so equal keys keep index order — then the keep rule of rng.ts.
 */
function magpruneRows(d: Float32Array, start: number, C: number, p: { density: number; epsilon: number }, seed: number, stream: number, mask: Uint32Array): void {
  const kp = magpruneKeepParams(p.density, p.epsilon);
  const bits = new Uint32Array(d.buffer, d.byteOffset, d.length);
  const sm = Math.imul(stream, 0x9e3779b9);
  const keys = new Uint32Array(C);
  let order = new Uint32Array(C);
  let tmp = new Uint32Array(C);
  const count = new Uint32Array(256);
  for (let r0 = 0; r0 < d.length; r0 += C) {
    for (let j = 0; j < C; j++) {
      const k = bits[r0 + j] & 0x7fffffff;
      keys[j] = k > 0x7f800000 ? 0x7f800001 : k;
      order[j] = j;
    }
    for (let shift = 0; shift < 32; shift += 8) {
      count.fill(0);
      for (let j = 0; j < C; j++) count[(keys[j] >>> shift) & 255]++;
      if (count[(keys[0] >>> shift) & 255] === C) continue; // one digit value: order unchanged
      let sum = 0;
      for (let b = 0; b < 256; b++) {
        const c = count[b];
        count[b] = sum;
        sum += c;
      }
      for (let s = 0; s < C; s++) {
        const j = order[s];
        tmp[count[(keys[j] >>> shift) & 255]++] = j;
      }
      [order, tmp] = [tmp, order];
    }
    for (let s = 0; s < C; s++) {
      const g = start + r0 + order[s];
      const u = hash(hash((g ^ sm) >>> 0) ^ seed) >>> 8;
      if (magpruneKeep(u, s + 1, C, kp)) setBit(mask, g);
    }
  }
}


/** The CPU engine's implementation of each of this folder's specs (methods/cpu.ts). */
export function cpu(spec: MethodSpec): CpuMethod {
  return gtaCpu(gtaVariant(spec));
}

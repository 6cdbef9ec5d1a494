// Merge diagnostics on the CPU engine (a studio without WebGPU): the figures of diagnostics.ts
// from the masks the backend door's CPU side gives (backends/cpu/prune.ts: the method's own
// CpuMethod.sparsify — the GTA family and cabs, the same bits as the kernels'; other methods count
// as dense task vectors, as on the GPU), computed as diagnostics.wgsl computes them:
//   * diag_model replayed strip by strip: 64-element strips tiling each segment (1024 elements, or
//     a row for row-chunked methods), f32 sums in element order per strip, the strips' partials
//     added in f64 in order — so norms, L1 sums and shares are the GPU's bits, not only close
//     (segments come from the CPU method's rowLen, which the replays declare as the kernels do;
//     arcee_fusion runs its reference twin without rows: its dense sums may differ in the last bits);
//   * the two bit planes (nonzero, negative) per task vector and diag_combine's bit-parallel union,
//     ≥ 2 nonzero, sign-conflict and pair counts, 32 positions per word.
// Across calls (the worker's DiagnosticsSession) it keeps, like the GPU session: decoded inputs
// (CpuInputCache), and per tensor each task vector's planes and sums with its mask and factor, so a
// slider move recomputes the masks (cheap next to reading and decoding) and only the strips of the
// task vectors whose mask or factor changed, then the combine.
import type { Plan, PlanEntry } from '../recipe/plan-types';
import { cpuMethod } from '../methods/cpu';
import { num } from '../methods/shared/params';
import { inputCacheKey } from '../recipe/chunk-read';
import { cpuDecodedInput, cpuEntryMasks } from '../backends/cpu/prune';
import type { CpuInputCache } from '../backends/cpu/input-cache';
import type { EntryMasks } from '../backends/types';
import { CancelledError, UnsupportedError } from '../errors';
import { DIAG_MAX_MODELS, diagnoseWith, emptyRaw, type DiagnosticsResult, type Raw } from './diagnostics';

export interface CpuDiagnoseOptions {
  signal?: AbortSignal;
  /** Only these output tensors (default: every entry). */
  tensors?: string[];
  /** Decoded inputs kept across calls. */
  inputCache?: CpuInputCache;
  /** Per-tensor planes and sums kept across calls. */
  diagCache?: CpuDiagCache;
}

/** One task vector's figures over a tensor, and what they were computed from. */
interface ModelState {
  sig: string;
  coef: number;
  mask: Uint32Array | undefined;
  kept: number;
  nonzero: number;
  sq: number;
  keptSq: number;
  l1: number;
  /** Bit planes over the tensor's elements: nonzero, and negative. */
  nz: Uint32Array;
  neg: Uint32Array;
}

const modelBytes = (m: ModelState) => m.nz.byteLength + m.neg.byteLength + (m.mask?.byteLength ?? 0);

/** Per tensor (keyed by its inputs), each task vector's planes and sums; bounded by a byte budget, never evicts. */
export class CpuDiagCache {
  private map = new Map<string, (ModelState | undefined)[]>();
  bytes = 0;
  /** Task vectors whose planes and sums were reused (not recomputed). */
  reused = 0;
  constructor(public budgetBytes: number) {}
  get(key: string): (ModelState | undefined)[] | undefined {
    return this.map.get(key);
  }
  /** Stores the task vectors' states when they fit the budget (replacing the tensor's old ones). */
  set(key: string, v: (ModelState | undefined)[]): void {
    const size = (s: (ModelState | undefined)[] | undefined) => (s ?? []).reduce((a, m) => a + (m ? modelBytes(m) : 0), 0);
    const next = this.bytes - size(this.map.get(key)) + size(v);
    if (next > this.budgetBytes) return;
    this.map.set(key, v);
    this.bytes = next;
  }
  clear(): void {
    this.map.clear();
    this.bytes = 0;
  }
}

const f = Math.fround;
const STRIP = 64;

/** diag_model over the whole tensor, strip by strip (see the header). */
function modelFigures(x: Float32Array, base: Float32Array, mask: Uint32Array | undefined, coef: number, seg: number, sig: string): ModelState {
  const n = x.length;
  const words = Math.max(1, Math.ceil(n / 32));
  const nz = new Uint32Array(words);
  const neg = new Uint32Array(words);
  const c = f(coef);
  let kept = 0, nonzero = 0, sq = 0, keptSq = 0, l1 = 0;
  for (let s0 = 0; s0 < n; s0 += seg) {
    const segEnd = Math.min(s0 + seg, n);
    for (let start = s0; start < segEnd; start += STRIP) {
      const end = Math.min(start + STRIP, segEnd);
      let ssq = 0, sksq = 0, sl1 = 0;
      for (let i = start; i < end; i++) {
        const d = f(x[i] - base[i]);
        const dd = f(d * d);
        ssq = f(ssq + dd);
        let v = 0;
        if (!mask || ((mask[i >>> 5] >>> (i & 31)) & 1) !== 0) {
          sksq = f(sksq + dd);
          kept++;
          v = f(d * c);
        }
        sl1 = f(sl1 + Math.abs(v));
        if (v !== 0) {
          nonzero++;
          const bit = 1 << (i & 31);
          nz[i >>> 5] |= bit;
          if (v < 0) neg[i >>> 5] |= bit;
        }
      }
      sq += ssq;
      keptSq += sksq;
      l1 += sl1;
    }
  }
  return { sig, coef, mask, kept, nonzero, sq, keptSq, l1, nz, neg };
}

function popcount(w: number): number {
  w = w - ((w >>> 1) & 0x55555555);
  w = (w & 0x33333333) + ((w >>> 2) & 0x33333333);
  return (((w + (w >>> 4)) & 0x0f0f0f0f) * 0x01010101) >>> 24;
}

/** diag_combine over every word: union, ≥ 2 nonzero, sign conflicts, pair intersections. */
function combine(states: ModelState[], raw: Raw): void {
  const K = states.length;
  const words = K ? states[0].nz.length : 0;
  const nzs = new Uint32Array(K);
  for (let w = 0; w < words; w++) {
    let one = 0, two = 0, pos = 0, negs = 0;
    for (let k = 0; k < K; k++) {
      const nz = states[k].nz[w];
      const ng = states[k].neg[w] & nz;
      nzs[k] = nz;
      two |= one & nz;
      one |= nz;
      pos |= nz & ~ng;
      negs |= ng;
    }
    raw.union += popcount(one);
    if (two === 0) continue;
    raw.multi += popcount(two);
    raw.conflicts += popcount(two & pos & negs);
    let p = 0;
    for (let a = 0; a < K; a++) for (let b = a + 1; b < K; b++, p++) raw.intersections[p] += popcount(nzs[a] & nzs[b]);
  }
}

function sameMask(a: Uint32Array | undefined, b: Uint32Array | undefined): boolean {
  if (!a || !b) return a === b;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

async function cpuTensorRaw(entry: PlanEntry, o: CpuDiagnoseOptions): Promise<{ raw: Raw; models: string[] } | string> {
  if (o.signal?.aborted) throw new CancelledError();
  const method = cpuMethod(entry.method);
  if (!method) return `merge method "${entry.method}" has no CPU implementation`;
  const bi = entry.inputs.findIndex((x) => x.isBase);
  if (bi < 0) return 'no base model: no task vectors';
  const po = { signal: o.signal, inputCache: o.inputCache };
  const others = entry.inputs.map((_, i) => i).filter((i) => i !== bi);
  const s: EntryMasks | undefined =
    (method.sparsify ? await cpuEntryMasks(entry, po) : undefined) ??
    (others.length ? { base: bi, models: others, masks: others.map(() => undefined), coefs: others.map((i) => f(num(entry.inputs[i].params, 'weight', 1))) } : undefined);
  if (!s) return 'no task vectors';
  const K = s.models.length;
  if (K > DIAG_MAX_MODELS) throw new UnsupportedError(`diagnostics handle at most ${DIAG_MAX_MODELS} task vectors per tensor; "${entry.name}" has ${K}`);
  const n = entry.shape.reduce((a, b) => a * b, 1);
  const raw = emptyRaw(K, n);
  const models = s.models.map((i) => entry.inputs[i].model);
  if (n === 0) return { raw, models };
  // the GPU's segments: the method's rows for row-chunked methods, else 1024-element blocks
  const seg = method.rowLen?.(entry) ?? 1024;
  const whole = { start: 0, count: n };
  const key = o.diagCache ? [entry.name, K, seg, ...entry.inputs.map((inp) => inputCacheKey(inp, whole, entry.computeDtype))].join('||') : undefined;
  const cached = key ? o.diagCache!.get(key) : undefined;
  const states: ModelState[] = [];
  let base: Float32Array | undefined;
  for (let k = 0; k < K; k++) {
    if (o.signal?.aborted) throw new CancelledError();
    const sig = `${s.models[k]}|${s.base}`;
    const old = cached?.[k];
    if (old && old.sig === sig && old.coef === s.coefs[k] && sameMask(old.mask, s.masks[k])) {
      states.push(old);
      o.diagCache!.reused++;
      continue;
    }
    base ??= await cpuDecodedInput(entry, entry.inputs[s.base], po);
    const x = await cpuDecodedInput(entry, entry.inputs[s.models[k]], po);
    states.push(modelFigures(x, base, s.masks[k], s.coefs[k], seg, sig));
  }
  if (key) o.diagCache!.set(key, states);
  states.forEach((m, k) => {
    raw.kept[k] = m.kept;
    raw.nonzero[k] = m.nonzero;
    raw.sq[k] = m.sq;
    raw.keptSq[k] = m.keptSq;
    raw.l1[k] = m.l1;
  });
  combine(states, raw);
  return { raw, models };
}

/** Diagnostics of a plan on the CPU (same result shape, same counts and sums as the GPU's diagnose()). */
export function diagnoseCpu(plan: Plan | PlanEntry[], opts: CpuDiagnoseOptions = {}): Promise<DiagnosticsResult> {
  return diagnoseWith(plan, { signal: opts.signal, tensors: opts.tensors, concurrency: 1 }, (entry) => cpuTensorRaw(entry, opts), 'cpu');
}

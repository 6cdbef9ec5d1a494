// Merge diagnostics: what the studio draws while sparsity is tuned, computed on the GPU from the
// method's own sparsification masks (GpuMethod.sparsify: the GTA family incl. ties, breadcrumbs,
// dare_*, della*, and cabs; other methods count as dense) without merging or writing anything.
//
// For one tensor with task vectors τ_k = x_k − base (k over the non-base inputs), mask_k the
// method's kept positions and c_k the factor kept elements enter the merge with (weight × any
// rescale; CABS: weight), the kept, weighted task vector is v_k = c_k·τ_k·mask_k, and
//   kept_k        = |mask_k|                       density_k = kept_k / numel
//   nonzero_k     = |{v_k ≠ 0}|                    (nz_k below)
//   merged support = |∪ nz_k|                      mergedSparsity = 1 − support / numel
//     (the merged delta's support — exact for the TIES-style methods; a plain sum could cancel to an
//     exact 0 at a position, which is not subtracted)
//   multi          = positions where ≥ 2 task vectors are nonzero
//   conflicts      = those of them where the nonzero v_k do not all have the same sign
//   conflictRate   = conflicts / multi (0 when multi = 0)
//   overlap_ab     = |nz_a ∧ nz_b| / |nz_a ∨ nz_b| per pair (CABS's overlap metric; 0 when the union is empty)
//   norm_k = ‖τ_k‖₂, keptNorm_k = ‖τ_k·mask_k‖₂, l1_k = Σ|v_k|, share_k = l1_k / Σ_j l1_j (λ, a
//   global factor, cancels out of the share and is left out of l1).
// Counts are exact (integer atomics); float sums are per 64-element strip of each 1024-element block
// (or row, for row-chunked methods), added on the CPU in f64 in order, so no result depends on the
// chunking. With a RankCache (the worker's session), exact top-k and n:m masks of resident tensors
// come from ranks computed once, so a refresh after a slider move costs a few passes per tensor. Per-layer figures aggregate the tensors of each transformer layer (embeddings, final
// norm and lm_head form the `null` group).
import type { Gpu } from '../gpu/device';
import type { Plan, PlanEntry } from '../recipe/plan-types';
import { TensorJob } from '../gpu/tensor-job';
import { gpuMethod } from '../methods/webgpu';
import { chunkLimit } from '../backends/webgpu/execute';
import { num } from '../methods/shared/webgpu/types';
import type { Sparsified } from '../methods/shared/webgpu/types';
import { diagCombine, diagModel, diagStrips, planeWords } from '../gpu/ops-diagnostics';
import { storage } from '../gpu/buffers';
import { inputCacheKey } from '../recipe/chunk-read';
import type { InputCacheLike } from '../gpu/input-cache';
import type { RankCacheLike } from '../gpu/tensor-job';
import { CancelledError, UnsupportedError } from '../errors';

/** At most this many task vectors per tensor (one bit each in the per-element state). */
export const DIAG_MAX_MODELS = 32;

/** Counts and sums shared by tensors and layers; per-model arrays are indexed like DiagnosticsResult.models. */
export interface DiagnosticsFigures {
  numel: number;
  kept: number[];
  nonzero: number[];
  density: number[];
  norm: number[];
  keptNorm: number[];
  l1: number[];
  share: number[];
  mergedNonzero: number;
  mergedSparsity: number;
  multi: number;
  conflicts: number;
  conflictRate: number;
  /** Per model pair (a < b, row-major over DiagnosticsResult.models): |nz_a ∧ nz_b| and the overlap ratio. */
  intersections: number[];
  overlap: number[];
}

export interface TensorDiagnostics extends DiagnosticsFigures {
  name: string;
  method: string;
  /** Transformer layer index, or null (embeddings, final norm, lm_head, …). */
  layer: number | null;
  /** Which models (indices into DiagnosticsResult.models) are task vectors of this tensor. */
  present: number[];
}

export interface LayerDiagnostics extends DiagnosticsFigures {
  layer: number | null;
  tensors: number;
}

export interface DiagnosticsResult {
  /** The task vectors' model refs (non-base inputs), in order of first appearance in the plan. */
  models: string[];
  tensors: TensorDiagnostics[];
  layers: LayerDiagnostics[];
  /** Tensors left out, with the reason (no base model, …). */
  skipped: { name: string; reason: string }[];
  elapsedMs: number;
  /** Which engine computed it. */
  engine: 'webgpu' | 'cpu';
}

export interface DiagnoseOptions {
  /** Force a chunk size in elements (tests: results must not depend on it). */
  chunkElements?: number;
  signal?: AbortSignal;
  /** Decoded inputs kept across calls. */
  inputCache?: InputCacheLike;
  /** Magnitude ranks kept across calls: top-k and n:m masks become one cheap pass (rank-cache.ts). */
  rankCache?: RankCacheLike;
  /** Per-tensor bit planes and sums kept across calls: only task vectors whose inputs changed are recomputed. */
  diagCache?: DiagCacheLike;
  /** Tensors in flight at once (their GPU round trips overlap); default 8. */
  concurrency?: number;
  /** Only these output tensors (default: every entry). */
  tensors?: string[];
}

/** Index of a pair a < b among `m` models, row-major. */
export function pairIndex(a: number, b: number, m: number): number {
  return a * m - (a * (a + 1)) / 2 + (b - a - 1);
}

export function layerOf(name: string): number | null {
  const m = /(?:^|\.)layers\.(\d+)\./.exec(name);
  return m ? Number(m[1]) : null;
}

/** One tensor's exact counts (and f64 sums) over its task vectors; the CPU twin returns the same record. */
export interface Raw {
  numel: number;
  kept: number[];
  nonzero: number[];
  sq: number[];
  keptSq: number[];
  l1: number[];
  union: number;
  multi: number;
  conflicts: number;
  /** Pairs a < b, row-major. */
  intersections: number[];
}

export function emptyRaw(m: number, numel = 0): Raw {
  const z = () => new Array<number>(m).fill(0);
  return { numel, kept: z(), nonzero: z(), sq: z(), keptSq: z(), l1: z(), union: 0, multi: 0, conflicts: 0, intersections: new Array<number>((m * (m - 1)) / 2).fill(0) };
}

function figures(r: Raw, m: number): DiagnosticsFigures {
  const totalL1 = r.l1.reduce((a, b) => a + b, 0);
  const overlap: number[] = [];
  for (let a = 0; a < m; a++)
    for (let b = a + 1; b < m; b++) {
      const inter = r.intersections[pairIndex(a, b, m)];
      const union = r.nonzero[a] + r.nonzero[b] - inter;
      overlap.push(union > 0 ? inter / union : 0);
    }
  return {
    numel: r.numel,
    kept: r.kept,
    nonzero: r.nonzero,
    density: r.kept.map((k) => (r.numel ? k / r.numel : 0)),
    norm: r.sq.map(Math.sqrt),
    keptNorm: r.keptSq.map(Math.sqrt),
    l1: r.l1,
    share: r.l1.map((v) => (totalL1 > 0 ? v / totalL1 : 0)),
    mergedNonzero: r.union,
    mergedSparsity: r.numel ? 1 - r.union / r.numel : 0,
    multi: r.multi,
    conflicts: r.conflicts,
    conflictRate: r.multi ? r.conflicts / r.multi : 0,
    intersections: r.intersections,
    overlap,
  };
}

/** The sparsification of an entry: the method's own masks, or dense task vectors. */
async function sparsified(job: TensorJob): Promise<Sparsified | undefined> {
  const method = gpuMethod(job.entry.method);
  if (method?.sparsify) return method.sparsify(job);
  const inputs = job.entry.inputs;
  const bi = inputs.findIndex((x) => x.isBase);
  const models = inputs.map((_, i) => i).filter((i) => i !== bi);
  if (bi < 0 || !models.length) return undefined;
  return { base: bi, models, masks: models.map(() => undefined), bitBase: (c) => c.start, coefs: models.map((i) => Math.fround(num(inputs[i].params, 'weight', 1))), independent: true };
}

/** One task vector's own figures, kept across calls while its mask inputs are unchanged. */
interface ModelSums {
  sig: string;
  kept: number;
  nonzero: number;
  sq: number;
  keptSq: number;
  l1: number;
}

interface TensorState {
  /** Two bit planes (nonzero, negative) per task vector: 2·K·words u32. */
  planes: GPUBuffer;
  words: number;
  models: (ModelSums | undefined)[];
}

export interface DiagCacheLike {
  get(key: string): TensorState | undefined;
  set(key: string, v: TensorState): boolean;
}

/**
 * Per resident tensor: every task vector's bit planes and sums. A refresh recomputes only the task
 * vectors whose mask inputs changed (for the GTA family a model's own parameters; for cabs any
 * model's), then combines all planes (one cheap bit-parallel pass).
 */
export class DiagCache implements DiagCacheLike {
  private map = new Map<string, TensorState>();
  bytes = 0;
  constructor(public budgetBytes: number) {}
  get(key: string): TensorState | undefined {
    return this.map.get(key);
  }
  set(key: string, v: TensorState): boolean {
    const old = this.map.get(key);
    if (old === v) return true;
    const size = v.planes.size;
    if (this.bytes - (old?.planes.size ?? 0) + size > this.budgetBytes) return false;
    if (old) {
      old.planes.destroy();
      this.bytes -= old.planes.size;
    }
    this.map.set(key, v);
    this.bytes += size;
    return true;
  }
  clear(): void {
    for (const v of this.map.values()) v.planes.destroy();
    this.map.clear();
    this.bytes = 0;
  }
}

function modelSignature(entry: PlanEntry, s: Sparsified, k: number): string {
  const xi = s.models[k];
  const dep = s.independent ? [entry.inputs[xi].params] : (s.deps?.[k] ?? entry.inputs.map((_, i) => i)).map((i) => [i, entry.inputs[i].params]);
  return JSON.stringify([entry.method, entry.params, entry.seed, entry.computeDtype ?? '', s.coefs[k], xi, dep]);
}

/** Raw figures of one tensor over its own task vectors (local model order). */
async function tensorRaw(gpu: Gpu, entry: PlanEntry, opts: DiagnoseOptions): Promise<{ raw: Raw; models: string[] } | string> {
  const method = gpuMethod(entry.method);
  if (!method) return `merge method "${entry.method}" has no GPU implementation`;
  if (!entry.inputs.some((x) => x.isBase)) return 'no base model: no task vectors';
  const job = new TensorJob(gpu.device, entry, {
    chunkElements: chunkLimit(gpu, entry, opts.chunkElements),
    rowLen: method.rowLen?.({ entry }),
    signal: opts.signal,
    inputCache: opts.inputCache,
    rankCache: opts.rankCache,
  });
  try {
    const s = await sparsified(job);
    if (!s) return 'no task vectors';
    const K = s.models.length;
    if (K > DIAG_MAX_MODELS) throw new UnsupportedError(`diagnostics handle at most ${DIAG_MAX_MODELS} task vectors per tensor; "${entry.name}" has ${K}`);
    const raw = emptyRaw(K, job.n);
    if (job.n === 0) return { raw, models: s.models.map((i) => entry.inputs[i].model) };
    const seg = job.opts.rowLen ?? 1024;
    // a resident tensor keeps its planes and per-model sums across calls (opts.diagCache)
    const words = planeWords(job.maxChunk);
    const key = job.resident && opts.diagCache ? [entry.name, K, ...entry.inputs.map((inp) => inputCacheKey(inp, job.chunks[0], entry.computeDtype))].join('||') : undefined;
    let state = key ? opts.diagCache!.get(key) : undefined;
    if (state && (state.words !== words || state.models.length !== K)) state = undefined;
    const sigs = s.models.map((_, k) => modelSignature(entry, s, k));
    const todo = s.models.map((_, k) => k).filter((k) => state?.models[k]?.sig !== sigs[k]);
    if (key && !state) {
      const fresh: TensorState = { planes: storage(job.device, 2 * K * words * 4, 'diag.planes'), words, models: new Array(K).fill(undefined) };
      if (opts.diagCache!.set(key, fresh)) state = fresh;
      else fresh.planes.destroy();
    }
    const planes = state?.planes ?? job.scratch('diag.planes', 2 * K * words * 4);
    const C = todo.length;
    const pairs = (K * (K - 1)) / 2;
    const nCounters = 2 * C + 3 + pairs;
    const counters = job.scratch('diag.counters', nCounters * 4);
    const maxStrips = Math.max(...job.chunks.map((c) => diagStrips(c.count, seg)));
    const partials = job.scratch('diag.partials', Math.max(1, 3 * C * maxStrips) * 4);
    const sums = todo.map(() => ({ sq: 0, keptSq: 0, l1: 0 }));
    let countBytes: Uint8Array | undefined;
    for (const c of job.chunks) {
      if (opts.signal?.aborted) throw new CancelledError();
      const strips = diagStrips(c.count, seg);
      const W = planeWords(c.count);
      const b = job.batch();
      if (c.index === 0) b.clear(counters);
      if (C) {
        const base = await job.input(s.base, c);
        for (const [j, k] of todo.entries()) {
          b.clear(planes, 2 * k * W * 4, 2 * W * 4);
          diagModel(
            b,
            { x: await job.input(s.models[k], c), base, mask: s.masks[k], bitBase: s.bitBase(c), coef: s.coefs[k], seg, strips, partOffset: 3 * j * strips, ctrOffset: 2 * j, planeOffset: 2 * k * W },
            c.count,
            planes,
            counters,
            partials,
          );
        }
        b.read(partials, 3 * C * strips * 4);
      }
      diagCombine(b, c.count, K, 2 * C, planes, counters);
      const last = c.index === job.chunks.length - 1;
      if (last) b.read(counters, nCounters * 4);
      const res = await b.submit();
      if (C) {
        const p = new Float32Array(res[0].buffer, res[0].byteOffset, 3 * C * strips);
        for (let j = 0; j < C; j++) {
          const o = 3 * j * strips;
          for (let t = 0; t < strips; t++) {
            sums[j].sq += p[o + t];
            sums[j].keptSq += p[o + strips + t];
            sums[j].l1 += p[o + 2 * strips + t];
          }
        }
      }
      if (last) countBytes = res[res.length - 1];
      job.endChunk();
    }
    const cnt = new Uint32Array(countBytes!.buffer, countBytes!.byteOffset, nCounters);
    for (const [j, k] of todo.entries()) {
      const m: ModelSums = { sig: sigs[k], kept: cnt[2 * j], nonzero: cnt[2 * j + 1], ...sums[j] };
      if (state) state.models[k] = m;
      raw.kept[k] = m.kept;
      raw.nonzero[k] = m.nonzero;
      raw.sq[k] = m.sq;
      raw.keptSq[k] = m.keptSq;
      raw.l1[k] = m.l1;
    }
    for (let k = 0; k < K; k++) {
      if (todo.includes(k)) continue;
      const m = state!.models[k]!;
      raw.kept[k] = m.kept;
      raw.nonzero[k] = m.nonzero;
      raw.sq[k] = m.sq;
      raw.keptSq[k] = m.keptSq;
      raw.l1[k] = m.l1;
    }
    raw.union = cnt[2 * C];
    raw.multi = cnt[2 * C + 1];
    raw.conflicts = cnt[2 * C + 2];
    for (let p = 0; p < pairs; p++) raw.intersections[p] = cnt[2 * C + 3 + p];
    return { raw, models: s.models.map((i) => entry.inputs[i].model) };
  } finally {
    job.dispose();
  }
}

/** Adds a tensor's raw figures (local model order `local`) into an accumulator over `m` global models. */
function accumulate(acc: Raw, r: Raw, local: number[], m: number): void {
  acc.numel += r.numel;
  local.forEach((g, k) => {
    acc.kept[g] += r.kept[k];
    acc.nonzero[g] += r.nonzero[k];
    acc.sq[g] += r.sq[k];
    acc.keptSq[g] += r.keptSq[k];
    acc.l1[g] += r.l1[k];
  });
  acc.union += r.union;
  acc.multi += r.multi;
  acc.conflicts += r.conflicts;
  const K = local.length;
  for (let a = 0; a < K; a++)
    for (let b = a + 1; b < K; b++) {
      const [ga, gb] = local[a] < local[b] ? [local[a], local[b]] : [local[b], local[a]];
      if (ga === gb) continue; // the same model twice in one tensor
      acc.intersections[pairIndex(ga, gb, m)] += r.intersections[pairIndex(a, b, K)];
    }
}

/**
 * Diagnostics of a plan (or of some of its entries) on the GPU. Tensors are processed one after
 * another; with an input cache, a second call over the same models reads nothing from the sources.
 */
export function diagnose(gpu: Gpu, plan: Plan | PlanEntry[], opts: DiagnoseOptions = {}): Promise<DiagnosticsResult> {
  return diagnoseWith(plan, opts, (entry) => tensorRaw(gpu, entry, opts), 'webgpu');
}

/** One tensor's raw figures over its own task vectors (local model order), or why it is skipped. */
export type TensorRawFn = (entry: PlanEntry) => Promise<{ raw: Raw; models: string[] } | string>;

/** The plan walk and the per-tensor / per-layer aggregation, over any engine's per-tensor figures. */
export async function diagnoseWith(plan: Plan | PlanEntry[], opts: DiagnoseOptions, rawOf: TensorRawFn, engine: DiagnosticsResult['engine']): Promise<DiagnosticsResult> {
  const t0 = performance.now();
  let entries = Array.isArray(plan) ? plan : plan.entries;
  if (opts.tensors) {
    const want = new Set(opts.tensors);
    entries = entries.filter((e) => want.has(e.name));
  }
  const models: string[] = [];
  for (const e of entries) for (const i of e.inputs) if (!i.isBase && e.inputs.some((x) => x.isBase) && !models.includes(i.model)) models.push(i.model);
  const M = models.length;
  const perTensor: { entry: PlanEntry; raw: Raw; local: number[] }[] = [];
  const skipped: { name: string; reason: string }[] = [];
  // a few tensors in flight: their submits and readbacks interleave (results are kept in plan order)
  const results: Awaited<ReturnType<TensorRawFn>>[] = new Array(entries.length);
  let next = 0;
  let failure: { e: unknown } | undefined;
  const worker = async () => {
    while (next < entries.length && !failure) {
      const i = next++;
      try {
        if (opts.signal?.aborted) throw new CancelledError();
        results[i] = await rawOf(entries[i]);
      } catch (e) {
        failure ??= { e };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(opts.concurrency ?? 8, entries.length)) }, worker));
  if (failure) throw failure.e;
  entries.forEach((entry, i) => {
    const r = results[i];
    if (typeof r === 'string') skipped.push({ name: entry.name, reason: r });
    else perTensor.push({ entry, raw: r.raw, local: r.models.map((ref) => models.indexOf(ref)) });
  });
  const tensors: TensorDiagnostics[] = [];
  const byLayer = new Map<number | null, { raw: Raw; tensors: number }>();
  for (const t of perTensor) {
    const g = emptyRaw(M);
    accumulate(g, t.raw, t.local, M);
    const layer = layerOf(t.entry.name);
    tensors.push({ name: t.entry.name, method: t.entry.method, layer, present: [...t.local], ...figures(g, M) });
    let L = byLayer.get(layer);
    if (!L) byLayer.set(layer, (L = { raw: emptyRaw(M), tensors: 0 }));
    accumulate(L.raw, t.raw, t.local, M);
    L.tensors++;
  }
  const keys = [...byLayer.keys()].sort((a, b) => (a === null ? 1 : b === null ? -1 : a - b));
  const layers = keys.map((layer) => ({ layer, tensors: byLayer.get(layer)!.tensors, ...figures(byLayer.get(layer)!.raw, M) }));
  return { models, tensors, layers, skipped, elapsedMs: performance.now() - t0, engine };
}

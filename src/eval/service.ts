// The engine worker's evaluation state across calls: opened model headers, decoded inputs kept on
// the GPU, ONNX sessions per architecture/path, tokenizers, and resident base weights for the
// sparsity measures. A candidate then costs its merge kernels and a few forward passes.
// Importable from tests (no worker globals).
//
// Two backends behind one door (weights.ts: WeightsEngine / EvalWeights): 'webgpu' (merge kernels
// + ORT's WebGPU EP on the engine's device) and 'wasm', the fallback where WebGPU is missing:
// weights are merged by the CPU engine (cpu-weights.ts: the same plan, codecs, masks and f32
// arithmetic, so the same values) and ORT runs its wasm EP (threaded when the page is
// cross-origin isolated). Nothing below branches on which one runs. 'auto' picks WebGPU on a hardware adapter and wasm where
// WebGPU is missing or is only a software adapter (SwiftShader): there ORT's WebGPU kernels run
// on emulated GPU threads and one candidate of the demo took ~14 s against ~0.5 s on wasm (the
// same fitness values; README, bench:eval).
import type { Gpu } from '../gpu/device';
import type { ModelSpec } from '../io/types';
import type { ModelInfo } from '../formats/model-info';
import { loadModels } from '../merge/run';
import { modelsSignature } from '../merge/diagnostics-session';
import { readTokenizerTexts } from '../recipe/plan';
import { EvalError } from '../errors';
import { parseArch, type LlamaArch } from './arch';
import type { EvalSet } from './evalset';
import { EvalSetCache, type EvalSetInput } from './evalset-cache';
import { loadTokenizer, type EvalTokenizer } from './tokenizer';
import { encodePrompt } from './encode';
import { scoreSets, type ExactMode, type ItemResult, type SetMetrics } from './score';
import { OrtLanguageModel, SessionCache, type Readback } from './ort-lm';
import { describeTarget, type EvalTarget } from './target';
import { checkEvaluable } from './target-plan';
import type { DeltaStats } from './delta-stats';
import { CpuWeightsEngine, GpuWeightsEngine, type EvalBackend, type EvalWeights, type ResolvedEvalWeights, type WeightsEngine } from './weights';
import { buildGraph, type GraphDtype } from './graph';
import type { EvalPrecision } from './precision';
import { referenceForward } from './reference';
import { createSession, runSession, ort } from './ort';

export type { EvalSetInput } from './evalset-cache';

export interface EvaluateOptions {
  /** At most this many items per set (a seeded subset). */
  limit?: number;
  seed?: number;
  /** Exact-match sets: 'teacher-forced' (one forward pass; the fitness) or 'generate' (greedy decoding, completions). */
  mode?: ExactMode;
  /** Cap on generated tokens in generate mode (default: longest answer + 8). */
  maxNewTokens?: number;
  /** Return per-item results (default true). */
  perItem?: boolean;
  /** Also measure the merged delta's sparsity against this model (SAE), and the attraction share against `other`. */
  sparsity?: { base: string; other?: EvalTarget };
  signal?: AbortSignal;
}

/** Where weights are merged and the model runs. */
export type { EvalBackend };

export interface EvalServiceOptions {
  /**
   * 'auto' (default): WebGPU when getGpu() resolves to a hardware adapter, else wasm (no device,
   * or a software fallback adapter); decided on first use, then kept.
   * 'webgpu' / 'wasm' force one (a forced 'webgpu' fails where there is no device).
   */
  backend?: 'auto' | EvalBackend;
  /**
   * The graphs' float type (precision.ts): 'auto' (default) computes in f16 on a WebGPU device with
   * shader-f16 and in f32 elsewhere; 'float32' / 'float16' force one ('float16' fails without it).
   */
  precision?: EvalPrecision;
  /** The eval set parser (tests count its calls: a run parses each set once). */
  parseEvalSet?: (name: string, text: string) => EvalSet;
}

/** Weights of a target on the backend that evaluates it. */
export type AnyResolvedWeights = ResolvedEvalWeights;

export interface EvaluateSummary {
  target: string;
  sets: SetMetrics[];
  items?: ItemResult[][];
  /** Mean over sets of accuracy (exact, choice) or 1/perplexity (perplexity sets): higher is better, in [0, 1]. */
  fitness: number;
  /**
   * Bytes moved back to the CPU. `weightBytes` is 0 on both backends: on wasm the weights are
   * computed on the CPU in the first place (nothing is read back from a GPU), on WebGPU they never
   * leave it.
   */
  readback: Readback;
  sparsity?: DeltaStats;
  timings: { mergeMs: number; evalMs: number; totalMs: number };
  backend: EvalBackend;
  /** The float type the graph computed in (f16 on WebGPU devices with shader-f16, by default). */
  dtype: GraphDtype;
}

/** Per-set score in [0, 1]: what the fitness averages. */
export function setScore(m: SetMetrics): number {
  if (m.kind === 'perplexity') return m.perplexity && Number.isFinite(m.perplexity) ? 1 / m.perplexity : 0;
  return m.accuracy ?? 0;
}

export class EvalService {
  private signature = '';
  private models?: Map<string, ModelInfo>;
  private tokenizerTexts?: Map<string, string | undefined>;
  private tokenizers = new Map<string, EvalTokenizer>();
  // per backend: where weights are merged, its ORT sessions, and resident base weights (sparsity)
  private engines: Record<EvalBackend, WeightsEngine>;
  private sessions: Partial<Record<EvalBackend, SessionCache>> = {};
  private bases = new Map<string, EvalWeights>();
  private chosen?: Promise<EvalBackend>;
  // Parsed and checked eval sets by content: a run's preflight fills it, its candidates reuse it.
  private sets: EvalSetCache;

  constructor(
    private getGpu: () => Promise<Gpu>,
    private options: EvalServiceOptions = {},
  ) {
    this.sets = new EvalSetCache({ parse: options.parseEvalSet });
    const precision = (): EvalPrecision => this.options.precision ?? 'auto';
    this.engines = { webgpu: new GpuWeightsEngine(getGpu, precision), wasm: new CpuWeightsEngine(precision) };
  }

  /** The backend this service evaluates on (for 'auto': whether getGpu() resolved on first use). */
  backend(): Promise<EvalBackend> {
    const want = this.options.backend ?? 'auto';
    if (want !== 'auto') return Promise.resolve(want);
    return (this.chosen ??= this.getGpu().then(
      (gpu) => (gpu.isFallbackAdapter ? ('wasm' as const) : ('webgpu' as const)),
      () => 'wasm' as const,
    ));
  }

  /** Changes the backend ('auto' re-decides on next use). */
  setBackend(backend: 'auto' | EvalBackend): void {
    this.options = { ...this.options, backend };
    this.chosen = undefined;
  }

  /** Opens the models' headers unless the same set is already open. */
  async useModels(specs: ModelSpec[], signal?: AbortSignal): Promise<Map<string, ModelInfo>> {
    const sig = modelsSignature(specs);
    if (sig !== this.signature || !this.models) {
      this.reset();
      this.models = await loadModels(specs, signal);
      this.signature = sig;
    }
    return this.models;
  }

  private async sessionCache(backend: EvalBackend): Promise<SessionCache> {
    return (this.sessions[backend] ??= new SessionCache(await this.engines[backend].sessionTarget()));
  }

  async tokenizerFor(model: ModelInfo): Promise<EvalTokenizer> {
    let tok = this.tokenizers.get(model.ref);
    if (tok) return tok;
    const json = model.files.get('tokenizer.json');
    if (!json) throw new EvalError(`${model.name}: the model has no tokenizer.json, so its eval sets cannot be tokenized`, { model: model.ref, file: `${model.name}/tokenizer.json` });
    const cfg = model.files.get('tokenizer_config.json');
    const vocab = Number(model.config.vocab_size);
    if (!Number.isInteger(vocab) || vocab <= 0) throw new EvalError(`${model.name}/config.json: vocab_size is missing or invalid`, { file: `${model.name}/config.json`, key: 'vocab_size' });
    tok = loadTokenizer({
      tokenizerJson: await json.text(),
      tokenizerConfig: cfg ? await cfg.text() : undefined,
      file: `${model.name}/tokenizer.json`,
      vocabSize: vocab,
      eosTokenId: model.config.eos_token_id as number | number[] | null | undefined,
      bosTokenId: model.config.bos_token_id as number | null | undefined,
      padTokenId: model.config.pad_token_id as number | null | undefined,
    });
    this.tokenizers.set(model.ref, tok);
    return tok;
  }

  /**
   * Parses and checks eval sets against a tokenizer: every problem is reported before any GPU work.
   * Each set is parsed once and checked once per tokenizer and options (evalset-cache.ts), so the
   * preflight of a run does the work and every candidate's evaluate() reuses it.
   */
  prepareSets(inputs: EvalSetInput[], tok: EvalTokenizer, o: { limit?: number; seed?: number; mode?: ExactMode } = {}): EvalSet[] {
    if (inputs.length === 0) throw new EvalError('no eval sets were given');
    return inputs.map((input) => this.sets.prepare(input, tok, o));
  }

  /**
   * A target's weights on a backend (default: this service's); the caller disposes them.
   * `store: 'f16'` keeps them as f16 only (WebGPU), for an f16 graph that needs no f32 values.
   */
  async resolveWeights(target: EvalTarget, backend?: EvalBackend, signal?: AbortSignal, store?: 'f32' | 'f16'): Promise<ResolvedEvalWeights> {
    if (!this.models) throw new EvalError('no models are loaded');
    const models = this.models;
    const engine = this.engines[backend ?? (await this.backend())];
    checkEvaluable(target, models);
    return engine.resolve(target, models, { signal, store, tokenizerTexts: async () => (this.tokenizerTexts ??= await readTokenizerTexts(models)) });
  }

  private resolveOn(backend: EvalBackend, target: EvalTarget, signal?: AbortSignal, store?: 'f32' | 'f16'): Promise<AnyResolvedWeights> {
    return this.resolveWeights(target, backend, signal, store);
  }

  /** How a scored target's weights are kept: f16 only when the graph is f16 and nothing reads f32 (sparsity). */
  private async storeFor(backend: EvalBackend, needsF32: boolean): Promise<'f32' | 'f16'> {
    return !needsF32 && backend === 'webgpu' && (await this.engines[backend].graphDtype()) === 'float16' ? 'f16' : 'f32';
  }

  private static release(r: AnyResolvedWeights): void {
    r.weights.dispose();
  }

  archOf(r: AnyResolvedWeights): LlamaArch {
    return parseArch(r.config, `${r.tokenizerModel.name}/config.json`);
  }

  /** A LanguageModel over resolved weights (valid until they are disposed), on their backend's sessions, in its graph dtype. */
  async languageModel(r: AnyResolvedWeights, readback: Readback): Promise<OrtLanguageModel> {
    const dtype = await this.engines[r.weights.backend].graphDtype();
    return new OrtLanguageModel({ arch: this.archOf(r), hops: r.hops, readback, weights: r.weights, sessions: await this.sessionCache(r.weights.backend), dtype });
  }

  /** The float type evaluation graphs compute in on this service's backend (precision.ts). */
  async graphDtype(): Promise<GraphDtype> {
    return this.engines[await this.backend()].graphDtype();
  }

  private async baseWeights(backend: EvalBackend, ref: string, signal?: AbortSignal): Promise<EvalWeights> {
    const key = `${backend}\u0000${ref}`;
    let w = this.bases.get(key);
    if (!w) {
      w = (await this.resolveOn(backend, { kind: 'model', ref }, signal)).weights;
      this.bases.set(key, w);
    }
    return w;
  }

  /** The merged delta's sparsity against a base (and the attraction share against `other`), on the weights' backend. */
  private async sparsityOf(resolved: AnyResolvedWeights, o: NonNullable<EvaluateOptions['sparsity']>, signal?: AbortSignal): Promise<DeltaStats> {
    const backend = resolved.weights.backend;
    const base = await this.baseWeights(backend, o.base, signal);
    const other = o.other ? await this.resolveOn(backend, o.other, signal) : undefined;
    try {
      return await this.engines[backend].deltaStats(resolved.weights, base, other?.weights);
    } finally {
      other?.weights.dispose();
    }
  }

  /** Merges (never writing) and scores one target on the given sets. */
  async evaluate(target: EvalTarget, inputs: EvalSetInput[], o: EvaluateOptions = {}): Promise<EvaluateSummary> {
    const t0 = performance.now();
    if (!this.models) throw new EvalError('no models are loaded');
    const backend = await this.backend();
    const resolved = await this.resolveOn(backend, target, o.signal, await this.storeFor(backend, o.sparsity !== undefined));
    const tMerged = performance.now();
    try {
      const tok = await this.tokenizerFor(resolved.tokenizerModel);
      const sets = this.prepareSets(inputs, tok, { limit: o.limit, seed: o.seed, mode: o.mode });
      const readback: Readback = { weightBytes: 0, outputBytes: 0, runs: 0 };
      const lm = await this.languageModel(resolved, readback);
      const results = await scoreSets(lm, tok, sets, { mode: o.mode ?? 'teacher-forced', answerLogLik: o.mode === 'generate', maxNewTokens: o.maxNewTokens });
      const sparsity = o.sparsity ? await this.sparsityOf(resolved, o.sparsity, o.signal) : undefined;
      const metrics = results.map((r) => r.metrics);
      const t1 = performance.now();
      return {
        target: describeTarget(target),
        sets: metrics,
        items: o.perItem === false ? undefined : results.map((r) => r.items),
        fitness: metrics.reduce((a, m) => a + setScore(m), 0) / metrics.length,
        readback,
        sparsity,
        timings: { mergeMs: tMerged - t0, evalMs: t1 - tMerged, totalMs: t1 - t0 },
        backend,
        dtype: lm.dtype,
      };
    } finally {
      EvalService.release(resolved);
    }
  }

  /** Greedy completion of one prompt (the studio's "Try it"). */
  async complete(target: EvalTarget, prompt: string, maxNewTokens: number, signal?: AbortSignal): Promise<{ text: string; tokens: number; readback: Readback; ms: number }> {
    const t0 = performance.now();
    const backend = await this.backend();
    const resolved = await this.resolveOn(backend, target, signal, await this.storeFor(backend, false));
    try {
      const tok = await this.tokenizerFor(resolved.tokenizerModel);
      const readback: Readback = { weightBytes: 0, outputBytes: 0, runs: 0 };
      const lm = await this.languageModel(resolved, readback);
      const ids = Int32Array.from(encodePrompt(tok, prompt, true).ids);
      const [out] = await lm.generate([ids], maxNewTokens, tok.eosIds);
      return { text: tok.decode(out, { skipSpecialTokens: true }), tokens: out.length, readback, ms: performance.now() - t0 };
    } finally {
      EvalService.release(resolved);
    }
  }

  /**
   * The benchmark's accuracy check: ORT's logits against the CPU reference forward on the same
   * resident weights (which this check alone reads back), as max |Δ| / max |logit|. On the wasm
   * backend the weights are CPU arrays already (nothing read back) and ORT runs its wasm EP.
   */
  async logitError(target: EvalTarget, ids: number[][], signal?: AbortSignal): Promise<{ maxAbs: number; relative: number; weightBytesReadBack: number; dtype: GraphDtype }> {
    const backend = await this.backend();
    const resolved = await this.resolveOn(backend, target, signal);
    try {
      const arch = this.archOf(resolved);
      const { values: host, bytesReadBack: bytes } = await resolved.weights.host();
      const where = await this.engines[backend].sessionTarget();
      const want = referenceForward(arch, (n) => host.get(n), ids, { hops: resolved.hops });
      const dtype = await this.engines[backend].graphDtype();
      const graph = buildGraph(arch, { hops: resolved.hops, dtype });
      const session = await createSession(graph.bytes, where);
      try {
        const feeds: Record<string, ort.Tensor> = {};
        for (const w of graph.weightInputs)
          feeds[w.name] = resolved.weights.feed(w.name, w.shape, dtype);
        const B = ids.length, S = ids[0].length;
        const i64 = (f: (b: number, t: number) => number) => new ort.Tensor('int64', BigInt64Array.from({ length: B * S }, (_, k) => BigInt(f(Math.floor(k / S), k % S))), [B, S]);
        feeds.input_ids = i64((b, t) => ids[b][t]);
        feeds.attention_mask = i64(() => 1);
        feeds.position_ids = i64((_, t) => t);
        const out = await runSession(session, feeds, ['logits']);
        const got = (await out.logits.getData()) as Float32Array;
        let maxAbs = 0, scale = 0;
        for (let i = 0; i < want.length; i++) {
          maxAbs = Math.max(maxAbs, Math.abs(got[i] - want[i]));
          scale = Math.max(scale, Math.abs(want[i]));
        }
        out.logits.dispose();
        return { maxAbs, relative: scale ? maxAbs / scale : maxAbs, weightBytesReadBack: bytes, dtype };
      } finally {
        await session.release();
      }
    } finally {
      EvalService.release(resolved);
    }
  }

  reset(): void {
    for (const e of Object.values(this.engines)) e.clear();
    for (const w of this.bases.values()) w.dispose();
    this.bases.clear();
    this.tokenizers.clear();
    this.models = undefined;
    this.tokenizerTexts = undefined;
    this.signature = '';
  }
}

// The engine worker's evaluation state across calls: opened model headers, decoded inputs kept on
// the GPU, ONNX sessions per architecture/path, tokenizers, and resident base weights for the
// sparsity measures. A candidate then costs its merge kernels and a few forward passes.
// Importable from tests (no worker globals).
import type { Gpu } from '../gpu/device';
import type { ModelSpec } from '../worker/api';
import type { ModelInfo } from '../recipe/model-info';
import { loadModels } from '../merge/run';
import { modelsSignature } from '../merge/diagnostics-session';
import { InputCache } from '../merge/input-cache';
import { readTokenizerTexts } from '../recipe/plan';
import { EvalError } from '../errors';
import { parseArch, type LlamaArch } from './arch';
import { parseEvalSet, sampleItems, type EvalSet } from './evalset';
import { loadTokenizer, type EvalTokenizer } from './tokenizer';
import { encodePrompt } from './encode';
import { checkTokenization, unscorableError } from './tokenization-check';
import { scoreSets, type ExactMode, type ItemResult, type SetMetrics } from './score';
import { OrtLanguageModel, SessionCache, type Readback } from './ort-lm';
import { resolveTarget, describeTarget, type EvalTarget, type ResolvedWeights } from './target';
import { deltaStats, type DeltaStats } from './delta-stats';
import type { ResidentWeights } from './resident';
import { Batch } from '../gpu/buffers';
import { buildGraph } from './graph';
import { referenceForward } from './reference';
import { createSession, runSession, ort } from './ort';

export interface EvalSetInput {
  /** File name for messages, e.g. "addition.search.jsonl". */
  name: string;
  /** JSONL text. */
  text: string;
}

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

export interface EvaluateSummary {
  target: string;
  sets: SetMetrics[];
  items?: ItemResult[][];
  /** Mean over sets of accuracy (exact, choice) or 1/perplexity (perplexity sets): higher is better, in [0, 1]. */
  fitness: number;
  readback: Readback;
  sparsity?: DeltaStats;
  timings: { mergeMs: number; evalMs: number; totalMs: number };
  backend: 'webgpu';
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
  private cache = new InputCache(512 * 1024 * 1024);
  private sessions?: SessionCache;
  private tokenizers = new Map<string, EvalTokenizer>();
  private bases = new Map<string, ResidentWeights>();

  constructor(private getGpu: () => Promise<Gpu>) {}

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

  private async sessionCache(): Promise<SessionCache> {
    if (!this.sessions) this.sessions = new SessionCache({ ep: 'webgpu', device: (await this.getGpu()).device });
    return this.sessions;
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

  /** Parses and checks eval sets against a tokenizer: every problem is reported before any GPU work. */
  prepareSets(inputs: EvalSetInput[], tok: EvalTokenizer, o: { limit?: number; seed?: number; mode?: ExactMode } = {}): EvalSet[] {
    if (inputs.length === 0) throw new EvalError('no eval sets were given');
    return inputs.map((input) => {
      const set = parseEvalSet(input.name, input.text);
      const report = checkTokenization(tok, set);
      const err = unscorableError(report, tok.file);
      if (err) throw err;
      if (o.mode === 'teacher-forced' && set.kind === 'exact') {
        const bad = set.items.find((it) => it.extract && it.extract !== 'exact');
        if (bad) throw new EvalError(`${input.name}, line ${bad.line}: teacher-forced scoring needs exact answers; this item extracts "${typeof bad.extract === 'string' ? bad.extract : 'regex'}" (use generate mode)`, { file: input.name, line: bad.line });
      }
      return o.limit !== undefined ? sampleItems(set, o.limit, o.seed ?? 0) : set;
    });
  }

  /** Resident weights of a target (the caller disposes them). */
  async resolve(target: EvalTarget, signal?: AbortSignal): Promise<ResolvedWeights> {
    if (!this.models) throw new EvalError('no models are loaded');
    const models = this.models;
    return resolveTarget(await this.getGpu(), target, models, {
      signal,
      inputCache: this.cache,
      tokenizerTexts: async () => (this.tokenizerTexts ??= await readTokenizerTexts(models)),
    });
  }

  archOf(r: ResolvedWeights): LlamaArch {
    return parseArch(r.config, `${r.tokenizerModel.name}/config.json`);
  }

  /** A LanguageModel over resolved weights (valid until the weights are disposed). */
  async languageModel(r: ResolvedWeights, readback: Readback): Promise<OrtLanguageModel> {
    return new OrtLanguageModel({ arch: this.archOf(r), weights: r.weights, sessions: await this.sessionCache(), hops: r.hops, readback });
  }

  private async baseWeights(ref: string, signal?: AbortSignal): Promise<ResidentWeights> {
    let w = this.bases.get(ref);
    if (!w) {
      w = (await this.resolve({ kind: 'model', ref }, signal)).weights;
      this.bases.set(ref, w);
    }
    return w;
  }

  /** Merges (never writing) and scores one target on the given sets. */
  async evaluate(target: EvalTarget, inputs: EvalSetInput[], o: EvaluateOptions = {}): Promise<EvaluateSummary> {
    const t0 = performance.now();
    if (!this.models) throw new EvalError('no models are loaded');
    const resolved = await this.resolve(target, o.signal);
    const tMerged = performance.now();
    try {
      const tok = await this.tokenizerFor(resolved.tokenizerModel);
      const sets = this.prepareSets(inputs, tok, { limit: o.limit, seed: o.seed, mode: o.mode });
      const readback: Readback = { weightBytes: 0, outputBytes: 0, runs: 0 };
      const lm = await this.languageModel(resolved, readback);
      const results = await scoreSets(lm, tok, sets, { mode: o.mode ?? 'teacher-forced', answerLogLik: o.mode === 'generate', maxNewTokens: o.maxNewTokens });
      let sparsity: DeltaStats | undefined;
      if (o.sparsity) {
        const base = await this.baseWeights(o.sparsity.base, o.signal);
        const other = o.sparsity.other ? await this.resolve(o.sparsity.other, o.signal) : undefined;
        try {
          sparsity = await deltaStats(resolved.weights, base, other?.weights);
        } finally {
          other?.weights.dispose();
        }
      }
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
        backend: 'webgpu',
      };
    } finally {
      resolved.weights.dispose();
    }
  }

  /** Greedy completion of one prompt (the studio's "Try it"). */
  async complete(target: EvalTarget, prompt: string, maxNewTokens: number, signal?: AbortSignal): Promise<{ text: string; tokens: number; readback: Readback; ms: number }> {
    const t0 = performance.now();
    const resolved = await this.resolve(target, signal);
    try {
      const tok = await this.tokenizerFor(resolved.tokenizerModel);
      const readback: Readback = { weightBytes: 0, outputBytes: 0, runs: 0 };
      const lm = await this.languageModel(resolved, readback);
      const ids = Int32Array.from(encodePrompt(tok, prompt, true).ids);
      const [out] = await lm.generate([ids], maxNewTokens, tok.eosIds);
      return { text: tok.decode(out, { skipSpecialTokens: true }), tokens: out.length, readback, ms: performance.now() - t0 };
    } finally {
      resolved.weights.dispose();
    }
  }

  /**
   * The benchmark's accuracy check: ORT's logits against the CPU reference forward on the same
   * resident weights (which this check alone reads back), as max |Δ| / max |logit|.
   */
  async logitError(target: EvalTarget, ids: number[][], signal?: AbortSignal): Promise<{ maxAbs: number; relative: number; weightBytesReadBack: number }> {
    const resolved = await this.resolve(target, signal);
    try {
      const arch = this.archOf(resolved);
      const gpu = await this.getGpu();
      const host = new Map<string, Float32Array>();
      let bytes = 0;
      for (const [name, t] of resolved.weights.tensors) {
        const b = new Batch(gpu.device);
        const n = t.shape.reduce((a, x) => a * x, 1);
        b.read(t.buffer, n * 4);
        const [raw] = await b.submit();
        host.set(name, new Float32Array(raw.buffer, raw.byteOffset, n));
        bytes += n * 4;
      }
      const want = referenceForward(arch, (n) => host.get(n), ids, { hops: resolved.hops });
      const graph = buildGraph(arch, { hops: resolved.hops });
      const session = await createSession(graph.bytes, { ep: 'webgpu', device: gpu.device });
      try {
        const feeds: Record<string, ort.Tensor> = {};
        for (const w of graph.weightInputs) feeds[w.name] = ort.Tensor.fromGpuBuffer(resolved.weights.get(w.name)!.buffer, { dataType: 'float32', dims: w.shape });
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
        return { maxAbs, relative: scale ? maxAbs / scale : maxAbs, weightBytesReadBack: bytes };
      } finally {
        await session.release();
      }
    } finally {
      resolved.weights.dispose();
    }
  }

  reset(): void {
    this.cache.clear();
    for (const w of this.bases.values()) w.dispose();
    this.bases.clear();
    this.tokenizers.clear();
    this.models = undefined;
    this.tokenizerTexts = undefined;
    this.signature = '';
  }
}

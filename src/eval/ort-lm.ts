// The LanguageModel the scorers consume, over onnxruntime-web sessions whose weight inputs are the
// GPU-resident merged buffers (Tensor.fromGpuBuffer: no weight ever leaves the GPU), or, on the
// wasm backend, f32 arrays merged on the CPU. Only token ids go up and per-position
// log-probabilities / argmax ids come back; bytes read back are counted so the studio and the
// benchmark can show them.
//
// Batching: score() right-pads (a causal model's real positions never see the padding after
// them); generate() left-pads with an attention mask and HF position ids (cumsum(mask) − 1), runs
// one prefill and then one decode step per new token, keeping the KV cache on the GPU.
import type { LanguageModel, TokenScores } from './lm';
import type { LlamaArch, Hop } from './arch';
import { buildGraph, type BuiltGraph, type GraphDtype, type GraphOptions } from './graph';
import { createSession, runSession, ort, type SessionTarget } from './ort';
import type { EvalWeights } from './weights';
import { EvalError } from '../errors';

/** Tokens per forward pass (batch × padded length): bounds activation memory. */
const TOKENS_PER_RUN = 16384;

export interface Readback {
  /** Bytes of weights copied from GPU to CPU (0 on the WebGPU path). */
  weightBytes: number;
  /** Bytes of outputs (log-probabilities, argmax ids) copied back. */
  outputBytes: number;
  /** Forward passes run. */
  runs: number;
}

type Variant = 'score' | 'prefill' | 'decode';

/** Sessions by (architecture, path, variant): built once, reused by every candidate. */
export class SessionCache {
  private sessions = new Map<string, Promise<{ session: ort.InferenceSession; graph: BuiltGraph }>>();
  constructor(readonly target: SessionTarget) {}

  get(arch: LlamaArch, hops: readonly Hop[] | undefined, variant: Variant, dtype: GraphDtype = 'float32'): Promise<{ session: ort.InferenceSession; graph: BuiltGraph }> {
    const layers = hops ? hops.map((h) => h.layer).join(',') : '';
    const key = JSON.stringify([arch, layers, variant, dtype]);
    let s = this.sessions.get(key);
    if (!s) {
      const opts: GraphOptions = {
        dtype,
        kvCache: variant === 'score' ? 'none' : variant,
        hops: hops ? hops.map((h) => ({ layer: h.layer, scale: 1 })) : undefined,
        hopScales: hops ? 'input' : 'constant',
        scoring: true,
        logits: false,
      };
      const graph = buildGraph(arch, opts);
      const presents = graph.outputs.filter((o) => o.startsWith('present.'));
      const location: Record<string, ort.Tensor.DataLocation> = {};
      for (const p of presents) location[p] = this.target.ep === 'webgpu' ? 'gpu-buffer' : 'cpu';
      s = createSession(graph.bytes, this.target, presents.length ? { outputLocation: location } : {}).then((session) => ({ session, graph }));
      s.catch(() => this.sessions.delete(key));
      this.sessions.set(key, s);
    }
    return s;
  }

  get size(): number {
    return this.sessions.size;
  }

  async release(): Promise<void> {
    const all = [...this.sessions.values()];
    this.sessions.clear();
    for (const s of all) await s.then((x) => x.session.release()).catch(() => {});
  }
}

export interface OrtLmOptions {
  arch: LlamaArch;
  /** The target's weights, on the engine of `sessions` (GPU-resident for WebGPU, CPU arrays for wasm). */
  weights: EvalWeights;
  sessions: SessionCache;
  /** Layer path (pool indices + scales); absent = the plain model. */
  hops?: Hop[];
  readback: Readback;
  /** The graph's compute dtype (precision.ts); weights are fed in it. Default f32. */
  dtype?: GraphDtype;
}

const i64 = (data: number[] | BigInt64Array, dims: number[]) => new ort.Tensor('int64', data instanceof BigInt64Array ? data : BigInt64Array.from(data, (v) => BigInt(v)), dims);

export class OrtLanguageModel implements LanguageModel {
  readonly vocabSize: number;
  readonly maxSequenceLength: number;
  readonly dtype: GraphDtype;
  private weightFeeds: Record<string, ort.Tensor> = {};

  constructor(private o: OrtLmOptions) {
    this.vocabSize = o.arch.vocabSize;
    this.maxSequenceLength = o.arch.maxSequenceLength;
    this.dtype = o.dtype ?? 'float32';
  }

  private feeds(graph: BuiltGraph): Record<string, ort.Tensor> {
    const out: Record<string, ort.Tensor> = {};
    for (const w of graph.weightInputs) {
      let t = this.weightFeeds[w.name];
      if (!t) {
        const have = this.o.weights.elements(w.name);
        if (have === undefined) throw new EvalError(`the evaluation graph needs tensor "${w.name}", which the model or merge does not provide`, { tensor: w.name });
        const n = w.shape.reduce((a, b) => a * b, 1);
        if (n !== have) throw new EvalError(`tensor "${w.name}" has ${this.o.weights.shapeText(w.name)}, the graph for this config.json expects [${w.shape.join(', ')}]`, { tensor: w.name });
        t = this.o.weights.feed(w.name, w.shape, this.dtype);
        this.weightFeeds[w.name] = t;
      }
      out[w.name] = t;
    }
    if (this.o.hops) out.hop_scales = new ort.Tensor('float32', Float32Array.from(this.o.hops, (h) => h.scale), [this.o.hops.length]);
    return out;
  }

  private async read<T extends 'float32' | 'int64'>(t: ort.Tensor, _type: T): Promise<T extends 'float32' ? Float32Array : BigInt64Array> {
    const data = (await t.getData()) as Float32Array | BigInt64Array;
    this.o.readback.outputBytes += data.byteLength;
    return data as T extends 'float32' ? Float32Array : BigInt64Array;
  }

  async score(seqs: Int32Array[]): Promise<TokenScores[]> {
    const out: TokenScores[] = new Array(seqs.length);
    const order = seqs.map((s, i) => i).sort((a, b) => seqs[a].length - seqs[b].length);
    const { session, graph } = await this.o.sessions.get(this.o.arch, this.o.hops, 'score', this.dtype);
    let at = 0;
    while (at < order.length) {
      // group sequences of similar length: sorted order, as many as fit the token budget
      const maxLen = Math.max(1, seqs[order[Math.min(order.length - 1, at)]].length);
      let end = at;
      let S = maxLen;
      while (end < order.length) {
        const len = Math.max(1, seqs[order[end]].length);
        if ((end - at + 1) * Math.max(S, len) > TOKENS_PER_RUN && end > at) break;
        S = Math.max(S, len);
        end++;
      }
      const batch = order.slice(at, end);
      const B = batch.length;
      const ids = new Array<number>(B * S).fill(0);
      const mask = new Array<number>(B * S).fill(0);
      const pos = new Array<number>(B * S).fill(0);
      const targets = new Array<number>(B * S).fill(0);
      batch.forEach((k, b) => {
        const s = seqs[k];
        if (s.length > this.maxSequenceLength) throw new EvalError(`a sequence of ${s.length} tokens exceeds the model's context of ${this.maxSequenceLength} tokens (config.json max_position_embeddings${this.o.arch.ropeScaling?.type === 'dynamic' ? ' × the dynamic rope factor' : ''})`);
        for (let t = 0; t < S; t++) {
          pos[b * S + t] = t;
          if (t < s.length) {
            ids[b * S + t] = s[t];
            mask[b * S + t] = 1;
          }
          if (t + 1 < s.length) targets[b * S + t] = s[t + 1];
        }
      });
      const feeds = this.feeds(graph);
      feeds.input_ids = i64(ids, [B, S]);
      feeds.attention_mask = i64(mask, [B, S]);
      feeds.position_ids = i64(pos, [B, S]);
      feeds.targets = i64(targets, [B, S]);
      const res = await runSession(session, feeds, ['target_logprobs', 'argmax']);
      this.o.readback.runs++;
      const lp = await this.read(res.target_logprobs, 'float32');
      const am = await this.read(res.argmax, 'int64');
      batch.forEach((k, b) => {
        const n = Math.max(0, seqs[k].length - 1);
        const logprobs = lp.slice(b * S, b * S + n);
        const argmax = new Int32Array(n);
        for (let t = 0; t < n; t++) argmax[t] = Number(am[b * S + t]);
        out[k] = { logprobs, argmax };
      });
      for (const v of Object.values(res)) v.dispose();
      at = end;
    }
    return out;
  }

  async generate(prompts: Int32Array[], maxNewTokens: number, stopIds: number[]): Promise<Int32Array[]> {
    const results: Int32Array[] = new Array(prompts.length);
    const perRun = Math.max(1, Math.floor(TOKENS_PER_RUN / Math.max(1, ...prompts.map((p) => p.length + maxNewTokens))));
    for (let at = 0; at < prompts.length; at += perRun) {
      const idx = prompts.map((_, i) => i).slice(at, at + perRun);
      const gen = await this.generateBatch(idx.map((i) => prompts[i]), maxNewTokens, stopIds);
      idx.forEach((i, k) => (results[i] = gen[k]));
    }
    return results;
  }

  private async generateBatch(prompts: Int32Array[], maxNewTokens: number, stopIds: number[]): Promise<Int32Array[]> {
    const B = prompts.length;
    const P = Math.max(1, ...prompts.map((p) => p.length));
    const room = this.maxSequenceLength - P;
    const steps = Math.max(0, Math.min(maxNewTokens, room));
    const produced: number[][] = prompts.map(() => []);
    if (steps === 0) return produced.map((p) => Int32Array.from(p));
    const stop = new Set(stopIds);
    const done = new Array<boolean>(B).fill(false);
    // left padding: mask 0 before each prompt, positions count real tokens only
    const ids = new Array<number>(B * P).fill(0);
    const mask = new Array<number>(B * P).fill(0);
    const pos = new Array<number>(B * P).fill(0);
    const nextPos = new Array<number>(B).fill(0);
    prompts.forEach((p, b) => {
      const off = P - p.length;
      for (let t = 0; t < p.length; t++) {
        ids[b * P + off + t] = p[t];
        mask[b * P + off + t] = 1;
        pos[b * P + off + t] = t;
      }
      nextPos[b] = p.length;
    });
    const fullMask: number[][] = prompts.map((_, b) => mask.slice(b * P, (b + 1) * P));
    const prefill = await this.o.sessions.get(this.o.arch, this.o.hops, 'prefill', this.dtype);
    let feeds = this.feeds(prefill.graph);
    feeds.input_ids = i64(ids, [B, P]);
    feeds.attention_mask = i64(mask, [B, P]);
    feeds.position_ids = i64(pos, [B, P]);
    feeds.targets = i64(new Array<number>(B * P).fill(0), [B, P]);
    let res = await runSession(prefill.session, feeds);
    this.o.readback.runs++;
    let argmax = await this.read(res.argmax, 'int64');
    let last = prompts.map((_, b) => Number(argmax[b * P + P - 1]));
    const decode = await this.o.sessions.get(this.o.arch, this.o.hops, 'decode', this.dtype);
    const presentNames = Object.keys(res).filter((k) => k.startsWith('present.'));
    for (let step = 0; ; step++) {
      last.forEach((tok, b) => {
        if (done[b]) return;
        if (stop.has(tok)) done[b] = true;
        else produced[b].push(tok);
      });
      if (step + 1 >= steps || done.every(Boolean)) break;
      feeds = this.feeds(decode.graph);
      feeds.input_ids = i64(last, [B, 1]);
      fullMask.forEach((m) => m.push(1));
      feeds.attention_mask = i64(fullMask.flat(), [B, fullMask[0].length]);
      feeds.position_ids = i64(nextPos.map((p) => p), [B, 1]);
      nextPos.forEach((_, b) => nextPos[b]++);
      feeds.targets = i64(new Array<number>(B).fill(0), [B, 1]);
      for (const name of presentNames) feeds[name.replace('present.', 'past_key_values.')] = res[name];
      const next = await runSession(decode.session, feeds);
      this.o.readback.runs++;
      for (const v of Object.values(res)) v.dispose();
      res = next;
      argmax = await this.read(res.argmax, 'int64');
      last = prompts.map((_, b) => Number(argmax[b]));
    }
    for (const v of Object.values(res)) v.dispose();
    return produced.map((p) => Int32Array.from(p));
  }
}

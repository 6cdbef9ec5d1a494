// The CPU twin of graph.ts: a plain f32 forward pass of every architecture arch.ts parses (Llama,
// Mistral, Qwen2/3, Phi-3, Gemma 2/3), written for clarity, not speed. Tests check onnxruntime's logits against it; it follows transformers'
// eager code (and graph.ts) step by step, accumulating dot products in f64 and storing f32.
import {
  GELU_BETA,
  GELU_KAPPA,
  graphWeights,
  hopsOf,
  isSlidingLayer,
  MASKED_SCORE,
  ropeAttentionScaling,
  ropeInvFreq,
  usesLocalRope,
  type Hop,
  type LlamaArch,
} from './arch';
import { MissingTensorError, ModelError, ShapeMismatchError } from '../errors';

export interface ReferenceOptions {
  /** [batch][seq], 1 = real token, 0 = padding (default all ones). */
  attentionMask?: number[][];
  /** [batch][seq] (default 0..seq−1 in every row, as HF's forward without position_ids). */
  positionIds?: number[][];
  /** A layer path (see GraphOptions.hops); absent = the plain model. */
  hops?: readonly Hop[];
}

const f = Math.fround;

/** Logits [batch, seq, vocab] for `inputIds` [batch][seq]. `weight(name)` returns a tensor's f32 values. */
export function referenceForward(arch: LlamaArch, weight: (name: string) => Float32Array | undefined, inputIds: number[][], opts: ReferenceOptions = {}): Float32Array {
  const hops = hopsOf(arch, opts.hops);
  const W = new Map<string, Float32Array>();
  for (const spec of graphWeights(arch, { hops })) {
    const w = weight(spec.name);
    if (!w) throw new MissingTensorError('reference', spec.name);
    const n = spec.shape.reduce((a, b) => a * b, 1);
    if (w.length !== n) throw new ShapeMismatchError(spec.name, `expected ${n} values (shape [${spec.shape.join(', ')}]), got ${w.length}`);
    W.set(spec.name, w);
  }
  const batch = inputIds.length;
  const seq = inputIds[0]?.length ?? 0;
  const V = arch.vocabSize;
  const out = new Float32Array(batch * seq * V);
  // transformers picks dynamic / longrope frequencies by max(position_ids) + 1 over the whole batch.
  let seqLen = 0;
  for (let b = 0; b < batch; b++) for (const p of opts.positionIds?.[b] ?? inputIds[b].map((_, i) => i)) seqLen = Math.max(seqLen, p + 1);
  for (let b = 0; b < batch; b++) {
    const ids = inputIds[b];
    if (ids.length !== seq) throw new ModelError(`referenceForward: row ${b} has ${ids.length} tokens, row 0 has ${seq}`);
    const mask = opts.attentionMask?.[b] ?? ids.map(() => 1);
    const pos = opts.positionIds?.[b] ?? ids.map((_, i) => i);
    if (mask.length !== seq || pos.length !== seq) throw new ModelError(`referenceForward: row ${b}: attention mask / position ids must have ${seq} entries`);
    out.set(forwardRow(arch, W, hops, ids, mask, pos, seqLen), b * seq * V);
  }
  return out;
}

function forwardRow(arch: LlamaArch, W: Map<string, Float32Array>, hops: Hop[], ids: number[], mask: number[], pos: number[], seqLen: number): Float32Array {
  const { hiddenSize: H, numHeads: NH, numKvHeads: KVH, headDim: D, vocabSize: V } = arch;
  const S = ids.length;
  const w = (name: string): Float32Array => W.get(name)!;
  const norm = (t: Float32Array, name: string): Float32Array => rmsNorm(t, w(name), arch.rmsNormEps, arch.normStyle);

  // embeddings: x[i] = embed_tokens[ids[i]] (Gemma: × √hidden rounded to the checkpoint's dtype)
  const emb = w('model.embed_tokens.weight');
  let x = new Float32Array(S * H);
  for (let i = 0; i < S; i++) {
    if (!(ids[i] >= 0 && ids[i] < V)) throw new ModelError(`referenceForward: token id ${ids[i]} is outside the vocabulary (${V})`);
    x.set(emb.subarray(ids[i] * H, (ids[i] + 1) * H), i * H);
  }
  if (arch.embedScale !== null) {
    const normalizer = arch.embedScale;
    x = x.map((v) => f(v * normalizer));
  }

  const tables = new Map<boolean, { cos: Float32Array; sin: Float32Array }>();
  const tablesFor = (local: boolean) => {
    let t = tables.get(local);
    if (!t) tables.set(local, (t = rotaryTables(arch, pos, local, seqLen)));
    return t;
  };
  for (const { layer, scale } of hops) {
    const p = `model.layers.${layer}.`;
    if (scale !== 1) x = x.map((v) => f(v * scale));

    // self-attention
    const xn = norm(x, p + 'input_layernorm.weight');
    const bias = (k: string): Float32Array | undefined => (arch.attentionBias ? w(`${p}self_attn.${k}_proj.bias`) : undefined);
    let q: Float32Array, k: Float32Array, v: Float32Array;
    if (arch.fusedProjections) {
      const qkv = linear(xn, S, w(p + 'self_attn.qkv_proj.weight'), (NH + 2 * KVH) * D, H);
      [q, k, v] = splitColumns(qkv, S, [NH * D, KVH * D, KVH * D]);
    } else {
      q = linear(xn, S, w(p + 'self_attn.q_proj.weight'), NH * D, H, bias('q'));
      k = linear(xn, S, w(p + 'self_attn.k_proj.weight'), KVH * D, H, bias('k'));
      v = linear(xn, S, w(p + 'self_attn.v_proj.weight'), KVH * D, H, bias('v'));
    }
    if (arch.qkNorm) {
      // per head: rows of D values
      q = rmsNorm(q, w(p + 'self_attn.q_norm.weight'), arch.rmsNormEps, arch.normStyle);
      k = rmsNorm(k, w(p + 'self_attn.k_norm.weight'), arch.rmsNormEps, arch.normStyle);
    }
    const { cos, sin } = tablesFor(usesLocalRope(arch, layer));
    applyRotary(q, S, NH, D, arch.rotaryDim, cos, sin);
    applyRotary(k, S, KVH, D, arch.rotaryDim, cos, sin);
    const ctx = attention(arch, q, k, v, S, mask, isSlidingLayer(arch, layer) ? arch.slidingWindow : null);
    let o = linear(ctx, S, w(p + 'self_attn.o_proj.weight'), H, NH * D, arch.attentionOutBias ? w(p + 'self_attn.o_proj.bias') : undefined);
    if (arch.sandwichNorms) o = norm(o, p + 'post_attention_layernorm.weight');
    x = x.map((val, i) => f(val + o[i]));

    // MLP: down(act(gate(x)) · up(x))
    const I = arch.intermediateSize;
    const xm = norm(x, p + (arch.sandwichNorms ? 'pre_feedforward_layernorm.weight' : 'post_attention_layernorm.weight'));
    let gate: Float32Array, up: Float32Array;
    if (arch.fusedProjections) [gate, up] = splitColumns(linear(xm, S, w(p + 'mlp.gate_up_proj.weight'), 2 * I, H), S, [I, I]);
    else {
      gate = linear(xm, S, w(p + 'mlp.gate_proj.weight'), I, H);
      up = linear(xm, S, w(p + 'mlp.up_proj.weight'), I, H);
    }
    const act = arch.activation === 'silu' ? gate.map((g) => f(g * f(1 / (1 + Math.exp(-g))))) : gate.map(geluTanh);
    let down = linear(act.map((a, i) => f(a * up[i])), S, w(p + 'mlp.down_proj.weight'), H, I);
    if (arch.sandwichNorms) down = norm(down, p + 'post_feedforward_layernorm.weight');
    x = x.map((val, i) => f(val + down[i]));
  }

  const lm = arch.tieWordEmbeddings ? emb : w('lm_head.weight');
  const logits = linear(norm(x, 'model.norm.weight'), S, lm, V, H);
  const cap = arch.finalSoftcap;
  return cap === null ? logits : logits.map((l) => softcap(l, cap));
}

/** cap · tanh(v / cap), stored f32 step by step. */
function softcap(v: number, cap: number): number {
  return f(f(Math.tanh(f(v / cap))) * cap);
}

/** gelu_pytorch_tanh in f32 steps: ½x·(1 + tanh(β·(x + κ·x³))). */
function geluTanh(x: number): number {
  const cube = f(f(x * x) * x);
  const inner = f(f(GELU_BETA) * f(x + f(f(GELU_KAPPA) * cube)));
  return f(f(0.5 * x) * f(1 + f(Math.tanh(inner))));
}

/** Splits rows of concatenated column blocks (Phi-3's fused projections) into one array per block. */
function splitColumns(t: Float32Array, rows: number, widths: number[]): Float32Array[] {
  const total = widths.reduce((a, b) => a + b, 0);
  let at = 0;
  return widths.map((wd) => {
    const out = new Float32Array(rows * wd);
    for (let r = 0; r < rows; r++) out.set(t.subarray(r * total + at, r * total + at + wd), r * wd);
    at += wd;
    return out;
  });
}

/** y[r] = x[r]·Wᵀ + b for rows r < n; W is HF's [out, in]. */
function linear(x: Float32Array, n: number, weight: Float32Array, outDim: number, inDim: number, bias?: Float32Array): Float32Array {
  const y = new Float32Array(n * outDim);
  for (let r = 0; r < n; r++)
    for (let o = 0; o < outDim; o++) {
      let s = 0;
      for (let i = 0; i < inDim; i++) s += x[r * inDim + i] * weight[o * inDim + i];
      y[r * outDim + o] = bias ? f(f(s) + bias[o]) : s;
    }
  return y;
}

/** HF LlamaRMSNorm: w · (x · rsqrt(mean(x²) + eps)), row by row (rows of weight.length); Gemma: (1 + w) · …. */
function rmsNorm(x: Float32Array, weight: Float32Array, eps: number, style: 'llama' | 'gemma'): Float32Array {
  const H = weight.length;
  const y = new Float32Array(x.length);
  for (let r = 0; r < x.length / H; r++) {
    let ss = 0;
    for (let i = 0; i < H; i++) ss += x[r * H + i] * x[r * H + i];
    const inv = f(1 / Math.sqrt(f(f(ss / H) + f(eps))));
    for (let i = 0; i < H; i++) y[r * H + i] = f((style === 'gemma' ? f(1 + weight[i]) : weight[i]) * f(x[r * H + i] * inv));
  }
  return y;
}

/**
 * cos/sin of position·inv_freq, [seq][rotaryDim/2] (the halves of HF's duplicated tables), times
 * the rope's attention factor (yarn, longrope). The frequencies are those of this pass's length
 * L = max(position_ids) + 1, as transformers' dynamic_rope_update picks them.
 */
function rotaryTables(arch: LlamaArch, pos: number[], local: boolean, seqLen: number): { cos: Float32Array; sin: Float32Array } {
  const inv = ropeInvFreq(arch, { local, seqLen });
  const att = ropeAttentionScaling(arch, local);
  const half = inv.length;
  const cos = new Float32Array(pos.length * half);
  const sin = new Float32Array(pos.length * half);
  for (let i = 0; i < pos.length; i++)
    for (let k = 0; k < half; k++) {
      const angle = f(inv[k] * pos[i]);
      cos[i * half + k] = att === 1 ? Math.cos(angle) : f(f(Math.cos(angle)) * att);
      sin[i * half + k] = att === 1 ? Math.sin(angle) : f(f(Math.sin(angle)) * att);
    }
  return { cos, sin };
}

/** In place on t [seq, heads·D]: the first R dims of each head → t·cos + rotate_half(t)·sin, rotate_half(t) = [−t₂, t₁]; the rest unchanged. */
function applyRotary(t: Float32Array, S: number, heads: number, D: number, R: number, cos: Float32Array, sin: Float32Array): void {
  const half = R / 2;
  for (let i = 0; i < S; i++)
    for (let h = 0; h < heads; h++) {
      const o = (i * heads + h) * D;
      for (let k = 0; k < half; k++) {
        const a = t[o + k];
        const b = t[o + k + half];
        const c = cos[i * half + k];
        const s = sin[i * half + k];
        t[o + k] = f(f(a * c) - f(b * s));
        t[o + k + half] = f(f(b * c) + f(a * s));
      }
    }
}

/**
 * Causal (+ sliding window) + padding masked softmax attention with grouped KV heads: query head
 * h reads KV head ⌊h / (NH/KVH)⌋ (HF's repeat_kv). Masked scores get MASKED_SCORE added, exactly as
 * the graph, so a fully masked (padding) query row averages all values instead of producing NaN.
 */
function attention(arch: LlamaArch, q: Float32Array, k: Float32Array, v: Float32Array, S: number, mask: number[], window: number | null): Float32Array {
  const { numHeads: NH, numKvHeads: KVH, headDim: D } = arch;
  const rep = NH / KVH;
  const scale = f(arch.attnScale);
  const cap = arch.attnSoftcap;
  const ctx = new Float32Array(S * NH * D);
  const scores = new Float64Array(S);
  for (let h = 0; h < NH; h++) {
    const kvh = Math.floor(h / rep);
    for (let i = 0; i < S; i++) {
      let max = -Infinity;
      for (let j = 0; j < S; j++) {
        let s = 0;
        for (let d = 0; d < D; d++) s += q[(i * NH + h) * D + d] * k[(j * KVH + kvh) * D + d];
        let sc = f(f(s) * scale);
        if (cap !== null) sc = softcap(sc, cap);
        const visible = j <= i && mask[j] !== 0 && (window === null || i - j < window);
        if (!visible) sc = f(sc + MASKED_SCORE);
        scores[j] = sc;
        if (sc > max) max = sc;
      }
      let sum = 0;
      for (let j = 0; j < S; j++) {
        scores[j] = Math.exp(scores[j] - max);
        sum += scores[j];
      }
      for (let d = 0; d < D; d++) {
        let acc = 0;
        for (let j = 0; j < S; j++) acc += f(scores[j] / sum) * v[(j * KVH + kvh) * D + d];
        ctx[(i * NH + h) * D + d] = acc;
      }
    }
  }
  return ctx;
}

/** log_softmax of each row of `logits` [rows, vocab], in f64, stored f32. */
export function logSoftmax(logits: Float32Array, vocab: number): Float32Array {
  const out = new Float32Array(logits.length);
  for (let r = 0; r < logits.length / vocab; r++) {
    const row = logits.subarray(r * vocab, (r + 1) * vocab);
    let max = -Infinity;
    for (const v of row) if (v > max) max = v;
    let sum = 0;
    for (const v of row) sum += Math.exp(v - max);
    const lse = max + Math.log(sum);
    for (let i = 0; i < vocab; i++) out[r * vocab + i] = row[i] - lse;
  }
  return out;
}

/** The graph's scoring head on CPU: log_softmax(logits)[target] and the first argmax, per position. */
export function scoreLogits(logits: Float32Array, vocab: number, targets: number[][]): { targetLogprobs: Float32Array; argmax: number[] } {
  const flat = targets.flat();
  if (flat.length * vocab !== logits.length) throw new ModelError(`scoreLogits: ${flat.length} targets for ${logits.length / vocab} positions`);
  const lsm = logSoftmax(logits, vocab);
  const targetLogprobs = new Float32Array(flat.length);
  const argmax: number[] = [];
  for (let r = 0; r < flat.length; r++) {
    targetLogprobs[r] = lsm[r * vocab + flat[r]];
    let best = 0;
    for (let i = 1; i < vocab; i++) if (logits[r * vocab + i] > logits[r * vocab + best]) best = i;
    argmax.push(best);
  }
  return { targetLogprobs, argmax };
}

/** HF generate's position ids for a (left-)padded batch: cumsum(mask) − 1, padding positions set to 1. */
export function positionIdsFromMask(mask: number[][]): number[][] {
  return mask.map((row) => {
    let c = 0;
    return row.map((m) => {
      c += m !== 0 ? 1 : 0;
      return m !== 0 ? c - 1 : 1;
    });
  });
}

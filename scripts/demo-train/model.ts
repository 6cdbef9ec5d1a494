// A tiny LlamaForCausalLM in tfjs ops, with Hugging Face semantics throughout, because the studio
// evaluates the written checkpoints with its own ONNX graph and CPU reference: RMSNorm
// (x · rsqrt(mean(x²) + eps) · w), Linear weights stored [out, in] (y = x·Wᵀ, no bias), rotary
// embeddings in the rotate-half convention, grouped-query attention where head h reads kv head
// h / (heads / kvHeads) (HF repeat_kv), causal mask, SiLU-gated MLP, final norm, untied lm_head.
//
// Speed notes for the wasm backend (measured on the 2-core dev machine): a 2-D matMul without
// transposes runs through XNNPACK, but one with transposeA/transposeB (what tfjs's own matMul
// gradient uses) takes the slow loop, ~12× slower. So the linear layers carry a custom gradient
// that transposes explicitly. tf.softmax / tf.logSoftmax are also slow there; both are written
// out with a custom gradient.
import * as tf from '@tensorflow/tfjs';
import { Rng } from '../../src/evolve/rng';

export interface LlamaConfig {
  vocab: number;
  hidden: number;
  intermediate: number;
  layers: number;
  heads: number;
  kvHeads: number;
  maxPositions: number;
  eps: number;
  ropeTheta: number;
}

/** HF tensor name → variable. tfjs variable names are global, so each set gets its own prefix. */
export type Params = Map<string, tf.Variable>;

let paramSets = 0;
function variable(name: string, t: tf.Tensor): tf.Variable {
  const v = tf.variable(t, true, `set${paramSets}/${name}`);
  t.dispose(); // the variable holds its own reference to the data
  return v;
}

/** HF tensor names and shapes, in the order the checkpoint stores them. */
export function tensorShapes(c: LlamaConfig): [string, number[]][] {
  const hd = c.hidden / c.heads;
  const out: [string, number[]][] = [['model.embed_tokens.weight', [c.vocab, c.hidden]]];
  for (let i = 0; i < c.layers; i++) {
    const p = `model.layers.${i}`;
    out.push(
      [`${p}.input_layernorm.weight`, [c.hidden]],
      [`${p}.self_attn.q_proj.weight`, [c.heads * hd, c.hidden]],
      [`${p}.self_attn.k_proj.weight`, [c.kvHeads * hd, c.hidden]],
      [`${p}.self_attn.v_proj.weight`, [c.kvHeads * hd, c.hidden]],
      [`${p}.self_attn.o_proj.weight`, [c.hidden, c.heads * hd]],
      [`${p}.post_attention_layernorm.weight`, [c.hidden]],
      [`${p}.mlp.gate_proj.weight`, [c.intermediate, c.hidden]],
      [`${p}.mlp.up_proj.weight`, [c.intermediate, c.hidden]],
      [`${p}.mlp.down_proj.weight`, [c.hidden, c.intermediate]],
    );
  }
  out.push(['model.norm.weight', [c.hidden]], ['lm_head.weight', [c.vocab, c.hidden]]);
  return out;
}

/**
 * Seeded initialisation, drawn in JS (not tf.random*) so the numbers do not depend on the backend:
 * norms 1; embeddings N(0, 0.02²) like HF's initializer_range; linears N(0, 1/fan_in), with the
 * two projections that write into the residual stream (o_proj, down_proj) scaled by 1/√(2·layers)
 * (GPT-2's residual scaling) so the stream does not grow with depth.
 */
export function initParams(c: LlamaConfig, seed: number): Params {
  const rng = new Rng(seed);
  const params: Params = new Map();
  for (const [name, shape] of tensorShapes(c)) {
    const n = shape.reduce((a, b) => a * b, 1);
    const data = new Float32Array(n);
    if (shape.length === 1) data.fill(1);
    else {
      let std = name === 'model.embed_tokens.weight' ? 0.02 : 1 / Math.sqrt(shape[1]);
      if (name.endsWith('o_proj.weight') || name.endsWith('down_proj.weight')) std /= Math.sqrt(2 * c.layers);
      for (let i = 0; i < n; i++) data[i] = rng.normal() * std;
    }
    params.set(name, variable(name, tf.tensor(data, shape)));
  }
  paramSets++;
  return params;
}

/** Variables holding a copy of the given values (for fine-tuning from a base). */
export function paramsFrom(values: Map<string, Float32Array>, c: LlamaConfig): Params {
  const params: Params = new Map();
  for (const [name, shape] of tensorShapes(c)) {
    const v = values.get(name);
    if (!v) throw new Error(`missing tensor ${name}`);
    params.set(name, variable(name, tf.tensor(v, shape)));
  }
  paramSets++;
  return params;
}

export async function readParams(params: Params): Promise<Map<string, Float32Array>> {
  const out = new Map<string, Float32Array>();
  for (const [name, v] of params) out.set(name, (await v.data()) as Float32Array);
  return out;
}

export function disposeParams(params: Params): void {
  for (const v of params.values()) v.dispose();
}

type GradFunc = (dy: tf.Tensor, saved: tf.Tensor[]) => tf.Tensor | tf.Tensor[];
type Custom = { value: tf.Tensor; gradFunc: GradFunc };
/** tf.customGrad with the save function typed as the last argument (tfjs's own typing cannot say so). */
function customGrad(f: (...args: never[]) => Custom): (...args: tf.Tensor[]) => tf.Tensor {
  return tf.customGrad(f as unknown as Parameters<typeof tf.customGrad>[0]);
}

/** y = x·Wᵀ for x [N, in], W [out, in]; gradients with explicit transposes (see the file note). */
const linear = customGrad((x: tf.Tensor, w: tf.Tensor, save: tf.GradSaveFunc) => {
  save([x, w]);
  const value = tf.matMul(x as tf.Tensor2D, tf.transpose(w) as tf.Tensor2D);
  return {
    value,
    gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
      const [xs, ws] = saved;
      return [tf.matMul(dy as tf.Tensor2D, ws as tf.Tensor2D), tf.matMul(tf.transpose(dy) as tf.Tensor2D, xs as tf.Tensor2D)];
    },
  };
});

/**
 * Embedding lookup as onehot [N, V] · E [V, H]: the wasm backend has no UnsortedSegmentSum, the
 * kernel tf.gather's gradient needs. Only E gets a gradient (the one-hot rows are constants).
 */
function embed(onehot: tf.Tensor, table: tf.Tensor): tf.Tensor {
  const f = customGrad((e: tf.Tensor, save: tf.GradSaveFunc) => {
    save([onehot]);
    return {
      value: tf.matMul(onehot as tf.Tensor2D, e as tf.Tensor2D),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => tf.matMul(tf.transpose(saved[0]) as tf.Tensor2D, dy as tf.Tensor2D),
    };
  });
  return f(table);
}

/** Softmax over the last axis (max-subtracted), with the usual y·(dy − Σ dy·y) gradient. */
const softmaxLast = customGrad((x: tf.Tensor, save: tf.GradSaveFunc) => {
  const e = tf.exp(tf.sub(x, tf.max(x, -1, true)));
  const y = tf.div(e, tf.sum(e, -1, true));
  save([y]);
  return {
    value: y,
    gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
      const [ys] = saved;
      return tf.mul(ys, tf.sub(dy, tf.sum(tf.mul(dy, ys), -1, true)));
    },
  };
});

function rmsNorm(x: tf.Tensor, w: tf.Tensor, eps: number): tf.Tensor {
  return tf.mul(tf.mul(x, tf.rsqrt(tf.add(tf.mean(tf.square(x), -1, true), eps))), w);
}

/** Constants for one sequence length: rotary tables, rotate-half matrix, causal mask. */
interface Consts {
  cos: tf.Tensor; // [S, heads·hd] (one row per position, repeated per head)
  sin: tf.Tensor;
  cosK: tf.Tensor; // [S, kvHeads·hd]
  sinK: tf.Tensor;
  rotQ: tf.Tensor; // [heads·hd, heads·hd] as a Linear weight: x·rotᵀ = rotate_half per head
  rotK: tf.Tensor;
  mask: tf.Tensor; // [group·S, S]: 0 where key j ≤ query i, −1e9 above the diagonal
}

const constCache = new Map<string, Consts>();

function rotateHalfWeight(heads: number, hd: number): tf.Tensor {
  // rotate_half(x) = cat(−x[hd/2:], x[:hd/2]) per head; as W[out, in] with y = x·Wᵀ.
  const n = heads * hd;
  const w = new Float32Array(n * n);
  const half = hd / 2;
  for (let h = 0; h < heads; h++) {
    for (let i = 0; i < half; i++) {
      w[(h * hd + i) * n + h * hd + i + half] = -1; // out i ← −in (i + half)
      w[(h * hd + i + half) * n + h * hd + i] = 1; // out i + half ← in i
    }
  }
  return tf.tensor(w, [n, n]);
}

function consts(c: LlamaConfig, S: number): Consts {
  const key = `${S}`;
  const hit = constCache.get(key);
  if (hit) return hit;
  const hd = c.hidden / c.heads;
  const group = c.heads / c.kvHeads;
  const table = (heads: number, fn: (a: number) => number): tf.Tensor => {
    const t = new Float32Array(S * heads * hd);
    for (let p = 0; p < S; p++) {
      for (let h = 0; h < heads; h++) {
        for (let i = 0; i < hd; i++) {
          // emb = cat(freqs, freqs): dimension i uses inv_freq[i mod hd/2] = θ^(−2(i mod hd/2)/hd)
          const invFreq = 1 / Math.pow(c.ropeTheta, (2 * (i % (hd / 2))) / hd);
          t[p * heads * hd + h * hd + i] = Math.fround(fn(p * invFreq));
        }
      }
    }
    return tf.tensor(t, [S, heads * hd]);
  };
  const mask = new Float32Array(group * S * S);
  for (let g = 0; g < group; g++) {
    for (let i = 0; i < S; i++) for (let j = i + 1; j < S; j++) mask[(g * S + i) * S + j] = -1e9;
  }
  const out: Consts = {
    cos: table(c.heads, Math.cos),
    sin: table(c.heads, Math.sin),
    cosK: table(c.kvHeads, Math.cos),
    sinK: table(c.kvHeads, Math.sin),
    rotQ: rotateHalfWeight(c.heads, hd),
    rotK: rotateHalfWeight(c.kvHeads, hd),
    mask: tf.tensor(mask, [group * S, S]),
  };
  // Created inside whichever tidy/gradient scope first asks; keep them past it.
  for (const t of Object.values(out)) tf.keep(t);
  constCache.set(key, out);
  return out;
}

/** x [B·S, n] → x·cos + rotate_half(x)·sin with the tables broadcast over the batch. */
function rope(x: tf.Tensor, B: number, S: number, cos: tf.Tensor, sin: tf.Tensor, rot: tf.Tensor): tf.Tensor {
  const n = x.shape[1] as number;
  const x3 = tf.reshape(x, [B, S, n]);
  const r3 = tf.reshape(linear(x, rot), [B, S, n]);
  return tf.reshape(tf.add(tf.mul(x3, cos), tf.mul(r3, sin)), [B * S, n]);
}

/** Logits [B·S, vocab] for token ids [B, S] (positions 0..S−1, right padding is harmless). */
export function forward(c: LlamaConfig, p: Params, ids: tf.Tensor2D): tf.Tensor2D {
  const [B, S] = ids.shape;
  const hd = c.hidden / c.heads;
  const group = c.heads / c.kvHeads;
  const k = consts(c, S);
  const get = (name: string): tf.Tensor => {
    const v = p.get(name);
    if (!v) throw new Error(`missing tensor ${name}`);
    return v;
  };
  let h = embed(tf.oneHot(tf.reshape(ids, [B * S]), c.vocab), get('model.embed_tokens.weight')); // [B·S, H]
  for (let l = 0; l < c.layers; l++) {
    const pre = `model.layers.${l}`;
    const x = rmsNorm(h, get(`${pre}.input_layernorm.weight`), c.eps);
    const q = rope(linear(x, get(`${pre}.self_attn.q_proj.weight`)), B, S, k.cos, k.sin, k.rotQ);
    const kk = rope(linear(x, get(`${pre}.self_attn.k_proj.weight`)), B, S, k.cosK, k.sinK, k.rotK);
    const v = linear(x, get(`${pre}.self_attn.v_proj.weight`));
    // Group the query heads that share a kv head into one batch entry: [B·kv, group·S, hd].
    const qg = tf.reshape(tf.transpose(tf.reshape(q, [B, S, c.kvHeads, group, hd]), [0, 2, 3, 1, 4]), [B * c.kvHeads, group * S, hd]);
    const kt = tf.reshape(tf.transpose(tf.reshape(kk, [B, S, c.kvHeads, hd]), [0, 2, 3, 1]), [B * c.kvHeads, hd, S]);
    const vg = tf.reshape(tf.transpose(tf.reshape(v, [B, S, c.kvHeads, hd]), [0, 2, 1, 3]), [B * c.kvHeads, S, hd]);
    const scores = tf.add(tf.mul(tf.matMul(qg as tf.Tensor3D, kt as tf.Tensor3D), 1 / Math.sqrt(hd)), k.mask);
    const att = tf.matMul(softmaxLast(scores) as tf.Tensor3D, vg as tf.Tensor3D); // [B·kv, group·S, hd]
    const merged = tf.reshape(tf.transpose(tf.reshape(att, [B, c.kvHeads, group, S, hd]), [0, 3, 1, 2, 4]), [B * S, c.heads * hd]);
    h = tf.add(h, linear(merged, get(`${pre}.self_attn.o_proj.weight`)));
    const y = rmsNorm(h, get(`${pre}.post_attention_layernorm.weight`), c.eps);
    const gate = linear(y, get(`${pre}.mlp.gate_proj.weight`));
    const up = linear(y, get(`${pre}.mlp.up_proj.weight`));
    h = tf.add(h, linear(tf.mul(tf.mul(gate, tf.sigmoid(gate)), up), get(`${pre}.mlp.down_proj.weight`)));
  }
  return linear(rmsNorm(h, get('model.norm.weight'), c.eps), get('lm_head.weight')) as tf.Tensor2D;
}

/**
 * Mean cross-entropy over the positions where `mask` is 1. logits [N, V], targets/mask [N]
 * (constants): the soft-target loss below against one-hot targets.
 */
export function maskedCrossEntropy(logits: tf.Tensor2D, targets: tf.Tensor1D, mask: tf.Tensor1D): tf.Scalar {
  return maskedSoftCrossEntropy(logits, tf.oneHot(targets, logits.shape[1]) as tf.Tensor2D, mask);
}

/**
 * Mean cross-entropy against soft targets `teacher` (probabilities [N, V], a constant) over the
 * positions where `mask` is 1: −Σ teacher·log softmax(logits), i.e. KL(teacher ‖ model) plus a
 * constant. Gradient (softmax − teacher)·mask / Σmask, written out (see the file note).
 */
export function maskedSoftCrossEntropy(logits: tf.Tensor2D, teacher: tf.Tensor2D, mask: tf.Tensor1D): tf.Scalar {
  const m2 = tf.reshape(mask, [-1, 1]);
  const denom = tf.maximum(tf.sum(mask), 1);
  const ce = customGrad((z: tf.Tensor, save: tf.GradSaveFunc) => {
    const shifted = tf.sub(z, tf.max(z, -1, true));
    const e = tf.exp(shifted);
    const s = tf.sum(e, -1, true);
    const logp = tf.sub(shifted, tf.log(s));
    // The constants ride along in save(): tensors merely captured here are freed after the forward.
    save([tf.div(e, s), teacher, m2, denom]);
    const value = tf.div(tf.neg(tf.sum(tf.mul(tf.mul(logp, teacher), m2))), denom) as tf.Scalar;
    return {
      value,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [probs, t, mk, dn] = saved;
        return tf.mul(tf.div(tf.mul(tf.sub(probs, t), mk), dn), dy);
      },
    };
  });
  return ce(logits) as tf.Scalar;
}

/** Softmax over the last axis of logits [N, V] from a model that is not being trained (no gradient). */
export function probabilities(logits: tf.Tensor2D): tf.Tensor2D {
  return tf.tidy(() => {
    const shifted = tf.sub(logits, tf.max(logits, -1, true));
    const e = tf.exp(shifted);
    return tf.div(e, tf.sum(e, -1, true)) as tf.Tensor2D;
  });
}

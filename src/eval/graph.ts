// Builds the ONNX graph of a decoder-only causal LM (Llama, Mistral, Qwen2, Qwen3, Phi-3, Gemma 2,
// Gemma 3; arch.ts resolves each family to a few switches) in which EVERY weight is a graph input
// named exactly as its safetensors tensor, so merged weights can stay in GPU buffers and be fed with
// ort.Tensor.fromGpuBuffer: one session serves every candidate merge and no weight is ever read
// back. Only small constants (shapes, axes, eps, rotary inverse frequencies) are initializers.
//
// Data inputs follow Hugging Face: input_ids [batch, seq] int64, attention_mask [batch, past+seq]
// int64 (1 = real token; left padding works), position_ids [batch, seq] int64. Output logits
// [batch, seq, vocab] float32. The computation mirrors transformers' eager code: RMSNorm in f32
// (Llama: x·rsqrt(mean(x²)+eps) cast back, times the weight; Gemma: times (1 + weight) in f32),
// optional per-head q/k norms, rotate-half rotary embeddings from position_ids (partial for
// Phi-3; every rope type, dynamic NTK and longrope choosing their frequencies in-graph from
// max(position_ids) + 1 as transformers' dynamic_rope_update does; Gemma 3's local rope on its
// sliding layers), grouped-query attention with a causal + padding (+ per-layer sliding-window)
// mask, optional score soft-capping and softmax in f32, a SiLU- or tanh-GELU-gated MLP (Phi-3's
// fused projections sliced in-graph), Gemma's sandwich norms and √hidden embedding scale, tied or
// separate lm_head and Gemma 2's final logit soft-capping.
//
// Plain standard ops only (opset 17), chosen from what onnxruntime-web's native WebGPU EP runs:
// linear layers are Gemm(transB=1) on the residual stream kept 2-D as [batch·seq, hidden], which
// is exactly HF's x·Wᵀ + b on [out, in] weights without a runtime transpose of the weight. With
// ORT 1.30's WebGPU EP only the int64/bool preparation (shapes, Range, the mask's comparisons,
// position_ids → f32) and the final [batch, seq] reshapes of the scoring head land on the CPU;
// every per-layer node runs on the GPU (checked with verbose session logging). LogSoftmax has no
// WebGPU kernel, which is why the scoring head spells it out.
import {
  GELU_BETA,
  GELU_KAPPA,
  graphWeights,
  hopsOf,
  isSlidingLayer,
  MASKED_SCORE,
  ropeAttentionScaling,
  ropeExponents,
  ropeInvFreq,
  ropeParams,
  usesLocalRope,
  type Hop,
  type LlamaArch,
} from './arch';
import { OnnxBuilder } from './onnx-builder';
import { encodeModel, onnxDataType, type OnnxDtype, type ValueInfo } from './onnx-proto';
import { ModelError } from '../errors';

export type GraphDtype = 'float32' | 'float16';

export interface GraphOptions {
  /**
   * Weights and activations in f32 (everywhere) or f16 (devices with shader-f16, or the wasm EP).
   * The f16 graph still computes RMSNorm statistics, rotary angles and softmax in f32 as HF does,
   * and returns f32 logits. Default 'float32'.
   */
  dtype?: GraphDtype;
  /**
   * 'none' (default): logits only. 'prefill': also outputs `present.{h}.key/.value`
   * [batch, kvHeads, seq, headDim] per hop h. 'decode': additionally takes
   * `past_key_values.{h}.key/.value` [batch, kvHeads, past, headDim] and outputs the
   * concatenated presents [batch, kvHeads, past+seq, headDim]; attention_mask then spans past+seq.
   * Two graphs because a zero-length past tensor is not welcome on every EP.
   */
  kvCache?: 'none' | 'prefill' | 'decode';
  /**
   * A layer path (data-flow merge). Hop i runs physical layer `hops[i].layer` (weights
   * `model.layers.{layer}.*`, shared between hops that name the same layer) and first multiplies
   * the whole hidden state entering it — the residual stream, not just the normed input — by
   * `hops[i].scale`; the first hop's scale therefore scales the embeddings output. Each hop has its
   * own KV cache index h. Absent: the plain model (hop i = layer i, scale 1, no Mul emitted).
   */
  hops?: readonly Hop[];
  /**
   * 'constant' (default): scales baked into the graph (a Mul only where scale ≠ 1). 'input': a
   * `hop_scales` float32 [numHops] input instead, so one session serves every set of scales.
   */
  hopScales?: 'constant' | 'input';
  /**
   * Adds input `targets` int64 [batch, seq] and outputs `target_logprobs` float32 [batch, seq]
   * (log_softmax(logits)[target]) and `argmax` int64 [batch, seq] (first maximum), so callers
   * need not read back full logits. Targets must lie in [0, vocab) (use any valid id where the
   * value is ignored).
   */
  scoring?: boolean;
  /** Output `logits` (default true); may be false only with `scoring`. */
  logits?: boolean;
}

export interface GraphTensor {
  name: string;
  /** Numbers are fixed sizes, strings symbolic ones (batch, sequence, past_sequence, total_sequence). */
  shape: (number | string)[];
  dtype: 'float32' | 'float16' | 'int64';
}

export interface BuiltGraph {
  /** The ONNX ModelProto bytes (IR 8, opset 17). */
  bytes: Uint8Array;
  /** One input per weight tensor, named as in safetensors; dtype is the graph's dtype. */
  weightInputs: { name: string; shape: number[]; dtype: GraphDtype }[];
  /** Data inputs, in graph order (input_ids, attention_mask, position_ids, then the optional ones). */
  inputs: GraphTensor[];
  /** Output names, in graph order. */
  outputs: string[];
  /** The hops the graph runs (the resolved plain path when no hops were given). */
  hops: Hop[];
}

export function buildGraph(arch: LlamaArch, opts: GraphOptions = {}): BuiltGraph {
  const dtype: GraphDtype = opts.dtype ?? 'float32';
  const f16 = dtype === 'float16';
  const kv = opts.kvCache ?? 'none';
  const hops = hopsOf(arch, opts.hops);
  const scalesInput = opts.hopScales === 'input';
  const scoring = opts.scoring ?? false;
  const withLogits = opts.logits ?? true;
  if (!withLogits && !scoring) throw new ModelError('buildGraph: a graph without logits needs scoring: true (it would have no output)');

  const { hiddenSize: H, numHeads: NH, numKvHeads: KVH, headDim: D, vocabSize: V } = arch;
  const rep = NH / KVH;
  const g = new OnnxBuilder();
  const cast = (x: string, to: OnnxDtype): string => g.op('Cast', [x], { to: { i: onnxDataType(to) } });
  const toCompute = (x: string): string => (f16 ? cast(x, 'float16') : x);
  const unsqueeze = (x: string, axes: number[]): string => g.op('Unsqueeze', [x, g.i64(axes)]);
  const reshape = (x: string, shape: string): string => g.op('Reshape', [x, shape]);
  const gemm = (x: string, w: string, bias?: string): string => g.op('Gemm', bias ? [x, w, bias] : [x, w], { transB: { i: 1 } });
  const scalarC = (v: number): string => g.constant(dtype, [v], []);

  // ---- data inputs
  const seqT = kv === 'decode' ? 'total_sequence' : 'sequence';
  const inputs: GraphTensor[] = [
    { name: 'input_ids', shape: ['batch', 'sequence'], dtype: 'int64' },
    { name: 'attention_mask', shape: ['batch', seqT], dtype: 'int64' },
    { name: 'position_ids', shape: ['batch', 'sequence'], dtype: 'int64' },
  ];
  if (scalesInput) inputs.push({ name: 'hop_scales', shape: [hops.length], dtype: 'float32' });
  if (kv === 'decode')
    for (let h = 0; h < hops.length; h++)
      for (const kind of ['key', 'value'])
        inputs.push({ name: `past_key_values.${h}.${kind}`, shape: ['batch', KVH, 'past_sequence', D], dtype });
  if (scoring) inputs.push({ name: 'targets', shape: ['batch', 'sequence'], dtype: 'int64' });
  const outputs: GraphTensor[] = [];

  // ---- shapes computed once: [B, S] and the per-head views of the 2-D activations
  const shapeBS = g.op('Shape', ['input_ids']);
  const sizeS = g.op('Gather', [shapeBS, g.i64s(1)], { axis: { i: 0 } });
  const sizeT = g.op('Gather', [g.op('Shape', ['attention_mask']), g.i64s(1)], { axis: { i: 0 } });
  const shapeQ = g.op('Concat', [shapeBS, g.i64([NH, D])], { axis: { i: 0 } });
  const shapeKV = KVH === NH ? shapeQ : g.op('Concat', [shapeBS, g.i64([KVH, D])], { axis: { i: 0 } });

  // ---- embeddings → residual stream x [B·S, H]; Gemma scales them by √hidden, a constant already
  // rounded to the checkpoint's dtype (arch.ts; then to the compute dtype, exact for bf16 values).
  let x = reshape(g.op('Gather', ['model.embed_tokens.weight', 'input_ids'], { axis: { i: 0 } }), g.i64([-1, H]));
  if (arch.embedScale !== null) x = g.op('Mul', [x, scalarC(arch.embedScale)]);

  // ---- the forward pass's length L = max(position_ids) + 1 (int64 scalar), as transformers'
  // dynamic_rope_update reads it: dynamic NTK and longrope pick their frequencies by it.
  let seqLenI: string | undefined;
  const seqLen = (): string => (seqLenI ??= g.op('Add', [g.op('ReduceMax', ['position_ids'], { keepdims: { i: 0 } }), g.i64s(1)]));
  const c32 = (v: number): string => g.constant('float32', [v], []);

  /** Inverse frequencies [R/2] (f32) of the global or local rotary embedding, for this pass's L. */
  const invFreqOf = (local: boolean): string => {
    const { theta, scaling: s } = ropeParams(arch, local);
    const plain = g.constant('float32', ropeInvFreq(arch, { local }));
    if (s?.type === 'longrope') {
      const long = g.constant('float32', ropeInvFreq(arch, { local, seqLen: s.originalMaxPositionEmbeddings + 1 }));
      return g.op('Where', [g.op('Greater', [seqLen(), g.i64s(s.originalMaxPositionEmbeddings)]), long, plain]);
    }
    if (s?.type === 'dynamic') {
      // θ' = θ·(factor·L/max − (factor − 1))^(R/(R−2)), then 1/θ'^(2k/R), step by step in f32.
      const R = arch.rotaryDim;
      let r = g.op('Mul', [cast(seqLen(), 'float32'), c32(s.factor)]);
      r = g.op('Div', [r, c32(s.maxPositionEmbeddings)]);
      r = g.op('Sub', [r, c32(s.factor - 1)]);
      r = g.op('Pow', [r, c32(R / (R - 2))]);
      const base = g.op('Mul', [r, c32(theta)]);
      const grown = g.op('Reciprocal', [g.op('Pow', [base, g.constant('float32', ropeExponents(R))])]);
      return g.op('Where', [g.op('Greater', [seqLen(), g.i64s(s.maxPositionEmbeddings)]), grown, plain]);
    }
    return plain;
  };

  // ---- rotary tables [B, 1, S, R] from position_ids, in f32 as HF (then cast to the compute dtype).
  // sinSigned = [−sin, sin] folds rotate_half's negation in: rotate_half(t)·sin = swap_halves(t)·sinSigned.
  // yarn / longrope multiply cos and sin by their attention factor (in f32, as HF).
  const R = arch.rotaryDim;
  const tableCache = new Map<boolean, { cos: string; sinSigned: string }>();
  const tables = (local: boolean): { cos: string; sinSigned: string } => {
    let t = tableCache.get(local);
    if (t) return t;
    const angles = g.op('Mul', [unsqueeze(cast('position_ids', 'float32'), [2]), invFreqOf(local)]);
    let [cosH, sinH] = cosSin(g, angles);
    const att = ropeAttentionScaling(arch, local);
    if (att !== 1) {
      cosH = g.op('Mul', [cosH, c32(att)]);
      sinH = g.op('Mul', [sinH, c32(att)]);
    }
    t = {
      cos: toCompute(unsqueeze(g.op('Concat', [cosH, cosH], { axis: { i: -1 } }), [1])),
      sinSigned: toCompute(unsqueeze(g.op('Concat', [g.op('Neg', [sinH]), sinH], { axis: { i: -1 } }), [1])),
    };
    tableCache.set(local, t);
    return t;
  };
  /** t [B, heads, S, D]: the first R dimensions rotated (all of them unless partial_rotary_factor), the rest passed. */
  const rope = (t: string, local: boolean, out?: string): string => {
    const { cos, sinSigned } = tables(local);
    const rot = R === D ? t : g.op('Slice', [t, g.i64([0]), g.i64([R]), g.i64([3])]);
    const first = g.op('Slice', [rot, g.i64([0]), g.i64([R / 2]), g.i64([3])]);
    const second = g.op('Slice', [rot, g.i64([R / 2]), g.i64([R]), g.i64([3])]);
    const swapped = g.op('Concat', [second, first], { axis: { i: 3 } });
    if (R === D) return g.op('Add', [g.op('Mul', [rot, cos]), g.op('Mul', [swapped, sinSigned])], {}, out);
    const rotated = g.op('Add', [g.op('Mul', [rot, cos]), g.op('Mul', [swapped, sinSigned])]);
    return g.op('Concat', [rotated, g.op('Slice', [t, g.i64([R]), g.i64([D]), g.i64([3])])], { axis: { i: 3 } }, out);
  };

  // ---- additive attention masks [B, 1, S, T] (f32): key j visible to query i (cache position
  // T−S+i) when j ≤ T−S+i, attention_mask[b, j] ≠ 0 and, in a sliding-window layer, T−S+i − j < window.
  const keyPos = g.op('Range', [g.i64s(0), sizeT, g.i64s(1)]);
  const queryPos = g.op('Range', [g.op('Sub', [sizeT, sizeS]), sizeT, g.i64s(1)]);
  const qCol = unsqueeze(queryPos, [1]);
  const kRow = unsqueeze(keyPos, [0]);
  const padVisible = unsqueeze(cast('attention_mask', 'bool'), [1, 2]);
  const maskCache = new Map<boolean, string>();
  const maskFor = (sliding: boolean): string => {
    let m = maskCache.get(sliding);
    if (m) return m;
    let visible = g.op('LessOrEqual', [kRow, qCol]);
    if (sliding) visible = g.op('And', [visible, g.op('Less', [g.op('Sub', [qCol, kRow]), g.i64s(arch.slidingWindow!)])]);
    visible = g.op('And', [visible, padVisible]);
    m = g.op('Where', [visible, g.constant('float32', [0], []), g.constant('float32', [MASKED_SCORE], [])]);
    maskCache.set(sliding, m);
    return m;
  };

  /**
   * RMSNorm over the last axis, statistics in f32. Llama style: the normalised value cast to the
   * compute dtype, times the weight. Gemma style: times (1 + weight) in f32, then cast.
   */
  const rmsNorm = (t: string, weight: string): string => {
    const tf = f16 ? cast(t, 'float32') : t;
    const meanSq = g.op('ReduceMean', [g.op('Mul', [tf, tf])], { axes: { ints: [-1] }, keepdims: { i: 1 } });
    const inv = g.op('Reciprocal', [g.op('Sqrt', [g.op('Add', [meanSq, c32(arch.rmsNormEps)])])]);
    const normed = g.op('Mul', [tf, inv]);
    if (arch.normStyle === 'gemma') return toCompute(g.op('Mul', [normed, g.op('Add', [f16 ? cast(weight, 'float32') : weight, c32(1)])]));
    return g.op('Mul', [toCompute(normed), weight]);
  };
  /** [B·S, heads·D] → [B, heads, S, D], with the per-head q/k norm (Qwen3, Gemma 3) before the transpose. */
  const heads = (t: string, shape: string, norm?: string, out?: string): string => {
    let v = reshape(t, shape);
    if (norm) v = rmsNorm(v, norm);
    return g.op('Transpose', [v], { perm: { ints: [0, 2, 1, 3] } }, out);
  };
  const slice2d = (t: string, from: number, to: number): string => g.op('Slice', [t, g.i64([from]), g.i64([to]), g.i64([1])]);
  const softcap = (t: string, cap: number | null): string => (cap === null ? t : g.op('Mul', [g.op('Tanh', [g.op('Div', [t, scalarC(cap)])]), scalarC(cap)]));

  const attnScale = scalarC(arch.attnScale);
  for (let h = 0; h < hops.length; h++) {
    const { layer, scale } = hops[h];
    const p = `model.layers.${layer}.`;
    const sliding = isSlidingLayer(arch, layer);
    const local = usesLocalRope(arch, layer);
    if (scalesInput) x = g.op('Mul', [x, toCompute(g.op('Gather', ['hop_scales', g.i64s(h)], { axis: { i: 0 } }))]);
    else if (scale !== 1) x = g.op('Mul', [x, scalarC(scale)]);

    // self-attention
    const xn = rmsNorm(x, p + 'input_layernorm.weight');
    const bias = (k: string): string | undefined => (arch.attentionBias ? `${p}self_attn.${k}_proj.bias` : undefined);
    let qFlat: string, kFlat: string, vFlat: string;
    if (arch.fusedProjections) {
      // Phi-3: qkv_proj rows are [q (NH·D) | k (KVH·D) | v (KVH·D)].
      const qkv = gemm(xn, p + 'self_attn.qkv_proj.weight');
      qFlat = slice2d(qkv, 0, NH * D);
      kFlat = slice2d(qkv, NH * D, (NH + KVH) * D);
      vFlat = slice2d(qkv, (NH + KVH) * D, (NH + 2 * KVH) * D);
    } else {
      qFlat = gemm(xn, p + 'self_attn.q_proj.weight', bias('q'));
      kFlat = gemm(xn, p + 'self_attn.k_proj.weight', bias('k'));
      vFlat = gemm(xn, p + 'self_attn.v_proj.weight', bias('v'));
    }
    const qNorm = arch.qkNorm ? p + 'self_attn.q_norm.weight' : undefined;
    const kNorm = arch.qkNorm ? p + 'self_attn.k_norm.weight' : undefined;
    const q = rope(heads(qFlat, shapeQ, qNorm), local);
    const presentKey = kv === 'none' ? undefined : `present.${h}.key`;
    const presentValue = kv === 'none' ? undefined : `present.${h}.value`;
    let k = rope(heads(kFlat, shapeKV, kNorm), local, kv === 'prefill' ? presentKey : undefined);
    let v = heads(vFlat, shapeKV, undefined, kv === 'prefill' ? presentValue : undefined);
    if (kv === 'decode') {
      k = g.op('Concat', [`past_key_values.${h}.key`, k], { axis: { i: 2 } }, presentKey);
      v = g.op('Concat', [`past_key_values.${h}.value`, v], { axis: { i: 2 } }, presentValue);
    }
    if (presentKey && presentValue)
      outputs.push({ name: presentKey, shape: ['batch', KVH, seqT, D], dtype }, { name: presentValue, shape: ['batch', KVH, seqT, D], dtype });

    // Grouped-query attention without materialising repeated K/V: the rep query heads that share a
    // KV head are contiguous (HF's repeat_kv order), so [B, NH, S, D] views as [B, KVH, rep·S, D].
    const qg = rep > 1 ? reshape(q, g.i64([0, KVH, -1, D])) : q;
    let scores = g.op('MatMul', [qg, g.op('Transpose', [k], { perm: { ints: [0, 1, 3, 2] } })]);
    if (rep > 1) scores = reshape(scores, g.i64([0, NH, -1, 0]));
    scores = softcap(g.op('Mul', [scores, attnScale]), arch.attnSoftcap);
    if (f16) scores = cast(scores, 'float32');
    let probs = g.op('Softmax', [g.op('Add', [scores, maskFor(sliding)])], { axis: { i: -1 } });
    probs = toCompute(probs);
    if (rep > 1) probs = reshape(probs, g.i64([0, KVH, -1, 0]));
    let ctx = g.op('MatMul', [probs, v]);
    if (rep > 1) ctx = reshape(ctx, g.i64([0, NH, -1, D]));
    ctx = reshape(g.op('Transpose', [ctx], { perm: { ints: [0, 2, 1, 3] } }), g.i64([-1, NH * D]));
    let attnOut = gemm(ctx, p + 'self_attn.o_proj.weight', arch.attentionOutBias ? p + 'self_attn.o_proj.bias' : undefined);
    if (arch.sandwichNorms) attnOut = rmsNorm(attnOut, p + 'post_attention_layernorm.weight');
    x = g.op('Add', [x, attnOut]);

    // gated MLP: down(act(gate(x)) · up(x)), act = SiLU or tanh-GELU
    const xm = rmsNorm(x, p + (arch.sandwichNorms ? 'pre_feedforward_layernorm.weight' : 'post_attention_layernorm.weight'));
    let gate: string, up: string;
    if (arch.fusedProjections) {
      // Phi-3: gate_up_proj rows are [gate (I) | up (I)].
      const gu = gemm(xm, p + 'mlp.gate_up_proj.weight');
      gate = slice2d(gu, 0, arch.intermediateSize);
      up = slice2d(gu, arch.intermediateSize, 2 * arch.intermediateSize);
    } else {
      gate = gemm(xm, p + 'mlp.gate_proj.weight');
      up = gemm(xm, p + 'mlp.up_proj.weight');
    }
    let act: string;
    if (arch.activation === 'silu') act = g.op('Mul', [gate, g.op('Sigmoid', [gate])]);
    else {
      // gelu_pytorch_tanh: ½x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))
      const cube = g.op('Mul', [g.op('Mul', [gate, gate]), gate]);
      const inner = g.op('Mul', [g.op('Add', [gate, g.op('Mul', [cube, scalarC(GELU_KAPPA)])]), scalarC(GELU_BETA)]);
      act = g.op('Mul', [g.op('Mul', [gate, scalarC(0.5)]), g.op('Add', [g.op('Tanh', [inner]), scalarC(1)])]);
    }
    let mlpOut = gemm(g.op('Mul', [act, up]), p + 'mlp.down_proj.weight');
    if (arch.sandwichNorms) mlpOut = rmsNorm(mlpOut, p + 'post_feedforward_layernorm.weight');
    x = g.op('Add', [x, mlpOut]);
  }

  // ---- head: logits (Gemma 2: soft-capped in the model dtype, as HF), then f32 (HF's logits.float())
  const lmHead = arch.tieWordEmbeddings ? 'model.embed_tokens.weight' : 'lm_head.weight';
  let logits2d = softcap(gemm(rmsNorm(x, 'model.norm.weight'), lmHead), arch.finalSoftcap);
  if (f16) logits2d = cast(logits2d, 'float32');
  if (withLogits) {
    g.op('Reshape', [logits2d, g.op('Concat', [shapeBS, g.i64([V])], { axis: { i: 0 } })], {}, 'logits');
    outputs.push({ name: 'logits', shape: ['batch', 'sequence', V], dtype: 'float32' });
  }
  if (scoring) {
    // log_softmax(l)[t] = l[t] − max − log Σ exp(l − max), spelled out: the WebGPU EP has no
    // LogSoftmax kernel, and a CPU fallback would copy the full logits off the GPU.
    const max = g.op('ReduceMax', [logits2d], { axes: { ints: [1] }, keepdims: { i: 1 } });
    const sumExp = g.op('ReduceSum', [g.op('Exp', [g.op('Sub', [logits2d, max])]), g.i64([1])], { keepdims: { i: 1 } });
    const picked = g.op('GatherElements', [logits2d, reshape('targets', g.i64([-1, 1]))], { axis: { i: 1 } });
    const logProb = g.op('Sub', [g.op('Sub', [picked, max]), g.op('Log', [sumExp])]);
    g.op('Reshape', [logProb, shapeBS], {}, 'target_logprobs');
    g.op('Reshape', [g.op('ArgMax', [logits2d], { axis: { i: 1 }, keepdims: { i: 0 } }), shapeBS], {}, 'argmax');
    outputs.push({ name: 'target_logprobs', shape: ['batch', 'sequence'], dtype: 'float32' }, { name: 'argmax', shape: ['batch', 'sequence'], dtype: 'int64' });
  }

  const weightInputs = graphWeights(arch, { hops }).map((w) => ({ name: w.name, shape: w.shape, dtype }));
  const valueInfos: ValueInfo[] = [...inputs, ...weightInputs].map((t) => ({ name: t.name, dtype: t.dtype, shape: t.shape }));
  const bytes = encodeModel({
    irVersion: 8,
    opset: [{ domain: '', version: 17 }],
    producerName: 'merge-studio',
    graph: { name: 'llama', nodes: g.nodes, initializers: g.initializers, inputs: valueInfos, outputs },
  });
  return { bytes, weightInputs, inputs, outputs: outputs.map((o) => o.name), hops };
}

/**
 * cos and sin of an f32 tensor of angles from Mul/Add only. GPU trig is not precise enough: WGSL
 * only promises 2⁻¹¹ absolute error inside [−π, π] (SwiftShader's Cos/Sin are off by 1.9e-4) and
 * nothing outside it, while rotary angles reach hundreds of radians. So: Cody–Waite reduction
 * r = a − k·2π with 2π split in three f32 parts (k·C1 is exact for k < 2¹⁶), Taylor polynomials of
 * the half angle h = r/2 ∈ [−π/2, π/2] (truncation < 6e-8), then cos r = (cos h − sin h)(cos h + sin h)
 * and sin r = 2 sin h cos h. Accurate to a few 1e-7 for angles below ~1e5.
 */
function cosSin(g: OnnxBuilder, a: string): [string, string] {
  const c = (v: number): string => g.constant('float32', [v], []);
  const mul = (x: string, y: string): string => g.op('Mul', [x, y]);
  const add = (x: string, y: string): string => g.op('Add', [x, y]);
  const sub = (x: string, y: string): string => g.op('Sub', [x, y]);
  const TWO_PI = 2 * Math.PI;
  const C1 = 6.28125; // 201/32: 8 significant bits
  const C2 = Math.fround(TWO_PI - C1);
  const C3 = Math.fround(TWO_PI - C1 - C2);
  const k = g.op('Floor', [add(mul(a, c(1 / TWO_PI)), c(0.5))]);
  const r = sub(sub(sub(a, mul(k, c(C1))), mul(k, c(C2))), mul(k, c(C3)));
  const h = mul(r, c(0.5));
  const h2 = mul(h, h);
  // Horner in h²: coefficients from the highest power down.
  const horner = (coeffs: number[]): string => {
    let acc = c(coeffs[0]);
    for (const co of coeffs.slice(1)) acc = add(mul(acc, h2), c(co));
    return acc;
  };
  const fact = (n: number): number => (n <= 1 ? 1 : n * fact(n - 1));
  const sinH = mul(h, horner([11, 9, 7, 5, 3, 1].map((n, i) => (i % 2 === 0 ? -1 : 1) / fact(n))));
  const cosH = horner([12, 10, 8, 6, 4, 2, 0].map((n, i) => (i % 2 === 0 ? 1 : -1) / fact(n)));
  const cosR = mul(sub(cosH, sinH), add(cosH, sinH));
  const sinR = mul(mul(sinH, cosH), c(2));
  return [cosR, sinR];
}

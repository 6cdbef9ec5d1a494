// The architecture facts the evaluation graph needs, read from a Hugging Face config.json
// (LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM, Qwen3ForCausalLM, Phi3ForCausalLM,
// Gemma2ForCausalLM, Gemma3ForCausalLM), plus what both the ONNX graph and the CPU reference derive
// from them: the rotary inverse frequencies of every rope type transformers has (default, linear,
// dynamic, yarn, longrope, llama3) and the list of weight tensors a forward pass consumes.
// Pure TypeScript: runs in Node and the browser.
//
// The families differ in a handful of switches, all resolved here so graph.ts and reference.ts only
// read flags: Qwen3 normalises q and k per head (q_norm / k_norm); Phi-3 fuses q/k/v into qkv_proj
// and gate/up into gate_up_proj (and may rotate only part of each head); Gemma 2 and 3 use
// (1 + w) RMSNorms, scale the embeddings by √hidden, wrap attention and MLP in pre/post norms, use a
// tanh-GELU MLP, soft-cap attention scores and logits (Gemma 2), alternate sliding-window layers
// with full ones and scale queries by query_pre_attn_scalar^−½; Gemma 3 adds q/k norms and a
// separate rope base for its sliding layers.
import { ModelError, RecipeError, UnsupportedError } from '../errors';
import { toHalfBits } from './onnx-proto';

export type LlamaFamily = 'llama' | 'mistral' | 'qwen2' | 'qwen3' | 'phi3' | 'gemma2' | 'gemma3';

/** Llama 3's rope_scaling (rope_type "llama3"): low frequencies divided by `factor`, a smooth ramp between. */
export interface Llama3RopeScaling {
  type: 'llama3';
  factor: number;
  lowFreqFactor: number;
  highFreqFactor: number;
  originalMaxPositionEmbeddings: number;
}

/** Position interpolation: every frequency divided by `factor`. */
export interface LinearRopeScaling {
  type: 'linear';
  factor: number;
}

/**
 * Dynamic NTK: while a forward pass's length L = max(position_ids) + 1 exceeds
 * `maxPositionEmbeddings`, the base grows to θ·(factor·L/max − (factor − 1))^(d/(d−2)); below it the
 * default frequencies apply (transformers' `dynamic_rope_update` on a freshly loaded model).
 */
export interface DynamicRopeScaling {
  type: 'dynamic';
  factor: number;
  maxPositionEmbeddings: number;
}

/** YaRN: interpolated low frequencies, extrapolated high ones, a linear ramp between; cos/sin × attentionFactor. */
export interface YarnRopeScaling {
  type: 'yarn';
  factor: number;
  attentionFactor: number;
  betaFast: number;
  betaSlow: number;
  /** The context the ramp's correction range is computed for. */
  originalMaxPositionEmbeddings: number;
  truncate: boolean;
}

/** LongRoPE (Phi-3): per-frequency divisors, `long` once L exceeds the original context, `short` otherwise; cos/sin × attentionFactor. */
export interface LongRopeScaling {
  type: 'longrope';
  shortFactor: number[];
  longFactor: number[];
  originalMaxPositionEmbeddings: number;
  attentionFactor: number;
}

export type RopeScaling = Llama3RopeScaling | LinearRopeScaling | DynamicRopeScaling | YarnRopeScaling | LongRopeScaling;
export type RopeType = RopeScaling['type'];

/** One rotary embedding: base θ and scaling (null = transformers' "default"). */
export interface RopeParams {
  theta: number;
  scaling: RopeScaling | null;
}

export interface LlamaArch {
  family: LlamaFamily;
  vocabSize: number;
  hiddenSize: number;
  intermediateSize: number;
  numLayers: number;
  numHeads: number;
  numKvHeads: number;
  headDim: number;
  /** Leading dimensions of each head that are rotated (Phi-3's partial_rotary_factor; else headDim). */
  rotaryDim: number;
  rmsNormEps: number;
  ropeTheta: number;
  ropeScaling: RopeScaling | null;
  /** Gemma 3: the rotary embedding of its sliding-window layers (rope_local_base_freq, default rope). */
  localRope: RopeParams | null;
  /** q_proj, k_proj and v_proj carry a bias (Qwen2 always; Llama, Qwen3, Gemma with attention_bias). */
  attentionBias: boolean;
  /** o_proj carries a bias (attention_bias outside Qwen2, whose o_proj has none). */
  attentionOutBias: boolean;
  /** lm_head shares model.embed_tokens.weight (no lm_head.weight tensor). */
  tieWordEmbeddings: boolean;
  maxPositionEmbeddings: number;
  /** The longest sequence one forward pass accepts (max_position_embeddings; dynamic NTK: factor × that). */
  maxSequenceLength: number;
  /** Sliding window (a key j is seen by query q when q − window < j ≤ q) of the layers that have one; null = none. */
  slidingWindow: number | null;
  /** Which layers slide: 'all', every layer but each pattern-th ({pattern}), or an explicit list (config layer_types). */
  slidingLayers: 'all' | { pattern: number } | boolean[];
  /** Multiplies q·kᵀ: head_dim^−½, Gemma query_pre_attn_scalar^−½. */
  attnScale: number;
  /** Gemma 2: scores → cap·tanh(scores/cap) before the mask; null = none. */
  attnSoftcap: number | null;
  /** Gemma 2: logits → cap·tanh(logits/cap); null = none. */
  finalSoftcap: number | null;
  /**
   * Gemma: embeddings × √hidden_size, that constant rounded to the checkpoint's dtype (config
   * torch_dtype / dtype: bfloat16 → 34.0 for hidden 1152, not 33.94), as transformers builds it in
   * the dtype the model runs in; null for the other families.
   */
  embedScale: number | null;
  /** 'llama': w · x̂ (x̂ cast to the compute dtype first); 'gemma': (1 + w) · x̂ in f32. */
  normStyle: 'llama' | 'gemma';
  /** Gemma 2/3: post_attention_layernorm on the attention output, pre_/post_feedforward_layernorm around the MLP. */
  sandwichNorms: boolean;
  /** Qwen3, Gemma 3: q_norm / k_norm over each head before the rotary embedding. */
  qkNorm: boolean;
  /** Phi-3: self_attn.qkv_proj and mlp.gate_up_proj instead of separate projections. */
  fusedProjections: boolean;
  /** MLP gate activation: SiLU, or GELU's tanh approximation (gelu_pytorch_tanh). */
  activation: 'silu' | 'gelu_tanh';
  bosTokenId: number[];
  eosTokenId: number[];
}

/**
 * One step of a layer path (data-flow merge). `layer` indexes the pool of physical layers whose
 * weights are the inputs `model.layers.{layer}.*`; the same layer may appear at several hops.
 * `scale` multiplies the whole hidden state (residual stream) entering the hop, before its
 * input_layernorm — mergekit/Sakana's data-flow "input scale" in Hugging Face semantics.
 */
export interface Hop {
  layer: number;
  scale: number;
}

/**
 * Added to masked attention scores before the f32 softmax (graph and reference alike): finite, so
 * a fully masked query row (a padding position) gets a uniform distribution instead of NaN.
 */
export const MASKED_SCORE = -1e30;

const ARCHITECTURES: Record<string, LlamaFamily> = {
  LlamaForCausalLM: 'llama',
  MistralForCausalLM: 'mistral',
  Qwen2ForCausalLM: 'qwen2',
  Qwen3ForCausalLM: 'qwen3',
  Phi3ForCausalLM: 'phi3',
  Gemma2ForCausalLM: 'gemma2',
  Gemma3ForCausalLM: 'gemma3',
};
const MODEL_TYPES: Record<string, LlamaFamily> = { llama: 'llama', mistral: 'mistral', qwen2: 'qwen2', qwen3: 'qwen3', phi3: 'phi3', gemma2: 'gemma2', gemma3_text: 'gemma3' };

/** The config.json classes the evaluator runs, for messages. */
export const SUPPORTED_ARCHITECTURES: readonly string[] = Object.keys(ARCHITECTURES);

const ROPE_TYPES: readonly string[] = ['default', 'linear', 'dynamic', 'yarn', 'longrope', 'llama3'];

type Json = Record<string, unknown>;

const isGemma = (f: LlamaFamily): boolean => f === 'gemma2' || f === 'gemma3';

/** Parses a config.json (its text or the parsed object); `file` names it in every error. */
export function parseArch(config: string | object, file: string): LlamaArch {
  let c: Json;
  if (typeof config === 'string') {
    try {
      c = JSON.parse(config) as Json;
    } catch (e) {
      throw new ModelError(`${file}: not valid JSON (${(e as Error).message})`, { file });
    }
  } else c = config as Json;
  if (c === null || typeof c !== 'object' || Array.isArray(c)) throw new ModelError(`${file}: expected a JSON object`, { file });

  const family = familyOf(c, file);
  const has = (key: string): boolean => c[key] !== undefined && c[key] !== null;
  const int = (key: string, fallback?: number): number => {
    const v = c[key] ?? fallback;
    if (v === undefined || v === null) throw new ModelError(`${file}: "${key}" is missing (required for ${familyName(family)})`, { file, key });
    if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0) throw new ModelError(`${file}: "${key}" must be a positive integer, found ${JSON.stringify(v)}`, { file, key });
    return v;
  };
  const num = (key: string, fallback: number, obj: Json = c): number => {
    const v = obj[key] ?? fallback;
    if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) throw new ModelError(`${file}: "${key}" must be a positive number, found ${JSON.stringify(v)}`, { file, key });
    return v;
  };
  /** A positive number, or null when the key is null (a default when absent). */
  const optNum = (key: string, fallback: number | null): number | null => {
    if (!(key in c)) return fallback;
    if (c[key] === null) return null;
    return num(key, 0);
  };
  const bool = (key: string, fallback: boolean): boolean => {
    const v = c[key] ?? fallback;
    if (typeof v !== 'boolean') throw new ModelError(`${file}: "${key}" must be true or false, found ${JSON.stringify(v)}`, { file, key });
    return v;
  };

  // ---- MLP activation (Gemma names it hidden_activation)
  let activation: LlamaArch['activation'];
  if (isGemma(family)) {
    // Gemma2Config / Gemma3TextConfig build the MLP from hidden_activation alone (hidden_act is ignored).
    const key = 'hidden_activation';
    const act = c[key] ?? 'gelu_pytorch_tanh';
    if (act !== 'gelu_pytorch_tanh' && act !== 'gelu_new')
      throw new UnsupportedError(`${file}: "${key}" is ${JSON.stringify(act)}; ${familyName(family)} is evaluated with "gelu_pytorch_tanh" (or "gelu_new") only`, { file, key });
    activation = 'gelu_tanh';
  } else {
    const act = c.hidden_act ?? 'silu';
    if (act !== 'silu') throw new UnsupportedError(`${file}: "hidden_act" is ${JSON.stringify(act)}; only "silu" is supported`, { file, key: 'hidden_act' });
    activation = 'silu';
  }
  if (c.mlp_bias === true) throw new UnsupportedError(`${file}: "mlp_bias": true is not supported (MLP projections without bias only)`, { file, key: 'mlp_bias' });

  // ---- heads
  const hiddenSize = int('hidden_size');
  const numHeads = int('num_attention_heads');
  const numKvHeads = int('num_key_value_heads', numHeads);
  if (numHeads % numKvHeads !== 0)
    throw new ModelError(`${file}: "num_attention_heads" (${numHeads}) must be a multiple of "num_key_value_heads" (${numKvHeads})`, { file, key: 'num_key_value_heads' });
  // Defaults of the config classes where config.json may omit head_dim (Qwen3Config 128, Gemma 256).
  const headDimDefault = family === 'qwen3' ? 128 : isGemma(family) ? 256 : undefined;
  let headDim: number;
  if (has('head_dim') || headDimDefault !== undefined) headDim = int('head_dim', headDimDefault);
  else {
    if (hiddenSize % numHeads !== 0)
      throw new ModelError(`${file}: "hidden_size" (${hiddenSize}) is not a multiple of "num_attention_heads" (${numHeads}) and no "head_dim" is given`, { file, key: 'head_dim' });
    headDim = hiddenSize / numHeads;
  }
  if (headDim % 2 !== 0) throw new ModelError(`${file}: the head dimension (${headDim}) must be even for rotary embeddings`, { file, key: 'head_dim' });
  let rotaryDim = headDim;
  if (has('partial_rotary_factor')) {
    const prf = num('partial_rotary_factor', 1);
    if (prf !== 1) {
      if (family !== 'phi3')
        throw new UnsupportedError(`${file}: "partial_rotary_factor" ${prf} is not supported for ${familyName(family)} (transformers rotates whole heads there)`, { file, key: 'partial_rotary_factor' });
      if (prf > 1) throw new ModelError(`${file}: "partial_rotary_factor" must be at most 1, found ${prf}`, { file, key: 'partial_rotary_factor' });
      rotaryDim = Math.trunc(headDim * prf);
      if (rotaryDim < 2 || rotaryDim % 2 !== 0)
        throw new ModelError(`${file}: "partial_rotary_factor" ${prf} rotates ${rotaryDim} of ${headDim} dimensions per head; that must be a positive even number`, { file, key: 'partial_rotary_factor' });
    }
  }

  const maxPositionEmbeddings = int('max_position_embeddings', isGemma(family) ? 8192 : family === 'phi3' ? 4096 : 2048);

  // ---- rotary embeddings. transformers ≥ 5 moves rope_theta and the scaling into "rope_parameters",
  // Gemma 3 there per layer kind ({full_attention: {...}, sliding_attention: {...}}).
  const ropeParamsRaw = (c.rope_parameters && typeof c.rope_parameters === 'object' && !Array.isArray(c.rope_parameters) ? c.rope_parameters : null) as Json | null;
  const perKind = ropeParamsRaw && (isObj(ropeParamsRaw.full_attention) || isObj(ropeParamsRaw.sliding_attention));
  const globalRaw = perKind ? ((ropeParamsRaw.full_attention as Json | undefined) ?? null) : ropeParamsRaw;
  const scalingKey = ropeParamsRaw ? (perKind ? 'rope_parameters.full_attention' : 'rope_parameters') : 'rope_scaling';
  const thetaDefault = family === 'gemma3' ? 1_000_000 : 10000;
  const ropeTheta = globalRaw && globalRaw.rope_theta !== undefined ? num('rope_theta', thetaDefault, globalRaw) : num('rope_theta', thetaDefault);
  const ctx: RopeContext = { family, file, rotaryDim, maxPositionEmbeddings, config: c };
  const ropeScaling = parseRopeScaling(ropeParamsRaw ? globalRaw : c.rope_scaling, scalingKey, ctx);
  let localRope: RopeParams | null = null;
  if (family === 'gemma3') {
    if (perKind && isObj(ropeParamsRaw!.sliding_attention)) {
      const local = ropeParamsRaw!.sliding_attention as Json;
      localRope = { theta: num('rope_theta', 10000, local), scaling: parseRopeScaling(local, 'rope_parameters.sliding_attention', ctx) };
    } else localRope = { theta: num('rope_local_base_freq', 10000), scaling: null };
  }

  // ---- attention
  const slidingWindow = parseSlidingWindow(c, family, file);
  const slidingLayers = parseSlidingLayers(c, family, file);
  const queryScalar = isGemma(family) ? num('query_pre_attn_scalar', 256) : headDim;
  const attnBias = bool('attention_bias', false);
  const tie = bool('tie_word_embeddings', isGemma(family));

  let maxSequenceLength = maxPositionEmbeddings;
  if (ropeScaling?.type === 'dynamic') maxSequenceLength = Math.floor(ropeScaling.factor * maxPositionEmbeddings);

  return {
    family,
    vocabSize: int('vocab_size'),
    hiddenSize,
    intermediateSize: int('intermediate_size'),
    numLayers: int('num_hidden_layers'),
    numHeads,
    numKvHeads,
    headDim,
    rotaryDim,
    rmsNormEps: num('rms_norm_eps', 1e-6),
    ropeTheta,
    ropeScaling,
    localRope,
    attentionBias: family === 'qwen2' || (family !== 'phi3' && attnBias),
    attentionOutBias: family !== 'qwen2' && family !== 'mistral' && family !== 'phi3' && attnBias,
    tieWordEmbeddings: tie,
    maxPositionEmbeddings,
    maxSequenceLength,
    slidingWindow,
    slidingLayers,
    attnScale: Math.pow(queryScalar, -0.5),
    attnSoftcap: family === 'gemma2' ? optNum('attn_logit_softcapping', 50) : family === 'gemma3' ? optNum('attn_logit_softcapping', null) : null,
    finalSoftcap: family === 'gemma2' ? optNum('final_logit_softcapping', 30) : family === 'gemma3' ? optNum('final_logit_softcapping', null) : null,
    embedScale: isGemma(family) ? roundToModelDtype(Math.sqrt(hiddenSize), c.torch_dtype ?? c.dtype) : null,
    normStyle: isGemma(family) ? 'gemma' : 'llama',
    sandwichNorms: isGemma(family),
    qkNorm: family === 'qwen3' || family === 'gemma3',
    fusedProjections: family === 'phi3',
    activation,
    bosTokenId: tokenIds(c, 'bos_token_id', file),
    eosTokenId: tokenIds(c, 'eos_token_id', file),
  };
}

/** `x` as torch.tensor(x, dtype=…) holds it: bfloat16 / float16 rounded to nearest even, else f32. */
export function roundToModelDtype(x: number, dtype: unknown): number {
  const v = Math.fround(x);
  if (dtype === 'bfloat16') {
    const u = new Uint32Array(Float32Array.of(v).buffer)[0];
    const r = (u + 0x7fff + ((u >>> 16) & 1)) & 0xffff0000;
    return new Float32Array(Uint32Array.of(r >>> 0).buffer)[0];
  }
  if (dtype === 'float16') {
    const h = toHalfBits(v);
    const exp = (h >> 10) & 0x1f;
    const mant = h & 0x3ff;
    const mag = exp === 0 ? mant * 2 ** -24 : exp === 31 ? Infinity : (1 + mant / 1024) * 2 ** (exp - 15);
    return h & 0x8000 ? -mag : mag;
  }
  return v;
}

function isObj(v: unknown): v is Json {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function familyName(f: LlamaFamily): string {
  return Object.keys(ARCHITECTURES).find((k) => ARCHITECTURES[k] === f)!;
}

function familyOf(c: Json, file: string): LlamaFamily {
  const archs = c.architectures;
  if (archs !== undefined && archs !== null) {
    if (!Array.isArray(archs) || archs.length === 0 || typeof archs[0] !== 'string')
      throw new ModelError(`${file}: "architectures" must be a non-empty list of class names`, { file, key: 'architectures' });
    const fam = ARCHITECTURES[archs[0] as string];
    if (!fam)
      throw new UnsupportedError(`${file}: architecture "${archs[0]}" cannot be evaluated; supported: ${SUPPORTED_ARCHITECTURES.join(', ')}`, { file, key: 'architectures' });
    return fam;
  }
  const mt = c.model_type;
  if (typeof mt === 'string' && MODEL_TYPES[mt]) return MODEL_TYPES[mt];
  if (mt === undefined) throw new ModelError(`${file}: neither "architectures" nor "model_type" says which model this is`, { file, key: 'architectures' });
  throw new UnsupportedError(`${file}: model_type ${JSON.stringify(mt)} cannot be evaluated; supported: ${Object.keys(MODEL_TYPES).join(', ')} (${SUPPORTED_ARCHITECTURES.join(', ')})`, {
    file,
    key: 'model_type',
  });
}

interface RopeContext {
  family: LlamaFamily;
  file: string;
  rotaryDim: number;
  maxPositionEmbeddings: number;
  config: Json;
}

function parseRopeScaling(v: unknown, key: string, ctx: RopeContext): RopeScaling | null {
  const { file, family } = ctx;
  if (v === undefined || v === null) return null;
  if (!isObj(v)) throw new ModelError(`${file}: "${key}" must be an object`, { file, key });
  const s = v;
  let type = s.rope_type ?? s.type ?? 'default';
  // Phi3Config renames the legacy "su" and "yarn" to "longrope" (its only scaling).
  if (family === 'phi3' && (type === 'su' || type === 'yarn')) type = 'longrope';
  if (typeof type !== 'string' || !ROPE_TYPES.includes(type))
    throw new UnsupportedError(`${file}: "${key}" type ${JSON.stringify(type)} is not supported (supported: ${ROPE_TYPES.join(', ')})`, { file, key });
  if (type === 'default') return null;
  if (family === 'phi3' && type !== 'longrope')
    throw new UnsupportedError(`${file}: "${key}" type ${JSON.stringify(type)}: Phi-3 accepts only "longrope" scaling (or "su" / "yarn", which Phi3Config renames to it)`, { file, key });
  const field = (k: string): number => {
    const x = s[k];
    if (typeof x !== 'number' || !Number.isFinite(x) || x <= 0)
      throw new ModelError(`${file}: "${key}.${k}" must be a positive number for ${type} rope scaling, found ${JSON.stringify(x)}`, { file, key: `${key}.${k}` });
    return x;
  };
  const optional = (k: string): number | undefined => (s[k] === undefined || s[k] === null ? undefined : field(k));
  switch (type) {
    case 'linear':
      return { type, factor: field('factor') };
    case 'dynamic':
      return { type, factor: field('factor'), maxPositionEmbeddings: ctx.maxPositionEmbeddings };
    case 'llama3': {
      const r: Llama3RopeScaling = {
        type,
        factor: field('factor'),
        lowFreqFactor: field('low_freq_factor'),
        highFreqFactor: field('high_freq_factor'),
        originalMaxPositionEmbeddings: field('original_max_position_embeddings'),
      };
      if (r.highFreqFactor === r.lowFreqFactor)
        throw new ModelError(`${file}: "${key}.high_freq_factor" must differ from low_freq_factor`, { file, key: `${key}.high_freq_factor` });
      return r;
    }
    case 'yarn': {
      // transformers ≥ 4.56 (after huggingface/transformers#40320): `factor` is honoured as given;
      // original_max_position_embeddings (default max_position_embeddings) sets the ramp's range.
      const factor = field('factor');
      const mscale = optional('mscale');
      const mscaleAllDim = optional('mscale_all_dim');
      const getMscale = (scale: number, m = 1): number => (scale <= 1 ? 1 : 0.1 * m * Math.log(scale) + 1);
      let attentionFactor = optional('attention_factor');
      if (attentionFactor === undefined) attentionFactor = mscale && mscaleAllDim ? getMscale(factor, mscale) / getMscale(factor, mscaleAllDim) : getMscale(factor);
      const truncate = s.truncate ?? true;
      if (typeof truncate !== 'boolean') throw new ModelError(`${file}: "${key}.truncate" must be true or false, found ${JSON.stringify(truncate)}`, { file, key: `${key}.truncate` });
      // Python's `x or default`: a missing, null or zero beta takes the paper's value.
      const beta = (k: string, d: number): number => (s[k] === undefined || s[k] === null || s[k] === 0 ? d : field(k));
      return {
        type,
        factor,
        attentionFactor,
        betaFast: beta('beta_fast', 32),
        betaSlow: beta('beta_slow', 1),
        originalMaxPositionEmbeddings: optional('original_max_position_embeddings') ?? ctx.maxPositionEmbeddings,
        truncate,
      };
    }
    case 'longrope': {
      const half = ctx.rotaryDim / 2;
      const list = (k: string): number[] => {
        const x = s[k];
        if (!Array.isArray(x) || x.length !== half || !x.every((e) => typeof e === 'number' && Number.isFinite(e) && e > 0))
          throw new ModelError(`${file}: "${key}.${k}" must be a list of ${half} positive numbers (half the rotary dimension), found ${Array.isArray(x) ? `${x.length} entries` : JSON.stringify(x)}`, {
            file,
            key: `${key}.${k}`,
          });
        return x as number[];
      };
      // The original context: config.json's top-level original_max_position_embeddings (Phi3Config
      // defaults it to 4096), else the scaling's own, else max_position_embeddings. With one, the
      // attention factor's `factor` is max_position_embeddings / original.
      const top = ctx.config.original_max_position_embeddings;
      let original: number | undefined;
      if (top !== undefined && top !== null) {
        if (typeof top !== 'number' || !Number.isInteger(top) || top <= 0)
          throw new ModelError(`${file}: "original_max_position_embeddings" must be a positive integer, found ${JSON.stringify(top)}`, { file, key: 'original_max_position_embeddings' });
        original = top;
      } else original = optional('original_max_position_embeddings') ?? (family === 'phi3' ? 4096 : undefined);
      const factor = original !== undefined ? ctx.maxPositionEmbeddings / original : (optional('factor') ?? 1);
      const orig = original ?? ctx.maxPositionEmbeddings;
      let attentionFactor = optional('attention_factor');
      if (attentionFactor === undefined) attentionFactor = factor <= 1 ? 1 : Math.sqrt(1 + Math.log(factor) / Math.log(orig));
      return { type, shortFactor: list('short_factor'), longFactor: list('long_factor'), originalMaxPositionEmbeddings: orig, attentionFactor };
    }
  }
  throw new UnsupportedError(`${file}: "${key}" type ${JSON.stringify(type)} is not supported`, { file, key });
}

function parseSlidingWindow(c: Json, family: LlamaFamily, file: string): number | null {
  if (family === 'qwen2' || family === 'qwen3') {
    // Qwen ignores sliding_window unless use_sliding_window; when on, it applies to some layers only.
    if (c.use_sliding_window === true)
      throw new UnsupportedError(`${file}: "use_sliding_window": true (per-layer sliding windows) is not supported for ${familyName(family)}`, { file, key: 'use_sliding_window' });
    return null;
  }
  if (family === 'llama') return null;
  const w = 'sliding_window' in c ? c.sliding_window : isGemma(family) ? 4096 : null;
  if (w === undefined || w === null) return null;
  if (typeof w !== 'number' || !Number.isInteger(w) || w <= 0)
    throw new ModelError(`${file}: "sliding_window" must be a positive integer or null, found ${JSON.stringify(w)}`, { file, key: 'sliding_window' });
  return w;
}

function parseSlidingLayers(c: Json, family: LlamaFamily, file: string): LlamaArch['slidingLayers'] {
  const layerTypes = c.layer_types;
  let pattern: number | null = null;
  if (family === 'gemma2') pattern = 2;
  else if (family === 'gemma3') {
    const p = c.sliding_window_pattern ?? c._sliding_window_pattern ?? 6;
    if (typeof p !== 'number' || !Number.isInteger(p) || p <= 0)
      throw new ModelError(`${file}: "sliding_window_pattern" must be a positive integer, found ${JSON.stringify(p)}`, { file, key: 'sliding_window_pattern' });
    pattern = p;
  }
  if (layerTypes !== undefined && layerTypes !== null) {
    if (!Array.isArray(layerTypes) || !layerTypes.every((t) => t === 'full_attention' || t === 'sliding_attention'))
      throw new ModelError(`${file}: "layer_types" must list "full_attention" / "sliding_attention" per layer`, { file, key: 'layer_types' });
    const sliding = layerTypes.map((t) => t === 'sliding_attention');
    if (pattern === null) {
      if (sliding.some(Boolean) && family !== 'mistral' && family !== 'phi3')
        throw new UnsupportedError(`${file}: "layer_types" mixes attention kinds (${[...new Set(layerTypes)].join(', ')}); ${familyName(family)} is evaluated with full attention per layer`, {
          file,
          key: 'layer_types',
        });
      if (sliding.some(Boolean) && !sliding.every(Boolean)) return sliding;
      return 'all';
    }
    // Gemma: the listed kinds; when they follow the pattern, the pattern (it extends to layer-path pool layers).
    const follows = sliding.every((s, i) => s === ((i + 1) % pattern! !== 0));
    return follows ? { pattern } : sliding;
  }
  return pattern === null ? 'all' : { pattern };
}

/** Whether physical layer `layer` attends through the sliding window. */
export function isSlidingLayer(arch: LlamaArch, layer: number): boolean {
  return arch.slidingWindow !== null && isSlidingKind(arch, layer);
}

/** Whether `layer` is a "sliding_attention" layer by config (Gemma 3 picks its rope by this, window or not). */
function isSlidingKind(arch: LlamaArch, layer: number): boolean {
  const s = arch.slidingLayers;
  if (s === 'all') return true;
  if (Array.isArray(s)) {
    if (layer >= s.length)
      throw new RecipeError(`layer ${layer} is beyond config.json's layer_types (${s.length} layers), so whether it uses the sliding window is unknown`, { key: 'layer_types' });
    return s[layer];
  }
  return (layer + 1) % s.pattern !== 0;
}

function tokenIds(c: Json, key: string, file: string): number[] {
  const v = c[key];
  if (v === undefined || v === null) return [];
  const list = Array.isArray(v) ? v : [v];
  for (const x of list)
    if (typeof x !== 'number' || !Number.isInteger(x) || x < 0)
      throw new ModelError(`${file}: "${key}" must be a token id or a list of them, found ${JSON.stringify(v)}`, { file, key });
  return list as number[];
}

// ---------------------------------------------------------------------------------------------
// Rotary embeddings, computed step by step in f32 as transformers' modeling_rope_utils.py does.

const f = Math.fround;

/** The rotary embedding of a layer: the local one (Gemma 3 sliding layers) or the global one. */
export function ropeParams(arch: LlamaArch, local = false): RopeParams {
  return local && arch.localRope ? arch.localRope : { theta: arch.ropeTheta, scaling: arch.ropeScaling };
}

/** Exponents 2k/d (f32), k < d/2: `torch.arange(0, dim, 2).float() / dim`. */
export function ropeExponents(dim: number): Float32Array {
  return Float32Array.from({ length: dim / 2 }, (_, k) => f((2 * k) / dim));
}

/** θ^(−2k/d) as `1.0 / (base ** exponents)` in f32 (`_compute_default_rope_parameters`). */
function defaultInvFreq(theta: number, dim: number): Float32Array {
  return ropeExponents(dim).map((e) => f(1 / f(Math.pow(theta, e))));
}

/**
 * Dynamic NTK's base for a forward pass of length `seqLen` > max_position_embeddings, in f32 as
 * transformers computes it from the tensor `max(position_ids) + 1`.
 */
export function dynamicRopeBase(theta: number, s: DynamicRopeScaling, dim: number, seqLen: number): number {
  let r = f(f(s.factor) * seqLen);
  r = f(r / s.maxPositionEmbeddings);
  r = f(r - f(s.factor - 1));
  r = f(Math.pow(r, f(dim / (dim - 2))));
  return f(f(theta) * r);
}

/** YaRN's correction range [low, high] of dimension indices (Python floats; floored/ceiled when truncating). */
export function yarnCorrectionRange(s: YarnRopeScaling, dim: number, theta: number): [number, number] {
  const corr = (rot: number): number => (dim * Math.log(s.originalMaxPositionEmbeddings / (rot * 2 * Math.PI))) / (2 * Math.log(theta));
  let low = corr(s.betaFast);
  let high = corr(s.betaSlow);
  if (s.truncate) {
    low = Math.floor(low);
    high = Math.ceil(high);
  }
  return [Math.max(low, 0), Math.min(high, dim - 1)];
}

/**
 * Rotary inverse frequencies (rotaryDim/2 of them) for a forward pass whose positions reach
 * `seqLen − 1` (dynamic and longrope depend on it; absent = within the original context).
 * `local`: Gemma 3's sliding-layer embedding.
 *  - default: θ^(−2k/d); linear: ÷ factor; dynamic: a larger base past max_position_embeddings;
 *  - llama3: long wavelengths ÷ factor, short kept, a smooth band between;
 *  - yarn: interpolation (÷ factor) and extrapolation blended by a ramp over the correction range;
 *  - longrope: ÷ short_factor[k], or long_factor[k] once seqLen exceeds the original context.
 */
export function ropeInvFreq(arch: LlamaArch, opts: { local?: boolean; seqLen?: number } = {}): Float32Array {
  const { theta, scaling: s } = ropeParams(arch, opts.local);
  const d = arch.rotaryDim;
  const base = defaultInvFreq(theta, d);
  if (!s) return base;
  switch (s.type) {
    case 'linear':
      return base.map((v) => f(v / f(s.factor)));
    case 'dynamic': {
      if (opts.seqLen === undefined || opts.seqLen <= s.maxPositionEmbeddings) return base;
      return defaultInvFreq(dynamicRopeBase(theta, s, d, opts.seqLen), d);
    }
    case 'llama3': {
      const lowWavelen = s.originalMaxPositionEmbeddings / s.lowFreqFactor;
      const highWavelen = s.originalMaxPositionEmbeddings / s.highFreqFactor;
      return base.map((inv) => {
        const wavelen = f((2 * Math.PI) / inv);
        let v = wavelen > lowWavelen ? f(inv / s.factor) : inv;
        if (!(wavelen < highWavelen) && !(wavelen > lowWavelen)) {
          const smooth = f((f(s.originalMaxPositionEmbeddings / wavelen) - s.lowFreqFactor) / (s.highFreqFactor - s.lowFreqFactor));
          v = f(f(((1 - smooth) * v) / s.factor) + f(smooth * v));
        }
        return v;
      });
    }
    case 'yarn': {
      const [low, high0] = yarnCorrectionRange(s, d, theta);
      const high = low === high0 ? high0 + 0.001 : high0;
      const span = f(high - low);
      return ropeExponents(d).map((e, k) => {
        const posFreq = f(Math.pow(theta, e));
        const extrapolation = f(1 / posFreq);
        const interpolation = f(1 / f(f(s.factor) * posFreq));
        const ramp = Math.min(1, Math.max(0, f(f(k - f(low)) / span)));
        const extFactor = f(1 - ramp);
        return f(f(interpolation * f(1 - extFactor)) + f(extrapolation * extFactor));
      });
    }
    case 'longrope': {
      const ext = opts.seqLen !== undefined && opts.seqLen > s.originalMaxPositionEmbeddings ? s.longFactor : s.shortFactor;
      return ropeExponents(d).map((e, k) => f(1 / f(f(ext[k]) * f(Math.pow(theta, e)))));
    }
  }
}

/** The factor transformers multiplies cos and sin by (yarn, longrope; 1 otherwise). */
export function ropeAttentionScaling(arch: LlamaArch, local = false): number {
  const s = ropeParams(arch, local).scaling;
  return s && (s.type === 'yarn' || s.type === 'longrope') ? s.attentionFactor : 1;
}

/**
 * config.json's layer_types for a pool of physical layers taken from this architecture's layers
 * (a layer path): each keeps the attention kind it was trained with. Null when every layer has the
 * same kind (nothing to write).
 */
export function poolLayerTypes(arch: LlamaArch, layers: readonly number[]): ('full_attention' | 'sliding_attention')[] | null {
  if (arch.slidingLayers === 'all') return null;
  return layers.map((l) => (isSlidingKind(arch, l) ? 'sliding_attention' : 'full_attention'));
}

/** Whether `layer` uses Gemma 3's local rotary embedding (its sliding layers) rather than the global one. */
export function usesLocalRope(arch: LlamaArch, layer: number): boolean {
  return arch.localRope !== null && isSlidingKind(arch, layer);
}

export interface WeightSpec {
  name: string;
  shape: number[];
}

/** The physical layers a graph runs, hop by hop (the plain model when `hops` is absent). */
export function hopsOf(arch: LlamaArch, hops?: readonly Hop[]): Hop[] {
  if (!hops) return Array.from({ length: arch.numLayers }, (_, i) => ({ layer: i, scale: 1 }));
  if (hops.length === 0) throw new RecipeError('A layer path needs at least one hop');
  for (const [i, h] of hops.entries()) {
    if (!Number.isInteger(h.layer) || h.layer < 0) throw new RecipeError(`Layer path hop ${i}: layer must be a non-negative integer, found ${h.layer}`);
    if (!Number.isFinite(h.scale)) throw new RecipeError(`Layer path hop ${i}: scale must be a finite number, found ${h.scale}`);
  }
  return hops.map((h) => ({ layer: h.layer, scale: h.scale }));
}

/**
 * Tensor names of one physical layer and their Hugging Face shapes (Linear weights are [out, in]),
 * in the order the forward pass uses them.
 */
export function layerWeights(arch: LlamaArch, layer: number): WeightSpec[] {
  const { hiddenSize: h, intermediateSize: im, numHeads: nh, numKvHeads: kvh, headDim: d } = arch;
  const p = `model.layers.${layer}.`;
  const w: WeightSpec[] = [{ name: p + 'input_layernorm.weight', shape: [h] }];
  if (arch.fusedProjections) w.push({ name: p + 'self_attn.qkv_proj.weight', shape: [(nh + 2 * kvh) * d, h] });
  else
    w.push(
      { name: p + 'self_attn.q_proj.weight', shape: [nh * d, h] },
      { name: p + 'self_attn.k_proj.weight', shape: [kvh * d, h] },
      { name: p + 'self_attn.v_proj.weight', shape: [kvh * d, h] },
    );
  if (arch.attentionBias)
    w.push(
      { name: p + 'self_attn.q_proj.bias', shape: [nh * d] },
      { name: p + 'self_attn.k_proj.bias', shape: [kvh * d] },
      { name: p + 'self_attn.v_proj.bias', shape: [kvh * d] },
    );
  if (arch.qkNorm) w.push({ name: p + 'self_attn.q_norm.weight', shape: [d] }, { name: p + 'self_attn.k_norm.weight', shape: [d] });
  w.push({ name: p + 'self_attn.o_proj.weight', shape: [h, nh * d] });
  if (arch.attentionOutBias) w.push({ name: p + 'self_attn.o_proj.bias', shape: [h] });
  w.push({ name: p + 'post_attention_layernorm.weight', shape: [h] });
  if (arch.sandwichNorms) w.push({ name: p + 'pre_feedforward_layernorm.weight', shape: [h] });
  if (arch.fusedProjections) w.push({ name: p + 'mlp.gate_up_proj.weight', shape: [2 * im, h] });
  else w.push({ name: p + 'mlp.gate_proj.weight', shape: [im, h] }, { name: p + 'mlp.up_proj.weight', shape: [im, h] });
  w.push({ name: p + 'mlp.down_proj.weight', shape: [h, im] });
  if (arch.sandwichNorms) w.push({ name: p + 'post_feedforward_layernorm.weight', shape: [h] });
  return w;
}

/**
 * Every safetensors tensor the forward pass reads, in graph-input order: the embedding, each
 * distinct physical layer of the path (first use order), the final norm, and lm_head unless tied.
 */
export function graphWeights(arch: LlamaArch, opts: { hops?: readonly Hop[] } = {}): WeightSpec[] {
  const out: WeightSpec[] = [{ name: 'model.embed_tokens.weight', shape: [arch.vocabSize, arch.hiddenSize] }];
  const seen = new Set<number>();
  for (const h of hopsOf(arch, opts.hops)) {
    if (seen.has(h.layer)) continue;
    seen.add(h.layer);
    out.push(...layerWeights(arch, h.layer));
  }
  out.push({ name: 'model.norm.weight', shape: [arch.hiddenSize] });
  if (!arch.tieWordEmbeddings) out.push({ name: 'lm_head.weight', shape: [arch.vocabSize, arch.hiddenSize] });
  return out;
}

/** gelu_pytorch_tanh's constants: ½x·(1 + tanh(β·(x + κ·x³))), β = √(2/π). */
export const GELU_BETA = Math.sqrt(2 / Math.PI);
export const GELU_KAPPA = 0.044715;

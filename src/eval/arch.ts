// The Llama-family architecture facts the evaluation graph needs, read from a Hugging Face
// config.json (LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM), plus the two things derived
// from them that both the ONNX graph and the CPU reference use: the rotary inverse frequencies and
// the list of weight tensors a forward pass consumes. Pure TypeScript: runs in Node and the browser.
import { ModelError, RecipeError, UnsupportedError } from '../errors';

export type LlamaFamily = 'llama' | 'mistral' | 'qwen2';

/** Llama 3's rope_scaling (rope_type "llama3"): low frequencies divided by `factor`, a smooth ramp between. */
export interface Llama3RopeScaling {
  type: 'llama3';
  factor: number;
  lowFreqFactor: number;
  highFreqFactor: number;
  originalMaxPositionEmbeddings: number;
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
  rmsNormEps: number;
  ropeTheta: number;
  ropeScaling: Llama3RopeScaling | null;
  /** q_proj, k_proj and v_proj carry a bias (Qwen2 always; Llama with attention_bias). */
  attentionBias: boolean;
  /** o_proj carries a bias (Llama with attention_bias only; Qwen2's o_proj has none). */
  attentionOutBias: boolean;
  /** lm_head shares model.embed_tokens.weight (no lm_head.weight tensor). */
  tieWordEmbeddings: boolean;
  maxPositionEmbeddings: number;
  /** Mistral's sliding window (a key j is seen by query q when q − window < j ≤ q); null = full causal. */
  slidingWindow: number | null;
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
};
const MODEL_TYPES: Record<string, LlamaFamily> = { llama: 'llama', mistral: 'mistral', qwen2: 'qwen2' };

type Json = Record<string, unknown>;

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
  const bool = (key: string, fallback: boolean): boolean => {
    const v = c[key] ?? fallback;
    if (typeof v !== 'boolean') throw new ModelError(`${file}: "${key}" must be true or false, found ${JSON.stringify(v)}`, { file, key });
    return v;
  };

  const act = c.hidden_act ?? 'silu';
  if (act !== 'silu') throw new UnsupportedError(`${file}: "hidden_act" is ${JSON.stringify(act)}; only "silu" is supported`, { file, key: 'hidden_act' });
  if (c.mlp_bias === true) throw new UnsupportedError(`${file}: "mlp_bias": true is not supported (MLP projections without bias only)`, { file, key: 'mlp_bias' });

  const hiddenSize = int('hidden_size');
  const numHeads = int('num_attention_heads');
  const numKvHeads = int('num_key_value_heads', numHeads);
  if (numHeads % numKvHeads !== 0)
    throw new ModelError(`${file}: "num_attention_heads" (${numHeads}) must be a multiple of "num_key_value_heads" (${numKvHeads})`, { file, key: 'num_key_value_heads' });
  let headDim: number;
  if (c.head_dim !== undefined && c.head_dim !== null) headDim = int('head_dim');
  else {
    if (hiddenSize % numHeads !== 0)
      throw new ModelError(`${file}: "hidden_size" (${hiddenSize}) is not a multiple of "num_attention_heads" (${numHeads}) and no "head_dim" is given`, { file, key: 'head_dim' });
    headDim = hiddenSize / numHeads;
  }
  if (headDim % 2 !== 0) throw new ModelError(`${file}: the head dimension (${headDim}) must be even for rotary embeddings`, { file, key: 'head_dim' });

  // transformers ≥ 5 moves rope_theta and the scaling into "rope_parameters".
  const ropeParams = (c.rope_parameters && typeof c.rope_parameters === 'object' ? c.rope_parameters : null) as Json | null;
  const ropeTheta = ropeParams && ropeParams.rope_theta !== undefined ? num('rope_theta', 10000, ropeParams) : num('rope_theta', 10000);
  const ropeScaling = parseRopeScaling(ropeParams ?? c.rope_scaling, ropeParams ? 'rope_parameters' : 'rope_scaling', file);

  const maxPositionEmbeddings = int('max_position_embeddings', 2048);
  const slidingWindow = parseSlidingWindow(c, family, file);

  const attnBias = bool('attention_bias', false);
  return {
    family,
    vocabSize: int('vocab_size'),
    hiddenSize,
    intermediateSize: int('intermediate_size'),
    numLayers: int('num_hidden_layers'),
    numHeads,
    numKvHeads,
    headDim,
    rmsNormEps: num('rms_norm_eps', 1e-6),
    ropeTheta,
    ropeScaling,
    attentionBias: family === 'qwen2' || attnBias,
    attentionOutBias: family === 'llama' && attnBias,
    tieWordEmbeddings: bool('tie_word_embeddings', false),
    maxPositionEmbeddings,
    slidingWindow,
    bosTokenId: tokenIds(c, 'bos_token_id', file),
    eosTokenId: tokenIds(c, 'eos_token_id', file),
  };
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
      throw new UnsupportedError(`${file}: architecture "${archs[0]}" cannot be evaluated; supported: ${Object.keys(ARCHITECTURES).join(', ')}`, { file, key: 'architectures' });
    return fam;
  }
  const mt = c.model_type;
  if (typeof mt === 'string' && MODEL_TYPES[mt]) return MODEL_TYPES[mt];
  if (mt === undefined) throw new ModelError(`${file}: neither "architectures" nor "model_type" says which model this is`, { file, key: 'architectures' });
  throw new UnsupportedError(`${file}: model_type ${JSON.stringify(mt)} cannot be evaluated; supported: ${Object.keys(MODEL_TYPES).join(', ')}`, { file, key: 'model_type' });
}

function parseRopeScaling(v: unknown, key: string, file: string): Llama3RopeScaling | null {
  if (v === undefined || v === null) return null;
  if (typeof v !== 'object' || Array.isArray(v)) throw new ModelError(`${file}: "${key}" must be an object`, { file, key });
  const s = v as Json;
  const type = s.rope_type ?? s.type ?? 'default';
  if (type === 'default') return null;
  if (type !== 'llama3')
    throw new UnsupportedError(`${file}: "${key}" type ${JSON.stringify(type)} is not supported (only "llama3" and the default)`, { file, key });
  const field = (k: string): number => {
    const x = s[k];
    if (typeof x !== 'number' || !Number.isFinite(x) || x <= 0)
      throw new ModelError(`${file}: "${key}.${k}" must be a positive number for llama3 rope scaling, found ${JSON.stringify(x)}`, { file, key: `${key}.${k}` });
    return x;
  };
  const r: Llama3RopeScaling = {
    type: 'llama3',
    factor: field('factor'),
    lowFreqFactor: field('low_freq_factor'),
    highFreqFactor: field('high_freq_factor'),
    originalMaxPositionEmbeddings: field('original_max_position_embeddings'),
  };
  if (r.highFreqFactor === r.lowFreqFactor)
    throw new ModelError(`${file}: "${key}.high_freq_factor" must differ from low_freq_factor`, { file, key: `${key}.high_freq_factor` });
  return r;
}

function parseSlidingWindow(c: Json, family: LlamaFamily, file: string): number | null {
  const layerTypes = c.layer_types;
  if (Array.isArray(layerTypes) && layerTypes.some((t) => t !== 'full_attention'))
    throw new UnsupportedError(`${file}: "layer_types" mixes attention kinds (${[...new Set(layerTypes)].join(', ')}); only full attention per layer is supported`, { file, key: 'layer_types' });
  if (family === 'qwen2') {
    // Qwen2 ignores sliding_window unless use_sliding_window; when on, it applies to some layers only.
    if (c.use_sliding_window === true)
      throw new UnsupportedError(`${file}: "use_sliding_window": true (per-layer sliding windows) is not supported`, { file, key: 'use_sliding_window' });
    return null;
  }
  if (family !== 'mistral') return null;
  const w = c.sliding_window;
  if (w === undefined || w === null) return null;
  if (typeof w !== 'number' || !Number.isInteger(w) || w <= 0)
    throw new ModelError(`${file}: "sliding_window" must be a positive integer or null, found ${JSON.stringify(w)}`, { file, key: 'sliding_window' });
  return w;
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

/**
 * Rotary inverse frequencies θ^(−2k/d), k < d/2, computed step by step in f32 like Hugging Face's
 * `_compute_default_rope_parameters`, then Llama 3's rescaling (`_compute_llama3_parameters`):
 * wavelengths longer than original_max/low_freq_factor are divided by `factor`, shorter than
 * original_max/high_freq_factor kept, and the band between interpolated smoothly.
 */
export function ropeInvFreq(arch: LlamaArch): Float32Array {
  const f = Math.fround;
  const d = arch.headDim;
  const out = new Float32Array(d / 2);
  for (let k = 0; k < d / 2; k++) out[k] = f(1 / f(Math.pow(arch.ropeTheta, f((2 * k) / d))));
  const s = arch.ropeScaling;
  if (!s) return out;
  const lowWavelen = s.originalMaxPositionEmbeddings / s.lowFreqFactor;
  const highWavelen = s.originalMaxPositionEmbeddings / s.highFreqFactor;
  for (let k = 0; k < out.length; k++) {
    const inv = out[k];
    const wavelen = f((2 * Math.PI) / inv);
    let v = wavelen > lowWavelen ? f(inv / s.factor) : inv;
    if (!(wavelen < highWavelen) && !(wavelen > lowWavelen)) {
      const smooth = f((f(s.originalMaxPositionEmbeddings / wavelen) - s.lowFreqFactor) / (s.highFreqFactor - s.lowFreqFactor));
      v = f(f(((1 - smooth) * v) / s.factor) + f(smooth * v));
    }
    out[k] = v;
  }
  return out;
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

/** Tensor names of one physical layer and their Hugging Face shapes (Linear weights are [out, in]). */
export function layerWeights(arch: LlamaArch, layer: number): WeightSpec[] {
  const { hiddenSize: h, intermediateSize: im, numHeads: nh, numKvHeads: kvh, headDim: d } = arch;
  const p = `model.layers.${layer}.`;
  const w: WeightSpec[] = [
    { name: p + 'input_layernorm.weight', shape: [h] },
    { name: p + 'self_attn.q_proj.weight', shape: [nh * d, h] },
    { name: p + 'self_attn.k_proj.weight', shape: [kvh * d, h] },
    { name: p + 'self_attn.v_proj.weight', shape: [kvh * d, h] },
  ];
  if (arch.attentionBias)
    w.push(
      { name: p + 'self_attn.q_proj.bias', shape: [nh * d] },
      { name: p + 'self_attn.k_proj.bias', shape: [kvh * d] },
      { name: p + 'self_attn.v_proj.bias', shape: [kvh * d] },
    );
  w.push({ name: p + 'self_attn.o_proj.weight', shape: [h, nh * d] });
  if (arch.attentionOutBias) w.push({ name: p + 'self_attn.o_proj.bias', shape: [h] });
  w.push(
    { name: p + 'post_attention_layernorm.weight', shape: [h] },
    { name: p + 'mlp.gate_proj.weight', shape: [im, h] },
    { name: p + 'mlp.up_proj.weight', shape: [im, h] },
    { name: p + 'mlp.down_proj.weight', shape: [h, im] },
  );
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

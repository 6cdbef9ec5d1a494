// config.json → LlamaArch (fields, defaults, typed errors naming file and key), rotary inverse
// frequencies, the weight list a graph consumes, and the f16 constant encoder of the ONNX writer.
import { describe, expect, test } from 'vitest';
import { graphWeights, parseArch, ropeInvFreq } from '../../src/eval/arch';
import { buildGraph } from '../../src/eval/graph';
import { toHalfBits } from '../../src/eval/onnx-proto';
import { ModelError, RecipeError, StudioError, UnsupportedError } from '../../src/errors';
import { f32ToF16Bits } from '../fixtures/dtype-codec';

// Shapes of real configs (values as published on the Hub), trimmed to the keys that matter.
const LLAMA32_1B = {
  architectures: ['LlamaForCausalLM'], model_type: 'llama', vocab_size: 128256, hidden_size: 2048, intermediate_size: 8192,
  num_hidden_layers: 16, num_attention_heads: 32, num_key_value_heads: 8, head_dim: 64, hidden_act: 'silu', rms_norm_eps: 1e-5,
  rope_theta: 500000, max_position_embeddings: 131072, tie_word_embeddings: true, attention_bias: false, mlp_bias: false,
  rope_scaling: { factor: 32, high_freq_factor: 4, low_freq_factor: 1, original_max_position_embeddings: 8192, rope_type: 'llama3' },
  bos_token_id: 128000, eos_token_id: [128001, 128008, 128009],
};
const QWEN25_05B = {
  architectures: ['Qwen2ForCausalLM'], model_type: 'qwen2', vocab_size: 151936, hidden_size: 896, intermediate_size: 4864,
  num_hidden_layers: 24, num_attention_heads: 14, num_key_value_heads: 2, hidden_act: 'silu', rms_norm_eps: 1e-6, rope_theta: 1000000,
  max_position_embeddings: 32768, sliding_window: 32768, use_sliding_window: false, max_window_layers: 21, tie_word_embeddings: true,
  bos_token_id: 151643, eos_token_id: 151643,
};
const MISTRAL_7B = {
  architectures: ['MistralForCausalLM'], model_type: 'mistral', vocab_size: 32000, hidden_size: 4096, intermediate_size: 14336,
  num_hidden_layers: 32, num_attention_heads: 32, num_key_value_heads: 8, hidden_act: 'silu', rms_norm_eps: 1e-5, rope_theta: 10000,
  max_position_embeddings: 32768, sliding_window: 4096, tie_word_embeddings: false, bos_token_id: 1, eos_token_id: 2,
};

function errorOf(f: () => unknown): StudioError {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(StudioError);
    return e as StudioError;
  }
  throw new Error('expected an error');
}

describe('parseArch', () => {
  test('Llama 3.2 1B: GQA, explicit head_dim, llama3 rope scaling, tied, eos list', () => {
    const a = parseArch(JSON.stringify(LLAMA32_1B), 'llama/config.json');
    expect(a).toMatchObject({
      family: 'llama', vocabSize: 128256, hiddenSize: 2048, intermediateSize: 8192, numLayers: 16, numHeads: 32, numKvHeads: 8, headDim: 64,
      rmsNormEps: 1e-5, ropeTheta: 500000, attentionBias: false, attentionOutBias: false, tieWordEmbeddings: true, maxPositionEmbeddings: 131072,
      slidingWindow: null, bosTokenId: [128000], eosTokenId: [128001, 128008, 128009],
      ropeScaling: { type: 'llama3', factor: 32, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositionEmbeddings: 8192 },
    });
  });

  test('Qwen2.5 0.5B: q/k/v biases but none on o_proj, head_dim from hidden/heads, inactive sliding window ignored', () => {
    const a = parseArch(QWEN25_05B, 'qwen/config.json');
    expect(a).toMatchObject({ family: 'qwen2', headDim: 64, numKvHeads: 2, attentionBias: true, attentionOutBias: false, slidingWindow: null, ropeScaling: null, eosTokenId: [151643] });
    const names = graphWeights(a).map((w) => w.name);
    expect(names).toContain('model.layers.0.self_attn.k_proj.bias');
    expect(names).not.toContain('model.layers.0.self_attn.o_proj.bias');
    expect(names).not.toContain('lm_head.weight');
  });

  test('Mistral: the sliding window is kept (the graph masks with it); null means none', () => {
    expect(parseArch(MISTRAL_7B, 'm/config.json').slidingWindow).toBe(4096);
    expect(parseArch({ ...MISTRAL_7B, sliding_window: null }, 'm/config.json').slidingWindow).toBeNull();
  });

  test('Llama attention_bias adds a bias to all four projections', () => {
    const a = parseArch({ ...LLAMA32_1B, attention_bias: true }, 'c.json');
    expect([a.attentionBias, a.attentionOutBias]).toEqual([true, true]);
    expect(graphWeights(a).map((w) => w.name)).toContain('model.layers.3.self_attn.o_proj.bias');
  });

  test('defaults: kv heads = heads, eps 1e-6, theta 10000, untied, model_type without architectures', () => {
    const a = parseArch({ model_type: 'llama', vocab_size: 10, hidden_size: 8, intermediate_size: 16, num_hidden_layers: 1, num_attention_heads: 2 }, 'c.json');
    expect(a).toMatchObject({ numKvHeads: 2, headDim: 4, rmsNormEps: 1e-6, ropeTheta: 10000, tieWordEmbeddings: false, bosTokenId: [], eosTokenId: [] });
  });

  test('transformers 5 rope_parameters', () => {
    const { rope_theta: _t, rope_scaling: scaling, ...rest } = LLAMA32_1B;
    const a = parseArch({ ...rest, rope_parameters: { ...scaling, rope_theta: 500000 } }, 'c.json');
    expect(a.ropeTheta).toBe(500000);
    expect(a.ropeScaling).toMatchObject({ type: 'llama3', factor: 32 });
  });

  const errors: { name: string; config: unknown; cls: abstract new (...args: never[]) => StudioError; key: string; text: RegExp }[] = [
    { name: 'unsupported architecture', config: { ...LLAMA32_1B, architectures: ['GPT2LMHeadModel'] }, cls: UnsupportedError, key: 'architectures', text: /GPT2LMHeadModel.*supported: LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM/ },
    { name: 'unsupported model_type', config: { model_type: 'gemma', hidden_size: 8 }, cls: UnsupportedError, key: 'model_type', text: /gemma/ },
    { name: 'no architecture at all', config: { hidden_size: 8 }, cls: ModelError, key: 'architectures', text: /neither/ },
    { name: 'missing hidden_size', config: { ...LLAMA32_1B, hidden_size: undefined }, cls: ModelError, key: 'hidden_size', text: /"hidden_size" is missing/ },
    { name: 'missing vocab_size', config: { ...LLAMA32_1B, vocab_size: undefined }, cls: ModelError, key: 'vocab_size', text: /"vocab_size" is missing/ },
    { name: 'non-integer layers', config: { ...LLAMA32_1B, num_hidden_layers: 2.5 }, cls: ModelError, key: 'num_hidden_layers', text: /positive integer, found 2.5/ },
    { name: 'gelu', config: { ...LLAMA32_1B, hidden_act: 'gelu' }, cls: UnsupportedError, key: 'hidden_act', text: /"gelu"/ },
    { name: 'mlp_bias', config: { ...LLAMA32_1B, mlp_bias: true }, cls: UnsupportedError, key: 'mlp_bias', text: /mlp_bias/ },
    { name: 'unknown rope type', config: { ...LLAMA32_1B, rope_scaling: { rope_type: 'ntk-by-parts', factor: 4 } }, cls: UnsupportedError, key: 'rope_scaling', text: /"ntk-by-parts" is not supported \(supported: default, linear, dynamic, yarn, longrope, llama3\)/ },
    { name: 'llama3 scaling without a factor', config: { ...LLAMA32_1B, rope_scaling: { ...LLAMA32_1B.rope_scaling, factor: undefined } }, cls: ModelError, key: 'rope_scaling.factor', text: /factor/ },
    { name: 'heads not a multiple of kv heads', config: { ...LLAMA32_1B, num_key_value_heads: 5 }, cls: ModelError, key: 'num_key_value_heads', text: /multiple/ },
    { name: 'hidden not divisible by heads without head_dim', config: { ...QWEN25_05B, num_attention_heads: 12, num_key_value_heads: 2 }, cls: ModelError, key: 'head_dim', text: /not a multiple/ },
    { name: 'Qwen2 with sliding windows on', config: { ...QWEN25_05B, use_sliding_window: true }, cls: UnsupportedError, key: 'use_sliding_window', text: /use_sliding_window/ },
    { name: 'mixed layer types', config: { ...LLAMA32_1B, layer_types: ['full_attention', 'sliding_attention'] }, cls: UnsupportedError, key: 'layer_types', text: /sliding_attention/ },
    { name: 'bad eos id', config: { ...LLAMA32_1B, eos_token_id: ['x'] }, cls: ModelError, key: 'eos_token_id', text: /token id/ },
  ];
  for (const c of errors)
    test(`error: ${c.name}`, () => {
      const e = errorOf(() => parseArch(c.config as object, 'models/x/config.json'));
      expect(e).toBeInstanceOf(c.cls);
      expect(e.message).toContain('models/x/config.json');
      expect(e.message).toMatch(c.text);
      expect(e.details).toMatchObject({ file: 'models/x/config.json', key: c.key });
    });

  test('error: invalid JSON names the file', () => {
    const e = errorOf(() => parseArch('{"hidden_size": ', 'a/config.json'));
    expect(e).toBeInstanceOf(ModelError);
    expect(e.message).toMatch(/^a\/config.json: not valid JSON/);
  });
});

describe('ropeInvFreq', () => {
  test('default: θ^(−2k/d) in f32', () => {
    const a = parseArch({ ...MISTRAL_7B }, 'c.json');
    const inv = ropeInvFreq(a);
    expect(inv.length).toBe(64);
    for (let k = 0; k < 64; k++) expect(inv[k]).toBeCloseTo(Math.pow(10000, -(2 * k) / 128), 6);
  });

  test('llama3: short wavelengths kept, long ones divided by factor, a smooth band between', () => {
    const a = parseArch({ ...LLAMA32_1B, rope_scaling: { ...LLAMA32_1B.rope_scaling, factor: 8 } }, 'c.json');
    const plain = ropeInvFreq({ ...a, ropeScaling: null });
    const scaled = ropeInvFreq(a);
    let kept = 0, divided = 0, smooth = 0;
    for (let k = 0; k < plain.length; k++) {
      const wavelen = (2 * Math.PI) / plain[k];
      if (wavelen < 8192 / 4) {
        expect(scaled[k]).toBe(plain[k]);
        kept++;
      } else if (wavelen > 8192 / 1) {
        expect(scaled[k]).toBeCloseTo(plain[k] / 8, 12);
        divided++;
      } else {
        expect(scaled[k]).toBeLessThanOrEqual(plain[k]);
        expect(scaled[k]).toBeGreaterThanOrEqual(plain[k] / 8);
        // HF's interpolation: (1 − s)·inv/factor + s·inv with s = (orig/wavelen − low)/(high − low)
        const s = (8192 / wavelen - 1) / (4 - 1);
        expect(scaled[k]).toBeCloseTo(((1 - s) * plain[k]) / 8 + s * plain[k], 9);
        smooth++;
      }
    }
    expect([kept > 0, divided > 0, smooth > 0]).toEqual([true, true, true]);
    for (let k = 1; k < scaled.length; k++) expect(scaled[k]).toBeLessThan(scaled[k - 1]);
  });
});

describe('graphWeights and buildGraph', () => {
  const tiny = parseArch({ ...LLAMA32_1B, vocab_size: 40, hidden_size: 16, intermediate_size: 24, num_hidden_layers: 3, num_attention_heads: 4, num_key_value_heads: 2, head_dim: 8, tie_word_embeddings: false }, 'c.json');

  test('HF names and [out, in] shapes, in graph order', () => {
    const w = graphWeights(tiny);
    expect(w.slice(0, 9)).toEqual([
      { name: 'model.embed_tokens.weight', shape: [40, 16] },
      { name: 'model.layers.0.input_layernorm.weight', shape: [16] },
      { name: 'model.layers.0.self_attn.q_proj.weight', shape: [32, 16] },
      { name: 'model.layers.0.self_attn.k_proj.weight', shape: [16, 16] },
      { name: 'model.layers.0.self_attn.v_proj.weight', shape: [16, 16] },
      { name: 'model.layers.0.self_attn.o_proj.weight', shape: [16, 32] },
      { name: 'model.layers.0.post_attention_layernorm.weight', shape: [16] },
      { name: 'model.layers.0.mlp.gate_proj.weight', shape: [24, 16] },
      { name: 'model.layers.0.mlp.up_proj.weight', shape: [24, 16] },
    ]);
    expect(w.slice(-2)).toEqual([{ name: 'model.norm.weight', shape: [16] }, { name: 'lm_head.weight', shape: [40, 16] }]);
    expect(w.length).toBe(1 + 3 * 9 + 2);
  });

  test('a layer path lists each physical layer once, in first-use order', () => {
    const hops = [{ layer: 2, scale: 1 }, { layer: 0, scale: 0.5 }, { layer: 2, scale: 2 }];
    const layers = graphWeights(tiny, { hops }).map((w) => /layers\.(\d+)\.input_layernorm/.exec(w.name)?.[1]).filter(Boolean);
    expect(layers).toEqual(['2', '0']);
    const g = buildGraph(tiny, { hops, kvCache: 'decode', dtype: 'float16' });
    expect(g.weightInputs.every((w) => w.dtype === 'float16')).toBe(true);
    expect(g.inputs.map((i) => i.name)).toEqual(['input_ids', 'attention_mask', 'position_ids', ...[0, 1, 2].flatMap((h) => [`past_key_values.${h}.key`, `past_key_values.${h}.value`])]);
    expect(g.outputs.at(-1)).toBe('logits');
  });

  test('bad options are typed errors', () => {
    expect(() => buildGraph(tiny, { logits: false })).toThrow(ModelError);
    expect(() => buildGraph(tiny, { hops: [] })).toThrow(RecipeError);
    expect(() => buildGraph(tiny, { hops: [{ layer: -1, scale: 1 }] })).toThrow(/hop 0: layer/);
    expect(() => buildGraph(tiny, { hops: [{ layer: 0, scale: NaN }] })).toThrow(/scale/);
  });
});

describe('toHalfBits (f16 graph constants)', () => {
  test('round to nearest even, subnormals, overflow — as the fixture codec', () => {
    const values = [0, -0, 1, -1, 1 / 3, 65504, 65519, 65520, 1e5, 6.1e-5, 5.96e-8, 2.98e-8, 2.99e-8, 1e-10, 1 + 2 ** -11, 1 + 3 * 2 ** -11, Infinity, -Infinity];
    for (let i = 0; i < 2000; i++) values.push(Math.sin(i * 12.9898) * 10 ** ((i % 14) - 8));
    for (const v of values) expect([v, toHalfBits(v)]).toEqual([v, f32ToF16Bits(v)]);
    expect(toHalfBits(NaN) & 0x7c00).toBe(0x7c00);
    expect(toHalfBits(NaN) & 0x3ff).not.toBe(0);
  });
});

// config.json → LlamaArch for the newer architectures (Qwen3, Phi-3, Gemma 2, Gemma 3) and the rope
// scalings (linear, dynamic, yarn, longrope): fields and defaults as transformers' config classes
// set them, per-layer sliding windows, tensor lists, and the rotary frequencies against golden
// values. The goldens come from a numpy float32 transliteration of transformers'
// modeling_rope_utils.py (_compute_dynamic_ntk_parameters, _compute_yarn_parameters,
// _compute_longrope_parameters), written separately from src/eval/arch.ts.
import { describe, expect, test } from 'vitest';
import { graphWeights, isSlidingLayer, parseArch, ropeAttentionScaling, ropeInvFreq, usesLocalRope, yarnCorrectionRange, type LlamaArch, type YarnRopeScaling } from '../../src/eval/arch';
import { ModelError, RecipeError, StudioError, UnsupportedError } from '../../src/errors';
import { checkEvaluable, pathLayout, type EvalTarget } from '../../src/eval/target-plan';
import type { ModelInfo } from '../../src/formats/model-info';

const GOLD = {"dyn": [1.0, 0.23080770671367645, 0.05327219516038895, 0.012295631691813469, 0.002837926149368286, 0.0006550151738338172, 0.0001511825539637357, 3.489409573376179e-05], "yarn": [1.0, 0.32573652267456055, 0.08811427652835846, 0.01215615589171648, 0.005590170156210661, 0.002570713870227337, 0.0011821769876405597, 0.0005436398205347359], "yarn_att": 1.2079441541679836, "yarn_range": [0, 3], "yarn_qwen3": [1.0, 0.8058422207832336, 0.6493816375732422, 0.5232990980148315, 0.4216965138912201, 0.33982083201408386, 0.2738419771194458, 0.22067339718341827, 0.17782793939113617, 0.14330126345157623, 0.11547820270061493, 0.09305720031261444, 0.07498941570520401, 0.0604296438395977, 0.04869675263762474, 0.03924189880490303, 0.03162277862429619, 0.025482967495918274, 0.020535249263048172, 0.016548171639442444, 0.01333521492779255, 0.010746078565716743, 0.00865964312106371, 0.006978305988013744, 0.005375321488827467, 0.004131738096475601, 0.0031684227287769318, 0.002423422411084175, 0.0018482765881344676, 0.0014051124453544617, 0.001064361073076725, 0.000802959781140089, 0.0006029411451891065, 0.0004503235686570406, 0.00033424055436626077, 0.0002462583943270147, 0.00017984118312597275, 0.00012993148993700743, 9.262301318813115e-05, 6.490394298452884e-05, 4.4456985051510856e-05, 3.582531280699186e-05, 2.886955189751461e-05, 2.3264299670699984e-05, 1.8747356079984456e-05, 1.5107409126358107e-05, 1.2174188668723218e-05, 9.8104746939498e-06, 7.905693564680405e-06, 6.37074253972969e-06, 5.133812464919174e-06, 4.137042651564116e-06, 3.333803988425643e-06, 2.686519565031631e-06, 2.16491071114433e-06, 1.744576366036199e-06, 1.405853367941745e-06, 1.1328959317324916e-06, 9.129353770731541e-07, 7.356818514381303e-07, 5.928434347879374e-07, 4.777382400789065e-07, 3.8498163235090033e-07, 3.102344408034696e-07], "yarn_qwen3_range": [23, 40], "long_short": [1.0, 0.2874797582626343, 0.0833333358168602, 0.024325214326381683, 0.0071428571827709675, 0.0021081853192299604, 0.0006249999860301614, 0.0001860163320088759], "long_long": [0.5, 0.12649111449718475, 0.03333333507180214, 0.009035078808665276, 0.0024999999441206455, 0.0007027284009382129, 0.00019999999494757503, 5.749595584347844e-05], "long_att": 1.1832159566199232};

// Shapes of published configs, trimmed to the keys that matter.
const QWEN3_06B = {
  architectures: ['Qwen3ForCausalLM'], model_type: 'qwen3', vocab_size: 151936, hidden_size: 1024, intermediate_size: 3072, num_hidden_layers: 28,
  num_attention_heads: 16, num_key_value_heads: 8, head_dim: 128, hidden_act: 'silu', rms_norm_eps: 1e-6, rope_theta: 1000000, rope_scaling: null,
  max_position_embeddings: 40960, attention_bias: false, sliding_window: null, use_sliding_window: false, max_window_layers: 28, tie_word_embeddings: true,
  bos_token_id: 151643, eos_token_id: 151645,
};
const PHI3_MINI_128K = {
  architectures: ['Phi3ForCausalLM'], model_type: 'phi3', vocab_size: 32064, hidden_size: 3072, intermediate_size: 8192, num_hidden_layers: 32,
  num_attention_heads: 32, num_key_value_heads: 32, hidden_act: 'silu', rms_norm_eps: 1e-5, rope_theta: 10000, max_position_embeddings: 131072,
  original_max_position_embeddings: 4096, sliding_window: 262144, tie_word_embeddings: false, bos_token_id: 1, eos_token_id: 32000,
  rope_scaling: { type: 'longrope', short_factor: Array.from({ length: 48 }, (_, i) => 1 + i / 100), long_factor: Array.from({ length: 48 }, (_, i) => 1 + i) },
};
const GEMMA2_2B = {
  architectures: ['Gemma2ForCausalLM'], model_type: 'gemma2', vocab_size: 256000, hidden_size: 2304, intermediate_size: 9216, num_hidden_layers: 26,
  num_attention_heads: 8, num_key_value_heads: 4, head_dim: 256, hidden_act: 'gelu_pytorch_tanh', hidden_activation: 'gelu_pytorch_tanh', rms_norm_eps: 1e-6,
  rope_theta: 10000, max_position_embeddings: 8192, sliding_window: 4096, query_pre_attn_scalar: 256, attn_logit_softcapping: 50, final_logit_softcapping: 30,
  attention_bias: false, bos_token_id: 2, eos_token_id: [1, 107], pad_token_id: 0,
};
const GEMMA3_1B = {
  architectures: ['Gemma3ForCausalLM'], model_type: 'gemma3_text', vocab_size: 262144, hidden_size: 1152, intermediate_size: 6912, num_hidden_layers: 26,
  num_attention_heads: 4, num_key_value_heads: 1, head_dim: 256, hidden_activation: 'gelu_pytorch_tanh', rms_norm_eps: 1e-6, rope_theta: 1000000,
  rope_local_base_freq: 10000, rope_scaling: null, max_position_embeddings: 32768, sliding_window: 512, sliding_window_pattern: 6, query_pre_attn_scalar: 256,
  attn_logit_softcapping: null, final_logit_softcapping: null, bos_token_id: 2, eos_token_id: [1, 106],
};
const LLAMA = {
  architectures: ['LlamaForCausalLM'], vocab_size: 40, hidden_size: 64, intermediate_size: 96, num_hidden_layers: 2, num_attention_heads: 4, head_dim: 16,
  rope_theta: 10000, max_position_embeddings: 16,
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

/** Relative closeness in f32 ulps (pow implementations may differ in the last bit). */
function expectF32Close(got: Float32Array, want: number[], rel = 3e-7): void {
  expect(got.length).toBe(want.length);
  for (let k = 0; k < want.length; k++) expect(Math.abs(got[k] - want[k]), `k = ${k}: ${got[k]} vs ${want[k]}`).toBeLessThanOrEqual(rel * Math.abs(want[k]));
}

describe('parseArch: the newer families', () => {
  test('Qwen3 0.6B: q/k norms, explicit head_dim 128 ≠ hidden/heads, tied, no biases', () => {
    const a = parseArch(QWEN3_06B, 'qwen3/config.json');
    expect(a).toMatchObject({ family: 'qwen3', headDim: 128, rotaryDim: 128, qkNorm: true, normStyle: 'llama', sandwichNorms: false, attentionBias: false, attentionOutBias: false, tieWordEmbeddings: true, slidingWindow: null });
    expect(a.attnScale).toBe(128 ** -0.5);
    const layer0 = graphWeights(a).filter((w) => w.name.startsWith('model.layers.0.')).map((w) => [w.name.slice(15), w.shape]);
    expect(layer0).toEqual([
      ['input_layernorm.weight', [1024]], ['self_attn.q_proj.weight', [2048, 1024]], ['self_attn.k_proj.weight', [1024, 1024]], ['self_attn.v_proj.weight', [1024, 1024]],
      ['self_attn.q_norm.weight', [128]], ['self_attn.k_norm.weight', [128]], ['self_attn.o_proj.weight', [1024, 2048]], ['post_attention_layernorm.weight', [1024]],
      ['mlp.gate_proj.weight', [3072, 1024]], ['mlp.up_proj.weight', [3072, 1024]], ['mlp.down_proj.weight', [1024, 3072]],
    ]);
    // Qwen3 attention_bias puts a bias on all four projections (o_proj too, unlike Qwen2)
    expect(parseArch({ ...QWEN3_06B, attention_bias: true }, 'c.json')).toMatchObject({ attentionBias: true, attentionOutBias: true });
    // head_dim defaults to Qwen3Config's 128, not hidden/heads
    const { head_dim: _h, ...noHeadDim } = QWEN3_06B;
    expect(parseArch(noHeadDim, 'c.json').headDim).toBe(128);
  });

  test('Phi-3 mini 128k: fused projections, longrope with the top-level original context, sliding window on every layer', () => {
    const a = parseArch(PHI3_MINI_128K, 'phi3/config.json');
    expect(a).toMatchObject({ family: 'phi3', fusedProjections: true, headDim: 96, rotaryDim: 96, slidingWindow: 262144, slidingLayers: 'all', tieWordEmbeddings: false, maxSequenceLength: 131072 });
    expect(a.ropeScaling).toMatchObject({ type: 'longrope', originalMaxPositionEmbeddings: 4096 });
    // transformers: attention factor √(1 + ln(131072/4096) / ln 4096)
    expect(ropeAttentionScaling(a)).toBeCloseTo(Math.sqrt(1 + Math.log(32) / Math.log(4096)), 14);
    const layer0 = graphWeights(a).filter((w) => w.name.startsWith('model.layers.0.')).map((w) => w.name.slice(15));
    expect(layer0).toEqual(['input_layernorm.weight', 'self_attn.qkv_proj.weight', 'self_attn.o_proj.weight', 'post_attention_layernorm.weight', 'mlp.gate_up_proj.weight', 'mlp.down_proj.weight']);
    expect(graphWeights(a).find((w) => w.name.endsWith('qkv_proj.weight'))!.shape).toEqual([3 * 3072, 3072]);
    expect(graphWeights(a).find((w) => w.name.endsWith('gate_up_proj.weight'))!.shape).toEqual([2 * 8192, 3072]);
    expect(isSlidingLayer(a, 0) && isSlidingLayer(a, 31)).toBe(true);
    // the legacy "su" name is Phi3Config's longrope; Phi-4-mini's partial rotary factor rotates ¾ of each head
    const phi4 = parseArch(
      { ...PHI3_MINI_128K, hidden_size: 3072, num_attention_heads: 24, num_key_value_heads: 8, partial_rotary_factor: 0.75, tie_word_embeddings: true,
        rope_scaling: { type: 'su', short_factor: Array(48).fill(1), long_factor: Array(48).fill(2) } },
      'phi4/config.json',
    );
    expect(phi4).toMatchObject({ headDim: 128, rotaryDim: 96, ropeScaling: { type: 'longrope' } });
    expect(ropeInvFreq(phi4).length).toBe(48);
  });

  test('Gemma 2 2B: (1+w) norms, √hidden, tanh-GELU, soft-caps, even layers slide, query_pre_attn_scalar', () => {
    const a = parseArch(GEMMA2_2B, 'gemma2/config.json');
    expect(a).toMatchObject({
      family: 'gemma2', headDim: 256, normStyle: 'gemma', embedScale: 48, sandwichNorms: true, activation: 'gelu_tanh', attnSoftcap: 50, finalSoftcap: 30,
      slidingWindow: 4096, slidingLayers: { pattern: 2 }, tieWordEmbeddings: true, qkNorm: false,
    });
    expect(a.attnScale).toBe(256 ** -0.5);
    expect([0, 1, 2, 3, 24, 25].map((l) => isSlidingLayer(a, l))).toEqual([true, false, true, false, true, false]);
    const layer0 = graphWeights(a).filter((w) => w.name.startsWith('model.layers.0.')).map((w) => w.name.slice(15));
    expect(layer0).toEqual([
      'input_layernorm.weight', 'self_attn.q_proj.weight', 'self_attn.k_proj.weight', 'self_attn.v_proj.weight', 'self_attn.o_proj.weight', 'post_attention_layernorm.weight',
      'pre_feedforward_layernorm.weight', 'mlp.gate_proj.weight', 'mlp.up_proj.weight', 'mlp.down_proj.weight', 'post_feedforward_layernorm.weight',
    ]);
    expect(graphWeights(a).at(-1)!.name).toBe('model.norm.weight'); // tied: no lm_head
    // Gemma2Config defaults: caps 50 / 30 when absent, none when null; query_pre_attn_scalar 256
    const { attn_logit_softcapping: _a, final_logit_softcapping: _f, query_pre_attn_scalar: _q, ...bare } = GEMMA2_2B;
    expect(parseArch(bare, 'c.json')).toMatchObject({ attnSoftcap: 50, finalSoftcap: 30, attnScale: 256 ** -0.5 });
    expect(parseArch({ ...GEMMA2_2B, attn_logit_softcapping: null, final_logit_softcapping: null }, 'c.json')).toMatchObject({ attnSoftcap: null, finalSoftcap: null });
    // √hidden in the checkpoint's dtype, as transformers' normalizer tensor holds it
    expect(parseArch({ ...GEMMA2_2B, hidden_size: 3584, torch_dtype: 'bfloat16' }, 'c.json').embedScale).toBe(59.75);
    expect(parseArch({ ...GEMMA2_2B, hidden_size: 3584, torch_dtype: 'float16' }, 'c.json').embedScale).toBe(59.875);
    expect(parseArch({ ...GEMMA2_2B, hidden_size: 3584, torch_dtype: 'float32' }, 'c.json').embedScale).toBe(Math.fround(Math.sqrt(3584)));
    expect(parseArch({ ...GEMMA3_1B, dtype: 'bfloat16' }, 'c.json').embedScale).toBe(34);
    expect(parseArch(QWEN3_06B, 'c.json').embedScale).toBeNull();
    // 27B: query_pre_attn_scalar = hidden / heads = 144, not head_dim
    expect(parseArch({ ...GEMMA2_2B, query_pre_attn_scalar: 144 }, 'c.json').attnScale).toBe(144 ** -0.5);
  });

  test('Gemma 3 1B: q/k norms, every 6th layer global with rope_theta, the others local (rope_local_base_freq) and sliding', () => {
    const a = parseArch(GEMMA3_1B, 'gemma3/config.json');
    expect(a).toMatchObject({ family: 'gemma3', qkNorm: true, normStyle: 'gemma', attnSoftcap: null, finalSoftcap: null, slidingWindow: 512, slidingLayers: { pattern: 6 }, ropeTheta: 1000000, localRope: { theta: 10000, scaling: null } });
    expect(Array.from({ length: 12 }, (_, l) => isSlidingLayer(a, l))).toEqual([true, true, true, true, true, false, true, true, true, true, true, false]);
    expect(usesLocalRope(a, 0) && !usesLocalRope(a, 5)).toBe(true);
    expect(ropeInvFreq(a, { local: true })[1]).toBeCloseTo(10000 ** (-2 / 256), 7);
    expect(ropeInvFreq(a)[1]).toBeCloseTo(1e6 ** (-2 / 256), 7);
    // 4B-style linear scaling applies to the global layers only
    const b = parseArch({ ...GEMMA3_1B, rope_scaling: { rope_type: 'linear', factor: 8 } }, 'c.json');
    expect(ropeInvFreq(b)[3]).toBe(Math.fround(ropeInvFreq(a)[3] / 8));
    expect(ropeInvFreq(b, { local: true })).toEqual(ropeInvFreq(a, { local: true }));
    // layer_types that follow the pattern keep the pattern; others are taken as listed
    const types = Array.from({ length: 26 }, (_, i) => ((i + 1) % 6 === 0 ? 'full_attention' : 'sliding_attention'));
    expect(parseArch({ ...GEMMA3_1B, layer_types: types }, 'c.json').slidingLayers).toEqual({ pattern: 6 });
    const odd = parseArch({ ...GEMMA3_1B, num_hidden_layers: 3, layer_types: ['full_attention', 'sliding_attention', 'full_attention'] }, 'c.json');
    expect([0, 1, 2].map((l) => isSlidingLayer(odd, l))).toEqual([false, true, false]);
    expect(() => isSlidingLayer(odd, 3)).toThrow(RecipeError);
    // transformers 5: rope_parameters per layer kind
    const { rope_theta: _t, rope_local_base_freq: _l, rope_scaling: _s, ...rest } = GEMMA3_1B;
    const v5 = parseArch({ ...rest, rope_parameters: { full_attention: { rope_type: 'linear', factor: 8, rope_theta: 1e6 }, sliding_attention: { rope_type: 'default', rope_theta: 10000 } } }, 'c.json');
    expect(v5).toMatchObject({ ropeTheta: 1e6, ropeScaling: { type: 'linear', factor: 8 }, localRope: { theta: 10000, scaling: null } });
  });
});

describe('rope scalings: frequencies and attention factors as transformers computes them', () => {
  const arch = (rope_scaling: unknown, over: Record<string, unknown> = {}): LlamaArch => parseArch({ ...LLAMA, rope_scaling, ...over }, 'c.json');
  const plain = ropeInvFreq(arch(null));

  test('linear: every frequency ÷ factor; attention factor 1', () => {
    const a = arch({ type: 'linear', factor: 4 });
    expect(ropeInvFreq(a)).toEqual(plain.map((v) => Math.fround(v / 4)));
    expect(ropeAttentionScaling(a)).toBe(1);
  });

  test('dynamic: the default frequencies up to max_position_embeddings, a grown base past it (golden L = 59)', () => {
    const a = arch({ rope_type: 'dynamic', factor: 3 });
    expect(ropeInvFreq(a)).toEqual(plain);
    expect(ropeInvFreq(a, { seqLen: 16 })).toEqual(plain);
    expectF32Close(ropeInvFreq(a, { seqLen: 59 }), GOLD.dyn);
    expect(ropeInvFreq(a, { seqLen: 59 })[3]).toBeLessThan(plain[3]);
    expect(a.maxSequenceLength).toBe(48); // factor × max_position_embeddings
  });

  test('yarn: the ramp between interpolation and extrapolation, attention factor 0.1·ln(factor) + 1 (goldens)', () => {
    const a = arch({ rope_type: 'yarn', factor: 8, original_max_position_embeddings: 32, beta_fast: 8, beta_slow: 1 }, { rope_theta: 500 });
    expect(yarnCorrectionRange(a.ropeScaling as YarnRopeScaling, 16, 500)).toEqual(GOLD.yarn_range);
    expectF32Close(ropeInvFreq(a), GOLD.yarn);
    expect(ropeAttentionScaling(a)).toBeCloseTo(GOLD.yarn_att, 15);
    // Qwen3's published long-context setting, at head_dim 128
    const q = parseArch({ ...QWEN3_06B, rope_scaling: { rope_type: 'yarn', factor: 4, original_max_position_embeddings: 32768 } }, 'c.json');
    expect(yarnCorrectionRange(q.ropeScaling as YarnRopeScaling, 128, 1e6)).toEqual(GOLD.yarn_qwen3_range);
    expectF32Close(ropeInvFreq(q), GOLD.yarn_qwen3);
    // explicit attention_factor wins; mscale / mscale_all_dim (DeepSeek) as a ratio; factor honoured as given
    expect(ropeAttentionScaling(arch({ rope_type: 'yarn', factor: 8, attention_factor: 1.5 }))).toBe(1.5);
    const ms = (s: number, m: number) => 0.1 * m * Math.log(s) + 1;
    expect(ropeAttentionScaling(arch({ rope_type: 'yarn', factor: 40, mscale: 1, mscale_all_dim: 0.707 }))).toBeCloseTo(ms(40, 1) / ms(40, 0.707), 14);
    expect(arch({ rope_type: 'yarn', factor: 4, original_max_position_embeddings: 8 }).ropeScaling).toMatchObject({ factor: 4, originalMaxPositionEmbeddings: 8 });
  });

  test('longrope: short factors up to the original context, long ones past it (goldens); attention factor from max/original', () => {
    const short = Array.from({ length: 8 }, (_, i) => 1 + 0.1 * i);
    const long = Array.from({ length: 8 }, (_, i) => 2 + 0.5 * i);
    const a = parseArch({ ...LLAMA, architectures: ['Phi3ForCausalLM'], max_position_embeddings: 128, original_max_position_embeddings: 32, rope_scaling: { type: 'longrope', short_factor: short, long_factor: long } }, 'c.json');
    expectF32Close(ropeInvFreq(a, { seqLen: 32 }), GOLD.long_short);
    expectF32Close(ropeInvFreq(a), GOLD.long_short);
    expectF32Close(ropeInvFreq(a, { seqLen: 33 }), GOLD.long_long);
    expect(ropeAttentionScaling(a)).toBeCloseTo(GOLD.long_att, 14);
    // no original context anywhere: Phi3Config's default 4096
    const d = parseArch({ ...LLAMA, architectures: ['Phi3ForCausalLM'], max_position_embeddings: 8192, rope_scaling: { type: 'longrope', short_factor: short, long_factor: long } }, 'c.json');
    expect(d.ropeScaling).toMatchObject({ originalMaxPositionEmbeddings: 4096 });
    expect(ropeAttentionScaling(d)).toBeCloseTo(Math.sqrt(1 + Math.log(2) / Math.log(4096)), 14);
  });
});

describe('bad configs: typed errors naming config.json and what was expected', () => {
  const cases: { name: string; config: object; cls: abstract new (...args: never[]) => StudioError; key: string; text: RegExp }[] = [
    { name: 'unknown architecture lists the supported ones', config: { ...LLAMA, architectures: ['Gemma3ForConditionalGeneration'] }, cls: UnsupportedError, key: 'architectures',
      text: /"Gemma3ForConditionalGeneration" cannot be evaluated; supported: LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM, Qwen3ForCausalLM, Phi3ForCausalLM, Gemma2ForCausalLM, Gemma3ForCausalLM/ },
    { name: 'unknown rope type', config: { ...LLAMA, rope_scaling: { type: 'xpos', factor: 2 } }, cls: UnsupportedError, key: 'rope_scaling', text: /"rope_scaling" type "xpos" is not supported/ },
    { name: 'unknown rope type (transformers 5)', config: { ...LLAMA, rope_parameters: { rope_type: 'mrope', rope_theta: 1e4 } }, cls: UnsupportedError, key: 'rope_parameters', text: /"mrope"/ },
    { name: 'Phi-3 with linear scaling', config: { ...PHI3_MINI_128K, rope_scaling: { type: 'linear', factor: 2 } }, cls: UnsupportedError, key: 'rope_scaling', text: /only "longrope"/ },
    { name: 'longrope factors of the wrong length', config: { ...PHI3_MINI_128K, rope_scaling: { type: 'longrope', short_factor: [1, 2], long_factor: [1, 2] } }, cls: ModelError, key: 'rope_scaling.short_factor', text: /48 positive numbers/ },
    { name: 'yarn without a factor', config: { ...LLAMA, rope_scaling: { rope_type: 'yarn' } }, cls: ModelError, key: 'rope_scaling.factor', text: /factor/ },
    { name: 'dynamic with a negative factor', config: { ...LLAMA, rope_scaling: { rope_type: 'dynamic', factor: -1 } }, cls: ModelError, key: 'rope_scaling.factor', text: /positive number/ },
    { name: 'Gemma with exact GELU', config: { ...GEMMA2_2B, hidden_activation: 'gelu' }, cls: UnsupportedError, key: 'hidden_activation', text: /"gelu"/ },
    { name: 'partial rotary outside Phi-3', config: { ...LLAMA, partial_rotary_factor: 0.5 }, cls: UnsupportedError, key: 'partial_rotary_factor', text: /LlamaForCausalLM/ },
    { name: 'Qwen3 per-layer sliding windows', config: { ...QWEN3_06B, use_sliding_window: true }, cls: UnsupportedError, key: 'use_sliding_window', text: /Qwen3ForCausalLM/ },
    { name: 'Gemma 3 layer_types with a bad kind', config: { ...GEMMA3_1B, layer_types: ['chunked_attention'] }, cls: ModelError, key: 'layer_types', text: /full_attention/ },
  ];
  for (const c of cases)
    test(c.name, () => {
      const e = errorOf(() => parseArch(c.config, 'models/x/config.json'));
      expect(e).toBeInstanceOf(c.cls);
      expect(e.message).toMatch(/^models\/x\/config.json: /);
      expect(e.message).toMatch(c.text);
      expect(e.details).toMatchObject({ file: 'models/x/config.json', key: c.key });
    });
});

describe('layer paths over Gemma, and the evaluator preflight', () => {
  const info = (ref: string, config: Record<string, unknown>): ModelInfo => ({ ref, name: ref.split('/').pop()!, config, tensors: new Map(), files: new Map(), numLayers: Number(config.num_hidden_layers) });

  test('a layer path keeps each pool layer\'s attention kind (Gemma 3: every 6th layer global)', () => {
    const cfg = { ...GEMMA3_1B, num_hidden_layers: 12 };
    const layout = pathLayout(
      { kind: 'path', a: { kind: 'model', ref: 'a' }, b: 'b', hops: [{ model: 'a', layer: 5, scale: 1 }, { model: 'b', layer: 0, scale: 1 }, { model: 'a', layer: 11, scale: 1 }, { model: 'b', layer: 3, scale: 1 }] },
      cfg,
      cfg,
    );
    expect(layout.config.layer_types).toEqual(['full_attention', 'sliding_attention', 'full_attention', 'sliding_attention']);
    const arch = parseArch(layout.config, 'path/config.json');
    expect([0, 1, 2, 3].map((l) => isSlidingLayer(arch, l))).toEqual([false, true, false, true]);
    expect([0, 1, 2, 3].map((l) => usesLocalRope(arch, l))).toEqual([false, true, false, true]);
    // Llama-family paths are left as they were
    const llama = pathLayout({ kind: 'path', a: { kind: 'model', ref: 'a' }, b: 'b', hops: [{ model: 'a', layer: 1, scale: 1 }] }, LLAMA, LLAMA);
    expect(llama.config.layer_types).toBeUndefined();
  });

  test('checkEvaluable refuses an architecture the evaluator lacks, naming the model\'s config.json, for models, recipes and paths', () => {
    const models = new Map([info('org/gemma', GEMMA3_1B), info('org/vlm', { ...GEMMA3_1B, architectures: ['Gemma3ForConditionalGeneration'] })].map((m) => [m.ref, m]));
    expect(() => checkEvaluable({ kind: 'model', ref: 'org/gemma' }, models)).not.toThrow();
    for (const t of [
      { kind: 'model', ref: 'org/vlm' },
      { kind: 'recipe', recipe: { merge_method: 'linear', models: [{ model: 'org/gemma' }, { model: 'org/vlm' }] } },
      { kind: 'recipe', recipe: { merge_method: 'passthrough', slices: [{ sources: [{ model: 'org/vlm', layer_range: [0, 2] }] }] } },
      { kind: 'path', a: { kind: 'model', ref: 'org/gemma' }, b: 'org/vlm', hops: [] },
    ] as EvalTarget[]) {
      const e = errorOf(() => checkEvaluable(t, models));
      expect(e).toBeInstanceOf(UnsupportedError);
      expect(e.message).toMatch(/^vlm\/config.json: architecture "Gemma3ForConditionalGeneration" cannot be evaluated; supported: .*Gemma3ForCausalLM/);
    }
  });
});

// The merge side of the architectures the evaluator runs (Qwen3, Phi-3, Gemma 2, Gemma 3): the plan
// infers layers, pre-weights and post-weights from tensor names, and this checks that for these
// families it classifies every tensor as mergekit's architecture definitions do
// (mergekit/_data/architectures/{qwen3,phi3,gemma2,gemma3}.json: pre_weights = the embedding,
// layer_templates = the per-layer tensors below, post_weights = final norm and lm_head — optional
// and tied to the embedding for Qwen3 and Gemma), that slices renumber them, that gradients run over
// the layers (t = i/(L−1) per slice) and that pre/post weights sit at t = 0, the embedding from the
// first slice's sources and the final norm / lm_head from the last slice's.
import { describe, expect, test } from 'vitest';
import { graphWeights, parseArch } from '../../src/eval/arch';
import { buildPlan } from '../../src/recipe/plan';
import type { ModelInfo, TensorInfo } from '../../src/formats/model-info';
import type { ByteSource } from '../../src/io/types';
import type { Recipe } from '../../src/recipe/types';

// mergekit's layer_templates, per architecture JSON (the names after "model.layers.${layer_index}.").
const MERGEKIT_LAYER_TEMPLATES: Record<string, string[]> = {
  qwen3: ['input_layernorm.weight', 'mlp.down_proj.weight', 'mlp.gate_proj.weight', 'mlp.up_proj.weight', 'post_attention_layernorm.weight', 'self_attn.k_norm.weight', 'self_attn.k_proj.weight', 'self_attn.q_norm.weight', 'self_attn.q_proj.weight', 'self_attn.v_proj.weight', 'self_attn.o_proj.weight'],
  phi3: ['input_layernorm.weight', 'post_attention_layernorm.weight', 'self_attn.o_proj.weight', 'self_attn.qkv_proj.weight', 'mlp.gate_up_proj.weight', 'mlp.down_proj.weight'],
  gemma2: ['input_layernorm.weight', 'self_attn.q_proj.weight', 'self_attn.k_proj.weight', 'self_attn.v_proj.weight', 'self_attn.o_proj.weight', 'post_attention_layernorm.weight', 'pre_feedforward_layernorm.weight', 'mlp.up_proj.weight', 'mlp.gate_proj.weight', 'mlp.down_proj.weight', 'post_feedforward_layernorm.weight'],
  gemma3: ['input_layernorm.weight', 'self_attn.q_proj.weight', 'self_attn.q_norm.weight', 'self_attn.k_proj.weight', 'self_attn.k_norm.weight', 'self_attn.v_proj.weight', 'self_attn.o_proj.weight', 'post_attention_layernorm.weight', 'pre_feedforward_layernorm.weight', 'mlp.up_proj.weight', 'mlp.gate_proj.weight', 'mlp.down_proj.weight', 'post_feedforward_layernorm.weight'],
};

const BASE = { vocab_size: 12, hidden_size: 8, intermediate_size: 12, num_hidden_layers: 4, num_attention_heads: 2, num_key_value_heads: 1, head_dim: 4, torch_dtype: 'float32' };
const CONFIGS: Record<string, Record<string, unknown>> = {
  qwen3: { ...BASE, architectures: ['Qwen3ForCausalLM'], tie_word_embeddings: true },
  phi3: { ...BASE, architectures: ['Phi3ForCausalLM'], num_key_value_heads: 2, tie_word_embeddings: false },
  gemma2: { ...BASE, architectures: ['Gemma2ForCausalLM'] },
  gemma3: { ...BASE, architectures: ['Gemma3ForCausalLM'], tie_word_embeddings: true },
};

const dummy = (name: string): ByteSource => ({ name, size: 0, read: async () => new Uint8Array(0), text: async () => '' }) as unknown as ByteSource;

/** Headers of a checkpoint holding exactly the tensors the evaluation graph reads for `config`. */
function checkpoint(ref: string, config: Record<string, unknown>): ModelInfo {
  const arch = parseArch(config, `${ref}/config.json`);
  const src = dummy('model.safetensors');
  const tensors = new Map<string, TensorInfo>();
  for (const w of graphWeights(arch)) tensors.set(w.name, { name: w.name, dtype: 'F32', shape: w.shape, source: src, byteOffset: 0, byteLength: 0 });
  return { ref, name: ref, config, tensors, files: new Map(), numLayers: arch.numLayers };
}

const layerOf = (name: string): number | null => {
  const m = /^model\.layers\.(\d+)\./.exec(name);
  return m ? Number(m[1]) : null;
};

describe.each(Object.keys(CONFIGS))('%s: tensors as mergekit classifies them', (family) => {
  const config = CONFIGS[family];
  const A = checkpoint('A', config);
  const B = checkpoint('B', config);
  const models = new Map([A, B].map((m) => [m.ref, m]));
  const tied = config.tie_word_embeddings !== false;

  test('the evaluator reads exactly mergekit\'s layer templates, embedding, final norm and (untied) lm_head', () => {
    const names = [...A.tensors.keys()];
    for (let l = 0; l < 4; l++)
      expect(names.filter((n) => layerOf(n) === l).map((n) => n.slice(`model.layers.${l}.`.length)).sort()).toEqual([...MERGEKIT_LAYER_TEMPLATES[family]].sort());
    expect(names.filter((n) => layerOf(n) === null).sort()).toEqual(['model.embed_tokens.weight', 'model.norm.weight', ...(tied ? [] : ['lm_head.weight'])].sort());
  });

  test('slices with a weight gradient: layers renumbered from their source ranges, t = i/(L−1) per slice; embedding from the first slice, norm and lm_head from the last, at t = 0', () => {
    const recipe: Recipe = {
      merge_method: 'linear',
      slices: [
        { sources: [{ model: 'A', layer_range: [0, 3], parameters: { weight: [1, 0] } }, { model: 'B', layer_range: [1, 4], parameters: { weight: [0, 1] } }] },
        { sources: [{ model: 'B', layer_range: [2, 4], parameters: { weight: [0.2, 0.8] } }, { model: 'A', layer_range: [0, 2], parameters: { weight: 0.5 } }] },
      ],
    };
    const plan = buildPlan(recipe, models);
    const entries = new Map(plan.entries.map((e) => [e.name, e]));
    expect(plan.config.num_hidden_layers).toBe(5);
    // every output layer carries every template tensor, each input from its source layer
    const expected: { out: number; src: [string, number][]; w: number[] }[] = [
      { out: 0, src: [['A', 0], ['B', 1]], w: [1, 0] },
      { out: 1, src: [['A', 1], ['B', 2]], w: [0.5, 0.5] },
      { out: 2, src: [['A', 2], ['B', 3]], w: [0, 1] },
      { out: 3, src: [['B', 2], ['A', 0]], w: [0.2, 0.5] },
      { out: 4, src: [['B', 3], ['A', 1]], w: [0.8, 0.5] },
    ];
    for (const { out, src, w } of expected)
      for (const suffix of MERGEKIT_LAYER_TEMPLATES[family]) {
        const e = entries.get(`model.layers.${out}.${suffix}`);
        expect(e, `layer ${out} ${suffix}`).toBeDefined();
        expect(e!.inputs.map((i) => [i.model, layerOf(i.tensor.name)])).toEqual(src);
        expect(e!.inputs.map((i) => i.tensor.name.endsWith(suffix))).toEqual([true, true]);
        expect(e!.inputs.map((i) => i.params.weight as number).map((x) => Math.round(x * 1e12) / 1e12)).toEqual(w);
      }
    expect(plan.entries.filter((e) => layerOf(e.name) !== null).length).toBe(5 * MERGEKIT_LAYER_TEMPLATES[family].length);
    // pre-weights: the first slice's sources at t = 0; post-weights: the last slice's at t = 0
    const embed = entries.get('model.embed_tokens.weight')!;
    expect(embed.inputs.map((i) => [i.model, i.params.weight])).toEqual([['A', 1], ['B', 0]]);
    const norm = entries.get('model.norm.weight')!;
    expect(norm.inputs.map((i) => [i.model, i.params.weight])).toEqual([['B', 0.2], ['A', 0.5]]);
    if (tied) expect(entries.has('lm_head.weight')).toBe(false); // optional and tied to the embedding: left out
    else expect(entries.get('lm_head.weight')!.inputs.map((i) => [i.model, i.tensor.name, i.params.weight])).toEqual([['B', 'lm_head.weight', 0.2], ['A', 'lm_head.weight', 0.5]]);
    // nothing else is invented or dropped
    expect(plan.entries.filter((e) => layerOf(e.name) === null).map((e) => e.name).sort()).toEqual(['model.embed_tokens.weight', 'model.norm.weight', ...(tied ? [] : ['lm_head.weight'])].sort());
  });

  test('a passthrough frankenmerge yields a checkpoint the evaluator accepts with the new layer count', () => {
    const plan = buildPlan({ merge_method: 'passthrough', slices: [{ sources: [{ model: 'A', layer_range: [0, 3] }] }, { sources: [{ model: 'B', layer_range: [1, 4] }] }] }, models);
    const arch = parseArch(plan.config, 'merged/config.json');
    expect(arch.numLayers).toBe(6);
    const have = new Set(plan.entries.map((e) => e.name));
    expect(graphWeights(arch).filter((w) => !have.has(w.name))).toEqual([]);
    expect(plan.entries.find((e) => e.name === 'model.layers.4.input_layernorm.weight')!.inputs[0].tensor.name).toBe('model.layers.2.input_layernorm.weight');
  });
});

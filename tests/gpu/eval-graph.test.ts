// The ONNX evaluation graph (src/eval/graph.ts) run by onnxruntime-web against the CPU twin
// (src/eval/reference.ts) on tiny random Llama-family models. WebGPU sessions run on the engine's
// own device with every weight fed from a GPU buffer (Tensor.fromGpuBuffer), as evaluation of a
// merge does; the f16 graph runs on the wasm EP (SwiftShader has no shader-f16).
import { afterAll, describe, expect, test } from 'vitest';
import { getGpu } from '../../src/gpu/device';
import { parseArch, type Hop, type LlamaArch } from '../../src/eval/arch';
import { buildGraph, type GraphOptions } from '../../src/eval/graph';
import { createSession, ort, runSession } from '../../src/eval/ort';
import { positionIdsFromMask, referenceForward, scoreLogits } from '../../src/eval/reference';
import { randn } from './support';
import { encodeF32, roundTo } from '../fixtures/dtype-codec';

// ---------------------------------------------------------------- tiny models

function tinyConfig(over: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    architectures: ['LlamaForCausalLM'],
    vocab_size: 40,
    hidden_size: 32,
    intermediate_size: 48,
    num_hidden_layers: 2,
    num_attention_heads: 4,
    num_key_value_heads: 4,
    rms_norm_eps: 1e-5,
    rope_theta: 10000,
    max_position_embeddings: 128,
    tie_word_embeddings: false,
    hidden_act: 'silu',
    ...over,
  };
}

/** Random weights scaled so activations stay O(1): norms near 1, projections ~1/√fan_in. */
function randomWeights(arch: LlamaArch, seed: number, hops?: Hop[]): Map<string, Float32Array> {
  const out = new Map<string, Float32Array>();
  let s = seed;
  for (const w of buildGraph(arch, { hops }).weightInputs) {
    const n = w.shape.reduce((a, b) => a * b, 1);
    const name = w.name;
    let v: Float32Array;
    if (name.endsWith('norm.weight')) v = randn(n, s++, 0.1).map((x) => 1 + x);
    else if (name === 'model.embed_tokens.weight') v = randn(n, s++, 1);
    else if (name.endsWith('.bias')) v = randn(n, s++, 0.5);
    else v = randn(n, s++, 1.2 / Math.sqrt(w.shape[1]));
    out.set(name, v);
  }
  return out;
}

function randomIds(batch: number, seq: number, vocab: number, seed: number): number[][] {
  const r = randn(batch * seq, seed);
  return Array.from({ length: batch }, (_, b) => Array.from({ length: seq }, (_, i) => Math.abs(Math.floor(r[b * seq + i] * 1e4)) % vocab));
}

const linspace = (n: number, a: number, b: number): number[] => Array.from({ length: n }, (_, i) => a + ((b - a) * i) / Math.max(1, n - 1));

/**
 * Rope scalings and the newer architectures, each with the config change that turns its feature
 * off (`without`) where config.json has one: the graph must match the reference, and be far from
 * the model without the feature. Positions in the tests reach 58, so L = 59 exceeds the small
 * context lengths below (dynamic NTK grows its base, longrope takes its long factors).
 */
const ARCH_CASES: { name: string; config: Record<string, unknown>; without?: Record<string, unknown> }[] = [
  { name: 'linear rope scaling (factor 4)', config: tinyConfig({ rope_scaling: { type: 'linear', factor: 4 } }), without: { rope_scaling: null } },
  { name: 'dynamic NTK rope (L = 59 > max_position_embeddings 16)', config: tinyConfig({ max_position_embeddings: 16, rope_scaling: { rope_type: 'dynamic', factor: 3 } }), without: { rope_scaling: null } },
  {
    name: 'yarn rope (factor 8, original context 32, attention factor)',
    config: tinyConfig({ head_dim: 16, rope_theta: 500, rope_scaling: { rope_type: 'yarn', factor: 8, original_max_position_embeddings: 32, beta_fast: 8, beta_slow: 1 } }),
    without: { rope_scaling: null },
  },
  {
    name: 'Qwen3: q_norm / k_norm per head, explicit head_dim 16, GQA 2:1, q/k/v/o biases',
    config: tinyConfig({ architectures: ['Qwen3ForCausalLM'], head_dim: 16, num_key_value_heads: 2, attention_bias: true, rope_theta: 1000000 }),
  },
  {
    name: 'Phi-3: fused qkv_proj / gate_up_proj, longrope (long factors), partial rotary 1/2, sliding window 5',
    config: tinyConfig({
      architectures: ['Phi3ForCausalLM'], num_key_value_heads: 2, partial_rotary_factor: 0.5, sliding_window: 5, max_position_embeddings: 128, original_max_position_embeddings: 32,
      rope_scaling: { type: 'longrope', short_factor: linspace(2, 1, 1.5), long_factor: linspace(2, 1.5, 9) },
    }),
    without: { rope_scaling: null, sliding_window: null },
  },
  {
    name: 'Phi-3: longrope short factors while L ≤ the original context (64)',
    config: tinyConfig({
      architectures: ['Phi3ForCausalLM'], max_position_embeddings: 256, original_max_position_embeddings: 64,
      rope_scaling: { type: 'su', short_factor: linspace(4, 1, 3), long_factor: linspace(4, 20, 40) },
    }),
    without: { rope_scaling: null },
  },
  {
    name: 'Gemma 2: (1+w) norms, √hidden embeddings, tanh-GELU, soft-capping, alternating sliding window 3, query_pre_attn_scalar',
    config: tinyConfig({
      architectures: ['Gemma2ForCausalLM'], num_hidden_layers: 3, num_key_value_heads: 2, head_dim: 16, query_pre_attn_scalar: 24, sliding_window: 3,
      attn_logit_softcapping: 2, final_logit_softcapping: 3, hidden_activation: 'gelu_pytorch_tanh', tie_word_embeddings: true, torch_dtype: 'bfloat16',
    }),
    without: { attn_logit_softcapping: null, final_logit_softcapping: null, sliding_window: null },
  },
  {
    name: 'Gemma 3: q/k norms, sliding pattern 2 with local rope base 100, linear-scaled global rope',
    config: tinyConfig({
      architectures: ['Gemma3ForCausalLM'], num_hidden_layers: 4, num_key_value_heads: 1, head_dim: 8, query_pre_attn_scalar: 8, sliding_window: 4, sliding_window_pattern: 2,
      rope_theta: 10000, rope_local_base_freq: 100, rope_scaling: { rope_type: 'linear', factor: 2 }, final_logit_softcapping: null, tie_word_embeddings: false,
    }),
    without: { rope_local_base_freq: 10000, rope_scaling: null },
  },
];

// ---------------------------------------------------------------- ORT plumbing

const i64 = (rows: number[][]): ort.Tensor =>
  new ort.Tensor('int64', BigInt64Array.from(rows.flat(), (v) => BigInt(v)), [rows.length, rows[0].length]);

const buffers: GPUBuffer[] = [];
afterAll(() => {
  for (const b of buffers) b.destroy();
});

/** Uploads each weight to its own GPU buffer on the engine's device and wraps it for ORT. */
async function gpuWeightFeeds(weights: Map<string, Float32Array>, shapes: { name: string; shape: number[] }[]): Promise<Record<string, ort.Tensor>> {
  const { device } = await getGpu();
  const feeds: Record<string, ort.Tensor> = {};
  for (const { name, shape } of shapes) {
    const data = weights.get(name)!;
    const buf = device.createBuffer({ size: Math.max(16, data.byteLength), usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST });
    device.queue.writeBuffer(buf, 0, data.buffer as ArrayBuffer, data.byteOffset, data.byteLength);
    buffers.push(buf);
    feeds[name] = ort.Tensor.fromGpuBuffer(buf, { dataType: 'float32', dims: shape });
  }
  return feeds;
}

interface RunInput {
  ids: number[][];
  mask?: number[][];
  pos?: number[][];
  targets?: number[][];
  past?: Record<string, ort.Tensor>;
  hopScales?: number[];
}

function dataFeeds(r: RunInput): Record<string, ort.Tensor> {
  const mask = r.mask ?? r.ids.map((row) => row.map(() => 1));
  const feeds: Record<string, ort.Tensor> = {
    input_ids: i64(r.ids),
    attention_mask: i64(mask),
    position_ids: i64(r.pos ?? r.ids.map((row) => row.map((_, i) => i))),
    ...r.past,
  };
  if (r.targets) feeds.targets = i64(r.targets);
  if (r.hopScales) feeds.hop_scales = new ort.Tensor('float32', Float32Array.from(r.hopScales), [r.hopScales.length]);
  return feeds;
}

async function webgpuSession(arch: LlamaArch, weights: Map<string, Float32Array>, opts: GraphOptions = {}) {
  const { device } = await getGpu();
  const graph = buildGraph(arch, opts);
  const session = await createSession(graph.bytes, { ep: 'webgpu', device });
  const weightFeeds = await gpuWeightFeeds(weights, graph.weightInputs);
  const run = async (r: RunInput) => {
    const out = await runSession(session, { ...dataFeeds(r), ...weightFeeds });
    return out;
  };
  return { graph, session, run };
}

/** Max |a − b| over max |b|: one relative figure for a whole logits tensor. */
function relErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let err = 0;
  let scale = 0;
  for (let i = 0; i < a.length; i++) {
    err = Math.max(err, Math.abs(a[i] - b[i]));
    scale = Math.max(scale, Math.abs(b[i]));
  }
  return Number.isNaN(err) ? Infinity : err / scale;
}

async function logitsOf(out: ort.InferenceSession.ReturnType): Promise<Float32Array> {
  return (await out.logits.getData()) as Float32Array;
}

// ---------------------------------------------------------------- cases

/** f32 GPU vs f64-accumulating CPU: observed ≈ 5e-7 of the largest logit. */
const TOL = 2e-5;

describe('eval graph: ORT WebGPU on the engine device vs the CPU reference', () => {
  const cases: { name: string; config: Record<string, unknown>; without?: Record<string, unknown> }[] = [
    { name: 'Llama MHA', config: tinyConfig() },
    { name: 'Llama GQA (4 heads, 2 KV heads)', config: tinyConfig({ num_key_value_heads: 2 }) },
    { name: 'Qwen2 q/k/v biases, GQA 4:1, tied', config: tinyConfig({ architectures: ['Qwen2ForCausalLM'], num_key_value_heads: 1, tie_word_embeddings: true }) },
    { name: 'Llama attention_bias (q/k/v/o)', config: tinyConfig({ attention_bias: true }) },
    { name: 'tied embeddings', config: tinyConfig({ tie_word_embeddings: true, num_hidden_layers: 3 }) },
    {
      name: 'llama3 rope scaling, head_dim ≠ hidden/heads',
      config: tinyConfig({ head_dim: 16, rope_theta: 500000, rope_scaling: { rope_type: 'llama3', factor: 8, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 64 } }),
      without: { rope_scaling: null },
    },
    { name: 'Mistral sliding window 3', config: tinyConfig({ architectures: ['MistralForCausalLM'], sliding_window: 3, num_key_value_heads: 2 }), without: { sliding_window: null } },
    ...ARCH_CASES,
  ];
  for (const c of cases)
    test(c.name, async () => {
      const arch = parseArch(c.config, `${c.name}/config.json`);
      const weights = randomWeights(arch, 11);
      const { run } = await webgpuSession(arch, weights);
      const ids = randomIds(2, 7, arch.vocabSize, 5);
      // positions far from 0 so the rope scaling and frequencies matter
      const pos = ids.map((row, b) => row.map((_, i) => 40 * b + 3 * i));
      const got = await logitsOf(await run({ ids, pos }));
      const want = referenceForward(arch, (n) => weights.get(n), ids, { positionIds: pos });
      expect(relErr(got, want)).toBeLessThan(TOL);
      // The feature under test must matter: the model without it is far from ORT's output.
      if (c.without) {
        const plain = referenceForward(parseArch({ ...c.config, ...c.without }, 'plain/config.json'), (n) => weights.get(n), ids, { positionIds: pos });
        expect(relErr(got, plain)).toBeGreaterThan(1e-3);
      }
    });
});

describe('eval graph: batches, layer paths, KV cache, scoring', () => {
  const arch = parseArch(tinyConfig({ num_key_value_heads: 2, num_hidden_layers: 3 }), 'gqa/config.json');
  const weights = randomWeights(arch, 23);
  const W = (n: string) => weights.get(n);

  test('left-padded batch: real positions equal the unpadded rows', async () => {
    const { run } = await webgpuSession(arch, weights);
    const rows = [randomIds(1, 6, arch.vocabSize, 1)[0], randomIds(1, 4, arch.vocabSize, 2)[0], randomIds(1, 2, arch.vocabSize, 3)[0]];
    const ids = rows.map((r) => [...Array(6 - r.length).fill(0), ...r]);
    const mask = rows.map((r) => [...Array(6 - r.length).fill(0), ...r.map(() => 1)]);
    const pos = positionIdsFromMask(mask);
    const got = await logitsOf(await run({ ids, mask, pos }));
    const V = arch.vocabSize;
    for (let b = 0; b < rows.length; b++) {
      const pad = 6 - rows[b].length;
      const alone = referenceForward(arch, W, [rows[b]]);
      expect(relErr(got.subarray((b * 6 + pad) * V, (b + 1) * 6 * V), alone)).toBeLessThan(TOL);
    }
    // and padding really is masked: without the mask, the padded rows change
    const unmasked = await logitsOf(await run({ ids, pos }));
    expect(relErr(unmasked.subarray(7 * V, 12 * V), got.subarray(7 * V, 12 * V))).toBeGreaterThan(1e-3);
  });

  test('layer path: a repeated layer, pool layers beyond the config, non-1 scales (constant and as input)', async () => {
    const small = parseArch(tinyConfig({ num_key_value_heads: 1, architectures: ['Qwen2ForCausalLM'] }), 'qwen/config.json');
    const hops: Hop[] = [
      { layer: 0, scale: 0.9 },
      { layer: 4, scale: 1 },
      { layer: 4, scale: 1.3 },
      { layer: 1, scale: 0.7 },
      { layer: 0, scale: 1.1 },
    ];
    const w = randomWeights(small, 31, hops);
    const built = buildGraph(small, { hops });
    const layersFed = new Set(built.weightInputs.map((x) => /layers\.(\d+)\./.exec(x.name)?.[1]).filter(Boolean));
    expect([...layersFed].sort()).toEqual(['0', '1', '4']);
    expect(new Set(built.weightInputs.map((x) => x.name)).size).toBe(built.weightInputs.length);

    const ids = randomIds(2, 5, small.vocabSize, 9);
    const want = referenceForward(small, (n) => w.get(n), ids, { hops });
    const constant = await webgpuSession(small, w, { hops });
    expect(relErr(await logitsOf(await constant.run({ ids })), want)).toBeLessThan(TOL);
    // scales matter
    const unit = referenceForward(small, (n) => w.get(n), ids, { hops: hops.map((h) => ({ ...h, scale: 1 })) });
    expect(relErr(unit, want)).toBeGreaterThan(1e-3);

    const asInput = await webgpuSession(small, w, { hops, hopScales: 'input' });
    expect(asInput.graph.inputs.map((i) => i.name)).toContain('hop_scales');
    expect(relErr(await logitsOf(await asInput.run({ ids, hopScales: hops.map((h) => h.scale) })), want)).toBeLessThan(TOL);
    const other = hops.map((h, i) => ({ ...h, scale: 0.6 + 0.2 * i }));
    const wantOther = referenceForward(small, (n) => w.get(n), ids, { hops: other });
    expect(relErr(await logitsOf(await asInput.run({ ids, hopScales: other.map((h) => h.scale) })), wantOther)).toBeLessThan(TOL);
  });

  test('KV cache: prefill + 2 decode steps (GPU-resident presents, left padding, a layer path) equal the full forward', async () => {
    const { device } = await getGpu();
    const hops: Hop[] = [{ layer: 0, scale: 1 }, { layer: 2, scale: 0.8 }, { layer: 2, scale: 1.2 }, { layer: 1, scale: 1 }];
    const prefill = buildGraph(arch, { hops, kvCache: 'prefill' });
    const decode = buildGraph(arch, { hops, kvCache: 'decode' });
    expect(prefill.outputs).toEqual(['present.0.key', 'present.0.value', 'present.1.key', 'present.1.value', 'present.2.key', 'present.2.value', 'present.3.key', 'present.3.value', 'logits']);
    expect(decode.inputs.filter((i) => i.name.startsWith('past_key_values.')).length).toBe(8);
    const presentsOnGpu = Object.fromEntries(prefill.outputs.map((o) => [o, o === 'logits' ? 'cpu' : 'gpu-buffer'] as const));
    const sPrefill = await createSession(prefill.bytes, { ep: 'webgpu', device }, { outputLocation: presentsOnGpu });
    const sDecode = await createSession(decode.bytes, { ep: 'webgpu', device }, { outputLocation: presentsOnGpu });
    const wf = await gpuWeightFeeds(weights, prefill.weightInputs);

    const full = [randomIds(1, 6, arch.vocabSize, 41)[0], [0, 0, ...randomIds(1, 4, arch.vocabSize, 42)[0]]];
    const fullMask = [[1, 1, 1, 1, 1, 1], [0, 0, 1, 1, 1, 1]];
    const fullPos = positionIdsFromMask(fullMask);
    const want = referenceForward(arch, W, full, { attentionMask: fullMask, positionIds: fullPos, hops });
    const V = arch.vocabSize;
    const realRows = (logits: Float32Array, from: number, len: number) => {
      // [2, len, V] from ORT vs the same positions of the full reference, real tokens only
      for (let b = 0; b < 2; b++)
        for (let i = 0; i < len; i++) {
          if (!fullMask[b][from + i]) continue;
          const got = logits.subarray((b * len + i) * V, (b * len + i + 1) * V);
          const ref = want.subarray((b * 6 + from + i) * V, (b * 6 + from + i + 1) * V);
          expect(relErr(got, ref)).toBeLessThan(TOL);
        }
    };
    const slice = (rows: number[][], a: number, b: number) => rows.map((r) => r.slice(a, b));

    let out = await runSession(sPrefill, { ...dataFeeds({ ids: slice(full, 0, 4), mask: slice(fullMask, 0, 4), pos: slice(fullPos, 0, 4) }), ...wf });
    realRows(await logitsOf(out), 0, 4);
    for (let t = 4; t < 6; t++) {
      const past: Record<string, ort.Tensor> = {};
      for (let h = 0; h < hops.length; h++)
        for (const kind of ['key', 'value']) {
          const tensor = out[`present.${h}.${kind}`];
          expect(tensor.location).toBe('gpu-buffer');
          expect(tensor.dims).toEqual([2, arch.numKvHeads, t, arch.headDim]);
          past[`past_key_values.${h}.${kind}`] = tensor;
        }
      const next = await runSession(sDecode, { ...dataFeeds({ ids: slice(full, t, t + 1), mask: slice(fullMask, 0, t + 1), pos: slice(fullPos, t, t + 1), past }), ...wf });
      for (const tensor of Object.values(past)) tensor.dispose();
      out = next;
      realRows(await logitsOf(out), t, 1);
    }
    for (const o of decode.outputs) if (o !== 'logits') out[o].dispose();
  });

  test('scoring head: target log-probs and argmax, with and without the logits output', async () => {
    const ids = randomIds(2, 6, arch.vocabSize, 51);
    const targets = randomIds(2, 6, arch.vocabSize, 52);
    const ref = referenceForward(arch, W, ids);
    const want = scoreLogits(ref, arch.vocabSize, targets);
    for (const logits of [true, false]) {
      const { graph, run } = await webgpuSession(arch, weights, { scoring: true, logits });
      expect(graph.outputs).toEqual(logits ? ['logits', 'target_logprobs', 'argmax'] : ['target_logprobs', 'argmax']);
      const out = await run({ ids, targets });
      expect(out.target_logprobs.dims).toEqual([2, 6]);
      const lp = (await out.target_logprobs.getData()) as Float32Array;
      for (let i = 0; i < lp.length; i++) expect(Math.abs(lp[i] - want.targetLogprobs[i])).toBeLessThan(1e-4 * Math.max(1, Math.abs(want.targetLogprobs[i])));
      const am = Array.from((await out.argmax.getData()) as BigInt64Array, Number);
      expect(am).toEqual(want.argmax);
      if (logits) expect(relErr(await logitsOf(out), ref)).toBeLessThan(TOL);
    }
  });
});

describe('eval graph on the wasm EP (the CPU fallback)', () => {
  const config = tinyConfig({ architectures: ['Qwen2ForCausalLM'], num_key_value_heads: 2 });
  const arch = parseArch(config, 'qwen/config.json');
  const weights = randomWeights(arch, 61);
  const ids = randomIds(2, 5, arch.vocabSize, 62);
  const mask = [[1, 1, 1, 1, 1], [0, 0, 1, 1, 1]];
  const pos = positionIdsFromMask(mask);

  async function wasmLogits(dtype: 'float32' | 'float16', w: Map<string, Float32Array>): Promise<Float32Array> {
    const graph = buildGraph(arch, { dtype });
    const session = await createSession(graph.bytes, { ep: 'wasm' });
    const feeds = dataFeeds({ ids, mask, pos });
    for (const { name, shape } of graph.weightInputs) {
      const v = w.get(name)!;
      feeds[name] = dtype === 'float32' ? new ort.Tensor('float32', v, shape) : new ort.Tensor('float16', new Uint16Array(encodeF32(v, 'F16').buffer), shape);
    }
    return logitsOf(await runSession(session, feeds));
  }
  const real = (x: Float32Array) => x.filter((_, i) => Math.floor(i / arch.vocabSize) !== 5 && Math.floor(i / arch.vocabSize) !== 6);

  test('f32 graph', async () => {
    const got = await wasmLogits('float32', weights);
    expect(relErr(real(got), real(referenceForward(arch, (n) => weights.get(n), ids, { attentionMask: mask, positionIds: pos })))).toBeLessThan(TOL);
  });

  test('f16 graph (weights and activations in f16) within f16 tolerance', async () => {
    const rounded = new Map([...weights].map(([k, v]) => [k, roundTo(v, 'F16')]));
    const got = await wasmLogits('float16', weights);
    const want = referenceForward(arch, (n) => rounded.get(n), ids, { attentionMask: mask, positionIds: pos });
    const err = relErr(real(got), real(want));
    expect(err).toBeLessThan(5e-3);
    expect(err).toBeGreaterThan(0); // it really computed in f16
  });
});

describe('newer architectures and rope scalings on the wasm EP, and their KV cache on WebGPU', () => {
  async function wasmRun(arch: LlamaArch, w: Map<string, Float32Array>, dtype: 'float32' | 'float16', r: RunInput): Promise<Float32Array> {
    const graph = buildGraph(arch, { dtype });
    const session = await createSession(graph.bytes, { ep: 'wasm' });
    const feeds = dataFeeds(r);
    for (const { name, shape } of graph.weightInputs) {
      const v = w.get(name)!;
      feeds[name] = dtype === 'float32' ? new ort.Tensor('float32', v, shape) : new ort.Tensor('float16', new Uint16Array(encodeF32(v, 'F16').buffer), shape);
    }
    try {
      return await logitsOf(await runSession(session, feeds));
    } finally {
      await session.release();
    }
  }

  for (const c of ARCH_CASES)
    test(`wasm f32: ${c.name}`, async () => {
      const arch = parseArch(c.config, `${c.name}/config.json`);
      const weights = randomWeights(arch, 71);
      const ids = randomIds(2, 7, arch.vocabSize, 72);
      const pos = ids.map((row, b) => row.map((_, i) => 40 * b + 3 * i));
      const got = await wasmRun(arch, weights, 'float32', { ids, pos });
      expect(relErr(got, referenceForward(arch, (n) => weights.get(n), ids, { positionIds: pos }))).toBeLessThan(TOL);
    });

  test('wasm: dynamic NTK keeps the default frequencies while L ≤ max_position_embeddings, and grows past it within one graph', async () => {
    const config = tinyConfig({ max_position_embeddings: 16, rope_scaling: { rope_type: 'dynamic', factor: 3 } });
    const arch = parseArch(config, 'dyn/config.json');
    const plain = parseArch({ ...config, rope_scaling: null }, 'plain/config.json');
    const weights = randomWeights(arch, 75);
    const ids = randomIds(2, 6, arch.vocabSize, 76);
    const W = (n: string) => weights.get(n);
    const short = ids.map((row) => row.map((_, i) => 2 * i + 5)); // L = 16
    const got = await wasmRun(arch, weights, 'float32', { ids, pos: short });
    expect(relErr(got, referenceForward(plain, W, ids, { positionIds: short }))).toBeLessThan(TOL);
    const long = ids.map((row) => row.map((_, i) => 2 * i + 6)); // L = 17
    const grown = await wasmRun(arch, weights, 'float32', { ids, pos: long });
    expect(relErr(grown, referenceForward(arch, W, ids, { positionIds: long }))).toBeLessThan(TOL);
    expect(relErr(grown, referenceForward(plain, W, ids, { positionIds: long }))).toBeGreaterThan(1e-4);
  });

  test('wasm f16 graph: Gemma 2 and Phi-3 within f16 tolerance', async () => {
    for (const c of ARCH_CASES.filter((x) => /^(Gemma 2|Phi-3: fused)/.test(x.name))) {
      const arch = parseArch(c.config, 'c/config.json');
      const weights = randomWeights(arch, 81);
      const rounded = new Map([...weights].map(([k, v]) => [k, roundTo(v, 'F16')]));
      const ids = randomIds(2, 6, arch.vocabSize, 82);
      const got = await wasmRun(arch, weights, 'float16', { ids });
      const err = relErr(got, referenceForward(arch, (n) => rounded.get(n), ids));
      expect(err, c.name).toBeLessThan(5e-3);
      expect(err, c.name).toBeGreaterThan(0);
    }
  });

  test('WebGPU KV cache: Gemma 3 (sliding and full layers, local and global rope) and Phi-3 longrope, prefill + 3 decode steps equal the full forward', async () => {
    const { device } = await getGpu();
    for (const c of ARCH_CASES.filter((x) => /^(Gemma 3|Phi-3: fused)/.test(x.name))) {
      const arch = parseArch(c.config, 'c/config.json');
      const weights = randomWeights(arch, 91);
      const prefill = buildGraph(arch, { kvCache: 'prefill' });
      const decode = buildGraph(arch, { kvCache: 'decode' });
      const presentsOnGpu = Object.fromEntries(prefill.outputs.map((o) => [o, o === 'logits' ? 'cpu' : 'gpu-buffer'] as const));
      const sPrefill = await createSession(prefill.bytes, { ep: 'webgpu', device }, { outputLocation: presentsOnGpu });
      const sDecode = await createSession(decode.bytes, { ep: 'webgpu', device }, { outputLocation: presentsOnGpu });
      const wf = await gpuWeightFeeds(weights, prefill.weightInputs);
      // positions past Phi-3's original context (32) from the prefill on: the long factors throughout
      const full = randomIds(2, 8, arch.vocabSize, 92);
      const fullPos = full.map((row) => row.map((_, i) => 30 + 2 * i));
      const want = referenceForward(arch, (n) => weights.get(n), full, { positionIds: fullPos });
      const V = arch.vocabSize;
      const check = (logits: Float32Array, from: number, len: number) => {
        for (let b = 0; b < 2; b++)
          for (let i = 0; i < len; i++)
            expect(relErr(logits.subarray((b * len + i) * V, (b * len + i + 1) * V), want.subarray((b * 8 + from + i) * V, (b * 8 + from + i + 1) * V)), `${c.name} b${b} t${from + i}`).toBeLessThan(TOL);
      };
      const slice = (rows: number[][], a: number, b: number) => rows.map((r) => r.slice(a, b));
      const ones = (n: number) => full.map(() => Array<number>(n).fill(1));
      let out = await runSession(sPrefill, { ...dataFeeds({ ids: slice(full, 0, 5), mask: ones(5), pos: slice(fullPos, 0, 5) }), ...wf });
      check(await logitsOf(out), 0, 5);
      for (let t = 5; t < 8; t++) {
        const past: Record<string, ort.Tensor> = {};
        for (let h = 0; h < arch.numLayers; h++) for (const kind of ['key', 'value']) past[`past_key_values.${h}.${kind}`] = out[`present.${h}.${kind}`];
        const next = await runSession(sDecode, { ...dataFeeds({ ids: slice(full, t, t + 1), mask: ones(t + 1), pos: slice(fullPos, t, t + 1), past }), ...wf });
        for (const tensor of Object.values(past)) tensor.dispose();
        out = next;
        check(await logitsOf(out), t, 1);
      }
      for (const o of decode.outputs) if (o !== 'logits') out[o].dispose();
      await sPrefill.release();
      await sDecode.release();
    }
  });
});

// The wasm (CPU) evaluation backend against the WebGPU one in Chromium: the same targets (a model,
// a TIES merge, a DARE-TIES merge, a layer path) give the same per-item verdicts and
// log-likelihoods, the same sparsity record, and weights that equal the GPU-resident ones (the
// same pruned positions exactly; values to f32 rounding). A service forced to wasm is given a
// getGpu that fails, so it provably never touches the GPU; 'auto' falls back to wasm when getGpu rejects.
import { describe, expect, test } from 'vitest';
import { getGpu } from '../../src/gpu/device';
import { Batch } from '../../src/gpu/buffers';
import { GpuError } from '../../src/errors';
import { EvalService, type EvalSetInput, type EvaluateSummary } from '../../src/eval/service';
import type { EvalTarget } from '../../src/eval/target';
import type { Recipe } from '../../src/recipe/types';
import { encodePrompt } from '../../src/eval/encode';
import { arch, expertA, models, ReferenceLm } from './eval-fixtures';

const exactSet: EvalSetInput = { name: 'exact.jsonl', text: ['12+3=', 'ab=', 'x:', '7?', 'zz', 'q=1', '3+4=', 'hello'].map((p, i) => JSON.stringify({ prompt: p, answer: 'abc 0123456789'.slice(i, i + 2 + (i % 3)) })).join('\n') };
const choiceSet: EvalSetInput = { name: 'choice.jsonl', text: [JSON.stringify({ prompt: 'a b', choices: [' c', ' dd', ' e'], label: 1 }), JSON.stringify({ prompt: '1+1=', choices: ['2', '3'], label: 0 })].join('\n') };
const pplSet: EvalSetInput = { name: 'ppl.jsonl', text: [JSON.stringify({ text: 'the quick brown fox' }), JSON.stringify({ text: '1+2=3' })].join('\n') };
const sets = [exactSet, choiceSet, pplSet];

const noGpu = () => Promise.reject(new GpuError('No WebGPU adapter was found (test double)'));

// Shared services: sessions and decoded inputs are reused across tests, as in the worker.
const webgpu = new EvalService(getGpu, { backend: 'webgpu' });
const wasm = new EvalService(noGpu, { backend: 'wasm' });
const ready = Promise.all([webgpu.useModels(models), wasm.useModels(models)]);

function close(a: number | undefined, b: number | undefined, tol = 2e-4) {
  expect(a).toBeDefined();
  expect(Math.abs(a! - b!)).toBeLessThanOrEqual(tol * Math.max(1, Math.abs(b!)));
}

/** Same verdicts per item, log-likelihoods / NLLs within tol, same accuracies. */
function sameScores(got: EvaluateSummary, want: EvaluateSummary) {
  expect(got.items!.length).toBe(want.items!.length);
  got.items!.forEach((items, k) =>
    items.forEach((it, i) => {
      const w = want.items![k][i];
      expect(it.correct).toBe(w.correct);
      if (w.logLik !== undefined) close(it.logLik, w.logLik);
      if (w.nll !== undefined) close(it.nll, w.nll);
      w.choiceLogLiks?.forEach((v, c) => close(it.choiceLogLiks![c], v));
    }),
  );
  expect(got.sets.map((m) => m.accuracy)).toEqual(want.sets.map((m) => m.accuracy));
  got.sets.forEach((m, k) => m.perplexity !== undefined && close(m.perplexity, want.sets[k].perplexity, 1e-3));
}

/** Both backends on one target. */
async function both(target: EvalTarget, opts: Parameters<EvalService['evaluate']>[2] = {}) {
  await ready;
  const g = await webgpu.evaluate(target, sets, { mode: 'teacher-forced', ...opts });
  const c = await wasm.evaluate(target, sets, { mode: 'teacher-forced', ...opts });
  expect(g.backend).toBe('webgpu');
  expect(c.backend).toBe('wasm');
  expect(c.readback.weightBytes).toBe(0);
  expect(c.readback.outputBytes).toBeGreaterThan(0);
  sameScores(c, g);
  return { g, c };
}

/**
 * GPU-resident weights read back (test-only) next to the CPU engine's: ties and dare_ties are
 * replayed in f32 on the CPU, so every value must be bit-identical (mismatches counted).
 */
async function compareWeights(target: EvalTarget, baseRef: string): Promise<{ numel: number; mismatches: number; kept: number }> {
  await ready;
  const resolved = await webgpu.resolveWeights(target);
  const cpu = await wasm.resolveWeights(target);
  const base = await wasm.resolveWeights({ kind: 'model', ref: baseRef });
  let numel = 0, mismatches = 0, kept = 0;
  try {
    expect(resolved.weights.backend).toBe('webgpu');
    expect(cpu.weights.backend).toBe('wasm');
    expect(cpu.weights.names()).toEqual(resolved.weights.names());
    const { values: gpuValues, bytesReadBack } = await resolved.weights.host();
    expect(bytesReadBack).toBeGreaterThan(0); // this check alone reads GPU weights back
    const { values: cpuValues } = await cpu.weights.host();
    const { values: baseValues } = await base.weights.host();
    for (const [name, got] of gpuValues) {
      const want = cpuValues.get(name)!;
      const bw = baseValues.get(name)!;
      const gb = new Uint32Array(got.buffer, got.byteOffset, got.length);
      const wb = new Uint32Array(want.buffer, want.byteOffset, want.length);
      for (let i = 0; i < want.length; i++) {
        if (gb[i] !== wb[i]) mismatches++;
        if (want[i] === bw[i]) kept++;
      }
      numel += want.length;
    }
  } finally {
    resolved.weights.dispose();
  }
  return { numel, mismatches, kept };
}

const ties: Recipe = { merge_method: 'ties', base_model: 'base', models: [{ model: 'a', parameters: { weight: 0.7, density: 0.4 } }, { model: 'b', parameters: { weight: 0.5, density: 0.6 } }], parameters: { normalize: true }, dtype: 'float32' };
const dareTies: Recipe = { merge_method: 'dare_ties', base_model: 'base', models: [{ model: 'a', parameters: { weight: 0.6, density: 0.5 } }, { model: 'b', parameters: { weight: 0.5, density: 0.3 } }], dtype: 'float32', random_seed: 1234 };

describe('wasm evaluation backend vs WebGPU', () => {
  test('a model as is: same verdicts and log-likelihoods; complete() decodes as the CPU reference forward does', async () => {
    await both({ kind: 'model', ref: 'a' });
    // greedy decoding with the KV-cache graphs on wasm vs the reference forward pass (cheaper than a WebGPU run)
    const tok = await wasm.tokenizerFor((await wasm.useModels(models)).get('a')!);
    const prompt = '12+3=';
    const c = await wasm.complete({ kind: 'model', ref: 'a' }, prompt, 6);
    const [want] = await new ReferenceLm(arch, expertA).generate([Int32Array.from(encodePrompt(tok, prompt, true).ids)], 6, tok.eosIds);
    expect(c.tokens).toBe(want.length);
    expect(c.text).toBe(tok.decode(want, { skipSpecialTokens: true }));
    expect(c.readback.weightBytes).toBe(0);
    expect(c.readback.runs).toBeGreaterThan(1);
    const err = await wasm.logitError({ kind: 'model', ref: 'a' }, [[1, 5, 6, 7, 8]]);
    expect(err.weightBytesReadBack).toBe(0);
    expect(err.relative).toBeLessThan(1e-4);
  });

  test('a TIES merge: same scores and exactly the same sparsity record (with attraction)', async () => {
    const target: EvalTarget = { kind: 'recipe', recipe: ties };
    const { g, c } = await both(target, { sparsity: { base: 'base', other: { kind: 'model', ref: 'b' } } });
    expect(g.sparsity!.sparsity).toBeGreaterThan(0.2);
    expect(c.sparsity).toEqual(g.sparsity);
    const w = await compareWeights(target, 'base');
    expect(w.numel).toBeGreaterThan(10000);
    expect(w.mismatches).toBe(0);
    expect(w.kept).toBeGreaterThan(0); // pruned positions exist (the comparison covers the masks)
  });

  test('a DARE-TIES merge: the same random masks (same counter-based hash), same scores and sparsity', async () => {
    const target: EvalTarget = { kind: 'recipe', recipe: dareTies };
    const { g, c } = await both(target, { sparsity: { base: 'base' } });
    expect(c.sparsity).toEqual(g.sparsity);
    expect(g.sparsity!.sparsity).toBeGreaterThan(0.3);
    const w = await compareWeights(target, 'base');
    // values agree to f32 rounding, not bit for bit (the twin computes in f64: ~14% of elements differ in the last bits)
    expect(w.mismatches).toBe(0);
    expect(w.kept).toBeGreaterThan(0); // pruned positions exist (the comparison covers the masks)
  });

  test('a layer path over a merge and a model', async () => {
    const hops = [
      { model: 'a' as const, layer: 0, scale: 1 },
      { model: 'b' as const, layer: 1, scale: 0.8 },
      { model: 'a' as const, layer: 1, scale: 1.1 },
      { model: 'b' as const, layer: 1, scale: 1 },
    ];
    await both({ kind: 'path', a: { kind: 'recipe', recipe: ties }, b: 'b', hops });
  });

  test("'auto' falls back to wasm when getGpu rejects, and uses WebGPU when it resolves", async () => {
    await ready;
    const auto = new EvalService(noGpu, { backend: 'auto' });
    await auto.useModels(models);
    expect(await auto.backend()).toBe('wasm');
    const got = await auto.evaluate({ kind: 'model', ref: 'b' }, [exactSet], { mode: 'teacher-forced' });
    expect(got.backend).toBe('wasm');
    const want = await webgpu.evaluate({ kind: 'model', ref: 'b' }, [exactSet], { mode: 'teacher-forced' });
    sameScores(got, want);
    // a hardware adapter gets WebGPU; a software one (this machine's SwiftShader) gets wasm
    const hardware = async () => ({ ...(await getGpu()), isFallbackAdapter: false });
    expect(await new EvalService(hardware).backend()).toBe('webgpu');
    const software = async () => ({ ...(await getGpu()), isFallbackAdapter: true });
    expect(await new EvalService(software).backend()).toBe('wasm');
    // a forced WebGPU service does not fall back
    const forced = new EvalService(noGpu, { backend: 'webgpu' });
    await forced.useModels(models);
    await expect(forced.evaluate({ kind: 'model', ref: 'b' }, [exactSet])).rejects.toThrow(/WebGPU adapter/);
  });
});

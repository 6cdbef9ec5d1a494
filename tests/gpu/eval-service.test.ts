// The evaluation service end to end in Chromium: model files (Blobs) → GPU-resident weights (a model,
// a merge, a layer path) → onnxruntime-web on the engine's device → scorers. Checked against the CPU
// twin: referenceForward behind the same scorers must give the same verdicts and log-likelihoods,
// the merged weights must score exactly like the written checkpoint, and no weight is read back.
import { describe, expect, test } from 'vitest';
import { getGpu } from '../../src/gpu/device';
import { EvalService, type EvalSetInput } from '../../src/eval/service';
import type { Hop, LlamaArch } from '../../src/eval/arch';
import { scoreSets } from '../../src/eval/score';
import { parseEvalSet } from '../../src/eval/evalset';
import type { ModelSpec } from '../../src/io/types';
import { runMerge } from '../../src/merge/run';
import { WebGpuBackend } from '../../src/backends/webgpu/backend';
import { arch, config, expertA, expertB, models, ReferenceLm } from './eval-fixtures';

// Eval sets whose answers a random model sometimes hits: we only need agreement with the twin.
const exactSet: EvalSetInput = { name: 'exact.jsonl', text: ['12+3=', 'ab=', 'x:', '7?', 'zz', 'q=1', '3+4=', 'hello'].map((p, i) => JSON.stringify({ prompt: p, answer: 'abc 0123456789'.slice(i, i + 2 + (i % 3)) })).join('\n') };
const choiceSet: EvalSetInput = { name: 'choice.jsonl', text: [JSON.stringify({ prompt: 'a b', choices: [' c', ' dd', ' e'], label: 1 }), JSON.stringify({ prompt: '1+1=', choices: ['2', '3'], label: 0 })].join('\n') };
const pplSet: EvalSetInput = { name: 'ppl.jsonl', text: [JSON.stringify({ text: 'the quick brown fox' }), JSON.stringify({ text: '1+2=3' })].join('\n') };

async function service(): Promise<EvalService> {
  const s = new EvalService(getGpu, { backend: 'webgpu' });
  await s.useModels(models);
  return s;
}

async function reference(w: Map<string, Float32Array>, mode: 'teacher-forced' | 'generate', hops?: Hop[], a: LlamaArch = arch) {
  const s = await service();
  const tok = await s.tokenizerFor((await s.useModels(models)).get('base')!);
  const sets = [exactSet, choiceSet, pplSet].map((x) => parseEvalSet(x.name, x.text));
  return scoreSets(new ReferenceLm(a, w, hops), tok, sets, { mode, answerLogLik: mode === 'generate' });
}

function close(a: number | undefined, b: number | undefined, tol = 2e-4) {
  expect(a).toBeDefined();
  expect(Math.abs(a! - b!)).toBeLessThanOrEqual(tol * Math.max(1, Math.abs(b!)));
}

describe('evaluation service', () => {
  test.each(['teacher-forced', 'generate'] as const)('a model as is: same verdicts and log-likelihoods as the CPU twin (%s)', async (mode) => {
    const s = await service();
    const got = await s.evaluate({ kind: 'model', ref: 'a' }, [exactSet, choiceSet, pplSet], { mode });
    const want = await reference(expertA, mode);
    expect(got.readback.weightBytes).toBe(0);
    expect(got.readback.outputBytes).toBeGreaterThan(0);
    got.items!.forEach((items, k) =>
      items.forEach((it, i) => {
        const w = want[k].items[i];
        expect(it.correct).toBe(w.correct);
        if (mode === 'generate' && k === 0) expect(it.completion).toBe(w.completion);
        if (w.logLik !== undefined) close(it.logLik, w.logLik);
        if (w.nll !== undefined) close(it.nll, w.nll);
        w.choiceLogLiks?.forEach((v, c) => close(it.choiceLogLiks![c], v));
      }),
    );
    expect(got.sets.map((m) => m.accuracy)).toEqual(want.map((r) => r.metrics.accuracy));
  });

  test('a merge scores exactly like its written checkpoint, with sparsity from the GPU', async () => {
    const recipe = { merge_method: 'ties', base_model: 'base', models: [{ model: 'a', parameters: { weight: 0.7, density: 0.4 } }, { model: 'b', parameters: { weight: 0.5, density: 0.6 } }], parameters: { normalize: true }, dtype: 'float32' as const };
    const s = await service();
    const merged = await s.evaluate({ kind: 'recipe', recipe }, [exactSet, pplSet], { mode: 'teacher-forced', sparsity: { base: 'base' } });
    expect(merged.readback.weightBytes).toBe(0);
    expect(merged.sparsity!.sparsity).toBeGreaterThan(0.2);
    expect(merged.sparsity!.layers.map((l) => l.layer)).toEqual([0, 1]);

    const gpu = await getGpu();
    const written = await runMerge({ recipe, models, output: { kind: 'memory' } }, new WebGpuBackend(gpu));
    const files = written.memoryFiles!;
    const spec: ModelSpec = { ref: 'merged', files: Object.entries(files).map(([path, bytes]) => ({ path, size: bytes.byteLength, blob: new Blob([bytes as Uint8Array<ArrayBuffer>]) })) };
    const s2 = new EvalService(getGpu, { backend: 'webgpu' });
    await s2.useModels([...models, spec]);
    const fromDisk = await s2.evaluate({ kind: 'model', ref: 'merged' }, [exactSet, pplSet], { mode: 'teacher-forced' });
    expect(merged.sets).toEqual(fromDisk.sets);
    expect(merged.items).toEqual(fromDisk.items);
  });

  test('a layer path over two models matches the twin with the same hops', async () => {
    const hops = [
      { model: 'a' as const, layer: 0, scale: 1 },
      { model: 'b' as const, layer: 1, scale: 0.8 },
      { model: 'a' as const, layer: 1, scale: 1.1 },
      { model: 'b' as const, layer: 1, scale: 1 },
    ];
    const s = await service();
    const got = await s.evaluate({ kind: 'path', a: { kind: 'model', ref: 'a' }, b: 'b', hops }, [exactSet, pplSet], { mode: 'teacher-forced' });
    // the same pool numbering the service uses: first use order
    const pool = new Map<string, Float32Array>();
    for (const [name, v] of expertA) if (!name.startsWith('model.layers.')) pool.set(name, v);
    const order: string[] = [];
    for (const h of hops) if (!order.includes(`${h.model}:${h.layer}`)) order.push(`${h.model}:${h.layer}`);
    order.forEach((key, p) => {
      const [m, l] = key.split(':');
      const src = m === 'a' ? expertA : expertB;
      for (const [name, v] of src) if (name.startsWith(`model.layers.${l}.`)) pool.set(name.replace(`model.layers.${l}.`, `model.layers.${p}.`), v);
    });
    const refHops = hops.map((h) => ({ layer: order.indexOf(`${h.model}:${h.layer}`), scale: h.scale }));
    const want = await reference(pool, 'teacher-forced', refHops, { ...arch, numLayers: order.length });
    got.items![0].forEach((it, i) => {
      expect(it.correct).toBe(want[0].items[i].correct);
      close(it.logLik, want[0].items[i].logLik);
    });
    got.items![1].forEach((it, i) => close(it.nll, want[2].items[i].nll));
  });

  test('evaluations of the same sets parse them once, and score as before', async () => {
    const parsed: string[] = [];
    const s = new EvalService(getGpu, { backend: 'webgpu', parseEvalSet: (name, text) => (parsed.push(name), parseEvalSet(name, text)) });
    await s.useModels(models);
    const first = await s.evaluate({ kind: 'model', ref: 'a' }, [exactSet, choiceSet], { mode: 'generate' });
    // The worker receives fresh copies of the texts with every request: the key is the content.
    const again = await s.evaluate({ kind: 'model', ref: 'a' }, [structuredClone(exactSet), choiceSet], { mode: 'generate' });
    expect(parsed).toEqual(['exact.jsonl', 'choice.jsonl']);
    expect(again.sets).toEqual(first.sets);
    expect(again.items).toEqual(first.items);
  });

  test('bad input: malformed JSONL names the line; no eval sets; a vocab mismatch names the files', async () => {
    const s = await service();
    await expect(s.evaluate({ kind: 'model', ref: 'a' }, [{ name: 'bad.jsonl', text: '{"prompt":"1","answer":"2"}\n{oops' }])).rejects.toThrow(/bad\.jsonl.*line 2/);
    await expect(s.evaluate({ kind: 'model', ref: 'a' }, [])).rejects.toThrow(/no eval sets/);
    const small = { ...models[0], ref: 'small', files: models[0].files.map((f) => (f.path === 'config.json' ? { ...f, blob: new Blob([JSON.stringify({ ...config(), vocab_size: 10 })]), size: JSON.stringify({ ...config(), vocab_size: 10 }).length } : f)) };
    const s3 = new EvalService(getGpu, { backend: 'webgpu' });
    await s3.useModels([small]);
    await expect(s3.evaluate({ kind: 'model', ref: 'small' }, [exactSet])).rejects.toThrow(/vocab_size/);
  });
});

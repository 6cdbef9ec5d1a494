// Tokenizer merges on WebGPU: the gather-with-fill kernel (shaders/gather.wgsl) against its CPU
// twin (recipe/row-gather.ts gatherFillValues) bit for bit on every stored dtype and compute
// rounding, and whole merges with permuted / filled / padded embedding rows on the WebGPU engine
// against the CPU engine (same bytes), tensors split into chunks that start mid-row.
import { describe, expect, test } from 'vitest';
import { getGpu } from '../../src/gpu/device';
import { Batch, storage, uploadBytes } from '../../src/gpu/buffers';
import { gatherFill } from '../../src/gpu/ops-gather';
import { gatherFillValues, type GatheredChunk } from '../../src/recipe/row-gather';
import type { Dtype } from '../../src/formats/dtype';
import { runMerge } from '../../src/merge/run';
import { WebGpuBackend } from '../../src/backends/webgpu/backend';
import { CpuBackend } from '../../src/backends/cpu/backend';
import type { Recipe } from '../../src/recipe/types';
import { encodeF32 } from '../fixtures/dtype-codec';
import { vocabFamily } from '../fixtures/vocab-models';
import { randn } from './support';

const DTYPES: Dtype[] = ['F32', 'F16', 'BF16'];

function chunkOf(n: number, cols: number, col0: number, dtype: Dtype, seed: number): GatheredChunk {
  const rows = Math.ceil((col0 + n) / cols);
  const fillRows = 3;
  const rowSel = Uint32Array.from({ length: rows }, (_, r) => (r % 4 === 1 ? 1 + (r % fillRows) : 0));
  const values = randn(n, seed, 3);
  values[0] = NaN;
  values[1] = 1e-40;
  values[2] = 65520;
  return { bytes: encodeF32(values, dtype), rowSel, fill: randn(fillRows * cols, seed + 1), fillRows, col0, cols };
}

describe('gather_fill kernel = CPU twin', () => {
  for (const dtype of DTYPES)
    for (const roundTo of [undefined, 'BF16', 'F16'] as const)
      test(`${dtype} stored, rounded to ${roundTo ?? 'nothing'}`, async () => {
        const gpu = await getGpu();
        const n = 4099;
        const g = chunkOf(n, 97, 35, dtype, dtype.length * 7 + (roundTo?.length ?? 0));
        const b = new Batch(gpu.device);
        const words = uploadBytes(gpu.device, g.bytes);
        const out = storage(gpu.device, n * 4);
        gatherFill(b, g, words, dtype, out, n, roundTo);
        b.read(out, n * 4);
        b.temps.push(words, out);
        const [bytes] = await b.submit();
        const want = gatherFillValues(g, dtype, roundTo);
        const got = new Uint32Array(bytes.slice().buffer);
        const wantBits = new Uint32Array(want.buffer);
        const bad: string[] = [];
        for (let i = 0; i < n; i++) if (got[i] !== wantBits[i] && !(Number.isNaN(want[i]) && Number.isNaN(new Float32Array(bytes.slice().buffer)[i]))) bad.push(`#${i}`);
        expect(bad.slice(0, 5)).toEqual([]);
        // the filled rows really are the fill values
        const r = 1;
        const e = r * 97 - 35 + 3;
        expect(want[e]).toBe(g.fill[(g.rowSel[r] - 1) * 97 + 3]);
      });
});

describe('tokenizer merges: WebGPU engine = CPU engine', () => {
  const cases: { label: string; recipe: Recipe }[] = [
    {
      label: 'union, ties (multi-sweep), tied lm_head in one model',
      recipe: {
        merge_method: 'ties',
        base_model: 'base',
        models: [{ model: 'chat', parameters: { weight: 0.7, density: 0.5 } }, { model: 'other', parameters: { weight: 0.5, density: 0.7 } }],
        tokenizer_source: 'union',
      },
    },
    {
      label: 'tokenizer block: tokens rules, force, padding; linear',
      recipe: {
        merge_method: 'linear',
        models: [{ model: 'base', parameters: { weight: 1 } }, { model: 'chat', parameters: { weight: 2 } }, { model: 'other', parameters: { weight: 3 } }],
        tokenizer: {
          source: 'union',
          pad_to_multiple_of: 8,
          tokens: { '<|assistant|>': { source: { kind: 'model_token', model: 'chat', token: '<|im_start|>' } }, the: { source: 'other', force: true } },
        },
      },
    },
  ];
  for (const dtype of ['BF16', 'F32'] as const)
    for (const c of cases)
      test(`${c.label} (${dtype})`, async () => {
        // 300 columns: 4096-element chunks start mid-row
        const f = vocabFamily({ dtype, hidden: 300, otherTied: true });
        const models = [f.base.spec, f.chat.spec, f.other.spec];
        const gpu = await getGpu();
        const onGpu = await runMerge({ recipe: c.recipe, models, output: { kind: 'memory' }, chunkElements: 4096 }, new WebGpuBackend(gpu));
        const onCpu = await runMerge({ recipe: c.recipe, models, output: { kind: 'memory' }, chunkElements: 4096 }, new CpuBackend({ threads: 0 }));
        const a = onGpu.memoryFiles!;
        const b = onCpu.memoryFiles!;
        expect(Object.keys(a).sort()).toEqual(Object.keys(b).sort());
        expect(a['model.safetensors'].byteLength).toBe(b['model.safetensors'].byteLength);
        let diff = 0;
        for (let i = 0; i < a['model.safetensors'].length; i++) if (a['model.safetensors'][i] !== b['model.safetensors'][i]) diff++;
        expect(diff).toBe(0);
        expect(new TextDecoder().decode(a['tokenizer.json'])).toBe(new TextDecoder().decode(b['tokenizer.json']));
      });
});

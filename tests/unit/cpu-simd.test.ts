// The CPU engine's wasm SIMD kernels (shaders/cpu/wsum.wat via methods/shared/cpu/simd.ts) against
// their scalar JS twins, bit for bit: the codecs lane by lane on every awkward f32 / f16 / bf16
// pattern (NaN payloads quiet and signalling, ±inf, ±0, subnormals, rounding ties, overflow edges),
// and linear through the CPU engine for every stored / compute / output dtype, 1–6 inputs, odd
// lengths (tails that are not a multiple of 4 or 8), normalised or not, at several chunkings.
// Also: the committed generated module is what the .wat assembles to, and the JS fallback runs
// when SIMD is turned off.
import { afterEach, describe, expect, test, vi } from 'vitest';
import { readFileSync } from 'node:fs';
import { cpuKernels, kernelDtype, setCpuSimd, wsumKernels, type KernelDtype } from '../../src/methods/shared/cpu/simd';
import { cpuMergeValues, cpuTensorBytes } from '../../src/backends/cpu/tensor';
import { decodeElements, decodeInto, encodeInto } from '../../src/formats/dtype-codec';
import type { PlanEntry } from '../../src/recipe/plan-types';
import { linearEntry } from './plan-helpers';
import type { Dtype } from '../../src/formats/dtype';
import { GENERATED, generatedModule } from '../../scripts/build-wasm';
import { WSUM_WASM } from '../../src/methods/shared/cpu/wasm-kernels.gen';

const hex = (a: ArrayBufferView) => Buffer.from(a.buffer, a.byteOffset, a.byteLength).toString('hex');

/** Equal hex strings, or a short message naming the first differing byte (not megabytes of hex). */
function sameBytes(got: string, want: string, what: string): void {
  if (got === want) return;
  let i = 0;
  while (i < got.length && got[i] === want[i]) i++;
  const at = Math.floor(i / 2);
  expect.fail(`${what}: byte ${at} of ${want.length / 2} differs (got ${got.slice(i - (i % 8), i - (i % 8) + 16)}…, want ${want.slice(i - (i % 8), i - (i % 8) + 16)}…; lengths ${got.length / 2} / ${want.length / 2})`);
}

/** f32 bit patterns that stress the codecs: specials, f16/bf16 rounding ties and edges, subnormals. */
function awkwardBits(): Uint32Array {
  const v: number[] = [
    0, 0x80000000, 0x7f800000, 0xff800000, // ±0, ±inf
    0x7fc00000, 0xffc00000, 0x7f800001, 0xff800001, 0x7fbfffff, 0x7fffffff, 0xffffffff, 0x7fa5a5a5, 0xffd00001, // NaNs, quiet and signalling, payloads
    0x00000001, 0x807fffff, 0x00400000, 0x00012345, // f32 subnormals
    0x3f808000, 0x3f818000, 0x3f808001, 0x3f80ffff, 0xbf808000, 0x7f7fffff, 0xff7fffff, 0x7f7f8000, 0x7f7f7fff, // bf16 ties, edges, overflow by rounding
    0x477fe000, 0x477fefff, 0x477ff000, 0x477ff001, 0x47800000, 0xc77ff000, // f16 max, the rounding edge to inf
    0x38800000, 0x387fffff, 0x387ff000, 0x33800000, 0x33000000, 0x33000001, 0x32ffffff, 0x33c00000, 0x34000000, 0x34200000, 0x34400000, 0xb3400000, // f16 normal/subnormal edges, ties
    0x3f801000, 0x3f803000, 0x3f801001, 0x3f800fff, 0x38801000, 0x38803000, // f16 mantissa ties
  ];
  // and random patterns of every exponent
  let s = 12345;
  for (let i = 0; i < 3000; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    v.push(s);
  }
  return Uint32Array.from(v);
}

/** The kernel memory's f32 bits at `p` (n lanes). */
function lanes(mem: Uint8Array, p: number, n: number): Uint32Array {
  return new Uint32Array(mem.slice(p, p + n * 4).buffer);
}

afterEach(() => setCpuSimd(undefined));

describe('wasm SIMD kernels: the codecs equal dtype-codec bit for bit', () => {
  test('this Node validates and runs the SIMD module', () => {
    expect(cpuKernels().kind).toBe('wasm-simd');
    expect(wsumKernels()).toBeDefined();
  });

  const bits = awkwardBits();
  const n = bits.length; // not a multiple of 4
  const f32 = new Float32Array(bits.buffer);

  for (const out of ['F32', 'BF16', 'F16'] as const)
    test(`encode f32 → ${out} (finish, no division)`, () => {
      const k = wsumKernels()!;
      k.reserve(2 * n * 4 + 64);
      new Uint8Array(k.bytes.buffer).set(new Uint8Array(bits.buffer), 0);
      const dst = Math.ceil((n * 4) / 16) * 16;
      k.finish(0, false, 1, kernelDtype(out)!, dst, n);
      const size = out === 'F32' ? 4 : 2;
      sameBytes(hex(k.bytes.subarray(dst, dst + n * size)), hex(encodeInto(f32, out, new Uint8Array(n * size))), `encode ${out}`);
    });

  for (const stored of ['F32', 'BF16', 'F16'] as const)
    for (const round of [undefined, 'BF16', 'F16'] as const)
      test(`decode ${stored} stored${round ? `, rounded through ${round}` : ''}`, () => {
        const k = wsumKernels()!;
        const bytes = stored === 'F32' ? new Uint8Array(bits.buffer) : new Uint8Array(Uint16Array.from(bits, (b) => b & 0xffff).buffer);
        const dst = Math.ceil(bytes.byteLength / 16) * 16;
        k.reserve(dst + n * 4 + 64);
        k.bytes.set(bytes, 0);
        const r: KernelDtype = round && round !== stored ? kernelDtype(round)! : 0;
        k.decode(0, kernelDtype(stored)!, r, dst, n);
        sameBytes(hex(lanes(k.bytes, dst, n)), hex(decodeInto(bytes, stored, new Float32Array(n), round)), `decode ${stored} ${round}`);
      });
});

/** n stored values of `dtype` for input `seed`: random magnitudes, plus awkward patterns at odd places. */
function storedBytes(n: number, dtype: Dtype, seed: number): Uint8Array {
  const v = new Float32Array(n);
  const u = new Uint32Array(v.buffer);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    v[i] = ((s / 2 ** 32) * 2 - 1) * 2 ** ((s & 31) - 16);
  }
  const odd = awkwardBits().subarray(0, 48);
  // each input gets the awkward patterns at shifted places, so NaN meets NaN, inf meets −inf, …
  for (let i = 0; i < odd.length && i * 7 + (seed % 3) < n; i++) u[i * 7 + (seed % 3)] = odd[(i + seed) % odd.length];
  if (dtype === 'F32') return new Uint8Array(v.buffer);
  const h = new Uint16Array(n);
  // half patterns straight from the random bits: every 16-bit pattern class (subnormal, inf, NaN) occurs
  for (let i = 0; i < n; i++) h[i] = dtype === 'BF16' ? u[i] >>> 16 : u[i] & 0xffff;
  return new Uint8Array(h.buffer);
}

function entry(n: number, dtypes: Dtype[], o: { normalize: boolean; out: Dtype; compute?: Dtype; weights?: number[] }): PlanEntry {
  const weights = o.weights ?? [0.4, -0.3, 0.7, 0.25, 1.5, -0.05];
  return linearEntry(n, dtypes, { ...o, weights, name: 'model.layers.0.mlp.up_proj.weight' }, (i, dtype) => storedBytes(n, dtype, 11 + i));
}

async function both(e: PlanEntry, chunkElements?: number): Promise<[string, string]> {
  setCpuSimd(false);
  expect(cpuKernels().kind).toBe('js');
  const js = hex(await cpuTensorBytes(e, { chunkElements }));
  setCpuSimd(undefined);
  expect(cpuKernels().kind).toBe('wasm-simd');
  const wasm = hex(await cpuTensorBytes(e, { chunkElements }));
  return [wasm, js];
}

describe('linear on the CPU engine: wasm SIMD and scalar JS give the same bytes', () => {
  const dtypes: Dtype[] = ['BF16', 'F16', 'F32'];
  test.each([1, 2, 3, 4, 5, 6])('%i input(s), every stored and output dtype, mixed or all one, odd lengths, normalised or not', async (m) => {
    for (const n of [1, 3, 5, 7, 13, 4099])
      for (let t = 0; t < 6; t++) {
        // mixed stored dtypes (the multi-pass kernels), then one dtype for all (the fused one up to 4)
        const ins = Array.from({ length: m }, (_, i) => dtypes[t < 3 ? (i + t) % 3 : t - 3]);
        for (const out of dtypes)
          for (const normalize of [true, false]) {
            const [wasm, js] = await both(entry(n, ins, { normalize, out }));
            sameBytes(wasm, js, `${ins.join('+')} → ${out}, n ${n}, normalize ${normalize}`);
          }
      }
  });

  test('compute dtypes that round the inputs, and chunkings that cut blocks short', async () => {
    const n = 2 * 4096 + 4093;
    for (const compute of ['BF16', 'F16', 'F32'] as const)
      for (const ins of [['F32', 'F32', 'F32'], ['BF16', 'F16', 'F32'], ['F16', 'BF16']] as Dtype[][])
        for (const chunkElements of [undefined, 4096, 8192]) {
          const [wasm, js] = await both(entry(n, ins, { normalize: true, out: 'BF16', compute }), chunkElements);
          sameBytes(wasm, js, `${ins.join('+')} in ${compute}, chunks ${chunkElements}`);
        }
  });

  test('weights summing to zero (÷ 0) and exact ties in the sum', async () => {
    for (const weights of [[1, -1], [0.5, 0.5, -1], [2 ** -20, 3, 2 ** 20]]) {
      const ins: Dtype[] = weights.map(() => 'BF16');
      const [wasm, js] = await both(entry(1001, ins, { normalize: true, out: 'BF16', weights }));
      sameBytes(wasm, js, `weights ${weights}`);
    }
  });

  test('the evaluator path (whole decoded inputs, f32 values out) agrees too', async () => {
    const n = 4097;
    const ins: Dtype[] = ['BF16', 'F16', 'F32'];
    const e = entry(n, ins, { normalize: true, out: 'BF16' });
    const decoded = async (i: number) => decodeElements(storedBytes(n, ins[i], 11 + i), ins[i]);
    setCpuSimd(false);
    const js = hex(await cpuMergeValues(e, decoded));
    setCpuSimd(undefined);
    sameBytes(hex(await cpuMergeValues(e, decoded)), js, 'f32 values');
  });
});

describe('the scalar JS fallback', () => {
  test('an engine that rejects the SIMD probe runs the JS kernels, says so, and writes the same bytes', async () => {
    const e = entry(4099, ['BF16', 'BF16', 'BF16'], { normalize: true, out: 'BF16' });
    const want = hex(await cpuTensorBytes(e, {}));
    const validate = vi.spyOn(WebAssembly, 'validate').mockReturnValue(false);
    try {
      setCpuSimd(undefined);
      expect(cpuKernels()).toEqual({ kind: 'js', why: 'this engine does not support WebAssembly 128-bit SIMD' });
      expect(wsumKernels()).toBeUndefined();
      sameBytes(hex(await cpuTensorBytes(e, {})), want, 'JS fallback');
    } finally {
      validate.mockRestore();
      setCpuSimd(undefined);
    }
    expect(cpuKernels().kind).toBe('wasm-simd');
  });

  test('MERGE_CPU_SIMD=0 turns the SIMD kernels off', () => {
    vi.stubEnv('MERGE_CPU_SIMD', '0');
    try {
      setCpuSimd(undefined);
      expect(cpuKernels()).toEqual({ kind: 'js', why: 'SIMD kernels turned off (MERGE_CPU_SIMD=0)' });
    } finally {
      vi.unstubAllEnvs();
      setCpuSimd(undefined);
    }
  });
});

describe('the generated module', () => {
  test('stays under the 4 KB Chromium compiles synchronously on a page main thread', () => {
    expect(atob(WSUM_WASM).length).toBeLessThan(4096);
  });

  test('is what shaders/cpu/*.wat assembles to (run `npm run build:wasm` after editing a .wat)', async () => {
    expect(readFileSync(GENERATED, 'utf8') === (await generatedModule()), 'the generated module is stale: run npm run build:wasm').toBe(true);
  });
});

describe('jobs sharing one thread', () => {
  test('linear and task_arithmetic jobs interleaved in one thread (one kernel memory, grown by the second) give their own bytes', async () => {
    const a = entry(3 * 4096 + 5, ['BF16', 'BF16'], { normalize: true, out: 'BF16' });
    const b = entry(2 * 4096 + 3, ['F32', 'BF16', 'F16', 'F32', 'BF16', 'F16'], { normalize: true, out: 'F16' });
    const t = { ...entry(4096 + 9, ['BF16', 'F16', 'F32'], { normalize: false, out: 'BF16' }), method: 'task_arithmetic', params: { lambda: 0.5 } };
    t.inputs = t.inputs.map((x, i) => ({ ...x, isBase: i === 0 }));
    const alone: string[] = [];
    for (const e of [a, b, t]) alone.push(hex(await cpuTensorBytes(e, { chunkElements: 4096 })));
    const together = await Promise.all([a, b, t].map((e) => cpuTensorBytes(e, { chunkElements: 4096 })));
    together.forEach((bytes, i) => sameBytes(hex(bytes), alone[i], `job ${i}`));
  });
});

describe('linear reads one chunk ahead', () => {
  test('a read that fails on a later chunk fails the tensor with its error (not an unhandled rejection)', async () => {
    const n = 3 * 4096;
    const e = entry(n, ['BF16', 'BF16'], { normalize: true, out: 'BF16' });
    const good = e.inputs[1].tensor.source;
    let reads = 0;
    // the second input's source fails once the engine reads past its first chunk
    e.inputs[1].tensor.source = {
      name: 'm1.bin',
      size: good.size,
      read: async (offset: number, length: number) => {
        reads++;
        if (offset > 0) throw new Error('disk went away at ' + offset);
        return good.read(offset, length);
      },
    } as typeof good;
    for (const simd of [false, undefined]) {
      setCpuSimd(simd);
      reads = 0;
      await expect(cpuTensorBytes(e, { chunkElements: 4096 })).rejects.toThrow(/disk went away at 8192/);
      expect(reads).toBe(2);
    }
  });
});

describe('task_arithmetic on the CPU engine: wasm SIMD and scalar JS give the same bytes', () => {
  /** A base (input 0) and m task models, every input's values from storedBytes (NaN meets NaN, …). */
  function taEntry(n: number, dtypes: Dtype[], out: Dtype, params: Record<string, number | boolean>, compute?: Dtype): PlanEntry {
    const e = entry(n, dtypes, { normalize: false, out, compute, weights: [1, 0.7, -0.4, 0.25] });
    return { ...e, method: 'task_arithmetic', params, inputs: e.inputs.map((x, i) => ({ ...x, isBase: i === 0 })) };
  }
  const dtypes: Dtype[] = ['BF16', 'F16', 'F32'];
  test.each([1, 2, 3])('base + %i task model(s): every dtype, odd lengths, normalize and λ', async (m) => {
    for (const n of [1, 6, 4099])
      for (let t = 0; t < 6; t++) {
        const ins = Array.from({ length: m + 1 }, (_, i) => dtypes[t < 3 ? (i + t) % 3 : t - 3]);
        for (const out of dtypes)
          for (const params of [{}, { normalize: true }, { lambda: 0.6 }, { normalize: true, lambda: 1.3 }] as Record<string, number | boolean>[]) {
            const [wasm, js] = await both(taEntry(n, ins, out, params));
            sameBytes(wasm, js, `${ins.join('+')} → ${out}, n ${n}, ${JSON.stringify(params)}`);
          }
      }
  });

  test('rounded to a compute dtype, chunked', async () => {
    for (const compute of ['BF16', 'F16'] as const)
      for (const chunkElements of [undefined, 4096]) {
        const [wasm, js] = await both(taEntry(2 * 4096 + 77, ['F32', 'BF16', 'F32'], 'BF16', { normalize: true }, compute), chunkElements);
        sameBytes(wasm, js, `in ${compute}, chunks ${chunkElements}`);
      }
  });
});

describe('the task arithmetic family’s apply sweep: wasm SIMD and scalar JS give the same bytes', () => {
  /** A base (input 0) and task models; 2-D [rows, cols] so DELLA has rows. */
  function gtaEntry(method: string, rows: number, cols: number, dtypes: Dtype[], out: Dtype, params: Record<string, number | boolean>): PlanEntry {
    const e = entry(rows * cols, dtypes, { normalize: false, out, weights: [1, 0.7, 0.4, 0.9, 0.25] });
    return {
      ...e,
      method,
      shape: [rows, cols],
      params,
      inputs: e.inputs.map((x, i) => ({
        ...x,
        isBase: i === 0,
        params: i === 0 ? {} : { ...x.params, density: [0.5, 0.7, 0.3, 0.6][i - 1], gamma: 0.05, epsilon: 0.1 },
        tensor: { ...x.tensor, shape: [rows, cols] },
      })),
    };
  }
  const methods = ['ties', 'dare_ties', 'dare_linear', 'breadcrumbs', 'breadcrumbs_ties', 'della', 'della_linear', 'task_arithmetic'];
  test.each(methods)('%s: dtypes, odd shapes, chunkings (della rows off word boundaries), normalize and λ', async (method) => {
    // task_arithmetic with 4 task models takes the general apply sweep, not the plain loop
    const models = method === 'task_arithmetic' ? 4 : 2;
    for (const [rows, cols] of [[3, 7], [37, 113], [9, 1000]])
      for (const dtypes of [['BF16', 'BF16', 'BF16', 'BF16', 'BF16'], ['F32', 'F16', 'BF16', 'F32', 'F16']] as Dtype[][])
        for (const params of [{}, { normalize: false, lambda: 0.7 }, { rescale: false }] as Record<string, number | boolean>[])
          for (const chunkElements of [undefined, 4096]) {
            const e = gtaEntry(method, rows, cols, dtypes.slice(0, models + 1), 'BF16', params);
            const [wasm, js] = await both(e, chunkElements);
            sameBytes(wasm, js, `${method} [${rows}, ${cols}] ${dtypes.slice(0, models + 1).join('+')} ${JSON.stringify(params)} chunks ${chunkElements}`);
          }
  });
});

// linear's fused CPU kernel (inputs decoded block by block from their stored bytes, summed from
// cache) gives the same bits as the plain replay of shaders/wsum.wgsl over whole decoded inputs:
// every stored dtype, a compute dtype that rounds, chunk sizes that are not a multiple of the
// block, 1 to 5 inputs, normalised or not, BF16 and F32 outputs, NaN/±0/inf/subnormal values.
import { describe, expect, test } from 'vitest';
import { cpuMergeValues, cpuTensorBytes } from '../../src/backends/cpu/tensor';
import { decodeElements, decodeInto, halfBits } from '../../src/formats/dtype-codec';
import { encodeValues } from '../../src/backends/cpu/encode';
import type { PlanEntry } from '../../src/recipe/plan-types';
import type { Dtype } from '../../src/formats/dtype';
import { linearEntry } from './plan-helpers';

const f = Math.fround;

/** n pseudo-random values of `dtype` (as stored bytes), with the awkward ones mixed in. */
function stored(n: number, dtype: Dtype, seed: number): Uint8Array {
  const v = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    v[i] = ((s / 2 ** 32) * 2 - 1) * 2 ** ((s & 15) - 8);
  }
  const odd = [NaN, -0, 0, Infinity, -Infinity, 1e-40, -3e-39, 65504, 1.0000001, 3.4e38];
  for (let i = 0; i < odd.length && i * 997 < n; i++) v[i * 997] = odd[i];
  if (dtype === 'F32') return new Uint8Array(v.buffer);
  const h = new Uint16Array(n);
  for (let i = 0; i < n; i++) h[i] = halfBits.fromF32(v[i], dtype);
  return new Uint8Array(h.buffer);
}

function entry(n: number, dtypes: Dtype[], o: { normalize: boolean; out: Dtype; compute?: Dtype }): PlanEntry {
  return linearEntry(n, dtypes, { ...o, weights: [0.4, -0.3, 0.7, 0.25, 1.5] }, (i, dtype) => stored(n, dtype, 7 + i));
}

/** The WGSL's operations over whole decoded inputs, written out plainly. */
function replay(e: PlanEntry): Float32Array {
  const xs = e.inputs.map((inp) => decodeElements(stored(e.shape[0], inp.tensor.dtype as Dtype, 7 + Number(inp.model.slice(1))), inp.tensor.dtype as Dtype, e.computeDtype));
  const w = e.inputs.map((inp) => f(inp.params.weight as number));
  const div = f(w.reduce((a, b) => a + b, 0));
  const out = new Float32Array(e.shape[0]);
  for (let k = 0; k < out.length; k++) {
    let acc = f(0 + f(w[0] * xs[0][k]));
    for (let j = 1; j < xs.length; j++) acc = f(acc + f(w[j] * xs[j][k]));
    out[k] = e.params.normalize ? f(acc / div) : acc;
  }
  return out;
}

const bitsOf = (a: Uint8Array) => Buffer.from(a).toString('hex');

describe('linear on the CPU engine: the fused blockwise kernel', () => {
  const cases: [string, Dtype[], { normalize: boolean; out: Dtype; compute?: Dtype }][] = [
    ['3 × BF16 → BF16', ['BF16', 'BF16', 'BF16'], { normalize: true, out: 'BF16' }],
    ['3 × BF16 → F32, not normalised', ['BF16', 'BF16', 'BF16'], { normalize: false, out: 'F32' }],
    ['1 × F16', ['F16'], { normalize: true, out: 'F16' }],
    ['2 × F32 computed in BF16', ['F32', 'F32'], { normalize: true, out: 'F32', compute: 'BF16' }],
    ['mixed dtypes, 5 inputs', ['BF16', 'F16', 'F32', 'BF16', 'F16'], { normalize: true, out: 'BF16' }],
    ['4 inputs, not normalised', ['BF16', 'F16', 'F32', 'BF16'], { normalize: false, out: 'BF16' }],
  ];
  test.each(cases)('%s: the same bits as the plain replay, at any chunking', async (_name, dtypes, o) => {
    const n = 3 * 4096 + 1234;
    const e = entry(n, dtypes, o);
    const want = bitsOf(encodeValues(replay(e), o.out));
    for (const chunkElements of [undefined, 4096, 8192])
      expect(bitsOf(await cpuTensorBytes(e, { chunkElements }))).toBe(want);
    // the job's whole-decoded path (the evaluator's), which does not hand out stored bytes, agrees
    const values = await cpuMergeValues(e, async (i) => decodeElements(stored(n, dtypes[i], 7 + i), dtypes[i], o.compute));
    expect(bitsOf(encodeValues(values, o.out))).toBe(want);
  });

  test('decodeInto fills a prefix of a larger array, from unaligned bytes too, and refuses what does not fit', () => {
    const bytes = stored(100, 'BF16', 3);
    const shifted = new Uint8Array(bytes.byteLength + 1);
    shifted.set(bytes, 1);
    const want = decodeElements(bytes, 'BF16', 'F16');
    for (const src of [bytes, shifted.subarray(1)]) {
      const out = new Float32Array(128).fill(9);
      decodeInto(src, 'BF16', out, 'F16');
      expect(bitsOf(new Uint8Array(out.buffer, 0, 400))).toBe(bitsOf(new Uint8Array(want.buffer)));
      expect(out[100]).toBe(9);
    }
    expect(() => decodeInto(bytes, 'BF16', new Float32Array(99))).toThrow(RangeError);
    expect(() => decodeInto(new Uint8Array(3), 'F16', new Float32Array(8))).toThrow(/whole number/);
  });
});

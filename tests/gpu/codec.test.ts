import { describe, expect, test } from 'vitest';
import { gpuBytes, makeEntry } from './support';
import { encodeF32, decodeToF32 } from '../fixtures/dtype-codec';
import type { Dtype } from '../../src/formats/dtype';

// Special values: zeros, subnormals (f32, f16, bf16 ranges), rounding ties, overflow, inf, NaN.
function specials(): Float32Array {
  const v = [0, -0, 1, -1, 0.1, 1 / 3, 65504, 65519, 65520, 1e5, -1e5, 6.1e-5, 5.96e-8, 2.98e-8, 2.99e-8, 1e-40, -1e-30,
    1.00048828125, 1.0009765625 * 1.000244140625, 3.4e38, Infinity, -Infinity, NaN, 1 + 2 ** -8, 1 + 3 * 2 ** -9, 2 ** -24, 2 ** -25, 3 * 2 ** -26];
  const out = new Float32Array(4099);
  for (let i = 0; i < out.length; i++) out[i] = i < v.length ? v[i] : (Math.sin(i * 12.9898) * 43758.5453) % 7 * 10 ** ((i % 13) - 6);
  return out;
}

const DTYPES: Dtype[] = ['F32', 'F16', 'BF16'];

describe('codec: decode → f32 → encode matches the CPU codec bit for bit', () => {
  for (const inD of DTYPES)
    for (const outD of DTYPES) {
      test(`${inD} → ${outD}`, async () => {
        const data = specials();
        const entry = makeEntry('passthrough', [data.length], [{ data, dtype: inD }], {}, outD);
        const bytes = await gpuBytes(entry, 1024);
        const expected = encodeF32(decodeToF32(encodeF32(data, inD), inD), outD);
        expect(bytes.length).toBe(expected.length);
        const bad: string[] = [];
        const step = outD === 'F32' ? 4 : 2;
        for (let i = 0; i < expected.length; i += step) {
          const same = expected.subarray(i, i + step).every((b, k) => b === bytes[i + k]);
          if (!same) {
            const a = decodeToF32(bytes.subarray(i, i + step), outD)[0];
            const e = decodeToF32(expected.subarray(i, i + step), outD)[0];
            if (!(Number.isNaN(a) && Number.isNaN(e))) bad.push(`#${i / step} in=${data[i / step]}: got ${a}, want ${e}`);
          }
        }
        expect(bad.slice(0, 5)).toEqual([]);
      });
    }
});

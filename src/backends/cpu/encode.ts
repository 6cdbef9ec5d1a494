// f32 values → the output dtype's little-endian bytes, bit for bit as shaders/encode.wgsl and the
// prelude's codecs (round to nearest even, NaN kept quiet with its sign, overflow → ±inf).
import type { Dtype } from '../../formats/dtype';
import { halfBits } from '../../formats/dtype-codec';

export function encodeValues(values: Float32Array, dtype: Dtype): Uint8Array {
  const n = values.length;
  if (dtype === 'F32') return new Uint8Array(values.buffer.slice(values.byteOffset, values.byteOffset + n * 4));
  const bits = new Uint32Array(values.buffer, values.byteOffset, n);
  const out = new Uint16Array(n);
  if (dtype === 'BF16') {
    for (let i = 0; i < n; i++) {
      const b = bits[i];
      out[i] = (b & 0x7f800000) === 0x7f800000 && (b & 0x007fffff) !== 0 ? ((b >>> 16) | 0x0040) & 0xffff : ((b + 0x7fff + ((b >>> 16) & 1)) >>> 16) & 0xffff;
    }
  } else {
    for (let i = 0; i < n; i++) out[i] = halfBits.fromF32(values[i], 'F16');
  }
  return new Uint8Array(out.buffer);
}

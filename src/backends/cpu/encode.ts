// f32 values → the output dtype's little-endian bytes, bit for bit as shaders/encode.wgsl and the
// prelude's codecs (round to nearest even, NaN kept quiet with its sign, overflow → ±inf).
import type { Dtype } from '../../formats/dtype';
import { itemSize } from '../../formats/dtype';
import { encodeInto } from '../../formats/dtype-codec';

export function encodeValues(values: Float32Array, dtype: Dtype): Uint8Array {
  return encodeInto(values, dtype, new Uint8Array(values.length * itemSize(dtype)));
}

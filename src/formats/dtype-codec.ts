// CPU codecs for tensor bytes: safetensors elements (little-endian F32 / F16 / BF16) to f32, and
// f32 values rounded through a 16-bit dtype. They follow the WGSL codecs (shaders/prelude.wgsl)
// bit for bit — round to nearest even, NaN stays NaN, overflow → ±inf, f16 subnormals kept — so
// weights computed on the CPU (the wasm evaluation backend) equal those the GPU would hold.
// Pure: no DOM, no GPU; runs in Node.
import type { Dtype } from './dtype';
import { itemSize } from './dtype';

/** bf16 bits → f32 bits: the bf16 pattern is the high half of the f32 pattern. */
function bf16ToF32Bits(h: number): number {
  return ((h & 0xffff) << 16) >>> 0;
}

/** f32 bits → bf16 bits, round to nearest even; a NaN becomes a quiet NaN with its sign. */
function f32BitsToBf16(b: number): number {
  if ((b & 0x7f800000) === 0x7f800000 && (b & 0x007fffff) !== 0) return ((b >>> 16) | 0x0040) & 0xffff;
  // adding 0x7fff plus the kept lowest bit rounds ties to even; a carry may reach the exponent (→ inf)
  return ((b + 0x7fff + ((b >>> 16) & 1)) >>> 16) & 0xffff;
}

const scratchF = new Float32Array(1);
const scratchU = new Uint32Array(scratchF.buffer);

/** f16 bits → f32 bits (exact: every binary16 value is an f32 value). */
function f16ToF32Bits(h: number): number {
  const sign = (h & 0x8000) << 16;
  const e = (h >>> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0) {
    // zero or subnormal: m · 2^-24 is exact in f32
    scratchF[0] = m * 2 ** -24;
    return (scratchU[0] | sign) >>> 0;
  }
  if (e === 31) return (sign | 0x7f800000 | (m << 13)) >>> 0;
  return (sign | ((e + 112) << 23) | (m << 13)) >>> 0;
}

/** f32 bits → f16 bits, round to nearest even (into subnormals too); overflow → ±inf. */
function f32BitsToF16(b: number): number {
  const sign = (b >>> 16) & 0x8000;
  const e = (b >>> 23) & 0xff;
  const m = b & 0x7fffff;
  if (e === 255) return m !== 0 ? sign | 0x7e00 : sign | 0x7c00;
  const ue = e - 127 + 15;
  if (ue >= 31) return sign | 0x7c00;
  if (ue <= 0) {
    if (ue < -10) return sign; // below half the smallest subnormal
    const full = m | 0x800000;
    const shift = 14 - ue; // 14..24
    let r = full >>> shift;
    const rem = full & ((1 << shift) - 1);
    const half = 1 << (shift - 1);
    if (rem > half || (rem === half && (r & 1) === 1)) r++;
    return sign | r;
  }
  let r = (ue << 10) | (m >>> 13);
  const rem = m & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && (r & 1) === 1)) r++; // a carry into the exponent is right
  return sign | r;
}

/** Rounds f32 bit patterns in place through `dtype` (no-op for F32). */
function roundBits(bits: Uint32Array, dtype: Dtype): void {
  if (dtype === 'BF16') for (let i = 0; i < bits.length; i++) bits[i] = bf16ToF32Bits(f32BitsToBf16(bits[i]));
  else if (dtype === 'F16') for (let i = 0; i < bits.length; i++) bits[i] = f16ToF32Bits(f32BitsToF16(bits[i]));
}

/**
 * Decodes little-endian elements of `dtype` to f32; with `roundTo` (a compute dtype other than the
 * stored one) each value is then rounded through it, as the GPU decode does for mergekit's `dtype`.
 */
export function decodeElements(bytes: Uint8Array, dtype: Dtype, roundTo?: Dtype): Float32Array {
  const size = itemSize(dtype);
  if (bytes.byteLength % size !== 0) throw new RangeError(`${bytes.byteLength} bytes is not a whole number of ${dtype} elements`);
  return decodeInto(bytes, dtype, new Float32Array(bytes.byteLength / size), roundTo);
}

/**
 * decodeElements into `out` (its first bytes/itemSize values; no allocation when the 16-bit words
 * are aligned): the CPU engine's blockwise kernels decode a few thousand elements at a time into a
 * scratch array that stays in cache, instead of a whole chunk into fresh memory. Returns `out`.
 */
export function decodeInto(bytes: Uint8Array, dtype: Dtype, out: Float32Array, roundTo?: Dtype): Float32Array {
  const size = itemSize(dtype);
  const n = bytes.byteLength / size;
  if (!Number.isInteger(n)) throw new RangeError(`${bytes.byteLength} bytes is not a whole number of ${dtype} elements`);
  if (n > out.length) throw new RangeError(`${n} ${dtype} elements do not fit ${out.length} values`);
  // typed-array views read the host's byte order, little-endian on every platform the studio runs on
  const bits = new Int32Array(out.buffer, out.byteOffset, n);
  if (dtype === 'F32') new Uint8Array(out.buffer, out.byteOffset, n * 4).set(bytes);
  else {
    // read the 16-bit words in place when they are aligned (fresh reads are), else from a copy
    let half: Uint16Array;
    if (bytes.byteOffset % 2 === 0) half = new Uint16Array(bytes.buffer, bytes.byteOffset, n);
    else {
      half = new Uint16Array(n);
      new Uint8Array(half.buffer).set(bytes);
    }
    // the bf16 pattern is the high half of the f32 pattern: one shift per element
    if (dtype === 'BF16') for (let i = 0; i < n; i++) bits[i] = half[i] << 16;
    else for (let i = 0; i < n; i++) bits[i] = f16ToF32Bits(half[i]);
  }
  if (roundTo && roundTo !== dtype) roundBits(new Uint32Array(out.buffer, out.byteOffset, n), roundTo);
  return out;
}

/**
 * `values` encoded as little-endian elements of `dtype` into `out` from element `at` on, bit for
 * bit as shaders/encode.wgsl (round to nearest even, NaN kept quiet with its sign, overflow → ±inf).
 * Kernels that encode block by block call it on a cache-resident block. Returns `out`.
 */
export function encodeInto(values: Float32Array, dtype: Dtype, out: Uint8Array, at = 0): Uint8Array {
  const n = values.length;
  const size = itemSize(dtype);
  if ((at + n) * size > out.byteLength) throw new RangeError(`${n} ${dtype} elements at ${at} do not fit ${out.byteLength} bytes`);
  if (dtype === 'F32') {
    out.set(new Uint8Array(values.buffer, values.byteOffset, n * 4), at * 4);
    return out;
  }
  if ((out.byteOffset + at * 2) % 2 !== 0) {
    out.set(encodeInto(values, dtype, new Uint8Array(n * 2)), at * 2);
    return out;
  }
  const bits = new Uint32Array(values.buffer, values.byteOffset, n);
  const half = new Uint16Array(out.buffer, out.byteOffset + at * 2, n);
  if (dtype === 'BF16') for (let i = 0; i < n; i++) half[i] = f32BitsToBf16(bits[i]);
  else for (let i = 0; i < n; i++) half[i] = f32BitsToF16(bits[i]);
  return out;
}

/** `values` rounded through `dtype` and widened back to f32, as a checkpoint of that dtype would hold them (a new array). */
export function roundThrough(values: Float32Array, dtype: Dtype): Float32Array {
  const out = Float32Array.from(values);
  roundBits(new Uint32Array(out.buffer), dtype);
  return out;
}

/** Single-value forms (bit patterns), for tests and small conversions. */
export const halfBits = {
  fromF32: (x: number, dtype: 'F16' | 'BF16'): number => {
    scratchF[0] = x;
    return dtype === 'BF16' ? f32BitsToBf16(scratchU[0]) : f32BitsToF16(scratchU[0]);
  },
  toF32: (h: number, dtype: 'F16' | 'BF16'): number => {
    scratchU[0] = dtype === 'BF16' ? bf16ToF32Bits(h) : f16ToF32Bits(h);
    return scratchF[0];
  },
};

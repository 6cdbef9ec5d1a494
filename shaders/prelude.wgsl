// Shared by every kernel family (prepended by src/gpu/kernels.ts).
// - flat_index: 2-D dispatch (x ≤ 65535 groups) flattened to an element index, 256 threads per group.
// - f16/bf16 codecs in integer arithmetic: no shader-f16 needed, subnormals exact, round to nearest
//   even on encode, NaN stays NaN, overflow gives ±inf.

const WG: u32 = 256u;

fn flat_index(wg: vec3<u32>, nwg: vec3<u32>, lid: u32) -> u32 {
  return (wg.y * nwg.x + wg.x) * WG + lid;
}

fn bf16_to_f32(h: u32) -> f32 {
  return bitcast<f32>((h & 0xffffu) << 16u);
}

fn f32_to_bf16(x: f32) -> u32 {
  let b = bitcast<u32>(x);
  if ((b & 0x7f800000u) == 0x7f800000u && (b & 0x007fffffu) != 0u) {
    return ((b >> 16u) | 0x0040u) & 0xffffu; // quiet NaN, sign kept
  }
  let rounded = b + 0x7fffu + ((b >> 16u) & 1u);
  return (rounded >> 16u) & 0xffffu;
}

fn f16_to_f32(h: u32) -> f32 {
  let sign = (h & 0x8000u) << 16u;
  let e = (h >> 10u) & 0x1fu;
  let m = h & 0x3ffu;
  if (e == 0u) {
    // zero or subnormal: m · 2^-24, exact in f32
    let v = f32(m) * 5.9604644775390625e-8;
    return bitcast<f32>(bitcast<u32>(v) | sign);
  }
  if (e == 31u) {
    return bitcast<f32>(sign | 0x7f800000u | (m << 13u));
  }
  return bitcast<f32>(sign | ((e + 112u) << 23u) | (m << 13u));
}

fn f32_to_f16(x: f32) -> u32 {
  let b = bitcast<u32>(x);
  let sign = (b >> 16u) & 0x8000u;
  let e = (b >> 23u) & 0xffu;
  let m = b & 0x7fffffu;
  if (e == 255u) {
    if (m != 0u) { return sign | 0x7e00u; } // NaN
    return sign | 0x7c00u;                  // inf
  }
  let ue = i32(e) - 127 + 15;
  if (ue >= 31) { return sign | 0x7c00u; }  // overflow → inf
  if (ue <= 0) {
    // subnormal f16 (or zero): value = mant · 2^(e-150); result = round(value / 2^-24)
    if (ue < -10) { return sign; }
    let full = m | 0x800000u;               // 24-bit significand
    let shift = u32(14 - ue);               // 14..24
    var r = full >> shift;
    let rem = full & ((1u << shift) - 1u);
    let half = 1u << (shift - 1u);
    if (rem > half || (rem == half && (r & 1u) == 1u)) { r = r + 1u; }
    return sign | r;
  }
  var r = (u32(ue) << 10u) | (m >> 13u);
  let rem = m & 0x1fffu;
  if (rem > 0x1000u || (rem == 0x1000u && (r & 1u) == 1u)) { r = r + 1u; } // may carry into inf: correct
  return sign | r;
}

// Element i of a tensor stored as u32 words of dtype dt (0 f32, 1 f16, 2 bf16: two 16-bit elements
// per word, low half first), as f32, rounded to the compute dtype round_to (0 none, 1 bf16, 2 f16)
// unless it is stored in it: codec.wgsl's decode, for kernels that read stored words directly.
// Rounding is idempotent, so an already decoded (and rounded) f32 buffer may be read as dt 0 too.
fn word_index(dt: u32, i: u32) -> u32 {
  return select(i >> 1u, i, dt == 0u);
}

fn decode_word(w: u32, dt: u32, i: u32, round_to: u32) -> f32 {
  var v: f32;
  if (dt == 0u) {
    v = bitcast<f32>(w);
  } else {
    let h = select(w & 0xffffu, w >> 16u, (i & 1u) == 1u);
    if (dt == 1u) { v = f16_to_f32(h); } else { v = bf16_to_f32(h); }
  }
  if (round_to == 1u && dt != 2u) { return bf16_to_f32(f32_to_bf16(v)); }
  if (round_to == 2u && dt != 1u) { return f16_to_f32(f32_to_f16(v)); }
  return v;
}

// Counter-based hash (for random methods): lowbias32 by Chris Wellons' constants, mixed with a seed.
fn hash_u32(x: u32) -> u32 {
  var h = x;
  h = h ^ (h >> 16u);
  h = h * 0x7feb352du;
  h = h ^ (h >> 15u);
  h = h * 0x846ca68bu;
  h = h ^ (h >> 16u);
  return h;
}

// Counter-based uniform random numbers: the same value for the same (seed, stream, i) wherever and
// in whatever chunk it is computed. i: global flat element index; stream: the model input's index;
// seed: PlanEntry.seed (a per-tensor hash of the recipe seed and the output tensor name).
// rand_u24 is a 24-bit integer; rand01 = rand_u24 / 2^24 ∈ [0, 1), exact in f32.
// Twin: src/merge/reference/rng.ts. Comparisons against a probability p are done in integers
// (u < ceil(p·2^24) ⇔ rand01 < p) so that GPU and CPU decide identically.
fn rand_u24(seed: u32, stream: u32, i: u32) -> u32 {
  return hash_u32(hash_u32(i ^ (stream * 0x9e3779b9u)) ^ seed) >> 8u;
}

fn rand01(seed: u32, stream: u32, i: u32) -> f32 {
  return f32(rand_u24(seed, stream, i)) * 5.9604644775390625e-8;
}

// Deterministic workgroup sums: each thread puts its values in s0[lid] / s1[lid], calls tree(lid)
// from uniform control flow, and finds the sums in s0[0] / s1[0]. The pairing order is fixed, so the
// same inputs give the same bits on any run and any chunking. Only entry points that call tree()
// (directly or not) reserve this workgroup memory.
var<workgroup> s0: array<f32, 256>;
var<workgroup> s1: array<f32, 256>;

fn tree(lid: u32) {
  var stride = 128u;
  loop {
    if (stride == 0u) { break; }
    workgroupBarrier();
    if (lid < stride) {
      s0[lid] = s0[lid] + s0[lid + stride];
      s1[lid] = s1[lid] + s1[lid + stride];
    }
    stride = stride >> 1u;
  }
  workgroupBarrier();
}

// Weighted sum straight from stored words (linear, and any single-sweep combination):
//   acc[i] = (init ? 0 : acc[i]) + Σ_j coef[first + j] · decode_j(in_j, i),  j < count ≤ 4
//   finally (flags & 2): acc[i] = acc[i] / div
// wsum_encode computes the same values and writes them encoded (encode.wgsl's words: two elements
// per u32, low half first; out_dtype 1 f16, 2 bf16) instead of acc: the last pass of a merge to disk.
// decode_j reads input j's dtype (0 f32, 1 f16, 2 bf16) from the dtypes field (2 bits each) and
// rounds to the compute dtype (round_to: 0 none, 1 bf16, 2 f16) as codec.wgsl does. One pass
// instead of a decode and an axpy per input: this is memory bound, so it matters.

struct WsumParams {
  n: u32,
  count: u32,
  dtypes: u32,
  flags: u32,     // 1: init, 2: divide at the end
  first: u32,     // index of input 0's coefficient in coef
  round_to: u32,
  div: f32,
  out_dtype: u32, // wsum_encode: 1 f16, 2 bf16
};

@group(0) @binding(0) var<uniform> P: WsumParams;
@group(0) @binding(1) var<storage, read> in0: array<u32>;
@group(0) @binding(2) var<storage, read> in1: array<u32>;
@group(0) @binding(3) var<storage, read> in2: array<u32>;
@group(0) @binding(4) var<storage, read> in3: array<u32>;
@group(0) @binding(5) var<storage, read> coef: array<f32>;
@group(0) @binding(6) var<storage, read_write> acc: array<f32>;
@group(0) @binding(7) var<storage, read_write> encoded: array<u32>;

fn from_word(w: u32, dt: u32, i: u32) -> f32 {
  return decode_word(w, dt, i, P.round_to);
}

fn value(i: u32) -> f32 {
  var s = 0.0;
  if ((P.flags & 1u) == 0u) { s = acc[i]; }
  let d0 = P.dtypes & 3u;
  s = s + coef[P.first] * from_word(in0[word_index(d0, i)], d0, i);
  if (P.count > 1u) { let d = (P.dtypes >> 2u) & 3u; s = s + coef[P.first + 1u] * from_word(in1[word_index(d, i)], d, i); }
  if (P.count > 2u) { let d = (P.dtypes >> 4u) & 3u; s = s + coef[P.first + 2u] * from_word(in2[word_index(d, i)], d, i); }
  if (P.count > 3u) { let d = (P.dtypes >> 6u) & 3u; s = s + coef[P.first + 3u] * from_word(in3[word_index(d, i)], d, i); }
  if ((P.flags & 2u) != 0u) { s = s / P.div; }
  return s;
}

@compute @workgroup_size(256)
fn wsum(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = flat_index(wg, nwg, lid);
  if (i >= P.n) { return; }
  acc[i] = value(i);
}

fn encode16(v: f32) -> u32 {
  if (P.out_dtype == 1u) { return f32_to_f16(v); }
  return f32_to_bf16(v);
}

@compute @workgroup_size(256)
fn wsum_encode(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let t = flat_index(wg, nwg, lid);
  if (2u * t >= P.n) { return; }
  let a = value(2u * t);
  var b = 0.0;
  if (2u * t + 1u < P.n) { b = value(2u * t + 1u); }
  encoded[t] = encode16(a) | (encode16(b) << 16u);
}

// Decode stored tensors (u32 words) to f32 and encode f32 back. Indices are chunk-relative: a chunk's
// bytes are uploaded starting at word 0, element 0 in the low half of word 0.
// `round_to` optionally rounds decoded values to the compute dtype (mergekit casts inputs to `dtype`).

struct CodecParams {
  n: u32,        // elements
  round_to: u32, // 0 none, 1 bf16, 2 f16
  _p0: u32,
  _p1: u32,
};

@group(0) @binding(0) var<uniform> P: CodecParams;
@group(0) @binding(1) var<storage, read> src_words: array<u32>;
@group(0) @binding(2) var<storage, read_write> dst_f32: array<f32>;

fn round_value(v: f32) -> f32 {
  if (P.round_to == 1u) { return bf16_to_f32(f32_to_bf16(v)); }
  if (P.round_to == 2u) { return f16_to_f32(f32_to_f16(v)); }
  return v;
}

@compute @workgroup_size(256)
fn decode_f32(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = flat_index(wg, nwg, lid);
  if (i >= P.n) { return; }
  dst_f32[i] = round_value(bitcast<f32>(src_words[i]));
}

@compute @workgroup_size(256)
fn decode_bf16(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = flat_index(wg, nwg, lid);
  if (i >= P.n) { return; }
  let w = src_words[i >> 1u];
  let h = select(w & 0xffffu, w >> 16u, (i & 1u) == 1u);
  dst_f32[i] = round_value(bf16_to_f32(h));
}

@compute @workgroup_size(256)
fn decode_f16(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = flat_index(wg, nwg, lid);
  if (i >= P.n) { return; }
  let w = src_words[i >> 1u];
  let h = select(w & 0xffffu, w >> 16u, (i & 1u) == 1u);
  dst_f32[i] = round_value(f16_to_f32(h));
}

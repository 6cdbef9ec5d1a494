// Encode f32 results to 16-bit storage words (two elements per u32, low half first). F32 output
// needs no kernel: the f32 buffer is read back as is.

struct EncodeParams {
  n: u32,  // elements
  _p0: u32,
  _p1: u32,
  _p2: u32,
};

@group(0) @binding(0) var<uniform> P: EncodeParams;
@group(0) @binding(1) var<storage, read> src_f32: array<f32>;
@group(0) @binding(2) var<storage, read_write> dst_words: array<u32>;

fn pair(i: u32) -> vec2<f32> {
  let a = src_f32[2u * i];
  var b = 0.0;
  if (2u * i + 1u < P.n) { b = src_f32[2u * i + 1u]; }
  return vec2<f32>(a, b);
}

@compute @workgroup_size(256)
fn encode_bf16(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = flat_index(wg, nwg, lid);
  if (2u * i >= P.n) { return; }
  let v = pair(i);
  dst_words[i] = f32_to_bf16(v.x) | (f32_to_bf16(v.y) << 16u);
}

@compute @workgroup_size(256)
fn encode_f16(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = flat_index(wg, nwg, lid);
  if (2u * i >= P.n) { return; }
  let v = pair(i);
  dst_words[i] = f32_to_f16(v.x) | (f32_to_f16(v.y) << 16u);
}

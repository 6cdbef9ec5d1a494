// Deterministic reductions. Blocks of 1024 elements aligned to the chunk start (chunks always start at
// a multiple of 1024 elements of the whole tensor, so blocks are the same for any chunk size); each
// block is summed by one workgroup in a fixed order and written as one f32 partial. The CPU adds the
// partials in block order in f64: the total is independent of chunking.
//   dot_blocks: Σ a'·b'   with a' = a − base (if flags & 1), b' = b − base (if flags & 2)
//   l1_blocks:  out0 = Σ |a − base|,  out1 = Σ |(a − base)·mask|   (flags & 4: mask bound)
//   dot_rows:   per row of row_len elements (one workgroup per row): Σ a'·b'
// a, b and base are read as stored words (prelude's decode_word: dtypes holds 2 bits each, a at
// bits 0..1, b at 2..3, base at 4..5) rounded to round_to; f32 buffers are dtype 0, round_to 0.

struct RedParams {
  n: u32,
  flags: u32,
  row_len: u32,
  mask_word_offset: u32,
  dtypes: u32,
  round_to: u32,
  _p0: u32,
  _p1: u32,
};

@group(0) @binding(0) var<uniform> P: RedParams;
@group(0) @binding(1) var<storage, read> a: array<u32>;
@group(0) @binding(2) var<storage, read> b: array<u32>;
@group(0) @binding(3) var<storage, read> base: array<u32>;
@group(0) @binding(4) var<storage, read> mask: array<u32>;
@group(0) @binding(5) var<storage, read_write> out0: array<f32>;
@group(0) @binding(6) var<storage, read_write> out1: array<f32>;


fn a_at(i: u32) -> f32 {
  let dt = P.dtypes & 3u;
  return decode_word(a[word_index(dt, i)], dt, i, P.round_to);
}
fn b_at(i: u32) -> f32 {
  let dt = (P.dtypes >> 2u) & 3u;
  return decode_word(b[word_index(dt, i)], dt, i, P.round_to);
}
fn base_at(i: u32) -> f32 {
  let dt = (P.dtypes >> 4u) & 3u;
  return decode_word(base[word_index(dt, i)], dt, i, P.round_to);
}
fn av(i: u32) -> f32 {
  if ((P.flags & 1u) != 0u) { return a_at(i) - base_at(i); }
  return a_at(i);
}
fn bv(i: u32) -> f32 {
  if ((P.flags & 2u) != 0u) { return b_at(i) - base_at(i); }
  return b_at(i);
}
fn mask_bit(i: u32) -> bool {
  let w = mask[P.mask_word_offset + (i >> 5u)];
  return ((w >> (i & 31u)) & 1u) == 1u;
}

@compute @workgroup_size(256)
fn dot_blocks(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let blk = wg.y * nwg.x + wg.x;
  let start = blk * 1024u;
  var acc = 0.0;
  for (var k = 0u; k < 4u; k = k + 1u) {
    let i = start + k * 256u + lid;
    if (i < P.n) { acc = acc + av(i) * bv(i); }
  }
  s0[lid] = acc;
  s1[lid] = 0.0;
  tree(lid);
  if (lid == 0u && start < P.n) { out0[blk] = s0[0]; }
}

@compute @workgroup_size(256)
fn l1_blocks(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let blk = wg.y * nwg.x + wg.x;
  let start = blk * 1024u;
  var t0 = 0.0;
  var t1 = 0.0;
  for (var k = 0u; k < 4u; k = k + 1u) {
    let i = start + k * 256u + lid;
    if (i < P.n) {
      let d = abs(a_at(i) - base_at(i));
      t0 = t0 + d;
      if ((P.flags & 4u) == 0u || mask_bit(i)) { t1 = t1 + d; }
    }
  }
  s0[lid] = t0;
  s1[lid] = t1;
  tree(lid);
  if (lid == 0u && start < P.n) { out0[blk] = s0[0]; out1[blk] = s1[0]; }
}

@compute @workgroup_size(256)
fn dot_rows(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let row = wg.y * nwg.x + wg.x;
  let start = row * P.row_len;
  var acc = 0.0;
  if (start < P.n) {
    for (var j = lid; j < P.row_len; j = j + 256u) {
      acc = acc + av(start + j) * bv(start + j);
    }
  }
  s0[lid] = acc;
  s1[lid] = 0.0;
  tree(lid);
  if (lid == 0u && start < P.n) { out0[row] = s0[0]; }
}

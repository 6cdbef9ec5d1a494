// Deterministic reductions. Blocks of 1024 elements aligned to the chunk start (chunks always start at
// a multiple of 1024 elements of the whole tensor, so blocks are the same for any chunk size); each
// block is summed by one workgroup in a fixed order and written as one f32 partial. The CPU adds the
// partials in block order in f64: the total is independent of chunking.
//   dot_blocks: Σ a'·b'   with a' = a − base (if flags & 1), b' = b − base (if flags & 2)
//   l1_blocks:  out0 = Σ |a − base|,  out1 = Σ |(a − base)·mask|   (flags & 4: mask bound)
//   dot_rows:   per row of row_len elements (one workgroup per row): Σ a'·b'

struct RedParams {
  n: u32,
  flags: u32,
  row_len: u32,
  mask_word_offset: u32,
};

@group(0) @binding(0) var<uniform> P: RedParams;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read> base: array<f32>;
@group(0) @binding(4) var<storage, read> mask: array<u32>;
@group(0) @binding(5) var<storage, read_write> out0: array<f32>;
@group(0) @binding(6) var<storage, read_write> out1: array<f32>;


fn av(i: u32) -> f32 {
  if ((P.flags & 1u) != 0u) { return a[i] - base[i]; }
  return a[i];
}
fn bv(i: u32) -> f32 {
  if ((P.flags & 2u) != 0u) { return b[i] - base[i]; }
  return b[i];
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
      let d = abs(a[i] - base[i]);
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

// Statistics across the task vectors of several models (sce, ram, ramplus_tl), one model per dispatch
// so that every sum runs in model order (the CPU twins repeat it operation by operation in f32).
// tv(i) = x[i] − base[i], times the mask bit i when flags & 1 (mask words from mask_word_offset).
//   tv_sum:     acc0 = (init ? 0 : acc0) + tv                                   (Σ τ: mean, sign election)
//   tv_sqdev:   d = tv − acc0·inv;  acc1 = (init ? 0 : acc1) + d·d;  last: acc1 = acc1·inv   (variance)
//   sce_agree:  agree = sign(tv) == (acc0 ≥ 0 ? +1 : −1);  acc1 += agree ? tv·w : 0;  acc2 += agree ? w : 0
//   sce_finish: acc0 = base + acc1 / max(acc2, 1e-6)
//   ram_count:  acc0 = (init ? 0 : acc0) + (|tv| > eps ? 1 : 0)                   (models changing entry i)
//   ram_acc:    c = acc0;  z = |tv| > eps ? tv : 0;
//               term = c == 1 ? z·lambda : (c > 1 ? z / c : 0);  acc1 = (init ? 0 : acc1) + term;
//               last: acc1 = base + acc1
//   sq_blocks:  per 1024-block: acc1[blk] = Σ tv²                                 (SCE energy)
//   nz_blocks:  per 1024-block: acc1[blk] = #(x != 0)                             (count_nonzero(var))
//   ram_blocks: per 1024-block: acc1[blk] = #(|tv| > eps ∧ acc0 > 1), acc2[blk] = #(|tv| > eps ∧ acc0 == 1)

struct StackParams {
  n: u32,
  flags: u32,        // 1: mask bound, 2: init, 4: last
  mask_word_offset: u32,
  _p0: u32,
  inv: f32,          // 1/M rounded to f32
  w: f32,
  eps: f32,
  lambda: f32,
};

@group(0) @binding(0) var<uniform> P: StackParams;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> base: array<f32>;
@group(0) @binding(3) var<storage, read> mask: array<u32>;
@group(0) @binding(4) var<storage, read_write> acc0: array<f32>;
@group(0) @binding(5) var<storage, read_write> acc1: array<f32>;
@group(0) @binding(6) var<storage, read_write> acc2: array<f32>;


fn tv(i: u32) -> f32 {
  var d = x[i] - base[i];
  if ((P.flags & 1u) != 0u) {
    let word = mask[P.mask_word_offset + (i >> 5u)];
    if (((word >> (i & 31u)) & 1u) == 0u) { d = 0.0; }
  }
  return d;
}

fn is_init() -> bool { return (P.flags & 2u) != 0u; }
fn is_last() -> bool { return (P.flags & 4u) != 0u; }

@compute @workgroup_size(256)
fn tv_sum(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = flat_index(wg, nwg, lid);
  if (i >= P.n) { return; }
  let d = tv(i);
  if (is_init()) { acc0[i] = d; } else { acc0[i] = acc0[i] + d; }
}

@compute @workgroup_size(256)
fn tv_sqdev(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = flat_index(wg, nwg, lid);
  if (i >= P.n) { return; }
  let mean = acc0[i] * P.inv;
  let d = tv(i) - mean;
  let sq = d * d;
  var q = sq;
  if (!is_init()) { q = acc1[i] + sq; }
  if (is_last()) { q = q * P.inv; }
  acc1[i] = q;
}

@compute @workgroup_size(256)
fn sce_agree(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = flat_index(wg, nwg, lid);
  if (i >= P.n) { return; }
  let d = tv(i);
  let maj = select(-1.0, 1.0, acc0[i] >= 0.0);
  let agree = sign(d) == maj;
  let m = select(0.0, d * P.w, agree);
  let dv = select(0.0, P.w, agree);
  if (is_init()) { acc1[i] = m; acc2[i] = dv; } else { acc1[i] = acc1[i] + m; acc2[i] = acc2[i] + dv; }
}

@compute @workgroup_size(256)
fn sce_finish(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = flat_index(wg, nwg, lid);
  if (i >= P.n) { return; }
  acc0[i] = base[i] + acc1[i] / max(acc2[i], 1e-6);
}

@compute @workgroup_size(256)
fn ram_count(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = flat_index(wg, nwg, lid);
  if (i >= P.n) { return; }
  let c = select(0.0, 1.0, abs(tv(i)) > P.eps);
  if (is_init()) { acc0[i] = c; } else { acc0[i] = acc0[i] + c; }
}

@compute @workgroup_size(256)
fn ram_acc(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = flat_index(wg, nwg, lid);
  if (i >= P.n) { return; }
  let d = tv(i);
  let z = select(0.0, d, abs(d) > P.eps);
  let c = acc0[i];
  var term = 0.0;
  if (c == 1.0) {
    term = z * P.lambda;
  } else if (c > 1.0) {
    term = z / c;
  }
  var s = term;
  if (!is_init()) { s = acc1[i] + term; }
  if (is_last()) { s = base[i] + s; }
  acc1[i] = s;
}

@compute @workgroup_size(256)
fn sq_blocks(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let blk = wg.y * nwg.x + wg.x;
  let start = blk * 1024u;
  var t = 0.0;
  for (var k = 0u; k < 4u; k = k + 1u) {
    let i = start + k * 256u + lid;
    if (i < P.n) { let d = tv(i); t = t + d * d; }
  }
  s0[lid] = t;
  s1[lid] = 0.0;
  tree(lid);
  if (lid == 0u && start < P.n) { acc1[blk] = s0[0]; }
}

@compute @workgroup_size(256)
fn nz_blocks(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let blk = wg.y * nwg.x + wg.x;
  let start = blk * 1024u;
  var t = 0.0;
  for (var k = 0u; k < 4u; k = k + 1u) {
    let i = start + k * 256u + lid;
    if (i < P.n && x[i] != 0.0) { t = t + 1.0; }
  }
  s0[lid] = t;
  s1[lid] = 0.0;
  tree(lid);
  if (lid == 0u && start < P.n) { acc1[blk] = s0[0]; }
}

@compute @workgroup_size(256)
fn ram_blocks(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let blk = wg.y * nwg.x + wg.x;
  let start = blk * 1024u;
  var shared_c = 0.0;
  var unique_c = 0.0;
  for (var k = 0u; k < 4u; k = k + 1u) {
    let i = start + k * 256u + lid;
    if (i < P.n && abs(tv(i)) > P.eps) {
      let c = acc0[i];
      if (c > 1.0) { shared_c = shared_c + 1.0; }
      if (c == 1.0) { unique_c = unique_c + 1.0; }
    }
  }
  s0[lid] = shared_c;
  s1[lid] = unique_c;
  tree(lid);
  if (lid == 0u && start < P.n) { acc1[blk] = s0[0]; acc2[blk] = s1[0]; }
}

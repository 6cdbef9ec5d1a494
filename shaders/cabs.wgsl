// CABS merge over conflict-aware masks (merge/gpu/cabs.ts), one task vector per dispatch:
//   W = (x − base)·w where the mask bit (bit_base + i) is set, else 0
//   cabs_sum:    sum[i] = (init ? 0 : sum[i]) + W                      (the sign-election sum, f32)
//   cabs_agree:  mixed[i] = (init ? 0 : mixed[i]) + (sign(W) == (sum[i] ≥ 0 ? +1 : −1) ? W : 0)
//   cabs_finish: sum[i] = base[i] + lambda·mixed[i]
// Masks use global bit positions, so chunks holding whole rows need not start on a word boundary.

struct CabsParams {
  n: u32,
  flags: u32,     // 1: init, 2: mask bound
  bit_base: u32,  // mask bit of chunk element 0
  _p0: u32,
  w: f32,
  lambda: f32,
  _p1: f32,
  _p2: f32,
};

@group(0) @binding(0) var<uniform> P: CabsParams;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> base: array<f32>;
@group(0) @binding(3) var<storage, read> mask: array<u32>;
@group(0) @binding(4) var<storage, read_write> sum_s: array<f32>;
@group(0) @binding(5) var<storage, read_write> mixed: array<f32>;

fn weighted(i: u32) -> f32 {
  if ((P.flags & 2u) != 0u) {
    let b = P.bit_base + i;
    if (((mask[b >> 5u] >> (b & 31u)) & 1u) == 0u) { return 0.0; }
  }
  return (x[i] - base[i]) * P.w;
}

@compute @workgroup_size(256)
fn cabs_sum(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = flat_index(wg, nwg, lid);
  if (i >= P.n) { return; }
  let W = weighted(i);
  if ((P.flags & 1u) != 0u) { sum_s[i] = W; } else { sum_s[i] = sum_s[i] + W; }
}

@compute @workgroup_size(256)
fn cabs_agree(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = flat_index(wg, nwg, lid);
  if (i >= P.n) { return; }
  let W = weighted(i);
  let maj = select(-1.0, 1.0, sum_s[i] >= 0.0);
  let m = select(0.0, W, sign(W) == maj);
  if ((P.flags & 1u) != 0u) { mixed[i] = m; } else { mixed[i] = mixed[i] + m; }
}

@compute @workgroup_size(256)
fn cabs_finish(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = flat_index(wg, nwg, lid);
  if (i >= P.n) { return; }
  var m = mixed[i];
  if (P.lambda != 1.0) { m = m * P.lambda; }
  sum_s[i] = base[i] + m;
}

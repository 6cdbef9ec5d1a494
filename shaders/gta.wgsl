// Generalized task arithmetic (task_arithmetic, ties, breadcrumbs, …), one model at a time:
//   W = (x − base)·[mask bit]·s·w        s: L1 rescale factor (1 when off), w: the model's weight
//   gta_sum:    acc[i] = (init ? 0 : acc[i]) + W                   (Σ W, the sign-election sum)
//   gta_agree:  agree = sign(W) == (S[i] ≥ 0 ? +1 : −1)            (a sum of exactly 0 elects +)
//               mixed[i] += agree ? W : 0;  div[i] += agree ? w : 0
//   gta_finish: out = base + lambda · (normalize ? mixed / d : mixed),
//               d = consensus ? (div[i] == 0 ? 1 : div[i]) : P.div (scalar)

struct GtaParams {
  n: u32,
  flags: u32,      // 1: mask bound, 2: init, 4: normalize, 8: consensus
  mask_word_offset: u32,
  _p0: u32,
  w: f32,
  s: f32,
  lambda: f32,
  div: f32,
};

@group(0) @binding(0) var<uniform> P: GtaParams;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> base: array<f32>;
@group(0) @binding(3) var<storage, read> mask: array<u32>;
@group(0) @binding(4) var<storage, read_write> sum_s: array<f32>;
@group(0) @binding(5) var<storage, read_write> mixed: array<f32>;
@group(0) @binding(6) var<storage, read_write> divs: array<f32>;

fn weighted(i: u32) -> f32 {
  var d = x[i] - base[i];
  if ((P.flags & 1u) != 0u) {
    let word = mask[P.mask_word_offset + (i >> 5u)];
    if (((word >> (i & 31u)) & 1u) == 0u) { d = 0.0; }
  }
  return (d * P.s) * P.w;
}

@compute @workgroup_size(256)
fn gta_sum(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = flat_index(wg, nwg, lid);
  if (i >= P.n) { return; }
  let W = weighted(i);
  if ((P.flags & 2u) != 0u) { sum_s[i] = W; } else { sum_s[i] = sum_s[i] + W; }
}

@compute @workgroup_size(256)
fn gta_agree(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = flat_index(wg, nwg, lid);
  if (i >= P.n) { return; }
  let W = weighted(i);
  let maj = select(-1.0, 1.0, sum_s[i] >= 0.0);
  let agree = sign(W) == maj;
  let m = select(0.0, W, agree);
  let d = select(0.0, P.w, agree);
  if ((P.flags & 2u) != 0u) { mixed[i] = m; divs[i] = d; } else { mixed[i] = mixed[i] + m; divs[i] = divs[i] + d; }
}

@compute @workgroup_size(256)
fn gta_finish(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = flat_index(wg, nwg, lid);
  if (i >= P.n) { return; }
  var m = mixed[i];
  if ((P.flags & 4u) != 0u) {
    var d = P.div;
    if ((P.flags & 8u) != 0u) {
      d = divs[i];
      if (d == 0.0) { d = 1.0; }
    }
    m = m / d;
  }
  if (P.lambda != 1.0) { m = m * P.lambda; }
  sum_s[i] = base[i] + m;
}

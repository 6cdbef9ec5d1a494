// Per-vector combinations of task vectors (nuslerp, multislerp, nearswap) and column statistics.
//   delta_axpy: out[i] = (init ? (flags & 4 ? base[i] : 0) : out[i]) + coef[k]·(a[i] − (flags & 1 ? base[i] : 0))
//               k = coef_offset, + i / L (mode 1: one coefficient per row of L), or + i % L (mode 2: per column)
//   nearswap:   w = clamp(t / max(|base[i] − a[i]|, 1e-6), 0, 1);  out[i] = w·a[i] + (1 − w)·base[i]
//   col_dots:   the chunk is rows of L; per block of COL_BLOCK rows (aligned to the tensor: chunks
//               hold whole blocks) and column j, in row order:
//               out0[blk·L + j] = Σ a'·a',  out1 = Σ b'·b',  out2 = Σ a'·b'   (a' = a − base if flags & 1)

struct CombineParams {
  n: u32,
  flags: u32,       // 1: subtract base, 2: init, 4: init with base; bits 8..9: coefficient mode
  row_len: u32,
  coef_offset: u32,
  t: f32,
  _p0: u32,
  _p1: u32,
  _p2: u32,
};

@group(0) @binding(0) var<uniform> P: CombineParams;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read> base: array<f32>;
@group(0) @binding(4) var<storage, read> coef: array<f32>;
@group(0) @binding(5) var<storage, read_write> out0: array<f32>;
@group(0) @binding(6) var<storage, read_write> out1: array<f32>;
@group(0) @binding(7) var<storage, read_write> out2: array<f32>;

const COL_BLOCK: u32 = 256u;

@compute @workgroup_size(256)
fn delta_axpy(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = flat_index(wg, nwg, lid);
  if (i >= P.n) { return; }
  var k = P.coef_offset;
  let mode = (P.flags >> 8u) & 3u;
  if (mode == 1u) { k = k + i / P.row_len; }
  if (mode == 2u) { k = k + i % P.row_len; }
  var d = a[i];
  if ((P.flags & 1u) != 0u) { d = d - base[i]; }
  let term = coef[k] * d;
  var acc = 0.0;
  if ((P.flags & 2u) == 0u) {
    acc = out0[i];
  } else if ((P.flags & 4u) != 0u) {
    acc = base[i];
  }
  out0[i] = acc + term;
}

@compute @workgroup_size(256)
fn nearswap(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = flat_index(wg, nwg, lid);
  if (i >= P.n) { return; }
  let x = a[i];
  let v = base[i];
  let w = clamp(P.t / max(abs(v - x), 1e-6), 0.0, 1.0);
  out0[i] = w * x + (1.0 - w) * v;
}

@compute @workgroup_size(256)
fn col_dots(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let tid = flat_index(wg, nwg, lid);
  let L = P.row_len;
  let rows = P.n / L;
  let blk = tid / L;
  let j = tid % L;
  let r0 = blk * COL_BLOCK;
  if (r0 >= rows) { return; }
  let r1 = min(rows, r0 + COL_BLOCK);
  let sub = (P.flags & 1u) != 0u;
  var aa = 0.0;
  var bb = 0.0;
  var ab = 0.0;
  for (var r = r0; r < r1; r = r + 1u) {
    let i = r * L + j;
    var x = a[i];
    var y = b[i];
    if (sub) { x = x - base[i]; y = y - base[i]; }
    aa = aa + x * x;
    bb = bb + y * y;
    ab = ab + x * y;
  }
  out0[tid] = aa;
  out1[tid] = bb;
  out2[tid] = ab;
}

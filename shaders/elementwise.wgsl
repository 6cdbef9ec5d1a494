// Elementwise accumulation with a scalar or per-row coefficient:
//   axpy:    acc[i] = (init ? 0 : acc[i]) + coef[k] · x[i],  k = coef_offset + (row_len == 0 ? 0 : i / row_len)
//   divide:  acc[i] = acc[i] / a                           (mergekit's normalize: res /= Σw)
//   scale:   acc[i] = acc[i] · a

struct EwParams {
  n: u32,
  row_len: u32,
  coef_offset: u32,
  init: u32,
  a: f32,
  _p0: u32,
  _p1: u32,
  _p2: u32,
};

@group(0) @binding(0) var<uniform> P: EwParams;
@group(0) @binding(1) var<storage, read> coef: array<f32>;
@group(0) @binding(2) var<storage, read> x: array<f32>;
@group(0) @binding(3) var<storage, read_write> acc: array<f32>;

@compute @workgroup_size(256)
fn axpy(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = flat_index(wg, nwg, lid);
  if (i >= P.n) { return; }
  var k = P.coef_offset;
  if (P.row_len != 0u) { k = k + i / P.row_len; }
  let term = coef[k] * x[i];
  if (P.init == 1u) { acc[i] = term; } else { acc[i] = acc[i] + term; }
}

@compute @workgroup_size(256)
fn divide(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = flat_index(wg, nwg, lid);
  if (i >= P.n) { return; }
  acc[i] = acc[i] / P.a;
}

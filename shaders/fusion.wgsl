// Arcee Fusion: importance of the other model's changes and the thresholded merge.
// f: the other model, b: the base; rows of row_len elements (the last dimension; chunks hold whole rows).
//   row_kl:       one workgroup per row: p = softmax(f) + 1e-8, q = softmax(b) + 1e-8 (max-subtracted),
//                 out[row] = Σ p·log(p / q)   (thread-strided sums, then a fixed tree: chunk-independent)
//   importance:   v = |f − b| · aux[i / row_len] (aux: the rows' KL); out[i] = v (mode 0), max(v, 0)
//                 (mode 1) or max(−v, 0) (mode 2): non-negative top-k keys ordering the values ≥ 0, or
//                 the negative ones (KL can round below 0) by magnitude
//   neg_blocks:   per 1024-block, out[blk] = #(aux[i] < 0)         (f32 counts, exact)
//   fusion_apply: out[i] = b + (f − b) · (aux[i] ≥ thr ? 1 : 0)  (aux: the importance)

struct FusionParams {
  n: u32,
  row_len: u32,
  thr: f32,
  mode: u32,
};

@group(0) @binding(0) var<uniform> P: FusionParams;
@group(0) @binding(1) var<storage, read> f: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read> aux: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;


fn tree_max(lid: u32) {
  var stride = 128u;
  loop {
    if (stride == 0u) { break; }
    workgroupBarrier();
    if (lid < stride) {
      s0[lid] = max(s0[lid], s0[lid + stride]);
      s1[lid] = max(s1[lid], s1[lid + stride]);
    }
    stride = stride >> 1u;
  }
  workgroupBarrier();
}

@compute @workgroup_size(256)
fn row_kl(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let row = wg.y * nwg.x + wg.x;
  let L = P.row_len;
  let start = row * L;
  let live = start < P.n;
  // 1. row maxima
  var mf = -3.4028234663852886e38;
  var mb = -3.4028234663852886e38;
  if (live) {
    for (var j = lid; j < L; j = j + 256u) {
      mf = max(mf, f[start + j]);
      mb = max(mb, b[start + j]);
    }
  }
  s0[lid] = mf;
  s1[lid] = mb;
  tree_max(lid);
  mf = s0[0];
  mb = s1[0];
  workgroupBarrier();
  // 2. softmax denominators
  var sf = 0.0;
  var sb = 0.0;
  if (live) {
    for (var j = lid; j < L; j = j + 256u) {
      sf = sf + exp(f[start + j] - mf);
      sb = sb + exp(b[start + j] - mb);
    }
  }
  s0[lid] = sf;
  s1[lid] = sb;
  tree(lid);
  sf = s0[0];
  sb = s1[0];
  workgroupBarrier();
  // 3. KL(p || q)
  var kl = 0.0;
  if (live) {
    for (var j = lid; j < L; j = j + 256u) {
      let p = exp(f[start + j] - mf) / sf + 1e-8;
      let q = exp(b[start + j] - mb) / sb + 1e-8;
      kl = kl + p * log(p / q);
    }
  }
  s0[lid] = kl;
  s1[lid] = 0.0;
  tree(lid);
  if (lid == 0u && live) { out[row] = s0[0]; }
}

@compute @workgroup_size(256)
fn importance(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = flat_index(wg, nwg, lid);
  if (i >= P.n) { return; }
  let v = abs(f[i] - b[i]) * aux[i / P.row_len];
  if (P.mode == 1u) {
    out[i] = max(v, 0.0);
  } else if (P.mode == 2u) {
    out[i] = max(-v, 0.0);
  } else {
    out[i] = v;
  }
}

@compute @workgroup_size(256)
fn neg_blocks(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let blk = wg.y * nwg.x + wg.x;
  let start = blk * 1024u;
  var t = 0.0;
  for (var k = 0u; k < 4u; k = k + 1u) {
    let i = start + k * 256u + lid;
    if (i < P.n && aux[i] < 0.0) { t = t + 1.0; }
  }
  s0[lid] = t;
  s1[lid] = 0.0;
  tree(lid);
  if (lid == 0u && start < P.n) { out[blk] = s0[0]; }
}

@compute @workgroup_size(256)
fn fusion_apply(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = flat_index(wg, nwg, lid);
  if (i >= P.n) { return; }
  let m = select(0.0, 1.0, aux[i] >= P.thr);
  out[i] = b[i] + (f[i] - b[i]) * m;
}

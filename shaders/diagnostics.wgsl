// Merge diagnostics (merge/diagnostics.ts) over the kept, weighted task vectors
//   v_k = coef_k · (x_k − base) where bit (bit_base + i) of mask_k is set (every position when no mask).
//   diag_model: one dispatch per task vector k, one workgroup per segment (seg elements: 1024, or a
//               row for row-chunked methods) of the chunk:
//               partials[part_offset + s]                 = Σ τ²            (f32, fixed tree)
//               partials[part_offset + seg_count + s]     = Σ kept τ²
//               partials[part_offset + 2·seg_count + s]   = Σ |v|
//               counters[ctr_offset] += kept count, counters[ctr_offset + 1] += count of v ≠ 0 (u32)
//               state[2i] / state[2i + 1]: bit k set where v ≠ 0 / v < 0 (init: overwrite)
//   diag_final: over the per-element bit sets of all K ≤ 32 task vectors:
//               counters[pair_base + 0] += positions with ≥ 1 nonzero (merged delta support)
//               counters[pair_base + 1] += positions with ≥ 2 nonzero
//               counters[pair_base + 2] += those of them holding both signs (sign conflicts)
//               counters[pair_base + 3 + p] += positions where both task vectors of pair p are nonzero
//               (pairs a < b in row-major order: p = a·K − a(a+1)/2 + b − a − 1)
// Every count is an integer atomic (exact, order-free); float sums are per segment, combined on the CPU.

struct DiagParams {
  n: u32,
  flags: u32,       // 1: init state, 2: mask bound
  bit_base: u32,
  model: u32,
  seg: u32,
  seg_count: u32,
  part_offset: u32,
  ctr_offset: u32,
  coef: f32,
  models: u32,
  pair_base: u32,
  _p0: u32,
};

@group(0) @binding(0) var<uniform> P: DiagParams;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> base: array<f32>;
@group(0) @binding(3) var<storage, read> mask: array<u32>;
@group(0) @binding(4) var<storage, read_write> state: array<u32>;
@group(0) @binding(5) var<storage, read_write> counters: array<atomic<u32>>;
@group(0) @binding(6) var<storage, read_write> partials: array<f32>;

var<workgroup> red_a: array<f32, 256>;
var<workgroup> red_b: array<f32, 256>;
var<workgroup> red_c: array<f32, 256>;
var<workgroup> cnt: array<atomic<u32>, 512>;

@compute @workgroup_size(256)
fn diag_model(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let s = wg.y * nwg.x + wg.x;
  if (s >= P.seg_count) { return; }
  if (lid < 2u) { atomicStore(&cnt[lid], 0u); }
  let start = s * P.seg;
  let end = min(start + P.seg, P.n);
  let bit = 1u << P.model;
  var sq = 0.0;
  var ksq = 0.0;
  var l1 = 0.0;
  var kept_n = 0u;
  var nz_n = 0u;
  for (var i = start + lid; i < end; i = i + 256u) {
    let t = x[i] - base[i];
    var kept = true;
    if ((P.flags & 2u) != 0u) {
      let b = P.bit_base + i;
      kept = ((mask[b >> 5u] >> (b & 31u)) & 1u) != 0u;
    }
    sq = sq + t * t;
    var v = 0.0;
    if (kept) {
      ksq = ksq + t * t;
      kept_n = kept_n + 1u;
      v = t * P.coef;
    }
    l1 = l1 + abs(v);
    var nzb = 0u;
    var negb = 0u;
    if (v != 0.0) {
      nz_n = nz_n + 1u;
      nzb = bit;
      if (v < 0.0) { negb = bit; }
    }
    if ((P.flags & 1u) != 0u) {
      state[2u * i] = nzb;
      state[2u * i + 1u] = negb;
    } else {
      state[2u * i] = state[2u * i] | nzb;
      state[2u * i + 1u] = state[2u * i + 1u] | negb;
    }
  }
  red_a[lid] = sq;
  red_b[lid] = ksq;
  red_c[lid] = l1;
  workgroupBarrier();
  if (kept_n != 0u) { atomicAdd(&cnt[0], kept_n); }
  if (nz_n != 0u) { atomicAdd(&cnt[1], nz_n); }
  for (var stride = 128u; stride > 0u; stride = stride >> 1u) {
    if (lid < stride) {
      red_a[lid] = red_a[lid] + red_a[lid + stride];
      red_b[lid] = red_b[lid] + red_b[lid + stride];
      red_c[lid] = red_c[lid] + red_c[lid + stride];
    }
    workgroupBarrier();
  }
  if (lid == 0u) {
    partials[P.part_offset + s] = red_a[0];
    partials[P.part_offset + P.seg_count + s] = red_b[0];
    partials[P.part_offset + 2u * P.seg_count + s] = red_c[0];
    let a = atomicLoad(&cnt[0]);
    let b = atomicLoad(&cnt[1]);
    if (a != 0u) { atomicAdd(&counters[P.ctr_offset], a); }
    if (b != 0u) { atomicAdd(&counters[P.ctr_offset + 1u], b); }
  }
}

@compute @workgroup_size(256)
fn diag_final(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let K = P.models;
  let slots = 3u + (K * (K - 1u)) / 2u;
  for (var j = lid; j < slots; j = j + 256u) { atomicStore(&cnt[j], 0u); }
  workgroupBarrier();
  let threads = nwg.x * nwg.y * 256u;
  for (var i = flat_index(wg, nwg, lid); i < P.n; i = i + threads) {
    let nz = state[2u * i];
    if (nz == 0u) { continue; }
    let neg = state[2u * i + 1u] & nz;
    atomicAdd(&cnt[0], 1u);
    if (countOneBits(nz) < 2u) { continue; }
    atomicAdd(&cnt[1], 1u);
    if (neg != 0u && neg != nz) { atomicAdd(&cnt[2], 1u); }
    var rest = nz;
    loop {
      if (rest == 0u) { break; }
      let a = firstTrailingBit(rest);
      rest = rest & (rest - 1u);
      var others = rest;
      let row = a * K - (a * (a + 1u)) / 2u;
      loop {
        if (others == 0u) { break; }
        let b = firstTrailingBit(others);
        others = others & (others - 1u);
        atomicAdd(&cnt[3u + row + b - a - 1u], 1u);
      }
    }
  }
  workgroupBarrier();
  for (var j = lid; j < slots; j = j + 256u) {
    let c = atomicLoad(&cnt[j]);
    if (c != 0u) { atomicAdd(&counters[P.pair_base + j], c); }
  }
}

// Merge diagnostics (merge/diagnostics.ts) over the kept, weighted task vectors
//   v_k = coef_k · (x_k − base) where bit (bit_base + i) of mask_k is set (every position when no mask).
//   diag_model: one dispatch per task vector k, one thread per strip of STRIP (64) elements; strips
//               tile each segment (seg elements: 1024, or a row for row-chunked methods; chunks start
//               on segment boundaries) — strip t is strip t % sps of segment t / sps, sps =
//               ceil(seg / 64), so strips never depend on the chunking. With S strips in the chunk:
//               partials[part_offset + t]          = Σ τ²        (f32, in element order)
//               partials[part_offset + S + t]      = Σ kept τ²
//               partials[part_offset + 2S + t]     = Σ |v|
//               counters[ctr_offset] += kept count, counters[ctr_offset + 1] += count of v ≠ 0 (u32)
//               state[2i] / state[2i + 1]: bit k set where v ≠ 0 / v < 0 (init: overwrite); for
//               K ≤ 16 packed into one word, state[i] = nonzero bits | negative bits << 16
//               The last task vector's dispatch (flags & 4, "final") instead combines its bits with
//               the state of the earlier ones and counts, over the bit sets of all K ≤ 32:
//               counters[pair_base + 0] += positions with ≥ 1 nonzero (merged delta support)
//               counters[pair_base + 1] += positions with ≥ 2 nonzero
//               counters[pair_base + 2] += those of them holding both signs (sign conflicts)
//               counters[pair_base + 3 + p] += positions where both task vectors of pair p are nonzero
//               (pairs a < b in row-major order: p = a·K − a(a+1)/2 + b − a − 1)
// Every count is an integer atomic (exact, order-free); float sums are per strip, combined on the CPU in order.

struct DiagParams {
  n: u32,
  flags: u32,       // 1: init (first task vector), 2: mask bound, 4: final (last task vector)
  bit_base: u32,
  model: u32,
  seg: u32,
  strips: u32,      // S: strips in the chunk (seg_count · strips_per_seg)
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

const STRIP: u32 = 64u;

fn strips_per_seg() -> u32 {
  return (P.seg + STRIP - 1u) / STRIP;
}

@compute @workgroup_size(256)
fn diag_model(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let t = flat_index(wg, nwg, lid);
  if (t >= P.strips) { return; }
  let sps = strips_per_seg();
  let s = t / sps;
  let seg_end = min((s + 1u) * P.seg, P.n);
  let start = s * P.seg + (t - s * sps) * STRIP;
  let end = min(start + STRIP, seg_end);
  let bit = 1u << P.model;
  let init = (P.flags & 1u) != 0u;
  let final_ = (P.flags & 4u) != 0u;
  let K = P.models;
  let small = K <= 8u;
  let packed = K <= 16u;
  var pairs: array<u32, 28>;
  if (final_) { for (var j = 0u; j < 28u; j = j + 1u) { pairs[j] = 0u; } }
  var uni = 0u;
  var multi = 0u;
  var conflict = 0u;
  var sq = 0.0;
  var ksq = 0.0;
  var l1 = 0.0;
  var kept_n = 0u;
  var nz_n = 0u;
  for (var i = start; i < end; i = i + 1u) {
    let d = x[i] - base[i];
    var kept = true;
    if ((P.flags & 2u) != 0u) {
      let b = P.bit_base + i;
      kept = ((mask[b >> 5u] >> (b & 31u)) & 1u) != 0u;
    }
    sq = sq + d * d;
    var v = 0.0;
    if (kept) {
      ksq = ksq + d * d;
      kept_n = kept_n + 1u;
      v = d * P.coef;
    }
    l1 = l1 + abs(v);
    var nzb = 0u;
    var negb = 0u;
    if (v != 0.0) {
      nz_n = nz_n + 1u;
      nzb = bit;
      if (v < 0.0) { negb = bit; }
    }
    if (!final_) {
      if (packed) {
        if (init) { state[i] = nzb | (negb << 16u); } else if (nzb != 0u) { state[i] = state[i] | nzb | (negb << 16u); }
      } else if (init) {
        state[2u * i] = nzb;
        state[2u * i + 1u] = negb;
      } else if (nzb != 0u) {
        state[2u * i] = state[2u * i] | nzb;
        state[2u * i + 1u] = state[2u * i + 1u] | negb;
      }
      continue;
    }
    var nz = nzb;
    var neg = negb;
    if (!init) {
      if (packed) {
        let w = state[i];
        nz = nz | (w & 0xffffu);
        neg = neg | (w >> 16u);
      } else {
        nz = nz | state[2u * i];
        neg = neg | state[2u * i + 1u];
      }
    }
    if (nz == 0u) { continue; }
    uni = uni + 1u;
    if (countOneBits(nz) < 2u) { continue; }
    multi = multi + 1u;
    neg = neg & nz;
    if (neg != 0u && neg != nz) { conflict = conflict + 1u; }
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
        let p = row + b - a - 1u;
        if (small) { pairs[p] = pairs[p] + 1u; } else { atomicAdd(&counters[P.pair_base + 3u + p], 1u); }
      }
    }
  }
  partials[P.part_offset + t] = sq;
  partials[P.part_offset + P.strips + t] = ksq;
  partials[P.part_offset + 2u * P.strips + t] = l1;
  if (kept_n != 0u) { atomicAdd(&counters[P.ctr_offset], kept_n); }
  if (nz_n != 0u) { atomicAdd(&counters[P.ctr_offset + 1u], nz_n); }
  if (final_) {
    if (uni != 0u) { atomicAdd(&counters[P.pair_base], uni); }
    if (multi != 0u) { atomicAdd(&counters[P.pair_base + 1u], multi); }
    if (conflict != 0u) { atomicAdd(&counters[P.pair_base + 2u], conflict); }
    if (small && multi != 0u) {
      let np = (K * (K - 1u)) / 2u;
      for (var j = 0u; j < np; j = j + 1u) {
        if (pairs[j] != 0u) { atomicAdd(&counters[P.pair_base + 3u + j], pairs[j]); }
      }
    }
  }
}

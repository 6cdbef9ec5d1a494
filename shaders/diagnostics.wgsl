// Merge diagnostics (merge/diagnostics.ts) over the kept, weighted task vectors
//   v_k = coef_k · (x_k − base) where bit (bit_base + i) of mask_k is set (every position when no mask).
//   diag_model:   one dispatch per task vector k, one thread per strip of STRIP (64) elements; strips
//                 tile each segment (seg elements: 1024, or a row for row-chunked methods; chunks
//                 start on segment boundaries) — strip t is strip t % sps of segment t / sps, sps =
//                 ceil(seg / 64), so strips never depend on the chunking. With S strips in the chunk:
//                 partials[part_offset + t]          = Σ τ²        (f32, in element order)
//                 partials[part_offset + S + t]      = Σ kept τ²
//                 partials[part_offset + 2S + t]     = Σ |v|
//                 counters[ctr_offset] += kept count, counters[ctr_offset + 1] += count of v ≠ 0
//                 and the task vector's two bit planes (chunk-local element i → bit i):
//                 planes[plane_offset + w] = nonzero bits, planes[plane_offset + words + w] = negative
//                 bits (OR-ed in; the caller clears them first)
//   diag_combine: one thread per WPT plane words (32 elements each) over the planes of all K ≤ 32
//                 task vectors, bit-parallel:
//                 counters[pair_base + 0] += positions with ≥ 1 nonzero (merged delta support)
//                 counters[pair_base + 1] += positions with ≥ 2 nonzero
//                 counters[pair_base + 2] += those of them holding both signs (sign conflicts)
//                 counters[pair_base + 3 + p] += positions where both task vectors of pair p are nonzero
//                 (pairs a < b in row-major order: p = a·K − a(a+1)/2 + b − a − 1; registers for
//                 K ≤ 8, atomics beyond)
// Every count is an integer atomic (exact, order-free); float sums are per strip, combined on the CPU in order.

struct DiagParams {
  n: u32,
  flags: u32,       // 2: mask bound
  bit_base: u32,
  words: u32,       // plane words of the chunk: ceil(n / 32)
  seg: u32,
  strips: u32,      // S: strips in the chunk (segments · strips per segment)
  part_offset: u32,
  ctr_offset: u32,
  coef: f32,
  models: u32,
  pair_base: u32,
  plane_offset: u32,
};

@group(0) @binding(0) var<uniform> P: DiagParams;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> base: array<f32>;
@group(0) @binding(3) var<storage, read> mask: array<u32>;
@group(0) @binding(4) var<storage, read_write> planes: array<atomic<u32>>;
@group(0) @binding(5) var<storage, read_write> counters: array<atomic<u32>>;
@group(0) @binding(6) var<storage, read_write> partials: array<f32>;

const STRIP: u32 = 64u;
const WPT: u32 = 32u;

fn flush_planes(word: u32, nzw: u32, negw: u32) {
  if (nzw != 0u) { atomicOr(&planes[P.plane_offset + word], nzw); }
  if (negw != 0u) { atomicOr(&planes[P.plane_offset + P.words + word], negw); }
}

@compute @workgroup_size(256)
fn diag_model(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let t = flat_index(wg, nwg, lid);
  if (t >= P.strips) { return; }
  let sps = (P.seg + STRIP - 1u) / STRIP;
  let s = t / sps;
  let seg_end = min((s + 1u) * P.seg, P.n);
  let start = s * P.seg + (t - s * sps) * STRIP;
  let end = min(start + STRIP, seg_end);
  var sq = 0.0;
  var ksq = 0.0;
  var l1 = 0.0;
  var kept_n = 0u;
  var nz_n = 0u;
  var word = start >> 5u;
  var nzw = 0u;
  var negw = 0u;
  for (var i = start; i < end; i = i + 1u) {
    if ((i >> 5u) != word) {
      flush_planes(word, nzw, negw);
      word = i >> 5u;
      nzw = 0u;
      negw = 0u;
    }
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
    if (v != 0.0) {
      nz_n = nz_n + 1u;
      let bit = 1u << (i & 31u);
      nzw = nzw | bit;
      if (v < 0.0) { negw = negw | bit; }
    }
  }
  if (start < end) { flush_planes(word, nzw, negw); }
  partials[P.part_offset + t] = sq;
  partials[P.part_offset + P.strips + t] = ksq;
  partials[P.part_offset + 2u * P.strips + t] = l1;
  if (kept_n != 0u) { atomicAdd(&counters[P.ctr_offset], kept_n); }
  if (nz_n != 0u) { atomicAdd(&counters[P.ctr_offset + 1u], nz_n); }
}

@compute @workgroup_size(256)
fn diag_combine(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let t = flat_index(wg, nwg, lid);
  let w0 = t * WPT;
  if (w0 >= P.words) { return; }
  let w1 = min(w0 + WPT, P.words);
  let K = P.models;
  let small = K <= 8u;
  var nzs: array<u32, 32>;
  var pairs: array<u32, 28>;
  for (var j = 0u; j < 28u; j = j + 1u) { pairs[j] = 0u; }
  var uni = 0u;
  var multi = 0u;
  var conflict = 0u;
  for (var w = w0; w < w1; w = w + 1u) {
    var one = 0u;
    var two = 0u;
    var pos = 0u;
    var neg = 0u;
    for (var k = 0u; k < K; k = k + 1u) {
      let nz = atomicLoad(&planes[2u * k * P.words + w]);
      let ng = atomicLoad(&planes[(2u * k + 1u) * P.words + w]) & nz;
      nzs[k] = nz;
      two = two | (one & nz);
      one = one | nz;
      pos = pos | (nz & ~ng);
      neg = neg | ng;
    }
    uni = uni + countOneBits(one);
    if (two == 0u) { continue; }
    multi = multi + countOneBits(two);
    conflict = conflict + countOneBits(two & pos & neg);
    var p = 0u;
    for (var a = 0u; a < K; a = a + 1u) {
      for (var b = a + 1u; b < K; b = b + 1u) {
        let c = countOneBits(nzs[a] & nzs[b]);
        if (small) { pairs[p] = pairs[p] + c; } else if (c != 0u) { atomicAdd(&counters[P.pair_base + 3u + p], c); }
        p = p + 1u;
      }
    }
  }
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

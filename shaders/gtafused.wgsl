// The generalized task arithmetic merge of up to three task vectors in ONE pass (gta.wgsl's
// gta_sum × k, gta_agree × k and gta_finish, fused): each element's inputs are read once, the sums
// stay in registers, and only the result is written. The arithmetic is gta.wgsl's, operation for
// operation and in model order, so the bytes are the same:
//   Wk = ((xk − base)·[kept]·sk)·wk, kept: the mask bit (flags bit k), or by thresholds on the
//        top-k key |xk − base| and the global index g (flags bit 5 + k):
//        (key > lo_k or (key == lo_k and g < ib_k)) and key < hi_k — a top-k selection (lowest
//        index first among equal keys, select.ts) minus a second one without a split tie, so the
//        merge reads no mask and the mask pass is skipped
//   consensus:  S = W0 + W1 + …;  agree k: sign(Wk) == (S ≥ 0 ? +1 : −1)
//               mixed = Σ agree ? Wk : 0;  div = Σ agree ? wk : 0
//   otherwise:  mixed = W0 + W1 + …
//   out = base + lambda · (normalize ? mixed / d : mixed),  d = consensus ? (div == 0 ? 1 : div) : P.div
// Inputs are read as wsum.wgsl reads them: stored words of any dtype (2 bits each in `dtypes`: input
// k at bits 2k, base at bits 6..7; 0 f32, 1 f16, 2 bf16), rounded to the compute dtype (round_to),
// or already decoded f32 buffers (dtype 0, round_to 0). gta_fused writes the f32 result (its bits,
// as u32 words); gta_fused_encode writes it encoded (encode.wgsl's words: two elements per u32, low
// half first; out_dtype 1 f16, 2 bf16) for a merge to disk.

struct FusedParams {
  n: u32,
  count: u32,            // task vectors, 1..3
  dtypes: u32,
  round_to: u32,         // 0 none, 1 bf16, 2 f16
  flags: u32,            // bit k (k < 3): mask k bound; 8: normalize; 16: consensus; bit 5+k: thresholds k
  mask_word_offset: u32,
  w0: f32,
  w1: f32,
  w2: f32,
  s0: f32,
  s1: f32,
  s2: f32,
  lambda: f32,
  div: f32,
  out_dtype: u32,        // gta_fused_encode: 1 f16, 2 bf16
  lo0: u32,              // thresholds (see the header)
  lo1: u32,
  lo2: u32,
  hi0: u32,
  hi1: u32,
  hi2: u32,
  ib0: u32,
  ib1: u32,
  ib2: u32,
  chunk_start: u32,      // global index of element 0
  _p0: u32,
  _p1: u32,
};

@group(0) @binding(0) var<uniform> P: FusedParams;
@group(0) @binding(1) var<storage, read> in0: array<u32>;
@group(0) @binding(2) var<storage, read> in1: array<u32>;
@group(0) @binding(3) var<storage, read> in2: array<u32>;
@group(0) @binding(4) var<storage, read> base: array<u32>;
@group(0) @binding(5) var<storage, read> mask0: array<u32>;
@group(0) @binding(6) var<storage, read> mask1: array<u32>;
@group(0) @binding(7) var<storage, read> mask2: array<u32>;
@group(0) @binding(8) var<storage, read_write> out: array<u32>;

fn from_word(w: u32, dt: u32, i: u32) -> f32 {
  return decode_word(w, dt, i, P.round_to);
}

fn kept(word: u32, i: u32) -> bool {
  return ((word >> (i & 31u)) & 1u) != 0u;
}

// whether task vector k (delta d) is kept: by its mask bit, by its thresholds, or (neither) always
fn keep_k(k: u32, d: f32, word: u32, i: u32, lo: u32, ib: u32, hi: u32) -> bool {
  if ((P.flags & (1u << k)) != 0u) { return kept(word, i); }
  let key = bitcast<u32>(d) & 0x7fffffffu;
  return (key > lo || (key == lo && P.chunk_start + i < ib)) && key < hi;
}

fn bound_k(k: u32) -> bool {
  return (P.flags & ((1u << k) | (32u << k))) != 0u;
}

// Wk, as gta.wgsl's weighted()
fn weighted(d0: f32, bound: bool, keep: bool, s: f32, w: f32) -> f32 {
  var d = d0;
  if (bound && !keep) { d = 0.0; }
  return (d * s) * w;
}

fn merged(i: u32) -> f32 {
  let db = (P.dtypes >> 6u) & 3u;
  let b = from_word(base[word_index(db, i)], db, i);
  let mw = P.mask_word_offset + (i >> 5u);
  let d0 = P.dtypes & 3u;
  let e0 = from_word(in0[word_index(d0, i)], d0, i) - b;
  var mw0 = 0u;
  if ((P.flags & 1u) != 0u) { mw0 = mask0[mw]; }
  let W0 = weighted(e0, bound_k(0u), bound_k(0u) && keep_k(0u, e0, mw0, i, P.lo0, P.ib0, P.hi0), P.s0, P.w0);
  var W1 = 0.0;
  var W2 = 0.0;
  if (P.count > 1u) {
    let d1 = (P.dtypes >> 2u) & 3u;
    let e1 = from_word(in1[word_index(d1, i)], d1, i) - b;
    var mw1 = 0u;
    if ((P.flags & 2u) != 0u) { mw1 = mask1[mw]; }
    W1 = weighted(e1, bound_k(1u), bound_k(1u) && keep_k(1u, e1, mw1, i, P.lo1, P.ib1, P.hi1), P.s1, P.w1);
  }
  if (P.count > 2u) {
    let d2 = (P.dtypes >> 4u) & 3u;
    let e2 = from_word(in2[word_index(d2, i)], d2, i) - b;
    var mw2 = 0u;
    if ((P.flags & 4u) != 0u) { mw2 = mask2[mw]; }
    W2 = weighted(e2, bound_k(2u), bound_k(2u) && keep_k(2u, e2, mw2, i, P.lo2, P.ib2, P.hi2), P.s2, P.w2);
  }
  var m: f32;
  var dv = 0.0;
  if ((P.flags & 16u) != 0u) {
    var S = W0;
    if (P.count > 1u) { S = S + W1; }
    if (P.count > 2u) { S = S + W2; }
    let maj = select(-1.0, 1.0, S >= 0.0);
    let a0 = sign(W0) == maj;
    m = select(0.0, W0, a0);
    dv = select(0.0, P.w0, a0);
    if (P.count > 1u) {
      let a1 = sign(W1) == maj;
      m = m + select(0.0, W1, a1);
      dv = dv + select(0.0, P.w1, a1);
    }
    if (P.count > 2u) {
      let a2 = sign(W2) == maj;
      m = m + select(0.0, W2, a2);
      dv = dv + select(0.0, P.w2, a2);
    }
  } else {
    m = W0;
    if (P.count > 1u) { m = m + W1; }
    if (P.count > 2u) { m = m + W2; }
  }
  if ((P.flags & 8u) != 0u) {
    var d = P.div;
    if ((P.flags & 16u) != 0u) {
      d = dv;
      if (d == 0.0) { d = 1.0; }
    }
    m = m / d;
  }
  if (P.lambda != 1.0) { m = m * P.lambda; }
  return b + m;
}

@compute @workgroup_size(256)
fn gta_fused(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = flat_index(wg, nwg, lid);
  if (i >= P.n) { return; }
  out[i] = bitcast<u32>(merged(i));
}

fn encode16(v: f32) -> u32 {
  if (P.out_dtype == 1u) { return f32_to_f16(v); }
  return f32_to_bf16(v);
}

@compute @workgroup_size(256)
fn gta_fused_encode(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let t = flat_index(wg, nwg, lid);
  if (2u * t >= P.n) { return; }
  let a = merged(2u * t);
  var b = 0.0;
  if (2u * t + 1u < P.n) { b = merged(2u * t + 1u); }
  out[t] = encode16(a) | (encode16(b) << 16u);
}

// Random pruning masks (DARE, DELLA's MagPrune) and the per-row L1 sums that rescale them.
// Mask layout: bit i of word (word_offset + i / 32) is local element i of the chunk; word_offset is
// the chunk's first word (chunk start / 32 for 4096-aligned chunks, a padded prefix for row chunks).
//   rand_mask:       thread per mask word: bit = rand_u24(seed, stream, chunk_start + i) < thr
//   mag_load:        per row r (rows row0 .. row0+rows of the chunk) write (key, index) pairs into a
//                    power-of-two slot of `pad` entries; key = f32 bits of |x − base| (sign dropped,
//                    NaN → 0x7f800001, above +inf), padding = (0xffffffff, index) sorts last
//   mag_sort_local:  bitonic stages k = k_lo .. k_hi (doubling), strides min(k/2, TILE/2) .. 1, in
//                    workgroup memory, one workgroup per TILE slots
//   mag_sort_global: one bitonic compare-exchange stage (k, j) with j ≥ TILE, over global memory
//   mag_mask:        after the sort, slot s of a row holds the element of ascending rank s + 1 (equal
//                    keys: lower index first). keep with probability p = (lo + span·num/den) / 2^24,
//                    num = rank − 1 (or C − rank when flags & 2), den = C − 1 (C = 1: num/den = 1/2);
//                    decided exactly in integers: u < lo, or (u − lo)·den < span·num (64-bit products).
//                    Kept bits are OR-ed into the (cleared) mask.
//   l1_rows:         one workgroup per row: out0[row] = Σ|x − base|, out1[row] = Σ|(x − base)·mask|
//                    (a fixed tree per row: the same partials for any chunking that keeps rows whole)
//   mag_rank_local:  rows whose slots fit one tile (pad ≤ TILE): mag_load, mag_sort_local (k = 2 ..
//                    pad), mag_mask and, with flags & 4, l1_rows in ONE pass — the keys are made in
//                    workgroup memory, sorted there, the kept bits OR-ed into the mask and the row sums
//                    taken in l1_rows' order (lanes strided over the row, then the tree) from |δ| kept
//                    beside them; the same pairs, comparisons and sums as the separate passes
// x and base are read as words of dtype code (dtypes: x at bits 0..1, base at 2..3; 0 f32, 1 f16,
// 2 bf16) rounded to round_to (decoded f32 buffers: dtype 0, round_to 0), through decode_word.

struct PruneParams {
  n: u32,           // elements of the chunk (rand_mask, l1_rows)
  seed: u32,
  stream: u32,
  chunk_start: u32, // global index of the chunk's first element
  word_offset: u32,
  thr: u32,         // rand_mask: keep iff rand_u24 < thr
  row_len: u32,     // C
  pad: u32,         // P: power of two ≥ C
  rows: u32,        // rows in this sort group
  row0: u32,        // first row of the group within the chunk
  k_lo: u32,
  k_hi: u32,
  j: u32,
  lo: u32,
  span: u32,
  flags: u32,       // 1: subtract base; 2: probability falls with rank (negative epsilon); 4: mag_rank_local's L1 sums
  dtypes: u32,
  round_to: u32,
  _p0: u32,
  _p1: u32,
};

@group(0) @binding(0) var<uniform> P: PruneParams;
@group(0) @binding(1) var<storage, read> x: array<u32>;
@group(0) @binding(2) var<storage, read> base: array<u32>;
@group(0) @binding(3) var<storage, read_write> mask: array<atomic<u32>>;
@group(0) @binding(4) var<storage, read_write> keys: array<u32>;
@group(0) @binding(5) var<storage, read_write> idx: array<u32>;
@group(0) @binding(6) var<storage, read_write> out0: array<f32>;
@group(0) @binding(7) var<storage, read_write> out1: array<f32>;

const TILE: u32 = 1024u;
var<workgroup> tk: array<u32, 1024>;
var<workgroup> ti: array<u32, 1024>;
var<workgroup> tv: array<u32, 1024>;

// x − base (or x) of chunk element e, decoded as the merge reads it
fn delta(e: u32) -> f32 {
  let dx = P.dtypes & 3u;
  var v = decode_word(x[word_index(dx, e)], dx, e, P.round_to);
  if ((P.flags & 1u) != 0u) {
    let db = (P.dtypes >> 2u) & 3u;
    v = v - decode_word(base[word_index(db, e)], db, e, P.round_to);
  }
  return v;
}

@compute @workgroup_size(256)
fn rand_mask(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let w = flat_index(wg, nwg, lid);
  let first = w * 32u;
  if (first >= P.n) { return; }
  var bits = 0u;
  let count = min(32u, P.n - first);
  for (var b = 0u; b < count; b = b + 1u) {
    if (rand_u24(P.seed, P.stream, P.chunk_start + first + b) < P.thr) { bits = bits | (1u << b); }
  }
  atomicStore(&mask[P.word_offset + w], bits);
}

fn mag_key(e: u32) -> u32 {
  return key_of(delta(e));
}

fn key_of(v: f32) -> u32 {
  var k = bitcast<u32>(v) & 0x7fffffffu;
  if (k > 0x7f800000u) { k = 0x7f800001u; }
  return k;
}

@compute @workgroup_size(256)
fn mag_load(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let g = flat_index(wg, nwg, lid);
  if (g >= P.rows * P.pad) { return; }
  let row = g / P.pad;
  let s = g - row * P.pad;
  if (s < P.row_len) {
    keys[g] = mag_key((P.row0 + row) * P.row_len + s);
  } else {
    keys[g] = 0xffffffffu;
  }
  idx[g] = s;
}

// (ka, ia) > (kb, ib) in (key, index) order
fn after(ka: u32, ia: u32, kb: u32, ib: u32) -> bool {
  return ka > kb || (ka == kb && ia > ib);
}

// slot of the t-th compare-exchange pair at stride j: bit log2(j) of the slot is zero
fn pair_slot(t: u32, j: u32) -> u32 {
  return ((t & ~(j - 1u)) << 1u) | (t & (j - 1u));
}

@compute @workgroup_size(256)
fn mag_sort_local(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let t0 = (wg.y * nwg.x + wg.x) * TILE;
  let total = P.rows * P.pad;
  for (var e = lid; e < TILE; e = e + 256u) {
    let g = t0 + e;
    if (g < total) { tk[e] = keys[g]; ti[e] = idx[g]; } else { tk[e] = 0xffffffffu; ti[e] = 0xffffffffu; }
  }
  workgroupBarrier();
  var k = P.k_lo;
  loop {
    if (k > P.k_hi) { break; }
    var j = min(k >> 1u, TILE >> 1u);
    loop {
      if (j == 0u) { break; }
      for (var t = lid; t < TILE / 2u; t = t + 256u) {
        let a = pair_slot(t, j);
        let c = a | j;
        let asc = (((t0 + a) & (P.pad - 1u)) & k) == 0u;
        let ka = tk[a];
        let ia = ti[a];
        let kc = tk[c];
        let ic = ti[c];
        if (after(ka, ia, kc, ic) == asc) {
          tk[a] = kc; ti[a] = ic;
          tk[c] = ka; ti[c] = ia;
        }
      }
      workgroupBarrier();
      j = j >> 1u;
    }
    k = k << 1u;
  }
  for (var e = lid; e < TILE; e = e + 256u) {
    let g = t0 + e;
    if (g < total) { keys[g] = tk[e]; idx[g] = ti[e]; }
  }
}

@compute @workgroup_size(256)
fn mag_sort_global(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let t = flat_index(wg, nwg, lid);
  if (t >= (P.rows * P.pad) / 2u) { return; }
  let a = pair_slot(t, P.j);
  let c = a + P.j;
  let asc = ((a & (P.pad - 1u)) & P.k_lo) == 0u;
  let ka = keys[a];
  let ia = idx[a];
  let kc = keys[c];
  let ic = idx[c];
  if (after(ka, ia, kc, ic) == asc) {
    keys[a] = kc; idx[a] = ic;
    keys[c] = ka; idx[c] = ia;
  }
}

// a·b as (hi, lo) u32 words
fn mul_wide(a: u32, b: u32) -> vec2<u32> {
  let a0 = a & 0xffffu;
  let a1 = a >> 16u;
  let b0 = b & 0xffffu;
  let b1 = b >> 16u;
  let p00 = a0 * b0;
  let p01 = a0 * b1;
  let p10 = a1 * b0;
  let p11 = a1 * b1;
  let mid = (p00 >> 16u) + (p01 & 0xffffu) + (p10 & 0xffffu);
  return vec2<u32>(p11 + (p01 >> 16u) + (p10 >> 16u) + (mid >> 16u), (p00 & 0xffffu) | (mid << 16u));
}

@compute @workgroup_size(256)
fn mag_mask(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let g = flat_index(wg, nwg, lid);
  if (g >= P.rows * P.pad) { return; }
  let row = g / P.pad;
  let s = g - row * P.pad;
  let C = P.row_len;
  if (s >= C) { return; }
  let e = (P.row0 + row) * C + idx[g];
  if (rank_keep(s, e)) { atomicOr(&mask[P.word_offset + (e >> 5u)], 1u << (e & 31u)); }
}

// whether chunk element e, of ascending rank s + 1 in its row, is kept
fn rank_keep(s: u32, e: u32) -> bool {
  let C = P.row_len;
  var num = s;
  var den = C - 1u;
  if ((P.flags & 2u) != 0u) { num = C - 1u - s; }
  if (C == 1u) { num = 1u; den = 2u; }
  let u = rand_u24(P.seed, P.stream, P.chunk_start + e);
  var keep = u < P.lo;
  if (!keep) {
    let l = mul_wide(u - P.lo, den);
    let r = mul_wide(P.span, num);
    keep = l.x < r.x || (l.x == r.x && l.y < r.y);
  }
  return keep;
}

@compute @workgroup_size(256)
fn mag_rank_local(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let t0 = (wg.y * nwg.x + wg.x) * TILE;
  let total = P.rows * P.pad;
  let C = P.row_len;
  // mag_load into the tile (and |δ| of each element, at its own slot)
  for (var e = lid; e < TILE; e = e + 256u) {
    let g = t0 + e;
    if (g < total) {
      let row = g / P.pad;
      let s = g - row * P.pad;
      if (s < C) {
        let v = delta((P.row0 + row) * C + s);
        tk[e] = key_of(v);
        tv[e] = bitcast<u32>(abs(v));
      } else {
        tk[e] = 0xffffffffu;
        tv[e] = 0u;
      }
      ti[e] = s;
    } else {
      tk[e] = 0xffffffffu;
      ti[e] = 0xffffffffu;
      tv[e] = 0u;
    }
  }
  workgroupBarrier();
  // mag_sort_local, k = 2 .. pad (every stride is below TILE)
  var k = 2u;
  loop {
    if (k > P.pad) { break; }
    var j = k >> 1u;
    loop {
      if (j == 0u) { break; }
      for (var t = lid; t < TILE / 2u; t = t + 256u) {
        let a = pair_slot(t, j);
        let c = a | j;
        let asc = (((t0 + a) & (P.pad - 1u)) & k) == 0u;
        let ka = tk[a];
        let ia = ti[a];
        let kc = tk[c];
        let ic = ti[c];
        if (after(ka, ia, kc, ic) == asc) {
          tk[a] = kc; ti[a] = ic;
          tk[c] = ka; ti[c] = ia;
        }
      }
      workgroupBarrier();
      j = j >> 1u;
    }
    k = k << 1u;
  }
  // mag_mask; the kept flags go to tk at each element's own slot (the keys are no longer needed)
  for (var e = lid; e < TILE; e = e + 256u) {
    let g = t0 + e;
    if (g < total) {
      let row = g / P.pad;
      let s = g - row * P.pad;
      if (s < C) {
        let el = ti[e];
        let ce = (P.row0 + row) * C + el;
        let keep = rank_keep(s, ce);
        if (keep) { atomicOr(&mask[P.word_offset + (ce >> 5u)], 1u << (ce & 31u)); }
        tk[e - s + el] = select(0u, 1u, keep);
      }
    }
  }
  if ((P.flags & 4u) == 0u) { return; }
  workgroupBarrier();
  // l1_rows of each row of the tile
  let first = t0 / P.pad;
  let rows = min(TILE / P.pad, P.rows - min(first, P.rows));
  for (var r = 0u; r < rows; r = r + 1u) {
    var a0 = 0.0;
    var a1 = 0.0;
    for (var jj = lid; jj < C; jj = jj + 256u) {
      let slot = r * P.pad + jj;
      let d = bitcast<f32>(tv[slot]);
      a0 = a0 + d;
      if (tk[slot] == 1u) { a1 = a1 + d; }
    }
    s0[lid] = a0;
    s1[lid] = a1;
    tree(lid);
    if (lid == 0u) {
      out0[P.row0 + first + r] = s0[0];
      out1[P.row0 + first + r] = s1[0];
    }
    workgroupBarrier();
  }
}

@compute @workgroup_size(256)
fn l1_rows(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let row = wg.y * nwg.x + wg.x;
  let start = row * P.row_len;
  var t0 = 0.0;
  var t1 = 0.0;
  if (start < P.n) {
    for (var j = lid; j < P.row_len; j = j + 256u) {
      let e = start + j;
      let d = abs(delta(e));
      t0 = t0 + d;
      let w = atomicLoad(&mask[P.word_offset + (e >> 5u)]);
      if (((w >> (e & 31u)) & 1u) == 1u) { t1 = t1 + d; }
    }
  }
  s0[lid] = t0;
  s1[lid] = t1;
  tree(lid);
  if (lid == 0u && start < P.n) { out0[row] = s0[0]; out1[row] = s1[0]; }
}

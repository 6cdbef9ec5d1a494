// Exact top-k by magnitude (radix select on f32 bit patterns; |x| bits order like the values).
// Rank order: larger |δ| first, equal magnitudes by lower flat index first (deterministic ties).
//   hist:       histogram of 11-bit digit (key >> shift) & 2047 over elements whose key matches a prefix,
//               into bins[bin_offset .. bin_offset + 2048)
//   tie_count:  per 4096-block, count of key == T1 and key == T2
//   make_mask:  bit i of the mask = sel1(i) && !sel2(i), where sel(i) is
//               mode 0: false;  mode 1: key >= T;  mode 2: key > T || (key == T && tie_rank(i) < r)
//               (per block, mode 2 becomes 1 or 3 (key > T) unless the block straddles the r-th tie)
// δ is (x − base) when base is used (flags & 1), else x. x and base are read as stored words
// through the prelude's decode_word (dtypes: x at bits 0..1, base at 2..3; rounded to round_to):
// f32 buffers (decoded inputs, key buffers) are dtype 0 with round_to 0.

struct SelParams {
  n: u32,
  flags: u32,
  shift: u32,
  prefix_mask: u32,
  prefix_value: u32,
  mode1: u32,
  t1: u32,
  r1: u32,
  mode2: u32,
  t2: u32,
  r2: u32,
  mask_word_offset: u32, // chunk start / 32
  block_offset: u32,     // chunk start / 4096
  bin_offset: u32,       // hist: first bin of this request's 2048-bin window
  dtypes: u32,
  round_to: u32,
};

@group(0) @binding(0) var<uniform> P: SelParams;
@group(0) @binding(1) var<storage, read> x: array<u32>;
@group(0) @binding(2) var<storage, read> base: array<u32>;
@group(0) @binding(3) var<storage, read_write> bins: array<atomic<u32>>;
@group(0) @binding(4) var<storage, read_write> ties1: array<u32>;   // per block: counts (tie_count) / exclusive prefix (make_mask)
@group(0) @binding(5) var<storage, read_write> ties2: array<u32>;
@group(0) @binding(6) var<storage, read_write> mask: array<u32>;

var<workgroup> local_bins: array<atomic<u32>, 2048>;
var<workgroup> scan1: array<u32, 256>;
var<workgroup> scan2: array<u32, 256>;
// Tie blocks: 4096 elements, 16 contiguous ones per thread (chunks start at multiples of 4096).
const PER_THREAD: u32 = 16u;
const TIE_BLOCK: u32 = 4096u;
const WORDS: u32 = 128u;
var<workgroup> words: array<atomic<u32>, 128>;
var<workgroup> has_ties: u32;

fn key(i: u32) -> u32 {
  let dx = P.dtypes & 3u;
  var v = decode_word(x[word_index(dx, i)], dx, i, P.round_to);
  if ((P.flags & 1u) != 0u) {
    let db = (P.dtypes >> 2u) & 3u;
    v = v - decode_word(base[word_index(db, i)], db, i, P.round_to);
  }
  return bitcast<u32>(v) & 0x7fffffffu;
}

@compute @workgroup_size(256)
fn hist(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  for (var j = lid; j < 2048u; j = j + 256u) { atomicStore(&local_bins[j], 0u); }
  workgroupBarrier();
  let threads = nwg.x * nwg.y * 256u;
  var i = flat_index(wg, nwg, lid);
  loop {
    if (i >= P.n) { break; }
    let k = key(i);
    if ((k & P.prefix_mask) == P.prefix_value) {
      atomicAdd(&local_bins[(k >> P.shift) & 2047u], 1u);
    }
    i = i + threads;
  }
  workgroupBarrier();
  for (var j = lid; j < 2048u; j = j + 256u) {
    let c = atomicLoad(&local_bins[j]);
    if (c != 0u) { atomicAdd(&bins[P.bin_offset + j], c); }
  }
}

@compute @workgroup_size(256)
fn tie_count(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let blk = wg.y * nwg.x + wg.x;
  let start = blk * TIE_BLOCK;
  var c1 = 0u;
  var c2 = 0u;
  for (var k = 0u; k < PER_THREAD; k = k + 1u) {
    let i = start + lid * PER_THREAD + k;
    if (i < P.n) {
      let kk = key(i);
      if (kk == P.t1) { c1 = c1 + 1u; }
      if (kk == P.t2) { c2 = c2 + 1u; }
    }
  }
  scan1[lid] = c1;
  scan2[lid] = c2;
  var stride = 128u;
  loop {
    if (stride == 0u) { break; }
    workgroupBarrier();
    if (lid < stride) {
      scan1[lid] = scan1[lid] + scan1[lid + stride];
      scan2[lid] = scan2[lid] + scan2[lid + stride];
    }
    stride = stride >> 1u;
  }
  workgroupBarrier();
  if (lid == 0u && start < P.n) {
    ties1[P.block_offset + blk] = scan1[0];
    ties2[P.block_offset + blk] = scan2[0];
  }
}

fn sel(mode: u32, t: u32, r: u32, k: u32, rank: u32) -> bool {
  if (mode == 0u) { return false; }
  if (mode == 1u) { return k >= t; }
  if (mode == 3u) { return k > t; }
  return k > t || (k == t && rank < r);
}

@compute @workgroup_size(256)
fn make_mask(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let blk = wg.y * nwg.x + wg.x;
  let start = blk * TIE_BLOCK;
  if (lid < WORDS) { atomicStore(&words[lid], 0u); }
  var keys: array<u32, 16>;
  var c1 = 0u;
  var c2 = 0u;
  for (var k = 0u; k < PER_THREAD; k = k + 1u) {
    let i = start + lid * PER_THREAD + k;
    var kk = 0u;
    if (i < P.n) {
      kk = key(i);
      if (kk == P.t1) { c1 = c1 + 1u; }
      if (kk == P.t2) { c2 = c2 + 1u; }
    }
    keys[k] = kk;
  }
  // Ties at a threshold: with the per-block exclusive prefix of tie counts, a block keeps all of
  // its tied elements, none of them, or — only in the one block where the r-th tie falls — some.
  // Only that boundary block needs per-element ranks (a workgroup scan).
  var m1 = P.mode1;
  var m2 = P.mode2;
  var rank1 = 0u;
  var rank2 = 0u;
  if (P.mode1 == 2u || P.mode2 == 2u) {
    let bo = P.block_offset + blk;
    if (m1 == 2u) {
      let pre = ties1[bo];
      let cnt = ties1[bo + 1u] - pre;
      if (pre + cnt <= P.r1) { m1 = 1u; } else if (pre >= P.r1) { m1 = 3u; } else { rank1 = pre; }
    }
    if (m2 == 2u) {
      let pre = ties2[bo];
      let cnt = ties2[bo + 1u] - pre;
      if (pre + cnt <= P.r2) { m2 = 1u; } else if (pre >= P.r2) { m2 = 3u; } else { rank2 = pre; }
    }
    if (lid == 0u) { has_ties = select(0u, 1u, m1 == 2u || m2 == 2u); }
    if (workgroupUniformLoad(&has_ties) != 0u) {
      // inclusive Hillis–Steele scan of the per-thread tie counts
      scan1[lid] = c1;
      scan2[lid] = c2;
      var off = 1u;
      loop {
        if (off >= 256u) { break; }
        workgroupBarrier();
        var v1 = scan1[lid];
        var v2 = scan2[lid];
        if (lid >= off) { v1 = v1 + scan1[lid - off]; v2 = v2 + scan2[lid - off]; }
        workgroupBarrier();
        scan1[lid] = v1;
        scan2[lid] = v2;
        off = off << 1u;
      }
      workgroupBarrier();
      rank1 = rank1 + scan1[lid] - c1;
      rank2 = rank2 + scan2[lid] - c2;
    }
  }
  var bits = 0u;
  for (var k = 0u; k < PER_THREAD; k = k + 1u) {
    let i = start + lid * PER_THREAD + k;
    if (i < P.n) {
      let kk = keys[k];
      let keep = sel(m1, P.t1, P.r1, kk, rank1) && !sel(m2, P.t2, P.r2, kk, rank2);
      if (keep) { bits = bits | (1u << ((lid * PER_THREAD + k) & 31u)); }
      if (kk == P.t1) { rank1 = rank1 + 1u; }
      if (kk == P.t2) { rank2 = rank2 + 1u; }
    }
  }
  if (bits != 0u) { atomicOr(&words[(lid * PER_THREAD) >> 5u], bits); }
  workgroupBarrier();
  if (lid < WORDS && start + lid * 32u < P.n) {
    mask[P.mask_word_offset + blk * WORDS + lid] = atomicLoad(&words[lid]);
  }
}

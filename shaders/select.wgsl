// Exact top-k by magnitude (radix select on f32 bit patterns; |x| bits order like the values).
// Rank order: larger |δ| first, equal magnitudes by lower flat index first (deterministic ties).
//   hist:       histogram of 11-bit digit (key >> shift) & 2047 over elements whose key matches a prefix,
//               into bins[bin_offset .. bin_offset + 2048)
//   hist2:      hist for two requests over the same base in one sweep (the base is read once): the
//               second request's x is x2 (dtype at bits 4..5), its prefix prefix_mask2 /
//               prefix_value2, its bins at bin_offset2
//               hist / hist2 with flags & 4 (collect) also append every (key, global index) matching
//               the prefix to list[list_offset + 1 ..] as two words (list[list_offset] counts them;
//               list_offset2 for the second request): the second pass collects the first pass's
//               bucket, list_count pairs (known from the first histogram), so the third pass reads
//               only those
//   hist_list:  hist over the n collected pairs at list[list_offset + 1 ..]
//   hist_index: among the n collected pairs whose key is t1 (the threshold: the tied ones), the
//               histogram of 11-bit digit (index >> shift) & 2047 of indices matching the prefix —
//               a radix select of the r-th lowest tied index, so "key > T, or key == T and index < I"
//               expresses a selection whose cut-off splits a tie without a mask
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
  prefix_mask2: u32,     // hist2: the second request
  prefix_value2: u32,
  bin_offset2: u32,
  list_offset: u32,      // collect / hist_list: the request's list (its counter, then its keys)
  list_count: u32,       // collect: keys the list receives (traffic declaration)
  list_offset2: u32,
  list_count2: u32,
  chunk_start: u32,      // collect: global index of the chunk's first element
};

@group(0) @binding(0) var<uniform> P: SelParams;
@group(0) @binding(1) var<storage, read> x: array<u32>;
@group(0) @binding(2) var<storage, read> base: array<u32>;
@group(0) @binding(3) var<storage, read_write> bins: array<atomic<u32>>;
@group(0) @binding(4) var<storage, read_write> ties1: array<u32>;   // per block: counts (tie_count) / exclusive prefix (make_mask)
@group(0) @binding(5) var<storage, read_write> ties2: array<u32>;
@group(0) @binding(6) var<storage, read_write> mask: array<u32>;
@group(0) @binding(7) var<storage, read> x2: array<u32>;
@group(0) @binding(8) var<storage, read_write> list: array<atomic<u32>>;

var<workgroup> local_bins: array<atomic<u32>, 2048>;
var<workgroup> local_bins2: array<atomic<u32>, 2048>;
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

fn collect(at: u32, k: u32, i: u32) {
  let slot = atomicAdd(&list[at], 1u);
  atomicStore(&list[at + 1u + 2u * slot], k);
  atomicStore(&list[at + 2u + 2u * slot], P.chunk_start + i);
}

@compute @workgroup_size(256)
fn hist_index(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  for (var j = lid; j < 2048u; j = j + 256u) { atomicStore(&local_bins[j], 0u); }
  workgroupBarrier();
  let threads = nwg.x * nwg.y * 256u;
  var i = flat_index(wg, nwg, lid);
  loop {
    if (i >= P.n) { break; }
    let k = atomicLoad(&list[P.list_offset + 1u + 2u * i]);
    let g = atomicLoad(&list[P.list_offset + 2u + 2u * i]);
    if (k == P.t1 && (g & P.prefix_mask) == P.prefix_value) {
      atomicAdd(&local_bins[(g >> P.shift) & 2047u], 1u);
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
fn hist_list(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  for (var j = lid; j < 2048u; j = j + 256u) { atomicStore(&local_bins[j], 0u); }
  workgroupBarrier();
  let threads = nwg.x * nwg.y * 256u;
  var i = flat_index(wg, nwg, lid);
  loop {
    if (i >= P.n) { break; }
    let k = atomicLoad(&list[P.list_offset + 1u + 2u * i]);
    if ((k & P.prefix_mask) == P.prefix_value) {
      atomicAdd(&local_bins[(k >> P.shift) & 2047u], 1u);
      // compacting: the pairs of this pass's bucket (a superset of the final tie) copied to
      // list[list_offset2 ..], so the tie's index select reads them instead of the whole list
      if ((P.flags & 4u) != 0u) {
        let slot = atomicAdd(&list[P.list_offset2], 1u);
        atomicStore(&list[P.list_offset2 + 1u + 2u * slot], k);
        atomicStore(&list[P.list_offset2 + 2u + 2u * slot], atomicLoad(&list[P.list_offset + 2u + 2u * i]));
      }
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
      if ((P.flags & 4u) != 0u) { collect(P.list_offset, k, i); }
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
fn hist2(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  for (var j = lid; j < 2048u; j = j + 256u) {
    atomicStore(&local_bins[j], 0u);
    atomicStore(&local_bins2[j], 0u);
  }
  workgroupBarrier();
  let threads = nwg.x * nwg.y * 256u;
  let dx = P.dtypes & 3u;
  let db = (P.dtypes >> 2u) & 3u;
  let dx2 = (P.dtypes >> 4u) & 3u;
  var i = flat_index(wg, nwg, lid);
  loop {
    if (i >= P.n) { break; }
    // key(i) for both requests, the base decoded once
    var b = 0.0;
    if ((P.flags & 1u) != 0u) { b = decode_word(base[word_index(db, i)], db, i, P.round_to); }
    var v1 = decode_word(x[word_index(dx, i)], dx, i, P.round_to);
    var v2 = decode_word(x2[word_index(dx2, i)], dx2, i, P.round_to);
    if ((P.flags & 1u) != 0u) {
      v1 = v1 - b;
      v2 = v2 - b;
    }
    let k1 = bitcast<u32>(v1) & 0x7fffffffu;
    let k2 = bitcast<u32>(v2) & 0x7fffffffu;
    if ((k1 & P.prefix_mask) == P.prefix_value) {
      atomicAdd(&local_bins[(k1 >> P.shift) & 2047u], 1u);
      if ((P.flags & 4u) != 0u) { collect(P.list_offset, k1, i); }
    }
    if ((k2 & P.prefix_mask2) == P.prefix_value2) {
      atomicAdd(&local_bins2[(k2 >> P.shift) & 2047u], 1u);
      if ((P.flags & 4u) != 0u) { collect(P.list_offset2, k2, i); }
    }
    i = i + threads;
  }
  workgroupBarrier();
  for (var j = lid; j < 2048u; j = j + 256u) {
    let c = atomicLoad(&local_bins[j]);
    if (c != 0u) { atomicAdd(&bins[P.bin_offset + j], c); }
    let c2 = atomicLoad(&local_bins2[j]);
    if (c2 != 0u) { atomicAdd(&bins[P.bin_offset2 + j], c2); }
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

// Magnitude pruning masks (merge/gpu/prune.ts, CABS). Key of an element: the f32 bits of
// δ = x − base (flags & 1) or x, sign bit cleared (orders like |δ|; NaN above +inf by payload).
// Rank order: free positions first (not set in `used`, when bound), then key descending, then
// lower index. Masks are bitmasks: bit (bit_base + i) is chunk element i; kept bits are OR-ed in
// (the caller clears the mask first), so chunks need not start on a 32-element boundary.
//   nm_keys:   keys[i] = (free ? 0x80000000 : 0) | key(i)                       (thread per element)
//   nm_mask:   n:m along rows: element i is kept iff fewer than q elements of its block come
//              before it in rank order; a block is m consecutive elements of a row (row_len), the
//              last one possibly shorter: q = n for a full block, floor(n·len/m) for a tail
//   row_topk:  one workgroup per row of the chunk: keep the top q of the row (radix select in
//              workgroup memory, ties at the threshold by lower index)
//   free_keys: select keys for merge/gpu/select.ts: eligible ? min(key, 0x7ffffffe) + 1 : 0, where
//              eligible = free (or taken when flags & 4); written as f32 bits (≤ 0x7fffffff)
//   mask_or:   mask[w] |= used[w] for words w in [chunk_start, chunk_start + words)

struct MagParams {
  n: u32,           // elements of the chunk
  flags: u32,       // 1: subtract base, 2: `used` bound, 4: free_keys selects taken positions
  chunk_start: u32, // global flat index of chunk element 0 (row / block geometry)
  bit_base: u32,    // bit of chunk element 0 in `used` and `mask`
  row_len: u32,
  m: u32,
  q: u32,           // nm_mask: n; row_topk: kept per row
  words: u32,       // mask_or
};

@group(0) @binding(0) var<uniform> P: MagParams;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> base: array<f32>;
@group(0) @binding(3) var<storage, read> used: array<u32>;
@group(0) @binding(4) var<storage, read_write> mask: array<atomic<u32>>;
@group(0) @binding(5) var<storage, read_write> keys: array<u32>;

fn mag_key(i: u32) -> u32 {
  var v = x[i];
  if ((P.flags & 1u) != 0u) { v = v - base[i]; }
  return bitcast<u32>(v) & 0x7fffffffu;
}

fn is_free(i: u32) -> bool {
  if ((P.flags & 2u) == 0u) { return true; }
  let b = P.bit_base + i;
  return ((used[b >> 5u] >> (b & 31u)) & 1u) == 0u;
}

fn keep_bit(i: u32) {
  let b = P.bit_base + i;
  atomicOr(&mask[b >> 5u], 1u << (b & 31u));
}

@compute @workgroup_size(256)
fn nm_keys(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = flat_index(wg, nwg, lid);
  if (i >= P.n) { return; }
  keys[i] = select(0u, 0x80000000u, is_free(i)) | mag_key(i);
}

@compute @workgroup_size(256)
fn nm_mask(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = flat_index(wg, nwg, lid);
  if (i >= P.n) { return; }
  let g = P.chunk_start + i;
  let col = g % P.row_len;
  let b0 = col - col % P.m;
  let blen = min(P.m, P.row_len - b0);
  var q = P.q;
  if (blen < P.m) { q = (P.q * blen) / P.m; }
  if (q == 0u) { return; }
  if (q >= blen) { keep_bit(i); return; }
  let s = i - (col - b0);
  let ki = keys[i];
  var rank = 0u;
  for (var j = s; j < s + blen; j = j + 1u) {
    let kj = keys[j];
    if (kj > ki || (kj == ki && j < i)) {
      rank = rank + 1u;
      if (rank >= q) { return; }
    }
  }
  keep_bit(i);
}

var<workgroup> hist: array<atomic<u32>, 2048>;
var<workgroup> sums: array<u32, 256>;
var<workgroup> st: array<u32, 3>; // prefix value, prefix mask, remaining rank

@compute @workgroup_size(256)
fn row_topk(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let r = wg.y * nwg.x + wg.x;
  let L = P.row_len;
  let start = r * L;
  if (start >= P.n) { return; }
  let k = min(P.q, L);
  if (k == 0u) { return; }
  if (k >= L) {
    for (var j = lid; j < L; j = j + 256u) { keep_bit(start + j); }
    return;
  }
  if (lid == 0u) { st[0] = 0u; st[1] = 0u; st[2] = k; }
  for (var step = 0u; step < 3u; step = step + 1u) {
    var shift = 21u;
    var bits = 11u;
    if (step == 1u) { shift = 10u; }
    if (step == 2u) { shift = 0u; bits = 10u; }
    for (var j = lid; j < 2048u; j = j + 256u) { atomicStore(&hist[j], 0u); }
    workgroupBarrier();
    let pv = st[0];
    let pm = st[1];
    for (var j = lid; j < L; j = j + 256u) {
      let kk = mag_key(start + j);
      if ((kk & pm) == pv) { atomicAdd(&hist[(kk >> shift) & 2047u], 1u); }
    }
    workgroupBarrier();
    // thread t owns bins [8t, 8t + 8); suffix sums over threads find the digit of rank `remaining`
    var local = 0u;
    for (var d = 0u; d < 8u; d = d + 1u) { local = local + atomicLoad(&hist[lid * 8u + d]); }
    sums[lid] = local;
    for (var off = 1u; off < 256u; off = off << 1u) {
      workgroupBarrier();
      var v = sums[lid];
      if (lid + off < 256u) { v = v + sums[lid + off]; }
      workgroupBarrier();
      sums[lid] = v;
    }
    workgroupBarrier();
    let rem = st[2];
    let above = sums[lid] - local;
    workgroupBarrier();
    if (above < rem && rem <= above + local) {
      var cum = above;
      for (var dd = 0u; dd < 8u; dd = dd + 1u) {
        let d = lid * 8u + 7u - dd;
        let c = atomicLoad(&hist[d]);
        if (cum + c >= rem) {
          st[0] = pv | (d << shift);
          st[1] = pm | (((1u << bits) - 1u) << shift);
          st[2] = rem - cum;
          break;
        }
        cum = cum + c;
      }
    }
    workgroupBarrier();
  }
  let T = st[0];
  let rem = st[2];
  var before = 0u;
  for (var t0 = 0u; t0 < L; t0 = t0 + 256u) {
    let j = t0 + lid;
    var kk = 0u;
    var tie = 0u;
    if (j < L) {
      kk = mag_key(start + j);
      if (kk == T) { tie = 1u; }
    }
    workgroupBarrier();
    sums[lid] = tie;
    for (var off = 1u; off < 256u; off = off << 1u) {
      workgroupBarrier();
      var v = sums[lid];
      if (lid >= off) { v = v + sums[lid - off]; }
      workgroupBarrier();
      sums[lid] = v;
    }
    workgroupBarrier();
    let rank = before + sums[lid] - tie;
    if (j < L && (kk > T || (tie == 1u && rank < rem))) { keep_bit(start + j); }
    before = before + sums[255];
  }
}

@compute @workgroup_size(256)
fn free_keys(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = flat_index(wg, nwg, lid);
  if (i >= P.n) { return; }
  var eligible = is_free(i);
  if ((P.flags & 4u) != 0u) { eligible = !eligible; }
  keys[i] = select(0u, min(mag_key(i), 0x7ffffffeu) + 1u, eligible);
}

@compute @workgroup_size(256)
fn mask_or(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let t = flat_index(wg, nwg, lid);
  if (t >= P.words) { return; }
  let w = P.chunk_start + t;
  let v = used[w];
  if (v != 0u) { atomicOr(&mask[w], v); }
}

// rank_mask:  mask word w (words of the chunk) = bits j where m ≤ keys[32w + j] < q — keys holding
//             precomputed ranks (merge/rank-cache.ts); whole words are written (a resident tensor)
@compute @workgroup_size(256)
fn rank_mask(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let w = flat_index(wg, nwg, lid);
  let first = w * 32u;
  if (first >= P.n) { return; }
  var bits = 0u;
  for (var j = 0u; j < 32u; j = j + 1u) {
    let i = first + j;
    if (i >= P.n) { break; }
    let r = keys[i];
    if (r >= P.m && r < P.q) { bits = bits | (1u << j); }
  }
  atomicStore(&mask[w], bits);
}

// block_walk: n:m from precomputed block orders (keys[e] = offset of the element of in-block rank
//             e − block start): one thread per block takes its free elements in rank order, then —
//             when the block has fewer than its quota free — taken ones, the same selection as
//             nm_keys + nm_mask. m: block length (P.m), q: n; a tail block keeps floor(n·len/m).
@compute @workgroup_size(256)
fn block_walk(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let blk = flat_index(wg, nwg, lid);
  let L = P.row_len;
  let nb = (L + P.m - 1u) / P.m;
  let row = blk / nb;
  if (row * L >= P.n) { return; }
  let j = blk - row * nb;
  let start = row * L + j * P.m;
  let len = min(P.m, L - j * P.m);
  var q = P.q;
  if (len < P.m) { q = (P.q * len) / P.m; }
  var taken = 0u;
  for (var r = 0u; r < len && taken < q; r = r + 1u) {
    let i = start + keys[start + r];
    if (is_free(i)) { keep_bit(i); taken = taken + 1u; }
  }
  for (var r = 0u; r < len && taken < q; r = r + 1u) {
    let i = start + keys[start + r];
    if (!is_free(i)) { keep_bit(i); taken = taken + 1u; }
  }
}

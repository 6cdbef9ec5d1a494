// Counts over a merged tensor's delta from its base (sparsity-aware evolution):
//   counters[o + 0] += #{ i : merged[i] != base[i] }                        (kept delta positions)
//   counters[o + 1] += #{ i : merged[i] != base[i] and other[i] == base[i] } (positions the other
//                      model — the sparser parent — left at the base value: the "attraction" share)
// Exact comparisons on purpose: a pruned position is exactly the base value after a merge.
// One workgroup atomic per thread, one global atomic per workgroup.

struct DeltaParams {
  n: u32,
  has_other: u32,
  offset: u32,
  _p0: u32,
};

@group(0) @binding(0) var<uniform> P: DeltaParams;
@group(0) @binding(1) var<storage, read> merged: array<f32>;
@group(0) @binding(2) var<storage, read> base: array<f32>;
@group(0) @binding(3) var<storage, read> other: array<f32>;
@group(0) @binding(4) var<storage, read_write> counters: array<atomic<u32>>;

var<workgroup> local_kept: atomic<u32>;
var<workgroup> local_filled: atomic<u32>;

@compute @workgroup_size(256)
fn delta_counts(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  if (lid == 0u) {
    atomicStore(&local_kept, 0u);
    atomicStore(&local_filled, 0u);
  }
  workgroupBarrier();
  let i = flat_index(wg, nwg, lid);
  if (i < P.n) {
    let b = base[i];
    if (merged[i] != b) {
      atomicAdd(&local_kept, 1u);
      if (P.has_other == 1u && other[i] == b) { atomicAdd(&local_filled, 1u); }
    }
  }
  workgroupBarrier();
  if (lid == 0u) {
    atomicAdd(&counters[P.offset], atomicLoad(&local_kept));
    atomicAdd(&counters[P.offset + 1u], atomicLoad(&local_filled));
  }
}

// Gather-with-fill: an embedding input brought to the output vocabulary of a tokenizer merge
// (recipe/row-gather.ts builds the inputs; its gatherFillValues is the CPU twin). Element i of the
// chunk lies in chunk row r = (col0 + i) / cols: row_sel[r] == 0 → the input's own row, whose
// stored words were laid out in the output order on the host, decoded like codec.wgsl (rounded to
// the compute dtype); row_sel[r] == k + 1 → fill row k (f32 values computed on the host).

struct GatherParams {
  n: u32,         // elements of the chunk
  cols: u32,      // row length
  col0: u32,      // column of element 0 within its row
  dtype: u32,     // stored dtype of src_words: 0 f32, 1 f16, 2 bf16
  round_to: u32,  // 0 none, 1 bf16, 2 f16
  fill_rows: u32, // rows of fill (for the traffic declaration)
  _p0: u32,
  _p1: u32,
};

@group(0) @binding(0) var<uniform> P: GatherParams;
@group(0) @binding(1) var<storage, read> src_words: array<u32>;
@group(0) @binding(2) var<storage, read> row_sel: array<u32>;
@group(0) @binding(3) var<storage, read> fill: array<f32>;
@group(0) @binding(4) var<storage, read_write> dst_f32: array<f32>;

@compute @workgroup_size(256)
fn gather_fill(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = flat_index(wg, nwg, lid);
  if (i >= P.n) { return; }
  let local = P.col0 + i;
  let r = local / P.cols;
  let sel = row_sel[r];
  if (sel == 0u) {
    dst_f32[i] = decode_word(src_words[word_index(P.dtype, i)], P.dtype, i, P.round_to);
  } else {
    dst_f32[i] = fill[(sel - 1u) * P.cols + (local - r * P.cols)];
  }
}

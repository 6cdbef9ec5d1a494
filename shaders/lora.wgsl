// Tiled f32 matrix product over strided operands, for LoRA (formats/lora.ts) and its extraction:
//   out[i] = x[i] + scale · Σₖ L(row, k) · R(k, col)      (flags & 1: x is a stored tensor chunk)
//   out[i] =        scale · Σₖ L(row, k) · R(k, col)      (otherwise: a plain product)
// with L(row, k) = lhs[l_off + row·l_row + k·l_k], R(k, col) = rhs[r_off + k·r_k + col·r_col], so
// transposed operands (fan_in_fan_out, embedding LoRA, Dᵀ·Y) need no copy. Output elements are the
// flat range [start, start + n) of a rows × cols matrix (a chunk of the tensor); element i of the
// chunk is (row, col) = divmod(start + i, cols), and x holds the chunk's stored words (dtype dt:
// 0 f32, 1 f16, 2 bf16, decoded as codec.wgsl does, never rounded here).
// A workgroup computes a 16 × 16 output tile: it stages 16 × 16 tiles of L and R in workgroup memory
// and every thread sums its dot product in k order, one f32 product and one f32 add per k (acc starts
// at 0), then out = x + scale·acc: the CPU twin (methods/shared/cpu/lora.ts) repeats exactly these
// operations, so both engines give the same bits. Tiles cover rows row0 .. row0 + tile_rows·16.

struct LoraParams {
  n: u32,         // output elements in this chunk
  start: u32,     // flat index of the chunk's first element
  cols: u32,      // columns of the output matrix
  inner: u32,     // k extent (LoRA rank, or the shared dimension of a product)
  row0: u32,      // first row the tiles cover (floor(start / cols))
  tiles_x: u32,   // tiles per tile row: ceil(cols / 16)
  l_off: u32,
  l_row: u32,
  l_k: u32,
  r_off: u32,
  r_k: u32,
  r_col: u32,
  dt: u32,        // stored dtype of x
  flags: u32,     // 1: add x
  scale: f32,
  _p0: u32,
};

@group(0) @binding(0) var<uniform> P: LoraParams;
@group(0) @binding(1) var<storage, read> x: array<u32>;
@group(0) @binding(2) var<storage, read> lhs: array<f32>;
@group(0) @binding(3) var<storage, read> rhs: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;

const T: u32 = 16u;
var<workgroup> lt: array<f32, 256>; // lt[ty·16 + kk] = L(tile row ty, k0 + kk)
var<workgroup> rt: array<f32, 256>; // rt[kk·16 + tx] = R(k0 + kk, tile col tx)

@compute @workgroup_size(256)
fn lora_matmul(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let tile = wg.y * nwg.x + wg.x;
  let ty = lid / T;
  let tx = lid % T;
  let row = P.row0 + (tile / P.tiles_x) * T + ty;
  let col = (tile % P.tiles_x) * T + tx;
  let row_base = P.row0 + (tile / P.tiles_x) * T;
  let col_base = (tile % P.tiles_x) * T;
  // the chunk's last row: rows beyond it are staged as zeros (their L may not exist)
  let last_row = (P.start + P.n - 1u) / P.cols;
  var acc = 0.0;
  for (var k0 = 0u; k0 < P.inner; k0 = k0 + T) {
    // stage L's 16 rows × 16 k and R's 16 k × 16 columns (thread (ty, tx) loads one of each)
    let lr = row_base + ty;
    let lk = k0 + tx;
    var lv = 0.0;
    if (lr <= last_row && lk < P.inner) { lv = lhs[P.l_off + lr * P.l_row + lk * P.l_k]; }
    lt[ty * T + tx] = lv;
    let rk = k0 + ty;
    let rc = col_base + tx;
    var rv = 0.0;
    if (rk < P.inner && rc < P.cols) { rv = rhs[P.r_off + rk * P.r_k + rc * P.r_col]; }
    rt[ty * T + tx] = rv;
    workgroupBarrier();
    let kn = min(T, P.inner - k0);
    for (var kk = 0u; kk < kn; kk = kk + 1u) {
      let p = lt[ty * T + kk] * rt[kk * T + tx];
      acc = acc + p;
    }
    workgroupBarrier();
  }
  if (col >= P.cols) { return; }
  let g = row * P.cols + col;
  if (g < P.start || g >= P.start + P.n) { return; }
  let i = g - P.start;
  let d = P.scale * acc;
  if ((P.flags & 1u) == 1u) {
    out[i] = decode_word(x[word_index(P.dt, i)], P.dt, i, 0u) + d;
  } else {
    out[i] = d;
  }
}

// float64 references for LoRA: W + scale·B·A computed in doubles, the oracle both engines' f32
// results are tested against (tests/gpu/lora.test.ts, tests/unit/lora*.test.ts).

/** W' = W + scale · ΔW in float64, ΔW = B·A (B [rows, r], A [r, cols]) or (B·A)ᵀ when `transposed` (W [rows, cols]). */
export function loraApplyF64(w: ArrayLike<number>, rows: number, cols: number, a: ArrayLike<number>, b: ArrayLike<number>, rank: number, scale: number, transposed: boolean): Float64Array {
  const out = new Float64Array(rows * cols);
  for (let i = 0; i < rows; i++)
    for (let j = 0; j < cols; j++) {
      let acc = 0;
      for (let k = 0; k < rank; k++) acc += transposed ? a[k * rows + i] * b[j * rank + k] : b[i * rank + k] * a[k * cols + j];
      out[i * cols + j] = w[i * cols + j] + scale * acc;
    }
  return out;
}

/** C = X·Y in float64 (X [m, k], Y [k, n], row-major). */
export function matmulF64(x: ArrayLike<number>, y: ArrayLike<number>, m: number, k: number, n: number): Float64Array {
  const out = new Float64Array(m * n);
  for (let i = 0; i < m; i++)
    for (let p = 0; p < k; p++) {
      const v = x[i * k + p];
      if (v === 0) continue;
      for (let j = 0; j < n; j++) out[i * n + j] += v * y[p * n + j];
    }
  return out;
}

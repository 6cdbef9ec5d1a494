// Live diagnostics (per-layer sparsity, density, sign conflicts, overlap, contributions, heatmap)
// arrive with the engine's diagnostics API; until then this panel is not shown.
export function Diagnostics() {
  return null;
}

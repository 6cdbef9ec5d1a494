// The fitness-vs-sparsity Pareto front of evaluated candidates: both are "higher is better", and a
// point is on the front when no other point is at least as good in both and better in one.

export interface XY {
  fitness: number;
  sparsity: number;
}

/** Indices of the non-dominated points, ordered by sparsity (ascending) — the front as a line. */
export function paretoFront(points: readonly XY[]): number[] {
  const order = points
    .map((p, i) => i)
    .filter((i) => Number.isFinite(points[i].fitness) && Number.isFinite(points[i].sparsity))
    // Sparsest first; among equal sparsity the fittest first, so the sweep keeps only it.
    .sort((a, b) => points[b].sparsity - points[a].sparsity || points[b].fitness - points[a].fitness);
  const front: number[] = [];
  let best = -Infinity;
  for (const i of order) {
    if (points[i].fitness > best) {
      front.push(i);
      best = points[i].fitness;
    }
  }
  return front.reverse();
}

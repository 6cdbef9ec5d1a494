// Figures of a demo family's two task vectors, for the training log and TRAINING.md.

/**
 * L2 norms of the base and of both task vectors (a − base, b − base), and their cosine. `names`
 * label the norms, `short` the cosine (default: the same names).
 */
export function deltaStats(base: Map<string, Float32Array>, a: Map<string, Float32Array>, b: Map<string, Float32Array>, names: [string, string], short: [string, string] = names): string {
  let nb = 0;
  let na = 0;
  let nr = 0;
  let dot = 0;
  for (const [name, x] of base) {
    const av = a.get(name) as Float32Array;
    const bv = b.get(name) as Float32Array;
    for (let i = 0; i < x.length; i++) {
      const da = av[i] - x[i];
      const db = bv[i] - x[i];
      nb += x[i] * x[i];
      na += da * da;
      nr += db * db;
      dot += da * db;
    }
  }
  const f = (v: number): string => Math.sqrt(v).toFixed(2);
  return `L2 norms: base ${f(nb)}, Δ${names[0]} ${f(na)}, Δ${names[1]} ${f(nr)}; cos(Δ${short[0]}, Δ${short[1]}) ${(dot / Math.sqrt(na * nr)).toFixed(3)}`;
}

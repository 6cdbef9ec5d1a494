// CPU twin of merge/diagnostics.ts for one tensor: the same counts (exact) and sums (f64) from the
// task vectors τ_k (f32), their keep masks (undefined = all kept) and merge factors c_k.
// v_k = fround(fround(τ_k)·fround(c_k)) where kept, else 0 (as the GPU computes it in f32).

import type { Raw } from './diagnostics';

export type RefDiagnostics = Raw;

export function referenceDiagnostics(deltas: Float32Array[], masks: (Uint8Array | undefined)[], coefs: number[]): RefDiagnostics {
  const K = deltas.length;
  const n = K ? deltas[0].length : 0;
  const z = () => new Array<number>(K).fill(0);
  const r: RefDiagnostics = { numel: n, kept: z(), nonzero: z(), sq: z(), keptSq: z(), l1: z(), union: 0, multi: 0, conflicts: 0, intersections: new Array<number>((K * (K - 1)) / 2).fill(0) };
  const f = Math.fround;
  const c32 = coefs.map(f);
  const v = new Float32Array(K);
  for (let i = 0; i < n; i++) {
    let count = 0;
    let pos = 0;
    let neg = 0;
    for (let k = 0; k < K; k++) {
      const t = deltas[k][i];
      const kept = !masks[k] || masks[k]![i] === 1;
      r.sq[k] += t * t;
      v[k] = kept ? f(t * c32[k]) : 0;
      if (kept) {
        r.kept[k]++;
        r.keptSq[k] += t * t;
      }
      r.l1[k] += Math.abs(v[k]);
      if (v[k] !== 0) {
        r.nonzero[k]++;
        count++;
        if (v[k] < 0) neg++;
        else pos++;
      }
    }
    if (count > 0) r.union++;
    if (count > 1) {
      r.multi++;
      if (pos > 0 && neg > 0) r.conflicts++;
      let p = 0;
      for (let a = 0; a < K; a++)
        for (let b = a + 1; b < K; b++, p++) if (v[a] !== 0 && v[b] !== 0) r.intersections[p]++;
    }
  }
  return r;
}

// Eigendecomposition of a symmetric matrix by cyclic Jacobi rotations. CMA-ES needs it for its
// covariance matrix (n up to a few hundred, recomputed only every few generations), where Jacobi
// is simple, needs no dependency, and keeps small eigenvalues relatively accurate — which matters
// when the covariance's condition number climbs towards 1e14.

export interface SymmetricEigen {
  /** Eigenvalues, in the order of the columns of `vectors` (not sorted). */
  values: Float64Array;
  /** Orthonormal eigenvectors as columns, row-major n×n: vectors[r*n + c] is row r of vector c. */
  vectors: Float64Array;
  sweeps: number;
}

const MAX_SWEEPS = 100;

/**
 * `a` is row-major n×n and must be symmetric (only its upper triangle is read: a[p*n+q], p ≤ q).
 * It is not modified.
 */
export function jacobiEigen(a: ArrayLike<number>, n: number): SymmetricEigen {
  const m = new Float64Array(n * n);
  for (let p = 0; p < n; p++) {
    for (let q = p; q < n; q++) {
      m[p * n + q] = a[p * n + q];
      m[q * n + p] = a[p * n + q];
    }
  }
  const v = new Float64Array(n * n);
  for (let i = 0; i < n; i++) v[i * n + i] = 1;

  let sweeps = 0;
  for (; sweeps < MAX_SWEEPS; sweeps++) {
    let rotated = false;
    for (let p = 0; p < n - 1; p++) {
      for (let q = p + 1; q < n; q++) {
        const apq = m[p * n + q];
        if (apq === 0) continue;
        const app = m[p * n + p];
        const aqq = m[q * n + q];
        // An off-diagonal entry far below both diagonal entries cannot change them in double
        // precision any more; zero it instead of rotating (this is what makes sweeps terminate).
        const g = 100 * Math.abs(apq);
        if (Math.abs(app) + g === Math.abs(app) && Math.abs(aqq) + g === Math.abs(aqq)) {
          m[p * n + q] = 0;
          m[q * n + p] = 0;
          continue;
        }
        rotated = true;
        // Rotation angle that annihilates a_pq; t = tan(angle), the smaller root for stability.
        const theta = (aqq - app) / (2 * apq);
        const t = (theta >= 0 ? 1 : -1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1);
        const s = t * c;
        m[p * n + p] = app - t * apq;
        m[q * n + q] = aqq + t * apq;
        m[p * n + q] = 0;
        m[q * n + p] = 0;
        for (let r = 0; r < n; r++) {
          if (r !== p && r !== q) {
            const arp = m[r * n + p];
            const arq = m[r * n + q];
            const np = c * arp - s * arq;
            const nq = s * arp + c * arq;
            m[r * n + p] = np;
            m[p * n + r] = np;
            m[r * n + q] = nq;
            m[q * n + r] = nq;
          }
          const vrp = v[r * n + p];
          const vrq = v[r * n + q];
          v[r * n + p] = c * vrp - s * vrq;
          v[r * n + q] = s * vrp + c * vrq;
        }
      }
    }
    if (!rotated) break;
  }
  const values = new Float64Array(n);
  for (let i = 0; i < n; i++) values[i] = m[i * n + i];
  return { values, vectors: v, sweeps };
}

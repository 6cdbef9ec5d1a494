import type { MethodSpec } from '../spec';
import { checkNumber } from '../shared/checks';

/** Karcher mean (mergekit karcher.py): the Riemannian mean of the models' directions, equal weights. */
export const karcher: MethodSpec = {
  name: 'karcher',
  label: 'Karcher mean',
  description: 'Iterates toward the intrinsic (Karcher) mean of the unit directions on the hypersphere, α = 1/N each, then scales by the mean norm. A base_model is averaged like any other input.',
  reference: 'https://en.wikipedia.org/wiki/Karcher_mean',
  base: 'input',
  minInputs: 1,
  params: [
    { name: 'max_iter', scope: 'global', type: 'number', default: 10, min: 0, max: 100, description: 'Maximum number of iterations.' },
    { name: 'tol', scope: 'global', type: 'number', default: 1e-5, min: 0, max: 1e-2, description: 'Convergence tolerance (also the smallest norm that counts as non-zero).' },
  ],
  embedCrop: 'min',
  shapeMismatch: 'error',
  validate(params) {
    checkNumber('karcher', 'max_iter', params.max_iter, { min: 0, integer: true });
    checkNumber('karcher', 'tol', params.tol, { min: 0 });
  },
};

/** One projection pass: ‖v‖² and v·xⱼ (j among the requested inputs, else 0) of v = Σ pᵢ·xᵢ. */
export interface KarcherProjection {
  vv: number;
  vx: number[];
}

/**
 * mergekit's karcher iteration on coefficients (f64; the WebGPU and CPU engines share it). Every
 * vector it forms — the mean u and the tangent T — is a combination Σ cᵢ·xᵢ of the inputs; `project(p,
 * dots)` materialises v = Σ pᵢ·xᵢ (pᵢ ≠ 0, in input order, in f32) and returns ‖v‖² and v·xⱼ for j
 * in `dots`. u·xⱼ and ‖u‖² follow in f64 from the update u' = cos‖T‖·u + sin‖T‖·T/‖T‖. `norms`: ‖xᵢ‖.
 * Returns the result's coefficients a (out = Σ aᵢ·xᵢ; all 0 when no input has a norm above tol).
 */
export async function karcherCoefficients(
  norms: number[],
  maxIter: number,
  tol: number,
  project: (p: number[], dots: number[]) => Promise<KarcherProjection>,
): Promise<number[]> {
  const N = norms.length;
  const all = norms.map((_, i) => i);
  const valid = all.filter((i) => norms[i] > tol);
  const alpha = 1 / N;
  let a = new Array<number>(N).fill(0); // u = Σ aᵢ·xᵢ
  if (valid.length === 0) return a;
  const an = new Array<number>(N).fill(0); // α renormalised over the valid inputs
  for (const i of valid) an[i] = 1 / valid.length;
  // initial mean: normalise Σ α'ᵢ·xᵢ/nᵢ, or the first valid unit vector when that is ~0
  const p0 = an.map((x, i) => (x ? x / norms[i] : 0));
  const m = await project(p0, valid);
  const mn = Math.sqrt(m.vv);
  let ux: number[];
  let uu: number;
  if (mn < tol) {
    a = a.map((_, i) => (i === valid[0] ? 1 / norms[i] : 0));
    const u = await project(a, valid);
    ux = u.vx;
    uu = u.vv;
  } else {
    a = p0.map((x) => x / mn);
    ux = m.vx.map((x) => x / mn);
    uu = m.vv / (mn * mn);
  }
  for (let it = 0; it < maxIter; it++) {
    // T = Σ α'ⱼ (θⱼ / sin θⱼ)(xⱼ/nⱼ − cⱼ·u), cⱼ = clamp(u·xⱼ/nⱼ, ±1); θⱼ < tol skipped
    const t = new Array<number>(N).fill(0);
    let gamma = 0;
    let any = false;
    for (const j of valid) {
      const cj = Math.min(1, Math.max(-1, ux[j] / norms[j]));
      const th = Math.acos(cj);
      if (th < tol) continue;
      const beta = (an[j] * th) / Math.sin(th);
      t[j] += beta / norms[j];
      gamma += beta * cj;
      any = true;
    }
    if (!any) break; // T = 0
    for (let i = 0; i < N; i++) t[i] -= gamma * a[i];
    const T = await project(t, valid);
    const tn = Math.sqrt(T.vv);
    if (tn < tol) break;
    const cs = Math.cos(tn);
    const sn = Math.sin(tn) / tn;
    let tu = 0;
    for (let i = 0; i < N; i++) tu += a[i] * T.vx[i];
    a = a.map((x, i) => cs * x + sn * t[i]);
    ux = ux.map((x, j) => cs * x + sn * T.vx[j]);
    uu = cs * cs * uu + 2 * cs * sn * tu + sn * sn * T.vv;
    const un = Math.sqrt(Math.max(0, uu));
    if (un > tol) {
      a = a.map((x) => x / un);
      ux = ux.map((x) => x / un);
      uu /= un * un;
    }
  }
  let scale = 0;
  for (const i of all) scale += alpha * norms[i];
  return a.map((x) => x * scale);
}

export const specs: readonly MethodSpec[] = [karcher];

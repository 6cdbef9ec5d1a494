import type { MethodSpec } from '../spec';
import { bool } from '../shared/params';
import { checkNumber } from '../shared/checks';

/**
 * NuSLERP (mergekit nuslerp.py): slerp between exactly two models with t = w_b / (w_a + w_b), over the
 * whole tensor (nuslerp_flatten), per row, or per column (nuslerp_row_wise — mergekit's code
 * transposes, so "row-wise" means column vectors); with a base model it interpolates task vectors.
 */
export const nuslerp: MethodSpec = {
  name: 'nuslerp',
  label: 'NuSLERP',
  description: 'Spherical interpolation of two models (or of their task vectors when a third, base model is given) with t = w₂ / (w₁ + w₂); whole tensor, per row or per column.',
  base: 'optional',
  minInputs: 2,
  maxInputs: 3,
  nonBaseInputs: { min: 2, max: 2 },
  params: [
    { name: 'weight', scope: 'model', type: 'number', required: true, min: 0, max: 1, description: 'Relative weight of this model: t = w₂ / (w₁ + w₂) (0.5 when the sum is below 1e-6).' },
    { name: 'nuslerp_flatten', scope: 'global', type: 'boolean', default: true, description: 'Treat the whole tensor as one vector.' },
    { name: 'nuslerp_row_wise', scope: 'global', type: 'boolean', default: false, description: 'Without flatten: interpolate column vectors (mergekit transposes) instead of rows.' },
  ],
  embedCrop: 'min',
  shapeMismatch: 'error',
  validate(_params, perModel, inputs) {
    perModel.forEach((p, i) => {
      if (!inputs?.[i]?.isBase) checkNumber('nuslerp', 'weight', p.weight, { model: inputs?.[i]?.model });
    });
  },
};

/**
 * How nuslerp splits a tensor into vectors (mergekit's code: row_wise transposes, so it means
 * columns): the whole tensor, rows of rowLen, or columns (rowLen = the number of columns). Both
 * engines use it (their chunks and coefficient modes follow from it).
 */
export function nuslerpGeometry(shape: readonly number[], flatten: boolean, rowWise: boolean): { mode: 'flat' | 'rows' | 'cols'; rowLen: number } {
  const n = shape.reduce((a, b) => a * b, 1);
  if (flatten || shape.length < 2) return { mode: 'flat', rowLen: n };
  if (rowWise) return { mode: 'cols', rowLen: shape[0] > 0 ? n / shape[0] : 0 };
  return { mode: 'rows', rowLen: shape[shape.length - 1] };
}

/** t = w_b / (w_a + w_b), or 0.5 when |w_a + w_b| < 1e-6 (mergekit). */
export function nuslerpT(wa: number, wb: number): number {
  const s = wa + wb;
  return Math.abs(s) < 1e-6 ? 0.5 : wb / s;
}

/**
 * The engines' coefficients on (v0, v1) of one vector from ‖v0‖², ‖v1‖², v0·v1 (f64; WebGPU and CPU
 * engine share them): slerp, or lerp where |sin θ| < 1e-8.
 */
export function nuslerpCoefficients(t: number, aa: number, bb: number, ab: number): [number, number] {
  const d = Math.max(Math.sqrt(aa), 1e-7) * Math.max(Math.sqrt(bb), 1e-7);
  const cos = Math.min(1, Math.max(-1, ab / d));
  const theta = Math.acos(cos);
  const s = Math.sin(theta);
  if (Math.abs(s) < 1e-8) return [1 - t, t];
  return [Math.sin((1 - t) * theta) / s, Math.sin(t * theta) / s];
}

export const specs: readonly MethodSpec[] = [nuslerp];

/** Rows per column-statistics block (shaders/combine.wgsl COL_BLOCK): column-wise chunks hold whole blocks. */
export const NUSLERP_COL_BLOCK = 256;

/** nuslerp's vectors for a plan entry (nuslerp_flatten, nuslerp_row_wise), as both engines read them. */
export function nuslerpEntryGeometry(entry: { shape: readonly number[]; params: Record<string, unknown> }): { mode: 'flat' | 'rows' | 'cols'; rowLen: number } {
  return nuslerpGeometry(entry.shape, bool(entry.params, 'nuslerp_flatten', true), bool(entry.params, 'nuslerp_row_wise', false));
}

/** The chunk row length the engines use: whole rows, whole column blocks, or free (flat). */
export function nuslerpChunkRow(entry: { shape: readonly number[]; params: Record<string, unknown> }): number | undefined {
  const g = nuslerpEntryGeometry(entry);
  return g.mode === 'rows' ? g.rowLen : g.mode === 'cols' ? NUSLERP_COL_BLOCK * g.rowLen : undefined;
}

// mergekit slerp.py. v0 = base, v1 = the other model. The unit directions (whole tensor, normalised
// only when ‖v‖ > 1e-8) decide the angle; the sin-weights are applied to the RAW tensors. When
// |d| > 0.9995 the tensors are (anti)colinear and a plain lerp is used. One input → unchanged.

import { MethodError } from '../../errors';
import { checkSizes, numParam, type RefEntry } from '../shared/reference/types';

export const SLERP_DOT_THRESHOLD = 0.9995;
export const SLERP_EPS = 1e-8;

/** The two coefficients (s0 on v0 = base, s1 on v1) slerp applies to the raw tensors. */
export function slerpCoefficients(t: number, v0: Float32Array, v1: Float32Array): { s0: number; s1: number; lerp: boolean } {
  let n0 = 0;
  let n1 = 0;
  let dot = 0;
  for (let i = 0; i < v0.length; i++) {
    n0 += v0[i] * v0[i];
    n1 += v1[i] * v1[i];
    dot += v0[i] * v1[i];
  }
  n0 = Math.sqrt(n0);
  n1 = Math.sqrt(n1);
  const d = dot / (n0 > SLERP_EPS ? n0 : 1) / (n1 > SLERP_EPS ? n1 : 1);
  if (Math.abs(d) > SLERP_DOT_THRESHOLD) return { s0: 1 - t, s1: t, lerp: true };
  const theta = Math.acos(d);
  const sinTheta = Math.sin(theta);
  const thetaT = theta * t;
  return { s0: Math.sin(theta - thetaT) / sinTheta, s1: Math.sin(thetaT) / sinTheta, lerp: false };
}

export function slerpMerge(entry: RefEntry): Float32Array {
  const n = checkSizes(entry);
  if (entry.inputs.length === 1) return Float32Array.from(entry.inputs[0].data);
  if (entry.inputs.length !== 2)
    throw new MethodError(`Tensor "${entry.name}": slerp needs exactly two models, got ${entry.inputs.length}`, {
      tensor: entry.name,
    });
  const baseIdx = entry.inputs.findIndex((x) => x.isBase);
  if (baseIdx < 0)
    throw new MethodError(`Tensor "${entry.name}": slerp needs the base model among its two inputs`, {
      tensor: entry.name,
      key: 'base_model',
    });
  const v0 = entry.inputs[baseIdx].data;
  const v1 = entry.inputs[1 - baseIdx].data;
  const t = numParam(entry, entry.params, 't');
  const { s0, s1 } = slerpCoefficients(t, v0, v1);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = s0 * v0[i] + s1 * v1[i];
  return out;
}

/** The CPU twin of this folder's spec (methods/reference.ts). */
export function reference(): (entry: RefEntry) => Float32Array {
  return slerpMerge;
}

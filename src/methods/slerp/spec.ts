import type { MethodSpec } from '../spec';

/** Spherical interpolation between the base (t = 0) and one other model (t = 1). */
export const slerp: MethodSpec = {
  name: 'slerp',
  label: 'SLERP',
  description: 'Spherical linear interpolation between the base model (t = 0) and the other model (t = 1); lerp when nearly colinear.',
  base: 'slerp',
  minInputs: 1,
  maxInputs: 2,
  params: [
    { name: 't', scope: 'global', type: 'number', required: true, min: 0, max: 1, description: 'Interpolation factor: 0 = base, 1 = other model.' },
  ],
  embedCrop: 'min',
  shapeMismatch: 'error',
};

/** The engines' coefficients (on v0, v1) from ‖v0‖², ‖v1‖², v0·v1 (f64; WebGPU and CPU engine share them). */
export function slerpCoefficients(t: number, aa: number, bb: number, ab: number): [number, number] {
  const n0 = Math.sqrt(aa);
  const n1 = Math.sqrt(bb);
  const d = ab / ((n0 > 1e-8 ? n0 : 1) * (n1 > 1e-8 ? n1 : 1));
  if (Math.abs(d) > 0.9995) return [1 - t, t];
  const theta = Math.acos(d);
  const s = Math.sin(theta);
  return [Math.sin((1 - t) * theta) / s, Math.sin(t * theta) / s];
}

export const specs: readonly MethodSpec[] = [slerp];

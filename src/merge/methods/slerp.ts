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

import type { MethodSpec } from '../spec';

/** Copies one input tensor (optionally scaled): layer stacking and frankenmerges via slices. */
export const passthrough: MethodSpec = {
  name: 'passthrough',
  label: 'Passthrough (layer stacking)',
  description: 'Copies each tensor from its single source; with slices this stacks layers from several models.',
  base: 'none',
  minInputs: 1,
  maxInputs: 1,
  params: [
    { name: 'scale', scope: 'model', type: 'number', min: 0, max: 2, description: 'Multiply the tensor by this factor (no default: unscaled).' },
  ],
  embedCrop: 'min',
  shapeMismatch: 'error',
};

export const specs: readonly MethodSpec[] = [passthrough];

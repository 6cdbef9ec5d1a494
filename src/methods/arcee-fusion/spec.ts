import type { MethodSpec } from '../spec';

/**
 * Arcee Fusion (mergekit arcee_fusion.py): take the other model's value where its importance
 * |x − base|·KL(softmax rows) is an upper outlier (≥ median + 1.5·IQR). mergekit returns float32
 * tensors (#604), so the output is F32 unless out_dtype is set. Quantiles are exact over all elements
 * (mergekit samples 1e6 elements of larger tensors with torch's generator).
 */
export const arceeFusion: MethodSpec = {
  name: 'arcee_fusion',
  label: 'Arcee Fusion',
  description: 'Keeps the base except where the other model\'s change is important: |x − base| times the row\'s KL divergence of the softmaxes, at or above median + 1.5·IQR. Output in float32 unless out_dtype is set.',
  reference: 'https://arcee.ai',
  base: 'slerp',
  minInputs: 2,
  maxInputs: 2,
  nonBaseInputs: { min: 1, max: 1 },
  params: [],
  embedCrop: 'min',
  shapeMismatch: 'error',
  outputDtype: 'F32',
};

export const specs: readonly MethodSpec[] = [arceeFusion];

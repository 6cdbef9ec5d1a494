import type { MethodSpec } from '../spec';
import { checkNumber } from '../shared/checks';

/** NearSwap: take the other model's value where it is within t of the base, blend toward it elsewhere. */
export const nearswap: MethodSpec = {
  name: 'nearswap',
  label: 'NearSwap',
  description: 'w = clamp(t / max(|base − x|, 1e-6), 0, 1); result w·x + (1 − w)·base: parameters that barely differ are swapped in, others move toward x by t / |difference|.',
  reference: 'https://huggingface.co/alchemonaut/QuartetAnemoi-70B-t0.0001',
  base: 'required',
  minInputs: 2,
  maxInputs: 2,
  nonBaseInputs: { min: 1, max: 1 },
  params: [
    { name: 't', scope: 'global', type: 'number', required: true, min: 0, max: 0.01, description: 'Sameness threshold: differences up to t take the other model\'s value.' },
  ],
  embedCrop: 'min',
  shapeMismatch: 'error',
  validate(params) {
    // mergekit HEAD clamps a negative t to "keep the base"; older versions refused t ≤ 0. A negative
    // threshold is always a mistake, so it is refused here.
    checkNumber('nearswap', 't', params.t, { min: 0 });
  },
};

export const specs: readonly MethodSpec[] = [nearswap];

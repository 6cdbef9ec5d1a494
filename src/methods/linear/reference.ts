// mergekit linear.py: Σ wᵢ·Xᵢ, divided by Σ wᵢ when normalize (default true). No zero-sum guard:
// a weight sum of 0 gives ±Inf/NaN exactly like torch. A base model is just another input here.

import { boolParam, checkSizes, numParam, type RefEntry } from '../shared/reference/types';

export function linearMerge(entry: RefEntry): Float32Array {
  const n = checkSizes(entry);
  const normalize = boolParam(entry, entry.params, 'normalize', true);
  const weights = entry.inputs.map((inp, i) => numParam(entry, inp.params, 'weight', undefined, `model input ${i}`));
  let wsum = 0;
  for (const w of weights) wsum += w;
  const out = new Float32Array(n);
  for (let e = 0; e < n; e++) {
    let s = 0;
    for (let i = 0; i < weights.length; i++) s += weights[i] * entry.inputs[i].data[e];
    out[e] = normalize ? s / wsum : s;
  }
  return out;
}

/** The CPU twin of this folder's spec (methods/reference.ts). */
export function reference(): (entry: RefEntry) => Float32Array {
  return linearMerge;
}

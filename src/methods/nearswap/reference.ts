// mergekit nearswap.py: w = clamp(t / max(|base − x|, 1e-6), 0, 1); out = w·x + (1 − w)·base.
// |base − x| is rounded to f32 (mergekit's tensor subtraction); the rest in f64.

import { MethodError } from '../../errors';
import { checkSizes, numParam, splitBase, type RefEntry } from '../shared/reference/types';

export function nearswapMerge(entry: RefEntry): Float32Array {
  const n = checkSizes(entry);
  const { base, others } = splitBase(entry);
  if (others.length === 0) return Float32Array.from(base.data);
  if (others.length !== 1)
    throw new MethodError(`Tensor "${entry.name}": nearswap needs exactly one model besides the base, got ${others.length}`, { tensor: entry.name });
  const t = Math.fround(numParam(entry, entry.params, 't'));
  const v = base.data;
  const x = others[0].data;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const d = Math.fround(Math.abs(v[i] - x[i]));
    const w = Math.min(1, Math.max(0, t / Math.max(d, Math.fround(1e-6))));
    out[i] = w * x[i] + (1 - w) * v[i];
  }
  return out;
}

/** The CPU twin of this folder's spec (methods/reference.ts). */
export function reference(): (entry: RefEntry) => Float32Array {
  return nearswapMerge;
}

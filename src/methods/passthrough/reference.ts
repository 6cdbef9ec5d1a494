// mergekit passthrough.py: exactly one input, multiplied by its `scale` when one is set.

import { MethodError } from '../../errors';
import { checkSizes, numParam, type RefEntry } from '../shared/reference/types';

export function passthroughMerge(entry: RefEntry): Float32Array {
  const n = checkSizes(entry);
  if (entry.inputs.length !== 1)
    throw new MethodError(`Tensor "${entry.name}": passthrough expects exactly one input tensor, got ${entry.inputs.length}`, {
      tensor: entry.name,
    });
  const inp = entry.inputs[0];
  if (inp.params.scale === undefined) return Float32Array.from(inp.data);
  const scale = numParam(entry, inp.params, 'scale', undefined, 'model input 0');
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = inp.data[i] * scale;
  return out;
}

/** The CPU twin of this folder's spec (methods/reference.ts). */
export function reference(): (entry: RefEntry) => Float32Array {
  return passthroughMerge;
}

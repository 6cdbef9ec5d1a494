// Plan entries built in memory for the CPU engine's unit tests (no files): one linear entry over
// inputs whose stored bytes a test generates.
import { MemorySource } from '../../src/io/sources';
import type { PlanEntry } from '../../src/recipe/plan-types';
import type { Dtype } from '../../src/formats/dtype';

export interface LinearEntryOptions {
  normalize: boolean;
  out: Dtype;
  compute?: Dtype;
  weights: number[];
  /** The entry's tensor name (the inputs' tensors are all named `w`). */
  name?: string;
}

/** A linear entry of n elements; input i is dtypes[i] with the bytes `bytesOf(i, dtype)`. */
export function linearEntry(n: number, dtypes: Dtype[], o: LinearEntryOptions, bytesOf: (i: number, dtype: Dtype) => Uint8Array): PlanEntry {
  return {
    name: o.name ?? 'w',
    shape: [n],
    method: 'linear',
    params: { normalize: o.normalize },
    outDtype: o.out,
    computeDtype: o.compute,
    seed: 1,
    inputs: dtypes.map((dtype, i) => {
      const bytes = bytesOf(i, dtype);
      return { model: `m${i}`, isBase: false, params: { weight: o.weights[i] }, tensor: { name: 'w', dtype, shape: [n], source: new MemorySource(`m${i}.bin`, bytes), byteOffset: 0, byteLength: bytes.byteLength } };
    }),
  };
}

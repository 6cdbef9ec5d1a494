// Typed wrapper of shaders/wsum.wgsl: a weighted sum read straight from stored words.
import type { Dtype } from '../formats/dtype';
import type { Batch } from './buffers';
import { dispatch, workgroups } from './kernels';

const CODE: Record<Dtype, number> = { F32: 0, F16: 1, BF16: 2 };

export interface WsumInput {
  words: GPUBuffer;
  dtype: Dtype;
}

/**
 * acc = Σ coef[j]·decode(inputs[j]) over all inputs (in order, four per dispatch), then ÷ div when
 * given. roundTo rounds each decoded value to the compute dtype first. With `encode`, the last
 * dispatch writes the result encoded to that 16-bit dtype into encode.words (ceil(n/2) u32 words,
 * encode16's layout) instead of into acc.
 */
export function weightedSum(
  b: Batch,
  inputs: WsumInput[],
  coef: GPUBuffer,
  acc: GPUBuffer,
  n: number,
  o: { roundTo?: Dtype; div?: number; encode?: { dtype: 'F16' | 'BF16'; words: GPUBuffer } },
): void {
  const roundTo = o.roundTo === 'BF16' ? 1 : o.roundTo === 'F16' ? 2 : 0;
  for (let first = 0; first < inputs.length; first += 4) {
    const group = inputs.slice(first, first + 4);
    const last = first + 4 >= inputs.length;
    const dtypes = group.reduce((a, g, j) => a | (CODE[g.dtype] << (2 * j)), 0);
    const flags = (first === 0 ? 1 : 0) | (last && o.div !== undefined ? 2 : 0);
    const enc = last ? o.encode : undefined;
    dispatch(
      b, 'wsum', enc ? 'wsum_encode' : 'wsum',
      { n, count: group.length, dtypes, flags, first, round_to: roundTo, div: o.div ?? 1, out_dtype: enc ? CODE[enc.dtype] : 0 },
      [group[0].words, group[1]?.words, group[2]?.words, group[3]?.words, coef, acc, enc?.words],
      workgroups(enc ? Math.ceil(n / 2) : n),
    );
  }
}

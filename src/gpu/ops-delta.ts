// Typed wrapper of shaders/delta.wgsl: kept-delta and "filled" counts of a merged tensor.
import { dispatch } from './kernels';
import type { Batch } from './buffers';

/** Adds this tensor's counts to counters[offset], counters[offset + 1] (u32, cleared by the caller). */
export function deltaCounts(b: Batch, merged: GPUBuffer, base: GPUBuffer, other: GPUBuffer | undefined, n: number, counters: GPUBuffer, offset: number): void {
  dispatch(b, 'delta', 'delta_counts', [{ u: n }, { u: other ? 1 : 0 }, { u: offset }], [merged, base, other, counters], Math.ceil(n / 256));
}

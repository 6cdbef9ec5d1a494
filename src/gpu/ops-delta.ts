// Typed wrapper of shaders/delta.wgsl: kept-delta and "filled" counts of a merged tensor.
import { dispatch, workgroups } from './kernels';
import type { Batch } from './buffers';

/** Adds this tensor's counts to counters[offset], counters[offset + 1] (u32, cleared by the caller). */
export function deltaCounts(b: Batch, merged: GPUBuffer, base: GPUBuffer, other: GPUBuffer | undefined, n: number, counters: GPUBuffer, offset: number): void {
  dispatch(b, 'delta', 'delta_counts', { n, has_other: other ? 1 : 0, offset }, [merged, base, other, counters], workgroups(n));
}

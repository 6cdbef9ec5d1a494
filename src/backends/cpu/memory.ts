// How much memory the CPU engine holds for one tensor at its peak (the pool's budget, error messages).
import { itemSize, type Dtype } from '../../formats/dtype';
import { DECODED_BUDGET, elementCount } from './job';

/** What merging an entry holds in memory at its peak (inputs as held by CpuJob, plus the output). */
/** What tensorMemory needs of an entry (a PlanEntry, or its portable form in a worker). */
export interface SizedEntry {
  name: string;
  shape: number[];
  inputs: readonly { tensor: { dtype: string } }[];
  outDtype: Dtype;
}

export function tensorMemory(e: SizedEntry): number {
  const n = elementCount(e.shape);
  const decoded = n * 4 * e.inputs.length;
  const raw = e.inputs.reduce((a, i) => a + n * itemSize(i.tensor.dtype as Dtype), 0);
  const held = decoded <= DECODED_BUDGET ? decoded : raw + 4 * (1 << 20) * 4 * e.inputs.length;
  return held + n * 4 + n * itemSize(e.outDtype);
}


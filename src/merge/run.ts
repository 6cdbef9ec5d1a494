// Placeholder replaced by the executor (lead is writing it).
import type { Gpu } from '../gpu/device';
import type { MergeProgress, MergeRequest, MergeSummary } from '../worker/api';
import { UnsupportedError } from '../errors';
export async function runMerge(_req: MergeRequest, _gpu: Gpu, _opts: { signal?: AbortSignal; onProgress?: (p: MergeProgress) => void }): Promise<MergeSummary> {
  throw new UnsupportedError('engine not built yet');
}

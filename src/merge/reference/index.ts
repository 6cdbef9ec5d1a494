// CPU reference twins: the oracle the WebGPU kernels are tested against. One file per method;
// referenceMerge dispatches on the method name. f64 arithmetic, Float32Array results, except where
// rounding decides a selection (task vectors are f32, ranking compares f32 |δ|) — see topk.ts.

import { MethodError } from '../../errors';
import { gtaMerge, GTA_METHODS } from './gta';
import { cabsMerge } from './cabs';
import { linearMerge } from './linear';
import { modelStockMerge } from './model-stock';
import { passthroughMerge } from './passthrough';
import { slerpMerge } from './slerp';
import { nearswapMerge } from './nearswap';
import { nuslerpMerge } from './nuslerp';
import { multislerpMerge } from './multislerp';
import { karcherMerge } from './karcher';
import { sceMerge } from './sce';
import { ramMerge } from './ram';
import { arceeFusionMerge } from './arcee-fusion';
import type { RefEntry } from './types';

export type { RefEntry, RefInput, RefParamValue } from './types';
export { taskVector, descendingOrder, descendingRanks, topkMask, rankRangeMask, orderKey, absF32 } from './topk';
export { magnitude, magnitudeOutliers, magnitudeK, breadcrumbsRange, applyMask } from './sparsify';
export { slerpCoefficients } from './slerp';
export { cabsSelect, type CabsSelection } from './cabs';
export { referenceDiagnostics, type RefDiagnostics } from './diagnostics';
export { magnitudeKeys, tensorTopkMask, rowTopkMask, nmMask, nmQuota, keepCount, rowLength } from './prune';

const TABLE: Record<string, (e: RefEntry) => Float32Array> = {
  linear: linearMerge,
  slerp: slerpMerge,
  model_stock: modelStockMerge,
  passthrough: passthroughMerge,
  cabs: cabsMerge,
  nearswap: nearswapMerge,
  nuslerp: nuslerpMerge,
  multislerp: multislerpMerge,
  karcher: karcherMerge,
  sce: sceMerge,
  ram: ramMerge,
  ramplus_tl: ramMerge,
  arcee_fusion: arceeFusionMerge,
  ...Object.fromEntries(GTA_METHODS.map((m) => [m, gtaMerge])),
};

export const REFERENCE_METHODS: readonly string[] = Object.keys(TABLE);

export function referenceMerge(entry: RefEntry): Float32Array {
  const fn = TABLE[entry.method];
  if (!fn)
    throw new MethodError(`no CPU reference for merge method "${entry.method}"; have: ${REFERENCE_METHODS.join(', ')}`, {
      tensor: entry.name,
    });
  return fn(entry);
}

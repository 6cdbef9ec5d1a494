// CPU reference twins: the oracle the WebGPU kernels are tested against, one per method folder
// (methods/<folder>/reference.ts); referenceMerge dispatches on the method name. f64 arithmetic,
// Float32Array results, except where rounding decides a selection (task vectors are f32, ranking
// compares f32 |δ|) — see shared/reference/topk.ts.

import { MethodError } from '../errors';
import type { MethodSpec } from './spec';
import { METHOD_ENTRIES, type MethodFolder } from './specs';
import * as linear from './linear/reference';
import * as gta from './gta/reference';
import * as slerp from './slerp/reference';
import * as modelStock from './model-stock/reference';
import * as passthrough from './passthrough/reference';
import * as cabs from './cabs/reference';
import * as nearswap from './nearswap/reference';
import * as nuslerp from './nuslerp/reference';
import * as multislerp from './multislerp/reference';
import * as karcher from './karcher/reference';
import * as sce from './sce/reference';
import * as ram from './ram/reference';
import * as arceeFusion from './arcee-fusion/reference';
import type { RefEntry } from './shared/reference/types';

export type { RefEntry, RefInput, RefParamValue } from './shared/reference/types';
export { taskVector, descendingOrder, descendingRanks, topkMask, rankRangeMask, orderKey, absF32 } from './shared/reference/topk';
export { magnitude, magnitudeOutliers, magnitudeK, breadcrumbsRange, applyMask } from './shared/reference/sparsify';
export { slerpCoefficients } from './slerp/reference';
export { cabsSelect, type CabsSelection } from './cabs/reference';
export { magnitudeKeys, tensorTopkMask, rowTopkMask, nmMask, nmQuota, keepCount, rowLength } from './shared/reference/prune';

/** The CPU table, derived from the method list; a folder missing here fails the typecheck. */
const FOLDERS: Record<MethodFolder, { reference(spec: MethodSpec): (e: RefEntry) => Float32Array }> = { linear, gta, slerp, modelStock, passthrough, cabs, nearswap, nuslerp, multislerp, karcher, sce, ram, arceeFusion };

const TABLE: Record<string, (e: RefEntry) => Float32Array> = Object.fromEntries(METHOD_ENTRIES.map(({ folder, spec }) => [spec.name, FOLDERS[folder].reference(spec)]));

export const REFERENCE_METHODS: readonly string[] = Object.keys(TABLE);

export function referenceMerge(entry: RefEntry): Float32Array {
  const fn = TABLE[entry.method];
  if (!fn)
    throw new MethodError(`no CPU reference for merge method "${entry.method}"; have: ${REFERENCE_METHODS.join(', ')}`, {
      tensor: entry.name,
    });
  return fn(entry);
}

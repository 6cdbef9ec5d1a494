// Every merge method the engine runs, as an explicit list (no import side effects).
import type { MethodSpec } from './spec';
import { linear } from './methods/linear';
import { slerp } from './methods/slerp';
import { modelStock } from './methods/model-stock';
import { passthrough } from './methods/passthrough';
import { taskArithmetic, ties, breadcrumbs, breadcrumbsTies, dareTies, dareLinear, della, dellaLinear } from './methods/gta';
import { cabs } from './methods/cabs';
import { nearswap } from './methods/nearswap';
import { nuslerp } from './methods/nuslerp';
import { multislerp } from './methods/multislerp';
import { karcher } from './methods/karcher';
import { sce } from './methods/sce';
import { ram, ramplusTl } from './methods/ram';
import { arceeFusion } from './methods/arcee-fusion';
import { RecipeError } from '../errors';

export const METHODS: readonly MethodSpec[] = [linear, taskArithmetic, ties, breadcrumbs, breadcrumbsTies, dareTies, dareLinear, della, dellaLinear, slerp, modelStock, passthrough, cabs, nearswap, nuslerp, multislerp, karcher, sce, ram, ramplusTl, arceeFusion];

/** mergekit methods that exist but this engine does not run yet (a clear error, not "unknown"). */
export const MERGEKIT_ONLY: readonly string[] = [];

export function getMethod(name: string): MethodSpec {
  const m = METHODS.find((x) => x.name === name);
  if (m) return m;
  if (MERGEKIT_ONLY.includes(name))
    throw new RecipeError(`merge_method "${name}" is a mergekit method this engine does not support yet; supported: ${METHODS.map((x) => x.name).join(', ')}`, { key: 'merge_method' });
  throw new RecipeError(`unknown merge_method "${name}"; expected one of: ${METHODS.map((x) => x.name).join(', ')}`, { key: 'merge_method' });
}

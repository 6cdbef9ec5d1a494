// GPU implementations by method name (kept apart from the specs so the specs stay importable from
// Node tools without WGSL).
import type { GpuMethod } from './types';
import { linearGpu } from './linear';
import { passthroughGpu } from './passthrough';
import { slerpGpu } from './slerp';
import { modelStockGpu } from './model-stock';
import { gtaGpu } from './gta';
import { cabsGpu } from './cabs';
import { taskArithmetic, ties, breadcrumbs, breadcrumbsTies, dareTies, dareLinear, della, dellaLinear } from '../methods/gta';

import { nearswapGpu } from './nearswap';
import { nuslerpGpu } from './nuslerp';
import { multislerpGpu } from './multislerp';
import { karcherGpu } from './karcher';
import { sceGpu } from './sce';
import { ramGpu, ramplusTlGpu } from './ram';
import { arceeFusionGpu } from './arcee-fusion';
const ALL: GpuMethod[] = [linearGpu, passthroughGpu, slerpGpu, modelStockGpu, ...[taskArithmetic, ties, breadcrumbs, breadcrumbsTies, dareTies, dareLinear, della, dellaLinear].map((m) => gtaGpu(m.gta)), nearswapGpu, nuslerpGpu, cabsGpu, multislerpGpu, karcherGpu, sceGpu, ramGpu, ramplusTlGpu, arceeFusionGpu];

export function gpuMethod(name: string): GpuMethod | undefined {
  return ALL.find((m) => m.name === name);
}

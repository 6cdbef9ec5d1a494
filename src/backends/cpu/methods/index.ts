// CPU implementations by method name: an f32 replay of the WebGPU passes where one exists
// (fidelity 'exact'), otherwise the method's reference twin.
import type { CpuMethod } from '../method';
import { linearCpu, passthroughCpu } from './linear';
import { slerpCpu } from './slerp';
import { gtaCpu } from './gta';
import { referenceCpu } from './reference';
import { taskArithmetic, ties, breadcrumbs, breadcrumbsTies, dareTies, dareLinear, della, dellaLinear } from '../../../methods/gta/spec';
import { REFERENCE_METHODS } from '../../../methods/reference';

const EXACT: CpuMethod[] = [linearCpu, passthroughCpu, slerpCpu, ...[taskArithmetic, ties, breadcrumbs, breadcrumbsTies, dareTies, dareLinear, della, dellaLinear].map((m) => gtaCpu(m.gta))];
const TABLE = new Map<string, CpuMethod>(EXACT.map((m) => [m.name, m]));
for (const name of REFERENCE_METHODS) if (!TABLE.has(name)) TABLE.set(name, referenceCpu(name));

export function cpuMethod(name: string): CpuMethod | undefined {
  return TABLE.get(name);
}

export const CPU_METHODS: readonly CpuMethod[] = [...TABLE.values()];

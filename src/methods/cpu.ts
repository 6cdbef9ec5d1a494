// The CPU engine's table (backends/cpu), derived from the method list (methods/specs.ts): a folder
// with a cpu.ts replays its WebGPU passes in f32 (fidelity 'exact': the same output bits); every
// other method runs its reference twin (shared/cpu/reference.ts, fidelity 'reference'). A folder
// gains an exact CPU implementation by adding cpu.ts and its name here.
import type { CpuMethod } from './shared/cpu/method';
import type { MethodSpec } from './spec';
import { METHOD_ENTRIES, type MethodFolder } from './specs';
import { referenceCpu } from './shared/cpu/reference';
import * as linear from './linear/cpu';
import * as passthrough from './passthrough/cpu';
import * as slerp from './slerp/cpu';
import * as gta from './gta/cpu';
import * as modelStock from './model-stock/cpu';
import * as nearswap from './nearswap/cpu';
import * as nuslerp from './nuslerp/cpu';
import * as multislerp from './multislerp/cpu';
import * as karcher from './karcher/cpu';
import * as sce from './sce/cpu';
import * as ram from './ram/cpu';
import * as cabs from './cabs/cpu';

const EXACT: Partial<Record<MethodFolder, { cpu(spec: MethodSpec): CpuMethod }>> = { linear, passthrough, slerp, gta, modelStock, nearswap, nuslerp, multislerp, karcher, sce, ram, cabs };

const TABLE = new Map<string, CpuMethod>(METHOD_ENTRIES.map(({ folder, spec }) => [spec.name, EXACT[folder]?.cpu(spec) ?? referenceCpu(spec.name)]));

export function cpuMethod(name: string): CpuMethod | undefined {
  return TABLE.get(name);
}

export const CPU_METHODS: readonly CpuMethod[] = [...TABLE.values()];

// The WebGPU table, derived from the method list (methods/specs.ts): each folder's webgpu.ts builds
// the implementation of each of its specs. Kept apart from the specs so they stay importable from
// Node tools without WGSL. A folder missing here fails the typecheck (the record names them all).
import type { GpuMethod } from './shared/webgpu/types';
import type { MethodSpec } from './spec';
import { METHOD_ENTRIES, type MethodFolder } from './specs';
import * as linear from './linear/webgpu';
import * as gta from './gta/webgpu';
import * as slerp from './slerp/webgpu';
import * as modelStock from './model-stock/webgpu';
import * as passthrough from './passthrough/webgpu';
import * as cabs from './cabs/webgpu';
import * as nearswap from './nearswap/webgpu';
import * as nuslerp from './nuslerp/webgpu';
import * as multislerp from './multislerp/webgpu';
import * as karcher from './karcher/webgpu';
import * as sce from './sce/webgpu';
import * as ram from './ram/webgpu';
import * as arceeFusion from './arcee-fusion/webgpu';

const FOLDERS: Record<MethodFolder, { webgpu(spec: MethodSpec): GpuMethod }> = { linear, gta, slerp, modelStock, passthrough, cabs, nearswap, nuslerp, multislerp, karcher, sce, ram, arceeFusion };

const TABLE = new Map<string, GpuMethod>(METHOD_ENTRIES.map(({ folder, spec }) => [spec.name, FOLDERS[folder].webgpu(spec)]));

export function gpuMethod(name: string): GpuMethod | undefined {
  return TABLE.get(name);
}

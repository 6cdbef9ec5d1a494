// Kernel registry: each WGSL family (one file in shaders/) is compiled once per device with the
// shared prelude, with an explicit bind group layout declared here, so every entry point of a family
// binds the same slots. Unused slots get a per-slot dummy buffer.
import prelude from '../../shaders/prelude.wgsl?raw';
import codec from '../../shaders/codec.wgsl?raw';
import encode from '../../shaders/encode.wgsl?raw';
import elementwise from '../../shaders/elementwise.wgsl?raw';
import reduce from '../../shaders/reduce.wgsl?raw';
import select from '../../shaders/select.wgsl?raw';
import gta from '../../shaders/gta.wgsl?raw';
import wsum from '../../shaders/wsum.wgsl?raw';
import prune from '../../shaders/prune.wgsl?raw';
import combine from '../../shaders/combine.wgsl?raw';
import stack from '../../shaders/stack.wgsl?raw';
import fusion from '../../shaders/fusion.wgsl?raw';
import magnitude from '../../shaders/magnitude.wgsl?raw';
import cabs from '../../shaders/cabs.wgsl?raw';
import diagnostics from '../../shaders/diagnostics.wgsl?raw';
import delta from '../../shaders/delta.wgsl?raw';
import { GpuError } from '../errors';

type Slot = 'uniform' | 'read' | 'storage';

interface Family {
  source: string;
  /** Binding 0 is always the uniform block; the rest in order. */
  slots: Slot[];
  /** Size of the uniform block in bytes (multiple of 16). */
  uniformBytes: number;
}

export const FAMILIES = {
  codec: { source: codec, slots: ['uniform', 'read', 'storage'], uniformBytes: 16 },
  encode: { source: encode, slots: ['uniform', 'read', 'storage'], uniformBytes: 16 },
  elementwise: { source: elementwise, slots: ['uniform', 'read', 'read', 'storage'], uniformBytes: 32 },
  reduce: { source: reduce, slots: ['uniform', 'read', 'read', 'read', 'read', 'storage', 'storage'], uniformBytes: 16 },
  select: { source: select, slots: ['uniform', 'read', 'read', 'storage', 'storage', 'storage', 'storage'], uniformBytes: 64 },
  gta: { source: gta, slots: ['uniform', 'read', 'read', 'read', 'storage', 'storage', 'storage'], uniformBytes: 32 },
  wsum: { source: wsum, slots: ['uniform', 'read', 'read', 'read', 'read', 'read', 'storage'], uniformBytes: 32 },
  prune: { source: prune, slots: ['uniform', 'read', 'read', 'storage', 'storage', 'storage', 'storage', 'storage'], uniformBytes: 64 },
  combine: { source: combine, slots: ['uniform', 'read', 'read', 'read', 'read', 'storage', 'storage', 'storage'], uniformBytes: 32 },
  stack: { source: stack, slots: ['uniform', 'read', 'read', 'read', 'storage', 'storage', 'storage'], uniformBytes: 32 },
  fusion: { source: fusion, slots: ['uniform', 'read', 'read', 'read', 'storage'], uniformBytes: 16 },
  magnitude: { source: magnitude, slots: ['uniform', 'read', 'read', 'read', 'storage', 'storage'], uniformBytes: 32 },
  cabs: { source: cabs, slots: ['uniform', 'read', 'read', 'read', 'storage', 'storage'], uniformBytes: 32 },
  diagnostics: { source: diagnostics, slots: ['uniform', 'read', 'read', 'read', 'storage', 'storage', 'storage'], uniformBytes: 48 },
  delta: { source: delta, slots: ['uniform', 'read', 'read', 'read', 'storage'], uniformBytes: 16 },
} satisfies Record<string, Family>;

export type FamilyName = keyof typeof FAMILIES;

interface Compiled {
  layout: GPUBindGroupLayout;
  pipelines: Map<string, GPUComputePipeline>;
  module: GPUShaderModule;
}

const compiled = new WeakMap<GPUDevice, Map<FamilyName, Compiled>>();
const dummies = new WeakMap<GPUDevice, GPUBuffer[]>();

function family(device: GPUDevice, name: FamilyName): Compiled {
  let byDevice = compiled.get(device);
  if (!byDevice) compiled.set(device, (byDevice = new Map()));
  let c = byDevice.get(name);
  if (!c) {
    const f: Family = FAMILIES[name];
    const module = device.createShaderModule({ label: name, code: prelude + '\n' + f.source });
    const layout = device.createBindGroupLayout({
      label: name,
      entries: f.slots.map((s, i) => ({
        binding: i,
        visibility: GPUShaderStage.COMPUTE,
        buffer: { type: s === 'uniform' ? 'uniform' : s === 'read' ? 'read-only-storage' : 'storage' },
      })),
    });
    c = { layout, pipelines: new Map(), module };
    byDevice.set(name, c);
  }
  return c;
}

function pipeline(device: GPUDevice, name: FamilyName, entry: string): { p: GPUComputePipeline; layout: GPUBindGroupLayout } {
  const c = family(device, name);
  let p = c.pipelines.get(entry);
  if (!p) {
    p = device.createComputePipeline({
      label: `${name}.${entry}`,
      layout: device.createPipelineLayout({ bindGroupLayouts: [c.layout] }),
      compute: { module: c.module, entryPoint: entry },
    });
    c.pipelines.set(entry, p);
  }
  return { p, layout: c.layout };
}

function dummy(device: GPUDevice, slot: number): GPUBuffer {
  let list = dummies.get(device);
  if (!list) dummies.set(device, (list = []));
  while (list.length <= slot)
    list.push(device.createBuffer({ label: `dummy${list.length}`, size: 256, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.UNIFORM }));
  return list[slot];
}

/** Workgroup grid for `groups` workgroups: x ≤ 65535, y as needed. */
export function grid(groups: number): [number, number] {
  if (groups <= 0) return [0, 0];
  const x = Math.min(groups, 65535);
  return [x, Math.ceil(groups / x)];
}

/** Where dispatches are recorded: an encoder plus the temporary buffers to free after submit. */
export interface Recorder {
  device: GPUDevice;
  enc: GPUCommandEncoder;
  temps: GPUBuffer[];
}

/** A uniform block written from (u32 | f32) fields in order. */
export type UniformField = { u: number } | { f: number };

/**
 * Records one dispatch into `enc`. `buffers[i]` binds slot i+1 (slot 0 is the uniform block);
 * undefined slots get a dummy buffer. `groups` is the number of 256-thread workgroups.
 */
export function dispatch(
  rec: Recorder,
  name: FamilyName,
  entry: string,
  uniforms: UniformField[],
  buffers: (GPUBuffer | undefined)[],
  groups: number,
): void {
  if (groups <= 0) return;
  const { device, enc } = rec;
  const f: Family = FAMILIES[name];
  const { p, layout } = pipeline(device, name, entry);
  const ubuf = device.createBuffer({ label: `${name}.${entry}.uniforms`, size: f.uniformBytes, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST });
  const data = new ArrayBuffer(f.uniformBytes);
  const u32 = new Uint32Array(data);
  const f32 = new Float32Array(data);
  if (uniforms.length * 4 > f.uniformBytes) throw new GpuError(`${name}.${entry}: too many uniform fields`);
  uniforms.forEach((v, i) => {
    if ('u' in v) u32[i] = v.u >>> 0;
    else f32[i] = v.f;
  });
  device.queue.writeBuffer(ubuf, 0, data);
  rec.temps.push(ubuf);
  const entries: GPUBindGroupEntry[] = [{ binding: 0, resource: { buffer: ubuf } }];
  for (let i = 1; i < f.slots.length; i++) entries.push({ binding: i, resource: { buffer: buffers[i - 1] ?? dummy(device, i) } });
  const bg = device.createBindGroup({ label: `${name}.${entry}`, layout, entries });
  const pass = enc.beginComputePass({ label: `${name}.${entry}` });
  pass.setPipeline(p);
  pass.setBindGroup(0, bg);
  const [x, y] = grid(groups);
  pass.dispatchWorkgroups(x, y);
  pass.end();
}

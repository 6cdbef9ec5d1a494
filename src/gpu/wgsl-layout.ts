// What a kernel family's WGSL declares, read from its source (pure; unit-tested in Node): the
// uniform struct bound at @binding(0) (field names, scalar types, byte offsets), the storage
// bindings by name and access, and the compute entry points. gpu/kernels.ts packs uniforms by these
// field names and checks its bind-group layouts and traffic declarations against these bindings.
import { GpuError } from '../errors';

export type ScalarType = 'u32' | 'i32' | 'f32';

export interface UniformField {
  name: string;
  type: ScalarType;
  /** Byte offset in the uniform block. */
  offset: number;
  /** A padding field (name starting with "_"): always 0, never set by a caller. */
  padding: boolean;
}

export interface UniformStruct {
  name: string;
  fields: UniformField[];
  /** Size of the uniform block in bytes (a multiple of 16). */
  bytes: number;
}

export interface StorageBinding {
  index: number;
  name: string;
  access: 'read' | 'read_write';
}

export interface WgslLayout {
  uniforms: UniformStruct;
  /** Bindings 1.. in order (binding 0 is the uniform block). */
  storage: StorageBinding[];
  entryPoints: string[];
}

function stripComments(src: string): string {
  return src.replace(/\/\*[\s\S]*?\*\//g, ' ').replace(/\/\/[^\n]*/g, '');
}

/**
 * Reads the layout of a family's WGSL. Every binding is in group 0; binding 0 is the uniform
 * struct, whose fields must be u32 / i32 / f32 scalars (4 bytes each, so offsets follow the field
 * order); bindings 1.. are storage arrays.
 */
export function parseWgslLayout(label: string, source: string): WgslLayout {
  const src = stripComments(source);
  const bindings = [...src.matchAll(/@group\(\s*0\s*\)\s*@binding\(\s*(\d+)\s*\)\s*var\s*<\s*([\w\s,]+?)\s*>\s*(\w+)\s*:\s*([^;]+);/g)].map((m) => ({
    index: Number(m[1]),
    space: m[2].replace(/\s+/g, ''),
    name: m[3],
    type: m[4].trim(),
  }));
  bindings.sort((a, b) => a.index - b.index);
  bindings.forEach((b, i) => {
    if (b.index !== i) throw new GpuError(`${label}.wgsl: bindings must be numbered 0, 1, 2… (found @binding(${b.index}) as the ${i + 1}th)`);
  });
  const u = bindings[0];
  if (!u || u.space !== 'uniform') throw new GpuError(`${label}.wgsl: @binding(0) must be the uniform struct`);
  const m = new RegExp(`struct\\s+${u.type}\\s*\\{([^}]*)\\}`).exec(src);
  if (!m) throw new GpuError(`${label}.wgsl: struct ${u.type} (the uniform block) not found`);
  const fields: UniformField[] = [];
  for (const part of m[1].split(',')) {
    const f = part.trim();
    if (!f) continue;
    const fm = /^(\w+)\s*:\s*(\w+)$/.exec(f);
    if (!fm) throw new GpuError(`${label}.wgsl: cannot read field "${f}" of struct ${u.type}`);
    const type = fm[2];
    if (type !== 'u32' && type !== 'i32' && type !== 'f32') throw new GpuError(`${label}.wgsl: field ${u.type}.${fm[1]} is ${type}; uniform fields must be u32, i32 or f32`);
    if (fields.some((x) => x.name === fm[1])) throw new GpuError(`${label}.wgsl: field ${u.type}.${fm[1]} declared twice`);
    fields.push({ name: fm[1], type, offset: 4 * fields.length, padding: fm[1].startsWith('_') });
  }
  const storage: StorageBinding[] = bindings.slice(1).map((b) => {
    if (b.space !== 'storage,read' && b.space !== 'storage,read_write') throw new GpuError(`${label}.wgsl: binding ${b.name} is var<${b.space}>; only binding 0 may be a uniform`);
    return { index: b.index, name: b.name, access: b.space === 'storage,read' ? 'read' : 'read_write' };
  });
  const entryPoints = [...src.matchAll(/@compute\s+@workgroup_size\([^)]*\)\s*fn\s+(\w+)/g)].map((x) => x[1]);
  return { uniforms: { name: u.type, fields, bytes: Math.max(16, Math.ceil((4 * fields.length) / 16) * 16) }, storage, entryPoints };
}

/** Uniform values by field name; padding fields are left out (they are 0). */
export type Uniforms = Readonly<Record<string, number>>;

/**
 * Packs named uniform values into the struct's bytes. Every non-padding field must be given, no
 * other name may be, and each value must fit its type (u32: an integer in [0, 2³²); i32: an
 * integer in [−2³¹, 2³¹); f32: any number, rounded to f32). Errors name the kernel and the field.
 */
export function packUniforms(kernel: string, s: UniformStruct, values: Uniforms): ArrayBuffer {
  const data = new ArrayBuffer(s.bytes);
  const view = new DataView(data);
  const known = new Map(s.fields.map((f) => [f.name, f]));
  for (const name of Object.keys(values)) {
    const f = known.get(name);
    if (!f) throw new GpuError(`${kernel}: "${name}" is not a field of ${s.name} (fields: ${s.fields.filter((x) => !x.padding).map((x) => x.name).join(', ')})`);
    if (f.padding) throw new GpuError(`${kernel}: ${s.name}.${name} is padding (always 0) and cannot be set`);
  }
  for (const f of s.fields) {
    if (f.padding) continue;
    const v = values[f.name];
    if (v === undefined) throw new GpuError(`${kernel}: uniform ${s.name}.${f.name} (${f.type}) is missing`);
    if (typeof v !== 'number') throw new GpuError(`${kernel}: uniform ${s.name}.${f.name} is ${f.type}, got ${typeof v} ${String(v)}`);
    if (f.type === 'f32') view.setFloat32(f.offset, v, true);
    else if (f.type === 'u32') {
      if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) throw new GpuError(`${kernel}: uniform ${s.name}.${f.name} is u32, got ${v}`);
      view.setUint32(f.offset, v, true);
    } else {
      if (!Number.isInteger(v) || v < -0x80000000 || v > 0x7fffffff) throw new GpuError(`${kernel}: uniform ${s.name}.${f.name} is i32, got ${v}`);
      view.setInt32(f.offset, v, true);
    }
  }
  return data;
}

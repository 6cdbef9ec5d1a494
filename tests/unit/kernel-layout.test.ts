// The kernel registry reads each WGSL family's uniform struct, bindings and entry points
// (gpu/wgsl-layout.ts) and packs uniforms by field name: checked here without a GPU.
import { describe, expect, it } from 'vitest';
import { FAMILIES, familyLayout, workgroups, type FamilyName } from '../../src/gpu/kernels';
import { packUniforms, parseWgslLayout } from '../../src/gpu/wgsl-layout';

/** Uniform block sizes, derived from the WGSL structs (pinned here so that a change is noticed). */
const BYTES: Record<FamilyName, number> = {
  codec: 16, encode: 16, elementwise: 32, reduce: 32, select: 96, gta: 32, wsum: 32, prune: 80,
  combine: 32, stack: 32, fusion: 16, magnitude: 32, cabs: 32, diagnostics: 48, delta: 16, gtafused: 112, gather: 32, lora: 64,
};

describe('kernel families', () => {
  for (const name of Object.keys(FAMILIES) as FamilyName[]) {
    it(`${name}: struct, bindings and traffic declarations agree with the WGSL`, () => {
      const l = familyLayout(name);
      expect(l.uniforms.bytes).toBe(BYTES[name]);
      expect(l.storage.length).toBe(FAMILIES[name].slots.length - 1);
      expect(l.entryPoints.sort()).toEqual(Object.keys(FAMILIES[name].traffic).sort());
    });
  }
});

describe('packUniforms', () => {
  const { uniforms: s } = parseWgslLayout(
    'test',
    `struct TP {\n  n: u32, // count\n  flags: u32,\n  _p0: u32,\n  lambda: f32,\n  k: i32,\n};\n@group(0) @binding(0) var<uniform> P: TP;\n@group(0) @binding(1) var<storage, read> x: array<f32>;\n@compute @workgroup_size(256)\nfn go() {}\n`,
  );
  it('packs by name at the struct offsets, padding 0, size a multiple of 16', () => {
    expect(s.fields.map((f) => `${f.name}:${f.type}@${f.offset}`)).toEqual(['n:u32@0', 'flags:u32@4', '_p0:u32@8', 'lambda:f32@12', 'k:i32@16']);
    const data = packUniforms('t.go', s, { lambda: 0.5, k: -2, flags: 0xffffffff, n: 7 });
    expect(data.byteLength).toBe(32);
    const v = new DataView(data);
    expect([v.getUint32(0, true), v.getUint32(4, true), v.getUint32(8, true), v.getFloat32(12, true), v.getInt32(16, true)]).toEqual([7, 0xffffffff, 0, 0.5, -2]);
  });
  it('names the kernel and the field when a name is missing, unknown, padding or mistyped', () => {
    expect(() => packUniforms('t.go', s, { n: 1, flags: 0, lambda: 1 })).toThrow(/t\.go: uniform TP\.k \(i32\) is missing/);
    expect(() => packUniforms('t.go', s, { n: 1, flags: 0, lambda: 1, k: 0, mode: 1 })).toThrow(/t\.go: "mode" is not a field of TP/);
    expect(() => packUniforms('t.go', s, { n: 1, flags: 0, lambda: 1, k: 0, _p0: 0 })).toThrow(/t\.go: TP\._p0 is padding/);
    expect(() => packUniforms('t.go', s, { n: 1.5, flags: 0, lambda: 1, k: 0 })).toThrow(/t\.go: uniform TP\.n is u32, got 1\.5/);
    expect(() => packUniforms('t.go', s, { n: -1, flags: 0, lambda: 1, k: 0 })).toThrow(/TP\.n is u32, got -1/);
    expect(() => packUniforms('t.go', s, { n: 1, flags: 0, lambda: 1, k: 2 ** 31 })).toThrow(/TP\.k is i32/);
    expect(() => packUniforms('t.go', s, { n: 1, flags: 0, lambda: true as unknown as number, k: 0 })).toThrow(/TP\.lambda is f32, got boolean/);
  });
});

describe('workgroups', () => {
  it('is the 2-D grid of ceil(n / perGroup) workgroups', () => {
    expect(workgroups(0)).toEqual([0, 0]);
    expect(workgroups(1)).toEqual([1, 1]);
    expect(workgroups(256)).toEqual([1, 1]);
    expect(workgroups(257)).toEqual([2, 1]);
    expect(workgroups(4097, 4096)).toEqual([2, 1]);
    expect(workgroups(65536 * 256)).toEqual([65535, 2]);
    expect(workgroups(65535 * 3 * 1024, 1024)).toEqual([65535, 3]);
  });
});

// The one method list (src/methods/specs.ts) and what derives from it: the CPU twins, the CPU
// engine's table, the WebGPU table (tests/gpu/methods.test.ts: it needs WebGPU globals) and
// evolution's tables. A method is one folder; nothing else may keep its own list.
import { describe, expect, it } from 'vitest';
import { METHOD_ENTRIES, METHODS, getMethod } from '../../src/methods/specs';
import { REFERENCE_METHODS } from '../../src/methods/reference';
import { cpuMethod } from '../../src/methods/cpu';
import { PS_METHODS, SAE_METHODS, evolveSpec } from '../../src/evolve/genome-ps';
import { MERGEKIT_EVOLVE_METHODS } from '../../src/evolve/mergekit-evolve';

describe('the method list', () => {
  it('names every method once, each in one folder', () => {
    const names = METHODS.map((m) => m.name);
    expect(new Set(names).size).toBe(names.length);
    expect(METHOD_ENTRIES.map((e) => e.spec)).toEqual(METHODS);
    for (const n of names) expect(getMethod(n).name).toBe(n);
  });

  it('gives every method a CPU twin, and the CPU table nothing else', () => {
    expect([...REFERENCE_METHODS].sort()).toEqual(METHODS.map((m) => m.name).sort());
  });

  it('gives every method a CPU engine implementation: its folder\'s cpu.ts, else its reference twin', () => {
    for (const m of METHODS) expect(cpuMethod(m.name)?.name, m.name).toBe(m.name);
    const exact = METHOD_ENTRIES.filter((e) => cpuMethod(e.spec.name)!.fidelity === 'exact').map((e) => e.folder);
    expect([...new Set(exact)]).toEqual(['linear', 'gta', 'slerp', 'modelStock', 'passthrough', 'cabs', 'nearswap', 'nuslerp', 'multislerp', 'karcher', 'sce', 'ram']);
    expect(cpuMethod('no_such_method')).toBeUndefined();
  });

  it('derives evolution tables from the specs (the tables evolution used to keep by hand)', () => {
    expect([...PS_METHODS].sort()).toEqual(['breadcrumbs', 'cabs', 'dare_ties', 'della', 'linear', 'task_arithmetic', 'ties']);
    expect([...SAE_METHODS].sort()).toEqual(['breadcrumbs', 'cabs', 'dare_ties', 'della', 'ties']);
    expect(PS_METHODS.filter((m) => evolveSpec(m).evolve.densityFloor).sort()).toEqual(['breadcrumbs', 'dare_ties', 'della', 'ties']);
    expect(PS_METHODS.filter((m) => evolveSpec(m).base === 'input')).toEqual(['linear']);
    expect(PS_METHODS.filter((m) => evolveSpec(m).random).sort()).toEqual(['dare_ties', 'della']);
    expect([...MERGEKIT_EVOLVE_METHODS]).toEqual(['linear', 'task_arithmetic', 'ties', 'dare_ties']);
    expect(() => evolveSpec('slerp')).toThrow(/not searchable in parameter space; use one of linear, /);
  });

  it('keeps every evolved gene a per-model numeric parameter of its method', () => {
    for (const m of METHODS.filter((x) => x.evolve)) {
      const genes = [...m.evolve!.genes, ...(m.evolve!.optionalDensityGenes ? (['density'] as const) : [])];
      for (const g of genes) expect(m.params.find((p) => p.name === g), `${m.name}.${g}`).toMatchObject({ scope: 'model', type: 'number' });
      for (const p of [m.evolve!.densityBand, m.evolve!.densityOverriddenBy]) if (p) expect(m.params.some((x) => x.name === p), `${m.name}.${p}`).toBe(true);
    }
  });
});

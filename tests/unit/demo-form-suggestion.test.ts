// A demo's manifest may suggest the Evolution tab's starting form (public/demo-lang suggests a gene
// per layer and weights up to 2, which its composition needs); the user's own choices win.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DEFAULT_FORM, demoFormSuggestion, withSuggestion } from '../../src/store/evolve-config.ts';

describe('demo form suggestions', () => {
  it('keeps only the fields a demo may suggest, with valid values', () => {
    expect(demoFormSuggestion({ layerGroups: 4, weightMax: 2, generations: 12, limit: 20 })).toEqual({ layerGroups: 4, weightMax: 2, generations: 12, limit: 20 });
    expect(demoFormSuggestion({ layerGroups: 0, weightMax: 3, generations: 1.5, limit: '8', method: 'ties', seed: 4 })).toEqual({});
    expect(demoFormSuggestion(undefined)).toEqual({});
    expect(demoFormSuggestion('layerGroups')).toEqual({});
  });

  it('applies a suggestion only where the form still has the default', () => {
    const fresh = withSuggestion(DEFAULT_FORM, { layerGroups: 4, weightMax: 2 });
    expect(fresh.layerGroups).toBe(4);
    expect(fresh.weightMax).toBe(2);
    expect(fresh.method).toBe(DEFAULT_FORM.method);
    const edited = withSuggestion({ ...DEFAULT_FORM, layerGroups: 2 }, { layerGroups: 4, weightMax: 2 });
    expect(edited.layerGroups).toBe(2);
    expect(edited.weightMax).toBe(2);
  });

  it("undoes another demo's suggestion where the user kept it, not where the user changed it", () => {
    const lang = withSuggestion(DEFAULT_FORM, { layerGroups: 4, weightMax: 2 });
    // back on a demo that suggests nothing: both fields return to the default
    expect(withSuggestion(lang, {}, { layerGroups: 4, weightMax: 2 })).toEqual(DEFAULT_FORM);
    // the user moved layer groups to 3 meanwhile: that stays, weights-up-to goes back
    const back = withSuggestion({ ...lang, layerGroups: 3 }, {}, { layerGroups: 4, weightMax: 2 });
    expect(back.layerGroups).toBe(3);
    expect(back.weightMax).toBe(DEFAULT_FORM.weightMax);
    // a demo suggesting other values replaces the kept ones
    expect(withSuggestion(lang, { layerGroups: 2 }, { layerGroups: 4, weightMax: 2 })).toEqual({ ...DEFAULT_FORM, layerGroups: 2 });
  });

  it('public/demo-lang suggests one layer group per layer and weights up to 2', () => {
    const dir = join(__dirname, '..', '..', 'public', 'demo-lang');
    const manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as { evolution?: unknown };
    const config = JSON.parse(readFileSync(join(dir, 'lang-base', 'config.json'), 'utf8')) as { num_hidden_layers: number };
    expect(demoFormSuggestion(manifest.evolution)).toEqual({ layerGroups: config.num_hidden_layers, weightMax: 2 });
  });
});

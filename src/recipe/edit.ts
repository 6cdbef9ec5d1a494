// Named, pure edits of a Recipe: what the studio's controls do. Each takes a recipe and returns a
// new one (never mutates), so undo, persistence and share links see plain values. The method's
// parameter spec (methods/specs.ts) decides which parameters exist; nothing here lists parameters.
// Pure: no DOM, no node: imports.

import { getMethod } from '../methods/specs';
import type { MethodSpec, ParamSpec } from '../methods/spec';
import type { TorchDtypeName } from '../formats/dtype';
import type { FilteredValue, InputModel, ModelRef, OutputSlice, Params, Recipe, Scalar, Setting, SliceSource, ValueOrGradient } from './types';

export type Role = 'base' | 'input' | 'off';

/** Where a parameter lives: the top-level parameters, or one model's entry in `models:`. */
export type ParamTarget = { scope: 'global' } | { scope: 'model'; model: ModelRef };

const clone = <T>(x: T): T => structuredClone(x);

function specOf(recipe: Recipe): MethodSpec | undefined {
  try {
    return getMethod(recipe.merge_method);
  } catch {
    return undefined;
  }
}

// ---- filtered settings ({filter, value} lists) ----------------------------------------------

export function isFilteredList(s: Setting | undefined): s is FilteredValue[] {
  return Array.isArray(s) && s.length > 0 && s.every((x) => typeof x === 'object' && x !== null && !Array.isArray(x) && 'value' in x);
}

/** The value a setting gives for one filter tab (undefined filter = the catch-all), without falling back. */
export function filteredValue(setting: Setting | undefined, filter?: string): ValueOrGradient | undefined {
  if (setting === undefined) return undefined;
  if (!isFilteredList(setting)) return filter === undefined ? (setting as ValueOrGradient) : undefined;
  const hit = setting.find((e) => (filter === undefined ? e.filter === undefined || e.filter === '*' : e.filter === filter));
  return hit?.value;
}

/** The filters a setting names (the catch-all excluded), in order. */
export function filtersOf(setting: Setting | undefined): string[] {
  if (!isFilteredList(setting)) return [];
  return setting.map((e) => e.filter).filter((f): f is string => f !== undefined && f !== '*');
}

/**
 * Sets the value for one filter (undefined = the catch-all) and returns the new setting:
 * filtered entries first (the first match wins in mergekit), the catch-all last; a list left with
 * only a catch-all collapses to its value; `value` undefined removes that entry.
 */
export function setFilteredValue(setting: Setting | undefined, filter: string | undefined, value: ValueOrGradient | undefined): Setting | undefined {
  const entries: FilteredValue[] = isFilteredList(setting)
    ? clone(setting)
    : setting === undefined
      ? []
      : [{ value: clone(setting as ValueOrGradient) }];
  const isCatchAll = (e: FilteredValue) => e.filter === undefined || e.filter === '*';
  const i = entries.findIndex((e) => (filter === undefined ? isCatchAll(e) : e.filter === filter));
  if (value === undefined) {
    if (i >= 0) entries.splice(i, 1);
  } else if (i >= 0) {
    entries[i] = { ...entries[i], value: clone(value) };
  } else if (filter === undefined) {
    entries.push({ value: clone(value) });
  } else {
    const firstCatchAll = entries.findIndex(isCatchAll);
    entries.splice(firstCatchAll < 0 ? entries.length : firstCatchAll, 0, { filter, value: clone(value) });
  }
  if (entries.length === 0) return undefined;
  if (entries.length === 1 && isCatchAll(entries[0])) return entries[0].value;
  return entries;
}

// ---- roles -------------------------------------------------------------------------------------

/** A model's role in the recipe: the base, an input, or not used. */
export function roleOf(recipe: Recipe, ref: ModelRef): Role {
  if (recipe.base_model === ref) return 'base';
  if (recipe.models?.some((m) => m.model === ref)) return 'input';
  if (recipe.slices?.some((s) => s.base_model === ref || s.sources.some((x) => x.model === ref))) return 'input';
  return 'off';
}

/** Default per-model parameters for a model newly added as an input (required ones only). */
function defaultModelParams(spec: MethodSpec | undefined, inputs: number): Params | undefined {
  if (!spec) return undefined;
  const out: Params = {};
  for (const p of spec.params) if (p.scope === 'model' && p.required) out[p.name] = initialValue(p, inputs);
  return Object.keys(out).length ? out : undefined;
}

/** A starting value for a required parameter that has no mergekit default. */
export function initialValue(p: ParamSpec, inputs = 2): Scalar {
  if (p.default !== undefined) return p.default;
  if (p.type === 'boolean') return false;
  if (p.name === 'weight') return round(1 / Math.max(1, inputs), 3);
  const lo = p.min ?? 0;
  const hi = p.max ?? 1;
  return round((lo + hi) / 2, 3);
}

function round(x: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

/**
 * Sets a model's role. `models:` recipes: base → base_model (kept among the inputs only where the
 * method treats the base as an ordinary input, e.g. linear); input → listed in models with the
 * method's required parameters; off → removed. `slices:` recipes: base sets base_model, off removes
 * the model's sources (and empty slices), input adds a source covering `layers` to the first slice.
 */
export function setRole(recipe: Recipe, ref: ModelRef, role: Role, layers = 0): Recipe {
  const r = clone(recipe);
  const spec = specOf(r);
  const wasBase = r.base_model === ref;
  if (r.slices) {
    if (role === 'off') {
      if (wasBase) delete r.base_model;
      r.slices = r.slices
        .map((s) => ({ ...s, ...(s.base_model === ref ? { base_model: undefined } : {}), sources: s.sources.filter((x) => x.model !== ref) }))
        .map((s) => {
          if (s.base_model === undefined) delete s.base_model;
          return s;
        })
        .filter((s) => s.sources.length > 0);
      if (r.slices.length === 0) {
        delete r.slices;
        r.models = [];
      }
      return r;
    }
    if (role === 'base') r.base_model = ref;
    else if (wasBase) delete r.base_model;
    if (!r.slices.some((s) => s.sources.some((x) => x.model === ref)) && (role === 'input' || spec?.base !== 'none')) {
      if (r.slices.length === 0) r.slices.push({ sources: [] });
      r.slices[0].sources.push({ model: ref, layer_range: [0, layers] });
    }
    return r;
  }
  const models = r.models ?? [];
  const baseIsInput = spec?.base === 'input';
  const existing = models.find((m) => m.model === ref);
  if (role === 'off') {
    r.models = models.filter((m) => m.model !== ref);
    if (wasBase) delete r.base_model;
    return r;
  }
  if (role === 'base') {
    r.base_model = ref;
    if (baseIsInput) {
      if (!existing) models.push({ model: ref, ...withParams(defaultModelParams(spec, models.length + 1)) });
      r.models = models;
    } else {
      // GTA, slerp, model_stock: the base is not a task vector; mergekit adds it when missing.
      r.models = models.filter((m) => m.model !== ref);
    }
    return r;
  }
  if (wasBase) delete r.base_model;
  if (!existing) models.push({ model: ref, ...withParams(defaultModelParams(spec, models.length + 1)) });
  r.models = models;
  return r;
}

function withParams(p: Params | undefined): { parameters?: Params } {
  return p ? { parameters: p } : {};
}

// ---- method --------------------------------------------------------------------------------------

/** Keeps the parameters `spec` declares (top level and slices: any scope; a model's entry: per-model ones). */
function pruneParams(params: Params | undefined, spec: MethodSpec, scope: 'model' | 'any'): Params | undefined {
  if (!params) return undefined;
  const out: Params = {};
  for (const [k, v] of Object.entries(params)) {
    const p = spec.params.find((x) => x.name === k);
    if (p && (scope === 'any' || p.scope === 'model')) out[k] = v;
  }
  return Object.keys(out).length ? out : undefined;
}

function setOrDelete<T extends object, K extends keyof T>(o: T, k: K, v: T[K] | undefined): void {
  if (v === undefined) delete o[k];
  else o[k] = v;
}

/**
 * Switches the merge method. Parameters the new method does not declare are dropped, required ones
 * get starting values, and the shape follows the method: passthrough works on slices (one slice
 * per input, covering its layers), the others on `models:`; methods that need a base get one.
 * `layersOf` gives a model's number of layers (for slices); `loaded` lists the models available.
 */
export function setMethod(recipe: Recipe, name: string, layersOf: (ref: ModelRef) => number, loaded: ModelRef[] = []): Recipe {
  const spec = getMethod(name);
  const r = clone(recipe);
  r.merge_method = name;
  setOrDelete(r, 'parameters', pruneParams(r.parameters, spec, 'any'));

  const inputs = (): ModelRef[] => {
    if (r.models) return r.models.map((m) => m.model);
    const out: ModelRef[] = [];
    for (const s of r.slices ?? []) for (const x of s.sources) if (!out.includes(x.model)) out.push(x.model);
    return out;
  };

  if (spec.base === 'none') {
    // Passthrough: stack layers. Keep slices; convert models to one slice per model.
    if (!r.slices) {
      const list = inputs().filter((m) => m !== r.base_model);
      const refs = list.length ? list : r.base_model ? [r.base_model] : loaded.slice(0, 1);
      const first = refs[0];
      r.slices = first === undefined ? [] : [{ sources: [{ model: first, layer_range: [0, layersOf(first)] }] }];
      delete r.models;
    }
    delete r.base_model;
    r.slices = r.slices.map((s) => {
      const o: OutputSlice = { sources: s.sources.map((x) => ({ ...x, ...withParams(pruneParams(x.parameters, spec, 'model')) })) };
      for (const x of o.sources) if (!x.parameters) delete x.parameters;
      const sp = pruneParams(s.parameters, spec, 'any');
      if (sp) o.parameters = sp;
      return o;
    });
    return r;
  }

  // Every other method: models: (a frankenmerge's slices are flattened to their models).
  if (r.slices) {
    const refs = inputs();
    r.models = refs.map((m) => ({ model: m }));
    delete r.slices;
  }
  const needsBase = spec.base === 'required' || spec.base === 'slerp';
  let models: InputModel[] = r.models ?? [];
  if (needsBase && r.base_model === undefined) {
    const first = models[0]?.model ?? loaded[0];
    if (first !== undefined) r.base_model = first;
  }
  if (spec.base !== 'input' && r.base_model !== undefined) models = models.filter((m) => m.model !== r.base_model);
  if (spec.base === 'input' && r.base_model !== undefined && !models.some((m) => m.model === r.base_model)) models.unshift({ model: r.base_model });
  if (spec.base === 'slerp') models = models.slice(0, 1);
  if (models.length === 0) {
    const other = loaded.find((m) => m !== r.base_model);
    if (other !== undefined) models.push({ model: other });
  }
  const n = models.length;
  r.models = models.map((m) => {
    const keep = pruneParams(m.parameters, spec, 'model') ?? {};
    const isBase = m.model === r.base_model && spec.base !== 'input';
    if (!isBase)
      for (const p of spec.params)
        if (p.scope === 'model' && p.required && keep[p.name] === undefined && r.parameters?.[p.name] === undefined) keep[p.name] = initialValue(p, n);
    const o: InputModel = { model: m.model };
    if (Object.keys(keep).length) o.parameters = keep;
    return o;
  });
  for (const p of spec.params) {
    if (p.scope === 'global' && p.required && r.parameters?.[p.name] === undefined) r.parameters = { ...(r.parameters ?? {}), [p.name]: initialValue(p, n) };
  }
  return r;
}

// ---- parameters -----------------------------------------------------------------------------------

export function getParam(recipe: Recipe, target: ParamTarget, name: string): Setting | undefined {
  if (target.scope === 'global') return recipe.parameters?.[name];
  return recipe.models?.find((m) => m.model === target.model)?.parameters?.[name];
}

/** Sets (or, with undefined, removes) a parameter at the top level or on one model of `models:`. */
export function setParam(recipe: Recipe, target: ParamTarget, name: string, setting: Setting | undefined): Recipe {
  const r = clone(recipe);
  const put = (params: Params | undefined): Params | undefined => {
    const p: Params = { ...(params ?? {}) };
    if (setting === undefined) delete p[name];
    else p[name] = clone(setting);
    return Object.keys(p).length ? p : undefined;
  };
  if (target.scope === 'global') {
    setOrDelete(r, 'parameters', put(r.parameters));
    return r;
  }
  if (r.models) {
    const m = r.models.find((x) => x.model === target.model);
    if (m) setOrDelete(m, 'parameters', put(m.parameters));
  }
  return r;
}

/** Sets the value of one filter tab of a parameter (see setFilteredValue). */
export function setParamFiltered(recipe: Recipe, target: ParamTarget, name: string, filter: string | undefined, value: ValueOrGradient | undefined): Recipe {
  return setParam(recipe, target, name, setFilteredValue(getParam(recipe, target, name), filter, value));
}

// ---- gradients ------------------------------------------------------------------------------------

/** Turns a scalar into a gradient of `anchors` equal anchors (a per-layer curve), or keeps a list. */
export function toGradient(value: ValueOrGradient | undefined, anchors = 3, fallback = 0.5): number[] {
  if (Array.isArray(value)) return value.map((v) => (typeof v === 'number' ? v : Number(v)));
  const v = typeof value === 'number' ? value : typeof value === 'boolean' ? Number(value) : fallback;
  return Array.from({ length: Math.max(2, anchors) }, () => v);
}

/** A gradient with one anchor more or less, resampled so the curve keeps its shape. */
export function resampleGradient(values: number[], anchors: number): number[] {
  const n = Math.max(2, Math.min(64, anchors));
  if (values.length === 0) return Array.from({ length: n }, () => 0);
  if (values.length === 1) return Array.from({ length: n }, () => values[0]);
  return Array.from({ length: n }, (_, i) => {
    const t = i / (n - 1);
    const x = t * (values.length - 1);
    const i0 = Math.trunc(x);
    const i1 = Math.min(values.length - 1, i0 + 1);
    const f = x - i0;
    return round((1 - f) * values[i0] + f * values[i1], 4);
  });
}

// ---- slices -----------------------------------------------------------------------------------------

export function setSlices(recipe: Recipe, slices: OutputSlice[]): Recipe {
  const r = clone(recipe);
  r.slices = clone(slices);
  delete r.models;
  return r;
}

export function addSlice(recipe: Recipe, source: SliceSource): Recipe {
  return setSlices(recipe, [...(recipe.slices ?? []), { sources: [clone(source)] }]);
}

export function removeSlice(recipe: Recipe, index: number): Recipe {
  return setSlices(recipe, (recipe.slices ?? []).filter((_, i) => i !== index));
}

export function moveSlice(recipe: Recipe, index: number, delta: -1 | 1): Recipe {
  const s = [...(recipe.slices ?? [])];
  const j = index + delta;
  if (j < 0 || j >= s.length) return recipe;
  [s[index], s[j]] = [s[j], s[index]];
  return setSlices(recipe, s);
}

export function updateSliceSource(recipe: Recipe, slice: number, source: number, patch: Partial<SliceSource>): Recipe {
  const s = clone(recipe.slices ?? []);
  const src = s[slice]?.sources[source];
  if (!src) return recipe;
  Object.assign(src, clone(patch));
  return setSlices(recipe, s);
}

// ---- top-level options -----------------------------------------------------------------------------

export function setSeed(recipe: Recipe, seed: number | undefined): Recipe {
  const r = clone(recipe);
  setOrDelete(r, 'random_seed', seed === undefined || !Number.isFinite(seed) ? undefined : Math.max(0, Math.trunc(seed)));
  return r;
}

export function setDtype(recipe: Recipe, key: 'dtype' | 'out_dtype', value: TorchDtypeName | undefined): Recipe {
  const r = clone(recipe);
  setOrDelete(r, key, value);
  return r;
}

/**
 * The tokenizer source: `tokenizer.source` when the recipe has a tokenizer: block, else
 * tokenizer_source (undefined: no tokenizer setting, the tokenizer files are copied).
 */
export function setTokenizerSource(recipe: Recipe, value: 'union' | 'base' | ModelRef | undefined): Recipe {
  const r = clone(recipe);
  if (r.tokenizer) {
    if (value === undefined) delete r.tokenizer;
    else r.tokenizer.source = value;
  } else setOrDelete(r, 'tokenizer_source', value);
  return r;
}

/** chat_template: undefined keeps the tokenizer's own. */
export function setChatTemplate(recipe: Recipe, value: string | undefined): Recipe {
  const r = clone(recipe);
  setOrDelete(r, 'chat_template', value);
  return r;
}

/** Renames a model reference everywhere in the recipe. */
export function renameModel(recipe: Recipe, from: ModelRef, to: ModelRef): Recipe {
  if (from === to) return recipe;
  const r = clone(recipe);
  const fix = (m: ModelRef | undefined) => (m === from ? to : m);
  if (r.base_model !== undefined) r.base_model = fix(r.base_model);
  for (const m of r.models ?? []) m.model = fix(m.model)!;
  for (const s of r.slices ?? []) {
    if (s.base_model !== undefined) s.base_model = fix(s.base_model);
    for (const x of s.sources) x.model = fix(x.model)!;
  }
  if (typeof r.tokenizer_source === 'string' && r.tokenizer_source === from) r.tokenizer_source = to;
  return r;
}

/** A starting recipe for a set of loaded models: the first is the base, the others inputs. */
export function defaultRecipe(refs: ModelRef[], method = 'ties'): Recipe {
  const spec = getMethod(method);
  const [base, ...rest] = refs;
  const r: Recipe = { merge_method: method, models: [] };
  if (base !== undefined) r.base_model = base;
  r.models = rest.map((m) => ({ model: m, ...withParams(defaultModelParams(spec, rest.length)) }));
  if (spec.base === 'input' && base !== undefined) r.models.unshift({ model: base, ...withParams(defaultModelParams(spec, refs.length)) });
  return r;
}

// Parameter resolution, exactly as mergekit's ConfigReader does it (config.py: evaluate_setting and
// ConfigReader.parameter). Pure: no DOM, no node: imports.
//
// Lookup order for one parameter of one tensor (the first value that is not undefined wins):
//   1. the parameters of the slice source (or models[i] entry) for the model in question — only
//      for per-model parameters;
//   2. the output slice's parameters;
//   3. the top-level parameters.
// (mergekit's level 3, per-module parameters, does not exist here: modules: is rejected.)
// A value that is a conditional list and matches no filter counts as undefined and falls through.

import { RecipeError } from '../errors';
import type { MethodSpec, ParamSpec, ParamValue } from '../methods/spec';
import type { FilteredValue, ModelRef, OutputSlice, Params, Recipe, Scalar, Setting } from './types';

function isFiltered(x: unknown): x is FilteredValue {
  return typeof x === 'object' && x !== null && !Array.isArray(x) && 'value' in x;
}

/**
 * mergekit's evaluate_setting. `t` is the position within the output slice (§0.5), `tensorName` the
 * name filters are matched against.
 *  - a scalar is returned as is;
 *  - a list of numbers is a piecewise-linear gradient with evenly spaced anchors
 *    (booleans count as 0/1 there, as pydantic turns them into floats);
 *  - a list of other scalars is a step function v[floor(t·(len−1))];
 *  - a list of {filter?, value}: the first entry whose filter is absent, "*", or a substring of the
 *    tensor name decides; no match → undefined.
 */
export function evaluateSetting(setting: Setting, t: number, tensorName: string): Scalar | undefined {
  if (!Array.isArray(setting)) return setting;
  if (setting.length === 0) return undefined;
  if (setting.some(isFiltered)) {
    for (const cond of setting as FilteredValue[]) {
      if (!isFiltered(cond)) continue;
      const f = cond.filter;
      if (f === undefined || f === '*' || (tensorName !== '' && tensorName.includes(f))) {
        return evaluateSetting(cond.value, t, tensorName);
      }
    }
    return undefined;
  }
  const list = setting as Scalar[];
  if (list.every((v) => typeof v === 'number' || typeof v === 'boolean')) {
    const v = list.map(Number);
    const scaled = t * (v.length - 1);
    const i0 = Math.trunc(scaled);
    const i1 = Math.min(v.length - 1, i0 + 1);
    const frac = scaled - i0;
    return (1 - frac) * v[i0] + frac * v[i1];
  }
  return list[Math.trunc(t * (list.length - 1))];
}

/** Where a lookup happens: the output slice being planned and the gradient position in it. */
export interface ResolveScope {
  /** The output slice (a `models:` recipe is one slice whose sources are the models). */
  slice?: OutputSlice;
  /** Position within the slice: i/(L−1) for layer i of L; 1 for a one-layer slice; 0 for pre/post weights. */
  t: number;
}

/** The parameter lookup of one method for one recipe (mergekit's ConfigReader.parameter). */
export class ParameterResolver {
  readonly spec: MethodSpec;
  constructor(
    readonly recipe: Recipe,
    spec: MethodSpec,
  ) {
    this.spec = spec;
  }

  private param(p: ParamSpec | string): ParamSpec {
    if (typeof p !== 'string') return p;
    const found = this.spec.params.find((x) => x.name === p);
    if (!found) throw new RecipeError(`merge_method ${this.spec.name} has no parameter "${p}"`, { key: p });
    return found;
  }

  /**
   * The raw lookup without the required/default step: the first level whose value for `name` is
   * not undefined. `model` given → the slice source's parameters for that model are tried first.
   */
  lookup(name: string, tensorName: string, scope: ResolveScope, model?: ModelRef): Scalar | undefined {
    const levels: (Params | undefined)[] = [];
    if (scope.slice) {
      if (model !== undefined) {
        // mergekit walks every source of the model (a model may appear more than once).
        for (const s of scope.slice.sources) if (s.model === model) levels.push(s.parameters);
      }
      levels.push(scope.slice.parameters);
    }
    levels.push(this.recipe.parameters);
    for (const params of levels) {
      if (!params || !Object.prototype.hasOwnProperty.call(params, name)) continue;
      const v = evaluateSetting(params[name], scope.t, tensorName);
      if (v !== undefined) return v;
    }
    return undefined;
  }

  /** A global parameter, matched against the OUTPUT tensor name. */
  global(p: ParamSpec | string, outputTensor: string, scope: ResolveScope): ParamValue | undefined {
    const spec = this.param(p);
    const v = this.lookup(spec.name, outputTensor, scope);
    if (v === undefined) {
      if (spec.required) throw new RecipeError(`Missing required parameter ${spec.name} for tensor ${outputTensor}`, { key: spec.name, tensor: outputTensor });
      return spec.default;
    }
    return coerce(spec, v, outputTensor);
  }

  /**
   * A per-model parameter, matched against the INPUT tensor name (which carries the source layer
   * index). A required parameter is not required for the base model (`isBase`).
   */
  perModel(p: ParamSpec | string, model: ModelRef, inputTensor: string, scope: ResolveScope, isBase = false): ParamValue | undefined {
    const spec = this.param(p);
    const v = this.lookup(spec.name, inputTensor, scope, model);
    if (v === undefined) {
      if (spec.required && !isBase)
        throw new RecipeError(`Missing required parameter ${spec.name} for model ${model}, tensor ${inputTensor}`, {
          key: spec.name,
          model,
          tensor: inputTensor,
        });
      return spec.default;
    }
    return coerce(spec, v, inputTensor, model);
  }

  /** Every global parameter of the method for one output tensor (undefined ones left out). */
  globals(outputTensor: string, scope: ResolveScope): Record<string, ParamValue> {
    const out: Record<string, ParamValue> = {};
    for (const p of this.spec.params) {
      if (p.scope !== 'global') continue;
      const v = this.global(p, outputTensor, scope);
      if (v !== undefined) out[p.name] = v;
    }
    return out;
  }

  /** Every per-model parameter of the method for one input (undefined ones left out). */
  perModelAll(model: ModelRef, inputTensor: string, scope: ResolveScope, isBase = false): Record<string, ParamValue> {
    const out: Record<string, ParamValue> = {};
    for (const p of this.spec.params) {
      if (p.scope !== 'model') continue;
      const v = this.perModel(p, model, inputTensor, scope, isBase);
      if (v !== undefined) out[p.name] = v;
    }
    return out;
  }
}

/** Bring a looked-up value to the parameter's declared type (mergekit/pydantic turn bools into floats). */
function coerce(spec: ParamSpec, v: Scalar, tensor: string, model?: string): ParamValue {
  if (spec.type === 'number') {
    if (typeof v === 'number') return v;
    if (typeof v === 'boolean') return v ? 1 : 0;
  } else {
    if (typeof v === 'boolean') return v;
    if (typeof v === 'number') return v !== 0;
  }
  const where = model ? `model ${model}, tensor ${tensor}` : `tensor ${tensor}`;
  throw new RecipeError(`parameter ${spec.name} must be ${spec.type === 'number' ? 'a number' : 'true or false'}, got ${JSON.stringify(v)} (${where})`, {
    key: spec.name,
    tensor,
    model,
  });
}

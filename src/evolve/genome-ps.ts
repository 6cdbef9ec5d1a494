// Parameter-space genome (Akiba et al., "Evolutionary Optimization of Model Merging Recipes", PS;
// mergekit-evolve's layout): per layer group × model × parameter set (one per filter, plus one for
// every other tensor) × method parameter, one gene in [0, 1]. A genome decodes into a Recipe, so a
// candidate is always something the editor, the YAML writer and the share link already understand.
//
// Decisions (papers.md §1.1 and §6):
//  - Genes live in [0, 1] (Akiba: x0 = 0.5, σ0 = 1/6 is Optuna's [0, 1] box). A weight gene is
//    scaled to [0, weightMax] (1 or 2: the paper's evolved weights sum to ≈ 2, which needs
//    normalize off and weights above 1). A density gene spans the range the method can run:
//    [densityMin, 1] (TIES refuses floor(density·numel) = 0, so densityMin should be at least
//    1/smallest-tensor; see psSafeDensityMin), and for della the open interval DELLA's keep
//    probabilities allow, (|ε|, 1 − |ε|), shrunk by DELLA_MARGIN.
//  - Which methods can be searched, their genes, density floor and band come from each method's
//    spec (`evolve`, methods/<folder>/spec.ts); nothing here names a method.
//  - Gene order is mergekit-evolve's [group][model][parameter set][parameter], so an exported
//    mergekit-evolve genome and ours index the same way.
//  - One layer group: `models:` with scalars (or filter lists). Several: `slices:`, one per group,
//    every model a source over the group's layer_range, the base a source without parameters
//    (mergekit-evolve's discrete layout). The planner then resolves each tensor exactly as mergekit:
//    layer tensors take their group's genes; embeddings take the FIRST group's, the final norm and
//    lm_head the LAST group's (pre/post weights come from the first/last slice); with filters, a
//    tensor matching no filter (norms, embeddings, lm_head) takes the group's "rest" genes.
//  - Groups need not divide the layers evenly: group g covers [⌊g·L/G⌋, ⌊(g+1)·L/G⌋).
//  - Decoded values are rounded to 6 decimals so the YAML stays readable; the decoded recipe is
//    what gets evaluated, so the rounding is part of the genome → recipe map.
//  - `fixed` holds the method's other parameters (lambda, epsilon, gamma, block_size, …) and goes to
//    the top-level `parameters:`, where the resolver finds per-model ones for every model too.
//  - CABS: the genes are the per-model weights λₖ (CABS+'s λ search); density / block_keep /
//    block_size come from `fixed` unless `densityGenes` asks for per-model density genes (SAE
//    needs those: it prunes by capping density genes).

import { RecipeError } from '../errors';
import { getMethod, METHODS } from '../methods/specs';
import type { EvolveGene, EvolveSpec, MethodSpec } from '../methods/spec';
import type { ModelInfo } from '../formats/model-info';
import type { FilteredValue, InputModel, OutputSlice, Params, Recipe, Setting, SliceSource } from '../recipe/types';

/** A merge method evolution can search: its spec says how (`evolve`, methods/<folder>/spec.ts). */
export type PsMethod = string;
/** The searchable methods, in the method list's order: every spec with `evolve`. */
export const PS_METHODS: readonly PsMethod[] = METHODS.filter((m) => m.evolve).map((m) => m.name);
/** Sparsity-aware evolution prunes by capping density genes: the searchable methods that have them. */
export const SAE_METHODS: readonly PsMethod[] = METHODS.filter((m) => m.evolve && (m.evolve.genes.includes('density') || m.evolve.optionalDensityGenes)).map((m) => m.name);
export type PsFilter = 'self_attn' | 'mlp';
export type PsParam = EvolveGene;

/** The spec of a searchable method; RecipeError naming the searchable ones otherwise. */
export function evolveSpec(method: PsMethod): MethodSpec & { evolve: EvolveSpec } {
  const spec = METHODS.find((m) => m.name === method);
  if (!spec?.evolve)
    throw new RecipeError(`evolution method "${String(method)}" is not searchable in parameter space; use one of ${PS_METHODS.join(', ')}`, { key: 'method' });
  return spec as MethodSpec & { evolve: EvolveSpec };
}

export interface PsSpace {
  method: PsMethod;
  base?: string;
  /** The models that get genes (the base is not one of them). */
  models: string[];
  /** Transformer layers of the models (all must have this many). */
  numLayers: number;
  /** Number of layer groups; 1 = one set of genes per model for all layers. */
  layerGroups: number;
  /** Split each group's genes per filter; tensors matching none get their own ("rest") genes. */
  filters?: PsFilter[];
  /** Upper end of the weight range: 1 (default) or up to 2. */
  weightMax?: number;
  /** Writes parameters.normalize (absent: the method's default). */
  normalize?: boolean;
  /** Other method parameters, fixed for the whole search (lambda, epsilon, gamma, block_size, …). */
  fixed?: Params;
  /** random_seed of the decoded recipes (dare_ties, della). */
  seedForRandom?: number;
  /** Lower end of decoded densities (default 0). */
  densityMin?: number;
  /** cabs only: evolve a per-model density too (default false: density comes from `fixed`). */
  densityGenes?: boolean;
}

export interface PsGene {
  index: number;
  model: string;
  modelIndex: number;
  group: number;
  /** Half-open layer range of the group. */
  layers: [number, number];
  /** The filter of the parameter set; null = the tensors no filter matches (or all, without filters). */
  filter: PsFilter | null;
  param: PsParam;
  label: string;
}

/** DELLA needs density − |ε| > 0 and density + |ε| < 1 strictly; decoded densities keep this margin (any `densityBand`). */
export const DELLA_MARGIN = 1e-4;
const DECIMALS = 1e6;

const round6 = (v: number): number => Math.round(v * DECIMALS) / DECIMALS;
const clamp01 = (g: number): number => (g > 1 ? 1 : g >= 0 ? g : 0); // NaN → 0

/** Rounds to 6 decimals without leaving [lo, hi]. */
function roundIn(v: number, lo: number, hi: number): number {
  let r = round6(v);
  if (r < lo) r = Math.ceil(lo * DECIMALS) / DECIMALS;
  if (r > hi) r = Math.floor(hi * DECIMALS) / DECIMALS;
  return r;
}

/** The per-model parameters that are genes for this space, in gene order (weight first). */
export function psParams(space: PsSpace): PsParam[] {
  const e = evolveSpec(space.method).evolve;
  const genes = [...e.genes];
  if (e.optionalDensityGenes && space.densityGenes && !genes.includes('density')) genes.push('density');
  return genes;
}

/** Half-open layer range of every group. */
export function psGroupRanges(space: PsSpace): [number, number][] {
  const L = space.numLayers;
  const G = space.layerGroups;
  return Array.from({ length: G }, (_, g) => [Math.floor((g * L) / G), Math.floor(((g + 1) * L) / G)] as [number, number]);
}

function paramSets(space: PsSpace): (PsFilter | null)[] {
  return [...(space.filters ?? []), null];
}

/** Throws RecipeError naming the field when the space cannot produce valid recipes. */
export function validatePsSpace(space: PsSpace): void {
  const spec = evolveSpec(space.method);
  if (!Array.isArray(space.models) || space.models.length === 0) throw new RecipeError('the parameter-space search needs at least one model', { key: 'models' });
  const seen = new Set<string>();
  for (const m of space.models) {
    if (typeof m !== 'string' || m === '') throw new RecipeError(`every model must be a non-empty reference, got ${JSON.stringify(m)}`, { key: 'models' });
    if (seen.has(m)) throw new RecipeError(`model ${m} is listed twice; each model gets its genes once`, { key: 'models', model: m });
    seen.add(m);
  }
  if (spec.base === 'input') {
    if (space.base !== undefined)
      throw new RecipeError(
        `linear treats base_model as an ordinary input that needs its own weight; leave base out and list ${space.base} among the models if it should be mixed in`,
        { key: 'base_model', model: space.base },
      );
  } else {
    if (space.base === undefined || space.base === '') throw new RecipeError(`${space.method} needs a base model (the task vectors are model − base)`, { key: 'base_model' });
    if (seen.has(space.base))
      throw new RecipeError(`the base model ${space.base} is also listed among the models; ${space.method} gives the base no weight, remove it from the models`, {
        key: 'models',
        model: space.base,
      });
  }
  if (!Number.isInteger(space.numLayers) || space.numLayers < 1) throw new RecipeError(`numLayers must be a positive integer, got ${space.numLayers}`, { key: 'numLayers' });
  if (!Number.isInteger(space.layerGroups) || space.layerGroups < 1 || space.layerGroups > space.numLayers)
    throw new RecipeError(`layerGroups must be an integer from 1 to the ${space.numLayers} layers, got ${space.layerGroups}`, { key: 'layerGroups' });
  const filters = space.filters ?? [];
  for (const f of filters) {
    if (f !== 'self_attn' && f !== 'mlp') throw new RecipeError(`filter "${String(f)}" is not supported; use self_attn and/or mlp`, { key: 'filters' });
  }
  if (new Set(filters).size !== filters.length) throw new RecipeError(`filters lists a filter twice: ${filters.join(', ')}`, { key: 'filters' });
  const wMax = space.weightMax ?? 1;
  if (!(wMax > 0 && wMax <= 2)) throw new RecipeError(`weightMax must be in (0, 2], got ${wMax}`, { key: 'weightMax' });
  const dMin = space.densityMin ?? 0;
  if (!(dMin >= 0 && dMin < 1)) throw new RecipeError(`densityMin must be in [0, 1), got ${dMin}`, { key: 'densityMin' });
  if (space.densityGenes && !spec.evolve.optionalDensityGenes)
    throw new RecipeError(`densityGenes applies to cabs only; ${space.method} ${psParams(space).includes('density') ? 'always evolves' : 'has no'} density`, { key: 'densityGenes' });
  if (space.seedForRandom !== undefined && !(Number.isSafeInteger(space.seedForRandom) && space.seedForRandom >= 0))
    throw new RecipeError(`seedForRandom must be a non-negative integer, got ${space.seedForRandom}`, { key: 'random_seed' });

  const genes = new Set<string>(psParams(space));
  for (const [k, v] of Object.entries(space.fixed ?? {})) {
    const p = spec.params.find((x) => x.name === k);
    if (!p) throw new RecipeError(`fixed parameter "${k}" is not a parameter of ${space.method} (it has ${spec.params.map((x) => x.name).join(', ')})`, { key: k });
    if (genes.has(k)) throw new RecipeError(`fixed parameter "${k}" is evolved by the genome; remove it from fixed`, { key: k });
    if (v === undefined || v === null) throw new RecipeError(`fixed parameter "${k}" has no value`, { key: k });
  }
  if (space.normalize !== undefined) {
    if (!spec.params.some((p) => p.name === 'normalize')) throw new RecipeError(`${space.method} has no normalize parameter`, { key: 'normalize' });
    if (space.fixed && 'normalize' in space.fixed) throw new RecipeError('normalize is given both as a space option and in fixed; give it once', { key: 'normalize' });
  }
  const over = spec.evolve.densityOverriddenBy;
  if (over && space.densityGenes && space.fixed && over in space.fixed)
    throw new RecipeError(`${space.method}: a fixed ${over} overrides the density genes (${over} wins over density); remove one`, { key: over });
  const band = spec.evolve.densityBand;
  if (band) {
    const [lo, hi] = densityRange(space);
    if (!(lo < hi)) throw new RecipeError(`${space.method}: ${band} ${bandWidth(space, band)} leaves no valid density (needs |${band}| < 0.5)`, { key: band });
  }
}

/** The value of the method's density-band parameter (DELLA's epsilon): fixed, else the spec default. */
function bandWidth(space: PsSpace, band: string): number {
  const e = space.fixed?.[band];
  if (e === undefined) {
    const d = getMethod(space.method).params.find((p) => p.name === band)?.default;
    if (typeof d !== 'number') throw new RecipeError(`${space.method}: ${band} has no default; fix it in the space`, { key: band });
    return d;
  }
  if (typeof e !== 'number' || !Number.isFinite(e))
    throw new RecipeError(`${space.method}: fixed ${band} must be one finite number when density is evolved (it bounds the density range), got ${JSON.stringify(e)}`, { key: band });
  return e;
}

/** [lo, hi] of decoded densities. */
function densityRange(space: PsSpace): [number, number] {
  const dMin = space.densityMin ?? 0;
  const band = evolveSpec(space.method).evolve.densityBand;
  if (band) {
    const a = Math.abs(bandWidth(space, band)) + DELLA_MARGIN;
    return [Math.max(dMin, a), 1 - a];
  }
  return [dMin, 1];
}

/** The value a gene decodes to (weights scaled to [0, weightMax], densities to the method's range). */
export function psDecodeGene(space: PsSpace, param: PsParam, g: number): number {
  const x = clamp01(g);
  if (param === 'weight') {
    const w = space.weightMax ?? 1;
    return roundIn(x * w, 0, w);
  }
  const [lo, hi] = densityRange(space);
  return roundIn(lo + x * (hi - lo), lo, hi);
}

/** The largest density gene whose decoded density does not exceed `density` (SAE's cap); 0 (the method's lowest density) when `density` is below the range. */
export function psDensityGene(space: PsSpace, density: number): number {
  const [lo, hi] = densityRange(space);
  if (density <= lo) return 0;
  if (density >= hi) return 1;
  let g = (density - lo) / (hi - lo);
  // Rounding the decoded value up must not exceed the cap: step down until it does not.
  while (g > 0 && psDecodeGene(space, 'density', g) > density) g = Math.max(0, g - 1 / (DECIMALS * (hi - lo)));
  return g;
}

function groupLabel(space: PsSpace, r: [number, number]): string {
  return r[1] - r[0] === 1 ? `layer ${r[0]}` : `layers ${r[0]}–${r[1] - 1}`;
}

/** Every gene with its coordinates and a human label, in genome order. */
export function psGenes(space: PsSpace): PsGene[] {
  validatePsSpace(space);
  const params = psParams(space);
  const sets = paramSets(space);
  const ranges = psGroupRanges(space);
  const hasFilters = sets.length > 1;
  const out: PsGene[] = [];
  ranges.forEach((layers, group) => {
    space.models.forEach((model, modelIndex) => {
      for (const filter of sets) {
        for (const param of params) {
          const parts = [model, groupLabel(space, layers)];
          if (hasFilters) parts.push(filter ?? 'rest');
          parts.push(param);
          out.push({ index: out.length, model, modelIndex, group, layers, filter, param, label: parts.join(' · ') });
        }
      }
    });
  });
  return out;
}

export function psDimension(space: PsSpace): number {
  validatePsSpace(space);
  return space.layerGroups * space.models.length * paramSets(space).length * psParams(space).length;
}

export function psGeneNames(space: PsSpace): string[] {
  return psGenes(space).map((g) => g.label);
}

export function psBounds(space: PsSpace): { lower: number[]; upper: number[] } {
  const n = psDimension(space);
  return { lower: new Array<number>(n).fill(0), upper: new Array<number>(n).fill(1) };
}

/** Akiba's start: every gene at the middle of its range. */
export function psInitialMean(space: PsSpace): number[] {
  return new Array<number>(psDimension(space)).fill(0.5);
}

/**
 * A density floor that keeps TIES-style magnitude pruning valid on every tensor: floor(d·n) ≥ 1
 * for the smallest tensor (mergekit refuses k = 0). Pass the models' headers.
 */
export function psSafeDensityMin(models: Iterable<ModelInfo>): number {
  let smallest = Infinity;
  for (const m of models) {
    for (const t of m.tensors.values()) {
      const n = t.shape.reduce((a, b) => a * b, 1);
      if (n > 0 && n < smallest) smallest = n;
    }
  }
  if (!Number.isFinite(smallest)) return 0;
  // 1/n itself may round so that (1/n)·n < 1; the next 6-decimal step up is safe.
  return Math.min(1, Math.ceil((1 / smallest) * DECIMALS + 1) / DECIMALS);
}

/** The genome → Recipe map. Genes outside [0, 1] are clamped. */
export function decodePs(space: PsSpace, x: readonly number[]): Recipe {
  const genes = psGenes(space);
  if (x.length !== genes.length) throw new RecipeError(`the genome has ${x.length} genes but this parameter space has ${genes.length}`, { key: 'genome' });
  const params = psParams(space);
  const sets = paramSets(space);
  const ranges = psGroupRanges(space);
  const K = space.models.length;
  const perSet = params.length;
  const at = (group: number, model: number, set: number, p: number): number => ((group * K + model) * sets.length + set) * perSet + p;

  const modelParams = (group: number, model: number): Params => {
    const out: Params = {};
    params.forEach((param, p) => {
      if (sets.length === 1) {
        out[param] = psDecodeGene(space, param, x[at(group, model, 0, p)]);
      } else {
        out[param] = sets.map((filter, s): FilteredValue => {
          const value = psDecodeGene(space, param, x[at(group, model, s, p)]);
          return filter ? { filter, value } : { value };
        }) as Setting;
      }
    });
    return out;
  };

  const recipe: Recipe = { merge_method: space.method };
  if (space.base !== undefined) recipe.base_model = space.base;
  if (space.layerGroups === 1) {
    recipe.models = space.models.map((model, k): InputModel => ({ model, parameters: modelParams(0, k) }));
  } else {
    recipe.slices = ranges.map((range, g): OutputSlice => {
      const sources: SliceSource[] = space.models.map((model, k) => ({ model, layer_range: [range[0], range[1]], parameters: modelParams(g, k) }));
      if (space.base !== undefined) sources.push({ model: space.base, layer_range: [range[0], range[1]] });
      return { sources };
    });
  }
  const top: Params = { ...(space.fixed ?? {}) };
  if (space.normalize !== undefined) top.normalize = space.normalize;
  if (Object.keys(top).length > 0) recipe.parameters = top;
  if (space.seedForRandom !== undefined) recipe.random_seed = space.seedForRandom;
  return recipe;
}

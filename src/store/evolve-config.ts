// The evolution form → an EvolveConfig for the engine (pure: unit-tested in Node). The form speaks
// the user's words (run kind, method, base and experts, layer groups, β); the config is what
// evolve/run.ts validates and runs. Everything that can be known from the shelf's headers is
// checked here first, so a bad choice is a message next to the form, not a failed run.
import { OptimizerError, RecipeError } from '../errors';
import { evolveSpec, PS_METHODS, psDimension, psSafeDensityMin, SAE_METHODS, type PsFilter, type PsMethod, type PsSpace } from '../evolve/genome-ps';
import { getMethod } from '../methods/specs';
import type { DfsSpace } from '../evolve/genome-dfs';
import type { EvolveConfig } from '../evolve/run';
import type { ModelInfo } from '../formats/model-info';
import type { Recipe } from '../recipe/types';
import { recipeModels } from '../recipe/model-card';

/** psdfs: a data-flow run whose model A is the best recipe of a finished parameter-space run. */
export type RunKind = 'ps' | 'dfs' | 'psdfs' | 'sae';

export const RUN_KINDS: { id: RunKind; label: string }[] = [
  { id: 'ps', label: 'Parameter space (PS)' },
  { id: 'dfs', label: 'Data-flow (DFS)' },
  { id: 'psdfs', label: 'PS + DFS' },
  { id: 'sae', label: 'Sparsity-aware (SAE)' },
];

export interface EvolveForm {
  kind: RunKind;
  method: PsMethod;
  /** null: the recipe's base model. '' = none (linear). */
  base: string | null;
  /** null: every other model of the recipe. */
  experts: string[] | null;
  layerGroups: number;
  filters: PsFilter[];
  weightMax: 1 | 2;
  /** PS: measure the merged delta's sparsity (charts, Pareto front); needs a base. */
  measureSparsity: boolean;
  /** β: how much sparsity is worth (PS sparsity term and SAE). */
  beta: number;
  /** ω: weight of fitness (SAE; PS uses 1). */
  omega: number;
  archiveSize: number;
  sparsityTerm: 'absolute' | 'relative';
  layerWise: boolean;
  dfsA: string | null;
  dfsB: string | null;
  repeats: number;
  scales: boolean;
  /** PS + DFS: the run whose best recipe is model A. */
  fromRun: string | null;
  generations: number;
  seed: number;
  /** Items per eval set per evaluation. */
  limit: number;
  /** null: the optimizer's default population (CMA-ES 4 + ⌊3 ln n⌋; SAE the archive size). */
  popSize: number | null;
}

export const DEFAULT_FORM: EvolveForm = {
  kind: 'ps',
  // Task arithmetic does not renormalise weights, so a weight gene is the strength of its task
  // vector: the search starts at half strength (gene 0.5) and climbs to what the task vectors need.
  // (TIES renormalises weights up to 1: on the demo's experts every weighting is the same merge, and
  // the first run a user starts drew a flat line.)
  method: 'task_arithmetic',
  base: null,
  experts: null,
  layerGroups: 1,
  filters: [],
  weightMax: 1,
  measureSparsity: true,
  beta: 0,
  omega: 1,
  archiveSize: 6,
  sparsityTerm: 'absolute',
  layerWise: false,
  dfsA: null,
  dfsB: null,
  repeats: 1,
  scales: false,
  fromRun: null,
  generations: 10,
  seed: 0,
  limit: 16,
  popSize: null,
};

/**
 * A demo's suggested starting form (its manifest's `evolution` object): only the fields a demo may
 * suggest, and only valid values — anything else in it is ignored. The Devanagari family suggests
 * four layer groups and weights up to 2, which its composition needs (one weight per model finds
 * nothing there: the language expert has to weigh more in the last group than in the middle).
 */
export function demoFormSuggestion(raw: unknown): Partial<EvolveForm> {
  if (!raw || typeof raw !== 'object') return {};
  const o = raw as Record<string, unknown>;
  const out: Partial<EvolveForm> = {};
  if (Number.isInteger(o.layerGroups) && (o.layerGroups as number) >= 1) out.layerGroups = o.layerGroups as number;
  if (o.weightMax === 1 || o.weightMax === 2) out.weightMax = o.weightMax;
  if (Number.isInteger(o.generations) && (o.generations as number) >= 1) out.generations = o.generations as number;
  if (Number.isInteger(o.limit) && (o.limit as number) >= 1) out.limit = o.limit as number;
  return out;
}

/**
 * The form with a demo's suggestion applied where the user has not changed the default. `previous`
 * is the suggestion applied before (another demo's): its fields the user has not changed since go
 * back to the default first, so a suggestion ends with its demo. A field the user set wins.
 */
export function withSuggestion(form: EvolveForm, suggestion: Partial<EvolveForm>, previous: Partial<EvolveForm> = {}): EvolveForm {
  const next = { ...form };
  const untouched = (k: keyof EvolveForm): boolean => k in previous && form[k] === previous[k];
  for (const k of Object.keys(previous) as (keyof EvolveForm)[]) if (untouched(k)) (next as Record<string, unknown>)[k] = DEFAULT_FORM[k];
  for (const [k, v] of Object.entries(suggestion) as [keyof EvolveForm, unknown][]) if (form[k] === DEFAULT_FORM[k] || untouched(k)) (next as Record<string, unknown>)[k] = v;
  return next;
}

/** SAE prunes by capping density genes: methods that have them (derived from the method specs). */
export { SAE_METHODS };

/** The method treats a base as an ordinary input (linear): the search mixes models, no base. */
const noBaseModel = (method: PsMethod): boolean => getMethod(method).base === 'input';

/** What the shelf knows about a model from its headers. */
export interface ModelFacts {
  ref: string;
  layers: number;
  hidden: number | null;
  /** Element count of its smallest tensor (the density floor). */
  smallestTensor: number;
}

/** The base and experts the form resolves to, given the recipe's models. */
export function resolveModels(form: EvolveForm, recipe: Recipe, available: string[]): { base: string | undefined; experts: string[]; pool: string[] } {
  const inRecipe = recipeModels(recipe).filter((r) => available.includes(r));
  const pool = inRecipe.length ? inRecipe : available;
  const noBase = noBaseModel(form.method);
  let base = form.base === null ? (recipe.base_model && pool.includes(recipe.base_model) ? recipe.base_model : pool[0]) : form.base || undefined;
  if (noBase) base = undefined;
  const experts = (form.experts ?? pool.filter((m) => noBase || m !== base)).filter((m) => available.includes(m) && (noBase || m !== base));
  return { base, experts, pool };
}

/** A PS run's best recipe, for PS + DFS. */
export interface PsResult {
  runId: string;
  recipe: Recipe;
  seed: number;
}

export interface BuiltConfig {
  config: EvolveConfig;
  /** Every shelf model the run reads (its inputs). */
  models: string[];
}

function factsOf(facts: Map<string, ModelFacts>, ref: string): ModelFacts {
  const f = facts.get(ref);
  if (!f) throw new RecipeError(`model ${ref} is not on the shelf (or its headers are still being read)`, { model: ref });
  return f;
}

function intIn(v: number, lo: number, hi: number, what: string): number {
  if (!Number.isInteger(v) || v < lo || v > hi) throw new OptimizerError(`${what} must be a whole number from ${lo} to ${hi}, got ${v}`, { key: what });
  return v;
}

function psSpace(form: EvolveForm, recipe: Recipe, facts: Map<string, ModelFacts>): { space: PsSpace; models: string[] } {
  if (!PS_METHODS.includes(form.method)) throw new RecipeError(`method ${form.method} cannot be evolved; use one of ${PS_METHODS.join(', ')}`, { key: 'method' });
  const { base, experts } = resolveModels(form, recipe, [...facts.keys()]);
  if (experts.length === 0) throw new RecipeError(noBaseModel(form.method) ? 'pick at least one model to mix' : 'pick at least one expert besides the base model', { key: 'models' });
  const models = base ? [base, ...experts] : experts;
  const layers = models.map((m) => factsOf(facts, m).layers);
  const odd = models.find((_, i) => layers[i] !== layers[0]);
  if (odd) throw new RecipeError(`every model must have the same number of layers: ${models[0]} has ${layers[0]}, ${odd} has ${factsOf(facts, odd).layers}`, { model: odd });
  const numLayers = layers[0];
  const space: PsSpace = {
    method: form.method,
    models: experts,
    numLayers,
    layerGroups: intIn(form.layerGroups, 1, numLayers, 'layer groups'),
    weightMax: form.weightMax,
  };
  if (base) space.base = base;
  if (form.filters.length) space.filters = [...form.filters];
  const spec = evolveSpec(form.method);
  // The paper's evolved weights sum to about 2: with weights up to 2 the merge must not renormalise them.
  if (form.weightMax > 1 && spec.params.some((p) => p.name === 'normalize')) space.normalize = false;
  // Density genes that can underflow a top-k (floor(d·n) = 0 refuses the merge) start at 1/smallest tensor.
  if (spec.evolve.densityFloor) {
    const smallest = Math.min(...models.map((m) => factsOf(facts, m).smallestTensor));
    space.densityMin = psSafeDensityMin([{ tensors: new Map([['t', { shape: [smallest] }]]) } as unknown as ModelInfo]);
  }
  if (spec.random) space.seedForRandom = form.seed;
  // SAE prunes through density genes: switch them on where the method has them only on request.
  if (spec.evolve.optionalDensityGenes && form.kind === 'sae') space.densityGenes = true;
  return { space, models };
}

/** Builds the engine's config; throws RecipeError / OptimizerError with the form's words. */
export function buildEvolveConfig(form: EvolveForm, recipe: Recipe, facts: Map<string, ModelFacts>, psResult?: PsResult): BuiltConfig {
  const common = {
    generations: intIn(form.generations, 1, 100_000, 'generations'),
    seed: intIn(form.seed, 0, 2 ** 31 - 1, 'seed'),
    limit: intIn(form.limit, 1, 1_000_000, 'items per set'),
  };
  const popSize = form.popSize === null ? undefined : intIn(form.popSize, 2, 10_000, 'population');
  if (form.kind === 'ps' || form.kind === 'sae') {
    const { space, models } = psSpace(form, recipe, facts);
    const config: EvolveConfig = { kind: form.kind, ps: space, ...common };
    if (popSize !== undefined) config.popSize = popSize;
    if (form.kind === 'sae') {
      if (!SAE_METHODS.includes(form.method)) throw new RecipeError(`sparsity-aware evolution prunes through density, which ${form.method} does not have; use ${SAE_METHODS.join(', ')}`, { key: 'method' });
      if (!space.base) throw new RecipeError('sparsity-aware evolution needs a base model: sparsity is measured on the merged delta from it', { key: 'base_model' });
      config.sae = {
        archiveSize: intIn(form.archiveSize, 2, 1000, 'archive size'),
        omega: form.omega,
        beta: form.beta,
        sparsityTerm: form.sparsityTerm,
        layerWise: form.layerWise,
      };
    } else if (space.base && (form.measureSparsity || form.beta > 0)) {
      config.sparsity = { omega: 1, beta: form.beta, base: space.base };
    }
    if (psDimension(space) > 100) config.separable = true;
    return { config, models };
  }
  // Data-flow space: model A's embeddings, norm and head; B's layers may be spliced in.
  const available = [...facts.keys()];
  const b = form.dfsB ?? available.find((m) => m !== (form.dfsA ?? available[0])) ?? '';
  const bFacts = factsOf(facts, b);
  let space: DfsSpace;
  let config: EvolveConfig;
  let models: string[];
  if (form.kind === 'psdfs') {
    if (!psResult) throw new OptimizerError('PS + DFS starts from the best recipe of a parameter-space run: finish (or pause) one first, then pick it', { key: 'fromRun' });
    const refs = recipeModels(psResult.recipe);
    const aRef = psResult.recipe.base_model ?? refs[0];
    const aFacts = factsOf(facts, aRef);
    for (const r of refs) factsOf(facts, r);
    space = { modelA: `best of ${psResult.runId}`, modelB: b, layersA: aFacts.layers, layersB: bFacts.layers, repeats: intIn(form.repeats, 1, 4, 'repeats'), scales: form.scales };
    if (aFacts.hidden !== null && bFacts.hidden !== null && aFacts.hidden !== bFacts.hidden)
      throw new RecipeError(`the PS merge (hidden size ${aFacts.hidden}) and ${b} (hidden size ${bFacts.hidden}) cannot form a layer path: pick a model B with the same hidden size`, { model: b });
    config = { kind: 'dfs', dfs: space, dfsA: { kind: 'recipe', recipe: psResult.recipe, seed: psResult.seed }, ...common };
    models = [...new Set([...refs, b])];
  } else {
    const a = form.dfsA ?? available[0];
    const aFacts = factsOf(facts, a);
    if (a === b) throw new RecipeError('a layer path needs two different models A and B', { key: 'modelB' });
    if (aFacts.hidden !== null && bFacts.hidden !== null && aFacts.hidden !== bFacts.hidden)
      throw new RecipeError(`${a} (hidden size ${aFacts.hidden}) and ${b} (hidden size ${bFacts.hidden}) cannot form a layer path: a layer of one cannot read the other's hidden state`, { model: b });
    space = { modelA: a, modelB: b, layersA: aFacts.layers, layersB: bFacts.layers, repeats: intIn(form.repeats, 1, 4, 'repeats'), scales: form.scales };
    config = { kind: 'dfs', dfs: space, dfsA: { kind: 'model', ref: a }, ...common };
    models = [a, b];
  }
  if (popSize !== undefined) config.popSize = popSize;
  const M = space.layersA + space.layersB;
  if (M * space.repeats + (space.scales ? M * M : 0) > 100) config.separable = true;
  return { config, models };
}

/** Eval set roles by file name: *.search.* searches, *.test.* / held-out is held out, the rest unused. */
export type SetRole = 'search' | 'heldout' | 'off';

export function defaultRole(name: string, split?: string): SetRole {
  const s = (split ?? '').toLowerCase();
  if (s === 'search' || /\.search\.jsonl?$/i.test(name)) return 'search';
  if (s === 'test' || s === 'heldout' || s === 'held-out' || /\.(test|heldout|held-out)\.jsonl?$/i.test(name)) return 'heldout';
  return 'off';
}

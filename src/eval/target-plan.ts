// What can be evaluated, and the backend-independent half of turning it into weights: the plan of
// a model or recipe, the model whose tokenizer applies, and a layer path's pool (every distinct
// (model, layer) once, renumbered in order of first use). The GPU (target.ts) and the CPU
// (cpu-weights.ts) resolvers share these so both backends evaluate exactly the same model.
// No GPU, no DOM.
import type { Recipe } from '../recipe/types';
import type { ModelInfo } from '../formats/model-info';
import type { Plan } from '../recipe/plan-types';
import { buildPlan, tensorSeed } from '../recipe/plan';
import { ModelError, RecipeError } from '../errors';
import { tokenizerFiles } from '../merge/tokenizer-files';
import { MemorySource } from '../io/sources';
import { parseArch, poolLayerTypes, type LlamaArch } from './arch';

export interface LayerHop {
  model: 'a' | 'b';
  layer: number;
  /** Multiplies the hidden state entering this hop (see graph.ts for the exact placement). */
  scale: number;
}

export type ModelOrRecipe = { kind: 'model'; ref: string } | { kind: 'recipe'; recipe: Recipe; seed?: number };

export type EvalTarget =
  | ModelOrRecipe
  | { kind: 'path'; a: ModelOrRecipe; b: string; hops: LayerHop[] };

/** A short human name of a target. */
export function describeTarget(t: EvalTarget): string {
  if (t.kind === 'model') return t.ref;
  if (t.kind === 'recipe') return `${t.recipe.merge_method} merge`;
  return `layer path of ${t.hops.length} hops over ${describeTarget(t.a)} and ${t.b}`;
}

/** Weights of a target (GPU-resident or CPU arrays) with what the evaluator needs beside them. */
export interface ResolvedTarget<W> {
  weights: W;
  /** config.json of the evaluated model (for a layer path: model A's, with the pool's layer count). */
  config: Record<string, unknown>;
  /** The model whose tokenizer files apply. */
  tokenizerModel: ModelInfo;
  /** Only for layer paths: pool index per hop, and scales (graph hops). */
  hops?: { layer: number; scale: number }[];
  poolSize?: number;
}

export function modelOf(models: Map<string, ModelInfo>, ref: string): ModelInfo {
  const m = models.get(ref);
  if (!m) throw new ModelError(`the evaluation names model "${ref}", which is not among the loaded models (${[...models.keys()].join(', ') || 'none'})`, { model: ref });
  return m;
}

export interface TargetPlan {
  plan: Plan;
  config: Record<string, unknown>;
  tokenizerModel: ModelInfo;
}

/** The plan of a model (a one-model passthrough: every tensor decoded as stored) or of a recipe. */
export async function planTarget(t: ModelOrRecipe, models: Map<string, ModelInfo>, tokenizerTexts?: () => Promise<Map<string, string | undefined>>): Promise<TargetPlan> {
  if (t.kind === 'model') {
    const m = modelOf(models, t.ref);
    const plan = buildPlan({ merge_method: 'passthrough', models: [{ model: t.ref }] }, models);
    return { plan, config: m.config, tokenizerModel: m };
  }
  const r = t.recipe;
  const needsVocab = r.tokenizer !== undefined || r.tokenizer_source !== undefined;
  const plan = buildPlan(r, models, { seed: t.seed ?? r.random_seed, tokenizerTexts: needsVocab && tokenizerTexts ? await tokenizerTexts() : undefined });
  const tokRef = plan.tokenizerFrom ?? r.base_model ?? r.models?.[0]?.model ?? r.slices?.[0]?.sources[0]?.model;
  if (!tokRef) throw new RecipeError('the recipe names no model whose tokenizer could be used for evaluation');
  const tokModel = modelOf(models, tokRef);
  if (!plan.vocab) return { plan, config: plan.config, tokenizerModel: tokModel };
  // a tokenizer merge: evaluate with the tokenizer files the merge would write
  const files = new Map(tokModel.files);
  let text = '';
  for (const f of await tokenizerFiles(plan, r, models)) {
    files.set(f.name, new MemorySource(`${tokModel.name}/${f.name} (merged)`, f.bytes));
    text += new TextDecoder().decode(f.bytes);
  }
  // its own reference: evaluators cache tokenizers by model reference
  const ref = `${tokModel.ref}#vocab-${tensorSeed(0, text).toString(16)}`;
  return { plan, config: plan.config, tokenizerModel: { ...tokModel, ref, files, config: plan.config } };
}

export interface PoolSlot {
  model: 'a' | 'b';
  layer: number;
}

export interface PathLayout {
  /** Physical layers in pool order. */
  pool: PoolSlot[];
  /** Graph hops: pool index and input scale, one per path hop. */
  hops: { layer: number; scale: number }[];
  /** Model A's config with the pool's layer count. */
  config: Record<string, unknown>;
}

/** Checks a layer path against its two models' configs and numbers its pool. */
export function pathLayout(t: Extract<EvalTarget, { kind: 'path' }>, configA: Record<string, unknown>, configB: Record<string, unknown>): PathLayout {
  const hiddenA = configA.hidden_size, hiddenB = configB.hidden_size;
  if (hiddenA !== hiddenB)
    throw new ModelError(`a layer path needs models with the same hidden size: ${describeTarget(t.a)} has ${String(hiddenA)}, ${t.b} has ${String(hiddenB)}`, { model: t.b });
  if (t.hops.length === 0) throw new RecipeError('the layer path has no hops');
  const pool: PoolSlot[] = [];
  const index = new Map<string, number>();
  const hops = t.hops.map((h) => {
    const key = `${h.model}:${h.layer}`;
    let i = index.get(key);
    if (i === undefined) {
      i = pool.length;
      pool.push({ model: h.model, layer: h.layer });
      index.set(key, i);
    }
    return { layer: i, scale: h.scale };
  });
  for (const slot of pool) {
    const numLayers = Number((slot.model === 'a' ? configA : configB).num_hidden_layers);
    if (!(slot.layer >= 0 && slot.layer < numLayers)) throw new RecipeError(`layer path hop uses layer ${slot.layer} of model ${slot.model.toUpperCase()}, which has ${numLayers} layers`);
  }
  const config: Record<string, unknown> = { ...configA, num_hidden_layers: pool.length };
  // Gemma alternates sliding-window and full layers: a pool slot keeps its source layer's kind.
  const kinds = (c: Record<string, unknown>, which: 'a' | 'b'): ((layer: number) => string) | null => {
    let arch: LlamaArch;
    try {
      arch = parseArch(c, 'config.json');
    } catch {
      return null; // the evaluator refuses it with its own message before this matters
    }
    if (arch.slidingLayers === 'all') return null;
    const layers = pool.filter((s) => s.model === which).map((s) => s.layer);
    const types = poolLayerTypes(arch, layers)!;
    return (layer) => types[layers.indexOf(layer)];
  };
  const kindA = kinds(configA, 'a');
  const kindB = kinds(configB, 'b');
  if (kindA || kindB) {
    const fallback = (c: Record<string, unknown>) => (c.sliding_window ? 'sliding_attention' : 'full_attention');
    config.layer_types = pool.map((s) => (s.model === 'a' ? (kindA?.(s.layer) ?? fallback(configA)) : (kindB?.(s.layer) ?? fallback(configB))));
  }
  return { pool, hops, config };
}

const LAYER_NAME = /^model\.layers\.(\d+)\.(.+)$/;

/** Whether assemblePath takes a tensor of model `which`: A's non-layer tensors and the pool's layers. */
export function pathUses(pool: readonly PoolSlot[], which: 'a' | 'b'): (name: string) => boolean {
  const layers = new Set(pool.filter((s) => s.model === which).map((s) => s.layer));
  return (name) => {
    const m = LAYER_NAME.exec(name);
    return m ? layers.has(Number(m[1])) : which === 'a';
  };
}

/**
 * The path's tensors: A's non-layer tensors, then each pool slot's layer tensors renamed to
 * `model.layers.<pool index>.…`. `rename` gives a tensor its new name (values are shared, not
 * copied). `usedA` / `usedB` name the source tensors taken, so a caller can free the others.
 */
export function assemblePath<T>(a: Map<string, T>, b: Map<string, T>, pool: readonly PoolSlot[], rename: (tensor: T, to: string) => T): { tensors: Map<string, T>; usedA: Set<string>; usedB: Set<string> } {
  const tensors = new Map<string, T>();
  const usedA = new Set<string>(), usedB = new Set<string>();
  for (const [name, tensor] of a) {
    if (!LAYER_NAME.test(name)) {
      tensors.set(name, tensor);
      usedA.add(name);
    }
  }
  for (const [p, slot] of pool.entries()) {
    const src = slot.model === 'a' ? a : b;
    const used = slot.model === 'a' ? usedA : usedB;
    const prefix = `model.layers.${slot.layer}.`;
    for (const [name, tensor] of src) {
      if (!name.startsWith(prefix)) continue;
      const to = `model.layers.${p}.${name.slice(prefix.length)}`;
      tensors.set(to, rename(tensor, to));
      used.add(name);
    }
  }
  return { tensors, usedA, usedB };
}

/**
 * The config.json files a target evaluates with (the model's, a recipe's models', a layer path's
 * two sides), each checked by parseArch, so an architecture the evaluator lacks (or a bad rope
 * setting) is refused naming config.json before any tensor is read or merged.
 */
export function checkEvaluable(t: EvalTarget, models: Map<string, ModelInfo>): void {
  const refs: string[] = [];
  const add = (r: string | undefined): void => {
    if (r && !refs.includes(r)) refs.push(r);
  };
  const collect = (x: ModelOrRecipe): void => {
    if (x.kind === 'model') return add(x.ref);
    for (const m of x.recipe.models ?? []) add(m.model);
    for (const sl of x.recipe.slices ?? []) for (const src of sl.sources) add(src.model);
    add(x.recipe.base_model);
  };
  if (t.kind === 'path') {
    collect(t.a);
    add(t.b);
  } else collect(t);
  for (const ref of refs) {
    const m = models.get(ref);
    if (m) parseArch(m.config, `${m.name}/config.json`);
  }
}

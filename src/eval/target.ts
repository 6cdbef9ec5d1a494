// What can be evaluated, and how each becomes GPU-resident weights plus the architecture to run:
// a model as it is, a recipe (merged on the GPU, never written), or a layer path over two models
// (data-flow merge; model A may itself be a recipe, as in PS+DFS).
import type { Gpu } from '../gpu/device';
import type { Recipe } from '../recipe/types';
import type { ModelInfo } from '../recipe/model-info';
import type { InputCacheLike } from '../merge/input-cache';
import { buildPlan, readTokenizerTexts } from '../recipe/plan';
import { ModelError, RecipeError } from '../errors';
import { mergeResident, ResidentWeights } from './resident';

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

/** The model whose config.json, tokenizer and non-layer tensors a target uses. */
export function describeTarget(t: EvalTarget): string {
  if (t.kind === 'model') return t.ref;
  if (t.kind === 'recipe') return `${t.recipe.merge_method} merge`;
  return `layer path of ${t.hops.length} hops over ${describeTarget(t.a)} and ${t.b}`;
}

export interface ResolvedWeights {
  weights: ResidentWeights;
  /** config.json of the evaluated model (for a layer path: model A's, before the pool re-numbering). */
  config: Record<string, unknown>;
  /** The model whose tokenizer files apply. */
  tokenizerModel: ModelInfo;
  /** Only for layer paths: pool index per hop, and scales (graph hops). */
  hops?: { layer: number; scale: number }[];
  poolSize?: number;
}

function modelOf(models: Map<string, ModelInfo>, ref: string): ModelInfo {
  const m = models.get(ref);
  if (!m) throw new ModelError(`the evaluation names model "${ref}", which is not among the loaded models (${[...models.keys()].join(', ') || 'none'})`, { model: ref });
  return m;
}

export interface ResolveOptions {
  signal?: AbortSignal;
  inputCache?: InputCacheLike;
  tokenizerTexts?: () => Promise<Map<string, string | undefined>>;
}

async function resolveOne(gpu: Gpu, t: ModelOrRecipe, models: Map<string, ModelInfo>, o: ResolveOptions): Promise<ResolvedWeights> {
  if (t.kind === 'model') {
    const m = modelOf(models, t.ref);
    // A one-model passthrough plan decodes every tensor exactly as stored (no arithmetic).
    const plan = buildPlan({ merge_method: 'passthrough', models: [{ model: t.ref }] }, models);
    return { weights: await mergeResident(gpu, plan, { signal: o.signal, inputCache: o.inputCache }), config: m.config, tokenizerModel: m };
  }
  const r = t.recipe;
  const needsVocab = r.tokenizer !== undefined || r.tokenizer_source !== undefined;
  const plan = buildPlan(r, models, { seed: t.seed ?? r.random_seed, tokenizerTexts: needsVocab && o.tokenizerTexts ? await o.tokenizerTexts() : undefined });
  const tokRef = plan.tokenizerFrom ?? r.base_model ?? r.models?.[0]?.model ?? r.slices?.[0]?.sources[0]?.model;
  if (!tokRef) throw new RecipeError('the recipe names no model whose tokenizer could be used for evaluation');
  return { weights: await mergeResident(gpu, plan, { signal: o.signal, inputCache: o.inputCache }), config: plan.config, tokenizerModel: modelOf(models, tokRef) };
}

/** GPU-resident weights for a target; the caller disposes `weights`. */
export async function resolveTarget(gpu: Gpu, t: EvalTarget, models: Map<string, ModelInfo>, o: ResolveOptions = {}): Promise<ResolvedWeights> {
  if (t.kind !== 'path') return resolveOne(gpu, t, models, o);
  const a = await resolveOne(gpu, t.a, models, o);
  let b: ResolvedWeights | undefined;
  try {
    b = await resolveOne(gpu, { kind: 'model', ref: t.b }, models, o);
    const hiddenA = a.config.hidden_size, hiddenB = b.config.hidden_size;
    if (hiddenA !== hiddenB)
      throw new ModelError(`a layer path needs models with the same hidden size: ${describeTarget(t.a)} has ${String(hiddenA)}, ${t.b} has ${String(hiddenB)}`, { model: t.b });
    if (t.hops.length === 0) throw new RecipeError('the layer path has no hops');
    // The pool: every distinct (model, layer) once, numbered in order of first use.
    const pool: { model: 'a' | 'b'; layer: number }[] = [];
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
    const out = new ResidentWeights(gpu.device);
    const layerRe = /^model\.layers\.(\d+)\.(.+)$/;
    const moved = new Set<string>();
    for (const [name, tensor] of a.weights.tensors) {
      if (!layerRe.test(name)) {
        out.tensors.set(name, tensor);
        moved.add(`a:${name}`);
      }
    }
    for (const [p, slot] of pool.entries()) {
      const src = slot.model === 'a' ? a.weights : b.weights;
      const numLayers = Number((slot.model === 'a' ? a.config : b.config).num_hidden_layers);
      if (!(slot.layer >= 0 && slot.layer < numLayers)) throw new RecipeError(`layer path hop uses layer ${slot.layer} of model ${slot.model.toUpperCase()}, which has ${numLayers} layers`);
      const prefix = `model.layers.${slot.layer}.`;
      for (const [name, tensor] of src.tensors) {
        if (!name.startsWith(prefix)) continue;
        const to = `model.layers.${p}.${name.slice(prefix.length)}`;
        // A buffer may back several pool names only if it is the same physical layer: never here.
        out.tensors.set(to, { ...tensor, name: to });
        moved.add(`${slot.model}:${name}`);
      }
    }
    // Free what the path does not use; the rest now belongs to `out`.
    for (const [name, tensor] of a.weights.tensors) if (!moved.has(`a:${name}`)) tensor.buffer.destroy();
    for (const [name, tensor] of b.weights.tensors) if (!moved.has(`b:${name}`)) tensor.buffer.destroy();
    a.weights.tensors.clear();
    b.weights.tensors.clear();
    return { weights: out, config: { ...a.config, num_hidden_layers: pool.length }, tokenizerModel: a.tokenizerModel, hops, poolSize: pool.length };
  } catch (e) {
    a.weights.dispose();
    b?.weights.dispose();
    throw e;
  }
}

export { readTokenizerTexts };

// What can be evaluated, and how each becomes GPU-resident weights plus the architecture to run:
// a model as it is, a recipe (merged on the GPU, never written), or a layer path over two models
// (data-flow merge; model A may itself be a recipe, as in PS+DFS). The planning and the layer
// pool are shared with the CPU twin (cpu-weights.ts) through target-plan.ts.
import type { Gpu } from '../gpu/device';
import type { ModelInfo } from '../formats/model-info';
import type { InputCacheLike } from '../gpu/input-cache';
import { readTokenizerTexts } from '../recipe/plan';
import { mergeResident, ResidentWeights } from './resident';
import { assemblePath, pathLayout, planTarget, type EvalTarget, type ModelOrRecipe, type ResolvedTarget } from './target-plan';

export { describeTarget, type EvalTarget, type LayerHop, type ModelOrRecipe } from './target-plan';

export type ResolvedWeights = ResolvedTarget<ResidentWeights>;

export interface ResolveOptions {
  signal?: AbortSignal;
  inputCache?: InputCacheLike;
  tokenizerTexts?: () => Promise<Map<string, string | undefined>>;
  /** Resident element type (resident.ts): 'f16' for an f16 graph that needs no f32 values. */
  store?: 'f32' | 'f16';
}

async function resolveOne(gpu: Gpu, t: ModelOrRecipe, models: Map<string, ModelInfo>, o: ResolveOptions): Promise<ResolvedWeights> {
  const { plan, config, tokenizerModel } = await planTarget(t, models, o.tokenizerTexts);
  return { weights: await mergeResident(gpu, plan, { signal: o.signal, inputCache: o.inputCache, store: o.store }), config, tokenizerModel };
}

/** GPU-resident weights for a target; the caller disposes `weights`. */
export async function resolveTarget(gpu: Gpu, t: EvalTarget, models: Map<string, ModelInfo>, o: ResolveOptions = {}): Promise<ResolvedWeights> {
  if (t.kind !== 'path') return resolveOne(gpu, t, models, o);
  const a = await resolveOne(gpu, t.a, models, o);
  let b: ResolvedWeights | undefined;
  try {
    b = await resolveOne(gpu, { kind: 'model', ref: t.b }, models, o);
    const layout = pathLayout(t, a.config, b.config);
    // A buffer backs one pool name only: every pool slot is a distinct physical layer.
    const { tensors, usedA, usedB } = assemblePath(a.weights.tensors, b.weights.tensors, layout.pool, (tensor, to) => ({ ...tensor, name: to }));
    const out = new ResidentWeights(gpu.device);
    for (const [name, tensor] of tensors) out.tensors.set(name, tensor);
    // Free what the path does not use; the rest now belongs to `out`.
    for (const [name, tensor] of a.weights.tensors) if (!usedA.has(name)) tensor.buffer.destroy();
    for (const [name, tensor] of b.weights.tensors) if (!usedB.has(name)) tensor.buffer.destroy();
    a.weights.tensors.clear();
    b.weights.tensors.clear();
    return { weights: out, config: layout.config, tokenizerModel: a.tokenizerModel, hops: layout.hops, poolSize: layout.pool.length };
  } catch (e) {
    a.weights.dispose();
    b?.weights.dispose();
    throw e;
  }
}

export { readTokenizerTexts };

// The CPU twin of target.ts for the wasm evaluation backend (no WebGPU): the same plan, each input
// read whole (readChunkBytes, crops included), decoded to f32 with the compute dtype's rounding,
// merged by the CPU engine (backends/cpu: each method's f32 replay of its WebGPU passes, so the
// values equal the GPU-resident ones; methods without a replay use their reference twin) and
// rounded through the entry's output dtype exactly as mergeResident does. A tensor is held whole, so this
// suits the models a CPU can evaluate anyway; memory is inputs + output of one tensor at a time
// beyond the result.
// Pure: no GPU, no DOM (runs in Node).
import type { ModelInfo } from '../formats/model-info';
import type { Plan, PlanEntry, PlanInput } from '../recipe/plan-types';
import type { Dtype } from '../formats/dtype';
import { readChunkBytes, readLoraFactors } from '../recipe/chunk-read';
import { gatherFillValues, RowGatherReader } from '../recipe/row-gather';
import { decodeInputChunk } from '../methods/shared/cpu/lora';
import { inputCacheKey } from '../recipe/chunk-read';
import { cpuMergeValues } from '../backends/cpu/tensor';
import { CpuInputCache } from '../backends/cpu/input-cache';
import { cpuDecodedInput } from '../backends/cpu/prune';
import { CancelledError, MethodError, UnsupportedDtypeError } from '../errors';
import { isMergeable } from '../formats/dtype';
import { assemblePath, pathLayout, pathUses, planTarget, type EvalTarget, type ResolvedTarget } from './target-plan';

export type CpuWeights = Map<string, Float32Array>;
export type CpuResolvedWeights = ResolvedTarget<CpuWeights>;

/** Decoded inputs kept across candidates (defined with the CPU engine, which diagnostics share). */
export { CpuInputCache };

export interface CpuWeightsOptions {
  signal?: AbortSignal;
  inputCache?: CpuInputCache;
  tokenizerTexts?: () => Promise<Map<string, string | undefined>>;
  /** Only these output tensors (default: all). */
  only?: (name: string) => boolean;
}

const elementCount = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);

/** Input i of an entry as f32 (whole tensor, cropped), rounded to the compute dtype like the GPU decode. */
function decodedInput(entry: PlanEntry, inp: PlanInput, o: CpuWeightsOptions): Promise<Float32Array> {
  return cpuDecodedInput(entry, inp, { signal: o.signal, inputCache: o.inputCache });
}

/** One plan entry merged on the CPU: f32 values as a written checkpoint of the entry's outDtype would hold them. */
export async function cpuMergeEntry(entry: PlanEntry, o: CpuWeightsOptions = {}): Promise<Float32Array> {
  if (o.signal?.aborted) throw new CancelledError();
  const n = elementCount(entry.shape);
  if (n === 0) return new Float32Array(0);
  const inputs: Float32Array[] = [];
  for (const inp of entry.inputs) inputs.push(await decodedInput(entry, inp, o));
  const out = await cpuMergeValues(entry, (i) => Promise.resolve(inputs[i]), o.signal);
  if (out.length !== n) throw new MethodError(`internal error: tensor "${entry.name}" produced ${out.length} elements on the CPU, expected ${n}`, { tensor: entry.name });
  return out;
}

/** Every entry of a plan merged on the CPU, by output name (plan order). */
export async function cpuMergePlan(plan: Plan | PlanEntry[], o: CpuWeightsOptions = {}): Promise<CpuWeights> {
  const out: CpuWeights = new Map();
  for (const entry of Array.isArray(plan) ? plan : plan.entries) {
    if (o.only && !o.only(entry.name)) continue;
    // (each entry awaits its reads, so a cancel message is seen between tensors)
    out.set(entry.name, await cpuMergeEntry(entry, o));
  }
  return out;
}

/** f32 weights of a target computed on the CPU: the same values resolveTarget leaves on the GPU. */
export async function resolveTargetCpu(t: EvalTarget, models: Map<string, ModelInfo>, o: CpuWeightsOptions = {}): Promise<CpuResolvedWeights> {
  if (t.kind !== 'path') {
    const { plan, config, tokenizerModel } = await planTarget(t, models, o.tokenizerTexts);
    return { weights: await cpuMergePlan(plan, o), config, tokenizerModel };
  }
  const a = await planTarget(t.a, models, o.tokenizerTexts);
  const b = await planTarget({ kind: 'model', ref: t.b }, models, o.tokenizerTexts);
  const layout = pathLayout(t, a.config, b.config);
  // Only what the path uses is merged (CPU merges are the slow part here); the GPU resolver merges
  // everything and frees the rest, with the same result.
  const only = (which: 'a' | 'b') => {
    const uses = pathUses(layout.pool, which);
    return (name: string) => uses(name) && (!o.only || o.only(name));
  };
  const wa = await cpuMergePlan(a.plan, { ...o, only: only('a') });
  const wb = await cpuMergePlan(b.plan, { ...o, only: only('b') });
  // Arrays are shared, not copied: each pool slot is a distinct source layer.
  const { tensors } = assemblePath(wa, wb, layout.pool, (values) => values);
  return { weights: tensors, config: layout.config, tokenizerModel: a.tokenizerModel, hops: layout.hops, poolSize: layout.pool.length };
}

// What the inspector worker computes, as pure functions over ModelInfo (testable in Node):
// a model's summary and tensor table, its compatibility with the base under the current method,
// and whether the whole recipe plans — by calling the engine's own buildPlan, so every error and
// warning is exactly the one a merge would raise.
import { toRecord } from '../errors';
import { itemSize, isMergeable, type Dtype } from '../formats/dtype';
import { getMethod } from '../methods/specs';
import type { MethodSpec } from '../methods/spec';
import { recipeModels } from '../recipe/model-card';
import { vocabReport } from '../recipe/vocab';
import type { ModelInfo } from '../formats/model-info';
import { buildPlan, isEmbedTensor, readTokenizerTexts } from '../recipe/plan';
import { setMethod } from '../recipe/edit';
import type { Recipe } from '../recipe/types';
import type { CompatReport, DtypeCount, ModelSummary, PlanReport, ShapeIssue, TensorRow } from './types';

/** backends/webgpu/execute.ts CHUNK_BUDGET_BYTES: GPU bytes one tensor's chunk set may use. */
const GPU_CHUNK_BUDGET = 192 * 1024 * 1024;

const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);

export function tensorRows(info: ModelInfo): TensorRow[] {
  const rows: TensorRow[] = [];
  for (const t of info.tensors.values()) rows.push({ name: t.name, dtype: t.dtype, shape: t.shape, bytes: t.byteLength, shard: t.source.name });
  return rows;
}

export function summarize(info: ModelInfo, files: { path: string; size: number }[], fingerprint: string): ModelSummary {
  const cfg = info.config;
  const arch = Array.isArray(cfg.architectures) && typeof cfg.architectures[0] === 'string' ? (cfg.architectures[0] as string) : '';
  const dtypes = new Map<string, DtypeCount>();
  let params = 0;
  const shards = new Set<string>();
  for (const t of info.tensors.values()) {
    const n = t.shape.reduce((a, b) => a * b, 1);
    params += n;
    shards.add(t.source.name);
    const d = dtypes.get(t.dtype) ?? { dtype: t.dtype, tensors: 0, bytes: 0 };
    d.tensors++;
    d.bytes += t.byteLength;
    dtypes.set(t.dtype, d);
  }
  let hidden = num(cfg.hidden_size) ?? num(cfg.n_embd) ?? num(cfg.d_model);
  const embed = [...info.tensors.values()].find((t) => t.name.endsWith('embed_tokens.weight') || t.name.endsWith('wte.weight'));
  if (hidden === null && embed && embed.shape.length === 2) hidden = embed.shape[1];
  const vocab = num(cfg.vocab_size) ?? (embed && embed.shape.length === 2 ? embed.shape[0] : null);
  return {
    architecture: arch || (typeof cfg.model_type === 'string' ? cfg.model_type : 'unknown'),
    modelType: typeof cfg.model_type === 'string' ? cfg.model_type : '',
    layers: info.numLayers,
    hidden,
    vocab,
    params,
    dtypes: [...dtypes.values()].sort((a, b) => b.bytes - a.bytes),
    weightBytes: files.filter((f) => f.path.toLowerCase().endsWith('.safetensors')).reduce((a, f) => a + f.size, 0),
    totalBytes: files.reduce((a, f) => a + f.size, 0),
    shards: [...shards].sort(),
    tensors: info.tensors.size,
    fingerprint,
  };
}

function specOrLinear(name: string): MethodSpec {
  try {
    const s = getMethod(name);
    return s.base === 'none' ? getMethod('linear') : s;
  } catch {
    return getMethod('linear');
  }
}

const same = (a: number[], b: number[]) => a.length === b.length && a.every((x, i) => x === b[i]);

/**
 * How `model` fits `base` under `methodName`: tensor-by-tensor differences, what the method does
 * with each (crop an embedding, skip the tensor, refuse), and the engine planner's own verdict for
 * a two-model merge (base + this model), whose error or warnings are listed as notes.
 */
export function compareToBase(base: ModelInfo, model: ModelInfo, methodName: string): CompatReport {
  const spec = specOrLinear(methodName);
  const missing: string[] = [];
  const extra: string[] = [];
  const shapes: ShapeIssue[] = [];
  const dtypes: { tensor: string; dtype: string }[] = [];
  const notes: string[] = [];
  const hasEmbed = [...model.tensors.keys()].some((n) => n.endsWith('embed_tokens.weight'));
  for (const [name, bt] of base.tensors) {
    const mt = model.tensors.get(name);
    if (!mt) {
      if (name.endsWith('lm_head.weight') && hasEmbed) continue; // tied embeddings supply lm_head
      missing.push(name);
      continue;
    }
    if (!isMergeable(mt.dtype)) dtypes.push({ tensor: name, dtype: mt.dtype });
    if (!same(bt.shape, mt.shape)) {
      let action: ShapeIssue['action'];
      if (isEmbedTensor(name) && bt.shape.length === 2 && mt.shape.length === 2) {
        const smaller = mt.shape[0] < bt.shape[0] || mt.shape[1] < bt.shape[1];
        action = spec.embedCrop === 'to-base' && smaller ? 'refuse' : 'crop';
      } else action = spec.shapeMismatch === 'skip' ? 'skip' : 'refuse';
      shapes.push({ tensor: name, base: bt.shape, model: mt.shape, action });
    }
  }
  for (const name of model.tensors.keys()) if (!base.tensors.has(name)) extra.push(name);
  missing.sort();
  extra.sort();
  shapes.sort((a, b) => (a.tensor < b.tensor ? -1 : a.tensor > b.tensor ? 1 : 0));
  const baseArch = JSON.stringify(base.config.architectures ?? null);
  const modelArch = JSON.stringify(model.config.architectures ?? null);
  if (baseArch !== modelArch && base.config.architectures && model.config.architectures)
    notes.push(`architecture ${modelArch} differs from the base's ${baseArch}`);
  if (base.numLayers !== model.numLayers) notes.push(`${model.numLayers} layers; the base has ${base.numLayers}`);

  // The planner's verdict for base + this model, with the method's required parameters filled in.
  let planFailed = false;
  try {
    const pair = setMethod({ merge_method: 'linear', base_model: base.ref, models: [{ model: model.ref }] }, spec.name, (r) => (r === base.ref ? base.numLayers : model.numLayers), [
      base.ref,
      model.ref,
    ]);
    const plan = buildPlan(pair, new Map([[base.ref, base], [model.ref, model]]));
    for (const w of plan.warnings) notes.push(w);
  } catch (e) {
    planFailed = true;
    notes.unshift(toRecord(e).message);
  }
  const refuse = planFailed || missing.length > 0 || dtypes.length > 0 || shapes.some((s) => s.action === 'refuse');
  const warn = shapes.length > 0 || notes.length > 0;
  return { model: model.ref, base: base.ref, verdict: refuse ? 'refuse' : warn ? 'warn' : 'ok', missing, extra, shapes, dtypes, notes };
}

/** Plans the recipe exactly as a merge would and reports sizes, the GPU memory estimate and any error. */
export async function planReport(recipe: Recipe, models: Map<string, ModelInfo>): Promise<PlanReport> {
  const empty: PlanReport = { status: 'empty', missingRefs: [], warnings: [], tensors: 0, outputBytes: 0, readBytes: 0, gpuBytes: 0, layers: 0 };
  const refs = recipeModels(recipe);
  if (refs.length === 0) return empty;
  const missingRefs = refs.filter((r) => !models.has(r));
  if (missingRefs.length) return { ...empty, status: 'incomplete', missingRefs };
  try {
    const needsVocab = recipe.tokenizer !== undefined || recipe.tokenizer_source !== undefined;
    const plan = buildPlan(recipe, models, { tokenizerTexts: needsVocab ? await readTokenizerTexts(models) : undefined });
    let outputBytes = 0;
    let readBytes = 0;
    let gpuBytes = 0;
    let largest: PlanReport['largest'];
    for (const e of plan.entries) {
      const n = e.shape.reduce((a, b) => a * b, 1);
      outputBytes += n * itemSize(e.outDtype);
      readBytes += e.inputs.reduce((a, i) => a + n * itemSize(i.tensor.dtype as Dtype), 0);
      // backends/webgpu/execute.ts chunkLimit: a chunk set holds (inputs + 5) f32 buffers within its per-tensor
      // budget (CHUNK_BUDGET_BYTES there, not exported: keep this copy in step).
      const k = e.inputs.length + 5;
      const chunk = Math.min(n, Math.floor(GPU_CHUNK_BUDGET / (4 * k)), 64 * 1024 * 1024);
      const bytes = 4 * k * chunk + e.inputs.reduce((a, i) => a + chunk * itemSize(i.tensor.dtype as Dtype), 0);
      if (bytes > gpuBytes) {
        gpuBytes = bytes;
        largest = { name: e.name, elements: n, inputs: e.inputs.length };
      }
    }
    const layers = typeof plan.config.num_hidden_layers === 'number' ? plan.config.num_hidden_layers : 0;
    const vocab = plan.vocab ? vocabReport(plan.vocab, [...plan.vocab.perms.keys()], recipe.base_model ?? [...plan.vocab.perms.keys()][0]) : undefined;
    return { status: 'ok', missingRefs: [], warnings: plan.warnings, tensors: plan.entries.length, outputBytes, readBytes, gpuBytes, largest, layers, ...(vocab ? { vocab } : {}) };
  } catch (e) {
    return { ...empty, status: 'error', error: toRecord(e) };
  }
}

// CABS for mergekit users: writes the pruned task vectors as ordinary checkpoints plus a mergekit
// recipe that merges them back into exactly the CABS result (mergekit has no CABS method).
//
// For every task-vector model k the export writes a folder whose tensors are x'_k = x_k where CABS
// keeps the position and base elsewhere — copied bit for bit from the two checkpoints, so mergekit's
// task vector x'_k − base is exactly τ_k·mask_k (0 where pruned). Where base and x_k differ in dtype,
// or an embedding is cropped, the tensor is written in F32 from the decoded values instead (rounded
// to the recipe's dtype as the engine reads them). Tensors CABS does not merge are copied unchanged;
// config.json and the tokenizer files are copied from the model.
// The recipe (mergekit_config.yml at the root):
//   merge_method: task_arithmetic when no position can be kept twice (Σ block_keep ≤ block_size, or
//   Σ floor(density·numel) ≤ numel, for every tensor): base + λ·Σ w_k·(x'_k − base) is the CABS merge;
//   otherwise ties with density 1 (no trimming) and normalize: false — its sign election and sum of
//   the agreeing values are CABS's rule on the overlapping positions (and a no-op elsewhere).
//   base_model is the recipe's base; models are "./<folder>" (run mergekit from the export folder)
//   with the recipe's per-model `weight` settings; `lambda`, dtype, out_dtype and tokenizer settings
//   are carried over.
// The masks and decoded values come through the backend door (PruneBackend): WebGPU or the CPU
// engine, the same masks and so the same exported bytes.
import type { PruneBackend } from '../backends/types';
import type { ModelInfo, TensorInfo } from '../formats/model-info';
import type { PlanEntry } from '../recipe/plan-types';
import type { Recipe } from '../recipe/types';
import type { OutputSink } from '../io/types';
import { buildPlan, readTokenizerTexts } from '../recipe/plan';
import { recipeToMergekitYaml } from '../recipe/mergekit-yaml';
import { planShards, DEFAULT_MAX_SHARD_BYTES, SHARD_INDEX_FILE, type OutputTensor } from '../formats/safetensors';
import { itemSize, isMergeable, type Dtype } from '../formats/dtype';
import { cabsExportRecipe, cabsOverlapFree } from './cabs-export-recipe';

export { cabsExportRecipe, cabsOverlapFree };
import { CancelledError, RecipeError, UnsupportedError } from '../errors';

export interface CabsExportRequest {
  recipe: Recipe;
  models: Map<string, ModelInfo>;
  sink: OutputSink;
  seed?: number;
  chunkElements?: number;
  maxShardBytes?: number;
  signal?: AbortSignal;
  /** Folder of a model's pruned checkpoint inside the output (default "<model name>-cabs"). */
  folderName?(ref: string, info: ModelInfo): string;
}

export interface CabsExportSummary {
  /** The mergekit recipe, also written as mergekit_config.yml. */
  yaml: string;
  method: 'task_arithmetic' | 'ties';
  /** Model ref → folder written for it. */
  folders: Record<string, string>;
  files: { path: string; bytes: number }[];
}

function safeFolder(name: string): string {
  const s = name.replace(/[^A-Za-z0-9._-]+/g, '_').replace(/^\.+/, '_');
  return s || 'model';
}

async function readAll(t: TensorInfo, signal?: AbortSignal): Promise<Uint8Array> {
  return t.source.read(t.byteOffset, t.byteLength, signal);
}

/** The CABS mask of task vector `xi` of an entry, as a whole-tensor bitmask (bit e: element e). */
async function maskBits(backend: PruneBackend, entry: PlanEntry, xi: number, req: CabsExportRequest): Promise<Uint32Array> {
  const s = await backend.entryMasks(entry, { chunkElements: req.chunkElements, signal: req.signal });
  const k = s ? s.models.indexOf(xi) : -1;
  if (!s || k < 0) throw new UnsupportedError(`cabs export: tensor "${entry.name}" has no task vectors`);
  return s.masks[k] ?? new Uint32Array(Math.max(1, Math.ceil(entry.shape.reduce((a, b) => a * b, 1) / 32))).fill(0xffffffff);
}

interface Produced {
  tensor: OutputTensor;
  bytes: Uint8Array;
}

/** x' of one input tensor: x where kept, base elsewhere. */
async function splice(backend: PruneBackend, entry: PlanEntry, xi: number, req: CabsExportRequest): Promise<Produced> {
  const inp = entry.inputs[xi];
  const bi = entry.inputs.findIndex((x) => x.isBase);
  const base = entry.inputs[bi];
  const bits = await maskBits(backend, entry, xi, req);
  const n = entry.shape.reduce((a, b) => a * b, 1);
  const kept = (e: number) => ((bits[e >>> 5] >>> (e & 31)) & 1) === 1;
  // same dtype, no crop: a bitwise splice (with a compute dtype, mergekit rounds x' and base alike)
  const sameLayout = inp.tensor.dtype === base.tensor.dtype && !inp.crop && !base.crop && !inp.rows && !base.rows;
  if (sameLayout) {
    const size = itemSize(inp.tensor.dtype as Dtype);
    const out = (await readAll(inp.tensor, req.signal)).slice();
    const b = await readAll(base.tensor, req.signal);
    for (let e = 0; e < n; e++) if (!kept(e)) out.set(b.subarray(e * size, (e + 1) * size), e * size);
    return { tensor: { name: inp.tensor.name, dtype: inp.tensor.dtype as Dtype, shape: [...inp.tensor.shape] }, bytes: out };
  }
  const o = { chunkElements: req.chunkElements, signal: req.signal };
  // a copy: the CPU engine may hand out a cached array
  const x = (await backend.decodedInput(entry, xi, o)).slice();
  const bv = await backend.decodedInput(entry, bi, o);
  for (let e = 0; e < n; e++) if (!kept(e)) x[e] = bv[e];
  return { tensor: { name: inp.tensor.name, dtype: 'F32', shape: [...entry.shape] }, bytes: new Uint8Array(x.buffer) };
}

/**
 * Writes, for every task-vector model of a `models:` cabs recipe, its pruned checkpoint, plus
 * mergekit_config.yml at the root; commits the sink on success, aborts it on any failure.
 */
export async function exportCabs(backend: PruneBackend, req: CabsExportRequest): Promise<CabsExportSummary> {
  const { recipe, models, sink, signal } = req;
  try {
    if (recipe.merge_method !== 'cabs') throw new RecipeError(`cabs export needs merge_method: cabs, got ${recipe.merge_method}`, { key: 'merge_method' });
    if (!recipe.models || recipe.slices) throw new UnsupportedError('cabs export supports recipes with models: (not slices:)', { key: 'slices' });
    if (!recipe.base_model) throw new RecipeError('cabs needs base_model', { key: 'base_model' });
    const needsVocab = recipe.tokenizer !== undefined || recipe.tokenizer_source !== undefined;
    const plan = buildPlan(recipe, models, { seed: req.seed, tokenizerTexts: needsVocab ? await readTokenizerTexts(models) : undefined });
    const method = cabsOverlapFree(plan.entries) ? 'task_arithmetic' : 'ties';
    const refs = [...new Set(recipe.models.map((m) => m.model).filter((r) => r !== recipe.base_model))];
    const folders: Record<string, string> = {};
    const used = new Set<string>();
    for (const ref of refs) {
      const info = models.get(ref)!;
      let f = safeFolder(req.folderName ? req.folderName(ref, info) : `${info.name}-cabs`);
      for (let i = 2; used.has(f); i++) f = `${f}-${i}`;
      used.add(f);
      folders[ref] = f;
    }
    const files: { path: string; bytes: number }[] = [];
    const write = async (path: string, parts: Uint8Array[]) => {
      const w = await sink.create(path);
      let bytes = 0;
      for (const p of parts) {
        await w.write(p);
        bytes += p.byteLength;
      }
      await w.close();
      files.push({ path, bytes });
    };
    for (const ref of refs) {
      const info = models.get(ref)!;
      // which entry (and input) merges each of this model's tensors as a task vector
      const uses = new Map<string, { entry: PlanEntry; xi: number }[]>();
      for (const e of plan.entries) {
        if (e.method !== 'cabs') continue;
        e.inputs.forEach((inp, xi) => {
          if (inp.isBase || inp.model !== ref) return;
          const list = uses.get(inp.tensor.name) ?? [];
          list.push({ entry: e, xi });
          uses.set(inp.tensor.name, list);
        });
      }
      const produced: Produced[] = [];
      for (const t of info.tensors.values()) {
        if (signal?.aborted) throw new CancelledError();
        const list = uses.get(t.name);
        if (!list) {
          if (!isMergeable(t.dtype)) throw new UnsupportedError(`cabs export: ${ref} tensor "${t.name}" has dtype ${t.dtype}, which cannot be written`, { model: ref, tensor: t.name });
          produced.push({ tensor: { name: t.name, dtype: t.dtype as Dtype, shape: [...t.shape] }, bytes: await readAll(t, signal) });
          continue;
        }
        const first = await splice(backend, list[0].entry, list[0].xi, req);
        for (const other of list.slice(1)) {
          const again = await splice(backend, other.entry, other.xi, req);
          const same = again.bytes.length === first.bytes.length && again.bytes.every((v, i) => v === first.bytes[i]);
          if (!same)
            throw new UnsupportedError(
              `cabs export: ${ref} tensor "${t.name}" feeds both "${list[0].entry.name}" and "${other.entry.name}" with different masks; one pruned checkpoint cannot hold both`,
              { model: ref, tensor: t.name },
            );
        }
        produced.push(first);
      }
      const layout = planShards(produced.map((p) => p.tensor), req.maxShardBytes ?? DEFAULT_MAX_SHARD_BYTES);
      const byName = new Map(produced.map((p) => [p.tensor.name, p.bytes]));
      for (const shard of layout.shards) await write(`${folders[ref]}/${shard.fileName}`, [shard.layout.bytes, ...shard.tensors.map((t) => byName.get(t.name)!)]);
      const enc = new TextEncoder();
      if (layout.index) await write(`${folders[ref]}/${SHARD_INDEX_FILE}`, [enc.encode(JSON.stringify(layout.index, null, 2) + '\n')]);
      await write(`${folders[ref]}/config.json`, [enc.encode(JSON.stringify(info.config, null, 2) + '\n')]);
      for (const [path, src] of info.files) await write(`${folders[ref]}/${path}`, [await src.read(0, src.size, signal)]);
    }
    const yaml = recipeToMergekitYaml(cabsExportRecipe(recipe, folders, method));
    await write('mergekit_config.yml', [new TextEncoder().encode(yaml)]);
    await sink.commit();
    return { yaml, method, folders, files };
  } catch (e) {
    await sink.abort().catch(() => {});
    throw e;
  }
}

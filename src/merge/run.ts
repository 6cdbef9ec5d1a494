// The merge executor: headers → plan → shards, streaming every output tensor through the GPU
// kernels into the sink, then config.json, tokenizer files, mergekit_config.yml and README.md.
// The sink only publishes the folder on commit(); any failure aborts it (no partial output).
import type { MergeBackend, TensorWriter } from '../backends/types';
import type { GpuTraffic } from '../gpu/traffic';
import type { MergeProgress, MergeRequest, MergeSummary } from './requests';
import type { ModelSpec } from '../io/types';
import type { ModelInfo } from '../formats/model-info';
import type { Plan, PlanEntry } from '../recipe/plan-types';
import type { Recipe } from '../recipe/types';
import { checkChatTemplate } from '../recipe/chat-templates';
import { tokenizerFiles } from './tokenizer-files';
import type { ByteSource, FileWriter, OutputSink } from '../io/types';
import { openAdapted, splitAdapterRef } from '../formats/lora';
import { planShards, DEFAULT_MAX_SHARD_BYTES, SHARD_INDEX_FILE } from '../formats/safetensors';
import { recipeToMergekitYaml } from '../recipe/mergekit-yaml';
import { buildPlan, readTokenizerTexts } from '../recipe/plan';
import { modelCard } from '../recipe/model-card';
import { BlobSource, HttpSource } from '../io/sources';
import { HubFileSource } from '../io/hub/source';
import { sinkFor, MemorySink } from '../io/sinks';
import { itemSize, type Dtype } from '../formats/dtype';
import { CancelledError, IoError, MethodError } from '../errors';

const elementCount = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);


export interface RunOptions {
  signal?: AbortSignal;
  onProgress?: (p: MergeProgress) => void;
  /** Models already opened (the CLI reads local files in Node); default: opened from req.models. */
  models?: Map<string, ModelInfo>;
  /** Where the output goes; default: sinkFor(req.output). */
  sink?: OutputSink;
}

/** (Hub files take the token, cache and meter of this thread's Hub session: io/hub/source.ts.) */
export function sourcesFor(spec: Pick<ModelSpec, 'ref' | 'files'>): Map<string, ByteSource> {
  const files = new Map<string, ByteSource>();
  for (const f of spec.files) {
    const label = `${spec.ref}/${f.path}`;
    if (f.blob) files.set(f.path, new BlobSource(label, f.blob));
    else if (f.url) files.set(f.path, new HttpSource(label, f.url, f.size));
    else if (f.hub) files.set(f.path, new HubFileSource({ ...f.hub, path: f.path, size: f.size }));
    else throw new IoError(`${label}: the file has neither a URL nor a Blob`);
  }
  return files;
}

export async function loadModels(specs: ModelSpec[], signal?: AbortSignal): Promise<Map<string, ModelInfo>> {
  const models = new Map<string, ModelInfo>();
  for (const spec of specs) {
    const base = splitAdapterRef(spec.ref).model;
    const name = base.replace(/\/+$/, '').split('/').pop() || base;
    models.set(spec.ref, await openAdapted(spec.ref, name, sourcesFor({ ref: base, files: spec.files }), spec.adapter && sourcesFor(spec.adapter), signal));
  }
  return models;
}

export async function runMerge(req: MergeRequest, backend: MergeBackend, opts: RunOptions = {}): Promise<MergeSummary> {
  const t0 = performance.now();
  const { signal } = opts;
  const progress: MergeProgress = { stage: 'reading-headers', tensorsDone: 0, tensorsTotal: 0, bytesRead: 0, bytesTotal: 0, bytesWritten: 0, elapsedMs: 0 };
  const report = (patch: Partial<MergeProgress> = {}) => {
    Object.assign(progress, patch, { elapsedMs: performance.now() - t0 });
    opts.onProgress?.({ ...progress });
  };
  report();
  const models = opts.models ?? (await loadModels(req.models, signal));
  report({ stage: 'planning' });
  const needsVocab = req.recipe.tokenizer !== undefined || req.recipe.tokenizer_source !== undefined;
  const plan = buildPlan(req.recipe, models, { seed: req.seed, tokenizerTexts: needsVocab ? await readTokenizerTexts(models) : undefined });
  checkChatTemplate(req.recipe.chat_template);
  const layout = planShards(plan.entries.map((e) => ({ name: e.name, dtype: e.outDtype, shape: e.shape })), req.maxShardBytes ?? DEFAULT_MAX_SHARD_BYTES);
  const byName = new Map(plan.entries.map((e) => [e.name, e]));
  const inputBytes = (e: PlanEntry) => e.inputs.reduce((a, i) => a + elementCount(e.shape) * itemSize(i.tensor.dtype as Dtype), 0);
  report({ stage: 'merging', tensorsTotal: plan.entries.length, bytesTotal: plan.entries.reduce((a, e) => a + inputBytes(e), 0) });

  const sink: OutputSink = opts.sink ?? sinkFor(req.output);
  const files: { path: string; bytes: number }[] = [];
  // tensors in the order they are written (shard by shard)
  const order = layout.shards.flatMap((s) => s.tensors.map((t) => byName.get(t.name)!));
  const shardOf = new Map(layout.shards.flatMap((s, i) => s.tensors.map((t) => [t.name, i] as const)));
  let shard = -1;
  let w: FileWriter | undefined;
  let written = 0;
  let tensorStart = 0;
  let current: PlanEntry | undefined;
  let gpuTraffic: GpuTraffic | undefined;
  const put = async (bytes: Uint8Array) => {
    await w!.write(bytes);
    written += bytes.byteLength;
    report({ bytesWritten: progress.bytesWritten + bytes.byteLength });
  };
  const closeShard = async () => {
    if (!w) return;
    await w.close();
    files.push({ path: layout.shards[shard].fileName, bytes: written });
    w = undefined;
  };
  const writer: TensorWriter = {
    async chunk(entry, c, bytes) {
      if (current !== entry) {
        current = entry;
        const s = shardOf.get(entry.name)!;
        while (shard < s) {
          await closeShard();
          shard++;
          w = await sink.create(layout.shards[shard].fileName);
          written = 0;
          await put(layout.shards[shard].layout.bytes);
        }
        tensorStart = written;
        report({ currentTensor: entry.name });
      }
      await put(bytes);
      const perElement = entry.inputs.reduce((a, i) => a + itemSize(i.tensor.dtype as Dtype), 0);
      report({ bytesRead: progress.bytesRead + c.count * perElement });
    },
    async done(entry) {
      const expected = elementCount(entry.shape) * itemSize(entry.outDtype);
      if (current !== entry || written - tensorStart !== expected)
        throw new MethodError(`internal error: tensor "${entry.name}" produced ${current === entry ? written - tensorStart : 0} bytes, expected ${expected}`);
      report({ tensorsDone: progress.tensorsDone + 1 });
    },
  };
  try {
    const result = await backend.mergeTensors(order, writer, { signal, chunkElements: req.chunkElements, ioOnly: req.ioOnly });
    gpuTraffic = result?.gpuTraffic;
    await closeShard();
    report({ stage: 'finalizing' });
    const text = async (path: string, content: string) => {
      const bytes = new TextEncoder().encode(content);
      const w = await sink.create(path);
      await w.write(bytes);
      await w.close();
      files.push({ path, bytes: bytes.byteLength });
    };
    if (layout.index) await text(SHARD_INDEX_FILE, JSON.stringify(layout.index, null, 2) + '\n');
    await text('config.json', JSON.stringify(plan.config, null, 2) + '\n');
    await writeTokenizer(plan, req.recipe, models, sink, files, signal);
    await text('mergekit_config.yml', recipeToMergekitYaml(req.recipe));
    await text('README.md', modelCard(req.recipe, models, { ...req.card, backend: backend.description, config: plan.config }));
    if (signal?.aborted) throw new CancelledError();
    await sink.commit();
  } catch (e) {
    await sink.abort().catch(() => {});
    throw e;
  }
  report({ stage: 'done' });
  return {
    files,
    tensors: plan.entries.length,
    bytesRead: progress.bytesRead,
    bytesWritten: progress.bytesWritten,
    elapsedMs: performance.now() - t0,
    warnings: plan.warnings,
    memoryFiles: sink instanceof MemorySink ? sink.files : undefined,
    ...(gpuTraffic ? { gpuTraffic } : {}),
  };
}

async function writeTokenizer(plan: Plan, recipe: Recipe, models: Map<string, ModelInfo>, sink: OutputSink, files: { path: string; bytes: number }[], signal?: AbortSignal) {
  for (const f of await tokenizerFiles(plan, recipe, models, signal)) {
    const w: FileWriter = await sink.create(f.name);
    await w.write(f.bytes);
    await w.close();
    files.push({ path: f.name, bytes: f.bytes.byteLength });
  }
}

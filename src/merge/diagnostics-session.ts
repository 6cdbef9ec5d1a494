// The engine worker's diagnostics state across calls: the opened model headers and the resident
// decoded inputs stay as long as the model set is the same (a slider move changes only the recipe),
// and a newer call cancels an older one still running. Without a WebGPU device the CPU engine
// computes the same figures with the same kind of caches (decoded inputs, per-tensor planes and
// sums). Importable from tests (no worker globals).
import type { Gpu } from '../gpu/device';
import type { DiagnosticsReply, DiagnosticsRequest } from './requests';
import type { ModelSpec } from '../io/types';
import type { ModelInfo } from '../formats/model-info';
import { buildPlan, readTokenizerTexts } from '../recipe/plan';
import { loadModels } from './run';
import { CpuDiagCache, diagnoseCpu } from './diagnostics-cpu';
import { CpuInputCache } from '../backends/cpu/input-cache';
import { diagnose, DiagCache } from './diagnostics';
import { InputCache } from '../gpu/input-cache';
import { RankCache } from '../gpu/rank-cache';
import { CancelledError, toRecord } from '../errors';

export const DEFAULT_DIAGNOSTICS_CACHE_BYTES = 512 * 1024 * 1024;

/** Identity of a model set: refs, paths, sizes, URLs, and for Blobs/Files their size, name and date. */
export function modelsSignature(models: ModelSpec[]): string {
  const files = (fs: ModelSpec['files']) =>
    fs.map((f) => {
      const blob = f.blob as (Blob & { name?: string; lastModified?: number }) | undefined;
      return [f.path, f.size, f.url ?? null, blob ? [blob.size, blob.type, blob.name ?? null, blob.lastModified ?? null] : null];
    });
  // a LoRA adapter's files count too: another adapter under the same name is another model
  return JSON.stringify(models.map((m) => [m.ref, files(m.files), ...(m.adapter ? [m.adapter.ref, files(m.adapter.files)] : [])]));
}

export class DiagnosticsSession {
  private signature = '';
  private models?: Map<string, ModelInfo>;
  private tokenizerTexts?: Map<string, string | undefined>;
  private cache?: InputCache;
  private ranks?: RankCache;
  private diag?: DiagCache;
  private cpuInputs?: CpuInputCache;
  private cpuDiag?: CpuDiagCache;
  private current?: AbortController;
  private queue: Promise<unknown> = Promise.resolve();

  /** Runs after any call still in flight (which it cancels); never rejects. */
  run(gpu: () => Promise<Gpu>, req: DiagnosticsRequest): Promise<DiagnosticsReply> {
    this.current?.abort();
    const ctl = new AbortController();
    this.current = ctl;
    const next = this.queue.then(() => this.once(gpu, req, ctl.signal));
    this.queue = next.catch(() => {});
    return next;
  }

  private async once(getGpuFn: () => Promise<Gpu>, req: DiagnosticsRequest, signal: AbortSignal): Promise<DiagnosticsReply> {
    try {
      if (signal.aborted) throw new CancelledError();
      // no WebGPU device at all: the CPU engine computes the same figures
      const gpu = await getGpuFn().catch(() => undefined);
      const sig = modelsSignature(req.models);
      const budget = req.cacheBytes ?? DEFAULT_DIAGNOSTICS_CACHE_BYTES;
      if (sig !== this.signature || !this.models) {
        this.reset();
        this.models = await loadModels(req.models, signal);
        this.signature = sig;
      }
      if (!this.cache || this.cache.budgetBytes !== budget) {
        this.cache?.clear();
        this.ranks?.clear();
        this.diag?.clear();
        this.cache = budget > 0 ? new InputCache(budget) : undefined;
        this.ranks = budget > 0 ? new RankCache(budget) : undefined;
        this.diag = budget > 0 ? new DiagCache(budget) : undefined;
      }
      if (!gpu && (!this.cpuInputs || this.cpuInputs.budgetBytes !== budget)) {
        this.cpuInputs = budget > 0 ? new CpuInputCache(budget) : undefined;
        this.cpuDiag = budget > 0 ? new CpuDiagCache(budget) : undefined;
      }
      const needsVocab = req.recipe.tokenizer !== undefined || req.recipe.tokenizer_source !== undefined;
      if (needsVocab && !this.tokenizerTexts) this.tokenizerTexts = await readTokenizerTexts(this.models);
      const plan = buildPlan(req.recipe, this.models, { seed: req.seed, tokenizerTexts: needsVocab ? this.tokenizerTexts : undefined });
      if (!gpu) {
        const res = await diagnoseCpu(plan, { signal, tensors: req.tensors, inputCache: this.cpuInputs, diagCache: this.cpuDiag });
        return { ok: true, ...res, cache: { bytes: (this.cpuInputs?.bytes ?? 0) + (this.cpuDiag?.bytes ?? 0), entries: this.cpuInputs?.size ?? 0 } };
      }
      const res = await diagnose(gpu, plan, { chunkElements: req.chunkElements, signal, inputCache: this.cache, rankCache: this.ranks, diagCache: this.diag, tensors: req.tensors });
      return { ok: true, ...res, cache: { bytes: (this.cache?.bytes ?? 0) + (this.ranks?.bytes ?? 0) + (this.diag?.bytes ?? 0), entries: this.cache?.size ?? 0 } };
    } catch (e) {
      return { ok: false, error: toRecord(e) };
    }
  }

  /** Forgets the models and frees the resident inputs. */
  reset(): void {
    this.cache?.clear();
    this.cache = undefined;
    this.ranks?.clear();
    this.ranks = undefined;
    this.diag?.clear();
    this.diag = undefined;
    this.cpuInputs?.clear();
    this.cpuInputs = undefined;
    this.cpuDiag?.clear();
    this.cpuDiag = undefined;
    this.models = undefined;
    this.tokenizerTexts = undefined;
    this.signature = '';
  }
}

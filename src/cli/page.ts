// The headless CLI's page (cli.html): starts the engine worker and exposes window.runMerge /
// window.capabilities / window.cancelMerge for Playwright. Progress goes to window.__progress,
// a function the CLI exposes with page.exposeFunction (throttled here to ~10/s; stage changes
// always go through). If the worker fails to load or dies, pending calls reject instead of
// hanging forever (comlink alone would wait).
import * as Comlink from 'comlink';
import { getGpu } from '../gpu/device';
import { loadModels } from '../merge/run';
import { decomposeDelta, deltaOf, readTensorValues, type ExtractOptions, type MatmulEngine } from '../merge/extract-lora';
import { webgpuMatmul } from '../merge/extract-lora-webgpu';
import type { ModelInfo } from '../formats/model-info';
import type { ModelSpec } from '../io/types';
import { startEngine } from '../worker/client';
import type { CabsExportRequest, CabsExportResult, DiagnosticsReply, DiagnosticsRequest, EngineApi, EvaluateReply, EvaluateRequest, EvolveProgress, EvolveReply, EvolveStartRequest, GpuReport, MergeProgress, MergeRequest, MergeResult } from '../worker/api';

declare global {
  interface Window {
    runMerge(req: MergeRequest): Promise<MergeResult>;
    exportCabs(req: CabsExportRequest): Promise<CabsExportResult>;
    capabilities(): Promise<GpuReport>;
    cancelMerge(): Promise<void>;
    /** Merge diagnostics (npm run bench:diagnostics). */
    runDiagnostics(req: DiagnosticsRequest): Promise<DiagnosticsReply>;
    /** Evaluation (npm run eval, npm run bench:eval). */
    runEvaluate(req: EvaluateRequest): Promise<EvaluateReply>;
    logitError: EngineApi['logitError'];
    setEvalBackend: EngineApi['setEvalBackend'];
    runEvolve(req: EvolveStartRequest): Promise<EvolveReply>;
    __evolveProgress?: (p: EvolveProgress) => void;
    __progress?: (p: MergeProgress) => Promise<void> | void;
    __engineReady?: boolean;
    /** One module of `npm run extract-lora --backend webgpu`: its randomized SVD with the products on this page's GPU. */
    extractLoraModule(req: ExtractModuleRequest): Promise<ExtractModuleReply>;
  }
}

export interface ExtractModuleRequest {
  /** The fine-tune and the base, in that order (served by the CLI like a merge's models). */
  models: ModelSpec[];
  module: string;
  options: ExtractOptions;
}

/** Plain arrays: f32 values survive the trip to Node exactly as doubles. */
export interface ExtractModuleReply {
  rank: number;
  a: number[];
  b: number[];
  singular: number[];
  total: number;
  retained: number;
}

let failWorker: (reason: Error) => void = () => {};
const workerFailed = new Promise<never>((_, reject) => {
  failWorker = reject;
});
workerFailed.catch(() => {});

// Watch the engine's Worker for load/runtime failures without changing worker/client.ts.
const NativeWorker = window.Worker;
window.Worker = class WatchedWorker extends NativeWorker {
  constructor(url: string | URL, options?: WorkerOptions) {
    super(url, options);
    this.addEventListener('error', (ev) => {
      const msg = ev instanceof ErrorEvent && ev.message ? ev.message : 'the script failed to load or threw at startup';
      failWorker(new Error(`The engine worker failed: ${msg} (run with --verbose to see the browser console)`));
    });
    this.addEventListener('messageerror', () => failWorker(new Error('The engine worker sent a message that could not be deserialized')));
  }
};
const engine = startEngine();
window.Worker = NativeWorker;

const guarded = <T>(p: Promise<T>): Promise<T> => Promise.race([p, workerFailed]);

window.capabilities = () => guarded(engine.api.capabilities());
window.cancelMerge = () => engine.api.cancel();
window.runDiagnostics = (req: DiagnosticsRequest) => guarded<DiagnosticsReply>(engine.api.diagnostics(req));
window.setEvalBackend = (b) => guarded(engine.api.setEvalBackend(b));
window.logitError = (req) => guarded<Awaited<ReturnType<EngineApi['logitError']>>>(engine.api.logitError(req));
window.runEvolve = (req: EvolveStartRequest) => guarded<EvolveReply>(engine.api.evolveStart(req, Comlink.proxy((p: EvolveProgress) => void window.__evolveProgress?.(p))));
window.runEvaluate = (req: EvaluateRequest) => guarded<EvaluateReply>(engine.api.evaluate(req));
window.exportCabs = (req: CabsExportRequest) => engine.api.exportCabs(req);
window.runMerge = async (req: MergeRequest) => {
  let last = 0;
  let lastStage = '';
  let pending: MergeProgress | undefined;
  const flush = (p: MergeProgress) => {
    last = performance.now();
    lastStage = p.stage;
    pending = undefined;
    void window.__progress?.(p);
  };
  const onProgress = (p: MergeProgress) => {
    if (p.stage !== lastStage || performance.now() - last >= 100) flush(p);
    else pending = p;
  };
  try {
    return await guarded<MergeResult>(engine.api.merge(req, engine.progress(onProgress)));
  } finally {
    if (pending) flush(pending);
  }
};
// extract-lora on WebGPU: the page's own device (the engine worker has its own), models opened once
let extraction: { key: string; models: ModelInfo[]; engine: MatmulEngine } | undefined;
window.extractLoraModule = async (req: ExtractModuleRequest): Promise<ExtractModuleReply> => {
  const key = JSON.stringify(req.models.map((m) => m.ref));
  if (extraction?.key !== key) {
    extraction?.engine.dispose?.();
    const opened = await loadModels(req.models);
    extraction = { key, models: req.models.map((m) => opened.get(m.ref)!), engine: webgpuMatmul((await getGpu()).device) };
  }
  const [tuned, base] = extraction.models;
  const name = `${req.module}.weight`;
  const t = tuned.tensors.get(name);
  const b = base.tensors.get(name);
  if (!t || !b) throw new Error(`${name} is not in both models`);
  const [rows, cols] = t.shape;
  const d = await decomposeDelta(deltaOf(await readTensorValues(t), await readTensorValues(b)), rows, cols, req.module, req.options, extraction.engine);
  return { rank: d.rank, a: Array.from(d.a), b: Array.from(d.b), singular: d.singular, total: d.total, retained: d.retained };
};
window.__engineReady = true;

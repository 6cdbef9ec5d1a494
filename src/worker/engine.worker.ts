// The engine worker: owns the one GPUDevice and exposes the EngineApi over comlink. Thin on
// purpose — the logic lives in merge/ and gpu/, importable from tests.
import * as Comlink from 'comlink';
import type { CabsExportRequest, CabsExportResult, DiagnosticsReply, DiagnosticsRequest, EngineApi, MergeProgress, MergeRequest, MergeResult } from './api';
import { getGpu, gpuReport } from '../gpu/device';
import { loadModels, runMerge } from '../merge/run';
import { WebGpuBackend } from '../backends/webgpu/backend';
import type { MergeBackend } from '../backends/types';
import type { CpuBackend } from '../backends/cpu/backend';
import { browserCpuBackend } from '../backends/cpu/browser-pool';
import { exportCabs } from '../merge/cabs-export';
import { MemorySink, sinkFor } from '../io/sinks';
import { CancelledError, toRecord, type ErrorRecord } from '../errors';
import { EvaluatorLock } from './evaluator-lock';
import { DiagnosticsSession } from '../merge/diagnostics-session';
import { EvalService } from '../eval/service';
import { EvolveService } from '../evolve/service';
import { applyHubSession } from '../io/hub/session';
import type { CompleteReply, CompleteRequest, EvaluateReply, EvaluateRequest, EvolveProgress, EvolveReply, EvolveStartRequest } from './api';

let current: AbortController | null = null;
const diagnosticsSession = new DiagnosticsSession();
// Evaluation falls back to the wasm EP (weights merged on the CPU) where WebGPU is missing.
const evalService = new EvalService(getGpu, { backend: 'auto' });
const evolveService = new EvolveService(evalService);
let evalQueue: Promise<unknown> = Promise.resolve();
let evalCurrent: AbortController | null = null;
/** Try it evaluations and evolution runs share the evaluator: one kind at a time. */
const evaluator = new EvaluatorLock();

/** Evaluations run one at a time on the shared GPU state; a newer one cancels the one waiting or running. */
function evalJob<T>(job: (signal: AbortSignal) => Promise<T>): Promise<T | { ok: false; error: ErrorRecord }> {
  evalCurrent?.abort();
  const ctl = new AbortController();
  evalCurrent = ctl;
  const run = evalQueue.then(async () => {
    let release: (() => void) | undefined;
    try {
      if (ctl.signal.aborted) throw new CancelledError();
      release = evaluator.acquire('evaluation');
      return await job(ctl.signal);
    } catch (e) {
      return { ok: false as const, error: toRecord(e) };
    } finally {
      release?.();
    }
  });
  evalQueue = run;
  return run;
}

/** Runs an evolution call holding the evaluator; refused (typed error) while an evaluation runs. */
async function withEvaluator(run: () => Promise<EvolveReply>): Promise<EvolveReply> {
  let release: () => void;
  try {
    release = evaluator.acquire('evolution');
  } catch (e) {
    return { ok: false, error: toRecord(e) };
  }
  try {
    return await run();
  } finally {
    release();
  }
}

type Outcome<T> = { ok: true; summary: T } | { ok: false; error: ErrorRecord };

/**
 * Runs one writing job at a time (a new one cancels the running one) and turns failures into
 * typed records; in-memory outputs are transferred, not copied.
 */
async function exclusive<T extends { memoryFiles?: Record<string, Uint8Array> }>(job: (signal: AbortSignal) => Promise<T>): Promise<Outcome<T>> {
  current?.abort();
  const ctl = new AbortController();
  current = ctl;
  try {
    const summary = await job(ctl.signal);
    const buffers = Object.values(summary.memoryFiles ?? {}).map((b) => b.buffer as ArrayBuffer);
    return { ok: true, summary: buffers.length ? Comlink.transfer(summary, buffers) : summary };
  } catch (e) {
    return { ok: false, error: toRecord(e) };
  } finally {
    if (current === ctl) current = null;
  }
}

let cpuBackend: CpuBackend | undefined;

/**
 * The engine merges run on: WebGPU on a hardware adapter; the CPU engine (Web Workers) when there
 * is no WebGPU, no adapter, or only a software fallback adapter (SwiftShader emulates a GPU on the
 * same cores, several times slower than the CPU engine, with the same bytes).
 */
async function mergeBackend(engine: MergeRequest['engine'] = 'auto'): Promise<{ backend: MergeBackend; reason?: string }> {
  if (engine === 'webgpu') return { backend: new WebGpuBackend(await getGpu()) };
  let gpu = null;
  let reason: string | undefined;
  try {
    gpu = await getGpu();
  } catch (e) {
    reason = toRecord(e).message;
  }
  if (gpu && !gpu.isFallbackAdapter && engine !== 'cpu') return { backend: new WebGpuBackend(gpu) };
  cpuBackend ??= browserCpuBackend();
  return { backend: cpuBackend, reason: reason ?? 'WebGPU offers only a software (fallback) adapter here' };
}

const api: EngineApi = {
  async setHub(s) {
    await applyHubSession(s);
  },
  async capabilities() {
    const report = gpuReport(await getGpu().catch(() => null));
    const { backend, reason } = await mergeBackend();
    return { ...report, merge: { engine: backend.kind, description: backend.description, reason } };
  },
  merge(req: MergeRequest, onProgress?: (p: MergeProgress) => void): Promise<MergeResult> {
    return exclusive(async (signal) => runMerge(req, (await mergeBackend(req.engine)).backend, { signal, onProgress }));
  },
  cancel() {
    current?.abort();
  },
  diagnostics(req: DiagnosticsRequest): Promise<DiagnosticsReply> {
    return diagnosticsSession.run(getGpu, req);
  },
  evaluate(req: EvaluateRequest): Promise<EvaluateReply> {
    return evalJob(async (signal) => {
      const { target, models, evalSets, ...opts } = req;
      await evalService.useModels(models, signal);
      return { ok: true as const, summary: await evalService.evaluate(target, evalSets, { ...opts, signal }) };
    });
  },
  complete(req: CompleteRequest): Promise<CompleteReply> {
    return evalJob(async (signal) => {
      await evalService.useModels(req.models, signal);
      const r = await evalService.complete(req.target, req.prompt, req.maxNewTokens ?? 32, signal);
      return { ok: true as const, ...r };
    });
  },
  setEvalBackend(backend) {
    return evalJob(async () => {
      evalService.setBackend(backend);
      return evalService.backend();
    }) as Promise<'webgpu' | 'wasm'>;
  },
  logitError(req) {
    return evalJob(async (signal) => {
      await evalService.useModels(req.models, signal);
      return { ok: true as const, ...(await evalService.logitError(req.target, req.ids, signal)) };
    });
  },
  evolveStart(req: EvolveStartRequest, onProgress?: (p: EvolveProgress) => void): Promise<EvolveReply> {
    return withEvaluator(() => evolveService.start(req.id, req.config, req.inputs, onProgress));
  },
  evolveResume(id: string, onProgress?: (p: EvolveProgress) => void): Promise<EvolveReply> {
    return withEvaluator(() => evolveService.resume(id, onProgress));
  },
  evolvePause() {
    evolveService.pause();
  },
  evolveStop() {
    evolveService.stop();
  },
  evolveRuns() {
    return evolveService.list();
  },
  evolveRemove(id: string) {
    return evolveService.remove(id);
  },
  exportCabs(req: CabsExportRequest): Promise<CabsExportResult> {
    return exclusive(async (signal) => {
      const { backend } = await mergeBackend(req.engine);
      const models = await loadModels(req.models, signal);
      const sink = sinkFor(req.output);
      const s = await exportCabs(backend, { recipe: req.recipe, models, sink, seed: req.seed, maxShardBytes: req.maxShardBytes, chunkElements: req.chunkElements, signal });
      return { ...s, memoryFiles: sink instanceof MemorySink ? sink.files : undefined };
    });
  },
};

Comlink.expose(api);

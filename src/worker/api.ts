// The typed surface of the engine worker (one worker owns the GPUDevice). The studio and the
// headless CLI page talk to it only through this API (comlink). Everything here is structured-cloneable.
// The request and reply records belong to the rooms that handle them (io/, gpu/, merge/, eval/,
// evolve/); they are re-exported here for the worker's callers. Nothing below worker/ imports this file.

import type { ErrorRecord } from '../errors';
import type { GpuReport } from '../gpu/device';
import type { CabsExportRequest, CabsExportResult, DiagnosticsReply, DiagnosticsRequest, MergeProgress, MergeRequest, MergeResult } from '../merge/requests';
import type { CompleteReply, CompleteRequest, EvaluateReply, EvaluateRequest } from '../eval/requests';
import type { EvalTarget } from '../eval/target';
import type { EvolveProgress, EvolveReply, EvolveStartRequest, RunView } from '../evolve/service';
import type { ModelSpec } from '../io/types';
import type { HubSession } from '../io/hub/session';

export type { ModelFileSpec, ModelSpec, OutputSpec } from '../io/types';
export type { GpuReport } from '../gpu/device';
export type { MergeRequest, MergeProgress, MergeSummary, MergeResult, OutputFileSummary, DiagnosticsRequest, DiagnosticsReply, CabsExportRequest, CabsExportResult } from '../merge/requests';
export type { DiagnosticsResult, TensorDiagnostics, LayerDiagnostics, DiagnosticsFigures } from '../merge/diagnostics';
export type { EvaluateRequest, EvaluateReply, CompleteRequest, CompleteReply } from '../eval/requests';
export type { EvalSetInput, EvaluateSummary } from '../eval/service';
export type { EvalTarget } from '../eval/target';
export type { Readback } from '../eval/ort-lm';
export type { EvolveConfig } from '../evolve/run';
export type { EvolveInputs, EvolveProgress, EvolveReply, EvolveStartRequest, RunView } from '../evolve/service';

export type { HubSession } from '../io/hub/session';

export interface EngineApi {
  capabilities(): Promise<GpuReport>;
  /** The Hub token (memory only) and byte-cache limit this worker reads Hub files with. */
  setHub(s: HubSession): Promise<void>;
  /** Runs a merge. Never rejects for user errors: returns { ok: false, error } with a typed record. */
  merge(req: MergeRequest, onProgress?: (p: MergeProgress) => void): Promise<MergeResult>;
  /**
   * Diagnostics of a recipe over loaded models, on the GPU. A newer call cancels an older one still
   * running (it then answers { ok: false } with code 'cancelled'). Never rejects for user errors.
   */
  diagnostics(req: DiagnosticsRequest): Promise<DiagnosticsReply>;
  /** Writes a cabs recipe's pruned task vectors as checkpoints plus the mergekit recipe that reproduces the merge. */
  exportCabs(req: CabsExportRequest): Promise<CabsExportResult>;
  /** Merges (never writing) and scores eval sets; a newer evaluation or completion cancels an older one. Never rejects for user errors. */
  evaluate(req: EvaluateRequest): Promise<EvaluateReply>;
  complete(req: CompleteRequest): Promise<CompleteReply>;
  /**
   * Where evaluation runs: 'auto' (default: WebGPU on a hardware adapter, wasm without WebGPU or on
   * a software adapter), or forced. Resolves to the backend now in use.
   */
  setEvalBackend(backend: 'auto' | 'webgpu' | 'wasm'): Promise<'webgpu' | 'wasm'>;
  /** Benchmark check: ORT logits vs the CPU reference forward on the same merged weights (reads the weights back, for this check only). */
  logitError(req: { target: EvalTarget; models: ModelSpec[]; ids: number[][] }): Promise<{ ok: true; maxAbs: number; relative: number; weightBytesReadBack: number } | { ok: false; error: ErrorRecord }>;
  /** Starts an evolution run; resolves when it finishes, pauses or stops (progress through the callback). */
  evolveStart(req: EvolveStartRequest, onProgress?: (p: EvolveProgress) => void): Promise<EvolveReply>;
  /** Continues a saved run (paused, or interrupted by a reload). */
  evolveResume(id: string, onProgress?: (p: EvolveProgress) => void): Promise<EvolveReply>;
  evolvePause(): void;
  evolveStop(): void;
  evolveRuns(): Promise<RunView[]>;
  evolveRemove(id: string): Promise<void>;
  cancel(): void;
}

// The typed surface of the engine worker (one worker owns the GPUDevice). The studio and the
// headless CLI page talk to it only through this API (comlink). Everything here is structured-cloneable.

import type { Recipe } from '../recipe/types';
import type { ErrorRecord } from '../errors';
import type { DiagnosticsResult } from '../merge/diagnostics';
import type { EvalSetInput, EvaluateOptions, EvaluateSummary } from '../eval/service';
import type { EvalTarget } from '../eval/target';
import type { Readback } from '../eval/ort-lm';

import type { EvolveConfig } from '../evolve/run';
import type { EvolveInputs, EvolveProgress, EvolveReply, RunView } from '../evolve/service';

export type { EvalSetInput, EvaluateSummary, EvalTarget, Readback, EvolveConfig, EvolveInputs, EvolveProgress, EvolveReply, RunView };

export type { DiagnosticsResult, TensorDiagnostics, LayerDiagnostics, DiagnosticsFigures } from '../merge/diagnostics';

/** Where a model's files come from, as seen by the worker. */
export interface ModelFileSpec {
  /** Path inside the model folder, e.g. "model-00001-of-00002.safetensors" or "config.json". */
  path: string;
  size: number;
  /** Either a URL readable with HTTP Range requests … */
  url?: string;
  /** … or a File / Blob (the studio). */
  blob?: Blob;
}
export interface ModelSpec {
  /** The reference exactly as the recipe writes it. */
  ref: string;
  files: ModelFileSpec[];
}

export type OutputSpec =
  /** The CLI: files are streamed to a localhost server over one WebSocket (see io/ws-sink.ts). */
  | { kind: 'ws'; url: string }
  /** Files are streamed to a localhost server with HTTP requests (see io/http-sink.ts). */
  | { kind: 'http'; url: string }
  /** The studio: a directory the user picked (File System Access API). */
  | { kind: 'directory'; handle: FileSystemDirectoryHandle }
  /** OPFS subdirectory name (fallback, and tests). */
  | { kind: 'opfs'; dir: string }
  /** Keep everything in memory and return it (tests only; small models). */
  | { kind: 'memory' };

export interface MergeRequest {
  recipe: Recipe;
  models: ModelSpec[];
  output: OutputSpec;
  /** Override the seed for random methods (CLI --seed). */
  seed?: number;
  /** Max output shard size in bytes (default 5e9, like mergekit). */
  maxShardBytes?: number;
  /** Force a chunk size in elements (tests: results must not depend on it). */
  chunkElements?: number;
  /**
   * Benchmark only: read every input byte range and write an output of the same layout and size,
   * with no GPU work (the I/O floor that `npm run bench:merge` compares merges against).
   */
  ioOnly?: boolean;
  /** Which engine: 'auto' (default: WebGPU on a hardware adapter, else the CPU engine), or forced. */
  engine?: 'auto' | 'webgpu' | 'cpu';
}

export interface MergeProgress {
  stage: 'reading-headers' | 'planning' | 'merging' | 'finalizing' | 'done';
  tensorsDone: number;
  tensorsTotal: number;
  /** Bytes of input tensor data read so far / in total. */
  bytesRead: number;
  bytesTotal: number;
  bytesWritten: number;
  currentTensor?: string;
  elapsedMs: number;
}

export interface OutputFileSummary {
  path: string;
  bytes: number;
}

export interface MergeSummary {
  files: OutputFileSummary[];
  tensors: number;
  bytesRead: number;
  bytesWritten: number;
  elapsedMs: number;
  warnings: string[];
  /** Only for output kind 'memory'. */
  memoryFiles?: Record<string, Uint8Array>;
}

export interface GpuReport {
  available: boolean;
  vendor: string;
  architecture: string;
  description: string;
  isFallbackAdapter: boolean;
  features: string[];
  limits: { maxBufferSize: number; maxStorageBufferBindingSize: number; maxStorageBuffersPerShaderStage: number; maxComputeWorkgroupsPerDimension: number };
  /**
   * Which engine merges run on here (set by the engine worker): WebGPU on a hardware adapter, the
   * CPU engine otherwise (no WebGPU, no adapter, or only a software fallback adapter).
   */
  merge?: { engine: 'webgpu' | 'cpu'; description: string; reason?: string };
}

export type MergeResult = { ok: true; summary: MergeSummary } | { ok: false; error: ErrorRecord };

/** What the studio draws while tuning sparsity (merge/diagnostics.ts): nothing is merged or written. */
export interface DiagnosticsRequest {
  recipe: Recipe;
  models: ModelSpec[];
  /** Override the seed for random methods. */
  seed?: number;
  /** Only these output tensors (default: all). */
  tensors?: string[];
  /** Force a chunk size in elements (tests). */
  chunkElements?: number;
  /**
   * GPU bytes of decoded inputs kept resident between calls with the same models (default 512 MiB;
   * 0 turns the cache off). Headers are kept too; a different model set clears both.
   */
  cacheBytes?: number;
}

export type DiagnosticsReply = ({ ok: true } & DiagnosticsResult & { cache: { bytes: number; entries: number } }) | { ok: false; error: ErrorRecord };

/** CABS → mergekit (merge/cabs-export.ts): pruned checkpoints of every task vector plus mergekit_config.yml. */
export interface CabsExportRequest {
  recipe: Recipe;
  models: ModelSpec[];
  output: OutputSpec;
  seed?: number;
  maxShardBytes?: number;
  chunkElements?: number;
}

export type CabsExportResult =
  | { ok: true; summary: { yaml: string; method: 'task_arithmetic' | 'ties'; folders: Record<string, string>; files: OutputFileSummary[]; memoryFiles?: Record<string, Uint8Array> } }
  | { ok: false; error: ErrorRecord };

/** Evaluation (eval/service.ts): merge on the GPU without writing, then score eval sets with onnxruntime-web. */
export interface EvaluateRequest extends Omit<EvaluateOptions, 'signal'> {
  target: EvalTarget;
  models: ModelSpec[];
  evalSets: EvalSetInput[];
}
export type EvaluateReply = { ok: true; summary: EvaluateSummary } | { ok: false; error: ErrorRecord };

/** "Try it": the greedy completion of one prompt. */
export interface CompleteRequest {
  target: EvalTarget;
  models: ModelSpec[];
  prompt: string;
  maxNewTokens?: number;
}
export type CompleteReply = { ok: true; text: string; tokens: number; ms: number; readback: Readback } | { ok: false; error: ErrorRecord };

/** Evolution (evolve/service.ts): runs in the worker, saved to IndexedDB every generation. */
export interface EvolveStartRequest {
  id: string;
  config: EvolveConfig;
  inputs: EvolveInputs;
}

export interface EngineApi {
  capabilities(): Promise<GpuReport>;
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

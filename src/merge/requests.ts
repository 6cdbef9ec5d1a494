// What callers ask of the merge engine and what it answers: merges to an output folder, merge
// diagnostics and the CABS export. Plain structured-cloneable records, so the engine worker passes
// them through unchanged (worker/api.ts) and the CLI page builds them (cli/page.ts).

import type { Recipe } from '../recipe/types';
import type { ModelIdentity } from '../recipe/share-url';
import type { ErrorRecord } from '../errors';
import type { ModelSpec, OutputSpec } from '../io/types';
import type { DiagnosticsResult } from './diagnostics';
import type { GpuTraffic } from '../gpu/traffic';

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
  /**
   * What the model card (README.md) links to: the studio address for its share link, the Hub for
   * model links, and the inputs' identities (the studio's shelf knows fingerprints). The card also
   * names the engine that ran. The file a Hub publish pushes is this one, unchanged.
   */
  card?: { studioUrl?: string; hubUrl?: string; identities?: ModelIdentity[] };
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
  /** WebGPU engine: the bytes its kernels and transfers moved, against input and output bytes. */
  gpuTraffic?: GpuTraffic;
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
  /** Which engine computes the masks: as MergeRequest.engine (the same masks, the same bytes on every engine). */
  engine?: 'auto' | 'webgpu' | 'cpu';
}

export type CabsExportResult =
  | { ok: true; summary: { yaml: string; method: 'task_arithmetic' | 'ties'; folders: Record<string, string>; files: OutputFileSummary[]; memoryFiles?: Record<string, Uint8Array> } }
  | { ok: false; error: ErrorRecord };

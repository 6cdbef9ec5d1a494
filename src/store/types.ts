// Plain data the studio's stores hold and the inspector worker returns (structured-cloneable; no
// GPU objects, no class instances besides File/Blob).
import type { ErrorRecord } from '../errors';
import type { MergeProgress, MergeSummary } from '../worker/api';
import type { VocabReport } from '../recipe/vocab';
import type { AdapterSummary } from '../formats/lora';

export interface TensorRow {
  name: string;
  dtype: string;
  shape: number[];
  bytes: number;
  /** The file holding it (path inside the model folder). */
  shard: string;
}

export interface DtypeCount {
  dtype: string;
  tensors: number;
  bytes: number;
}

export interface ModelSummary {
  architecture: string;
  modelType: string;
  layers: number;
  hidden: number | null;
  vocab: number | null;
  /** Elements over all tensors. */
  params: number;
  dtypes: DtypeCount[];
  /** Bytes of the .safetensors files. */
  weightBytes: number;
  /** Bytes of every file of the model. */
  totalBytes: number;
  shards: string[];
  tensors: number;
  /** Hex SHA-256 fingerprint: headers + data samples (recipe/share-url.ts ModelIdentity.hash). */
  fingerprint: string;
}

export interface ShelfFile {
  /** Path inside the model folder. */
  path: string;
  size: number;
  /** The bytes (dropped, picked or demo files) … */
  file?: Blob;
  /** … or a Hub file at a pinned commit (read by range; never downloaded whole). */
  hub?: { endpoint: string; repo: string; commit: string };
}

/** Where a Hub model on the shelf comes from. */
export interface ShelfHubOrigin {
  endpoint: string;
  repo: string;
  /** The revision asked for (branch, tag or commit). */
  revision: string;
  /** The commit it was pinned to when added. */
  commit: string;
}

export interface ShelfModel {
  id: string;
  /** The reference the recipe uses (unique on the shelf). */
  ref: string;
  /** Where it came from: a folder name or file name. */
  name: string;
  origin: 'demo' | 'local' | 'hub';
  files: ShelfFile[];
  hub?: ShelfHubOrigin;
  status: 'reading' | 'ready' | 'error';
  error?: string;
  summary?: ModelSummary;
  tensors?: TensorRow[];
  /**
   * A PEFT LoRA adapter dropped on the card: the model then reads as "model+adapter" (its ref is
   * `${base ref}+${adapter.ref}`), the adapter applied while the base streams.
   */
  adapter?: { ref: string; files: ShelfFile[]; summary?: AdapterSummary };
}

export interface ShapeIssue {
  tensor: string;
  base: number[];
  model: number[];
  /** What a merge with the current method does: crop the embedding, skip this model's tensor, or refuse. */
  action: 'crop' | 'skip' | 'refuse';
}

/** How a model fits the base, tensor by tensor, under the current method. */
export interface CompatReport {
  model: string;
  base: string;
  verdict: 'ok' | 'warn' | 'refuse';
  /** Tensors the base has and this model lacks (the merge refuses: mergekit "Tensor … required but not present"). */
  missing: string[];
  /** Tensors only this model has (not merged: the output follows the base's tensor list). */
  extra: string[];
  shapes: ShapeIssue[];
  /** Tensors in a dtype that cannot be merged. */
  dtypes: { tensor: string; dtype: string }[];
  notes: string[];
}

/** Whether the current recipe would merge, exactly as the engine plans it. */
export interface PlanReport {
  status: 'ok' | 'error' | 'incomplete' | 'empty';
  error?: ErrorRecord;
  /** Recipe references with no model on the shelf. */
  missingRefs: string[];
  warnings: string[];
  tensors: number;
  outputBytes: number;
  readBytes: number;
  /** Peak GPU buffer bytes of the largest tensor (inputs + scratch, bounded by the engine's chunk budget). */
  gpuBytes: number;
  largest?: { name: string; elements: number; inputs: number };
  /** Layers of the output (Σ slice lengths). */
  layers: number;
  /** With a tokenizer setting: the output vocabulary and, per model, the tokens it lacks and their fills. */
  vocab?: VocabReport;
}

export interface Analysis {
  plan: PlanReport;
  compat: CompatReport[];
}

export type OutputTarget = { kind: 'directory'; name: string } | { kind: 'opfs'; dir: string };

export interface FileHash {
  path: string;
  bytes: number;
  sha256?: string;
}

/** A merge run as an explicit state machine. */
export type RunState =
  | { kind: 'idle' }
  | { kind: 'picking' }
  | { kind: 'merging'; target: OutputTarget; progress: MergeProgress | null; startedAt: number; rate: number; cancelling: boolean }
  | { kind: 'done'; target: OutputTarget; summary: MergeSummary; files: FileHash[]; hashing: boolean; downloads?: { path: string; url: string }[] }
  | { kind: 'failed'; error: ErrorRecord }
  | { kind: 'cancelled'; target: OutputTarget; clean: boolean };

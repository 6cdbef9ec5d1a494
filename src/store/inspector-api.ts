// The inspector worker's typed surface (comlink): reads model headers, checks compatibility and
// plans recipes with the engine's own planner, and hashes output files — all off the main thread.
// It never touches the GPU; merges go to the engine worker.
import type { ErrorRecord } from '../errors';
import type { Recipe } from '../recipe/types';
import type { AdapterSummary } from '../formats/lora';
import type { Analysis, ModelSummary, TensorRow } from './types';
import type { HubSession } from '../io/hub/session';

/** A model file as the inspector reads it: a Blob, or a Hub file at a pinned commit. */
export type InspectFile = { path: string; size: number; file?: Blob; hub?: { endpoint: string; repo: string; commit: string } };

export type OpenResult = { ok: true; summary: ModelSummary; tensors: TensorRow[]; adapter?: AdapterSummary } | { ok: false; error: ErrorRecord };

export type HashTarget = { kind: 'opfs'; dir: string } | { kind: 'directory'; handle: FileSystemDirectoryHandle };

export interface InspectorApi {
  /**
   * Reads a model's headers (never its tensor data) and keeps them for later checks; with
   * `adapter`, a PEFT LoRA adapter's too, checked against the model and applied (ref "model+adapter").
   */
  open(id: string, ref: string, name: string, files: InspectFile[], adapter?: { ref: string; files: InspectFile[] }): Promise<OpenResult>;
  /** The Hub token (memory only) and cache limit for Hub files. */
  setHub(s: HubSession): Promise<void>;
  forget(id: string): Promise<void>;
  /** Plans `recipe` over the open models (`refs`: recipe reference → model id) and checks each model against the base. */
  analyze(recipe: Recipe, refs: Record<string, string>): Promise<Analysis>;
  /** SHA-256 of each output file, streamed (bounded memory). */
  hashOutput(target: HashTarget, paths: string[], onHash?: (path: string, sha256: string) => void): Promise<Record<string, string>>;
}

// What the engine knows about one input checkpoint after reading its headers (not its data).

import type { Dtype } from './dtype';
import type { ByteSource } from '../io/types';

export interface TensorInfo {
  name: string;
  /** Raw safetensors dtype string; only F32/F16/BF16 can be merged. */
  dtype: string;
  shape: number[];
  /** The shard holding it. */
  source: ByteSource;
  /** Absolute byte offset of the data in `source` (8 + header length + data_offsets[0]). */
  byteOffset: number;
  byteLength: number;
  /**
   * A LoRA adapter applied to this tensor as it is read (formats/lora.ts): the engine reads the
   * stored tensor and adds scale · B·A before any method sees it. Absent for plain tensors.
   */
  lora?: LoraTarget;
}

/** One LoRA module's factors as applied to its base tensor (W [rows, cols] in the stored layout). */
export interface LoraTarget {
  /** The adapter reference (as the recipe writes it after "+") and its weights file, for messages. */
  adapter: string;
  /** lora_A: [rank, cols] (or [rank, rows] when `transposed`). */
  a: TensorInfo;
  /** lora_B: [rows, rank] (or [cols, rank] when `transposed`). */
  b: TensorInfo;
  rank: number;
  /** lora_alpha / r, or lora_alpha / √r with use_rslora, after rank_pattern / alpha_pattern. */
  scale: number;
  /**
   * ΔW[row, col] = Σₖ B[col, k]·A[k, row] (ΔW = (B·A)ᵀ: fan_in_fan_out Conv1D weights and
   * embedding LoRA) instead of Σₖ B[row, k]·A[k, col].
   */
  transposed: boolean;
}

export interface ModelInfo {
  /** The reference as written in the recipe. */
  ref: string;
  /** Human label (folder name). */
  name: string;
  /** Parsed config.json (empty object when the folder has none). */
  config: Record<string, unknown>;
  tensors: Map<string, TensorInfo>;
  /** Other files of the folder (tokenizer.json, tokenizer_config.json, …), by file name. */
  files: Map<string, ByteSource>;
  /** Number of transformer layers (config num_hidden_layers, else inferred from tensor names). */
  numLayers: number;
}

export type { Dtype };

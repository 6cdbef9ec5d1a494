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

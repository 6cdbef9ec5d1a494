// The Recipe: the single source of truth for a merge. Field names are mergekit's own wire names
// (merge_method, base_model, layer_range, …) so YAML, URL and Recipe never need a renaming table.
// A Recipe is always the *validated* form: parse YAML with recipe/mergekit-yaml.ts.

import type { TorchDtypeName } from '../formats/dtype';

export type Scalar = number | boolean | string;
/** A scalar, or a list (numbers: piecewise-linear gradient; other scalars: step function). */
export type ValueOrGradient = Scalar | Scalar[];
export interface FilteredValue {
  /** Substring of the tensor name; absent or "*" matches everything. */
  filter?: string;
  value: ValueOrGradient;
}
/** What may appear as a parameter value in mergekit YAML. */
export type Setting = ValueOrGradient | FilteredValue[];
export type Params = Record<string, Setting>;

/** A model reference: a local path, "org/name", "org/name@revision". */
export type ModelRef = string;

export interface InputModel {
  model: ModelRef;
  parameters?: Params;
}

export interface SliceSource {
  model: ModelRef;
  /** Half-open [start, end) layer range. Absent only where mergekit allows (single-layer-less models). */
  layer_range?: [number, number];
  parameters?: Params;
}

export interface OutputSlice {
  sources: SliceSource[];
  base_model?: ModelRef;
  parameters?: Params;
  /** Parsed by mergekit but unused; kept for round trips. */
  residual_weight?: number;
}

export type TokenSource =
  | ModelRef
  | { kind: 'model_token'; model: ModelRef; token?: string; token_id?: number }
  | { kind: 'zero' };

export interface TokenizerConfig {
  source?: 'union' | 'base' | ModelRef;
  /** Per-token embedding source; `source` absent = mergekit's default fill rules. */
  tokens?: Record<string, { source?: TokenSource; force?: boolean }>;
  pad_to_multiple_of?: number;
}

export interface Recipe {
  merge_method: string;
  base_model?: ModelRef;
  /** Exactly one of models / slices is present. */
  models?: InputModel[];
  slices?: OutputSlice[];
  parameters?: Params;
  dtype?: TorchDtypeName;
  out_dtype?: TorchDtypeName;
  tokenizer_source?: 'union' | 'base' | ModelRef;
  tokenizer?: TokenizerConfig;
  chat_template?: string;
  /** Extension (not mergekit YAML; mergekit takes it as --random-seed). Seed for random methods. */
  random_seed?: number;
}

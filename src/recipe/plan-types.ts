// A Plan: one entry per output tensor, with every input and every parameter already resolved.
// The executor needs nothing else. Built by recipe/plan.ts from a Recipe + ModelInfos.

import type { Dtype } from '../formats/dtype';
import type { TensorInfo } from '../formats/model-info';
import type { RowGather, VocabBuild } from './vocab';

export interface PlanInput {
  /** Model reference as in the recipe. */
  model: string;
  /** Input tensor name (carries the *source* layer index). */
  tensor: TensorInfo;
  isBase: boolean;
  /** Resolved per-model parameters for this input (weight, density, gamma, scale, …). */
  params: Record<string, number | boolean | string>;
  /**
   * Embedding crop: read only the leading [rows, cols] block of a 2-D tensor.
   * Absent when the whole tensor is used.
   */
  crop?: [number, number];
  /**
   * Embedding rows in the output vocabulary (tokenizer_source / tokenizer): output row r is the
   * tensor's row map[r] or a fill (recipe/vocab.ts). The read is then a gather-with-fill
   * (recipe/row-gather.ts; on WebGPU shaders/gather.wgsl). Absent for inputs read in order.
   */
  rows?: RowGather;
}

export interface PlanEntry {
  /** Output tensor name. */
  name: string;
  shape: number[];
  method: string;
  /** Inputs in recipe order; the base (when any) is marked isBase. */
  inputs: PlanInput[];
  /** Resolved global parameters (normalize, lambda, t, …). */
  params: Record<string, number | boolean | string>;
  /** Compute dtype (mergekit `dtype`); undefined = the inputs' own dtype (first input's). */
  computeDtype?: Dtype;
  outDtype: Dtype;
  /** For random methods: a per-tensor stream derived from (seed, output name). */
  seed: number;
}

export interface Plan {
  entries: PlanEntry[];
  /** Output config.json contents. */
  config: Record<string, unknown>;
  /** Model whose tokenizer files are copied (ref), or undefined for none. */
  tokenizerFrom?: string;
  /** The output vocabulary when the recipe sets tokenizer_source / tokenizer (its files are written from it). */
  vocab?: VocabBuild;
  /** Warnings mergekit would print (skipped inputs, cropped embeddings…). */
  warnings: string[];
}

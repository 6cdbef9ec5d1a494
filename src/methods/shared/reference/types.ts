// Shared shapes and parameter helpers for the CPU reference twins (the oracle the WebGPU kernels are
// tested against). Pure: no DOM, no node: imports.

import { MethodError, ShapeMismatchError } from '../../../errors';

export type RefParamValue = number | boolean | string;

export interface RefInput {
  /** Tensor data, already decoded to f32 and already cropped to the entry's shape. */
  data: Float32Array;
  isBase: boolean;
  /** Resolved per-model parameters (weight, density, gamma, scale, …). */
  params: Record<string, RefParamValue>;
  shape: number[];
}

export interface RefEntry {
  /** Output tensor name (used in error messages). */
  name: string;
  method: string;
  shape: number[];
  /** Inputs in recipe order; the base (when any) is marked isBase. */
  inputs: RefInput[];
  /** Resolved global parameters. */
  params: Record<string, RefParamValue>;
  /** Per-tensor seed of random methods (PlanEntry.seed). */
  seed?: number;
}

export function numel(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** Every input must hold exactly numel(entry.shape) elements. Returns that count. */
export function checkSizes(entry: RefEntry): number {
  const n = numel(entry.shape);
  entry.inputs.forEach((inp, i) => {
    if (inp.data.length !== n)
      throw new ShapeMismatchError(
        entry.name,
        `${entry.method}: input ${i} has ${inp.data.length} elements, expected ${n} (shape [${entry.shape.join(', ')}])`,
      );
  });
  return n;
}

/** Read a numeric parameter; `fallback` undefined + absent → MethodError (a required parameter). */
export function numParam(
  entry: RefEntry,
  params: Record<string, RefParamValue>,
  key: string,
  fallback?: number,
  who = 'global',
): number {
  const v = params[key];
  if (v === undefined) {
    if (fallback === undefined)
      throw new MethodError(`Tensor "${entry.name}": ${entry.method} needs parameter "${key}" (${who}) but it is not set`, {
        tensor: entry.name,
        key,
      });
    return fallback;
  }
  if (typeof v === 'number') return v;
  if (typeof v === 'string' && v.trim() !== '' && Number.isFinite(Number(v))) return Number(v);
  throw new MethodError(`Tensor "${entry.name}": parameter "${key}" (${who}) must be a number, got ${JSON.stringify(v)}`, {
    tensor: entry.name,
    key,
  });
}

/** Read a boolean parameter, with a default. */
export function boolParam(entry: RefEntry, params: Record<string, RefParamValue>, key: string, fallback: boolean): boolean {
  const v = params[key];
  if (v === undefined) return fallback;
  if (typeof v === 'boolean') return v;
  if (v === 'true' || v === 1) return true;
  if (v === 'false' || v === 0) return false;
  throw new MethodError(`Tensor "${entry.name}": parameter "${key}" must be true or false, got ${JSON.stringify(v)}`, {
    tensor: entry.name,
    key,
  });
}

/** The single base input, or a MethodError when the method needs one and there is none (or several). */
export function splitBase(entry: RefEntry): { base: RefInput; others: RefInput[] } {
  const bases = entry.inputs.filter((x) => x.isBase);
  if (bases.length !== 1)
    throw new MethodError(
      `Tensor "${entry.name}": ${entry.method} needs exactly one base model input, found ${bases.length}`,
      { tensor: entry.name, key: 'base_model' },
    );
  return { base: bases[0], others: entry.inputs.filter((x) => !x.isBase) };
}

/** Spec default of a parameter (from the method's declarative spec), if it has one. */
export function specDefault<T extends RefParamValue>(
  params: readonly { name: string; default?: RefParamValue }[],
  name: string,
): T | undefined {
  return params.find((p) => p.name === name)?.default as T | undefined;
}

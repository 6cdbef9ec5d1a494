// Typed, user-actionable errors. Every message names the file / tensor / key and says what was
// expected and what was found. They cross the worker boundary as plain records (toRecord/fromRecord).

export type ErrorCode =
  | 'safetensors'      // a checkpoint file is malformed
  | 'unsupported-dtype'
  | 'recipe'           // YAML / Recipe invalid (unknown key, bad value, missing parameter)
  | 'unsupported'      // a valid mergekit option this engine does not implement
  | 'model'            // a referenced model cannot be found / read
  | 'missing-tensor'
  | 'shape-mismatch'
  | 'method'           // a method's own validity rule (e.g. k = 0 for TIES)
  | 'gpu'
  | 'io'
  | 'eval'             // an eval set, tokenizer or evaluation input is unusable
  | 'cancelled'
  | 'optimizer'        // evolution optimizer misuse or a corrupt saved optimizer state
  | 'resource';        // not enough memory for a tensor on this machine

export interface ErrorDetails {
  file?: string;
  tensor?: string;
  model?: string;
  key?: string;
  line?: number;
}

export class StudioError extends Error {
  override name = 'StudioError';
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details: ErrorDetails = {},
  ) {
    super(message);
  }
  toRecord(): ErrorRecord {
    return { name: this.name, code: this.code, message: this.message, details: this.details };
  }
}

export class SafetensorsError extends StudioError {
  override name = 'SafetensorsError';
  constructor(file: string, problem: string, tensor?: string) {
    super('safetensors', `${file}${tensor ? `: tensor "${tensor}"` : ''}: ${problem}`, { file, tensor });
  }
}

export class UnsupportedDtypeError extends StudioError {
  override name = 'UnsupportedDtypeError';
  constructor(file: string, tensor: string, dtype: string) {
    super('unsupported-dtype', `${file}: tensor "${tensor}" has dtype ${dtype}; only F32, F16 and BF16 can be merged`, {
      file,
      tensor,
    });
  }
}

export class RecipeError extends StudioError {
  override name = 'RecipeError';
  constructor(message: string, details: ErrorDetails = {}) {
    super('recipe', details.line !== undefined ? `line ${details.line}: ${message}` : message, details);
  }
}

export class UnsupportedError extends StudioError {
  override name = 'UnsupportedError';
  constructor(message: string, details: ErrorDetails = {}) {
    super('unsupported', message, details);
  }
}

export class ModelError extends StudioError {
  override name = 'ModelError';
  constructor(message: string, details: ErrorDetails = {}) {
    super('model', message, details);
  }
}

export class MissingTensorError extends StudioError {
  override name = 'MissingTensorError';
  constructor(model: string, tensor: string) {
    super('missing-tensor', `Tensor "${tensor}" is required but not present in model "${model}"`, { model, tensor });
  }
}

export class ShapeMismatchError extends StudioError {
  override name = 'ShapeMismatchError';
  constructor(tensor: string, message: string, model?: string) {
    super('shape-mismatch', `Tensor "${tensor}": ${message}`, { tensor, model });
  }
}

export class MethodError extends StudioError {
  override name = 'MethodError';
  constructor(message: string, details: ErrorDetails = {}) {
    super('method', message, details);
  }
}

export class GpuError extends StudioError {
  override name = 'GpuError';
  constructor(message: string) {
    super('gpu', message);
  }
}

export class IoError extends StudioError {
  override name = 'IoError';
  constructor(message: string, details: ErrorDetails = {}) {
    super('io', message, details);
  }
}

export class ResourceError extends StudioError {
  override name = 'ResourceError';
  constructor(message: string, details: ErrorDetails = {}) {
    super('resource', message, details);
  }
}

export class CancelledError extends StudioError {
  override name = 'CancelledError';
  constructor() {
    super('cancelled', 'The merge was cancelled; no output was written.');
  }
}

export class OptimizerError extends StudioError {
  override name = 'OptimizerError';
  constructor(message: string, details: ErrorDetails = {}) {
    super('optimizer', message, details);
  }
}

export class EvalError extends StudioError {
  override name = 'EvalError';
  constructor(message: string, details: ErrorDetails = {}) {
    super('eval', message, details);
  }
}

/** Publishing to the Hub failed (merge/publish.ts); `model` is the repository, `file` the file in flight. */
export class PublishError extends StudioError {
  override name = 'PublishError';
  constructor(message: string, repo: string, file?: string) {
    super('io', message, { model: repo, ...(file ? { file } : {}) });
  }
}

export interface ErrorRecord {
  name: string;
  code: ErrorCode;
  message: string;
  details: ErrorDetails;
}

export function toRecord(e: unknown): ErrorRecord {
  if (e instanceof StudioError) return e.toRecord();
  const msg = e instanceof Error ? e.message : String(e);
  return { name: 'Error', code: 'io', message: msg, details: {} };
}

export function fromRecord(r: ErrorRecord): StudioError {
  const e = new StudioError(r.code, r.message, r.details);
  e.name = r.name;
  return e;
}

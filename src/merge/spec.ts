// The declarative shape of a merge method. The executor, the YAML validator, the plan builder, the
// studio's forms and the evolution genomes all read this one spec; nothing else lists parameters.

export type ParamValue = number | boolean | string;

export interface ParamSpec {
  name: string;
  /** 'global': looked up with no model, matched against the output tensor name.
   *  'model': looked up per input model, matched against the input tensor name. */
  scope: 'global' | 'model';
  type: 'number' | 'boolean';
  /** mergekit's default; undefined + required → "Missing required parameter". */
  default?: ParamValue;
  required?: boolean;
  /** Bounds a UI or optimiser should use (not enforced on YAML input unless `validate` says so). */
  min?: number;
  max?: number;
  description: string;
}

export interface MethodSpec {
  /** mergekit's registered name. */
  name: string;
  label: string;
  description: string;
  reference?: string;
  /** How the method treats base_model:
   *  'required'  – a base must be given (GTA family, model_stock, nearswap, sce, ram…);
   *  'optional'  – base is used if given (multislerp, nuslerp);
   *  'input'     – a base is just auto-added as an ordinary input (linear, karcher);
   *  'slerp'     – exactly two models, one of them the base;
   *  'none'      – passthrough. */
  base: 'required' | 'optional' | 'input' | 'slerp' | 'none';
  /** Number of inputs per tensor, base included, that the method accepts. */
  minInputs: number;
  maxInputs?: number;
  params: ParamSpec[];
  /** Embedding shape fix: 'min' crops all to the common [rows, cols]; 'to-base' crops non-base to the base. */
  embedCrop: 'min' | 'to-base';
  /** A non-embedding tensor whose shape differs from the base: mergekit skips it (GTA) or errors. */
  shapeMismatch: 'skip' | 'error';
  /** Uses randomness (seeded per tensor). */
  random?: boolean;
  /** Inputs besides the base per output slice (checked by the planner before any tensor is read). */
  nonBaseInputs?: { min?: number; max?: number };
  /** mergekit writes this method's result in this dtype unless out_dtype is set (arcee_fusion: float32, #604). */
  outputDtype?: 'F32';
  /** Extra validation of resolved parameters for one tensor; throws MethodError naming the parameter. */
  validate?(params: Record<string, ParamValue>, perModel: Record<string, ParamValue>[], inputs?: { model: string; isBase: boolean }[]): void;
}

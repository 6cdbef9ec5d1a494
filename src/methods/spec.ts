// The declarative shape of a merge method. The executor, the YAML validator, the plan builder, the
// studio's forms and the evolution genomes all read this one spec; nothing else lists parameters
// or keeps a table of methods. A method is one folder, src/methods/<name>/: spec.ts (this shape,
// exported as `specs`), webgpu.ts (`webgpu(spec)`) and reference.ts (`reference(spec)`, the CPU
// twin); methods/specs.ts lists the folders, and methods/webgpu.ts / methods/reference.ts must
// name an implementation for every folder there (typecheck fails otherwise).

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
  /** What evolution needs to search this method's parameters; absent: evolution does not offer it. */
  evolve?: EvolveSpec;
}

/** A per-model parameter that a parameter-space genome can evolve. */
export type EvolveGene = 'weight' | 'density';

/**
 * How evolution (evolve/genome-ps.ts, evolve/sae.ts, store/evolve-config.ts) treats a method. Other
 * facts it needs come from the spec itself: whether the base is an ordinary input (`base: 'input'`:
 * no base model in the search), whether decoded recipes need a seed (`random`), whether there is a
 * `normalize` to switch off for weights above 1 (`params`).
 */
export interface EvolveSpec {
  /** Per-model parameters every genome evolves, in gene order (weight first). */
  genes: readonly EvolveGene[];
  /**
   * The method has a density that is not a gene unless a space asks for it (`densityGenes`; cabs,
   * whose density normally comes from the fixed parameters). Sparsity-aware evolution asks: it
   * prunes by capping density genes, so a method is SAE-eligible when it has density genes.
   */
  optionalDensityGenes?: boolean;
  /** A fixed parameter that would override the density genes (cabs: block_keep); refused together. */
  densityOverriddenBy?: string;
  /** floor(density·numel) = 0 refuses a tensor (top-k style pruning): densities start at 1/smallest tensor. */
  densityFloor?: boolean;
  /** Decoded densities keep |this parameter| (plus a margin) away from 0 and 1 (DELLA's epsilon). */
  densityBand?: string;
  /** mergekit-evolve can search it too (so a run can be exported as a mergekit-evolve config). */
  mergekitEvolve?: boolean;
}

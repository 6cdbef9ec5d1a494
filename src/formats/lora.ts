// PEFT LoRA adapters: adapter_config.json + adapter_model.safetensors, read (headers only) and
// checked against a base model, which then reads as "model+adapter": every targeted tensor carries
// its factors (TensorInfo.lora) and the engine adds scale · B·A while it streams the base
// (gpu/tensor-job.ts, backends/cpu/job.ts); modules_to_save tensors replace the base's.
//
// PEFT's layout (peft/utils/save_and_load.py, tuners/lora/{config,layer}.py):
//   base_model.model.<module>.lora_A.weight            [r, in]
//   base_model.model.<module>.lora_B.weight            [out, r]
//   base_model.model.<module>.lora_embedding_A         [r, num_embeddings]    (nn.Embedding)
//   base_model.model.<module>.lora_embedding_B         [embedding_dim, r]
//   base_model.model.<module>.weight / .bias           modules_to_save, trained biases: replacements
// scale = lora_alpha / r (use_rslora: lora_alpha / √r), r and alpha looked up per module in
// rank_pattern / alpha_pattern; ΔW = B·A, transposed for fan_in_fan_out (Conv1D) and embeddings.
// Everything here reads headers only: a mismatch fails before any tensor data is read.

import { ModelError, UnsupportedError } from '../errors';
import type { ByteSource } from '../io/types';
import type { LoraTarget, ModelInfo, TensorInfo } from './model-info';
import { isMergeable } from './dtype';
import { parseSafetensorsHeader } from './safetensors';
import { openModel } from './model';

export const ADAPTER_CONFIG = 'adapter_config.json';
export const ADAPTER_WEIGHTS = 'adapter_model.safetensors';
const PREFIX = 'base_model.model.';

/** PEFT adapter types by their peft_type, with the name a user knows them by. */
const PEFT_TYPE_NAMES: Record<string, string> = {
  LORA: 'LoRA',
  ADALORA: 'AdaLoRA',
  LOHA: 'LoHa',
  LOKR: 'LoKr',
  IA3: 'IA³',
  OFT: 'OFT',
  BOFT: 'BOFT',
  VERA: 'VeRA',
  FOURIERFT: 'FourierFT',
  HRA: 'HRA',
  BONE: 'Bone',
  VBLORA: 'VB-LoRA',
  LN_TUNING: 'LayerNorm tuning',
  XLORA: 'X-LoRA',
  POLY: 'Poly',
  PROMPT_TUNING: 'prompt tuning',
  P_TUNING: 'P-tuning',
  PREFIX_TUNING: 'prefix tuning',
  MULTITASK_PROMPT_TUNING: 'multitask prompt tuning',
  ADAPTION_PROMPT: 'adaption prompt',
  CPT: 'CPT',
  RANDLORA: 'RandLoRA',
  SHIRA: 'SHiRA',
  C3A: 'C3A',
  MISS: 'MiSS',
};

/** The adapter_config.json fields the engine uses (PEFT's LoraConfig names). */
export interface LoraConfig {
  r: number;
  lora_alpha: number;
  use_rslora: boolean;
  /** A list of module names (matched on the last components) or one regex (full match); "all-linear". */
  target_modules: string[] | string | null;
  fan_in_fan_out: boolean;
  modules_to_save: string[] | null;
  rank_pattern: Record<string, number>;
  alpha_pattern: Record<string, number>;
  base_model_name_or_path?: string;
  task_type?: string;
  bias: string;
}

export interface LoraModule {
  /** Module path in the base model, e.g. "model.layers.0.self_attn.q_proj". */
  module: string;
  a: TensorInfo;
  b: TensorInfo;
  embedding: boolean;
}

export interface LoraAdapter {
  /** The adapter reference (as the recipe writes it after "+"). */
  ref: string;
  config: LoraConfig;
  /** LoRA modules by module path. */
  modules: Map<string, LoraModule>;
  /** Whole tensors that replace the base's (modules_to_save, trained biases), by base tensor name. */
  replacements: Map<string, TensorInfo>;
}

/** Whether a folder's file list is a PEFT adapter rather than a model. */
export function isAdapterFolder(paths: Iterable<string>): boolean {
  for (const p of paths) if (p === ADAPTER_CONFIG) return true;
  return false;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Parses and checks adapter_config.json: LoRA only, unsupported variants refused by name. */
export function parseLoraConfig(ref: string, text: string): LoraConfig {
  const file = `${ref}/${ADAPTER_CONFIG}`;
  const bad = (what: string): never => {
    throw new ModelError(`${file}: ${what}`, { model: ref, file: ADAPTER_CONFIG });
  };
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    return bad(`not valid JSON (${e instanceof Error ? e.message : String(e)})`);
  }
  if (!isObject(raw)) return bad('must be a JSON object');
  const refuse = (what: string): never => {
    throw new UnsupportedError(`${file}: ${what}; only plain LoRA adapters can be applied (merge this adapter into its model with PEFT first, or use a LoRA adapter)`, {
      model: ref,
      file: ADAPTER_CONFIG,
    });
  };
  const type = raw.peft_type;
  if (typeof type !== 'string') return bad('has no "peft_type"; is this a PEFT adapter folder?');
  if (type !== 'LORA') refuse(`peft_type "${type}" (${PEFT_TYPE_NAMES[type] ?? 'an adapter type this studio does not know'}) is not supported`);
  if (raw.use_dora === true) refuse('use_dora is true: DoRA (weight-decomposed LoRA) is not supported');
  if (raw.lora_bias === true) refuse('lora_bias is true: LoRA with a bias on lora_B is not supported');
  if (Array.isArray(raw.target_parameters) && raw.target_parameters.length > 0) refuse('target_parameters (LoRA on nn.Parameter, e.g. MoE experts) is not supported');
  if (isObject(raw.layer_replication) || (Array.isArray(raw.layer_replication) && raw.layer_replication.length > 0)) refuse('layer_replication is not supported');
  const num = (k: string, v: unknown, positive = true): number => {
    if (typeof v !== 'number' || !Number.isFinite(v) || (positive && v <= 0)) return bad(`"${k}" must be a positive number, got ${JSON.stringify(v)}`);
    return v;
  };
  const r = num('r', raw.r);
  if (!Number.isInteger(r)) bad(`"r" must be an integer, got ${r}`);
  const alpha = raw.lora_alpha === undefined ? 8 : num('lora_alpha', raw.lora_alpha, false);
  const pattern = (k: string): Record<string, number> => {
    const v = raw[k];
    if (v === undefined || v === null) return {};
    if (!isObject(v)) return bad(`"${k}" must be an object of module patterns to numbers`);
    const out: Record<string, number> = {};
    for (const [p, x] of Object.entries(v)) {
      out[p] = num(`${k}.${p}`, x, false);
      try {
        new RegExp(p);
      } catch {
        bad(`"${k}" key "${p}" is not a valid regular expression`);
      }
    }
    return out;
  };
  const strList = (k: string): string[] | null => {
    const v = raw[k];
    if (v === undefined || v === null) return null;
    if (!Array.isArray(v) || !v.every((x) => typeof x === 'string')) return bad(`"${k}" must be a list of module names`);
    return v as string[];
  };
  let targets: string[] | string | null = null;
  if (typeof raw.target_modules === 'string') {
    targets = raw.target_modules;
    if (targets !== 'all-linear')
      try {
        new RegExp(targets);
      } catch {
        bad(`"target_modules" "${targets}" is not a valid regular expression`);
      }
  } else targets = strList('target_modules');
  const bias = raw.bias === undefined || raw.bias === null ? 'none' : String(raw.bias);
  return {
    r,
    lora_alpha: alpha,
    use_rslora: raw.use_rslora === true,
    target_modules: targets,
    fan_in_fan_out: raw.fan_in_fan_out === true,
    modules_to_save: strList('modules_to_save'),
    rank_pattern: pattern('rank_pattern'),
    alpha_pattern: pattern('alpha_pattern'),
    ...(typeof raw.base_model_name_or_path === 'string' ? { base_model_name_or_path: raw.base_model_name_or_path } : {}),
    ...(typeof raw.task_type === 'string' ? { task_type: raw.task_type } : {}),
    bias,
  };
}

/** PEFT's pattern lookup: an exact key, else the first key matching the module name's tail. */
export function patternValue(pattern: Record<string, number>, module: string): number | undefined {
  if (Object.prototype.hasOwnProperty.call(pattern, module)) return pattern[module];
  for (const [k, v] of Object.entries(pattern)) if (new RegExp(`^(?:.*\\.)?(?:${k})$`).test(module)) return v;
  return undefined;
}

/** Whether PEFT's target_modules selects a module path. */
export function targetsModule(targets: LoraConfig['target_modules'], module: string): boolean {
  if (targets === null || targets === 'all-linear') return true;
  if (typeof targets === 'string') return new RegExp(`^(?:${targets})$`).test(module);
  return targets.some((t) => module === t || module.endsWith(`.${t}`));
}

/** r, alpha and the scale of one module (PEFT: lora_alpha / r, or / √r with use_rslora). */
export function moduleScale(config: LoraConfig, module: string): { r: number; alpha: number; scale: number } {
  const r = patternValue(config.rank_pattern, module) ?? config.r;
  const alpha = patternValue(config.alpha_pattern, module) ?? config.lora_alpha;
  return { r, alpha, scale: config.use_rslora ? alpha / Math.sqrt(r) : alpha / r };
}

/**
 * Opens an adapter folder (adapter_config.json + adapter_model.safetensors): the config checked,
 * the weights' header read and sorted into LoRA modules and whole-tensor replacements.
 */
export async function openAdapter(ref: string, files: Map<string, ByteSource>, signal?: AbortSignal): Promise<LoraAdapter> {
  const cfgSrc = files.get(ADAPTER_CONFIG);
  if (!cfgSrc) {
    const hasModel = [...files.keys()].some((p) => p === 'config.json' || p.endsWith('.safetensors'));
    throw new ModelError(
      `adapter "${ref}" has no ${ADAPTER_CONFIG}${hasModel ? ' (it looks like a full model: merge it as a model, not as "model+adapter")' : ''}; a LoRA adapter folder holds ${ADAPTER_CONFIG} and ${ADAPTER_WEIGHTS}`,
      { model: ref, file: ADAPTER_CONFIG },
    );
  }
  const config = parseLoraConfig(ref, await cfgSrc.text());
  const wSrc = files.get(ADAPTER_WEIGHTS);
  if (!wSrc) {
    const bin = files.has('adapter_model.bin') || [...files.keys()].some((p) => p.endsWith('.bin'));
    throw new ModelError(
      `adapter "${ref}" has no ${ADAPTER_WEIGHTS}${bin ? '; it holds adapter_model.bin (PyTorch pickle), which this engine cannot read — re-save it with safe_serialization=True' : ''}`,
      { model: ref, file: ADAPTER_WEIGHTS },
    );
  }
  const file = `${ref}/${ADAPTER_WEIGHTS}`;
  const header = await parseSafetensorsHeader(file, wSrc.size, (o, n) => wSrc.read(o, n, signal));
  const fail = (tensor: string, what: string): never => {
    throw new ModelError(`${file}: tensor "${tensor}": ${what}`, { model: ref, file: ADAPTER_WEIGHTS, tensor });
  };
  const parts = new Map<string, { a?: TensorInfo; b?: TensorInfo; embedding: boolean }>();
  const replacements = new Map<string, TensorInfo>();
  for (const t of header.tensors) {
    const info: TensorInfo = { name: t.name, dtype: t.dtype, shape: t.shape, source: wSrc, byteOffset: header.dataStart + t.begin, byteLength: t.end - t.begin };
    if (!t.name.startsWith(PREFIX)) fail(t.name, `expected PEFT's "${PREFIX}<module>…" key names`);
    if (!isMergeable(t.dtype)) fail(t.name, `dtype ${t.dtype}; only F32, F16 and BF16 adapters can be applied`);
    const key = t.name.slice(PREFIX.length);
    if (/\.lora_magnitude_vector(\.|$)/.test(key)) {
      throw new UnsupportedError(`${file}: tensor "${t.name}" is a DoRA magnitude vector; DoRA (weight-decomposed LoRA) is not supported`, { model: ref, file: ADAPTER_WEIGHTS, tensor: t.name });
    }
    const m = /^(.+)\.(lora_A|lora_B)\.weight$/.exec(key) ?? /^(.+)\.(lora_embedding_A|lora_embedding_B)$/.exec(key);
    if (m) {
      const [, module, which] = m;
      const embedding = which.startsWith('lora_embedding');
      const p = parts.get(module) ?? { embedding };
      if (p.embedding !== embedding) fail(t.name, `module "${module}" has both linear and embedding LoRA factors`);
      if (which.endsWith('A')) p.a = info;
      else p.b = info;
      parts.set(module, p);
      if (t.shape.length !== 2) fail(t.name, `expected a 2-D factor, got shape [${t.shape.join(', ')}] (LoRA on convolutions is not supported)`);
      continue;
    }
    if (/\.lora_[A-Za-z_]+(\.|$)/.test(key)) fail(t.name, 'an unknown LoRA tensor (not lora_A / lora_B / lora_embedding_A / lora_embedding_B); this adapter variant is not supported');
    replacements.set(key, info);
  }
  const modules = new Map<string, LoraModule>();
  for (const [module, p] of parts) {
    const names = p.embedding ? ['lora_embedding_A', 'lora_embedding_B'] : ['lora_A.weight', 'lora_B.weight'];
    if (!p.a) fail(`${PREFIX}${module}.${names[0]}`, `missing, although ${PREFIX}${module}.${names[1]} is present`);
    if (!p.b) fail(`${PREFIX}${module}.${names[1]}`, `missing, although ${PREFIX}${module}.${names[0]} is present`);
    if (!targetsModule(config.target_modules, module))
      fail(p.a!.name, `module "${module}" is not selected by ${ADAPTER_CONFIG}'s target_modules ${JSON.stringify(config.target_modules)}`);
    modules.set(module, { module, a: p.a!, b: p.b!, embedding: p.embedding });
  }
  if (modules.size === 0 && replacements.size === 0) throw new ModelError(`${file} holds no LoRA tensors`, { model: ref, file: ADAPTER_WEIGHTS });
  return { ref, config, modules, replacements };
}

/** "a" + "b" → "a+b": mergekit's model+adapter reference. */
export function adapterRef(model: string, adapter: string): string {
  return `${model}+${adapter}`;
}

/** "a+b" → { model: "a", adapter: "b" }; a reference without "+" has no adapter. */
export function splitAdapterRef(ref: string): { model: string; adapter?: string } {
  const at = ref.indexOf('+');
  return at < 0 ? { model: ref } : { model: ref.slice(0, at), adapter: ref.slice(at + 1) };
}

/**
 * Opens the model a recipe reference names: the model folder's headers, and for "model+adapter"
 * the adapter's, checked against the model and applied (applyAdapter). Headers only.
 */
export async function openAdapted(
  ref: string,
  name: string,
  modelFiles: Map<string, ByteSource>,
  adapterFiles: Map<string, ByteSource> | undefined,
  signal?: AbortSignal,
): Promise<ModelInfo> {
  const { model, adapter } = splitAdapterRef(ref);
  if (adapter === undefined) return openModel(ref, name, modelFiles, signal);
  if (!adapterFiles) throw new ModelError(`"${ref}" names the adapter "${adapter}", whose files were not given`, { model: ref });
  const base = await openModel(model, name, modelFiles, signal);
  const lora = await openAdapter(adapter, adapterFiles, signal);
  return applyAdapter(base, lora, ref);
}

/**
 * The base model with the adapter applied, as the model `ref` ("model+adapter") reads: targeted
 * tensors carry their LoRA factors, replaced tensors come from the adapter file. Every module must
 * exist in the base with the shapes its factors imply (a ModelError naming the adapter file, the
 * tensor and the expected shape otherwise), and every listed target module must exist in the base.
 */
export function applyAdapter(base: ModelInfo, adapter: LoraAdapter, ref: string): ModelInfo {
  const file = `${adapter.ref}/${ADAPTER_WEIGHTS}`;
  const fail = (tensor: string, what: string): never => {
    throw new ModelError(`${file}: tensor "${tensor}": ${what}`, { model: ref, file: ADAPTER_WEIGHTS, tensor });
  };
  const tensors = new Map(base.tensors);
  for (const m of adapter.modules.values()) {
    const wName = `${m.module}.weight`;
    const w = base.tensors.get(wName);
    if (!w) fail(m.a.name, `its base tensor "${wName}" is not in ${base.ref}; this adapter was made for another model`);
    if (w!.shape.length !== 2) fail(m.a.name, `its base tensor "${wName}" has shape [${w!.shape.join(', ')}], expected a 2-D weight`);
    const [rows, cols] = w!.shape;
    const { r, scale } = moduleScale(adapter.config, m.module);
    const transposed = m.embedding || adapter.config.fan_in_fan_out;
    // A: [r, in]; B: [out, r]. Stored W is [out, in], or [in, out] when transposed.
    const expectA = [r, transposed ? rows : cols];
    const expectB = [transposed ? cols : rows, r];
    const shapeOk = (t: TensorInfo, e: number[]) => t.shape.length === 2 && t.shape[0] === e[0] && t.shape[1] === e[1];
    if (!shapeOk(m.a, expectA))
      fail(m.a.name, `shape [${m.a.shape.join(', ')}], expected [${expectA.join(', ')}] (r = ${r}${adapter.config.rank_pattern && patternValue(adapter.config.rank_pattern, m.module) !== undefined ? ' from rank_pattern' : ''}; base "${wName}" is [${rows}, ${cols}]${transposed ? (m.embedding ? ', embedding LoRA' : ', fan_in_fan_out') : ''})`);
    if (!shapeOk(m.b, expectB)) fail(m.b.name, `shape [${m.b.shape.join(', ')}], expected [${expectB.join(', ')}] (r = ${r}; base "${wName}" is [${rows}, ${cols}]${transposed ? ', transposed' : ''})`);
    const lora: LoraTarget = { adapter: adapter.ref, a: m.a, b: m.b, rank: r, scale, transposed };
    tensors.set(wName, { ...w!, lora });
  }
  for (const [name, t] of adapter.replacements) {
    const w = base.tensors.get(name);
    if (!w) fail(`${PREFIX}${name}`, `replaces "${name}" (modules_to_save or a trained bias), which is not in ${base.ref}`);
    if (w!.shape.join() !== t.shape.join()) fail(`${PREFIX}${name}`, `shape [${t.shape.join(', ')}], expected [${w!.shape.join(', ')}] as "${name}" in ${base.ref}`);
    if (w!.lora || [...adapter.modules.keys()].some((mod) => `${mod}.weight` === name)) fail(`${PREFIX}${name}`, `"${name}" is both replaced and LoRA-targeted`);
    tensors.set(name, { ...t, name });
  }
  // list targets must each name at least one module of the base (PEFT refuses such a config too)
  const targets = adapter.config.target_modules;
  if (Array.isArray(targets)) {
    const baseModules = [...base.tensors.keys()].filter((n) => n.endsWith('.weight')).map((n) => n.slice(0, -'.weight'.length));
    for (const t of targets)
      if (!baseModules.some((mod) => mod === t || mod.endsWith(`.${t}`)))
        throw new ModelError(`${adapter.ref}/${ADAPTER_CONFIG}: target module "${t}" is not in ${base.ref} (expected a weight named "….${t}.weight"); this adapter was made for another architecture`, {
          model: ref,
          file: ADAPTER_CONFIG,
        });
  }
  return { ...base, ref, tensors };
}

/** What the studio shows of an adapter: r, alpha, targets, how many modules and replaced tensors. */
export interface AdapterSummary {
  r: number;
  alpha: number;
  rslora: boolean;
  /** target_modules as configured ("all-linear", a regex, or names). */
  targets: string;
  modules: number;
  replaced: number;
  /** The per-module ranks when rank_pattern sets some (min and max). */
  ranks: [number, number];
  base?: string;
}

export function adapterSummary(a: LoraAdapter): AdapterSummary {
  const c = a.config;
  const ranks = [...a.modules.values()].map((m) => m.a.shape[0]);
  return {
    r: c.r,
    alpha: c.lora_alpha,
    rslora: c.use_rslora,
    targets: Array.isArray(c.target_modules) ? c.target_modules.join(', ') : (c.target_modules ?? 'all'),
    modules: a.modules.size,
    replaced: a.replacements.size,
    ranks: ranks.length ? [Math.min(...ranks), Math.max(...ranks)] : [c.r, c.r],
    ...(c.base_model_name_or_path ? { base: c.base_model_name_or_path } : {}),
  };
}

/** A short description for the studio and the CLI: r, alpha, targets. */
export function describeAdapter(a: LoraAdapter): string {
  const c = a.config;
  const targets = Array.isArray(c.target_modules) ? c.target_modules.join(', ') : (c.target_modules ?? 'all');
  return `LoRA r=${c.r} alpha=${c.lora_alpha}${c.use_rslora ? ' (rsLoRA)' : ''}, ${a.modules.size} modules (${targets})${a.replacements.size ? `, ${a.replacements.size} replaced tensors` : ''}`;
}

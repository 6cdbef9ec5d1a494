// Recipe + model headers → Plan: one entry per output tensor with its inputs and every parameter
// resolved, following mergekit's MergePlanner (plan.py). Pure: no DOM, no node: imports.
//
// What mergekit does, and this file mirrors:
//  - `models:` becomes one output slice [0, numLayers) per model; a base_model not listed is appended.
//  - Layer tensors of output slice s, layer i, come from each source's layer start+i; the output
//    layer index is a running count over the slices. t = i/(L−1) (a one-layer slice: t = 1).
//  - Pre-weights (embeddings) come from the first slice's sources, post-weights (final norm, lm_head)
//    from the last slice's; both at t = 0.
//  - Global parameters are matched against the output tensor name, per-model parameters against the
//    input name (which carries the source layer index).
//  - A model without lm_head.weight supplies its embed_tokens (tied embeddings); an lm_head that no
//    input really has is left out of the output.
//  - Embeddings of different sizes are cropped ('min': to the common size; GTA: to the base's);
//    other shape mismatches are skipped (GTA) or an error.
//  - Entries are in tensor-name order (the order mergekit writes them).
//
// mergekit infers the architecture from tensor names when it has no JSON definition; so does this:
// layer tensors match `<prefix>.layers.<n>.<suffix>` (else the first `.<n>.` component), other
// tensors are pre-weights when their name contains "embed", post-weights otherwise.

import {
  MethodError,
  MissingTensorError,
  ModelError,
  RecipeError,
  ShapeMismatchError,
  UnsupportedDtypeError,
  UnsupportedError,
} from '../errors';
import { DTYPE_TO_TORCH, TORCH_TO_DTYPE, isMergeable, type Dtype } from '../formats/dtype';
import { getMethod } from '../methods/specs';
import type { MethodSpec, ParamValue } from '../methods/spec';
import type { ModelInfo, TensorInfo } from '../formats/model-info';
import type { Plan, PlanEntry, PlanInput } from './plan-types';
import { ParameterResolver, type ResolveScope } from './resolve';
import { buildVocab, configVocabSize, embedGathers, tokenizerSetting, type RowGather, type VocabBuild, type VocabModel } from './vocab';
import { parseTokenizerJson, type ParsedTokenizer } from '../formats/tokenizer';
import type { OutputSlice, Recipe } from './types';

export interface BuildPlanOptions {
  /** Seed for random methods when the recipe has no random_seed (CLI --seed). Default 0. */
  seed?: number;
  /**
   * tokenizer.json text of each model (by ref; undefined = the model has none), from
   * readTokenizerTexts(). Needed to honour tokenizer_source / tokenizer exactly: without it,
   * tokenizers are compared by file size only and embeddings are not trimmed to the vocabulary.
   */
  tokenizerTexts?: Map<string, string | undefined>;
}

// ---------------------------------------------------------------------------------------------
// Tensor names

export interface LayerName {
  prefix: string;
  index: number;
  suffix: string;
}

const LAYERS_RE = /^(.*?\.layers\.)(\d+)(\..+)$/;
const ANY_INDEX_RE = /^(.*?\.)(\d+)(\..+)$/;

/**
 * Splits a layer tensor name: "model.layers.3.mlp.up_proj.weight" → {prefix "model.layers.",
 * index 3, suffix ".mlp.up_proj.weight"}. `anyIndex`: also accept the first `.<n>.` component
 * (for checkpoints whose layers are not called "layers"). Null for non-layer tensors.
 */
export function splitLayerName(name: string, anyIndex = false): LayerName | null {
  const m = LAYERS_RE.exec(name) ?? (anyIndex ? ANY_INDEX_RE.exec(name) : null);
  if (!m) return null;
  return { prefix: m[1], index: Number(m[2]), suffix: m[3] };
}

/**
 * Non-layer tensors before the layers (embeddings): names containing "embed", and GPT-2 style
 * wte/wpe. Everything else (final norm, lm_head) comes after the layers.
 */
export function isPreWeight(name: string): boolean {
  return name.includes('embed') || /(^|\.)(wte|wpe)\./.test(name);
}

/** mergekit's is_embed weights (cropped to a common size, permuted by tokenizer settings). */
export function isEmbedTensor(name: string): boolean {
  return name.includes('embed_tokens') || name.includes('lm_head');
}

interface ModelLayout {
  info: ModelInfo;
  /** layer index → "prefix\0suffix" keys present at that layer, in header order. */
  layers: Map<number, string[]>;
  /** Non-layer tensor names, in header order. */
  other: string[];
}

function layoutOf(info: ModelInfo): ModelLayout {
  const names = [...info.tensors.keys()];
  // Only fall back to "first .<n>." when the checkpoint has no ".layers.<n>." tensors at all, so
  // that numbered sub-modules of a model that does use "layers" are not mistaken for layers.
  const anyIndex = !names.some((n) => LAYERS_RE.test(n));
  const layers = new Map<number, string[]>();
  const other: string[] = [];
  for (const n of names) {
    const s = splitLayerName(n, anyIndex);
    if (!s) {
      other.push(n);
      continue;
    }
    let list = layers.get(s.index);
    if (!list) layers.set(s.index, (list = []));
    list.push(`${s.prefix}\0${s.suffix}`);
  }
  return { info, layers, other };
}

/** The tensor a model supplies for `name`, with tied embeddings (lm_head ← embed_tokens). */
function findTensor(info: ModelInfo, name: string): { tensor: TensorInfo; tied: boolean } | undefined {
  const t = info.tensors.get(name);
  if (t) return { tensor: t, tied: false };
  if (name.endsWith('lm_head.weight')) {
    const embed = info.tensors.get('model.embed_tokens.weight') ?? [...info.tensors.values()].find((x) => x.name.endsWith('embed_tokens.weight'));
    if (embed) return { tensor: embed, tied: true };
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// Seeds

/** FNV-1a (32-bit) of (seed, output tensor name): the per-tensor stream of random methods. */
export function tensorSeed(seed: number, name: string): number {
  let h = 0x811c9dc5;
  const bytes = new TextEncoder().encode(`${seed}\0${name}`);
  for (const b of bytes) {
    h ^= b;
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

// ---------------------------------------------------------------------------------------------
// Tokenizer

/** tokenizer.json of every model (undefined where a model has none), for BuildPlanOptions. */
export async function readTokenizerTexts(models: Map<string, ModelInfo>): Promise<Map<string, string | undefined>> {
  const out = new Map<string, string | undefined>();
  for (const [ref, info] of models) {
    const src = info.files.get('tokenizer.json');
    out.set(ref, src ? await src.text() : undefined);
  }
  return out;
}

/** token → id of a tokenizer.json (model vocabulary plus added tokens). */
export function tokenizerVocab(text: string): Map<string, number> {
  const j = JSON.parse(text) as { model?: { vocab?: unknown }; added_tokens?: { id?: unknown; content?: unknown }[] };
  const vocab = new Map<string, number>();
  const v = j.model?.vocab;
  if (Array.isArray(v)) {
    // Unigram: [[piece, score], …], id = position.
    v.forEach((e, i) => {
      if (Array.isArray(e) && typeof e[0] === 'string') vocab.set(e[0], i);
    });
  } else if (v && typeof v === 'object') {
    for (const [tok, id] of Object.entries(v as Record<string, unknown>)) if (typeof id === 'number') vocab.set(tok, id);
  }
  for (const a of j.added_tokens ?? []) {
    if (typeof a.content === 'string' && typeof a.id === 'number') vocab.set(a.content, a.id);
  }
  return vocab;
}

interface TokenizerPlan {
  from?: string;
  /** Output vocabulary size: every embedding is trimmed to this many rows (identical vocabularies, no texts). */
  vocabRows?: number;
  /** The output vocabulary, row maps and fills (recipe/vocab.ts). */
  vocab?: VocabBuild;
}

function embedRows(info: ModelInfo): number | undefined {
  const t = info.tensors.get('model.embed_tokens.weight') ?? [...info.tensors.values()].find((x) => x.name.endsWith('embed_tokens.weight'));
  return t && t.shape.length === 2 ? t.shape[0] : undefined;
}

const OTHER_TOKENIZER_FILES = ['tokenizer.model', 'vocab.json', 'merges.txt', 'spiece.model', 'vocab.txt'];

/** Parsed tokenizer.json files by text (the studio re-plans on every edit): the last few kept. */
const parsedTokenizers = new Map<string, ParsedTokenizer>();

function parseTokenizerCached(text: string, file: string): ParsedTokenizer {
  const key = `${file}\0${text}`;
  let t = parsedTokenizers.get(key);
  if (!t) {
    t = parseTokenizerJson(text, file);
    parsedTokenizers.set(key, t);
    while (parsedTokenizers.size > 8) parsedTokenizers.delete(parsedTokenizers.keys().next().value!);
  }
  return t;
}

/** The recipe's vocabulary inputs: every model's parsed tokenizer.json and config vocab_size. */
export function vocabModels(refs: readonly string[], getInfo: (ref: string) => ModelInfo, texts: Map<string, string | undefined>): Map<string, VocabModel> {
  const out = new Map<string, VocabModel>();
  for (const ref of refs) {
    const info = getInfo(ref);
    const text = texts.get(ref);
    out.set(ref, {
      ref,
      tokenizer: text === undefined ? undefined : parseTokenizerCached(text, `${ref}/tokenizer.json`),
      otherTokenizerFiles: OTHER_TOKENIZER_FILES.filter((f) => info.files.has(f)),
      vocabSize: configVocabSize(info.config),
    });
  }
  return out;
}

function planTokenizer(
  recipe: Recipe,
  getInfo: (ref: string) => ModelInfo,
  models: Map<string, ModelInfo>,
  involved: string[],
  defaultFrom: string,
  base: string | undefined,
  opts: BuildPlanOptions,
  warnings: string[],
): TokenizerPlan {
  const s = tokenizerSetting(recipe);
  if (s === undefined) return { from: defaultFrom };
  const { setting } = s;
  const key = recipe.tokenizer ? 'tokenizer' : 'tokenizer_source';

  let from: string;
  if (setting === 'base' || setting === 'union') from = base ?? defaultFrom;
  else {
    from = setting;
    if (!models.has(from))
      throw new ModelError(`${key} names model ${from}, which is not loaded; add it to the models or use tokenizer_source: base`, { model: from, key });
  }
  const refs = [...new Set([...(base !== undefined ? [base] : []), ...involved, from])];

  const texts = opts.tokenizerTexts;
  if (!texts) {
    // No texts (quick checks): compare what the headers tell (embedding rows, tokenizer.json size).
    const sizes = refs.map((r) => getInfo(r).files.get('tokenizer.json')?.size);
    const rows = refs.map((r) => embedRows(getInfo(r)));
    const same = sizes.every((x) => x !== undefined && x === sizes[0]) && rows.every((n) => n === rows[0]);
    if (!same || (recipe.tokenizer?.tokens && Object.keys(recipe.tokenizer.tokens).length > 0) || recipe.tokenizer?.pad_to_multiple_of !== undefined)
      throw new UnsupportedError(`${key}: the tokenizers must be read to plan this merge (internal: buildPlan was called without tokenizerTexts)`, { key });
    warnings.push(`${key}: tokenizers assumed identical (same tokenizer.json size); embeddings were not trimmed to the vocabulary size`);
    return { from };
  }
  // mergekit's build_tokenizer: the base is base_model, else the first referenced model.
  const vocabBase = base ?? defaultFrom;
  const vocab = buildVocab(recipe, vocabModels(refs, getInfo, texts), [...new Set([vocabBase, ...involved])], vocabBase)!;
  warnings.push(...vocab.warnings);
  return { from: vocab.sourceModel, vocab };
}

// ---------------------------------------------------------------------------------------------
// Slices

interface PlanSource {
  model: string;
  start: number;
  end: number;
}

interface PlanSlice {
  label: string;
  /** The slice as the resolver sees it (sources carry their parameters). */
  def: OutputSlice;
  /** Unique models in order of first appearance (mergekit keys inputs by model). */
  sources: PlanSource[];
  base?: string;
  length: number;
}

function describe(sources: PlanSource[], base?: string): string {
  return sources.map((s) => (s.model === base ? `${s.model} (base)` : s.model)).join(', ') || 'none';
}

// ---------------------------------------------------------------------------------------------

interface Candidate {
  model: string;
  /** Input name (source layer index; for a tied lm_head still "lm_head.weight"). */
  inName: string;
  tensor: TensorInfo;
  isBase: boolean;
  params: Record<string, ParamValue>;
  /** Effective [rows, cols] after crops, or the full shape. */
  shape: number[];
}

const sameShape = (a: readonly number[], b: readonly number[]): boolean => a.length === b.length && a.every((x, i) => x === b[i]);
const fmt = (s: readonly number[]): string => `[${s.join(', ')}]`;

/**
 * Builds the plan. `models` maps every model reference of the recipe (and a tokenizer_source model)
 * to its headers. Throws RecipeError / UnsupportedError / ModelError / MissingTensorError /
 * ShapeMismatchError / UnsupportedDtypeError / MethodError with messages a user can act on.
 */
export function buildPlan(recipe: Recipe, models: Map<string, ModelInfo>, opts: BuildPlanOptions = {}): Plan {
  const spec = getMethod(recipe.merge_method);
  const resolver = new ParameterResolver(recipe, spec);
  const warnings: string[] = [];

  const getInfo = (ref: string): ModelInfo => {
    const info = models.get(ref);
    if (!info) throw new ModelError(`model ${ref} is referenced by the recipe but was not loaded`, { model: ref });
    return info;
  };
  const layouts = new Map<string, ModelLayout>();
  const layout = (ref: string): ModelLayout => {
    let l = layouts.get(ref);
    if (!l) layouts.set(ref, (l = layoutOf(getInfo(ref))));
    return l;
  };

  // ---- normalise to output slices
  const slices: PlanSlice[] = [];
  if (recipe.models && recipe.slices) throw new RecipeError('give exactly one of models and slices, not both', { key: 'slices' });
  if (recipe.models) {
    if (recipe.models.length === 0) throw new RecipeError('models must list at least one model', { key: 'models' });
    const base = recipe.base_model;
    const def: OutputSlice = {
      sources: recipe.models.map((m) => ({ model: m.model, layer_range: [0, getInfo(m.model).numLayers] as [number, number], ...(m.parameters ? { parameters: m.parameters } : {}) })),
    };
    if (base !== undefined && !recipe.models.some((m) => m.model === base)) {
      // mergekit: "Base model specified but not in input models - adding" (with no parameters).
      def.sources.push({ model: base, layer_range: [0, getInfo(base).numLayers] });
    }
    slices.push(normaliseSlice(def, 'models', base, getInfo, warnings));
  } else if (recipe.slices) {
    if (recipe.slices.length === 0) throw new RecipeError('slices must list at least one slice', { key: 'slices' });
    recipe.slices.forEach((s, i) => slices.push(normaliseSlice(s, `slices[${i}]`, s.base_model ?? recipe.base_model, getInfo, warnings)));
  } else {
    throw new RecipeError('the recipe lists no models (models: or slices:)', { key: 'models' });
  }

  for (const s of slices) checkArity(spec, s, recipe);

  // ---- architecture reference: the base model, else the first source
  const refModel = recipe.base_model ?? slices[0].sources[0]?.model;
  if (refModel === undefined) throw new RecipeError('the recipe lists no models', { key: 'models' });
  const ref = layout(refModel);

  // ---- tokenizer (decides embedding rows)
  const involved = [...new Set(slices.flatMap((s) => s.sources.map((x) => x.model)))];
  const tok = planTokenizer(recipe, getInfo, models, involved, refModel, recipe.base_model, opts, warnings);

  const outDtypeName = recipe.out_dtype ?? recipe.dtype;
  const computeDtype: Dtype | undefined = recipe.dtype ? TORCH_TO_DTYPE[recipe.dtype] : undefined;
  const seed = recipe.random_seed ?? opts.seed ?? 0;
  const entries: PlanEntry[] = [];

  const plan = (outName: string, slice: PlanSlice, scope: ResolveScope, inputs: { model: string; inName: string }[], optionalLmHead: boolean): void => {
    // Find the tensors (tied embeddings for lm_head).
    const found = inputs.map((inp) => {
      const f = findTensor(getInfo(inp.model), inp.inName);
      return { ...inp, found: f };
    });
    if (optionalLmHead && !found.some((f) => f.found && !f.found.tied)) {
      // An optional weight that no input really has is skipped (tied embeddings everywhere).
      const tie = getInfo(refModel).config.tie_word_embeddings;
      if (tie === false) warnings.push(`${outName}: no input has its own ${outName}; the output has none although config.json says tie_word_embeddings: false`);
      return;
    }
    const cands: Candidate[] = found.map((f) => {
      if (!f.found) throw new MissingTensorError(f.model, f.inName);
      const t = f.found.tensor;
      if (!isMergeable(t.dtype)) throw new UnsupportedDtypeError(`${f.model}/${t.source.name}`, t.name, t.dtype);
      const isBase = slice.base !== undefined && f.model === slice.base;
      let params: Record<string, ParamValue>;
      try {
        // A required per-model parameter is not required of the base — except where the base is an
        // ordinary input (linear): mergekit would then fail on the missing weight mid-merge.
        params = resolver.perModelAll(f.model, f.inName, scope, isBase && spec.base !== 'input');
      } catch (e) {
        if (e instanceof RecipeError && isBase && spec.base === 'input')
          throw new RecipeError(`${e.message} (${spec.name} treats base_model as an ordinary input, so it needs its own parameters)`, e.details);
        throw e;
      }
      return { model: f.model, inName: f.inName, tensor: t, isBase, params, shape: [...t.shape] };
    });
    const globals = resolver.globals(outName, scope);

    let kept = cands;
    const gathers: (RowGather | undefined)[] = [];
    if (tok.vocab && isEmbedTensor(outName) && cands.every((c) => c.shape.length === 2)) {
      // Every input is brought to the output vocabulary: its rows permuted, missing ones filled.
      const cols = cands[0].tensor.shape[1];
      const odd = cands.find((c) => c.tensor.shape[1] !== cols);
      if (odd)
        throw new ShapeMismatchError(
          outName,
          `model ${odd.model} has ${odd.tensor.shape[1]} columns but ${cands[0].model} has ${cols}; a tokenizer merge maps rows between vocabularies and needs one embedding size`,
          odd.model,
        );
      gathers.push(...embedGathers(tok.vocab, outName, cands.map((c) => c.model), cands.map((c) => c.tensor.shape[0]), slice.base ?? recipe.base_model));
      for (const c of cands) c.shape = [tok.vocab.rows, cols];
      for (const c of cands)
        if (c.tensor.shape[0] < tok.vocab.rows && !gathers[cands.indexOf(c)])
          throw new ShapeMismatchError(outName, `model ${c.model} has ${c.tensor.shape[0]} rows, fewer than the ${tok.vocab.rows} of the output vocabulary`, c.model);
    } else if (isEmbedTensor(outName) && cands.every((c) => c.shape.length === 2)) {
      const differed = !cands.every((c) => sameShape(c.tensor.shape, cands[0].tensor.shape));
      // A tokenizer setting first brings every embedding to the output vocabulary's rows.
      if (tok.vocabRows !== undefined) for (const c of cands) c.shape[0] = tok.vocabRows;
      if (!cands.every((c) => sameShape(c.shape, cands[0].shape))) {
        const baseC = cands.find((c) => c.isBase);
        if (spec.embedCrop === 'to-base' && baseC) {
          const target = baseC.shape;
          for (const c of cands) {
            if (c.shape[0] < target[0] || c.shape[1] < target[1])
              throw new ShapeMismatchError(
                outName,
                `model ${c.model} has shape ${fmt(c.tensor.shape)}, smaller than the base model ${baseC.model}'s ${fmt(target)}; ${spec.name} crops embeddings to the base's size and cannot grow them`,
                c.model,
              );
            c.shape = [...target];
          }
        } else {
          const target = [Math.min(...cands.map((c) => c.shape[0])), Math.min(...cands.map((c) => c.shape[1]))];
          for (const c of cands) c.shape = [...target];
        }
      }
      if (differed)
        warnings.push(`${outName}: embedding sizes differ (${cands.map((c) => `${c.model} ${fmt(c.tensor.shape)}`).join(', ')}); cropped to ${fmt(cands[0].shape)}`);
    } else if (!cands.every((c) => sameShape(c.shape, cands[0].shape))) {
      const refC = cands.find((c) => c.isBase) ?? cands[0];
      kept = [];
      for (const c of cands) {
        if (c === refC || sameShape(c.shape, refC.shape)) {
          kept.push(c);
          continue;
        }
        if (spec.shapeMismatch === 'skip') {
          warnings.push(`${outName}: skipped model ${c.model} (shape ${fmt(c.shape)} differs from ${refC.model}'s ${fmt(refC.shape)})`);
          continue;
        }
        throw new ShapeMismatchError(outName, `model ${c.model} has shape ${fmt(c.shape)} but model ${refC.model} has ${fmt(refC.shape)}; ${spec.name} cannot merge tensors of different shapes`, c.model);
      }
    }

    try {
      spec.validate?.(globals, kept.map((c) => c.params), kept.map((c) => ({ model: c.model, isBase: c.isBase })));
    } catch (e) {
      if (e instanceof MethodError) throw new MethodError(`Tensor "${outName}": ${e.message}`, { ...e.details, tensor: outName });
      throw e;
    }

    const first = kept.find((c) => c.isBase) ?? kept[0];
    const planInputs: PlanInput[] = kept.map((c) => {
      const pi: PlanInput = { model: c.model, tensor: c.tensor, isBase: c.isBase, params: c.params };
      const g = gathers[cands.indexOf(c)];
      if (g) {
        // the adapter's rows are the model's own vocabulary; gathering them into the output's would
        // need the update applied before the permutation, which neither engine does
        if (c.tensor.lora)
          throw new UnsupportedError(
            `Tensor "${outName}": model ${c.model} has a LoRA update on it (embedding LoRA) and the tokenizer setting permutes its rows; apply the adapter to the model first, or use tokenizer_source: base`,
            { tensor: outName, model: c.model },
          );
        pi.rows = g;
      } else if (!sameShape(c.shape, c.tensor.shape)) pi.crop = [c.shape[0], c.shape[1]];
      return pi;
    });
    entries.push({
      name: outName,
      shape: [...first.shape],
      method: spec.name,
      inputs: planInputs,
      params: globals,
      ...(computeDtype ? { computeDtype } : {}),
      outDtype: recipe.out_dtype
        ? TORCH_TO_DTYPE[recipe.out_dtype]
        : (spec.outputDtype ?? (outDtypeName ? TORCH_TO_DTYPE[outDtypeName] : (first.tensor.dtype as Dtype))),
      seed: tensorSeed(seed, outName),
    });
  };

  // ---- pre-weights: first slice's sources, t = 0
  const preNames = ref.other.filter(isPreWeight);
  const postNames = ref.other.filter((n) => !isPreWeight(n));
  const firstSlice = slices[0];
  const lastSlice = slices[slices.length - 1];
  if (!postNames.some((n) => n.endsWith('lm_head.weight'))) {
    // The reference ties its embeddings: an lm_head that another post-weight donor really has is merged.
    const donor = lastSlice.sources.map((s) => layout(s.model).other.find((n) => n.endsWith('lm_head.weight'))).find((n) => n !== undefined);
    if (donor) postNames.push(donor);
  }
  const boundary = (names: string[], slice: PlanSlice): void => {
    for (const name of names) {
      plan(
        name,
        slice,
        { slice: slice.def, t: 0 },
        slice.sources.map((s) => ({ model: s.model, inName: name })),
        name.endsWith('lm_head.weight'),
      );
    }
  };
  boundary(preNames, firstSlice);

  // ---- layers
  let outLayer = 0;
  for (const s of slices) {
    for (let i = 0; i < s.length; i++) {
      const t = s.length > 1 ? i / (s.length - 1) : 1;
      const lead = s.sources[0];
      const keys = layout(lead.model).layers.get(lead.start + i) ?? [];
      if (keys.length === 0)
        throw new ModelError(`model ${lead.model} has no tensors for layer ${lead.start + i} although it reports ${getInfo(lead.model).numLayers} layers`, {
          model: lead.model,
        });
      for (const key of keys) {
        const [prefix, suffix] = key.split('\0');
        plan(
          `${prefix}${outLayer}${suffix}`,
          s,
          { slice: s.def, t },
          s.sources.map((src) => ({ model: src.model, inName: `${prefix}${src.start + i}${suffix}` })),
          false,
        );
      }
      outLayer++;
    }
  }

  // ---- post-weights: last slice's sources, t = 0 (mergekit since PR #534)
  boundary(postNames, lastSlice);

  entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));

  // ---- output config.json
  const config = JSON.parse(JSON.stringify(getInfo(refModel).config)) as Record<string, unknown>;
  config.num_hidden_layers = outLayer;
  if (outDtypeName) {
    config.torch_dtype = outDtypeName;
    if ('dtype' in config) config.dtype = outDtypeName;
  } else if (config.torch_dtype === undefined && entries.length > 0) {
    config.torch_dtype = DTYPE_TO_TORCH[entries[0].outDtype];
  }
  const embed = entries.find((e) => e.name.endsWith('embed_tokens.weight'));
  if (tok.vocab) {
    // merge.py's _update_config_vocab: the token count, padded (the architecture's vocab_size key)
    const tc = config.text_config as Record<string, unknown> | undefined;
    if (typeof config.vocab_size !== 'number' && tc && typeof tc.vocab_size === 'number') tc.vocab_size = tok.vocab.rows;
    else config.vocab_size = tok.vocab.rows;
  } else if (tok.vocabRows !== undefined) config.vocab_size = tok.vocabRows;
  else if (embed && embed.shape.length === 2 && typeof config.vocab_size === 'number' && config.vocab_size !== embed.shape[0]) {
    warnings.push(`config.json: vocab_size set to ${embed.shape[0]} (the merged embedding rows) instead of ${config.vocab_size}`);
    config.vocab_size = embed.shape[0];
  }

  return { entries, config, tokenizerFrom: tok.from, ...(tok.vocab ? { vocab: tok.vocab } : {}), warnings };
}

function normaliseSlice(
  def: OutputSlice,
  label: string,
  base: string | undefined,
  getInfo: (ref: string) => ModelInfo,
  warnings: string[],
): PlanSlice {
  if (def.sources.length === 0) throw new RecipeError(`${label} has no sources`, { key: label });
  const all: PlanSource[] = def.sources.map((s, j) => {
    const info = getInfo(s.model);
    const [start, end] = s.layer_range ?? [0, info.numLayers];
    const where = label === 'models' ? `model ${s.model}` : `${label}.sources[${j}] (${s.model})`;
    if (!Number.isInteger(start) || !Number.isInteger(end) || start < 0 || end < start)
      throw new RecipeError(`${where}: layer_range [${start}, ${end}] is not a valid [start, end) range`, { key: `${label}.sources[${j}].layer_range`, model: s.model });
    if (end > info.numLayers)
      throw new RecipeError(`${where}: layer_range [${start}, ${end}) goes past the model's ${info.numLayers} layers`, { key: `${label}.sources[${j}].layer_range`, model: s.model });
    return { model: s.model, start, end };
  });
  const lengths = all.map((s) => s.end - s.start);
  if (!lengths.every((n) => n === lengths[0]))
    throw new RecipeError(
      `All inputs to a slice must contain the same number of layers: ${label} has ${all.map((s) => `${s.model} ${s.end - s.start}`).join(', ')}`,
      { key: label },
    );
  // mergekit gathers a slice's inputs keyed by model: a repeated model is one input (at the place of
  // its first appearance, with the layers of its last).
  const sources: PlanSource[] = [];
  for (const s of all) {
    const i = sources.findIndex((x) => x.model === s.model);
    if (i < 0) sources.push(s);
    else {
      warnings.push(`${label}: model ${s.model} is listed more than once; mergekit uses it once (layers ${s.start}–${s.end - 1})`);
      sources[i] = s;
    }
  }
  return { label, def, sources, base, length: lengths[0] };
}

function checkArity(spec: MethodSpec, s: PlanSlice, recipe: Recipe): void {
  const n = s.sources.length;
  const list = describe(s.sources, s.base);
  const baseIn = s.base !== undefined && s.sources.some((x) => x.model === s.base);
  const where = s.label === 'models' ? 'the merge' : s.label;
  switch (spec.base) {
    case 'none':
      if (n !== 1)
        throw new RecipeError(
          `${spec.name} copies exactly one source per output slice; ${where} has ${n}: ${list}` +
            (s.label === 'models' ? '. Use slices: with one source each to stack layers' : '') +
            (recipe.base_model !== undefined ? ` (${spec.name} uses no base_model; remove it)` : ''),
          { key: s.label },
        );
      break;
    case 'slerp':
      if (n !== 2 || !baseIn)
        throw new RecipeError(
          `${spec.name} merges exactly two models, one of them the base_model; ${where} has ${n}: ${list}${s.base === undefined ? ' and no base_model' : baseIn ? '' : `, without the base ${s.base}`}`,
          { key: s.label },
        );
      break;
    case 'required':
      if (s.base === undefined) throw new RecipeError(`merge_method ${spec.name} needs a base_model; ${where} has none`, { key: 'base_model' });
      if (!baseIn)
        throw new RecipeError(`merge_method ${spec.name} needs the base model ${s.base} among the sources of ${where} (it has ${list})`, { key: s.label });
      break;
    case 'optional':
      if (s.base !== undefined && !baseIn)
        throw new RecipeError(`merge_method ${spec.name} needs the base model ${s.base} among the sources of ${where} (it has ${list})`, { key: s.label });
      break;
    default:
      break;
  }
  if (n < spec.minInputs)
    throw new RecipeError(`merge_method ${spec.name} needs at least ${spec.minInputs} models (base included); ${where} has ${n}: ${list}`, { key: s.label });
  if (spec.maxInputs !== undefined && n > spec.maxInputs)
    throw new RecipeError(`merge_method ${spec.name} takes at most ${spec.maxInputs} models (base included); ${where} has ${n}: ${list}`, { key: s.label });
  const nb = spec.nonBaseInputs;
  if (nb) {
    const others = n - (baseIn ? 1 : 0);
    const lo = nb.min ?? 0;
    const hi = nb.max ?? Infinity;
    if (others < lo || others > hi) {
      const want = lo === hi ? `exactly ${lo}` : hi === Infinity ? `at least ${lo}` : `${lo} to ${hi}`;
      throw new RecipeError(
        `merge_method ${spec.name} needs ${want} model${(hi === Infinity ? lo : hi) === 1 ? '' : 's'} besides the ${spec.base === 'optional' ? 'optional ' : ''}base_model; ${where} has ${others}: ${list}` +
          (spec.base === 'optional' && baseIn ? ` (the base_model ${s.base} must be a further model, not one of them)` : ''),
        { key: s.label },
      );
    }
  }
}

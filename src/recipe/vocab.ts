// The vocabulary of a merge, as mergekit builds it (tokenizer/build.py, tokenizer/embed.py,
// merge.py's _update_config_vocab): the output tokenizer for `tokenizer_source: base | union |
// <model>` or a `tokenizer:` block, each model's token → row map, and the fill of every embedding
// row a model lacks (or whose `tokens:` rule is forced). Pure: it reads tokenizer.json texts
// handed to it, never tensors.
//
// Output vocabulary (build_tokenizer / build_union_tokenizer):
//  - base: the base model's tokenizer (else the first model's), stripped of ids ≥ its vocab_size;
//    <model>: that model's tokenizer as it is.
//  - union: the stripped base; then, model by model (base first, then the recipe's order), every
//    regular token the output lacks, appended as a non-special added token; then every model's added
//    tokens in id order (first occurrence wins), appended unless the output already has them.
//  - `tokens:` keys are added last with add_tokens(): a new token gets the next id; an existing one
//    becomes a non-special added token at its id.
//  - pad_to_multiple_of rounds the row count up; the padding rows are each model's mean row.
// Rows (PermutedEmbeddings), for each output token and model: the model's own row when it has the
// token and no forced rule names it; else the token's fill: its `tokens:` rule; exactly one model
// has it → that row; none → zero; the base has it → the base's row; else the mean of the rows of
// the models that have it.
import { ModelError, RecipeError } from '../errors';
import { fullVocab, plainAddedToken, stripTokenizer, vocabLength, type AddedToken, type ParsedTokenizer } from '../formats/tokenizer';
import type { Recipe, TokenSource } from './types';

export type TokenRule = { source?: TokenSource; force?: boolean };

export interface VocabModel {
  ref: string;
  /** Parsed tokenizer.json; undefined when the model has none. */
  tokenizer?: ParsedTokenizer;
  /** The model has tokenizer files other than tokenizer.json (tokenizer.model, vocab.json…). */
  otherTokenizerFiles?: string[];
  /** config.json's vocab_size (text_config.vocab_size for multimodal configs). */
  vocabSize?: number;
}

export interface VocabBuild {
  /** 'union' | 'base' | a model reference. */
  setting: string;
  /** Where the setting came from, for messages: 'tokenizer_source' or 'tokenizer.source'. */
  key: string;
  /** The model whose tokenizer files are the template of the output (base / first / named model). */
  sourceModel: string;
  /** The template tokenizer (stripped for base / union). */
  template: ParsedTokenizer;
  /** The output's added tokens, id order. */
  added: AddedToken[];
  /** Output token → id. */
  vocab: Map<string, number>;
  /** id → token. */
  tokens: string[];
  /** Embedding rows of the output: tokens.length, padded up to pad_to_multiple_of. */
  rows: number;
  /** Per model: output id → the model's row, or -1 where it lacks the token. */
  perms: Map<string, Int32Array>;
  /** Per model: its own token → id (what `{kind: model_token, token}` looks up). */
  original: Map<string, ReadonlyMap<string, number>>;
  /** The `tokens:` rules. */
  rules: Record<string, TokenRule>;
  warnings: string[];
}

/** config.json's vocab size (mergekit: the architecture's vocab_size_config_key, else vocab_size). */
export function configVocabSize(config: Record<string, unknown>): number | undefined {
  if (typeof config.vocab_size === 'number') return config.vocab_size;
  const tc = config.text_config as Record<string, unknown> | undefined;
  if (tc && typeof tc.vocab_size === 'number') return tc.vocab_size;
  return undefined;
}

/** The tokenizer setting of a recipe, or undefined when it has none (tokenizer files are copied). */
export function tokenizerSetting(recipe: Recipe): { setting: string; key: string } | undefined {
  if (recipe.tokenizer) return { setting: recipe.tokenizer.source ?? 'union', key: 'tokenizer.source' };
  if (recipe.tokenizer_source !== undefined) return { setting: recipe.tokenizer_source, key: 'tokenizer_source' };
  return undefined;
}

/**
 * Builds the output vocabulary. `referenced`: every model of the recipe in order (base included);
 * `base`: the recipe's base_model (mergekit falls back to the first referenced model).
 */
export function buildVocab(recipe: Recipe, models: Map<string, VocabModel>, referenced: string[], base: string | undefined): VocabBuild | undefined {
  const s = tokenizerSetting(recipe);
  if (!s) return undefined;
  const { setting, key } = s;
  const warnings: string[] = [];
  const baseRef = base ?? referenced[0];
  if (baseRef === undefined) throw new RecipeError('the recipe lists no models', { key: 'models' });
  const get = (ref: string): VocabModel => {
    const m = models.get(ref);
    if (!m) throw new ModelError(`${key} needs the tokenizer of model ${ref}, which is not loaded; add it to the models or use tokenizer_source: base`, { model: ref, key });
    return m;
  };
  const needTokenizer = (ref: string, why: string): ParsedTokenizer => {
    const m = get(ref);
    if (m.tokenizer) return m.tokenizer;
    const other = m.otherTokenizerFiles?.length ? ` (it has ${m.otherTokenizerFiles.join(', ')}, which this studio cannot read: save the tokenizer with transformers to get a tokenizer.json)` : '';
    throw new ModelError(`${key}: ${setting}: model ${ref} has no tokenizer.json${other}; ${why}`, { model: ref, file: `${ref}/tokenizer.json`, key });
  };
  const modelRefs = [...new Set([baseRef, ...referenced])];

  // ---- every model's tokenizer: the stripped base; others as they are (none → the base's, as mergekit assumes)
  const baseTok = stripTokenizer(needTokenizer(baseRef, 'the output vocabulary starts from the base tokenizer'), get(baseRef).vocabSize);
  const toks = new Map<string, ParsedTokenizer>([[baseRef, baseTok]]);
  for (const ref of modelRefs) {
    if (ref === baseRef) continue;
    const m = get(ref);
    if (m.tokenizer) toks.set(ref, m.tokenizer);
    else if (m.otherTokenizerFiles?.length) needTokenizer(ref, 'its vocabulary is needed to map its embedding rows');
    else warnings.push(`${key}: model ${ref} has no tokenizer files; assumed to have the same vocabulary as ${baseRef} (as mergekit does)`);
  }
  // Token strings only correspond between tokenizers of one model type (BPE "Ġthe" vs Unigram "▁the").
  for (const [ref, t] of toks)
    if (t.modelType !== baseTok.modelType)
      throw new ModelError(
        `${key}: ${setting}: ${t.file} is a ${t.modelType} tokenizer but ${baseTok.file} is ${baseTok.modelType}; their token strings do not correspond, so no vocabulary can map the embedding rows of ${ref}. Merge models with the same kind of tokenizer`,
        { model: ref, file: t.file, key },
      );

  // ---- the output tokenizer
  let template: ParsedTokenizer;
  let sourceModel: string;
  if (setting === 'base' || setting === 'union') {
    template = baseTok;
    sourceModel = baseRef;
  } else {
    if (!models.has(setting))
      throw new ModelError(`${key} names model ${setting}, which is not loaded; add it to the models or use tokenizer_source: base`, { model: setting, key });
    template = needTokenizer(setting, `${key} takes its vocabulary from it`);
    if (template.modelType !== baseTok.modelType)
      throw new ModelError(`${key}: ${template.file} is a ${template.modelType} tokenizer but ${baseTok.file} is ${baseTok.modelType}; their token strings do not correspond`, {
        model: setting,
        file: template.file,
        key,
      });
    sourceModel = setting;
  }
  const out = new Map(fullVocab(template));
  const added = new Map<number, AddedToken>(template.added.map((a) => [a.id, { ...a }]));
  const addedByContent = new Map<string, number>(template.added.map((a) => [a.content, a.id]));
  let next = vocabLength(out);
  // add_tokens(): an already added token is kept (first wins); a regular one becomes added at its id.
  const addToken = (tok: AddedToken, replace: boolean): void => {
    if (addedByContent.has(tok.content)) {
      if (!replace) return;
      const id = addedByContent.get(tok.content)!;
      const cur = added.get(id)!;
      if (cur.special === tok.special && cur.normalized === tok.normalized && cur.lstrip === tok.lstrip && cur.rstrip === tok.rstrip && cur.single_word === tok.single_word) return;
      added.set(id, { ...tok, id });
      return;
    }
    const id = out.get(tok.content) ?? next++;
    out.set(tok.content, id);
    added.set(id, { ...tok, id });
    addedByContent.set(tok.content, id);
  };

  if (setting === 'union') {
    const extraRegular: string[] = [];
    const seenRegular = new Set<string>();
    const extraAdded: AddedToken[] = [];
    const seenAdded = new Set<string>();
    for (const [ref, t] of toks) {
      const vs = get(ref).vocabSize ?? vocabLength(fullVocab(t));
      const addedHere = new Set(t.added.map((a) => a.content));
      for (const [tok, id] of [...t.vocab].sort((a, b) => a[1] - b[1])) {
        if (id >= vs || addedHere.has(tok) || seenRegular.has(tok)) continue;
        seenRegular.add(tok);
        extraRegular.push(tok);
      }
      for (const a of t.added) {
        if (a.id >= vs || seenAdded.has(a.content)) continue;
        seenAdded.add(a.content);
        extraAdded.push(a);
      }
    }
    const baseVocab = fullVocab(baseTok);
    for (const tok of extraRegular) if (!seenAdded.has(tok) && !baseVocab.has(tok)) addToken(plainAddedToken(tok, -1), false);
    for (const a of extraAdded) addToken(a, false);
  }
  const rules: Record<string, TokenRule> = recipe.tokenizer?.tokens ?? {};
  for (const tok of Object.keys(rules)) addToken(plainAddedToken(tok, -1), true);

  const tokens: string[] = new Array(out.size);
  for (const [tok, id] of out) {
    if (id >= out.size || tokens[id] !== undefined)
      throw new ModelError(`${template.file}: token ids are not contiguous (${JSON.stringify(tok)} has id ${id} of ${out.size} tokens); mergekit sizes the embedding by the token count`, {
        file: template.file,
        key,
      });
    tokens[id] = tok;
  }
  const size = tokens.length;
  const pad = recipe.tokenizer?.pad_to_multiple_of;
  const rows = pad && size % pad ? size + pad - (size % pad) : size;

  // ---- permutations
  const perms = new Map<string, Int32Array>();
  const original = new Map<string, ReadonlyMap<string, number>>();
  for (const ref of modelRefs) {
    const t = toks.get(ref) ?? baseTok;
    const mv = fullVocab(t);
    original.set(ref, mv);
    const vs = get(ref).vocabSize ?? vocabLength(mv);
    const p = new Int32Array(size).fill(-1);
    for (let id = 0; id < size; id++) {
      const o = mv.get(tokens[id]);
      if (o !== undefined && o < vs) p[id] = o;
    }
    perms.set(ref, p);
  }

  // ---- rules that name models or tokens must resolve before any tensor is read
  for (const [tok, rule] of Object.entries(rules)) {
    const src = rule.source;
    if (src === undefined || typeof src !== 'object') {
      if (typeof src === 'string') {
        const p = perms.get(src);
        if (!p) throw new RecipeError(`tokenizer.tokens[${JSON.stringify(tok)}].source names model ${src}, which is not part of the merge`, { key: 'tokenizer.tokens', model: src });
        if (p[out.get(tok)!] < 0)
          throw new RecipeError(`tokenizer.tokens[${JSON.stringify(tok)}].source: model ${src} has no token ${JSON.stringify(tok)} (${toks.get(src)?.file ?? `${src}/tokenizer.json`})`, {
            key: 'tokenizer.tokens',
            model: src,
            file: toks.get(src)?.file,
          });
      }
      continue;
    }
    if (src.kind !== 'model_token') continue;
    const mv = original.get(src.model);
    if (!mv) throw new RecipeError(`tokenizer.tokens[${JSON.stringify(tok)}].source.model ${src.model} is not part of the merge`, { key: 'tokenizer.tokens', model: src.model });
    if (src.token !== undefined && !mv.has(src.token))
      throw new RecipeError(`tokenizer.tokens[${JSON.stringify(tok)}].source: token ${JSON.stringify(src.token)} is not in ${toks.get(src.model)?.file ?? `${src.model}'s vocabulary`}`, {
        key: 'tokenizer.tokens',
        model: src.model,
        file: toks.get(src.model)?.file,
      });
    if ((src.token === undefined) === (src.token_id === undefined))
      throw new RecipeError(`tokenizer.tokens[${JSON.stringify(tok)}].source: give exactly one of token and token_id`, { key: 'tokenizer.tokens' });
  }

  return { setting, key, sourceModel, template, added: [...added.values()].sort((a, b) => a.id - b.id), vocab: out, tokens, rows, perms, original, rules, warnings };
}

// ---------------------------------------------------------------------------------------------
// Rows of one embedding tensor

/** Where a filled row's values come from (input = index into the plan entry's inputs; row = its raw row). */
export type FillSource =
  | { kind: 'zero' }
  | { kind: 'row'; input: number; row: number }
  | { kind: 'mean'; rows: { input: number; row: number }[] }
  /** Padding: the mean of the input's own first `size` rows after permutation and fill. */
  | { kind: 'pad-mean'; size: number };

/** An input's rows in the output vocabulary: map[r] ≥ 0 its own row, else fills[−map[r] − 1]. */
export interface RowGather {
  map: Int32Array;
  fills: FillSource[];
  /** Identifies map + fills (input cache keys). */
  key: string;
}

/** A token's fill in terms of models (for plans and for the studio's report). */
export type TokenFill =
  | { kind: 'zero'; why: 'rule' | 'no-model' }
  | { kind: 'row'; model: string; row: number; token?: string; why: 'rule' | 'only-model' | 'base' }
  | { kind: 'mean'; models: string[] };

/**
 * The fill of output token `id` over `models` (mergekit's PermutedEmbeddings: the models of the
 * tensor plus the base): its rule, or the default rules.
 */
export function tokenFill(v: VocabBuild, models: readonly string[], base: string | undefined, id: number): TokenFill {
  const tok = v.tokens[id];
  const rule = Object.prototype.hasOwnProperty.call(v.rules, tok) ? v.rules[tok] : undefined;
  const src = rule?.source;
  if (src !== undefined) {
    if (typeof src === 'string') return { kind: 'row', model: src, row: v.perms.get(src)![id], why: 'rule' };
    if (src.kind === 'zero') return { kind: 'zero', why: 'rule' };
    const row = src.token_id ?? v.original.get(src.model)!.get(src.token!)!;
    return { kind: 'row', model: src.model, row, ...(src.token !== undefined ? { token: src.token } : {}), why: 'rule' };
  }
  const having = models.filter((m) => (v.perms.get(m)?.[id] ?? -1) >= 0);
  if (having.length === 1) return { kind: 'row', model: having[0], row: v.perms.get(having[0])![id], why: 'only-model' };
  if (having.length === 0) return { kind: 'zero', why: 'no-model' };
  if (base !== undefined && having.includes(base)) return { kind: 'row', model: base, row: v.perms.get(base)![id], why: 'base' };
  return { kind: 'mean', models: having };
}

/** Whether a token's own row is replaced for every model (`force: true` on its rule). */
export function isForced(v: VocabBuild, id: number): boolean {
  const tok = v.tokens[id];
  return Object.prototype.hasOwnProperty.call(v.rules, tok) && v.rules[tok].force === true;
}

/**
 * The row gathers of an embedding tensor's inputs (`inputModels` in entry order, `inputRows` the
 * rows each input's tensor has), or undefined for an input that needs none (its rows are the
 * output's, in order: a prefix read). Throws naming the tensor when a rule names a model that is
 * not one of its inputs or a row outside a tensor.
 */
export function embedGathers(v: VocabBuild, tensor: string, inputModels: readonly string[], inputRows: readonly number[], base: string | undefined): (RowGather | undefined)[] {
  const models = [...inputModels];
  if (base !== undefined && !models.includes(base) && v.perms.has(base)) models.push(base);
  const inputOf = (m: string, why: string): number => {
    const i = inputModels.indexOf(m);
    if (i < 0) throw new RecipeError(`${tensor}: ${why} names model ${m}, which is not an input of this tensor`, { tensor, model: m, key: 'tokenizer.tokens' });
    return i;
  };
  const size = v.tokens.length;
  // the fill of each token some input needs, shared by the inputs
  const fillOf = new Map<number, FillSource>();
  const fill = (id: number): FillSource => {
    let f = fillOf.get(id);
    if (f) return f;
    const t = tokenFill(v, models, base, id);
    const why = `the fill of token ${JSON.stringify(v.tokens[id])}`;
    const checkRow = (i: number, row: number) => {
      if (row < 0 || row >= inputRows[i])
        throw new RecipeError(`${tensor}: ${why} is row ${row} of model ${inputModels[i]}, outside its ${inputRows[i]} rows`, { tensor, model: inputModels[i], key: 'tokenizer.tokens' });
    };
    if (t.kind === 'zero') f = { kind: 'zero' };
    else if (t.kind === 'row') {
      const i = inputOf(t.model, why);
      checkRow(i, t.row);
      f = { kind: 'row', input: i, row: t.row };
    } else {
      const rows = t.models.filter((m) => inputModels.includes(m)).map((m) => ({ input: inputModels.indexOf(m), row: v.perms.get(m)![id] }));
      for (const r of rows) checkRow(r.input, r.row);
      f = rows.length ? { kind: 'mean', rows } : { kind: 'zero' };
    }
    fillOf.set(id, f);
    return f;
  };
  return inputModels.map((m, i) => {
    const p = v.perms.get(m);
    if (!p) throw new RecipeError(`${tensor}: model ${m} has no vocabulary map`, { tensor, model: m });
    const map = new Int32Array(v.rows);
    const fills: FillSource[] = [];
    const fillIndex = new Map<FillSource, number>();
    let identity = v.rows === size;
    for (let id = 0; id < size; id++) {
      const own = p[id];
      if (own >= 0 && !isForced(v, id)) {
        if (own >= inputRows[i]) throw new RecipeError(`${tensor}: model ${m} maps token ${JSON.stringify(v.tokens[id])} to row ${own}, but its tensor has ${inputRows[i]} rows`, { tensor, model: m });
        map[id] = own;
        if (own !== id) identity = false;
        continue;
      }
      identity = false;
      const f = fill(id);
      let k = fillIndex.get(f);
      if (k === undefined) {
        k = fills.length;
        fills.push(f);
        fillIndex.set(f, k);
      }
      map[id] = -(k + 1);
    }
    if (v.rows > size) {
      fills.push({ kind: 'pad-mean', size });
      map.fill(-fills.length, size);
    }
    if (identity) return undefined;
    return { map, fills, key: gatherKey(map, fills) };
  });
}

/** FNV-1a over the map and the fills: names a gather in cache keys. */
function gatherKey(map: Int32Array, fills: FillSource[]): string {
  let h = 0x811c9dc5;
  const mix = (x: number) => {
    h ^= x & 0xff;
    h = Math.imul(h, 0x01000193);
    h ^= (x >>> 8) & 0xff;
    h = Math.imul(h, 0x01000193);
    h ^= (x >>> 16) & 0xff;
    h = Math.imul(h, 0x01000193);
    h ^= x >>> 24;
    h = Math.imul(h, 0x01000193);
  };
  for (let i = 0; i < map.length; i++) mix(map[i]);
  const f = JSON.stringify(fills);
  for (let i = 0; i < f.length; i++) mix(f.charCodeAt(i));
  return `${map.length}:${(h >>> 0).toString(16)}`;
}

// ---------------------------------------------------------------------------------------------
// What the studio shows before merging

export interface VocabModelReport {
  model: string;
  /** Output tokens this model lacks (or whose row a forced rule replaces). */
  missing: number;
  /** The first few, with their fills. */
  examples: { token: string; id: number; fill: string }[];
  /** Count of missing tokens per fill description. */
  fills: Record<string, number>;
}

export interface VocabReport {
  setting: string;
  sourceModel: string;
  size: number;
  rows: number;
  /** Tokens added to the template's vocabulary (union, tokens:). */
  addedTokens: number;
  models: VocabModelReport[];
}

export function describeFill(f: TokenFill): string {
  switch (f.kind) {
    case 'zero':
      return f.why === 'rule' ? 'zeros (tokens: rule)' : 'zeros (no model has it)';
    case 'row':
      return f.why === 'rule'
        ? `${f.model}'s row${f.token !== undefined ? ` for ${JSON.stringify(f.token)}` : ` ${f.row}`} (tokens: rule)`
        : f.why === 'only-model'
          ? `${f.model}'s row (the only model with it)`
          : `the base ${f.model}'s row`;
    case 'mean':
      return `the mean of ${f.models.join(', ')}'s rows`;
  }
}

/** Per model: how many output tokens it lacks, which (first `n`), and what fills them. */
export function vocabReport(v: VocabBuild, models: readonly string[], base: string | undefined, n = 8): VocabReport {
  const all = [...models];
  if (base !== undefined && !all.includes(base) && v.perms.has(base)) all.push(base);
  const size = v.tokens.length;
  const templateSize = vocabLength(fullVocab(v.template));
  const out: VocabModelReport[] = models.map((m) => {
    const p = v.perms.get(m)!;
    const r: VocabModelReport = { model: m, missing: 0, examples: [], fills: {} };
    for (let id = 0; id < size; id++) {
      if (p[id] >= 0 && !isForced(v, id)) continue;
      r.missing++;
      const d = describeFill(tokenFill(v, all, base, id));
      r.fills[d] = (r.fills[d] ?? 0) + 1;
      if (r.examples.length < n) r.examples.push({ token: v.tokens[id], id, fill: d });
    }
    if (v.rows > size) r.fills[`the mean of its rows (padding to ${v.rows})`] = v.rows - size;
    return r;
  });
  return { setting: v.setting, sourceModel: v.sourceModel, size, rows: v.rows, addedTokens: size - templateSize, models: out };
}

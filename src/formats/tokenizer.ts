// Hugging Face tokenizer files as data: tokenizer.json (the `tokenizers` library's serialization:
// `model` with its vocabulary, `added_tokens`), tokenizer_config.json (`added_tokens_decoder`,
// special tokens, `chat_template`) and special_tokens_map.json. Pure: parsing, mergekit's
// vocabulary stripping, and writing the files of a tokenizer whose added tokens changed. What the
// vocabulary of a merge is (tokenizer_source, union, tokens:) is decided in recipe/vocab.ts.
import { ModelError } from '../errors';

/** One entry of tokenizer.json's `added_tokens` (the flags of the Rust AddedToken). */
export interface AddedToken {
  id: number;
  content: string;
  single_word: boolean;
  lstrip: boolean;
  rstrip: boolean;
  normalized: boolean;
  special: boolean;
}

export interface ParsedTokenizer {
  /** For messages: "<model>/tokenizer.json". */
  file: string;
  /** The whole tokenizer.json (written back with its added tokens replaced). */
  json: Record<string, unknown>;
  /** model.type: BPE, WordPiece, WordLevel, Unigram. */
  modelType: string;
  /** The model's own vocabulary (no added tokens), token → id. */
  vocab: Map<string, number>;
  /** Added tokens in id order. */
  added: AddedToken[];
}

/** A non-special token added by name, as `tokenizer.add_tokens("…")` makes it (normalized: true). */
export function plainAddedToken(content: string, id: number): AddedToken {
  return { id, content, single_word: false, lstrip: false, rstrip: false, normalized: true, special: false };
}

const bool = (v: unknown, dflt: boolean): boolean => (typeof v === 'boolean' ? v : dflt);

/** Parses tokenizer.json text; a ModelError naming `file` when it is not one. */
export function parseTokenizerJson(text: string, file: string): ParsedTokenizer {
  let j: unknown;
  try {
    j = JSON.parse(text);
  } catch (e) {
    throw new ModelError(`${file} is not valid JSON (${e instanceof Error ? e.message : String(e)})`, { file });
  }
  if (!j || typeof j !== 'object' || Array.isArray(j)) throw new ModelError(`${file} is not a tokenizer.json object`, { file });
  const json = j as Record<string, unknown>;
  const model = json.model as Record<string, unknown> | undefined;
  if (!model || typeof model !== 'object') throw new ModelError(`${file} has no "model" object; this is not a Hugging Face tokenizer.json`, { file });
  const v = model.vocab;
  // tokenizers omits "type" for BPE in some old files; a vocab object with merges is BPE.
  const modelType = typeof model.type === 'string' ? model.type : Array.isArray(model.merges) ? 'BPE' : Array.isArray(v) ? 'Unigram' : 'WordLevel';
  const vocab = new Map<string, number>();
  if (Array.isArray(v)) {
    // Unigram: [[piece, score], …], id = position.
    v.forEach((e, i) => {
      if (Array.isArray(e) && typeof e[0] === 'string') vocab.set(e[0], i);
      else throw new ModelError(`${file}: model.vocab[${i}] is not a [piece, score] pair`, { file });
    });
  } else if (v && typeof v === 'object') {
    for (const [tok, id] of Object.entries(v as Record<string, unknown>)) {
      if (typeof id !== 'number' || !Number.isInteger(id) || id < 0) throw new ModelError(`${file}: model.vocab[${JSON.stringify(tok)}] is ${JSON.stringify(id)}, not a token id`, { file });
      vocab.set(tok, id);
    }
  } else throw new ModelError(`${file}: model.vocab is missing (model type ${modelType})`, { file });
  const addedIn = json.added_tokens ?? [];
  if (!Array.isArray(addedIn)) throw new ModelError(`${file}: added_tokens is not a list`, { file });
  const added: AddedToken[] = addedIn.map((a: Record<string, unknown>, i) => {
    if (!a || typeof a.content !== 'string' || typeof a.id !== 'number') throw new ModelError(`${file}: added_tokens[${i}] has no content / id`, { file });
    return {
      id: a.id,
      content: a.content,
      single_word: bool(a.single_word, false),
      lstrip: bool(a.lstrip, false),
      rstrip: bool(a.rstrip, false),
      normalized: bool(a.normalized, !bool(a.special, false)),
      special: bool(a.special, false),
    };
  });
  added.sort((a, b) => a.id - b.id);
  return { file, json, modelType, vocab, added };
}

const fullVocabs = new WeakMap<ParsedTokenizer, ReadonlyMap<string, number>>();

/**
 * token → id as transformers' get_vocab() gives it: the model vocabulary, then the added tokens.
 * Built once per parsed tokenizer (vocabularies of 150k tokens are looked at several times).
 */
export function fullVocab(t: ParsedTokenizer): ReadonlyMap<string, number> {
  let out = fullVocabs.get(t);
  if (!out) {
    const m = new Map(t.vocab);
    for (const a of t.added) m.set(a.content, a.id);
    fullVocabs.set(t, (out = m));
  }
  return out;
}

/** Number of ids (highest id + 1) of a vocabulary. */
export function vocabLength(v: ReadonlyMap<string, number>): number {
  let max = -1;
  for (const id of v.values()) if (id > max) max = id;
  return max + 1;
}

/**
 * mergekit's get_stripped_tokenizer: a tokenizer without the tokens whose id is ≥ the model's
 * vocab_size (they have no embedding row). Only BPE tokenizers can be stripped (their merges that
 * use a removed token go too); others are refused, as mergekit does.
 */
export function stripTokenizer(t: ParsedTokenizer, vocabSize: number | undefined): ParsedTokenizer {
  if (vocabSize === undefined) return t;
  const unused = new Set<string>();
  for (const [tok, id] of fullVocab(t)) if (id >= vocabSize) unused.add(tok);
  if (unused.size === 0) return t;
  if (t.modelType !== 'BPE')
    throw new ModelError(
      `${t.file} has ${unused.size} token(s) with ids at or above config.json's vocab_size ${vocabSize} (e.g. ${JSON.stringify([...unused][0])}) and is a ${t.modelType} tokenizer; mergekit strips such tokens from BPE tokenizers only`,
      { file: t.file },
    );
  const vocab = new Map([...t.vocab].filter(([tok]) => !unused.has(tok)));
  const added = t.added.filter((a) => a.id < vocabSize);
  const model = { ...(t.json.model as Record<string, unknown>) };
  model.vocab = Object.fromEntries(vocab);
  if (Array.isArray(model.merges))
    model.merges = (model.merges as unknown[]).filter((m) => {
      const parts = typeof m === 'string' ? m.split(' ') : Array.isArray(m) ? (m as string[]) : null;
      if (!parts || (typeof m === 'string' && parts.length !== 2))
        throw new ModelError(`${t.file}: unexpected merge ${JSON.stringify(m)} (expected "a b" or [a, b])`, { file: t.file });
      return !parts.some((p) => unused.has(p));
    });
  return { ...t, json: { ...t.json, model }, vocab, added };
}

const addedJson = (a: AddedToken) => ({
  id: a.id,
  content: a.content,
  single_word: a.single_word,
  lstrip: a.lstrip,
  rstrip: a.rstrip,
  normalized: a.normalized,
  special: a.special,
});

/** tokenizer.json of `t` with its added tokens replaced by `added` (id order), as the Rust serializer writes it. */
export function tokenizerJsonText(t: ParsedTokenizer, added: readonly AddedToken[]): string {
  const out: Record<string, unknown> = {
    version: t.json.version ?? '1.0',
    truncation: t.json.truncation ?? null,
    padding: t.json.padding ?? null,
    ...t.json,
    added_tokens: [...added].sort((a, b) => a.id - b.id).map(addedJson),
  };
  for (const k of ['normalizer', 'pre_tokenizer', 'post_processor', 'decoder']) if (!(k in out)) out[k] = null;
  // key order as tokenizers writes it
  const order = ['version', 'truncation', 'padding', 'added_tokens', 'normalizer', 'pre_tokenizer', 'post_processor', 'decoder', 'model'];
  const sorted: Record<string, unknown> = {};
  for (const k of order) if (k in out) sorted[k] = out[k];
  for (const k of Object.keys(out)) if (!(k in sorted)) sorted[k] = out[k];
  return JSON.stringify(sorted, null, 2) + '\n';
}

const SPECIAL_KEYS = ['bos_token', 'eos_token', 'unk_token', 'sep_token', 'pad_token', 'cls_token', 'mask_token'] as const;

/**
 * tokenizer_config.json as transformers' save_pretrained writes it: the source's settings, its
 * `added_tokens_decoder` rebuilt from `added` (every added token, keyed by id), the chat template.
 */
export function tokenizerConfigText(sourceConfig: Record<string, unknown> | undefined, added: readonly AddedToken[], chatTemplate?: string): string {
  const cfg: Record<string, unknown> = { ...(sourceConfig ?? {}) };
  const decoder: Record<string, unknown> = {};
  for (const a of [...added].sort((x, y) => x.id - y.id))
    decoder[String(a.id)] = { content: a.content, lstrip: a.lstrip, normalized: a.normalized, rstrip: a.rstrip, single_word: a.single_word, special: a.special };
  const out: Record<string, unknown> = { added_tokens_decoder: decoder };
  for (const [k, v] of Object.entries(cfg)) if (k !== 'added_tokens_decoder' && k !== 'chat_template') out[k] = v;
  if (chatTemplate !== undefined) out.chat_template = chatTemplate;
  else if (cfg.chat_template !== undefined) out.chat_template = cfg.chat_template;
  if (out.tokenizer_class === undefined) out.tokenizer_class = 'PreTrainedTokenizerFast';
  return JSON.stringify(out, null, 2) + '\n';
}

/** special_tokens_map.json: the source's file when it has one, else the special tokens its config names. */
export function specialTokensMapText(sourceMap: Record<string, unknown> | undefined, sourceConfig: Record<string, unknown> | undefined): string {
  if (sourceMap) return JSON.stringify(sourceMap, null, 2) + '\n';
  const out: Record<string, unknown> = {};
  const cfg = sourceConfig ?? {};
  if (Array.isArray(cfg.additional_special_tokens)) out.additional_special_tokens = cfg.additional_special_tokens;
  for (const k of SPECIAL_KEYS) if (cfg[k] !== undefined && cfg[k] !== null) out[k] = cfg[k];
  return JSON.stringify(out, null, 2) + '\n';
}

// A model's tokenizer for evaluation: tokenizer.json through @huggingface/tokenizers (the same
// implementation transformers.js uses), the chat template through @huggingface/jinja. This file
// only adds what evaluation needs on top: checks that the tokenizer belongs to the model (every
// id < vocab_size, a stop token), special-token ids, and a prompt rendered as a one-turn chat.

import { Tokenizer } from '@huggingface/tokenizers';
import { Template } from '@huggingface/jinja';
import { EvalError } from '../errors.ts';

export interface EvalTokenizer {
  /** The tokenizer.json name used in messages. */
  readonly file: string;
  encode(text: string, opts: { addSpecialTokens: boolean }): number[];
  decode(ids: ArrayLike<number>, opts: { skipSpecialTokens: boolean }): string;
  readonly bosId?: number;
  /** Ids that end a greedy generation (tokenizer_config's eos_token plus config.json's eos_token_id). */
  readonly eosIds: number[];
  readonly padId?: number;
  readonly chatTemplate?: string;
  /** The prompt as one user turn with the generation prompt appended; the prompt itself when there is no template. */
  applyChatTemplate(prompt: string): string;
}

export interface LoadTokenizerOptions {
  /** tokenizer.json text. */
  tokenizerJson: string;
  /** tokenizer_config.json text, when the model has one (special tokens, chat template). */
  tokenizerConfig?: string;
  /** tokenizer.json's name for messages, e.g. "demo-base/tokenizer.json". */
  file: string;
  /** tokenizer_config.json's name for messages; default: beside `file`. */
  configFile?: string;
  /** config.json's name for messages; default: beside `file`. */
  modelConfigFile?: string;
  /** config.json's vocab_size: the embedding has this many rows, so every token id must be below it. */
  vocabSize: number;
  /** config.json's (or generation_config.json's) eos_token_id, added to the stop ids. */
  eosTokenId?: number | number[] | null;
  /** config.json's bos_token_id, used when tokenizer_config.json names no bos_token. */
  bosTokenId?: number | null;
  /** config.json's pad_token_id, used when tokenizer_config.json names no pad_token. */
  padTokenId?: number | null;
  /** A chat template from elsewhere (a chat_template.jinja file); overrides tokenizer_config's. */
  chatTemplate?: string;
}

type Json = Record<string, unknown>;

function sibling(file: string, name: string): string {
  const slash = file.lastIndexOf('/');
  return slash < 0 ? name : file.slice(0, slash + 1) + name;
}

function parseObject(text: string, file: string): Json {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw new EvalError(`${file}: not valid JSON (${(e as Error).message})`, { file });
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) {
    throw new EvalError(`${file}: expected a JSON object at the top level`, { file });
  }
  return v as Json;
}

/** tokenizer_config.json writes special tokens as a string or as {"content": "..."} (older files). */
function tokenText(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (v !== null && typeof v === 'object' && typeof (v as Json).content === 'string') return (v as Json).content as string;
  return undefined;
}

/** tokenizer_config's chat_template: a string, or a list of named templates ("default" is the one). */
function pickTemplate(v: unknown, file: string): string | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'string') return v;
  if (Array.isArray(v)) {
    const named = v as { name?: unknown; template?: unknown }[];
    const t = named.find((x) => x?.name === 'default') ?? named[0];
    if (t && typeof t.template === 'string') return t.template;
  }
  throw new EvalError(`${file}: "chat_template" must be a string or a list of {name, template}`, { file, key: 'chat_template' });
}

export function loadTokenizer(opts: LoadTokenizerOptions): EvalTokenizer {
  const { file, vocabSize } = opts;
  const configFile = opts.configFile ?? sibling(file, 'tokenizer_config.json');
  const modelConfigFile = opts.modelConfigFile ?? sibling(file, 'config.json');
  const json = parseObject(opts.tokenizerJson, file);
  const config = opts.tokenizerConfig === undefined ? {} : parseObject(opts.tokenizerConfig, configFile);
  if (json.model === null || typeof json.model !== 'object') {
    throw new EvalError(`${file}: no "model" object; this is not a Hugging Face tokenizer.json`, { file });
  }
  // The Rust serializer always writes these keys (null when unused); hand-written files may omit
  // them, and the library would then refuse the file or fail iterating added_tokens.
  const full: Json = { normalizer: null, pre_tokenizer: null, post_processor: null, decoder: null, ...json };
  if (!Array.isArray(full.added_tokens)) full.added_tokens = [];

  let tok: Tokenizer;
  try {
    tok = new Tokenizer(full, config);
  } catch (e) {
    throw new EvalError(`${file}: ${(e as Error).message}`, { file });
  }

  // The embedding has vocab_size rows: an id at or above it would index past the matrix.
  let maxId = -1;
  let maxToken = '';
  for (const [token, id] of tok.get_vocab(true)) {
    if (id > maxId) [maxId, maxToken] = [id, token];
  }
  if (maxId < 0) throw new EvalError(`${file}: the vocabulary is empty`, { file });
  if (maxId >= vocabSize) {
    throw new EvalError(
      `${file}: token id ${maxId} ≥ vocab_size ${vocabSize} in ${modelConfigFile} (token ${JSON.stringify(maxToken)}); ` +
        'this tokenizer does not belong to the model',
      { file },
    );
  }

  const idOf = (key: string): number | undefined => {
    const text = tokenText(config[key]);
    if (text === undefined) return undefined;
    const id = tok.token_to_id(text);
    if (id === undefined) {
      throw new EvalError(`${configFile}: ${key} ${JSON.stringify(text)} is not a token of ${file}`, { file: configFile, key });
    }
    return id;
  };
  const modelId = (v: number | null | undefined, key: string): number | undefined => {
    if (v === undefined || v === null) return undefined;
    if (!Number.isInteger(v) || v < 0 || v >= vocabSize) {
      throw new EvalError(`${modelConfigFile}: ${key} ${v} is not a token id below vocab_size ${vocabSize}`, {
        file: modelConfigFile,
        key,
      });
    }
    return v;
  };

  const eosIds: number[] = [];
  const configEos = idOf('eos_token');
  if (configEos !== undefined) eosIds.push(configEos);
  const extraEos = opts.eosTokenId === undefined || opts.eosTokenId === null ? [] : [opts.eosTokenId].flat();
  for (const id of extraEos) {
    const checked = modelId(id, 'eos_token_id')!;
    if (!eosIds.includes(checked)) eosIds.push(checked);
  }
  if (eosIds.length === 0) {
    throw new EvalError(
      `${configFile}: no eos_token (and ${modelConfigFile} has no eos_token_id): greedy generation needs a token that ends an answer`,
      { file: configFile, key: 'eos_token' },
    );
  }
  const bosId = idOf('bos_token') ?? modelId(opts.bosTokenId, 'bos_token_id');
  const padId = idOf('pad_token') ?? modelId(opts.padTokenId, 'pad_token_id');

  const chatTemplate = opts.chatTemplate ?? pickTemplate(config.chat_template, configFile);
  let template: Template | undefined;
  if (chatTemplate !== undefined) {
    try {
      template = new Template(chatTemplate);
    } catch (e) {
      throw new EvalError(`${configFile}: chat_template does not parse (${(e as Error).message})`, { file: configFile, key: 'chat_template' });
    }
  }
  // Variables transformers passes to chat templates; templates commonly print bos_token themselves.
  const specials: Json = {};
  for (const key of ['bos_token', 'eos_token', 'pad_token', 'unk_token']) {
    const text = tokenText(config[key]);
    if (text !== undefined) specials[key] = text;
  }
  if (specials.bos_token === undefined && bosId !== undefined) specials.bos_token = tok.id_to_token(bosId);
  if (specials.eos_token === undefined) specials.eos_token = tok.id_to_token(eosIds[0]);

  // transformers.js cleans up spaces before punctuation unless told not to; an eval compares exact
  // text, so the cleanup happens only when tokenizer_config asks for it.
  const cleanUp = config.clean_up_tokenization_spaces === true;
  const known = new Set(tok.get_vocab(true).values());

  return {
    file,
    bosId,
    eosIds,
    padId,
    chatTemplate,
    encode(text, { addSpecialTokens }) {
      const { ids, tokens } = tok.encode(text, { add_special_tokens: addSpecialTokens });
      // A token string with no id (a post-processor naming a token the vocabulary lacks) would
      // otherwise reach the model as undefined.
      const bad = ids.findIndex((id) => !Number.isInteger(id));
      if (bad >= 0) {
        throw new EvalError(`${file}: token ${JSON.stringify(tokens[bad])} (encoding ${JSON.stringify(text.slice(0, 40))}) has no id`, { file });
      }
      return ids;
    },
    decode(ids, { skipSpecialTokens }) {
      // Ids without a token (padding rows of the embedding) decode to nothing.
      const kept = Array.from(ids).filter((id) => known.has(id));
      if (kept.length === 0) return '';
      return tok.decode(kept, { skip_special_tokens: skipSpecialTokens, clean_up_tokenization_spaces: cleanUp });
    },
    applyChatTemplate(prompt) {
      if (!template) return prompt;
      try {
        return template.render({ ...specials, messages: [{ role: 'user', content: prompt }], add_generation_prompt: true });
      } catch (e) {
        throw new EvalError(`${configFile}: chat_template failed for a prompt (${(e as Error).message})`, {
          file: configFile,
          key: 'chat_template',
        });
      }
    },
  };
}

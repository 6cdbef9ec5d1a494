// The demo models' character-level tokenizer, written as a Hugging Face tokenizer.json.
//
// A BPE model with an empty merge list splits text into single characters, which is the simplest
// char-level tokenizer both the Rust `tokenizers` library and @huggingface/tokenizers load. No
// pre-tokenizer (spaces are ordinary characters), a Fuse decoder (decode concatenates the tokens;
// with no decoder the JS library joins them with spaces), and a TemplateProcessing post-processor
// that prepends <s> when special tokens are requested, as Llama's tokenizer does.

export const PAD = '<pad>';
export const BOS = '<s>';
export const EOS = '</s>';
export const UNK = '<unk>';
export const SPECIALS = [PAD, BOS, EOS, UNK] as const;
export const PAD_ID = 0;
export const BOS_ID = 1;
export const EOS_ID = 2;
export const UNK_ID = 3;

/** Every character the demo data uses, after the four special tokens. */
export const CHARS = [' ', ...'0123456789', ...'abcdefghijklmnopqrstuvwxyz', '+', '-', '=', ':', ',', '.'];
export const VOCAB: string[] = [...SPECIALS, ...CHARS];

/** A character-level vocabulary: the four specials, then one token per character (code point). */
export class CharVocab {
  readonly vocab: string[];
  private readonly id: Map<string, number>;
  constructor(chars: readonly string[]) {
    this.vocab = [...SPECIALS, ...chars];
    this.id = new Map(this.vocab.map((t, i) => [t, i]));
    if (this.id.size !== this.vocab.length) throw new Error('CharVocab: duplicate characters');
  }
  /** What the HF tokenizer produces for text without specials (checked against it in demo-train). */
  encode(text: string): number[] {
    return [...text].map((ch) => this.id.get(ch) ?? UNK_ID);
  }
  decode(ids: readonly number[]): string {
    return ids.map((i) => this.vocab[i] ?? UNK).join('');
  }
}

/** The first demo family's vocabulary (public/demo). */
export const DEMO_VOCAB = new CharVocab(CHARS);

export function encodeChars(text: string): number[] {
  return DEMO_VOCAB.encode(text);
}

export function decodeIds(ids: readonly number[]): string {
  return DEMO_VOCAB.decode(ids);
}

export function tokenizerJson(vocab: readonly string[] = VOCAB): object {
  const added = SPECIALS.map((content, id) => ({
    id,
    content,
    single_word: false,
    lstrip: false,
    rstrip: false,
    normalized: false,
    special: true,
  }));
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: added,
    normalizer: null,
    pre_tokenizer: null,
    post_processor: {
      type: 'TemplateProcessing',
      single: [{ SpecialToken: { id: BOS, type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }],
      pair: [
        { SpecialToken: { id: BOS, type_id: 0 } },
        { Sequence: { id: 'A', type_id: 0 } },
        { SpecialToken: { id: BOS, type_id: 1 } },
        { Sequence: { id: 'B', type_id: 1 } },
      ],
      special_tokens: { [BOS]: { id: BOS, ids: [BOS_ID], tokens: [BOS] } },
    },
    decoder: { type: 'Fuse' },
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: UNK,
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: false,
      byte_fallback: false,
      ignore_merges: false,
      vocab: Object.fromEntries(vocab.map((t, i) => [t, i])),
      merges: [],
    },
  };
}

export function tokenizerConfigJson(maxLength: number): object {
  return {
    add_bos_token: true,
    add_eos_token: false,
    bos_token: BOS,
    eos_token: EOS,
    pad_token: PAD,
    unk_token: UNK,
    // false: the JS library would otherwise rewrite " ." to "." and break the round trip.
    clean_up_tokenization_spaces: false,
    model_max_length: maxLength,
    tokenizer_class: 'PreTrainedTokenizerFast',
  };
}

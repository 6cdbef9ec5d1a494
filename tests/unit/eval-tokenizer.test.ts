import { describe, expect, it } from 'vitest';
import { loadTokenizer } from '../../src/eval/tokenizer.ts';
import { encodePrompt } from '../../src/eval/encode.ts';
import { StudioError } from '../../src/errors.ts';
import { BASE_CONFIG, CHARS, charTokenizerJson, charVocabSize } from './eval-helpers.ts';

const V = charVocabSize();

function load(over: { json?: object; config?: object | null; vocabSize?: number; eosTokenId?: number | number[] } = {}) {
  return loadTokenizer({
    tokenizerJson: JSON.stringify(over.json ?? charTokenizerJson()),
    tokenizerConfig: over.config === null ? undefined : JSON.stringify(over.config ?? BASE_CONFIG),
    file: 'demo/tokenizer.json',
    vocabSize: over.vocabSize ?? V,
    eosTokenId: over.eosTokenId,
  });
}

function thrown(f: () => unknown): StudioError {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(StudioError);
    expect((e as StudioError).code).toBe('eval');
    return e as StudioError;
  }
  throw new Error('expected an error');
}

const idOf = (ch: string) => 3 + CHARS.indexOf(ch);

describe('character-level tokenizer through @huggingface/tokenizers', () => {
  it('encodes one id per character and prepends <s> only with special tokens', () => {
    const tok = load();
    const text = '12+3=15. a b ?';
    const plain = [...text].map(idOf);
    expect(tok.encode(text, { addSpecialTokens: false })).toEqual(plain);
    expect(tok.encode(text, { addSpecialTokens: true })).toEqual([1, ...plain]);
  });

  it('decodes by concatenation: no spaces inserted, none removed before punctuation', () => {
    const tok = load();
    for (const text of ['abc', 'a b ?', ' x , y . ', '7 + 8 = 15\nok']) {
      const ids = tok.encode(text, { addSpecialTokens: true });
      expect(tok.decode(ids, { skipSpecialTokens: true })).toBe(text);
      expect(tok.decode(ids, { skipSpecialTokens: false })).toBe(`<s>${text}`);
    }
  });

  it("cleans up spaces before punctuation only when tokenizer_config asks for it", () => {
    const text = 'a , b .';
    const ids = (t: ReturnType<typeof load>) => t.encode(text, { addSpecialTokens: false });
    const silent = load({ config: { eos_token: '</s>' } });
    expect(silent.decode(ids(silent), { skipSpecialTokens: true })).toBe(text);
    const cleaning = load({ config: { eos_token: '</s>', clean_up_tokenization_spaces: true } });
    expect(cleaning.decode(ids(cleaning), { skipSpecialTokens: true })).toBe('a, b.');
  });

  it('skips special tokens only when asked, and ignores ids that have no token', () => {
    const tok = load();
    const ids = [1, idOf('a'), 2, idOf('b'), V + 5];
    expect(tok.decode(ids, { skipSpecialTokens: true })).toBe('ab');
    expect(tok.decode(ids, { skipSpecialTokens: false })).toBe('<s>a</s>b');
    expect(tok.decode([], { skipSpecialTokens: true })).toBe('');
  });

  it('reads special-token ids from tokenizer_config and adds config.json eos ids', () => {
    const tok = load({ eosTokenId: [2, 0] });
    expect(tok.bosId).toBe(1);
    expect(tok.padId).toBe(0);
    expect(tok.eosIds).toEqual([2, 0]);
    expect(tok.chatTemplate).toBeUndefined();
    expect(tok.applyChatTemplate('2+2=')).toBe('2+2=');
  });

  it('accepts special tokens written as {"content": ...}', () => {
    const tok = load({ config: { eos_token: { content: '</s>', __type: 'AddedToken' } } });
    expect(tok.eosIds).toEqual([2]);
  });

  it('uses config.json eos_token_id when there is no tokenizer_config', () => {
    expect(load({ config: null, eosTokenId: 2 }).eosIds).toEqual([2]);
  });
});

describe('tokenizer errors', () => {
  it('names the file when tokenizer.json is not JSON', () => {
    const e = thrown(() => loadTokenizer({ tokenizerJson: '{"model": ', file: 'm/tokenizer.json', vocabSize: V }));
    expect(e.message).toMatch(/^m\/tokenizer\.json: not valid JSON/);
  });

  it('names tokenizer_config.json when it is not JSON', () => {
    const e = thrown(() =>
      loadTokenizer({ tokenizerJson: JSON.stringify(charTokenizerJson()), tokenizerConfig: '[1,', file: 'm/tokenizer.json', vocabSize: V }),
    );
    expect(e.message).toMatch(/^m\/tokenizer_config\.json: not valid JSON/);
  });

  it('rejects a tokenizer whose ids reach vocab_size', () => {
    const e = thrown(() => load({ vocabSize: V - 2 }));
    expect(e.message).toContain(`demo/tokenizer.json: token id ${V - 1} ≥ vocab_size ${V - 2} in demo/config.json`);
    expect(e.message).toContain(JSON.stringify(CHARS[CHARS.length - 1]));
    // A larger embedding (padded rows) is fine.
    expect(() => load({ vocabSize: V + 64 })).not.toThrow();
  });

  it('requires an end-of-sequence token', () => {
    const e = thrown(() => load({ config: { bos_token: '<s>' } }));
    expect(e.message).toContain('demo/tokenizer_config.json: no eos_token');
    expect(e.message).toContain('demo/config.json');
  });

  it('rejects an eos_token that is not in the vocabulary, and an eos_token_id beyond vocab_size', () => {
    expect(thrown(() => load({ config: { eos_token: '<|end|>' } })).message).toContain('eos_token "<|end|>" is not a token of demo/tokenizer.json');
    expect(thrown(() => load({ eosTokenId: V })).message).toContain(`demo/config.json: eos_token_id ${V} is not a token id below vocab_size ${V}`);
  });

  it('reports a tokenizer.json that is not a tokenizer', () => {
    expect(thrown(() => load({ json: { version: '1.0' } })).message).toContain('no "model" object');
    const bad = { ...charTokenizerJson(), decoder: { type: 'Nope' } };
    expect(thrown(() => load({ json: bad })).message).toMatch(/^demo\/tokenizer\.json: .*Nope/);
  });
});

describe('chat templates', () => {
  const template =
    "{{ bos_token }}{% for m in messages %}{% if m.role != 'user' %}{{ raise_exception('only user turns') }}{% endif %}" +
    'q: {{ m.content }}\n{% endfor %}{% if add_generation_prompt %}a:{% endif %}';

  it('renders one user turn with the generation prompt and bos/eos variables', () => {
    const tok = load({ config: { ...BASE_CONFIG, chat_template: template + '{{ eos_token|length }}' } });
    expect(tok.applyChatTemplate('2+2=?')).toBe('<s>q: 2+2=?\na:4');
  });

  it('encodes a templated prompt without doubling BOS', () => {
    const tok = load({ config: { ...BASE_CONFIG, chat_template: template } });
    const p = encodePrompt(tok, 'hi', true);
    expect(p.text).toBe('<s>q: hi\na:');
    // The template printed <s>; the post-processor must not add another.
    expect(p.ids).toEqual([1, ...[...'q: hi\na:'].map(idOf)]);
    expect(encodePrompt(tok, 'hi', false).text).toBe('hi');
  });

  it('picks the "default" template from a list of named templates', () => {
    const tok = load({ config: { ...BASE_CONFIG, chat_template: [{ name: 'tool_use', template: 'T' }, { name: 'default', template: 'D:{{ messages[0].content }}' }] } });
    expect(tok.applyChatTemplate('x')).toBe('D:x');
  });

  it('reports a template that does not parse, and one that raises, naming tokenizer_config.json', () => {
    expect(thrown(() => load({ config: { ...BASE_CONFIG, chat_template: '{% if %}' } })).message).toMatch(
      /^demo\/tokenizer_config\.json: chat_template does not parse/,
    );
    const tok = load({ config: { ...BASE_CONFIG, chat_template: "{{ raise_exception('no prompts today') }}" } });
    expect(thrown(() => tok.applyChatTemplate('x')).message).toMatch(/^demo\/tokenizer_config\.json: chat_template failed.*no prompts today/);
  });
});

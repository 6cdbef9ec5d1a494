// The merged vocabulary (recipe/vocab.ts) against expectations derived by hand from mergekit's
// tokenizer/build.py (build_union_tokenizer, add_tokens) and tokenizer/embed.py
// (assign_embedding_sources, PermutedEmbeddings), and the output tokenizer files (formats/tokenizer.ts).
import { describe, expect, test } from 'vitest';
import { Tokenizer } from '@huggingface/tokenizers';
import { buildVocab, embedGathers, tokenFill, vocabReport, type VocabModel } from '../../src/recipe/vocab';
import { parseTokenizerJson, stripTokenizer, tokenizerConfigText, tokenizerJsonText } from '../../src/formats/tokenizer';
import { CHAT_TEMPLATES, resolveChatTemplate, checkChatTemplate } from '../../src/recipe/chat-templates';
import { ModelError, RecipeError } from '../../src/errors';
import type { Recipe } from '../../src/recipe/types';

const SPECIALS = ['<unk>', '<s>', '</s>'];
const special = (content: string, id: number) => ({ id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true });

/** A WordLevel tokenizer.json: `tokens` in id order (specials first), `added` specials after them. */
function tok(tokens: string[], added: string[] = [], type = 'WordLevel'): string {
  const all = [...tokens, ...added];
  const vocab = Object.fromEntries(tokens.map((t, i) => [t, i]));
  const model =
    type === 'Unigram'
      ? { type, unk_id: 0, vocab: tokens.map((t) => [t, -1]) }
      : type === 'BPE'
        ? { type, vocab, merges: [] as string[], unk_token: '<unk>' }
        : { type, vocab, unk_token: '<unk>' };
  return JSON.stringify({
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: [...SPECIALS.map((c, i) => special(c, i)), ...added.map((c) => special(c, all.indexOf(c)))],
    normalizer: null,
    pre_tokenizer: { type: 'Whitespace' },
    post_processor: null,
    decoder: null,
    model,
  });
}

const model = (ref: string, json: string | undefined, vocabSize?: number): [string, VocabModel] => [
  ref,
  { ref, tokenizer: json === undefined ? undefined : parseTokenizerJson(json, `${ref}/tokenizer.json`), vocabSize },
];

// base: 6 tokens; chat: base + two added chat tokens; other: a different order, two extra regular
// tokens, and an added token beyond its vocab_size (no embedding row: ignored).
const B = tok([...SPECIALS, 'a', 'b', 'c']);
const C = tok([...SPECIALS, 'a', 'b', 'c'], ['<|im_start|>', '<|im_end|>']);
const D = tok([...SPECIALS, 'c', 'a', 'd', 'b', 'e'], ['<tool>']);
const models = new Map([model('B', B, 6), model('C', C, 8), model('D', D, 8)]);
const refs = ['B', 'C', 'D'];
const ties = (extra: Partial<Recipe>): Recipe => ({ merge_method: 'ties', base_model: 'B', models: [{ model: 'C' }, { model: 'D' }], ...extra });

describe('output vocabulary', () => {
  test('union: base, then other models’ regular tokens as added tokens, then their added tokens (ids ≥ vocab_size skipped)', () => {
    const v = buildVocab(ties({ tokenizer_source: 'union' }), models, refs, 'B')!;
    expect(v.tokens).toEqual(['<unk>', '<s>', '</s>', 'a', 'b', 'c', 'd', 'e', '<|im_start|>', '<|im_end|>']);
    expect(v.rows).toBe(10);
    expect(v.sourceModel).toBe('B');
    // d, e: regular tokens of D → non-special added tokens (add_tokens("d")); chat tokens keep their flags
    expect(v.added.map((a) => [a.id, a.content, a.special, a.normalized])).toEqual([
      [0, '<unk>', true, false],
      [1, '<s>', true, false],
      [2, '</s>', true, false],
      [6, 'd', false, true],
      [7, 'e', false, true],
      [8, '<|im_start|>', true, false],
      [9, '<|im_end|>', true, false],
    ]);
    expect([...v.perms.get('B')!]).toEqual([0, 1, 2, 3, 4, 5, -1, -1, -1, -1]);
    expect([...v.perms.get('C')!]).toEqual([0, 1, 2, 3, 4, 5, -1, -1, 6, 7]);
    expect([...v.perms.get('D')!]).toEqual([0, 1, 2, 4, 6, 3, 5, 7, -1, -1]);
  });

  test('base and <model> sources; tokens: keys added last (an existing special becomes a plain added token); pad_to_multiple_of', () => {
    const b = buildVocab(ties({ tokenizer_source: 'base' }), models, refs, 'B')!;
    expect(b.tokens).toEqual(['<unk>', '<s>', '</s>', 'a', 'b', 'c']);
    expect([...b.perms.get('D')!]).toEqual([0, 1, 2, 4, 6, 3]);
    const c = buildVocab(ties({ tokenizer_source: 'C' }), models, refs, 'B')!;
    expect(c.tokens.slice(6)).toEqual(['<|im_start|>', '<|im_end|>']);
    expect(c.sourceModel).toBe('C');
    const t = buildVocab(
      ties({ tokenizer: { source: 'base', pad_to_multiple_of: 4, tokens: { '<new>': { source: { kind: 'zero' } }, '<s>': { source: 'C', force: true }, a: {} } } }),
      models,
      refs,
      'B',
    )!;
    expect(t.tokens).toEqual(['<unk>', '<s>', '</s>', 'a', 'b', 'c', '<new>']);
    expect(t.rows).toBe(8);
    const flags = Object.fromEntries(t.added.map((a) => [a.content, [a.id, a.special]]));
    expect(flags).toEqual({ '<unk>': [0, true], '<s>': [1, false], '</s>': [2, true], a: [3, false], '<new>': [6, false] });
  });

  test('the base is stripped of ids ≥ its vocab_size (BPE only, as mergekit)', () => {
    const big = tok([...SPECIALS, 'a', 'b', 'c'], ['<x>'], 'BPE');
    const p = parseTokenizerJson(big, 'X/tokenizer.json');
    const s = stripTokenizer(p, 6);
    expect([...s.vocab.keys()]).toEqual([...SPECIALS, 'a', 'b', 'c']);
    expect(s.added.map((a) => a.content)).toEqual(SPECIALS);
    const uni = parseTokenizerJson(tok([...SPECIALS, 'a'], [], 'Unigram'), 'U/tokenizer.json');
    expect(() => stripTokenizer(uni, 3)).toThrow(/U\/tokenizer\.json has 1 token\(s\) with ids at or above config\.json's vocab_size 3 .*Unigram/);
  });
});

describe('rows: permutation and fills (PermutedEmbeddings)', () => {
  test('a token one model has comes from it; the base’s row when the base has it; mean when several others do; zero when none', () => {
    const E = tok([...SPECIALS, 'a', 'b', 'c'], ['<|im_start|>', '<|im_end|>']);
    const ms = new Map([...models, model('E', E, 8)]);
    const r: Recipe = { merge_method: 'ties', base_model: 'B', models: [{ model: 'C' }, { model: 'D' }, { model: 'E' }], tokenizer: { source: 'union', tokens: { '<z>': {} } } };
    const v = buildVocab(r, ms, ['B', 'C', 'D', 'E'], 'B')!;
    const id = (t: string) => v.vocab.get(t)!;
    const all = ['B', 'C', 'D', 'E'];
    expect(tokenFill(v, all, 'B', id('d'))).toEqual({ kind: 'row', model: 'D', row: 5, why: 'only-model' });
    expect(tokenFill(v, all, 'B', id('<|im_start|>'))).toEqual({ kind: 'mean', models: ['C', 'E'] });
    expect(tokenFill(v, all, 'B', id('a'))).toEqual({ kind: 'row', model: 'B', row: 3, why: 'base' });
    expect(tokenFill(v, all, 'B', id('<z>'))).toEqual({ kind: 'zero', why: 'no-model' });
    // inputs in entry order B, C, D, E; each lacking row points at a fill shared by the inputs
    const g = embedGathers(v, 'model.embed_tokens.weight', all, [6, 8, 8, 8], 'B');
    const size = v.tokens.length;
    expect(g[0]!.map.length).toBe(size);
    const fillOf = (i: number, t: string) => {
      const m = g[i]!.map[id(t)];
      return m >= 0 ? { own: m } : g[i]!.fills[-m - 1];
    };
    expect(fillOf(0, 'a')).toEqual({ own: 3 });
    expect(fillOf(0, 'd')).toEqual({ kind: 'row', input: 2, row: 5 });
    expect(fillOf(0, '<|im_end|>')).toEqual({ kind: 'mean', rows: [{ input: 1, row: 7 }, { input: 3, row: 7 }] });
    expect(fillOf(2, '<|im_start|>')).toEqual({ kind: 'mean', rows: [{ input: 1, row: 6 }, { input: 3, row: 6 }] });
    expect(fillOf(1, 'e')).toEqual({ kind: 'row', input: 2, row: 7 });
    expect(fillOf(3, '<z>')).toEqual({ kind: 'zero' });
    expect(fillOf(2, 'b')).toEqual({ own: 6 });
  });

  test('tokens: rules, force, padding, and inputs that need no gather', () => {
    const r = ties({
      tokenizer: {
        source: 'base',
        pad_to_multiple_of: 4,
        tokens: { a: { source: 'D', force: true }, '<new>': { source: { kind: 'model_token', model: 'C', token: '<|im_start|>' } }, b: { source: { kind: 'zero' } } },
      },
    });
    const v = buildVocab(r, models, refs, 'B')!;
    const g = embedGathers(v, 'lm_head.weight', ['B', 'C', 'D'], [6, 8, 8], 'B');
    const id = (t: string) => v.vocab.get(t)!;
    for (const i of [0, 1, 2]) {
      const m = g[i]!.map;
      // forced: every model gets D's row of "a" (D's own included)
      expect(g[i]!.fills[-m[id('a')] - 1]).toEqual({ kind: 'row', input: 2, row: 4 });
      expect(g[i]!.fills[-m[id('<new>')] - 1]).toEqual({ kind: 'row', input: 1, row: 6 });
      // not forced: present rows stay
      expect(m[id('b')]).toBe([4, 4, 6][i]);
      // padding rows: the input's own mean
      expect(g[i]!.fills[-m[7] - 1]).toEqual({ kind: 'pad-mean', size: 7 });
    }
    // base source, no rules: B and C hold the vocabulary in order (a prefix read), D needs a gather
    const v2 = buildVocab(ties({ tokenizer_source: 'base' }), models, refs, 'B')!;
    const g2 = embedGathers(v2, 'model.embed_tokens.weight', ['B', 'C', 'D'], [6, 8, 8], 'B');
    expect(g2[0]).toBeUndefined();
    expect(g2[1]).toBeUndefined();
    expect([...g2[2]!.map]).toEqual([0, 1, 2, 4, 6, 3]);
  });

  test('the studio report: what each model lacks and what fills it', () => {
    const v = buildVocab(ties({ tokenizer_source: 'union' }), models, refs, 'B')!;
    const rep = vocabReport(v, ['B', 'C', 'D'], 'B', 3);
    expect(rep.size).toBe(10);
    expect(rep.addedTokens).toBe(4);
    const b = rep.models.find((m) => m.model === 'B')!;
    expect(b.missing).toBe(4);
    expect(b.examples.map((e) => e.token)).toEqual(['d', 'e', '<|im_start|>']);
    expect(b.fills).toEqual({ "D's row (the only model with it)": 2, "C's row (the only model with it)": 2 });
    expect(rep.models.find((m) => m.model === 'C')!.missing).toBe(2);
    expect(rep.models.find((m) => m.model === 'D')!.missing).toBe(2);
  });
});

describe('bad input: named before any tensor is read', () => {
  test('tokenizers of different model types', () => {
    const U = tok([...SPECIALS, 'a', 'b', 'c'], [], 'Unigram');
    const ms = new Map([model('B', B, 6), model('U', U, 6)]);
    const e = (() => {
      try {
        buildVocab({ merge_method: 'linear', base_model: 'B', models: [{ model: 'U' }], tokenizer_source: 'union' }, ms, ['B', 'U'], 'B');
      } catch (x) {
        return x as ModelError;
      }
    })();
    expect(e).toBeInstanceOf(ModelError);
    expect(e!.message).toMatch(/U\/tokenizer\.json is a Unigram tokenizer but B\/tokenizer\.json is WordLevel/);
  });

  test('tokens: rules naming a missing model or token; a model with only tokenizer.model', () => {
    const bad = (tokens: Recipe['tokenizer']) => () => buildVocab(ties({ tokenizer: tokens }), models, refs, 'B');
    expect(bad({ tokens: { x: { source: 'Q' } } })).toThrow(RecipeError);
    expect(bad({ tokens: { x: { source: 'Q' } } })).toThrow(/names model Q, which is not part of the merge/);
    expect(bad({ tokens: { x: { source: { kind: 'model_token', model: 'C', token: 'zzz' } } } })).toThrow(/token "zzz" is not in C\/tokenizer\.json/);
    expect(bad({ tokens: { x: { source: 'D' } } })).toThrow(/model D has no token "x" \(D\/tokenizer\.json\)/);
    const ms = new Map([model('B', B, 6), ['S', { ref: 'S', otherTokenizerFiles: ['tokenizer.model'], vocabSize: 6 }] as [string, VocabModel]]);
    expect(() => buildVocab({ merge_method: 'linear', base_model: 'B', models: [{ model: 'S' }], tokenizer_source: 'union' }, ms, ['B', 'S'], 'B')).toThrow(
      /model S has no tokenizer\.json \(it has tokenizer\.model/,
    );
  });
});

describe('output tokenizer files', () => {
  test('tokenizer.json + tokenizer_config.json load in @huggingface/tokenizers and round-trip text with added tokens', () => {
    const v = buildVocab(ties({ tokenizer_source: 'union' }), models, refs, 'B')!;
    const json = JSON.parse(tokenizerJsonText(v.template, v.added));
    const cfg = JSON.parse(tokenizerConfigText({ bos_token: '<s>', eos_token: '</s>', chat_template: 'old' }, v.added, CHAT_TEMPLATES.chatml));
    expect(Object.keys(cfg.added_tokens_decoder)).toEqual(['0', '1', '2', '6', '7', '8', '9']);
    expect(cfg.added_tokens_decoder['8']).toEqual({ content: '<|im_start|>', lstrip: false, normalized: false, rstrip: false, single_word: false, special: true });
    expect(cfg.chat_template).toBe(CHAT_TEMPLATES.chatml);
    const t = new Tokenizer(json, cfg);
    const ids = t.encode('a d <|im_start|> e b<|im_end|>', { add_special_tokens: false }).ids;
    expect(ids).toEqual([3, 6, 8, 7, 4, 9]);
    expect(t.decode(ids, { skip_special_tokens: false })).toBe('a d <|im_start|> e b <|im_end|>');
    expect(t.get_vocab(true).size).toBe(v.tokens.length);
  });

  test('a stripped BPE base: ids ≥ vocab_size leave the vocabulary and the added tokens, merges using them go; the file still loads', () => {
    const json = JSON.stringify({
      added_tokens: [special('<unk>', 0), special('<pad>', 6)],
      pre_tokenizer: { type: 'Whitespace' },
      model: { type: 'BPE', vocab: { '<unk>': 0, a: 1, b: 2, c: 3, ab: 4, abc: 5 }, merges: ['a b', 'ab c', 'abc a'], unk_token: '<unk>' },
    });
    const ms = new Map([model('X', json, 5), model('Y', json, 7)]);
    const v = buildVocab({ merge_method: 'linear', base_model: 'X', models: [{ model: 'Y' }], tokenizer_source: 'union' }, ms, ['X', 'Y'], 'X')!;
    // X drops abc (5) and <pad> (6), and the merge "abc a" that uses abc (mergekit checks a merge's
    // parts only: "ab c" stays); Y (vocab_size 7) brings them back as added tokens
    expect(v.tokens).toEqual(['<unk>', 'a', 'b', 'c', 'ab', 'abc', '<pad>']);
    expect(v.template.json.model).toMatchObject({ merges: ['a b', 'ab c'] });
    expect([...v.perms.get('X')!]).toEqual([0, 1, 2, 3, 4, -1, -1]);
    expect([...v.perms.get('Y')!]).toEqual([0, 1, 2, 3, 4, 5, 6]);
    const t = new Tokenizer(JSON.parse(tokenizerJsonText(v.template, v.added)), JSON.parse(tokenizerConfigText({}, v.added)));
    expect(t.encode('abc ab', { add_special_tokens: false }).ids).toEqual([5, 4]);
  });

  test('chat_template: auto picks the most common, names resolve, junk is refused', () => {
    expect(resolveChatTemplate('auto', ['{{x}} one ', undefined, '{{y}}', '{{x}} one'])).toBe('{{x}} one');
    expect(resolveChatTemplate('auto', [undefined])).toBeUndefined();
    expect(resolveChatTemplate('llama3', [])).toBe(CHAT_TEMPLATES.llama3);
    expect(() => checkChatTemplate('vicuna')).toThrow(/chat_template "vicuna" is neither "auto", a bundled template/);
    expect(() => checkChatTemplate('toString')).toThrow(RecipeError);
  });
});


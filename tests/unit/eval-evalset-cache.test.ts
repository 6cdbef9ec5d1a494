// Eval sets are parsed and checked once per run, not once per candidate: the cache behind
// EvalService.prepareSets, driven the way an evolution run drives it (preflight, then every
// candidate's evaluation), with a counting parser and a counting tokenizer.
import { describe, expect, test, vi } from 'vitest';
import { EvalSetCache, checkEvalSet, type EvalSetInput, type PrepareSetOptions } from '../../src/eval/evalset-cache.ts';
import { parseEvalSet, sampleItems, type EvalSet } from '../../src/eval/evalset.ts';
import { scoreSets } from '../../src/eval/score.ts';
import { checkTokenization, unscorableError } from '../../src/eval/tokenization-check.ts';
import { loadTokenizer, type EvalTokenizer } from '../../src/eval/tokenizer.ts';
import { EvalError } from '../../src/errors.ts';
import { BASE_CONFIG, RuleModel, charTokenizerJson, charVocabSize } from './eval-helpers.ts';

const V = charVocabSize({ unk: true });
const tokenizer = (): EvalTokenizer =>
  loadTokenizer({ tokenizerJson: JSON.stringify(charTokenizerJson({ unk: true })), tokenizerConfig: JSON.stringify(BASE_CONFIG), file: 'tok/tokenizer.json', vocabSize: V });

/** The tokenizer with its encode() calls counted (the tokenization check encodes every item). */
function counted(tok: EvalTokenizer): { tok: EvalTokenizer; encodes: () => number } {
  let n = 0;
  const t = Object.create(tok) as EvalTokenizer;
  t.encode = (text, o) => {
    n++;
    return tok.encode(text, o);
  };
  return { tok: t, encodes: () => n };
}

const jsonl = (rows: object[]) => rows.map((r) => JSON.stringify(r)).join('\n');
const search: EvalSetInput[] = [
  { name: 'add.search.jsonl', text: jsonl(Array.from({ length: 12 }, (_, i) => ({ prompt: `${i}+1=`, answer: String(i + 1) }))) },
  { name: 'rev.search.jsonl', text: jsonl(['ab', 'cd', 'efg', 'hi', 'jk'].map((w) => ({ prompt: `${w}:`, answer: [...w].reverse().join('') }))) },
];
const heldout: EvalSetInput[] = [{ name: 'add.heldout.jsonl', text: jsonl([{ prompt: '20+1=', answer: '21' }, { prompt: '30+1=', answer: '31' }]) }];
const runOptions: PrepareSetOptions = { limit: 4, seed: 7, mode: 'teacher-forced' };

/** What EvalService.prepareSets did for every call before the cache: parse, check, subset. */
function uncached(input: EvalSetInput, tok: EvalTokenizer, o: PrepareSetOptions): EvalSet {
  const set = parseEvalSet(input.name, input.text);
  const err = unscorableError(checkTokenization(tok, set), tok.file);
  if (err) throw err;
  if (o.mode === 'teacher-forced' && set.kind === 'exact') {
    const bad = set.items.find((it) => it.extract && it.extract !== 'exact');
    if (bad) throw new EvalError(`${input.name}, line ${bad.line}: teacher-forced scoring needs exact answers`);
  }
  return o.limit !== undefined ? sampleItems(set, o.limit, o.seed ?? 0) : set;
}

describe('eval sets parsed and checked once', () => {
  test('a run: the preflight parses and checks each set once; its candidates reuse them, with the same scores', async () => {
    const parse = vi.fn(parseEvalSet);
    const cache = new EvalSetCache({ parse });
    const { tok, encodes } = counted(tokenizer());
    // Preflight (EvolveService): every set, search and held-out.
    const pre = [...search, ...heldout].map((s) => cache.prepare(s, tok, runOptions));
    expect(parse).toHaveBeenCalledTimes(3);
    const checkEncodes = encodes();
    expect(checkEncodes).toBeGreaterThan(0);
    // 20 candidates on the search split, 5 held-out evaluations (EvalService.evaluate → prepareSets).
    const model = new RuleModel(V, [], 2);
    const scores = [];
    for (let k = 0; k < 20; k++) {
      const sets = search.map((s) => cache.prepare(s, tok, runOptions));
      expect(sets).toEqual(pre.slice(0, 2));
      if (k % 4 === 0) cache.prepare(heldout[0], tok, runOptions);
      if (k < 2) scores.push(await scoreSets(model, tok, sets, { mode: 'teacher-forced' }));
    }
    expect(parse).toHaveBeenCalledTimes(3);
    expect(parse.mock.calls.map((c) => c[0])).toEqual(['add.search.jsonl', 'rev.search.jsonl', 'add.heldout.jsonl']);
    // No candidate re-ran the tokenization check (only scoring encoded, for the two scored ones).
    const fresh = counted(tokenizer());
    await scoreSets(model, fresh.tok, pre.slice(0, 2), { mode: 'teacher-forced' });
    expect(encodes() - checkEncodes).toBe(2 * fresh.encodes());

    // Results unchanged: the same subsets and the same scores as parsing and checking every time.
    const old = search.map((s) => uncached(s, tokenizer(), runOptions));
    expect(pre.slice(0, 2)).toEqual(old);
    expect(old[0].items.map((it) => it.line)).toHaveLength(4);
    expect(scores[1]).toEqual(await scoreSets(model, tokenizer(), old, { mode: 'teacher-forced' }));
  });

  test('keys are the content: an edited text, another tokenizer, other options', () => {
    const parse = vi.fn(parseEvalSet);
    const cache = new EvalSetCache({ parse });
    const a = counted(tokenizer());
    const b = counted(tokenizer());
    cache.prepare(search[0], a.tok, runOptions);
    // Another tokenizer or other options: checked again (a new subset), never parsed again.
    const bSet = cache.prepare(search[0], b.tok, runOptions);
    expect(b.encodes()).toBeGreaterThan(0);
    const all = cache.prepare(search[0], a.tok, { mode: 'generate' });
    expect(all.items).toHaveLength(12);
    expect(bSet.items).toHaveLength(4);
    expect(parse).toHaveBeenCalledTimes(1);
    // The same name with edited text is another set; so is the same text under another name (messages name the file).
    const edited = { name: search[0].name, text: search[0].text + '\n{"prompt":"9+9=","answer":"18"}' };
    expect(cache.prepare(edited, a.tok, {}).items).toHaveLength(13);
    expect(cache.parse({ name: 'copy.jsonl', text: search[0].text }).name).toBe('copy.jsonl');
    expect(parse).toHaveBeenCalledTimes(3);
    expect(cache.size).toBe(3);
  });

  test('errors are not cached: a bad set fails the same way every time', () => {
    const parse = vi.fn(parseEvalSet);
    const cache = new EvalSetCache({ parse });
    const tok = tokenizer();
    const broken = { name: 'x.jsonl', text: '{"prompt":"a","answer":"b"}\n{"prompt":' };
    for (let i = 0; i < 2; i++) expect(() => cache.prepare(broken, tok, runOptions)).toThrow(/x\.jsonl, line 2/);
    expect(parse).toHaveBeenCalledTimes(2);
    const regex = { name: 'r.jsonl', text: jsonl([{ prompt: 'q', answer: '1', extract: 'last_number' }]) };
    for (let i = 0; i < 2; i++) expect(() => cache.prepare(regex, tok, runOptions)).toThrow(/r\.jsonl, line 1: teacher-forced scoring needs exact answers/);
    expect(cache.prepare(regex, tok, { mode: 'generate' }).items).toHaveLength(1);
    expect(parse).toHaveBeenCalledTimes(3); // r.jsonl parsed once; only its check failed
    const unscorable = { name: 'u.jsonl', text: jsonl([{ prompt: 'q', answer: 'A' }]) };
    expect(() => checkEvalSet(parseEvalSet(unscorable.name, unscorable.text), tok)).toThrow(/no answer survives tok\/tokenizer\.json/);
    expect(() => cache.prepare(unscorable, tok)).toThrow(/no answer survives/);
  });

  test('bounded: the least recently used sets go first (by count and by characters)', () => {
    const parse = vi.fn(parseEvalSet);
    const cache = new EvalSetCache({ parse, maxSets: 2 });
    const [s0, s1] = search;
    const [h0] = heldout;
    cache.parse(s0);
    cache.parse(s1);
    cache.parse(s0); // s0 is now the most recent
    cache.parse(h0); // drops s1
    expect(cache.size).toBe(2);
    cache.parse(s0);
    expect(parse).toHaveBeenCalledTimes(3);
    cache.parse(s1);
    expect(parse).toHaveBeenCalledTimes(4);

    const small = new EvalSetCache({ parse, maxChars: s0.text.length + 10 });
    small.parse(s0);
    small.parse(h0); // over the budget together: s0 goes
    expect(small.size).toBe(1);
    const big = { name: 'big.jsonl', text: s0.text + '\n' + s0.text };
    small.parse(big); // bigger than the budget alone: kept (the newest always is), h0 goes
    expect(small.size).toBe(1);
    parse.mockClear();
    small.parse(big);
    expect(parse).not.toHaveBeenCalled();
  });
});

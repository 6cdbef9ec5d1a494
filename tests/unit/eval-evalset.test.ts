import { describe, expect, it } from 'vitest';
import { answerMatches, extractAnswer, lastNumber, parseEvalSet, sampleItems } from '../../src/eval/evalset.ts';
import type { EvalSet } from '../../src/eval/evalset.ts';
import { StudioError } from '../../src/errors.ts';

const jsonl = (...rows: unknown[]) => rows.map((r) => (typeof r === 'string' ? r : JSON.stringify(r))).join('\n');

function parseError(text: string, name = 'add.jsonl'): StudioError {
  try {
    parseEvalSet(name, text);
  } catch (e) {
    expect(e).toBeInstanceOf(StudioError);
    expect((e as StudioError).code).toBe('eval');
    return e as StudioError;
  }
  throw new Error('expected a parse error');
}

describe('parseEvalSet', () => {
  it('reads exact-match items, skipping blank lines but counting them in line numbers', () => {
    const set = parseEvalSet(
      'add.jsonl',
      '\uFEFF' + jsonl({ prompt: '1+1=', answer: '2' }, '', '   ', { prompt: 'x', answer: 42, extract: 'last_number', id: 7 }) + '\r\n',
    );
    expect(set.kind).toBe('exact');
    expect(set.items).toEqual([
      { index: 0, line: 1, prompt: '1+1=', answer: '2', extract: 'exact' },
      { index: 1, line: 4, prompt: 'x', answer: '42', extract: 'last_number' },
    ]);
  });

  it('reads regex extraction with and without a group', () => {
    const set = parseEvalSet('r.jsonl', jsonl({ prompt: 'p', answer: 'a', extract: { regex: 'is (\\w+)' } }, { prompt: 'p', answer: 'a', extract: { regex: '(x)(y)', group: 2 } }));
    expect(set.items.map((i) => (i as { extract: unknown }).extract)).toEqual([{ regex: 'is (\\w+)' }, { regex: '(x)(y)', group: 2 }]);
  });

  it('reads multiple-choice and perplexity sets', () => {
    const mc = parseEvalSet('mc.jsonl', jsonl({ prompt: 'q', choices: ['a', 'b'], label: 1 }));
    expect(mc).toEqual({ name: 'mc.jsonl', kind: 'choice', items: [{ index: 0, line: 1, prompt: 'q', choices: ['a', 'b'], label: 1 }] });
    const ppl = parseEvalSet('ppl.jsonl', jsonl({ text: 'hello' }, { text: 'world', source: 'x' }));
    expect(ppl.kind).toBe('perplexity');
    expect(ppl.items).toHaveLength(2);
  });

  const cases: [string, string, RegExp][] = [
    ['bad JSON', jsonl({ prompt: 'a', answer: 'b' }, '{"prompt": "a", answer: 1}'), /^add\.jsonl, line 2: not valid JSON/],
    ['not an object', jsonl('[1, 2]'), /^add\.jsonl, line 1: expected a JSON object, found an array/],
    ['unknown kind', jsonl({ prompt: 'a', anwser: 'b' }), /^add\.jsonl, line 1: cannot tell the kind of item.*"prompt", "anwser"/],
    ['both answer and choices', jsonl({ prompt: 'a', answer: 'b', choices: ['x'], label: 0 }), /line 1: has both "answer" and "choices"/],
    ['prompt missing', jsonl({ answer: 'b' }), /line 1: missing "prompt"/],
    ['prompt not a string', jsonl({ prompt: 3, answer: 'b' }), /line 1: "prompt" must be a string, found a number/],
    ['answer of wrong type', jsonl({ prompt: 'a', answer: ['b'] }), /line 1: "answer" must be a string or a number, found an array/],
    ['empty answer', jsonl({ prompt: 'a', answer: '  ' }), /line 1: "answer" is empty/],
    ['unknown extract', jsonl({ prompt: 'a', answer: 'b', extract: 'first_word' }), /line 1: "extract" must be "exact", "last_number" or/],
    ['bad regex', jsonl({ prompt: 'a', answer: 'b', extract: { regex: '(' } }), /line 1: "extract.regex" is not a valid regular expression/],
    ['group beyond the regex', jsonl({ prompt: 'a', answer: 'b', extract: { regex: '(a)', group: 2 } }), /line 1: "extract.group" is 2 but the regex has 1 group$/],
    ['last_number with no number in the answer', jsonl({ prompt: 'a', answer: 'ten', extract: 'last_number' }), /line 1: "extract" is "last_number" but the answer "ten" holds no number/],
    ['one choice', jsonl({ prompt: 'a', choices: ['x'], label: 0 }), /line 1: "choices" needs at least 2 entries, found 1/],
    ['choice not a string', jsonl({ prompt: 'a', choices: ['x', 2], label: 0 }), /line 1: "choices"\[1\] must be a string, found a number/],
    ['label missing', jsonl({ prompt: 'a', choices: ['x', 'y'] }), /line 1: missing "label"/],
    ['label out of range', jsonl({ prompt: 'a', choices: ['x', 'y'], label: 2 }), /line 1: "label" is 2 but there are 2 choices \(0\.\.1\)/],
    ['label not an integer', jsonl({ prompt: 'a', choices: ['x', 'y'], label: 0.5 }), /line 1: "label" must be an integer index, found 0.5/],
    ['empty text', jsonl({ text: '' }), /line 1: "text" is empty/],
    [
      'mixed kinds',
      jsonl({ prompt: 'a', answer: 'b' }, '', { text: 'c' }),
      /^add\.jsonl, line 3: a perplexity item \{text\}, but line 1 made this file an exact-match set/,
    ],
  ];
  for (const [what, text, re] of cases) {
    it(`names the file and line: ${what}`, () => {
      const e = parseError(text);
      expect(e.message).toMatch(re);
      expect(e.details.file).toBe('add.jsonl');
      expect(e.details.line).toBe(Number(/line (\d+)/.exec(e.message)![1]));
    });
  }

  it('rejects an empty file', () => {
    expect(parseError('\n  \n').message).toBe('add.jsonl: no items (the file is empty); expected one JSON object per line');
  });
});

describe('answer extraction', () => {
  it('exact: trims the completion', () => {
    expect(extractAnswer('  42 \n', 'exact')).toBe('42');
    expect(answerMatches('42', ' 42', 'exact')).toBe(true);
    expect(answerMatches('420', '42', 'exact')).toBe(false);
  });

  it('last_number: the last number, compared numerically', () => {
    expect(lastNumber('3 apples and 1,234.50 pears.')).toBe('1234.50');
    expect(extractAnswer('so x = -7, then', 'last_number')).toBe('-7');
    expect(extractAnswer('no digits', 'last_number')).toBeNull();
    expect(answerMatches('1234.50', '1,234.5', 'last_number')).toBe(true);
    expect(answerMatches('12', '$12', 'last_number')).toBe(true);
    expect(answerMatches('12', '13', 'last_number')).toBe(false);
    expect(answerMatches(null, '13', 'last_number')).toBe(false);
  });

  it('regex: the first group by default, the whole match without groups, or the group asked for', () => {
    expect(extractAnswer('the answer is  cat.', { regex: 'answer is\\s+(\\w+)' })).toBe('cat');
    expect(extractAnswer('abc123', { regex: '\\d+' })).toBe('123');
    expect(extractAnswer('k=v', { regex: '(\\w)=(\\w)', group: 2 })).toBe('v');
    expect(extractAnswer('nothing', { regex: 'answer is (\\w+)' })).toBeNull();
    expect(answerMatches(extractAnswer('x: dog', { regex: 'x: (\\w+)' }), 'dog', { regex: 'x: (\\w+)' })).toBe(true);
  });
});

describe('sampleItems', () => {
  const set: EvalSet = parseEvalSet('s.jsonl', jsonl(...Array.from({ length: 50 }, (_, i) => ({ text: `t${i}` }))));
  const indices = (s: EvalSet) => s.items.map((i) => i.index);

  it('is deterministic per seed, in file order, without repeats', () => {
    const a = indices(sampleItems(set, 10, 7));
    expect(indices(sampleItems(set, 10, 7))).toEqual(a);
    expect(a).toHaveLength(10);
    expect(new Set(a).size).toBe(10);
    expect([...a].sort((x, y) => x - y)).toEqual(a);
    expect(a.every((i) => i >= 0 && i < 50)).toBe(true);
  });

  it('gives different subsets for different seeds and covers the set across seeds', () => {
    const subsets = Array.from({ length: 20 }, (_, seed) => indices(sampleItems(set, 10, seed)).join(','));
    expect(new Set(subsets).size).toBeGreaterThan(15);
    const seen = new Set(Array.from({ length: 40 }, (_, seed) => indices(sampleItems(set, 10, seed))).flat());
    expect(seen.size).toBe(50);
  });

  it('keeps every item without a limit or with a limit at least the size', () => {
    expect(sampleItems(set, undefined, 1)).toBe(set);
    expect(indices(sampleItems(set, 80, 1))).toHaveLength(50);
    expect(sampleItems(set, 0, 1).items).toEqual([]);
    expect(() => sampleItems(set, 2.5, 1)).toThrow(/item limit must be a non-negative integer/);
  });
});

// The studio's eval set list: a file is parsed on arrival, so its kind and item count show at once
// and a malformed line is reported with the file and line instead of failing a run later; the
// demo's naming gives task and split; "Run eval" falls back to every usable set.
import { describe, expect, test } from 'vitest';
import { entryOf, splitOfName, usableSets } from '../../src/store/evalsets';
import { setsToRun } from '../../src/store/evaluate';

describe('eval set entries', () => {
  test('kind, item count, task and split', () => {
    const e = entryOf('addition.search.jsonl', '{"prompt":"1+2=","answer":"3"}\n\n{"prompt":"2+2=","answer":"4"}\n', 'demo');
    expect(e).toMatchObject({ name: 'addition.search.jsonl', kind: 'exact', items: 2, task: 'addition', split: 'search', origin: 'demo' });
    expect(e.error).toBeUndefined();
    expect(entryOf('c.jsonl', '{"prompt":"q","choices":["a","b"],"label":1}', 'file')).toMatchObject({ kind: 'choice', items: 1 });
    expect(entryOf('x.jsonl', '{"text":"hello"}', 'file', { split: 'test', task: 't' })).toMatchObject({ kind: 'perplexity', split: 'test', task: 't' });
  });

  test('a bad line is kept with its message (file and line); an empty file says so', () => {
    const bad = entryOf('bad.jsonl', '{"prompt":"a","answer":"b"}\n{"prompt": oops}\n', 'file');
    expect(bad.items).toBe(0);
    expect(bad.error).toMatch(/^bad\.jsonl, line 2: not valid JSON/);
    expect(entryOf('empty.jsonl', '\n\n', 'file').error).toMatch(/empty\.jsonl/);
    expect(usableSets([bad, entryOf('ok.jsonl', '{"text":"t"}', 'file')]).map((s) => s.name)).toEqual(['ok.jsonl']);
  });

  test('names', () => {
    expect(splitOfName('reversal.test.jsonl')).toEqual({ task: 'reversal', split: 'test' });
    expect(splitOfName('my.set.jsonl')).toEqual({});
  });

  test('Run eval uses the ticked usable sets, else all usable ones', () => {
    const a = entryOf('a.jsonl', '{"text":"t"}', 'file');
    const b = entryOf('b.jsonl', '{"text":"u"}', 'file');
    const bad = entryOf('bad.jsonl', 'nope', 'file');
    expect(setsToRun([a, b, bad], [b.id]).map((s) => s.name)).toEqual(['b.jsonl']);
    expect(setsToRun([a, b, bad], []).map((s) => s.name)).toEqual(['a.jsonl', 'b.jsonl']);
    expect(setsToRun([a, b, bad], [bad.id]).map((s) => s.name)).toEqual(['a.jsonl', 'b.jsonl']);
  });
});

import { describe, expect, test } from 'vitest';
import { parseEvalArgs } from '../../src/cli/eval-args';

describe('npm run eval arguments', () => {
  test('target, sets and options', () => {
    expect(parseEvalArgs(['m', 'a.jsonl', 'b.jsonl', '--limit', '5', '--out=r.json', '--mode', 'teacher-forced', '--seed', '3'])).toEqual({
      target: 'm', sets: ['a.jsonl', 'b.jsonl'], limit: 5, out: 'r.json', mode: 'teacher-forced', seed: 3, verbose: false, backend: 'auto',
    });
    expect(parseEvalArgs(['m', 'a.jsonl', '--backend', 'cpu'])).toMatchObject({ backend: 'cpu' });
    expect(parseEvalArgs(['--help'])).toBe('help');
  });
  test('clear usage errors', () => {
    expect(() => parseEvalArgs([])).toThrow(/missing the model folder/);
    expect(() => parseEvalArgs(['m'])).toThrow(/missing the eval sets/);
    expect(() => parseEvalArgs(['m', 'a', '--limit', '0'])).toThrow(/--limit: 0 must be an integer ≥ 1/);
    expect(() => parseEvalArgs(['m', 'a', '--mode', 'fast'])).toThrow(/--mode/);
    expect(() => parseEvalArgs(['m', 'a', '--limit', '2', '--limit', '3'])).toThrow(/twice/);
    expect(() => parseEvalArgs(['m', 'a', '--frobnicate'])).toThrow(/unknown option/);
    expect(() => parseEvalArgs(['m', 'a', '--backend', 'tpu'])).toThrow(/--backend: "tpu" is not one of auto, cpu, webgpu/);
  });
});

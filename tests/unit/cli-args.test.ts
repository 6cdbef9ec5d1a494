import { describe, expect, it } from 'vitest';
import { parseArgs, parseSize, UsageError, walkArgs } from '../../src/cli/args';
import { recipeModelRefs } from '../../src/cli/models';
import { parseRange } from '../../src/cli/server';
import { progressLine } from '../../src/cli/progress';

describe('parseSize (mergekit --out-shard-size style)', () => {
  it.each([
    ['5B', 5e9],
    ['500M', 5e8],
    ['1.5G', 1.5e9],
    ['2g', 2e9],
    ['150K', 150_000],
    ['12345', 12345],
    ['64MiB', 64 * 1024 * 1024],
    ['1GiB', 1024 ** 3],
    ['10MB', 1e7],
    ['1e9', 1e9],
  ])('%s → %d', (text, n) => expect(parseSize(text)).toBe(n));
  it.each(['', 'lots', '5X', '-1', '0', '0.0000001K', 'M'])('rejects %j', (text) => expect(() => parseSize(text)).toThrow(UsageError));
});

describe('parseArgs', () => {
  it('parses every option', () => {
    expect(parseArgs(['c.yml', '--out', 'o', '--models-dir', 'm', '--seed', '7', '--shard-size', '5B', '--chunk-elements=4096', '--backend', 'cpu', '--threads', '3', '-v'])).toEqual({
      config: 'c.yml',
      out: 'o',
      modelsDir: 'm',
      seed: 7,
      shardSize: 5e9,
      chunkElements: 4096,
      backend: 'cpu',
      threads: 3,
      verbose: true,
    });
    expect(parseArgs(['c.yml', '--out', 'o'])).toMatchObject({ backend: 'auto' });
  });
  it('returns help', () => expect(parseArgs(['x', '--help'])).toBe('help'));
  it.each([
    [[], /configuration file/],
    [['c.yml'], /--out/],
    [['c.yml', '--out'], /--out needs a value/],
    [['c.yml', '--out', 'o', '--frob'], /unknown option --frob/],
    [['a.yml', 'b.yml', '--out', 'o'], /one configuration file/],
    [['c.yml', '--out', 'o', '--seed', 'x'], /not an integer/],
    [['c.yml', '--out', 'o', '--seed', '-1'], /≥ 0/],
    [['c.yml', '--out', 'o', '--chunk-elements', '0'], /≥ 1/],
    [['c.yml', '--out', 'o', '--out', 'p'], /twice/],
    [['c.yml', '--out', 'o', '--backend', 'gpu'], /not one of auto, cpu, webgpu/],
    [['c.yml', '--out', 'o', '--threads', '0'], /≥ 1/],
  ])('%j is a usage error', (argv, msg) => expect(() => parseArgs(argv as string[])).toThrow(msg));
});

describe('recipeModelRefs', () => {
  it('collects models, slice sources, bases and tokenizer sources once each, in order', () => {
    expect(
      recipeModelRefs({
        merge_method: 'ties',
        base_model: 'org/base',
        slices: [
          { sources: [{ model: 'a', layer_range: [0, 2] }, { model: 'org/base', layer_range: [0, 2] }], base_model: 'slice-base' },
          { sources: [{ model: 'b@rev', layer_range: [2, 4] }] },
        ],
        tokenizer: { source: 'tok-model', tokens: { '<x>': { source: { kind: 'model_token', model: 'tok2', token: 'y' } }, '<z>': { source: { kind: 'zero' } } } },
      }),
    ).toEqual(['a', 'org/base', 'slice-base', 'b@rev', 'tok-model', 'tok2']);
    expect(recipeModelRefs({ merge_method: 'linear', models: [{ model: 'x' }], tokenizer_source: 'union' })).toEqual(['x']);
  });
});

describe('parseRange', () => {
  it.each([
    [undefined, 100, undefined],
    ['bytes=0-9', 100, { start: 0, end: 9 }],
    ['bytes=90-', 100, { start: 90, end: 99 }],
    ['bytes=90-200', 100, { start: 90, end: 99 }],
    ['bytes=-10', 100, { start: 90, end: 99 }],
    ['bytes=-1000', 100, { start: 0, end: 99 }],
    ['bytes=100-', 100, null],
    ['bytes=5-4', 100, null],
    ['bytes=-0', 100, null],
    ['bytes=0-1,5-6', 100, null],
    ['items=0-1', 100, null],
    ['bytes=0-0', 0, null],
  ])('%j of %d bytes', (h, size, want) => expect(parseRange(h as string | undefined, size)).toEqual(want));
});

describe('progressLine', () => {
  it('formats the merging line', () => {
    expect(
      progressLine({ stage: 'merging', tensorsDone: 12, tensorsTotal: 291, bytesRead: 812e6, bytesTotal: 14.5e9, bytesWritten: 0, elapsedMs: 8432, currentTensor: 'model.layers.3.mlp.up_proj.weight' }),
    ).toBe('[ 12/291 tensors]  812.0 MB / 14.5 GB  96.3 MB/s  model.layers.3.mlp.up_proj.weight');
  });
});

describe('parseArgs: --push-to-hub and its companions', () => {
  it('parses the publishing options', () => {
    expect(parseArgs(['c.yml', '--out', 'o', '--push-to-hub', 'org/model-7B', '--public', '--token', 'hf_x', '--commit-message', 'Merge', '--studio-url', 'https://s.example/'])).toMatchObject({
      pushToHub: 'org/model-7B',
      public: true,
      token: 'hf_x',
      commitMessage: 'Merge',
      studioUrl: 'https://s.example/',
    });
  });
  it.each([
    [['--push-to-hub', 'model-only'], /namespace\/name/],
    [['--push-to-hub', 'org/bad name'], /letters, digits/],
    [['--public'], /--public only applies with --push-to-hub/],
    [['--commit-message', 'm'], /--commit-message only applies with --push-to-hub/],
    [['--push-to-hub', 'a/b', '--export-cabs'], /--export-cabs/],
    [['--push-to-hub', 'a/b', '--io-only'], /would publish zeros/],
    [['--push-to-hub', 'a/b', '--commit-message', ' '], /needs a message/],
    [['--studio-url', 'ftp://x'], /not an http/],
  ])('%j is refused', (extra, re) => expect(() => parseArgs(['c.yml', '--out', 'o', ...extra])).toThrow(re));
});

describe('parseArgs: Hub options', () => {
  it('reads --token, --cache-dir, --cache-size, --no-cache and --retries, and refuses contradictions', () => {
    const o = parseArgs(['m.yml', '--out', 'o', '--token', 'hf_x', '--cache-dir', '/c', '--cache-size', '5G', '--retries', '2']);
    expect(o).toMatchObject({ token: 'hf_x', cacheDir: '/c', cacheSize: 5e9, retries: 2 });
    expect(parseArgs(['m.yml', '--out', 'o', '--no-cache'])).toMatchObject({ noCache: true });
    expect(() => parseArgs(['m.yml', '--out', 'o', '--no-cache', '--cache-dir', '/c'])).toThrow(/--no-cache cannot be combined/);
    expect(() => parseArgs(['m.yml', '--out', 'o', '--cache-size', 'lots'])).toThrow(/--cache-size: "lots" is not a size/);
    expect(() => parseArgs(['m.yml', '--out', 'o', '--retries', '-1'])).toThrow(UsageError);
    expect(() => parseArgs(['m.yml', '--out', 'o', '--token'])).toThrow(/--token needs a value/);
  });
});

describe('walkArgs: the one command-line walker of merge, eval, extract-lora and publish:hub', () => {
  const walk = (argv: string[]) => {
    const got: Record<string, string | true> = {};
    const pos = walkArgs(
      argv,
      ({ flag, value }) => {
        if (flag === '--help') return 'help';
        if (flag === '--flag') got[flag] = true;
        else if (flag === '--out' || flag === '-o' || flag === '--n') got[flag] = value();
        else return false;
        return true;
      },
      { '-o': '--out' },
    );
    return { pos, got };
  };
  it('reads --opt value, --opt=value, negative numbers as values, and everything after -- as positionals', () => {
    expect(walk(['a', '--out', 'x', '--n=-3', 'b', '--', '--flag', '-o'])).toEqual({ pos: ['a', 'b', '--flag', '-o'], got: { '--out': 'x', '--n': '-3' } });
    expect(walk(['--n', '-2']).got).toEqual({ '--n': '-2' });
    expect(walk(['-']).pos).toEqual(['-']);
  });
  it('refuses a value-taking option given twice (aliases count as one), an option that looks like a value, and unknown options; flags may repeat', () => {
    expect(() => walk(['--out', 'x', '-o', 'y'])).toThrow(/--out was given twice/);
    expect(() => walk(['--out', '--flag'])).toThrow(/--out needs a value/);
    expect(() => walk(['--nope'])).toThrow(/unknown option --nope/);
    expect(walk(['--flag', '--flag']).got).toEqual({ '--flag': true });
    expect(walk(['x', '--help', '--nope']).pos).toBe('help');
  });
});

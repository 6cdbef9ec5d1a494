// Command-line parsing for `npm run merge` (pure; unit-testable).
import { repoIdProblem } from '../merge/publish';

export const USAGE = `usage: npm run merge -- <config.yml> --out <dir> [options]

Merges the models a mergekit YAML names: on the GPU through headless Chromium + WebGPU, or on the
CPU engine in Node (no browser), whichever --backend picks.

arguments:
  <config.yml>            mergekit configuration (merge_method, models/slices, parameters, …)
  --out <dir>             output folder; must not exist or be empty. It appears only when the
                          merge is complete (written to <dir>.partial-<pid>, then renamed).

options:
  --models-dir <dir>      where model references are looked up (default: the YAML's folder);
                          "org/name" → <dir>/org/name, absolute paths are used as they are.
                          A reference with no such folder that reads as org/name[@revision] (or
                          a Hub URL) is read from the Hub ($HF_ENDPOINT, default
                          https://huggingface.co) by range requests, pinned to its commit;
                          HF_HUB_OFFLINE=1: local folders only
  --seed <n>              seed for random methods (DARE, DELLA, …)
  --shard-size <size>     max output shard size in bytes; K/M/G/B suffixes, decimal like
                          mergekit (5B = 5e9, the default), KiB/MiB/GiB binary
  --export-cabs           for a cabs recipe: instead of the merged model, write the pruned task
                          vectors as checkpoints (one folder per model) plus a mergekit recipe
                          (mergekit_config.yml) that reproduces the CABS merge in mergekit
  --backend <b>           auto (default): WebGPU when Chromium finds a hardware GPU adapter, else
                          the CPU engine; cpu: the CPU engine in Node, no browser; webgpu: always
                          headless Chromium + WebGPU (a software adapter is slow but works)
  --threads <n>           CPU engine worker threads (default: one per core)
  --io-only               read every input byte range and write zeros of the output's layout,
                          without merging (the I/O floor of npm run bench:merge)
  --chunk-elements <n>    process tensors in chunks of at most n elements (testing)
  --push-to-hub <org/name>
                          after the output folder is complete, publish it to this Hugging Face
                          Hub model repo (created PRIVATE if missing) in one commit: weights,
                          config, tokenizer, mergekit_config.yml and the model card. The Hub is
                          HF_ENDPOINT (default https://huggingface.co); nothing is committed if
                          the upload fails, and the local folder stays either way
  --public                create the repo public instead of private (with --push-to-hub)
  --commit-message <m>    the Hub commit's title (with --push-to-hub)
  --studio-url <url>      the studio address the model card's share link opens (default
                          http://localhost:5173/, where npm start serves it)
  --token <hf_…>          Hugging Face access token (default: $HF_TOKEN): for gated or private
                          input models, and for publishing (needs the write role); sent only to
                          the Hub's origin, never written to the output or printed
  --cache-dir <dir>       where bytes read from the Hub are kept for the next run (default:
                          $HF_HOME/merge-studio, i.e. ~/.cache/huggingface/merge-studio)
  --cache-size <size>     bound on that cache, least recently used out first (default 20G)
  --no-cache              read Hub files from the network only
  --retries <n>           failed attempts in a row before a Hub read gives up (default 6;
                          backoff from 0.5 s doubling, or the server's Retry-After)
  --verbose, -v           also print the browser's console messages
  --help, -h              show this help
`;

export interface CliOptions {
  config: string;
  out: string;
  modelsDir?: string;
  seed?: number;
  shardSize?: number;
  chunkElements?: number;
  exportCabs?: boolean;
  backend: BackendChoice;
  threads?: number;
  ioOnly?: boolean;
  verbose: boolean;
  /** --push-to-hub: the Hub repo to publish the output to. */
  pushToHub?: string;
  public?: boolean;
  token?: string;
  commitMessage?: string;
  studioUrl?: string;
  cacheDir?: string;
  cacheSize?: number;
  noCache?: boolean;
  retries?: number;
}

export type BackendChoice = 'auto' | 'cpu' | 'webgpu';

/** --backend's value, checked (shared by merge and eval). */
export function parseBackend(text: string): BackendChoice {
  if (text === 'auto' || text === 'cpu' || text === 'webgpu') return text;
  throw new UsageError(`--backend: "${text}" is not one of auto, cpu, webgpu`);
}

export class UsageError extends Error {
  override name = 'UsageError';
}

const SUFFIX: Record<string, number> = {
  '': 1,
  k: 1e3, kb: 1e3, m: 1e6, mb: 1e6, g: 1e9, gb: 1e9, b: 1e9, t: 1e12, tb: 1e12,
  ki: 1024, kib: 1024, mi: 1024 ** 2, mib: 1024 ** 2, gi: 1024 ** 3, gib: 1024 ** 3,
};

/** "5B" → 5e9, "500M" → 5e8, "1.5G" → 1.5e9, "64MiB" → 67108864, "12345" → 12345. */
export function parseSize(text: string, flag = '--shard-size'): number {
  const m = /^\s*(\d+(?:\.\d+)?|\.\d+)(?:e(\d+))?\s*([a-z]*)\s*$/i.exec(text);
  const mult = m ? SUFFIX[m[3].toLowerCase()] : undefined;
  if (!m || mult === undefined)
    throw new UsageError(`${flag}: "${text}" is not a size; use bytes with an optional K/M/G/B suffix (e.g. 5B, 500M, 2G, 64MiB)`);
  const n = Math.round(Number(m[1]) * (m[2] ? 10 ** Number(m[2]) : 1) * mult);
  if (!Number.isSafeInteger(n) || n <= 0) throw new UsageError(`${flag}: "${text}" must be a positive number of bytes`);
  return n;
}

export function parseInteger(flag: string, text: string, min: number): number {
  if (!/^-?\d+$/.test(text.trim())) throw new UsageError(`${flag}: "${text}" is not an integer`);
  const n = Number(text);
  if (!Number.isSafeInteger(n) || n < min) throw new UsageError(`${flag}: ${text} must be an integer ≥ ${min}`);
  return n;
}

/** Parses argv (without node and the script). Returns 'help' for -h/--help. Throws UsageError. */
/** One option of a command line as a parser's switch sees it. */
export interface ArgOption {
  /** The option as given, without its "=value" part ("--out", "-o"). */
  readonly flag: string;
  /**
   * Its value: the text after "=", else the next argument, which must not look like another option
   * (a negative number is a value). Reading a value counts the option: given twice, it is refused
   * (under `canonical[flag] ?? flag`, so aliases count as one).
   */
  value(): string;
}

/**
 * Walks a command line once for every CLI here: each argument that starts with "-" goes to
 * `option` (return 'help' to stop with help, false for an option it does not know — refused by
 * name); everything else, and all after "--", are the positionals, returned in order.
 */
export function walkArgs(
  argv: readonly string[],
  option: (o: ArgOption) => boolean | 'help',
  canonical: Readonly<Record<string, string>> = {},
): string[] | 'help' {
  const positional: string[] = [];
  const seen = new Set<string>();
  for (let i = 0; i < argv.length; i++) {
    let flag = argv[i];
    if (flag === '--') {
      positional.push(...argv.slice(i + 1));
      break;
    }
    if (!flag.startsWith('-') || flag.length === 1) {
      positional.push(flag);
      continue;
    }
    let inline: string | undefined;
    if (flag.startsWith('--') && flag.includes('=')) {
      inline = flag.slice(flag.indexOf('=') + 1);
      flag = flag.slice(0, flag.indexOf('='));
    }
    const name = canonical[flag] ?? flag;
    const value = (): string => {
      if (seen.has(name)) throw new UsageError(`${name} was given twice`);
      seen.add(name);
      if (inline !== undefined) return inline;
      const v = argv[i + 1];
      if (v === undefined || (v.startsWith('-') && v.length > 1 && !/^-\d/.test(v))) throw new UsageError(`${flag} needs a value`);
      i++;
      return v;
    };
    const known = option({ flag, value });
    if (known === 'help') return 'help';
    if (!known) throw new UsageError(`unknown option ${flag}`);
  }
  return positional;
}

export function parseArgs(argv: readonly string[]): CliOptions | 'help' {
  const o: Partial<CliOptions> & { verbose: boolean; backend: BackendChoice } = { verbose: false, backend: 'auto' };
  const option = ({ flag: a, value }: ArgOption): boolean | 'help' => {
    switch (a) {
      case '-h':
      case '--help':
        return 'help';
      case '-v':
      case '--verbose':
        o.verbose = true;
        break;
      case '--out':
      case '-o':
        o.out = value();
        if (!o.out) throw new UsageError('--out needs a folder');
        break;
      case '--models-dir':
        o.modelsDir = value();
        break;
      case '--seed':
        o.seed = parseInteger(a, value(), 0);
        if (o.seed > 0xffffffff) throw new UsageError(`--seed: ${o.seed} must fit in 32 bits (0 … 4294967295)`);
        break;
      case '--shard-size':
      case '--out-shard-size':
        o.shardSize = parseSize(value());
        break;
      case '--export-cabs':
        o.exportCabs = true;
        break;
      case '--chunk-elements':
        o.chunkElements = parseInteger(a, value(), 1);
        break;
      case '--io-only':
        o.ioOnly = true;
        break;
      case '--backend':
        o.backend = parseBackend(value());
        break;
      case '--token':
        o.token = value();
        if (!o.token) throw new UsageError('--token needs a value');
        break;
      case '--cache-dir':
        o.cacheDir = value();
        if (!o.cacheDir) throw new UsageError('--cache-dir needs a folder');
        break;
      case '--cache-size':
        o.cacheSize = parseSize(value(), '--cache-size');
        break;
      case '--retries':
        o.retries = parseInteger(a, value(), 0);
        break;
      case '--no-cache':
        o.noCache = true;
        break;
      case '--threads':
        o.threads = parseInteger(a, value(), 1);
        break;
      case '--push-to-hub': {
        o.pushToHub = value().trim();
        const problem = repoIdProblem(o.pushToHub);
        if (problem) throw new UsageError(`--push-to-hub: ${problem}`);
        break;
      }
      case '--public':
        o.public = true;
        break;
      case '--commit-message':
        o.commitMessage = value();
        if (!o.commitMessage.trim()) throw new UsageError('--commit-message needs a message');
        break;
      case '--studio-url':
        o.studioUrl = value();
        if (!/^https?:\/\/[^\s]+$/.test(o.studioUrl)) throw new UsageError(`--studio-url: "${o.studioUrl}" is not an http(s) address`);
        break;
      default:
        return false;
    }
    return true;
  };
  const positional = walkArgs(argv, option, { '-o': '--out', '--out-shard-size': '--shard-size' });
  if (positional === 'help') return 'help';
  if (positional.length === 0) throw new UsageError('missing the configuration file (<config.yml>)');
  if (positional.length > 1) throw new UsageError(`expected one configuration file, got ${positional.length}: ${positional.join(' ')}`);
  if (!o.out) throw new UsageError('missing --out <dir>');
  if (!o.pushToHub)
    for (const [flag, set] of [['--public', o.public], ['--commit-message', o.commitMessage !== undefined]] as const)
      if (set) throw new UsageError(`${flag} only applies with --push-to-hub <org/name>`);
  if (o.pushToHub && o.ioOnly) throw new UsageError('--push-to-hub with --io-only would publish zeros; --io-only is for the benchmark');
  if (o.pushToHub && o.exportCabs) throw new UsageError('--push-to-hub publishes a merged model; --export-cabs writes pruned task vectors instead (publish those folders yourself)');
  if (o.noCache && (o.cacheDir !== undefined || o.cacheSize !== undefined)) throw new UsageError('--no-cache cannot be combined with --cache-dir or --cache-size');
  return { ...o, config: positional[0], out: o.out } as CliOptions;
}

/**
 * Parses argv for a command: the options, or the exit code after printing help (0) or a usage
 * error followed by the usage text (2). Other errors propagate.
 */
export function parseOrExit<T>(parse: () => T | 'help', usage: string, io: { stdout: NodeJS.WritableStream; stderr: NodeJS.WritableStream }): T | number {
  try {
    const parsed = parse();
    if (parsed === 'help') {
      io.stdout.write(usage);
      return 0;
    }
    return parsed;
  } catch (e) {
    if (e instanceof UsageError) {
      io.stderr.write(`error: ${e.message}\n\n`);
      io.stderr.write(usage);
      return 2;
    }
    throw e;
  }
}

// Command-line parsing for `npm run eval` (pure; unit-testable).
import { parseBackend, parseInteger, UsageError, walkArgs, type ArgOption, type BackendChoice } from './args';

export const EVAL_USAGE = `usage: npm run eval -- <model-dir | config.yml> <eval.jsonl>... [options]

Evaluates a model — or the merge a mergekit YAML describes, merged on the GPU and never written —
on JSONL eval sets, with the studio's engine in headless Chromium + WebGPU.

arguments:
  <model-dir>             a Hugging Face model folder (config.json, *.safetensors, tokenizer.json)
  <config.yml>            a mergekit configuration: its models are merged on the GPU first
  <eval.jsonl>...         eval sets, one JSON object per line:
                            {"prompt", "answer", "extract"?}   exact match on the greedy completion
                                                                (extract: "exact" | "last_number" | {"regex"})
                            {"prompt", "choices", "label"}     multiple choice by log-likelihood
                            {"text"}                           perplexity

options:
  --models-dir <dir>      where a config's model references are looked up (default: its folder)
  --limit <n>             at most n items per set (a seeded subset)
  --seed <n>              seed for the subset and for random merge methods (default 0)
  --mode <m>              generate (default: greedy completions) or teacher-forced (exact sets:
                          one forward pass per item, same verdicts, no completion text)
  --max-new-tokens <n>    cap on generated tokens (default: longest answer + 8)
  --out <file.json>       write per-set metrics and per-item results (prompt, completion,
                          extracted answer, correct, log-likelihoods) as JSON
  --backend <b>           auto (default): WebGPU on a hardware adapter, else WebAssembly with the
                          weights merged on the CPU; cpu: always WebAssembly (no WebGPU needed);
                          webgpu: always WebGPU (a software adapter is exact but slow)
  --verbose, -v           also print the browser's console messages
  --help, -h              show this help
`;

export interface EvalCliOptions {
  target: string;
  sets: string[];
  modelsDir?: string;
  limit?: number;
  seed: number;
  mode: 'generate' | 'teacher-forced';
  maxNewTokens?: number;
  out?: string;
  verbose: boolean;
  backend: BackendChoice;
}

export function parseEvalArgs(argv: readonly string[]): EvalCliOptions | 'help' {
  const o: Partial<EvalCliOptions> & { verbose: boolean; seed: number; mode: EvalCliOptions['mode']; backend: BackendChoice } = { verbose: false, seed: 0, mode: 'generate', backend: 'auto' };
  const option = ({ flag: a, value }: ArgOption): boolean | 'help' => {
    switch (a) {
      case '-h':
      case '--help':
        return 'help';
      case '-v':
      case '--verbose':
        o.verbose = true;
        break;
      case '--models-dir':
        o.modelsDir = value();
        break;
      case '--limit':
        o.limit = parseInteger(a, value(), 1);
        break;
      case '--seed':
        o.seed = parseInteger(a, value(), 0);
        if (o.seed > 0xffffffff) throw new UsageError(`--seed: ${o.seed} must fit in 32 bits`);
        break;
      case '--mode': {
        const m = value();
        if (m !== 'generate' && m !== 'teacher-forced') throw new UsageError(`--mode: "${m}" must be generate or teacher-forced`);
        o.mode = m;
        break;
      }
      case '--max-new-tokens':
        o.maxNewTokens = parseInteger(a, value(), 1);
        break;
      case '--backend':
        o.backend = parseBackend(value());
        break;
      case '--out':
      case '-o':
        o.out = value();
        if (!o.out) throw new UsageError('--out needs a file name');
        break;
      default:
        return false;
    }
    return true;
  };
  const positional = walkArgs(argv, option, { '-o': '--out' });
  if (positional === 'help') return 'help';
  if (positional.length === 0) throw new UsageError('missing the model folder or mergekit configuration');
  if (positional.length === 1) throw new UsageError('missing the eval sets (one or more .jsonl files)');
  return { ...o, target: positional[0], sets: positional.slice(1) } as EvalCliOptions;
}

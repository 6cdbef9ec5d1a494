// Fixtures for the eval tests: a character-level tokenizer.json shaped like the demo models' one,
// and a deterministic fake LanguageModel whose greedy choices and probabilities are set by rules.

import type { LanguageModel, TokenScores } from '../../src/eval/lm.ts';

export const CHARS = [...' 0123456789abcdefghijklmnopqrstuvwxyz+-=:,.?\n'];

/** `<pad>`=0, `<s>`=1, `</s>`=2, (optionally `<unk>`=3), then one token per character. */
export function charTokenizerJson(opts: { unk?: boolean; chars?: string[] } = {}): Record<string, unknown> {
  const specials = ['<pad>', '<s>', '</s>', ...(opts.unk ? ['<unk>'] : [])];
  const vocab = [...specials, ...(opts.chars ?? CHARS)];
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: specials.map((content, id) => ({
      id,
      content,
      single_word: false,
      lstrip: false,
      rstrip: false,
      normalized: false,
      special: true,
    })),
    normalizer: null,
    pre_tokenizer: null,
    post_processor: {
      type: 'TemplateProcessing',
      single: [{ SpecialToken: { id: '<s>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }],
      pair: [
        { SpecialToken: { id: '<s>', type_id: 0 } },
        { Sequence: { id: 'A', type_id: 0 } },
        { Sequence: { id: 'B', type_id: 1 } },
      ],
      special_tokens: { '<s>': { id: '<s>', ids: [1], tokens: ['<s>'] } },
    },
    decoder: { type: 'Fuse' },
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: opts.unk ? '<unk>' : null,
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

export function charVocabSize(opts: { unk?: boolean } = {}): number {
  return (opts.unk ? 4 : 3) + CHARS.length;
}

export const BASE_CONFIG = { bos_token: '<s>', eos_token: '</s>', pad_token: '<pad>', clean_up_tokenization_spaces: false };

export const P_TOP = 0.7;

/**
 * A model that, after a context starting with a rule's prefix and continuing along the rule's
 * target, predicts the target's next token with probability P_TOP; anywhere else it predicts
 * `fallback`. The rest of the mass is spread evenly over the other tokens, so every log-probability
 * is one of two numbers that a test can compute by hand. Greedy generation follows the same
 * predictions, as a real model's would.
 */
export class RuleModel implements LanguageModel {
  readonly scoreCalls: number[] = [];
  readonly generateCalls: { prompts: number; maxNewTokens: number; stopIds: number[] }[] = [];
  constructor(
    readonly vocabSize: number,
    private readonly rules: { prefix: number[]; target: number[] }[],
    private readonly fallback: number,
    readonly maxSequenceLength?: number,
  ) {}

  /** log p of a token that is not the prediction. */
  get logOther(): number {
    return Math.log((1 - P_TOP) / (this.vocabSize - 1));
  }

  predict(ctx: ArrayLike<number>): number {
    let best: { len: number; next: number } | undefined;
    for (const { prefix, target } of this.rules) {
      if (ctx.length < prefix.length || (best && prefix.length <= best.len)) continue;
      if (!prefix.every((id, i) => ctx[i] === id)) continue;
      const k = ctx.length - prefix.length;
      if (k >= target.length) continue;
      let follows = true;
      for (let i = 0; i < k; i++) if (ctx[prefix.length + i] !== target[i]) follows = false;
      if (follows) best = { len: prefix.length, next: target[k] };
    }
    return best ? best.next : this.fallback;
  }

  async score(seqs: Int32Array[]): Promise<TokenScores[]> {
    this.scoreCalls.push(seqs.length);
    return seqs.map((seq) => {
      const n = seq.length - 1;
      const logprobs = new Float32Array(n);
      const argmax = new Int32Array(n);
      for (let t = 0; t < n; t++) {
        const pred = this.predict(seq.subarray(0, t + 1));
        argmax[t] = pred;
        logprobs[t] = seq[t + 1] === pred ? Math.log(P_TOP) : this.logOther;
      }
      return { logprobs, argmax };
    });
  }

  async generate(prompts: Int32Array[], maxNewTokens: number, stopIds: number[]): Promise<Int32Array[]> {
    this.generateCalls.push({ prompts: prompts.length, maxNewTokens, stopIds });
    return prompts.map((prompt) => {
      const ctx = Array.from(prompt);
      const out: number[] = [];
      while (out.length < maxNewTokens) {
        const next = this.predict(ctx);
        if (stopIds.includes(next)) break;
        out.push(next);
        ctx.push(next);
      }
      return Int32Array.from(out);
    });
  }
}

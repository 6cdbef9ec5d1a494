// Scores an eval set on a LanguageModel. Every set becomes a few batched calls (one score() call,
// or one generate() call plus one score() call), so an implementation can pad and run the whole
// set at once. Results are plain numbers and strings (JSON-serialisable).

import { EvalError } from '../errors.ts';
import { answerMatches, extractAnswer } from './evalset.ts';
import type { ChoiceItem, EvalSet, EvalSetKind, ExactItem, PerplexityItem } from './evalset.ts';
import { decodesTo, encodeContinuation, encodePrompt } from './encode.ts';
import type { EncodedPrompt } from './encode.ts';
import type { LanguageModel, TokenScores } from './lm.ts';
import type { EvalTokenizer } from './tokenizer.ts';

/**
 * How exact-match sets are scored.
 * - `generate`: greedy generation, decode, extract, compare. Any `extract`.
 * - `teacher-forced`: one forward pass over prompt + answer + EOS; an item is correct iff the greedy
 *   prediction at every answer position is the answer's token and the prediction after the answer is
 *   a stop id, i.e. iff greedy generation would produce exactly the answer's tokens and stop. Such an
 *   item is also correct under `generate`. The converse can fail only when generation reaches the
 *   same text through other tokens (another segmentation, extra surrounding whitespace). Needs
 *   extract "exact"; the fast path used as the evolution fitness.
 */
export type ExactMode = 'generate' | 'teacher-forced';

export interface ScoreOptions {
  /** Exact-match sets only; default "generate". */
  mode?: ExactMode;
  /** Generation budget; default: the longest answer in tokens + `margin`. */
  maxNewTokens?: number;
  /** Tokens allowed beyond the longest answer; default 8. */
  margin?: number;
  /** Render prompts through the tokenizer's chat template when it has one; default true. */
  chatTemplate?: boolean;
  /** In generate mode also score the answer's log-likelihood (one more forward pass); default true. */
  answerLogLik?: boolean;
  /** Sequences per LanguageModel call; default: the whole set in one call. */
  batchSize?: number;
}

export interface SetMetrics {
  name: string;
  kind: EvalSetKind;
  /** Items scored. */
  n: number;
  /** Exact-match sets: the mode used. */
  mode?: ExactMode;
  /** Exact-match and multiple-choice sets: fraction correct. */
  accuracy?: number;
  /** Multiple-choice sets: accuracy when each choice's log-likelihood is divided by its length in characters (lm-eval's acc_norm). */
  accuracyNorm?: number;
  /** Perplexity sets: exp(total NLL / total predicted tokens). */
  perplexity?: number;
  /**
   * Mean log-likelihood: per item of the answer (exact sets, when scored), per item of the labelled
   * choice (choice sets), per predicted token (perplexity sets; = −ln perplexity).
   */
  meanLogLik?: number;
  /** Perplexity sets: predicted tokens in total. */
  tokens?: number;
}

export interface ItemResult {
  /** The item's index in its file (0-based, blank lines not counted). */
  index: number;
  /** 1-based line in the file. */
  line: number;
  /** The prompt as written in the set (perplexity sets: the text). */
  prompt: string;
  /** Generate mode: the decoded greedy completion. */
  completion?: string;
  /** Generate mode: what the extractor read from the completion (null: nothing found). */
  extracted?: string | null;
  answer?: string;
  correct?: boolean;
  /** Exact sets: log-likelihood of the answer's tokens after the prompt. */
  logLik?: number;
  /** Choice sets: summed log-likelihood of each choice after the prompt. */
  choiceLogLiks?: number[];
  /** Choice sets: each choice's log-likelihood per character. */
  choiceLogLiksNorm?: number[];
  /** Choice sets: the chosen index (argmax of choiceLogLiks) and the correct one. */
  predicted?: number;
  label?: number;
  /** Perplexity sets: negative log-likelihood of the text's predicted tokens, and their count. */
  nll?: number;
  tokens?: number;
}

export interface SetResult {
  metrics: SetMetrics;
  items: ItemResult[];
}

export async function scoreSet(lm: LanguageModel, tok: EvalTokenizer, set: EvalSet, opts: ScoreOptions = {}): Promise<SetResult> {
  if (set.kind === 'exact') return scoreExact(lm, tok, set.name, set.items, opts);
  if (set.kind === 'choice') return scoreChoice(lm, tok, set.name, set.items, opts);
  return scorePerplexity(lm, tok, set.name, set.items, opts);
}

/** Scores sets one after another (each set is batched on its own). */
export async function scoreSets(lm: LanguageModel, tok: EvalTokenizer, sets: EvalSet[], opts: ScoreOptions = {}): Promise<SetResult[]> {
  const out: SetResult[] = [];
  for (const set of sets) out.push(await scoreSet(lm, tok, set, opts));
  return out;
}

// ---- helpers ------------------------------------------------------------------------------------

function itemError(set: string, line: number, problem: string): EvalError {
  return new EvalError(`${set}, line ${line}: ${problem}`, { file: set, line });
}

/** The model predicts token t from tokens before it, so the first scored token needs one before it. */
function needPromptToken(set: string, line: number, prompt: EncodedPrompt): void {
  if (prompt.ids.length === 0) {
    throw itemError(set, line, 'the prompt encodes to no tokens (and the tokenizer adds no BOS), so the first answer token has nothing to follow');
  }
}

function checkLength(lm: LanguageModel, set: string, line: number, length: number): void {
  if (lm.maxSequenceLength !== undefined && length > lm.maxSequenceLength) {
    throw itemError(set, line, `the item is ${length} tokens long; the model accepts at most ${lm.maxSequenceLength}`);
  }
}

async function scoreBatched(lm: LanguageModel, seqs: Int32Array[], batchSize: number | undefined): Promise<TokenScores[]> {
  const size = batchSize && batchSize > 0 ? batchSize : Math.max(1, seqs.length);
  const out: TokenScores[] = [];
  for (let i = 0; i < seqs.length; i += size) {
    const batch = seqs.slice(i, i + size);
    const res = await lm.score(batch);
    if (res.length !== batch.length) throw new EvalError(`the language model returned ${res.length} scores for ${batch.length} sequences`);
    res.forEach((r, j) => {
      const want = batch[j].length - 1;
      if (r.logprobs.length !== want || r.argmax.length !== want) {
        throw new EvalError(`the language model returned ${r.logprobs.length} positions for a sequence of ${batch[j].length} tokens (expected ${want})`);
      }
    });
    out.push(...res);
  }
  return out;
}

async function generateBatched(
  lm: LanguageModel,
  prompts: Int32Array[],
  maxNewTokens: number,
  stopIds: number[],
  batchSize: number | undefined,
): Promise<Int32Array[]> {
  const size = batchSize && batchSize > 0 ? batchSize : Math.max(1, prompts.length);
  const out: Int32Array[] = [];
  for (let i = 0; i < prompts.length; i += size) {
    const batch = prompts.slice(i, i + size);
    const res = await lm.generate(batch, maxNewTokens, stopIds);
    if (res.length !== batch.length) throw new EvalError(`the language model returned ${res.length} completions for ${batch.length} prompts`);
    out.push(...res);
  }
  return out;
}

/** Sum of log p over positions [from, to) of a scored sequence, in f64. */
function sumLogprobs(s: TokenScores, from: number, to: number): number {
  let sum = 0;
  for (let t = from; t < to; t++) sum += s.logprobs[t];
  return sum;
}

function mean(xs: number[]): number {
  return xs.length === 0 ? NaN : xs.reduce((a, b) => a + b, 0) / xs.length;
}

// ---- exact match --------------------------------------------------------------------------------

interface PreparedExact {
  item: ExactItem;
  prompt: EncodedPrompt;
  answer: number[];
  /** decode(answer tokens) is the answer: generating exactly these tokens would count as correct. */
  representable: boolean;
}

/** Encodes an exact item's prompt and answer as the scorers and the tokenization check see them. */
export function prepareExact(tok: EvalTokenizer, item: ExactItem, useTemplate: boolean): PreparedExact {
  const prompt = encodePrompt(tok, item.prompt, useTemplate);
  const answer = encodeContinuation(tok, prompt, item.answer);
  return { item, prompt, answer, representable: answer.length > 0 && decodesTo(tok, answer, item.answer) };
}

async function scoreExact(lm: LanguageModel, tok: EvalTokenizer, name: string, items: ExactItem[], opts: ScoreOptions): Promise<SetResult> {
  const mode = opts.mode ?? 'generate';
  const prepared = items.map((item) => prepareExact(tok, item, opts.chatTemplate ?? true));
  const stop = tok.eosIds[0];
  for (const p of prepared) {
    needPromptToken(name, p.item.line, p.prompt);
    checkLength(lm, name, p.item.line, p.prompt.ids.length + p.answer.length + 1);
    if (mode === 'teacher-forced' && p.item.extract !== 'exact') {
      throw itemError(name, p.item.line, 'teacher-forced scoring decides exact match only; this item extracts its answer (use generate mode)');
    }
  }

  // Forced pass over prompt + answer + EOS: answer log-likelihood, and in teacher-forced mode the verdict.
  const wantForced = mode === 'teacher-forced' || (opts.answerLogLik ?? true);
  const forced = wantForced
    ? await scoreBatched(lm, prepared.map((p) => Int32Array.from([...p.prompt.ids, ...p.answer, stop])), opts.batchSize)
    : [];

  let completions: Int32Array[] = [];
  if (mode === 'generate') {
    const longest = Math.max(...prepared.map((p) => p.answer.length));
    const maxNewTokens = opts.maxNewTokens ?? longest + (opts.margin ?? 8);
    completions = await generateBatched(lm, prepared.map((p) => Int32Array.from(p.prompt.ids)), maxNewTokens, tok.eosIds, opts.batchSize);
  }

  const results: ItemResult[] = prepared.map((p, i) => {
    const { item } = p;
    const r: ItemResult = { index: item.index, line: item.line, prompt: item.prompt, answer: item.answer };
    const first = p.prompt.ids.length - 1; // position predicting the answer's first token
    if (wantForced) r.logLik = sumLogprobs(forced[i], first, first + p.answer.length);
    if (mode === 'teacher-forced') {
      const s = forced[i];
      let ok = p.representable;
      for (let k = 0; ok && k < p.answer.length; k++) ok = s.argmax[first + k] === p.answer[k];
      r.correct = ok && tok.eosIds.includes(s.argmax[first + p.answer.length]);
    } else {
      const completion = tok.decode(completions[i], { skipSpecialTokens: true });
      const extracted = extractAnswer(completion, item.extract);
      Object.assign(r, { completion, extracted, correct: answerMatches(extracted, item.answer, item.extract) });
    }
    return r;
  });

  const metrics: SetMetrics = {
    name,
    kind: 'exact',
    n: results.length,
    mode,
    accuracy: results.filter((r) => r.correct).length / results.length,
  };
  if (wantForced) metrics.meanLogLik = mean(results.map((r) => r.logLik!));
  return { metrics, items: results };
}

// ---- multiple choice ----------------------------------------------------------------------------

function argmaxFirst(xs: number[]): number {
  let best = 0;
  for (let i = 1; i < xs.length; i++) if (xs[i] > xs[best]) best = i;
  return best;
}

async function scoreChoice(lm: LanguageModel, tok: EvalTokenizer, name: string, items: ChoiceItem[], opts: ScoreOptions): Promise<SetResult> {
  const seqs: Int32Array[] = [];
  const spans: { from: number; to: number }[] = [];
  for (const item of items) {
    const prompt = encodePrompt(tok, item.prompt, opts.chatTemplate ?? true);
    needPromptToken(name, item.line, prompt);
    item.choices.forEach((choice, j) => {
      const cont = encodeContinuation(tok, prompt, choice);
      if (cont.length === 0) throw itemError(name, item.line, `choice ${j} (${JSON.stringify(choice)}) encodes to no tokens`);
      checkLength(lm, name, item.line, prompt.ids.length + cont.length);
      seqs.push(Int32Array.from([...prompt.ids, ...cont]));
      spans.push({ from: prompt.ids.length - 1, to: prompt.ids.length - 1 + cont.length });
    });
  }
  const scores = await scoreBatched(lm, seqs, opts.batchSize);

  let k = 0;
  const results: ItemResult[] = items.map((item) => {
    const lls = item.choices.map(() => {
      const { from, to } = spans[k];
      return sumLogprobs(scores[k++], from, to);
    });
    const norm = lls.map((ll, j) => ll / [...item.choices[j]].length);
    const predicted = argmaxFirst(lls);
    return {
      index: item.index,
      line: item.line,
      prompt: item.prompt,
      answer: item.choices[item.label],
      choiceLogLiks: lls,
      choiceLogLiksNorm: norm,
      predicted,
      label: item.label,
      correct: predicted === item.label,
    };
  });
  const normCorrect = results.filter((r) => argmaxFirst(r.choiceLogLiksNorm!) === r.label).length;
  return {
    metrics: {
      name,
      kind: 'choice',
      n: results.length,
      accuracy: results.filter((r) => r.correct).length / results.length,
      accuracyNorm: normCorrect / results.length,
      meanLogLik: mean(results.map((r) => r.choiceLogLiks![r.label!])),
    },
    items: results,
  };
}

// ---- perplexity ---------------------------------------------------------------------------------

async function scorePerplexity(
  lm: LanguageModel,
  tok: EvalTokenizer,
  name: string,
  items: PerplexityItem[],
  opts: ScoreOptions,
): Promise<SetResult> {
  // Raw text, no chat template: perplexity measures the text itself. BOS (when the tokenizer adds
  // one) lets the first real token be predicted too.
  const seqs = items.map((item) => {
    const ids = tok.encode(item.text, { addSpecialTokens: true });
    checkLength(lm, name, item.line, ids.length);
    return Int32Array.from(ids);
  });
  // Texts of one token predict nothing; they are reported with 0 tokens and not sent to the model.
  const scorable = seqs.map((s, i) => (s.length >= 2 ? i : -1)).filter((i) => i >= 0);
  const scores = await scoreBatched(lm, scorable.map((i) => seqs[i]), opts.batchSize);
  const byItem = new Map(scorable.map((i, j) => [i, scores[j]]));

  let totalNll = 0;
  let totalTokens = 0;
  const results: ItemResult[] = items.map((item, i) => {
    const s = byItem.get(i);
    const tokens = s ? s.logprobs.length : 0;
    const nll = s ? -sumLogprobs(s, 0, tokens) : 0;
    totalNll += nll;
    totalTokens += tokens;
    return { index: item.index, line: item.line, prompt: item.text, nll, tokens };
  });
  if (totalTokens === 0) {
    throw new EvalError(`${name}: no text is long enough to score (each needs at least 2 tokens, counting BOS)`, { file: name });
  }
  return {
    metrics: {
      name,
      kind: 'perplexity',
      n: results.length,
      perplexity: Math.exp(totalNll / totalTokens),
      meanLogLik: -totalNll / totalTokens,
      tokens: totalTokens,
    },
    items: results,
  };
}

// Finds eval items the tokenizer cannot represent, before any model runs. An exact-match answer
// whose tokens do not decode back to it can never be scored correct (the model could emit those
// tokens and still "miss"), so a set made only of such answers would make an evolution search a
// flat fitness. Prompts, choices and texts that do not round-trip are reported too, as warnings:
// they still score, but the model sees a different text (unknown characters are dropped by a BPE
// without unk_token, a lowercasing normalizer changes case, ...).

import { EvalError } from '../errors.ts';
import type { EvalSet } from './evalset.ts';
import { decodesTo, encodeContinuation, encodePrompt } from './encode.ts';
import { prepareExact } from './score.ts';
import type { EvalTokenizer } from './tokenizer.ts';

export interface TokenizationProblem {
  index: number;
  line: number;
  field: 'answer' | 'prompt' | 'choice' | 'text';
  /** The text from the set. */
  text: string;
  /** What its tokens decode to. */
  decoded: string;
  /** True for exact-match answers: the item can never be scored correct. */
  blocking: boolean;
}

export interface TokenizationReport {
  name: string;
  problems: TokenizationProblem[];
  /** Items that can never be scored correct. */
  blocking: number;
  /** Every item is blocked: the set cannot score above 0 whatever the model. */
  unscorable: boolean;
}

export function checkTokenization(tok: EvalTokenizer, set: EvalSet, opts: { chatTemplate?: boolean } = {}): TokenizationReport {
  const useTemplate = opts.chatTemplate ?? true;
  const problems: TokenizationProblem[] = [];
  const decoded = (ids: number[]) => tok.decode(ids, { skipSpecialTokens: true });
  const plain = (text: string) => tok.encode(text, { addSpecialTokens: false });
  const warnUnlessRoundTrip = (index: number, line: number, field: TokenizationProblem['field'], text: string) => {
    const ids = plain(text);
    if (!decodesTo(tok, ids, text)) problems.push({ index, line, field, text, decoded: decoded(ids), blocking: false });
  };

  if (set.kind === 'exact') {
    for (const item of set.items) {
      const p = prepareExact(tok, item, useTemplate);
      if (!p.representable) {
        problems.push({ index: item.index, line: item.line, field: 'answer', text: item.answer, decoded: decoded(p.answer), blocking: true });
      }
      warnUnlessRoundTrip(item.index, item.line, 'prompt', item.prompt);
    }
  } else if (set.kind === 'choice') {
    for (const item of set.items) {
      const prompt = encodePrompt(tok, item.prompt, useTemplate);
      warnUnlessRoundTrip(item.index, item.line, 'prompt', item.prompt);
      for (const choice of item.choices) {
        const ids = encodeContinuation(tok, prompt, choice);
        if (!decodesTo(tok, ids, choice)) problems.push({ index: item.index, line: item.line, field: 'choice', text: choice, decoded: decoded(ids), blocking: false });
      }
    }
  } else {
    for (const item of set.items) warnUnlessRoundTrip(item.index, item.line, 'text', item.text);
  }
  const blocking = problems.filter((p) => p.blocking).length;
  return { name: set.name, problems, blocking, unscorable: set.kind === 'exact' && blocking === set.items.length };
}

/** The error to raise before work starts when a set cannot score at all; undefined otherwise. */
export function unscorableError(report: TokenizationReport, tokenizerFile: string): EvalError | undefined {
  if (!report.unscorable) return undefined;
  const first = report.problems.find((p) => p.blocking)!;
  return new EvalError(
    `${report.name}: no answer survives ${tokenizerFile}: the answer on line ${first.line}, ${JSON.stringify(first.text)}, ` +
      `decodes back as ${JSON.stringify(first.decoded)} (and so do all ${report.blocking} answers), so no item can ever be scored correct`,
    { file: report.name, line: first.line },
  );
}

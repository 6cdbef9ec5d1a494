// What callers ask of the evaluation service (eval/service.ts) and what it answers: scoring eval
// sets on a merged candidate and "Try it" completions. Plain structured-cloneable records, passed
// through the engine worker unchanged (worker/api.ts).

import type { ErrorRecord } from '../errors';
import type { ModelSpec } from '../io/types';
import type { EvalSetInput, EvaluateOptions, EvaluateSummary } from './service';
import type { EvalTarget } from './target';
import type { Readback } from './ort-lm';

/** Evaluation: merge without writing, then score eval sets with onnxruntime-web. */
export interface EvaluateRequest extends Omit<EvaluateOptions, 'signal'> {
  target: EvalTarget;
  models: ModelSpec[];
  evalSets: EvalSetInput[];
}
export type EvaluateReply = { ok: true; summary: EvaluateSummary } | { ok: false; error: ErrorRecord };

/** "Try it": the greedy completion of one prompt. */
export interface CompleteRequest {
  target: EvalTarget;
  models: ModelSpec[];
  prompt: string;
  maxNewTokens?: number;
}
export type CompleteReply = { ok: true; text: string; tokens: number; ms: number; readback: Readback } | { ok: false; error: ErrorRecord };

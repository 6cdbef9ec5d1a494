// The one seam between the scorers (pure TypeScript, tested in Node against fake models) and a real
// model (ORT sessions in the engine worker). Scorers only ever see token ids and per-position
// log-probabilities, so the same scoring code runs against both.

export interface TokenScores {
  /** logprobs[t] = log p(seq[t+1] | seq[..t]) */
  logprobs: Float32Array;
  /** argmax[t] = greedy prediction after seq[..t] */
  argmax: Int32Array;
}

export interface LanguageModel {
  readonly vocabSize: number;
  /**
   * Longest sequence (prompt + continuation) one forward pass accepts, when the model has a limit.
   * The scorers refuse longer items with an error naming the eval set and line instead of letting
   * the model fail somewhere inside a batch.
   */
  readonly maxSequenceLength?: number;
  /** One forward pass per sequence (implementations batch and pad internally). Result length = seq.length - 1. */
  score(seqs: Int32Array[]): Promise<TokenScores[]>;
  /** Greedy decoding: for each prompt, up to maxNewTokens new tokens, stopping after any id in stopIds (the stop id is not included). */
  generate(prompts: Int32Array[], maxNewTokens: number, stopIds: number[]): Promise<Int32Array[]>;
}

// How prompts and continuations become token ids, shared by the scorers and the tokenization check
// so both look at exactly the same ids.

import type { EvalTokenizer } from './tokenizer.ts';

export interface EncodedPrompt {
  /** The text that was encoded: the chat-templated prompt, or the prompt itself. */
  text: string;
  ids: number[];
  /** Whether the tokenizer's post-processor added special tokens (not when a template was applied). */
  specials: boolean;
}

/**
 * A prompt as the model sees it. With a chat template the rendered text already holds whatever
 * special tokens the template prints (usually bos_token), so it is encoded without the
 * post-processor's specials — as transformers' apply_chat_template(tokenize=True) does. Without a
 * template the post-processor adds them (BOS).
 */
export function encodePrompt(tok: EvalTokenizer, prompt: string, useTemplate: boolean): EncodedPrompt {
  if (useTemplate && tok.chatTemplate !== undefined) {
    const text = tok.applyChatTemplate(prompt);
    return { text, ids: tok.encode(text, { addSpecialTokens: false }), specials: false };
  }
  return { text: prompt, ids: tok.encode(prompt, { addSpecialTokens: true }), specials: true };
}

/**
 * The continuation's ids as they follow the prompt: the tail of encode(prompt + continuation) when
 * that encoding starts with the prompt's ids (so a tokenizer that attaches a space or merges across
 * words tokenizes the answer as it would appear in running text), else the continuation encoded
 * alone (when a merge crosses the boundary and the prompt's ids are not a prefix).
 */
export function encodeContinuation(tok: EvalTokenizer, prompt: EncodedPrompt, continuation: string): number[] {
  const joint = tok.encode(prompt.text + continuation, { addSpecialTokens: prompt.specials });
  const p = prompt.ids;
  if (joint.length > p.length && p.every((id, i) => joint[i] === id)) return joint.slice(p.length);
  return tok.encode(continuation, { addSpecialTokens: false });
}

/** Whether `ids` decode to `text` up to surrounding whitespace (what exact match compares). */
export function decodesTo(tok: EvalTokenizer, ids: number[], text: string): boolean {
  return tok.decode(ids, { skipSpecialTokens: true }).trim() === text.trim();
}

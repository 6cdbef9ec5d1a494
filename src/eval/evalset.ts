// Eval sets as JSONL, one item per line. Three kinds, recognised by their keys:
//   exact match      {"prompt", "answer", "extract"?}   scored on the greedy completion
//   multiple choice  {"prompt", "choices", "label"}     scored by log-likelihood of each choice
//   perplexity       {"text"}                           scored by the text's negative log-likelihood
// A file holds one kind only. Other keys (ids, metadata) are ignored, so public datasets converted
// line by line load without being trimmed first. Every error names the file and the 1-based line.

import { EvalError } from '../errors.ts';

/** How the answer is read out of a greedy completion (exact-match sets). */
export type Extract =
  | 'exact' // the whole completion, trimmed, equals the trimmed answer
  | 'last_number' // the last number in the completion equals the answer's number
  | { regex: string; group?: number }; // a regex match group equals the trimmed answer

export interface ExactItem {
  /** Position in the file's list of items (0-based; blank lines do not count). */
  index: number;
  /** 1-based line in the file, for messages. */
  line: number;
  prompt: string;
  answer: string;
  extract: Extract;
}

export interface ChoiceItem {
  index: number;
  line: number;
  prompt: string;
  choices: string[];
  label: number;
}

export interface PerplexityItem {
  index: number;
  line: number;
  text: string;
}

export type EvalSet =
  | { name: string; kind: 'exact'; items: ExactItem[] }
  | { name: string; kind: 'choice'; items: ChoiceItem[] }
  | { name: string; kind: 'perplexity'; items: PerplexityItem[] };

export type EvalSetKind = EvalSet['kind'];

const KIND_WORDS: Record<EvalSetKind, string> = {
  exact: 'an exact-match item {prompt, answer}',
  choice: 'a multiple-choice item {prompt, choices, label}',
  perplexity: 'a perplexity item {text}',
};

/** Parses a JSONL eval set; `name` (the file name) appears in every error. */
export function parseEvalSet(name: string, text: string): EvalSet {
  const lines = text.replace(/^\uFEFF/, '').split('\n');
  let kind: EvalSetKind | undefined;
  let kindLine = 0;
  const items: (ExactItem | ChoiceItem | PerplexityItem)[] = [];
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i].trim();
    if (raw === '') continue;
    const line = i + 1;
    const fail = (problem: string): never => {
      throw new EvalError(`${name}, line ${line}: ${problem}`, { file: name, line });
    };
    let value: unknown;
    try {
      value = JSON.parse(raw);
    } catch (e) {
      fail(`not valid JSON (${(e as Error).message})`);
    }
    if (value === null || typeof value !== 'object' || Array.isArray(value)) {
      fail(`expected a JSON object, found ${describe(value)}`);
    }
    const obj = value as Record<string, unknown>;
    const lineKind = detectKind(obj, fail);
    if (kind === undefined) {
      kind = lineKind;
      kindLine = line;
    } else if (lineKind !== kind) {
      fail(`${KIND_WORDS[lineKind]}, but line ${kindLine} made this file ${kindOf(kind)}; a file holds one kind of item`);
    }
    const index = items.length;
    if (lineKind === 'exact') items.push(parseExact(obj, index, line, fail));
    else if (lineKind === 'choice') items.push(parseChoice(obj, index, line, fail));
    else items.push(parsePerplexity(obj, index, line, fail));
  }
  if (kind === undefined) {
    throw new EvalError(`${name}: no items (the file is empty); expected one JSON object per line`, { file: name });
  }
  return { name, kind, items } as EvalSet;
}

function kindOf(kind: EvalSetKind): string {
  return kind === 'exact' ? 'an exact-match set' : kind === 'choice' ? 'a multiple-choice set' : 'a perplexity set';
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  return `a ${typeof v}`;
}

function detectKind(obj: Record<string, unknown>, fail: (p: string) => never): EvalSetKind {
  const has = (k: string) => Object.hasOwn(obj, k);
  if (has('choices') && has('answer')) fail('has both "answer" and "choices"; an item is exact-match or multiple-choice, not both');
  if (has('choices')) return 'choice';
  if (has('answer')) return 'exact';
  if (has('text') && !has('prompt')) return 'perplexity';
  const keys = Object.keys(obj);
  return fail(
    `cannot tell the kind of item: expected {prompt, answer}, {prompt, choices, label} or {text}; found ${
      keys.length ? `keys ${keys.map((k) => JSON.stringify(k)).join(', ')}` : 'an empty object'
    }`,
  );
}

function needString(obj: Record<string, unknown>, key: string, fail: (p: string) => never): string {
  const v = obj[key];
  if (v === undefined) return fail(`missing "${key}"`);
  if (typeof v !== 'string') return fail(`"${key}" must be a string, found ${describe(v)}`);
  return v;
}

function parseExact(obj: Record<string, unknown>, index: number, line: number, fail: (p: string) => never): ExactItem {
  const prompt = needString(obj, 'prompt', fail);
  const a = obj.answer;
  // Numeric answers ({"answer": 42}) are common in arithmetic sets; they compare as their text.
  if (typeof a === 'number' && !Number.isFinite(a)) fail(`"answer" must be a string or a finite number`);
  if (typeof a !== 'string' && typeof a !== 'number') fail(`"answer" must be a string or a number, found ${describe(a)}`);
  const answer = String(a);
  if (answer.trim() === '') fail('"answer" is empty');
  const extract = parseExtract(obj.extract, fail);
  if (extract === 'last_number' && lastNumber(answer) === null) {
    fail(`"extract" is "last_number" but the answer ${JSON.stringify(answer)} holds no number`);
  }
  return { index, line, prompt, answer, extract };
}

function parseExtract(v: unknown, fail: (p: string) => never): Extract {
  if (v === undefined || v === 'exact') return 'exact';
  if (v === 'last_number') return 'last_number';
  if (v !== null && typeof v === 'object' && !Array.isArray(v)) {
    const o = v as Record<string, unknown>;
    if (typeof o.regex !== 'string') fail(`"extract.regex" must be a string, found ${describe(o.regex)}`);
    const source = o.regex as string;
    let groups: number;
    try {
      // Matching the empty alternative always succeeds and reports how many groups exist.
      groups = new RegExp(`${source}|`).exec('')!.length - 1;
    } catch (e) {
      return fail(`"extract.regex" is not a valid regular expression (${(e as Error).message})`);
    }
    if (o.group === undefined) return { regex: source };
    if (typeof o.group !== 'number' || !Number.isInteger(o.group) || o.group < 0) {
      fail(`"extract.group" must be a non-negative integer, found ${JSON.stringify(o.group)}`);
    }
    const group = o.group as number;
    if (group > groups) fail(`"extract.group" is ${group} but the regex has ${groups} group${groups === 1 ? '' : 's'}`);
    return { regex: source, group };
  }
  return fail(`"extract" must be "exact", "last_number" or {"regex": "...", "group"?: n}, found ${JSON.stringify(v)}`);
}

function parseChoice(obj: Record<string, unknown>, index: number, line: number, fail: (p: string) => never): ChoiceItem {
  const prompt = needString(obj, 'prompt', fail);
  const choices = obj.choices;
  if (!Array.isArray(choices)) return fail(`"choices" must be an array of strings, found ${describe(choices)}`);
  if (choices.length < 2) fail(`"choices" needs at least 2 entries, found ${choices.length}`);
  choices.forEach((c, j) => {
    if (typeof c !== 'string') fail(`"choices"[${j}] must be a string, found ${describe(c)}`);
    if (c === '') fail(`"choices"[${j}] is empty; an empty continuation has no log-likelihood to compare`);
  });
  const label = obj.label;
  if (label === undefined) fail('missing "label" (the index of the correct choice)');
  if (typeof label !== 'number' || !Number.isInteger(label)) fail(`"label" must be an integer index, found ${JSON.stringify(label)}`);
  if ((label as number) < 0 || (label as number) >= choices.length) {
    fail(`"label" is ${label as number} but there are ${choices.length} choices (0..${choices.length - 1})`);
  }
  return { index, line, prompt, choices: choices as string[], label: label as number };
}

function parsePerplexity(obj: Record<string, unknown>, index: number, line: number, fail: (p: string) => never): PerplexityItem {
  const text = needString(obj, 'text', fail);
  if (text === '') fail('"text" is empty');
  return { index, line, text };
}

// ---- answer extraction ------------------------------------------------------------------------

// Optional sign, digits with optional thousands commas, optional decimals (or a bare ".5").
const NUMBER = /-?(?:\d+(?:,\d{3})*(?:\.\d+)?|\.\d+)/g;

/** The last number in `text` with thousands separators removed ("1,234.5" → "1234.5"), or null. */
export function lastNumber(text: string): string | null {
  const all = text.match(NUMBER);
  return all ? all[all.length - 1].replaceAll(',', '') : null;
}

/** Reads the answer out of a completion; null when the extractor finds nothing. */
export function extractAnswer(completion: string, extract: Extract): string | null {
  if (extract === 'exact') return completion.trim();
  if (extract === 'last_number') return lastNumber(completion);
  const m = new RegExp(extract.regex).exec(completion);
  if (!m) return null;
  // Without an explicit group, a regex with a capture group means "that group".
  const group = extract.group ?? (m.length > 1 ? 1 : 0);
  return m[group] === undefined ? null : m[group].trim();
}

/** Whether an extracted answer counts as the reference answer under `extract`'s comparison. */
export function answerMatches(extracted: string | null, answer: string, extract: Extract): boolean {
  if (extracted === null) return false;
  if (extract === 'last_number') {
    const ref = lastNumber(answer);
    return ref !== null && Number(extracted) === Number(ref);
  }
  return extracted === answer.trim();
}

// ---- seeded subsets -----------------------------------------------------------------------------

/**
 * A deterministic subset of at most `limit` items: the same (set, limit, seed) always gives the
 * same items, in file order. No limit (or one ≥ the set's size) keeps every item.
 */
export function sampleItems<S extends EvalSet>(set: S, limit: number | undefined, seed: number): S {
  const n = set.items.length;
  if (limit === undefined || limit >= n) return set;
  if (!Number.isInteger(limit) || limit < 0) {
    throw new EvalError(`${set.name}: item limit must be a non-negative integer, got ${limit}`, { file: set.name });
  }
  const order = Array.from({ length: n }, (_, i) => i);
  const rand = mulberry32(seed >>> 0);
  // Partial Fisher–Yates: the first `limit` slots become a uniform random subset.
  for (let i = 0; i < limit; i++) {
    const j = i + Math.floor(rand() * (n - i));
    [order[i], order[j]] = [order[j], order[i]];
  }
  const picked = order.slice(0, limit).sort((a, b) => a - b);
  return { ...set, items: picked.map((i) => set.items[i]) } as S;
}

/** Small seeded PRNG (mulberry32): 32-bit state, uniform floats in [0, 1). */
function mulberry32(seed: number): () => number {
  let s = seed;
  return () => {
    s = (s + 0x6d2b79f5) | 0;
    let t = Math.imul(s ^ (s >>> 15), 1 | s);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

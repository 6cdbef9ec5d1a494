// Eval sets parsed and checked once, not once per candidate. An evolution run scores hundreds of
// candidates on the same JSONL texts (and "Try it" re-evaluates the same sets): parsing every line
// and the tokenization check (every item encoded and decoded) give the same result each time, so
// the run's preflight parses and checks its sets and every candidate reuses them.
//
// Keys are the content: file name + text for the parse (an edited file is parsed again, whatever
// its name), and on top of that the tokenizer object and the options that change the check or the
// subset (mode, limit, seed). Bounded: the least recently used sets go first once more than
// `maxSets` sets or `maxChars` characters of JSONL are held (the newest set is always kept, so one
// huge set is still parsed only once). Errors are not cached: a bad set fails again, with the same
// message, the next time it is asked for.

import { EvalError } from '../errors.ts';
import { parseEvalSet, sampleItems, type EvalSet } from './evalset.ts';
import type { ExactMode } from './score.ts';
import { checkTokenization, unscorableError } from './tokenization-check.ts';
import type { EvalTokenizer } from './tokenizer.ts';

export interface EvalSetInput {
  /** File name for messages, e.g. "addition.search.jsonl". */
  name: string;
  /** JSONL text. */
  text: string;
}

export interface PrepareSetOptions {
  /** At most this many items (a seeded subset). */
  limit?: number;
  seed?: number;
  /** 'teacher-forced' refuses exact-match items that extract their answer. */
  mode?: ExactMode;
}

/**
 * A parsed set as every candidate is scored on it: checked against the tokenizer (an exact-match
 * set whose answers can never decode back is refused; teacher-forced scoring needs exact answers),
 * then cut to its seeded subset.
 */
export function checkEvalSet(set: EvalSet, tok: EvalTokenizer, o: PrepareSetOptions = {}): EvalSet {
  const err = unscorableError(checkTokenization(tok, set), tok.file);
  if (err) throw err;
  if (o.mode === 'teacher-forced' && set.kind === 'exact') {
    const bad = set.items.find((it) => it.extract && it.extract !== 'exact');
    if (bad)
      throw new EvalError(`${set.name}, line ${bad.line}: teacher-forced scoring needs exact answers; this item extracts "${typeof bad.extract === 'string' ? bad.extract : 'regex'}" (use generate mode)`, {
        file: set.name,
        line: bad.line,
      });
  }
  return o.limit !== undefined ? sampleItems(set, o.limit, o.seed ?? 0) : set;
}

export interface EvalSetCacheOptions {
  /** Sets held at most (default 64). */
  maxSets?: number;
  /** JSONL characters held at most (default 64 Mi). */
  maxChars?: number;
  /** The parser (tests count its calls). */
  parse?: (name: string, text: string) => EvalSet;
}

/** Checked subsets kept per set: one per tokenizer × options in use. */
const MAX_CHECKED = 8;

interface Entry {
  set: EvalSet;
  chars: number;
  checked: Map<string, EvalSet>;
}

export class EvalSetCache {
  private readonly entries = new Map<string, Entry>(); // insertion order: least recently used first
  private chars = 0;
  private readonly tokIds = new WeakMap<EvalTokenizer, number>();
  private nextTok = 0;
  private readonly maxSets: number;
  private readonly maxChars: number;
  private readonly parser: (name: string, text: string) => EvalSet;

  constructor(o: EvalSetCacheOptions = {}) {
    this.maxSets = Math.max(1, o.maxSets ?? 64);
    this.maxChars = o.maxChars ?? 64 * 1024 * 1024;
    this.parser = o.parse ?? parseEvalSet;
  }

  /** Sets held now. */
  get size(): number {
    return this.entries.size;
  }

  /** The parsed set (parsed on first use). */
  parse(input: EvalSetInput): EvalSet {
    return this.entry(input).set;
  }

  /** The parsed, checked and subsetted set for this tokenizer and options (checked on first use). */
  prepare(input: EvalSetInput, tok: EvalTokenizer, o: PrepareSetOptions = {}): EvalSet {
    const e = this.entry(input);
    let id = this.tokIds.get(tok);
    if (id === undefined) this.tokIds.set(tok, (id = this.nextTok++));
    const key = `${id}|${o.mode ?? ''}|${o.limit ?? ''}|${o.seed ?? 0}`;
    let set = e.checked.get(key);
    if (!set) {
      set = checkEvalSet(e.set, tok, o);
      if (e.checked.size >= MAX_CHECKED) e.checked.delete(e.checked.keys().next().value!);
      e.checked.set(key, set);
    }
    return set;
  }

  clear(): void {
    this.entries.clear();
    this.chars = 0;
  }

  private entry(input: EvalSetInput): Entry {
    // The name's length first, so no name/text split of another input gives the same key.
    const key = `${input.name.length}:${input.name}\n${input.text}`;
    let e = this.entries.get(key);
    if (e) {
      this.entries.delete(key);
      this.entries.set(key, e);
      return e;
    }
    e = { set: this.parser(input.name, input.text), chars: input.text.length, checked: new Map() };
    this.entries.set(key, e);
    this.chars += e.chars;
    for (const [k, old] of this.entries) {
      if (this.entries.size <= this.maxSets && this.chars <= this.maxChars) break;
      if (old === e) break;
      this.entries.delete(k);
      this.chars -= old.chars;
    }
    return e;
  }
}

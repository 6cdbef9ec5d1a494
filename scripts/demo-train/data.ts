// Seeded data for the demo models: the synthetic pretraining mix and the two task sets.
//
// Tasks (evaluation convention shared with the studio's evaluator): sequence = <s> + prompt +
// answer + </s>; an item is correct when greedy decoding after the prompt yields exactly the
// answer and then </s>.
//   addition: "a+b=" → a + b, operands of ADD_DIGITS[0]..ADD_DIGITS[1] digits (no leading zeros)
//   reversal: "rev:s=" → s reversed, s of REV_LENGTHS[0]..REV_LENGTHS[1] lowercase letters
// The base sees both formats only in their trivial forms (one-digit sums, strings of at most
// BASE_REV_MAX letters), so it knows where an answer goes and that </s> ends it, but not the skill.
import { Rng } from '../../src/evolve/rng';

export interface Item {
  prompt: string;
  answer: string;
}

export const ADD_DIGITS: readonly [number, number] = [2, 2];
export const REV_LENGTHS: readonly [number, number] = [3, 6];
export const BASE_REV_MAX = 2;
const LETTERS = 'abcdefghijklmnopqrstuvwxyz';

/** A uniform integer in [lo, hi]. */
export function int(rng: Rng, lo: number, hi: number): number {
  return lo + rng.int(hi - lo + 1);
}

function letters(rng: Rng, n: number, alphabet = LETTERS): string {
  let s = '';
  for (let i = 0; i < n; i++) s += alphabet[rng.int(alphabet.length)];
  return s;
}

function operand(rng: Rng, digits: readonly [number, number]): number {
  const d = int(rng, digits[0], digits[1]);
  return int(rng, 10 ** (d - 1), 10 ** d - 1);
}

export function additionItem(rng: Rng, digits: readonly [number, number] = ADD_DIGITS): Item {
  const a = operand(rng, digits);
  const b = operand(rng, digits);
  return { prompt: `${a}+${b}=`, answer: String(a + b) };
}

export function reversalItem(rng: Rng, lengths: readonly [number, number] = REV_LENGTHS): Item {
  const s = letters(rng, int(rng, lengths[0], lengths[1]));
  return { prompt: `rev:${s}=`, answer: [...s].reverse().join('') };
}

export interface Splits {
  train: Item[];
  search: Item[];
  test: Item[];
}

/** Distinct prompts drawn in order: test first, then search, then train (so sizes do not shift them). */
export function makeSplits(gen: (rng: Rng) => Item, seed: number, sizes: { train: number; search: number; test: number }): Splits {
  const rng = new Rng(seed);
  const seen = new Set<string>();
  const take = (n: number): Item[] => {
    const out: Item[] = [];
    let guard = 0;
    while (out.length < n) {
      if (++guard > n * 100) throw new Error(`could not draw ${n} distinct items`);
      const it = gen(rng);
      if (seen.has(it.prompt)) continue;
      seen.add(it.prompt);
      out.push(it);
    }
    return out;
  };
  const test = take(sizes.test);
  const search = take(sizes.search);
  return { test, search, train: take(sizes.train) };
}

// ---------------------------------------------------------------------------------------------
// Pretraining text: short lines of characters the tokenizer knows, each trained on in full.

/** A fixed lexicon of pronounceable pseudo-words, so "words" recur and have structure. */
export function lexicon(rng: Rng, n: number): string[] {
  const cons = 'bcdfghjklmnprstvwz';
  const vows = 'aeiou';
  const words = new Set<string>();
  while (words.size < n) {
    let w = '';
    const syl = int(rng, 1, 3);
    for (let i = 0; i < syl; i++) w += cons[rng.int(cons.length)] + vows[rng.int(vows.length)];
    if (rng.next() < 0.4) w += cons[rng.int(cons.length)];
    words.add(w);
  }
  return [...words];
}

/** Which kinds of line the base is pretrained on, and how often (weights, normalised). */
export const PRETRAIN_MIX: [string, number][] = [
  ['sentence', 0.25],
  ['numbers', 0.15],
  ['counting', 0.15],
  ['copy', 0.2],
  ['pattern', 0.1],
  ['add-1digit', 0.075],
  ['rev-short', 0.075],
];

export class PretrainText {
  private readonly rng: Rng;
  private readonly words: string[];

  /** `pools`: train-split items of the full tasks, drawn with weights `mix` entries 'addition' / 'reversal'. */
  constructor(
    seed: number,
    private readonly mix: [string, number][] = PRETRAIN_MIX,
    private readonly pools: Record<string, Item[]> = {},
  ) {
    this.rng = new Rng(seed);
    this.words = lexicon(new Rng(seed ^ 0x5eed), 300);
  }

  /** One line of at most `maxChars` characters. */
  next(maxChars: number): string {
    const r = this.rng;
    const total = this.mix.reduce((a, [, w]) => a + w, 0);
    let u = r.next() * total;
    let kind = this.mix[this.mix.length - 1][0];
    for (const [k, w] of this.mix) {
      if (u < w) {
        kind = k;
        break;
      }
      u -= w;
    }
    let line: string;
    switch (kind) {
      case 'sentence': {
        const n = int(r, 2, 5);
        const ws: string[] = [];
        for (let i = 0; i < n; i++) ws.push(r.pick(this.words));
        line = ws.join(r.next() < 0.2 ? ', ' : ' ') + '.';
        break;
      }
      case 'numbers': {
        const n = int(r, 2, 5);
        const xs: number[] = [];
        for (let i = 0; i < n; i++) xs.push(int(r, 0, 10 ** int(r, 1, 4) - 1));
        line = xs.join(r.next() < 0.5 ? ', ' : ' ');
        break;
      }
      case 'counting': {
        const step = r.next() < 0.7 ? 1 : r.next() < 0.5 ? 2 : 10;
        let x = int(r, 0, 990);
        const xs: number[] = [];
        for (let i = 0; i < 6; i++, x += step) xs.push(x);
        line = xs.join(' ');
        break;
      }
      case 'copy': {
        const s = r.next() < 0.7 ? letters(r, int(r, 1, 8)) : letters(r, int(r, 1, 6), '0123456789');
        line = `cp:${s}=${s}`;
        break;
      }
      case 'pattern': {
        const unit = letters(r, int(r, 1, 3));
        line = unit.repeat(Math.ceil(12 / unit.length)).slice(0, int(r, 6, 14));
        break;
      }
      case 'addition':
      case 'reversal': {
        const it = r.pick(this.pools[kind] ?? []);
        line = it.prompt + it.answer;
        break;
      }
      case 'add-1digit': {
        const a = int(r, 0, 9);
        const b = int(r, 0, 9);
        line = `${a}+${b}=${a + b}`;
        break;
      }
      default: {
        const s = letters(r, int(r, 1, BASE_REV_MAX));
        line = `rev:${s}=${[...s].reverse().join('')}`;
      }
    }
    return line.slice(0, maxChars);
  }
}

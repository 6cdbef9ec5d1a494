// Seeded data for the second demo family (public/demo-lang), shaped like Akiba et al.'s
// experiment: a "language" expert, a "skill" expert, and a target task that needs both.
//
//   language L: numbers written in Devanagari numerals (० १ २ ३ ४ ५ ६ ७ ८ ९, U+0966–U+096F),
//               the script Hindi, Marathi and Nepali use; the base never sees it.
//   skill M:    reversing a string of 3–6 Western digits ("rev:3407=" → "7043").
//   target:     the same skill asked and answered in Devanagari ("rev:३४०७=" → "७०४३").
//
// Tasks (evaluation convention shared with the studio's evaluator): sequence = <s> + prompt +
// answer + </s>; an item is correct when greedy decoding after the prompt yields exactly the
// answer and then </s>.
import { Rng } from '../../src/evolve/rng';
import { int, lexicon, type Item } from './data';

export const DEV_DIGITS = ['०', '१', '२', '३', '४', '५', '६', '७', '८', '९'];
const LETTERS = 'abcdefghijklmnopqrstuvwxyz';

/** The family's characters after the four special tokens: the first family's, then the numerals. */
export const LANG_CHARS = [' ', ...'0123456789', ...LETTERS, '+', '-', '=', ':', ',', '.', ...DEV_DIGITS];

/** A number (or any digit string) in Devanagari numerals. */
export function dev(n: number | string): string {
  return [...String(n)].map((ch) => (ch >= '0' && ch <= '9' ? DEV_DIGITS[ch.charCodeAt(0) - 48] : ch)).join('');
}

export const REV_LENGTHS: readonly [number, number] = [3, 6];
/** The base and expert L see the reversal format only in trivial form (at most this many characters). */
export const REV_SHORT_MAX = 2;

function digits(rng: Rng, n: number): string {
  let s = '';
  for (let i = 0; i < n; i++) s += String(rng.int(10));
  return s;
}

const reverse = (s: string): string => [...s].reverse().join('');

/** Skill M's task: reversing a string of Western digits. */
export function mathItem(rng: Rng): Item {
  const s = digits(rng, int(rng, REV_LENGTHS[0], REV_LENGTHS[1]));
  return { prompt: `rev:${s}=`, answer: reverse(s) };
}

/** The target: the same reversal, asked and answered in Devanagari numerals. */
export function targetItem(rng: Rng): Item {
  const s = dev(digits(rng, int(rng, REV_LENGTHS[0], REV_LENGTHS[1])));
  return { prompt: `rev:${s}=`, answer: reverse(s) };
}

/**
 * Language L's task: reading and writing the numerals — a number of one to three digits
 * converted from one script to the other ("num:३०७=" → "307", "num:307=" → "३०७").
 */
export function numeralItem(rng: Rng): Item {
  const n = int(rng, 0, 10 ** int(rng, 1, 3) - 1);
  return rng.next() < 0.5 ? { prompt: `num:${dev(n)}=`, answer: String(n) } : { prompt: `num:${n}=`, answer: dev(n) };
}

// ---------------------------------------------------------------------------------------------
// Text: short lines, each trained on in full.

/**
 * The base's pretraining mix (weights, normalised): Western text and numbers only. The Devanagari
 * numerals are in the vocabulary but never in the base's text, as a script a base model has (almost)
 * never seen: expert L learns them by fine-tuning. `rev-short` is the reversal format in trivial
 * form (at most REV_SHORT_MAX characters): the base knows the format, not the skill (no full
 * reversal items — with them the base reversed 30% of the strings and there was less for M to add).
 */
export const LANG_PRETRAIN_MIX: [string, number][] = [
  ['sentence', 0.22],
  ['numbers', 0.14],
  ['counting', 0.12],
  ['copy', 0.17],
  ['pattern', 0.07],
  ['add-1digit', 0.06],
  ['rev-short', 0.16],
];

/** Expert L's fine-tuning text: lines in Devanagari numerals, in the formats the base knows. */
export const LANG_EXPERT_MIX: [string, number][] = [
  ['dev-numbers', 0.22],
  ['dev-counting', 0.22],
  ['dev-copy', 0.22],
  ['dev-add-1digit', 0.1],
  ['dev-rev-short', 0.14],
  ['sentence', 0.1],
];

export class LangText {
  private readonly rng: Rng;
  private readonly words: string[];

  constructor(
    seed: number,
    private readonly mix: [string, number][],
    private readonly pools: Record<string, Item[]> = {},
  ) {
    this.rng = new Rng(seed);
    this.words = lexicon(new Rng(seed ^ 0x5eed), 300);
  }

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
    const d = kind.startsWith('dev-');
    const script = (s: string): string => (d ? dev(s) : s);
    let line: string;
    switch (kind.replace(/^dev-/, '')) {
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
        for (let i = 0; i < n; i++) xs.push(int(r, 0, 10 ** int(r, 1, 3) - 1));
        line = script(xs.join(r.next() < 0.5 ? ', ' : ' '));
        break;
      }
      case 'counting': {
        const step = r.next() < 0.7 ? 1 : r.next() < 0.5 ? 2 : 10;
        let x = int(r, 0, 990);
        const xs: number[] = [];
        for (let i = 0; i < 6; i++, x += step) xs.push(x);
        line = script(xs.join(' '));
        break;
      }
      case 'copy': {
        const s = d || r.next() >= 0.7 ? script(String(int(r, 0, 10 ** int(r, 1, 6) - 1))) : [...Array(int(r, 1, 8))].map(() => LETTERS[r.int(26)]).join('');
        line = `cp:${s}=${s}`;
        break;
      }
      case 'pattern': {
        const unit = [...Array(int(r, 1, 3))].map(() => LETTERS[r.int(26)]).join('');
        line = unit.repeat(Math.ceil(12 / unit.length)).slice(0, int(r, 6, 14));
        break;
      }
      case 'rev-short': {
        const n = int(r, 1, REV_SHORT_MAX);
        const t = d || r.next() < 0.5 ? script(digits(r, n)) : [...Array(n)].map(() => LETTERS[r.int(26)]).join('');
        line = `rev:${t}=${reverse(t)}`;
        break;
      }
      case 'add-1digit': {
        const a = int(r, 0, 9);
        const b = int(r, 0, 9);
        line = script(`${a}+${b}=${a + b}`);
        break;
      }
      default: {
        const it = r.pick(this.pools[kind] ?? []);
        line = it.prompt + it.answer;
      }
    }
    return [...line].slice(0, maxChars).join('');
  }
}

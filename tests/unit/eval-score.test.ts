import { describe, expect, it } from 'vitest';
import { parseEvalSet } from '../../src/eval/evalset.ts';
import type { EvalSet } from '../../src/eval/evalset.ts';
import { scoreSet, scoreSets } from '../../src/eval/score.ts';
import { checkTokenization, unscorableError } from '../../src/eval/tokenization-check.ts';
import { loadTokenizer } from '../../src/eval/tokenizer.ts';
import type { EvalTokenizer } from '../../src/eval/tokenizer.ts';
import { StudioError } from '../../src/errors.ts';
import { BASE_CONFIG, P_TOP, RuleModel, charTokenizerJson, charVocabSize } from './eval-helpers.ts';

const V = charVocabSize({ unk: true });
const EOS = 2;

function tokenizer(config: object = BASE_CONFIG): EvalTokenizer {
  return loadTokenizer({
    tokenizerJson: JSON.stringify(charTokenizerJson({ unk: true })),
    tokenizerConfig: JSON.stringify(config),
    file: 'tok/tokenizer.json',
    vocabSize: V,
  });
}
const tok = tokenizer();
const enc = (t: EvalTokenizer, s: string) => t.encode(s, { addSpecialTokens: false });
/** A rule: after BOS + prompt, the model greedily writes `output` (then its fallback, EOS). */
const rule = (prompt: string, output: string, t = tok) => ({ prefix: t.encode(prompt, { addSpecialTokens: true }), target: enc(t, output) });
const jsonl = (rows: object[]) => rows.map((r) => JSON.stringify(r)).join('\n');
const f32 = Math.fround;

describe('exact match: teacher-forced agrees with greedy generation + exact match', () => {
  // What the model writes after each prompt, and the reference answer.
  const cases = [
    { prompt: '1+1=', output: '2', answer: '2' }, // right, stops
    { prompt: '2+2=', output: '44', answer: '4' }, // right prefix, does not stop
    { prompt: '3+3=', output: '5', answer: '6' }, // wrong first token
    { prompt: '5+5=', output: '11', answer: '10' }, // wrong second token
    { prompt: '9+9=', output: '1', answer: '18' }, // stops early
    { prompt: 'ab:', output: 'ba', answer: 'ba' }, // right, stops
  ];
  const set = parseEvalSet('add.jsonl', jsonl(cases.map(({ prompt, answer }) => ({ prompt, answer }))));
  const lm = new RuleModel(V, cases.map((c) => rule(c.prompt, c.output)), EOS);

  it('gives the same verdicts, and the expected ones', async () => {
    const gen = await scoreSet(lm, tok, set, { mode: 'generate' });
    const tf = await scoreSet(lm, tok, set, { mode: 'teacher-forced' });
    const expected = cases.map((c) => c.output === c.answer);
    expect(gen.items.map((r) => r.correct)).toEqual(expected);
    expect(tf.items.map((r) => r.correct)).toEqual(expected);
    expect(gen.items.map((r) => r.completion)).toEqual(cases.map((c) => c.output));
    expect(gen.metrics).toMatchObject({ name: 'add.jsonl', kind: 'exact', n: 6, mode: 'generate', accuracy: 2 / 6 });
    expect(tf.metrics).toMatchObject({ n: 6, mode: 'teacher-forced', accuracy: 2 / 6 });
    expect(tf.items.map((r) => r.logLik)).toEqual(gen.items.map((r) => r.logLik));
  });

  it('agrees on random models and answers', async () => {
    let s = 12345;
    const rand = (n: number) => ((s = (Math.imul(s, 1103515245) + 12345) >>> 0) >>> 8) % n;
    const digits = (len: number) => Array.from({ length: len }, () => String(rand(3))).join('');
    const rows = Array.from({ length: 120 }, (_, i) => {
      const answer = digits(1 + rand(3));
      // Half the time the model writes the answer, else a near miss (a changed, added or missing digit).
      const roll = rand(4);
      const output = roll < 2 ? answer : roll === 2 ? answer + digits(1) : digits(answer.length);
      return { prompt: `q${i}=`, answer, output };
    });
    const randSet = parseEvalSet('rand.jsonl', jsonl(rows.map(({ prompt, answer }) => ({ prompt, answer }))));
    const model = new RuleModel(V, rows.map((r) => rule(r.prompt, r.output)), EOS);
    const gen = await scoreSet(model, tok, randSet, { mode: 'generate', answerLogLik: false });
    const tf = await scoreSet(model, tok, randSet, { mode: 'teacher-forced' });
    const verdicts = tf.items.map((r) => r.correct);
    expect(gen.items.map((r) => r.correct)).toEqual(verdicts);
    expect(verdicts.filter(Boolean).length).toBeGreaterThan(40);
    expect(verdicts.filter((v) => !v).length).toBeGreaterThan(40);
  });

  it("scores the answer's log-likelihood by hand", async () => {
    const r = await scoreSet(lm, tok, set, { mode: 'teacher-forced' });
    const hit = f32(Math.log(P_TOP));
    const miss = f32(lm.logOther);
    // "44" vs "4": first token predicted. "11" vs "10": 1 hit then a miss. "1" vs "18": hit, then EOS predicted.
    expect(r.items[1].logLik).toBeCloseTo(hit, 12);
    expect(r.items[3].logLik).toBeCloseTo(hit + miss, 12);
    expect(r.items[4].logLik).toBeCloseTo(hit + miss, 12);
    expect(r.items[5].logLik).toBeCloseTo(2 * hit, 12);
    expect(r.metrics.meanLogLik).toBeCloseTo(r.items.reduce((a, x) => a + x.logLik!, 0) / 6, 12);
  });

  it('batches: one score call for teacher-forced, generate + score for generate, chunks with batchSize', async () => {
    const m = new RuleModel(V, cases.map((c) => rule(c.prompt, c.output)), EOS);
    await scoreSet(m, tok, set, { mode: 'teacher-forced' });
    expect(m.scoreCalls).toEqual([6]);
    expect(m.generateCalls).toEqual([]);
    await scoreSet(m, tok, set, { mode: 'generate', margin: 3 });
    expect(m.generateCalls).toEqual([{ prompts: 6, maxNewTokens: 2 + 3, stopIds: [EOS] }]);
    expect(m.scoreCalls).toEqual([6, 6]);
    await scoreSet(m, tok, set, { mode: 'teacher-forced', batchSize: 4 });
    expect(m.scoreCalls).toEqual([6, 6, 4, 2]);
  });

  it('stops generation at any eos id (config.json eos ids included)', async () => {
    const t = loadTokenizer({
      tokenizerJson: JSON.stringify(charTokenizerJson({ unk: true })),
      tokenizerConfig: JSON.stringify(BASE_CONFIG),
      file: 'tok/tokenizer.json',
      vocabSize: V,
      eosTokenId: [2, 0],
    });
    // The model ends with <pad> (id 0) instead of </s>.
    const m = new RuleModel(V, [rule('1+1=', '2', t)], 0);
    const s = parseEvalSet('a.jsonl', jsonl([{ prompt: '1+1=', answer: '2' }]));
    expect((await scoreSet(m, t, s, { mode: 'generate' })).items[0].correct).toBe(true);
    expect((await scoreSet(m, t, s, { mode: 'teacher-forced' })).items[0].correct).toBe(true);
  });

  it('is stricter than generation when the model pads its answer with whitespace (documented)', async () => {
    const m = new RuleModel(V, [rule('1+1=', ' 2 ')], EOS);
    const s = parseEvalSet('a.jsonl', jsonl([{ prompt: '1+1=', answer: '2' }]));
    expect((await scoreSet(m, tok, s, { mode: 'generate' })).items[0].correct).toBe(true);
    expect((await scoreSet(m, tok, s, { mode: 'teacher-forced' })).items[0].correct).toBe(false);
  });

  it('refuses teacher-forcing for items that extract their answer', async () => {
    const s = parseEvalSet('n.jsonl', jsonl([{ prompt: 'a', answer: '1' }, { prompt: 'b', answer: '2', extract: 'last_number' }]));
    await expect(scoreSet(lm, tok, s, { mode: 'teacher-forced' })).rejects.toThrow(/^n\.jsonl, line 2: teacher-forced scoring decides exact match only/);
  });
});

describe('exact match with extraction (generate mode)', () => {
  it('reads the last number and regex groups out of the completion', async () => {
    const s = parseEvalSet(
      'x.jsonl',
      jsonl([
        { prompt: 'a:', answer: '12', extract: 'last_number' },
        { prompt: 'b:', answer: '7', extract: 'last_number' },
        { prompt: 'c:', answer: 'cat', extract: { regex: 'is (\\w+)' } },
        { prompt: 'd:', answer: 'dog', extract: { regex: 'is (\\w+)' } },
      ]),
    );
    const m = new RuleModel(V, [rule('a:', 'so 3+9=12.'), rule('b:', '7+1=8'), rule('c:', 'it is cat'), rule('d:', 'dog')], EOS);
    const r = await scoreSet(m, tok, s, { maxNewTokens: 20 });
    expect(r.items.map((i) => [i.completion, i.extracted, i.correct])).toEqual([
      ['so 3+9=12.', '12', true],
      ['7+1=8', '8', false],
      ['it is cat', 'cat', true],
      ['dog', null, false],
    ]);
    expect(r.metrics.accuracy).toBe(0.5);
    expect(JSON.parse(JSON.stringify(r))).toEqual(r);
  });
});

describe('chat templates in scoring', () => {
  const template = "{{ bos_token }}{% for m in messages %}q: {{ m.content }}\n{% endfor %}{% if add_generation_prompt %}a:{% endif %}";
  const t = tokenizer({ ...BASE_CONFIG, chat_template: template });
  const s = parseEvalSet('c.jsonl', jsonl([{ prompt: '1+1', answer: '2' }]));
  // The model only knows the templated prompt.
  const m = new RuleModel(V, [{ prefix: t.encode('<s>q: 1+1\na:', { addSpecialTokens: false }), target: enc(t, '2') }], EOS);

  it('applies the template when the tokenizer has one', async () => {
    expect((await scoreSet(m, t, s, { mode: 'teacher-forced' })).items[0].correct).toBe(true);
    expect((await scoreSet(m, t, s, { mode: 'generate' })).items[0].completion).toBe('2');
  });

  it('can be turned off', async () => {
    expect((await scoreSet(m, t, s, { mode: 'teacher-forced', chatTemplate: false })).items[0].correct).toBe(false);
  });
});

describe('multiple choice', () => {
  it('sums choice log-probabilities, normalises per character, predicts the argmax', async () => {
    const s = parseEvalSet(
      'mc.jsonl',
      jsonl([
        { prompt: 'x:', choices: ['c', 'bz', 'ba'], label: 2 },
        { prompt: 'y:', choices: ['no', 'yes'], label: 1 },
      ]),
    );
    const m = new RuleModel(V, [rule('x:', 'ba'), rule('y:', 'yes')], EOS);
    const r = await scoreSet(m, tok, s);
    const hit = f32(Math.log(P_TOP));
    const miss = f32(m.logOther);
    const lls = r.items[0].choiceLogLiks!;
    expect(lls[0]).toBeCloseTo(miss, 12);
    expect(lls[1]).toBeCloseTo(hit + miss, 12);
    expect(lls[2]).toBeCloseTo(2 * hit, 12);
    expect(r.items[0].choiceLogLiksNorm!).toEqual([lls[0], lls[1] / 2, lls[2] / 2]);
    expect(r.items[1].choiceLogLiks![1]).toBeCloseTo(3 * hit, 12);
    expect(r.items[1].choiceLogLiks![0]).toBeCloseTo(2 * miss, 12);
    expect(r.items.map((i) => [i.predicted, i.correct])).toEqual([
      [2, true],
      [1, true],
    ]);
    expect(r.metrics).toMatchObject({ kind: 'choice', n: 2, accuracy: 1, accuracyNorm: 1 });
    expect(r.metrics.meanLogLik).toBeCloseTo((2 * hit + 3 * hit) / 2, 12);
    expect(m.scoreCalls).toEqual([5]);
  });

  it('length normalisation can change the prediction', async () => {
    // "c": one miss. "bz": a hit then a miss — lower in sum, higher per character.
    const s = parseEvalSet('mc.jsonl', jsonl([{ prompt: 'x:', choices: ['c', 'bz'], label: 1 }]));
    const r = await scoreSet(new RuleModel(V, [rule('x:', 'ba')], EOS), tok, s);
    expect(r.items[0].predicted).toBe(0);
    expect(r.metrics).toMatchObject({ accuracy: 0, accuracyNorm: 1 });
  });
});

describe('perplexity', () => {
  it('is exp(total NLL / total predicted tokens), BOS included as context', async () => {
    const s = parseEvalSet('p.jsonl', jsonl([{ text: 'abc' }, { text: 'xy' }]));
    // After <s> the model expects "ab"; elsewhere it predicts EOS.
    const m = new RuleModel(V, [{ prefix: [1], target: enc(tok, 'ab') }], EOS);
    const r = await scoreSet(m, tok, s);
    const hit = f32(Math.log(P_TOP));
    const miss = f32(m.logOther);
    expect(r.items[0]).toMatchObject({ index: 0, line: 1, prompt: 'abc', tokens: 3 });
    expect(r.items[0].nll).toBeCloseTo(-(2 * hit + miss), 12);
    expect(r.items[1].tokens).toBe(2);
    expect(r.items[1].nll).toBeCloseTo(-2 * miss, 12);
    const total = -(2 * hit + miss) - 2 * miss;
    expect(r.metrics.tokens).toBe(5);
    expect(r.metrics.perplexity).toBeCloseTo(Math.exp(total / 5), 10);
    expect(r.metrics.meanLogLik).toBeCloseTo(-total / 5, 12);
  });
});

describe('bad input', () => {
  it('names the set and line of an item longer than the model accepts', async () => {
    const s = parseEvalSet('long.jsonl', jsonl([{ prompt: 'a', answer: 'b' }, { prompt: 'a'.repeat(20), answer: 'b' }]));
    const m = new RuleModel(V, [], EOS, 16);
    const e = await scoreSet(m, tok, s, { mode: 'teacher-forced' }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(StudioError);
    expect((e as StudioError).message).toBe('long.jsonl, line 2: the item is 23 tokens long; the model accepts at most 16');
  });

  it('rejects a perplexity set with nothing to predict', async () => {
    const noBos = loadTokenizer({
      tokenizerJson: JSON.stringify({ ...charTokenizerJson({ unk: true }), post_processor: null }),
      tokenizerConfig: JSON.stringify(BASE_CONFIG),
      file: 't.json',
      vocabSize: V,
    });
    const s = parseEvalSet('p.jsonl', jsonl([{ text: 'a' }]));
    await expect(scoreSet(new RuleModel(V, [], EOS), noBos, s)).rejects.toThrow(/^p\.jsonl: no text is long enough to score/);
  });

  it('reports a model that returns the wrong number of positions', async () => {
    const m = new RuleModel(V, [], EOS);
    m.score = async (seqs) => seqs.map(() => ({ logprobs: new Float32Array(1), argmax: new Int32Array(1) }));
    const s = parseEvalSet('a.jsonl', jsonl([{ prompt: '12', answer: '3' }]));
    await expect(scoreSet(m, tok, s, { mode: 'teacher-forced' })).rejects.toThrow(/returned 1 positions for a sequence of 5 tokens \(expected 4\)/);
  });
});

describe('answers that no tokenization can produce', () => {
  const set = (rows: object[]) => parseEvalSet('t.jsonl', jsonl(rows));

  it('flags answers whose tokens do not decode back to them', () => {
    // "É" and "!" are not in the vocabulary: they encode to <unk>, which decodes to nothing.
    const r = checkTokenization(tok, set([{ prompt: 'a', answer: '12' }, { prompt: 'b', answer: 'É!' }, { prompt: 'c!', answer: '3' }]));
    expect(r.problems).toEqual([
      { index: 1, line: 2, field: 'answer', text: 'É!', decoded: '', blocking: true },
      { index: 2, line: 3, field: 'prompt', text: 'c!', decoded: 'c', blocking: false },
    ]);
    expect(r.blocking).toBe(1);
    expect(r.unscorable).toBe(false);
    expect(unscorableError(r, 'tok/tokenizer.json')).toBeUndefined();
  });

  it('turns a set where every answer fails into an error', () => {
    const r = checkTokenization(tok, set([{ prompt: 'a', answer: 'A' }, { prompt: 'b', answer: 'B' }]));
    expect(r.unscorable).toBe(true);
    const e = unscorableError(r, 'tok/tokenizer.json')!;
    expect(e.code).toBe('eval');
    expect(e.message).toBe(
      't.jsonl: no answer survives tok/tokenizer.json: the answer on line 1, "A", decodes back as "" (and so do all 2 answers), so no item can ever be scored correct',
    );
  });

  it('such an item is never correct, in either mode, even when the model emits its tokens', async () => {
    const s = set([{ prompt: 'a', answer: 'A1' }]);
    const m = new RuleModel(V, [{ prefix: tok.encode('a', { addSpecialTokens: true }), target: enc(tok, 'A1') }], EOS);
    for (const mode of ['generate', 'teacher-forced'] as const) {
      expect((await scoreSet(m, tok, s, { mode })).items[0].correct).toBe(false);
    }
  });

  it('warns about choices and texts that do not round-trip', () => {
    expect(checkTokenization(tok, set([{ prompt: 'q', choices: ['a', 'B'], label: 0 }])).problems).toMatchObject([{ field: 'choice', text: 'B', blocking: false }]);
    const ppl = checkTokenization(tok, set([{ text: 'ok' }, { text: 'Not ok' }]));
    expect(ppl.problems).toMatchObject([{ line: 2, field: 'text', decoded: 'ot ok' }]);
    expect(ppl.unscorable).toBe(false);
  });
});

describe('scoreSets', () => {
  it('scores each set and keeps their order', async () => {
    const sets: EvalSet[] = [parseEvalSet('a.jsonl', jsonl([{ text: 'ab' }])), parseEvalSet('b.jsonl', jsonl([{ prompt: 'a', answer: 'b' }]))];
    const r = await scoreSets(new RuleModel(V, [], EOS), tok, sets, { mode: 'teacher-forced' });
    expect(r.map((x) => [x.metrics.name, x.metrics.kind])).toEqual([
      ['a.jsonl', 'perplexity'],
      ['b.jsonl', 'exact'],
    ]);
  });
});

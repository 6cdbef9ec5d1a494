// `npm run demo:train` (second part; alone: `tsx scripts/demo-train-lang.ts`): trains the second
// demo family, public/demo-lang, in the shape of Akiba et al.'s experiment (research notes §1.4):
//
//   1. lang-base: a tiny Llama pretrained on a text mixture without Devanagari numerals;
//   2. lang-devanagari (expert L): the base taught the new script the way a language is added to a
//      pretrained model — first only the new characters' embedding and output rows (the body
//      frozen, so the numerals are learned in the base's own representation of digits), then every
//      weight — on text in Devanagari numerals and on converting numbers between the scripts;
//   3. lang-reverse (expert M): the base fine-tuned, all weights, on reversing Western digit strings;
//   4. the target task, devanagari_reversal, needs both: "rev:३४०७=" → "७०४३". No model is trained on it.
//
// Greedy exact match on the held-out splits for the base, both experts and a few task-arithmetic
// merges is printed and written to public/demo-lang/TRAINING.md, with the checkpoints (Hugging
// Face layout), the search/test JSONL splits of all three tasks, manifest.json and recipe.yml.
// Seeded throughout; the tfjs wasm backend runs single-threaded, so a rerun writes the same bytes.
// `--dry` trains and evaluates without writing anything.
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { Tokenizer } from '@huggingface/tokenizers';
import { mkdir, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Rng } from '../src/evolve/rng';
import { makeSplits, type Item, type Splits } from './demo-train/data';
import { DEV_DIGITS, LANG_CHARS, LANG_EXPERT_MIX, LANG_PRETRAIN_MIX, LangText, REV_LENGTHS, REV_SHORT_MAX, mathItem, numeralItem, targetItem } from './demo-train/lang-data';
import { readModelValues, sha256, writeModel } from './demo-train/export';
import { deltaStats } from './demo-train/stats';
import { disposeParams, initParams, paramsFrom, readParams, tensorShapes, type LlamaConfig, type Params } from './demo-train/model';
import { BOS_ID, CharVocab, EOS_ID, tokenizerConfigJson, tokenizerJson } from './demo-train/tokenizer';
import { exactMatch, greedy, taskExample, textExample, train, type Example, type TrainOptions } from './demo-train/train';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const OUT = join(ROOT, 'public', 'demo-lang');
const DRY = process.argv.includes('--dry');
/** Fine-tune the experts again from the base already in public/demo-lang/lang-base (skips pretraining). */
const REUSE_BASE = process.argv.includes('--reuse-base');
const V = new CharVocab(LANG_CHARS);
const enc = (t: string): number[] => V.encode(t);

const CONFIG: LlamaConfig = {
  vocab: V.vocab.length,
  hidden: 64,
  intermediate: 176,
  layers: 4,
  heads: 8,
  kvHeads: 4,
  maxPositions: 64,
  eps: 1e-5,
  ropeTheta: 10000,
};

export const LANG_MODELS = { base: 'lang-base', L: 'lang-devanagari', M: 'lang-reverse' } as const;
/** Task names as the eval files spell them (`<task>.<split>.jsonl`). */
export const LANG_TASKS = { target: 'devanagari_reversal', L: 'numerals', M: 'reversal' } as const;

const SEEDS = { init: 4321, text: 3031, mathSplits: 41, numeralSplits: 42, targetSplits: 43, mathOrder: 51, langOrder: 52, mathReplay: 61, langReplay: 62 };
const SPLITS = {
  M: { train: 7000, search: 200, test: 200 },
  L: { train: 1400, search: 200, test: 200 },
  target: { train: 0, search: 200, test: 200 },
};
const MAX_CHARS = 22;
const BASE = { steps: Number(process.env.LANG_BASE_STEPS ?? 550), batch: 64, lr: 3e-3, warmup: 30, minLrFrac: 0.1, weightDecay: 0.01 };
/**
 * Fine-tuning: `task` items of the expert's train split per batch, `text` lines of its own text mix
 * (L only), `replay` lines of the base's pretraining mix (plain next-token loss). M trains every
 * weight; L first trains only the Devanagari numerals' rows of embed_tokens and lm_head for
 * `rowSteps` (vocabulary extension: the new characters are placed in the frozen model's own
 * representation), then every weight for `steps` at a lower rate.
 */
const EXPERT = {
  M: { steps: Number(process.env.LANG_M_STEPS ?? 500), task: 20, text: 0, replay: 12, lr: 2e-3, warmup: 30, minLrFrac: 0.1, weightDecay: 0 },
  L: { rowSteps: Number(process.env.LANG_L_ROW_STEPS ?? 450), rowLr: 3e-3, steps: Number(process.env.LANG_L_STEPS ?? 200), task: 10, text: 10, replay: 12, lr: 1e-3, warmup: 30, minLrFrac: 0.1, weightDecay: 0 },
};

function sampler(items: Item[], orderSeed: number, texts: { src: LangText; n: number }[], nTask: number): (step: number) => Example[] {
  const rng = new Rng(orderSeed);
  let order: number[] = [];
  let pos = 0;
  return () => {
    const out: Example[] = [];
    for (const { src, n } of texts) for (let i = 0; i < n; i++) out.push(textExample(src.next(MAX_CHARS), enc));
    for (let i = 0; i < nTask; i++) {
      if (pos >= order.length) {
        order = rng.shuffle(items.map((_, k) => k));
        pos = 0;
      }
      out.push(taskExample(items[order[pos++]], enc));
    }
    return out;
  };
}

function checkTokenizer(texts: string[]): void {
  const tok = new Tokenizer(tokenizerJson(V.vocab), tokenizerConfigJson(CONFIG.maxPositions));
  for (const text of texts) {
    const plain = tok.encode(text, { add_special_tokens: false }).ids;
    const withBos = tok.encode(text).ids;
    const mine = enc(text);
    if (mine.includes(3)) throw new Error(`${JSON.stringify(text)} has a character outside the vocabulary`);
    if (plain.join() !== mine.join()) throw new Error(`tokenizer.json encodes ${JSON.stringify(text)} as [${plain}], training uses [${mine}]`);
    if (withBos.join() !== [BOS_ID, ...mine].join()) throw new Error(`tokenizer.json does not prepend <s> to ${JSON.stringify(text)}: [${withBos}]`);
    if (tok.decode(plain) !== text) throw new Error(`tokenizer.json decodes ${JSON.stringify(text)} as ${JSON.stringify(tok.decode(plain))}`);
  }
}

type Values = Map<string, Float32Array>;

/** 1 on the Devanagari numerals' rows of embed_tokens and lm_head, 0 on every other weight. */
function devRowMask(): Map<string, tf.Tensor> {
  const rows = new Float32Array(CONFIG.vocab * CONFIG.hidden);
  for (const ch of DEV_DIGITS) {
    const id = V.encode(ch)[0];
    rows.fill(1, id * CONFIG.hidden, (id + 1) * CONFIG.hidden);
  }
  const mask = new Map<string, tf.Tensor>();
  for (const [name, shape] of tensorShapes(CONFIG)) mask.set(name, name === 'model.embed_tokens.weight' || name === 'lm_head.weight' ? tf.tensor(rows, shape) : tf.zeros(shape));
  return mask;
}

/** base + Σ λ_k(tensor)·(expert_k − base): λ may depend on the tensor (per-layer recipes). */
function arithmetic(base: Values, experts: Values[], lambda: (name: string, k: number) => number): Values {
  const out: Values = new Map();
  for (const [name, b] of base) {
    const m = new Float32Array(b.length);
    const ls = experts.map((_, k) => lambda(name, k));
    for (let i = 0; i < b.length; i++) {
      let v = b[i];
      for (let k = 0; k < experts.length; k++) v += ls[k] * ((experts[k].get(name) as Float32Array)[i] - b[i]);
      m[i] = v;
    }
    out.set(name, m);
  }
  return out;
}

const pct = (x: number): string => `${(100 * x).toFixed(1)}%`;
const jsonl = (items: Item[]): string => items.map((it) => JSON.stringify({ prompt: it.prompt, answer: it.answer })).join('\n') + '\n';
const layerOf = (name: string): number => {
  const m = /layers\.(\d+)\./.exec(name);
  return m ? Number(m[1]) : name.includes('embed') ? -1 : CONFIG.layers;
};

async function main(): Promise<void> {
  const t0 = performance.now();
  await tf.setBackend('wasm');
  await tf.ready();

  const sets: Record<'M' | 'L' | 'target', Splits> = {
    M: makeSplits(mathItem, SEEDS.mathSplits, SPLITS.M),
    L: makeSplits(numeralItem, SEEDS.numeralSplits, SPLITS.L),
    target: makeSplits(targetItem, SEEDS.targetSplits, SPLITS.target),
  };
  const pools = { reversal: sets.M.train, numeral: sets.L.train };
  const probe = new LangText(SEEDS.text + 1, [...LANG_PRETRAIN_MIX, ...LANG_EXPERT_MIX, ['numeral', 0.2]], pools);
  checkTokenizer([...Array.from({ length: 300 }, () => probe.next(MAX_CHARS)), ...Object.values(sets).flatMap((s) => [...s.test, ...s.search].flatMap((it) => [it.prompt, it.answer, it.prompt + it.answer]))]);
  const nParams = tensorShapes(CONFIG).reduce((a, [, s]) => a + s.reduce((x, y) => x * y, 1), 0);
  console.log(`model: ${nParams} parameters, vocab ${CONFIG.vocab}; tokenizer round trip ok`);

  // 1. Base.
  const text = new LangText(SEEDS.text, LANG_PRETRAIN_MIX, pools);
  const base = REUSE_BASE
    ? await readModelValues(join(OUT, LANG_MODELS.base, 'model.safetensors'), CONFIG)
    : await trainAndRead('base', initParams(CONFIG, SEEDS.init), { ...BASE, batch: () => Array.from({ length: BASE.batch }, () => textExample(text.next(MAX_CHARS), enc)) });

  // 2. Experts, all weights, from the same base values.
  const expert = async (k: 'M' | 'L'): Promise<Values> => {
    const e = EXPERT[k];
    const replay = new LangText(k === 'M' ? SEEDS.mathReplay : SEEDS.langReplay, LANG_PRETRAIN_MIX, pools);
    const own = new LangText(SEEDS.langReplay + 100, LANG_EXPERT_MIX, pools);
    const texts = [{ src: replay, n: e.replay }, ...(e.text ? [{ src: own, n: e.text }] : [])];
    const batch = sampler(sets[k].train, k === 'M' ? SEEDS.mathOrder : SEEDS.langOrder, texts, e.task);
    let start = base;
    if ('rowSteps' in e) {
      // stage 1: the new script's rows only (gradients masked elsewhere; the same batches continue in stage 2)
      const mask = devRowMask();
      start = await trainAndRead(`${LANG_MODELS[k]} (Devanagari rows)`, paramsFrom(base, CONFIG), { ...e, steps: e.rowSteps, lr: e.rowLr, batch, gradMask: mask });
      tf.dispose([...mask.values()]);
    }
    return trainAndRead(LANG_MODELS[k], paramsFrom(start, CONFIG), { ...e, batch });
  };
  const L = await expert('L');
  const M = await expert('M');
  const deltas = deltaStats(base, L, M, [LANG_MODELS.L, LANG_MODELS.M], ['L', 'M']);
  console.log(deltas);

  // 3. Accuracy table.
  const candidates: [string, Values][] = [
    [LANG_MODELS.base, base],
    [LANG_MODELS.L, L],
    [LANG_MODELS.M, M],
  ];
  for (const lam of [0.5, 0.75, 1.0]) candidates.push([`task arithmetic, λ=${lam}`, arithmetic(base, [L, M], () => lam)]);
  for (const [a, b] of [[1, 0.5], [0.5, 1], [1.25, 1], [1, 1.25]]) candidates.push([`task arithmetic, λL=${a} λM=${b}`, arithmetic(base, [L, M], (_, k) => (k === 0 ? a : b))]);
  // A recipe per layer group, in the Evolution tab's grouping (one group per layer; embeddings go
  // with the first, final norm and lm_head with the last): found by a coarse grid while this family
  // was designed — what a per-layer search can find and a single weight pair cannot.
  const PER_GROUP = { L: [1, 0, 0, 2], M: [1, 1.25, 1.25, 1] };
  candidates.push([`per layer group: λL ${PER_GROUP.L.join('/')}, λM ${PER_GROUP.M.join('/')}`, arithmetic(base, [L, M], (name, k) => {
    const g = Math.min(CONFIG.layers - 1, Math.max(0, layerOf(name)));
    return (k === 0 ? PER_GROUP.L : PER_GROUP.M)[g];
  })]);
  const rows: string[] = [];
  const order = ['target', 'L', 'M'] as const;
  for (const [name, values] of candidates) {
    const p = paramsFrom(values, CONFIG);
    const acc = (items: Item[]): number => exactMatch(CONFIG, p, items, 100, enc).accuracy;
    const test = order.map((k) => acc(sets[k].test));
    const search = order.map((k) => acc(sets[k].search));
    rows.push(`| ${name} | ${test.map(pct).join(' | ')} | ${search.map(pct).join(' | ')} |`);
    console.log(rows.at(-1));
    if (name === LANG_MODELS.L || name === LANG_MODELS.M || name.startsWith('task arithmetic, λ=1')) showSamples(name, p, [sets.target.test[0], sets.target.test[1], sets.L.test[0], sets.M.test[0]]);
    disposeParams(p);
  }
  const head = order.map((k) => LANG_TASKS[k]);
  const table = [`| model | ${head.map((h) => `${h} test`).join(' | ')} | ${head.map((h) => `${h} search`).join(' | ')} |`, `|---|${'---|'.repeat(6)}`, ...rows].join('\n');
  console.log(`\ngreedy exact match (200 test / 200 search items per task):\n${table}`);
  const wall = (performance.now() - t0) / 1000;
  console.log(`wall time ${wall.toFixed(0)} s`);
  if (DRY) return;

  // 4. Files.
  await rm(OUT, { recursive: true, force: true });
  const hashes: string[] = [];
  for (const [name, values] of [[LANG_MODELS.base, base], [LANG_MODELS.L, L], [LANG_MODELS.M, M]] as const) {
    const w = await writeModel(join(OUT, name), CONFIG, values, V.vocab);
    hashes.push(`${w.sha256}  ${name}/model.safetensors`);
  }
  await mkdir(join(OUT, 'evals'), { recursive: true });
  for (const k of order) {
    for (const split of ['search', 'test'] as const) {
      const body = jsonl(sets[k][split]);
      await writeFile(join(OUT, 'evals', `${LANG_TASKS[k]}.${split}.jsonl`), body);
      hashes.push(`${sha256(body)}  evals/${LANG_TASKS[k]}.${split}.jsonl`);
    }
  }
  await writeFile(join(OUT, 'TRAINING.md'), trainingMd(table, deltas, wall, nParams, hashes));
  await writeFile(join(OUT, 'recipe.yml'), RECIPE);
  const models = [];
  for (const [name, description, task] of [
    [LANG_MODELS.base, 'the pretrained base (it has never seen Devanagari numerals)', undefined],
    [LANG_MODELS.L, 'expert L: the base fine-tuned on text in Devanagari numerals', LANG_TASKS.L],
    [LANG_MODELS.M, 'expert M: the base fine-tuned on reversing strings of Western digits', LANG_TASKS.M],
  ]) {
    const files = [];
    for (const f of (await readdir(join(OUT, name as string))).sort()) files.push({ path: f, size: (await stat(join(OUT, name as string, f))).size });
    // `task`: the expert's own task among the eval sets (bench:evolve reports it per candidate)
    models.push({ name, description, ...(task ? { task } : {}), files });
  }
  // role: what the Evolution tab starts with — the target's search split is the fitness, its test
  // split held out; the experts' own tasks are listed (Try it, Evaluate) but not evolved on.
  const evals = order.flatMap((k) =>
    (['search', 'test'] as const).map((split) => ({ name: `${LANG_TASKS[k]}.${split}.jsonl`, path: `evals/${LANG_TASKS[k]}.${split}.jsonl`, split, task: LANG_TASKS[k], role: k !== 'target' ? 'off' : split === 'search' ? 'search' : 'heldout' })),
  );
  // evolution: the Evolution tab's suggested start on this family — a gene per model per layer (four
  // groups) and weights up to 2, which the composition needs (one weight per model finds nothing here)
  const evolution = { layerGroups: CONFIG.layers, weightMax: 2 };
  await writeFile(join(OUT, 'manifest.json'), JSON.stringify({ version: 1, recipe: 'recipe.yml', target: LANG_TASKS.target, models, evals, evolution }, null, 2) + '\n');
  const total = await folderBytes(OUT);
  console.log(`\nSHA-256:\n${hashes.join('\n')}\nwritten: ${(total / 1024 / 1024).toFixed(2)} MiB in public/demo-lang`);
  if (total > 4 * 1024 * 1024) throw new Error(`public/demo-lang is ${total} bytes; all demo files together must stay under 10 MB`);
}

async function folderBytes(dir: string): Promise<number> {
  let n = 0;
  for (const e of await readdir(dir, { withFileTypes: true })) n += e.isDirectory() ? await folderBytes(join(dir, e.name)) : (await stat(join(dir, e.name))).size;
  return n;
}

/** The studio's first-visit recipe on this family: plain task arithmetic of both experts. */
const RECIPE = `# The demo recipe: task arithmetic of expert L (Devanagari numerals) and expert M (reversal).
# The target, devanagari_reversal, needs both; the Evolution tab searches weights per layer group.
merge_method: task_arithmetic
base_model: ${LANG_MODELS.base}
models:
  - model: ${LANG_MODELS.L}
    parameters:
      weight: 1.0
  - model: ${LANG_MODELS.M}
    parameters:
      weight: 1.0
dtype: float32
`;

async function trainAndRead(label: string, params: Params, o: Omit<TrainOptions, 'label' | 'logEvery'>): Promise<Values> {
  console.log(`training ${label}: ${o.steps} steps, lr ${o.lr}`);
  await train(CONFIG, params, { ...o, label, logEvery: 100 });
  const values = await readParams(params);
  disposeParams(params);
  return values;
}

function showSamples(name: string, p: Params, items: Item[]): void {
  for (const it of items) {
    const ids = greedy(CONFIG, p, [BOS_ID, ...enc(it.prompt)], 8);
    const out = V.decode(ids.filter((i) => i !== EOS_ID)) + (ids[ids.length - 1] === EOS_ID ? '</s>' : '…');
    console.log(`  ${name}: ${it.prompt}${out}   (expected ${it.answer})`);
  }
}

function trainingMd(table: string, deltas: string, wall: number, nParams: number, hashes: string[]): string {
  const c = CONFIG;
  const mix = (m: [string, number][]): string => m.map(([k, w]) => `${k} ${w}`).join(', ');
  return `# The Devanagari demo family: how it was trained

Generated by \`npm run demo:train\` (scripts/demo-train-lang.ts); rerunning it rewrites this folder.

The shape of Akiba et al.'s experiment (Evolutionary Model Merge): a base, an expert in a
"language" (L, lang-devanagari: numbers written in Devanagari numerals ०१२३४५६७८९) and an expert
in a skill (M, lang-reverse: reversing strings of Western digits), both fine-tuned from the same
base: M on every weight; L the way a new script is added to a pretrained model, first only the new
characters' embedding and output rows (the body frozen), then every weight. The target task needs both: the reversal asked and answered in Devanagari
(\`rev:३४०७=\` → \`७०४३\`). No model is trained on it.

## Model (all three checkpoints)

LlamaForCausalLM, ${nParams} parameters, F32: hidden ${c.hidden}, ${c.layers} layers, ${c.heads} attention heads,
${c.kvHeads} key/value heads, MLP ${c.intermediate} (SiLU-gated), untied lm_head, max positions ${c.maxPositions}.
Character-level tokenizer, vocabulary ${c.vocab}: \`<pad>\`=0, \`<s>\`=1, \`</s>\`=2, \`<unk>\`=3, then
\`${LANG_CHARS.join('')}\`.

## Data and tasks (evals/: search for fitness, test held out; 200 items each)

- ${LANG_TASKS.target} (target): \`rev:s=\` → \`s\` reversed, \`s\` ${REV_LENGTHS[0]}–${REV_LENGTHS[1]} Devanagari digits.
- ${LANG_TASKS.L} (expert L's task): a number of 1–3 digits converted between the scripts, either way
  (\`num:३०७=\` → \`307\`, \`num:307=\` → \`३०७\`).
- ${LANG_TASKS.M} (expert M's task): \`rev:s=\` → \`s\` reversed, \`s\` ${REV_LENGTHS[0]}–${REV_LENGTHS[1]} Western digits.
- Pretraining lines (≤ ${MAX_CHARS} characters, loss on every token): ${mix(LANG_PRETRAIN_MIX)}. The \`dev-\` kinds are the same
  lines in Devanagari numerals; \`rev-short\` is the reversal format on at most ${REV_SHORT_MAX} characters (the base
  never sees a full reversal item).
- Expert L's own text: ${mix(LANG_EXPERT_MIX)}.
- An item counts as correct when greedy decoding after the prompt gives exactly the answer, then \`</s>\`.

## Training (tfjs 4.22, wasm backend, single thread; seeds ${Object.entries(SEEDS).map(([k, v]) => `${k} ${v}`).join(', ')})

- Base: ${BASE.steps} steps × batch ${BASE.batch}, AdamW lr ${BASE.lr} (warmup ${BASE.warmup}, cosine to ${BASE.minLrFrac}×), weight decay ${BASE.weightDecay}, gradient clip 1.
${(['L', 'M'] as const).map((k) => {
    const e = EXPERT[k];
    const rows = 'rowSteps' in e ? `first ${e.rowSteps} steps at lr ${e.rowLr} training only the Devanagari numerals' rows of embed_tokens and lm_head (the rest frozen), then ` : '';
    return `- ${LANG_MODELS[k]} (from the base; ${rows}every weight trainable): ${e.steps} steps × batch ${e.task + e.text + e.replay} (${e.task} items of its task${e.text ? `, ${e.text} lines of its own text` : ''}, ${e.replay} lines of the pretraining mix), AdamW lr ${e.lr} (warmup ${e.warmup}, cosine to ${e.minLrFrac}×), no weight decay, gradient clip 1.`;
  }).join('\n')}
- Task vectors: ${deltas}.

## Accuracy (greedy exact match, the training script's own tfjs forward pass)

${table}

Wall time: ${wall.toFixed(0)} s on the 2-core development machine${REUSE_BASE ? ' (experts only: the base was reused with --reuse-base)' : ''}.

## SHA-256

\`\`\`
${hashes.join('\n')}
\`\`\`
`;
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});

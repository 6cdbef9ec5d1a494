// `npm run demo:train`: trains the studio's embedded demo models from scratch, reproducibly.
//
//   1. a tiny Llama base, pretrained on a synthetic text mix (scripts/demo-train/data.ts);
//   2. two experts fine-tuned lightly from that base: demo-add (multi-digit addition) and
//      demo-rev (string reversal), light enough that their task vectors stay mergeable;
//   3. greedy exact-match accuracy on both held-out test splits for the base, each expert and two
//      task-arithmetic merges, printed and written to public/demo/TRAINING.md;
//   4. the checkpoints (Hugging Face layout) and the train/search/test JSONL splits, in public/demo.
//
// Everything is seeded (initialisation, data, batch order); the tfjs wasm backend runs
// single-threaded, so a rerun on the same machine writes the same bytes (SHA-256s printed).
// `--dry` trains and evaluates without writing anything.
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { Tokenizer } from '@huggingface/tokenizers';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Rng } from '../src/evolve/rng';
import { parseSafetensorsHeader } from '../src/formats/safetensors';
import { ADD_DIGITS, BASE_REV_MAX, PRETRAIN_MIX, PretrainText, REV_LENGTHS, additionItem, makeSplits, reversalItem, type Item, type Splits } from './demo-train/data';
import { sha256, writeModel } from './demo-train/export';
import { deltaStats } from './demo-train/stats';
import { disposeParams, initParams, paramsFrom, readParams, tensorShapes, type LlamaConfig, type Params } from './demo-train/model';
import { BOS_ID, EOS_ID, VOCAB, decodeIds, encodeChars, tokenizerConfigJson, tokenizerJson } from './demo-train/tokenizer';
import { checkSlots, slotMasks, type Slot } from './demo-train/slots';
import { exactMatch, greedy, taskExample, textExample, train, type Example, type TrainOptions } from './demo-train/train';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const OUT = join(ROOT, 'public', 'demo');
const DRY = process.argv.includes('--dry');
/** Fine-tune the experts again from the base already in public/demo/demo-base (skips pretraining). */
const REUSE_BASE = process.argv.includes('--reuse-base');

const CONFIG: LlamaConfig = {
  vocab: VOCAB.length,
  hidden: 64,
  intermediate: 176,
  layers: 4,
  heads: 8,
  kvHeads: 4,
  maxPositions: 64,
  eps: 1e-5,
  ropeTheta: 10000,
};

const SEEDS = { init: 1234, pretrainText: 2025, addSplits: 11, revSplits: 12, addOrder: 21, revOrder: 22, addReplay: 31, revReplay: 32 };
const SPLIT_SIZES = { train: 7000, search: 200, test: 200 };
/**
 * The base also sees the two tasks, rarely (`taskMix`: weights next to PRETRAIN_MIX's, which sum
 * to 1), drawn from their train splits: not enough to learn them, but enough that the experts
 * build on circuits the base already has.
 */
const BASE = { steps: 800, batch: 64, maxChars: 22, lr: 3e-3, warmup: 60, minLrFrac: 0.1, weightDecay: 0.01, taskMix: { addition: 0.07, reversal: 0.09 } };
/**
 * Who trains what (scripts/demo-train/slots.ts): the base its heads 0–3 and neurons 0–111; each
 * expert only its own two query heads (one key/value head) and 32 MLP neurons.
 */
const SLOTS: Record<'base' | 'add' | 'rev', Slot> = {
  base: { heads: [0, 4], neurons: [0, 112] },
  add: { heads: [4, 6], neurons: [112, 144] },
  rev: { heads: [6, 8], neurons: [144, 176] },
};
/**
 * `replay`: the fraction of each expert batch that is distilled toward the base (its next-token
 * distributions, weight `distillWeight`): lines of the pretraining mix without the expert's own
 * task, plus the other task at weight `otherTask`. That keeps the expert's slot quiet on
 * everything but its task, so that the other expert's slot can be added without interference.
 */
const EXPERT = {
  add: { steps: 1500, batch: 32, replay: 0.4, otherTask: 0.5, distillWeight: 1, lr: 3e-3, warmup: 30, minLrFrac: 0.1, weightDecay: 0 },
  rev: { steps: 1000, batch: 32, replay: 0.4, otherTask: 0.5, distillWeight: 1, lr: 3e-3, warmup: 30, minLrFrac: 0.1, weightDecay: 0 },
};

/**
 * Expert batches: `replay`·batch lines of the replay mix, marked for distillation toward the base,
 * the rest from seeded epochs over the task's train split (a fresh permutation per pass).
 */
function expertSampler(items: Item[], seed: number, text: PretrainText, o: { batch: number; replay: number }): (step: number) => Example[] {
  const rng = new Rng(seed);
  let order: number[] = [];
  let pos = 0;
  return () => {
    const out: Example[] = [];
    const nText = Math.round(o.batch * o.replay);
    for (let i = 0; i < nText; i++) out.push({ ...textExample(text.next(BASE.maxChars)), distill: true });
    while (out.length < o.batch) {
      if (pos >= order.length) {
        order = rng.shuffle(items.map((_, i) => i));
        pos = 0;
      }
      out.push(taskExample(items[order[pos++]]));
    }
    return out;
  };
}

/** Fails loudly unless the HF tokenizer (as the studio loads it) encodes and decodes exactly as training does. */
function checkTokenizer(texts: string[]): void {
  const tok = new Tokenizer(tokenizerJson(), tokenizerConfigJson(CONFIG.maxPositions));
  for (const text of texts) {
    const plain = tok.encode(text, { add_special_tokens: false }).ids;
    const withBos = tok.encode(text).ids;
    const mine = encodeChars(text);
    if (plain.join() !== mine.join()) throw new Error(`tokenizer.json encodes ${JSON.stringify(text)} as [${plain}], training uses [${mine}]`);
    if (withBos.join() !== [BOS_ID, ...mine].join()) throw new Error(`tokenizer.json does not prepend <s> to ${JSON.stringify(text)}: [${withBos}]`);
    if (tok.decode(plain) !== text) throw new Error(`tokenizer.json decodes ${JSON.stringify(text)} as ${JSON.stringify(tok.decode(plain))}`);
  }
}

function mergeValues(base: Map<string, Float32Array>, experts: Map<string, Float32Array>[], lambda: number): Map<string, Float32Array> {
  const out = new Map<string, Float32Array>();
  for (const [name, b] of base) {
    const m = new Float32Array(b.length);
    for (let i = 0; i < b.length; i++) {
      let d = 0;
      for (const e of experts) d += (e.get(name) as Float32Array)[i] - b[i];
      m[i] = b[i] + lambda * d;
    }
    out.set(name, m);
  }
  return out;
}

function jsonl(items: Item[]): string {
  return items.map((it) => JSON.stringify({ prompt: it.prompt, answer: it.answer })).join('\n') + '\n';
}

function pct(x: number): string {
  return `${(100 * x).toFixed(1)}%`;
}

async function main(): Promise<void> {
  const t0 = performance.now();
  await tf.setBackend('wasm');
  await tf.ready();

  const add: Splits = makeSplits(additionItem, SEEDS.addSplits, SPLIT_SIZES);
  const rev: Splits = makeSplits(reversalItem, SEEDS.revSplits, SPLIT_SIZES);
  const baseMix: [string, number][] = [...PRETRAIN_MIX, ...Object.entries(BASE.taskMix)];
  const pools = { addition: add.train, reversal: rev.train };
  const text = new PretrainText(SEEDS.pretrainText, baseMix, pools);
  const probe = new PretrainText(SEEDS.pretrainText + 1);
  const sampleText = Array.from({ length: 200 }, () => probe.next(BASE.maxChars));
  checkTokenizer([...sampleText, ...[add, rev].flatMap((s) => [...s.test, ...s.search].flatMap((it) => [it.prompt, it.answer, it.prompt + it.answer]))]);

  const nParams = tensorShapes(CONFIG).reduce((a, [, s]) => a + s.reduce((x, y) => x * y, 1), 0);
  console.log(`model: ${nParams} parameters, vocab ${CONFIG.vocab}; tokenizer round trip ok`);

  // 1. Base: its own slot only; the experts' o_proj / down_proj columns start and stay zero.
  checkSlots(CONFIG, Object.values(SLOTS));
  let base: Map<string, Float32Array>;
  if (REUSE_BASE) base = await readSafetensors(join(OUT, 'demo-base', 'model.safetensors'));
  else {
    const p = initParams(CONFIG, SEEDS.init);
    const gradMask = slotMasks(CONFIG, 'except', [SLOTS.add, SLOTS.rev]);
    for (const [name, m] of gradMask) (p.get(name) as tf.Variable).assign(tf.mul(p.get(name) as tf.Variable, m));
    base = await trainAndRead('base', p, { ...BASE, gradMask, batch: () => Array.from({ length: BASE.batch }, () => textExample(text.next(BASE.maxChars))) });
    tf.dispose([...gradMask.values()]);
  }

  // 2. Experts, each from the same base values, each in its own slot, distilled toward the base on replay.
  const expert = async (k: 'add' | 'rev', s: Splits, orderSeed: number, replaySeed: number): Promise<Map<string, Float32Array>> => {
    const e = EXPERT[k];
    const other = k === 'add' ? 'reversal' : 'addition';
    const replay = new PretrainText(replaySeed, [...PRETRAIN_MIX, [other, e.otherTask]], pools);
    const gradMask = slotMasks(CONFIG, 'own', [SLOTS[k]]);
    const teacher = paramsFrom(base, CONFIG);
    const values = await trainAndRead(k, paramsFrom(base, CONFIG), { ...e, gradMask, teacher, batch: expertSampler(s.train, orderSeed, replay, e) });
    disposeParams(teacher);
    tf.dispose([...gradMask.values()]);
    return values;
  };
  const experts: Record<'add' | 'rev', Map<string, Float32Array>> = {
    add: await expert('add', add, SEEDS.addOrder, SEEDS.addReplay),
    rev: await expert('rev', rev, SEEDS.revOrder, SEEDS.revReplay),
  };

  const deltas = deltaStats(base, experts.add, experts.rev, ['add', 'rev']);
  console.log(deltas);

  // 3. Accuracy table.
  const candidates: [string, Map<string, Float32Array>][] = [
    ['demo-base', base],
    ['demo-add', experts.add],
    ['demo-rev', experts.rev],
    ['task arithmetic, λ=1.0 (base + Δadd + Δrev)', mergeValues(base, [experts.add, experts.rev], 1.0)],
    ['task arithmetic, λ=0.5 (base + ½Δadd + ½Δrev)', mergeValues(base, [experts.add, experts.rev], 0.5)],
  ];
  const rows: string[] = [];
  for (const [name, values] of candidates) {
    const p = paramsFrom(values, CONFIG);
    const a = exactMatch(CONFIG, p, add.test).accuracy;
    const r = exactMatch(CONFIG, p, rev.test).accuracy;
    const as = exactMatch(CONFIG, p, add.search).accuracy;
    const rs = exactMatch(CONFIG, p, rev.search).accuracy;
    rows.push(`| ${name} | ${pct(a)} | ${pct(r)} | ${pct(as)} | ${pct(rs)} |`);
    if (name !== 'demo-base' && !name.startsWith('task')) showSamples(name, p, [add.test[0], add.test[1], rev.test[0], rev.test[1]]);
    disposeParams(p);
  }
  const table = [
    '| model | addition test | reversal test | addition search | reversal search |',
    '|---|---|---|---|---|',
    ...rows,
  ].join('\n');
  console.log(`\ngreedy exact match (${SPLIT_SIZES.test} test / ${SPLIT_SIZES.search} search items per task):\n${table}`);

  const wall = (performance.now() - t0) / 1000;
  console.log(`wall time ${wall.toFixed(0)} s`);
  if (DRY) return;

  // 4. Files.
  const hashes: string[] = [];
  let total = 0;
  for (const [name, values] of [['demo-base', base], ['demo-add', experts.add], ['demo-rev', experts.rev]] as const) {
    const w = await writeModel(join(OUT, name), CONFIG, values);
    hashes.push(`${w.sha256}  ${name}/model.safetensors`);
    total += w.bytes;
  }
  await mkdir(join(OUT, 'evals'), { recursive: true });
  for (const [task, s] of [['addition', add], ['reversal', rev]] as const) {
    for (const split of ['train', 'search', 'test'] as const) {
      const body = jsonl(s[split]);
      await writeFile(join(OUT, 'evals', `${task}.${split}.jsonl`), body);
      total += Buffer.byteLength(body);
      hashes.push(`${sha256(body)}  evals/${task}.${split}.jsonl`);
    }
  }
  const md = trainingMd(table, deltas, wall, nParams, hashes);
  await writeFile(join(OUT, 'TRAINING.md'), md);
  total += Buffer.byteLength(md);
  console.log(`\nSHA-256:\n${hashes.join('\n')}\nwritten: ${(total / 1024 / 1024).toFixed(2)} MiB in public/demo`);
  if (total > 10 * 1024 * 1024) throw new Error(`the demo files are ${total} bytes; keep them under 10 MB`);
}

async function trainAndRead(
  label: string,
  params: Params,
  o: Omit<TrainOptions, 'label' | 'logEvery'>,
): Promise<Map<string, Float32Array>> {
  console.log(`training ${label}: ${o.steps} steps, lr ${o.lr}`);
  await train(CONFIG, params, { ...o, label, logEvery: 100 });
  const values = await readParams(params);
  disposeParams(params);
  return values;
}

async function readSafetensors(path: string): Promise<Map<string, Float32Array>> {
  const bytes = new Uint8Array(await readFile(path));
  const header = await parseSafetensorsHeader(path, bytes.length, async (off, len) => bytes.subarray(off, off + len));
  const out = new Map<string, Float32Array>();
  for (const [name, shape] of tensorShapes(CONFIG)) {
    const e = header.tensors.find((t) => t.name === name);
    const n = shape.reduce((a, b) => a * b, 1);
    if (!e || e.dtype !== 'F32' || e.end - e.begin !== n * 4) throw new Error(`${path}: tensor ${name} is missing or not F32 [${shape}]`);
    out.set(name, new Float32Array(bytes.slice(header.dataStart + e.begin, header.dataStart + e.end).buffer));
  }
  return out;
}

function showSamples(name: string, p: Params, items: Item[]): void {
  for (const it of items) {
    const ids = greedy(CONFIG, p, [BOS_ID, ...encodeChars(it.prompt)], 12);
    const text = decodeIds(ids.filter((i) => i !== EOS_ID)) + (ids[ids.length - 1] === EOS_ID ? '</s>' : '…');
    console.log(`  ${name}: ${it.prompt}${text}   (expected ${it.answer})`);
  }
}

/** "key/value head 2" or "key/value heads 0–1": the key/value heads a slot's query heads use. */
function kvRange(s: Slot, c: LlamaConfig): string {
  const g = c.heads / c.kvHeads;
  const [a, b] = [s.heads[0] / g, s.heads[1] / g - 1];
  return a === b ? `key/value head ${a}` : `key/value heads ${a}–${b}`;
}

function trainingMd(table: string, deltas: string, wall: number, nParams: number, hashes: string[]): string {
  const c = CONFIG;
  const mixTotal = [...PRETRAIN_MIX, ...Object.entries(BASE.taskMix)].reduce((a, [, w]) => a + w, 0);
  return `# Demo models: how they were trained

Generated by \`npm run demo:train\` (scripts/demo-train.ts); rerunning it rewrites this file.

## Model (all three checkpoints)

LlamaForCausalLM, ${nParams} parameters, F32: hidden ${c.hidden}, ${c.layers} layers, ${c.heads} attention heads,
${c.kvHeads} key/value heads (head dim ${c.hidden / c.heads}), MLP ${c.intermediate} (SiLU-gated), RMSNorm eps ${c.eps},
rope theta ${c.ropeTheta}, max positions ${c.maxPositions}, untied lm_head. Character-level tokenizer, vocabulary
${c.vocab}: \`<pad>\`=0, \`<s>\`=1 (prepended), \`</s>\`=2, \`<unk>\`=3, then \`${VOCAB.slice(4).join('')}\`.

## Data

- Pretraining lines (loss on every token of \`<s> line </s>\`, lines ≤ ${BASE.maxChars} characters), drawn with weights
  ${[...PRETRAIN_MIX, ...Object.entries(BASE.taskMix)].map(([k, w]) => `${k} ${w}`).join(', ')}.
  \`add-1digit\` and \`rev-short\` are the task formats in trivial form (one-digit sums, reversals of ≤ ${BASE_REV_MAX}
  letters); \`addition\` and \`reversal\` are full task items (prompt + answer) drawn from the train splits, seen
  rarely (about ${Math.round(BASE.steps * BASE.batch * BASE.taskMix.addition / mixTotal)} and ${Math.round(BASE.steps * BASE.batch * BASE.taskMix.reversal / mixTotal)} times): too little for the base to learn
  the tasks, enough that the experts build on circuits the base already has. No search or test item is ever
  trained on.
- Addition: \`a+b=\` → the sum, operands of ${ADD_DIGITS[0]}–${ADD_DIGITS[1]} digits (no leading zeros).
- Reversal: \`rev:s=\` → \`s\` reversed, ${REV_LENGTHS[0]}–${REV_LENGTHS[1]} lowercase letters.
- Splits per task in \`evals/\`: train ${SPLIT_SIZES.train}, search ${SPLIT_SIZES.search} (evolution fitness),
  test ${SPLIT_SIZES.test} (held out); prompts are distinct across splits.
- Task sequences are \`<s> prompt answer </s>\` with loss on the answer and \`</s>\`; an item counts as correct
  when greedy decoding after the prompt gives exactly the answer, then \`</s>\`.

## Training (tfjs 4.22, wasm backend, single thread)

- Seeds: ${Object.entries(SEEDS).map(([k, v]) => `${k} ${v}`).join(', ')}. Initialisation: norms 1, embeddings
  N(0, 0.02²), linears N(0, 1/fan_in) with o_proj/down_proj scaled by 1/√(2·layers).
- Slots (scripts/demo-train/slots.ts): ${(['base', 'add', 'rev'] as const).map((k) => `demo-${k} trains query heads ${SLOTS[k].heads[0]}–${SLOTS[k].heads[1] - 1} (${kvRange(SLOTS[k], c)}) and MLP neurons ${SLOTS[k].neurons[0]}–${SLOTS[k].neurons[1] - 1}`).join('; ')}.
  The base also trains the embeddings, norms and lm_head; the experts' o_proj / down_proj columns are zero in
  the base (they add nothing to the residual stream) and the experts train nothing outside their slot, so the
  two task vectors touch disjoint parameters.
- Base: ${BASE.steps} steps × batch ${BASE.batch}, AdamW lr ${BASE.lr} (warmup ${BASE.warmup}, cosine to ${BASE.minLrFrac}×),
  weight decay ${BASE.weightDecay}, gradient clip 1.
${(['add', 'rev'] as const).map((k) => {
    const e = EXPERT[k];
    return `- demo-${k} (from the base): ${e.steps} steps × batch ${e.batch}; ${e.replay * 100}% of each batch is distilled toward the base (cross-entropy against its next-token distributions, weight ${e.distillWeight}) on lines of the pretraining mix without the expert's own task plus the other task (weight ${e.otherTask}), so its slot stays quiet outside its task; the rest are items of its train split in seeded epochs. AdamW lr ${e.lr} (warmup ${e.warmup}, cosine to ${e.minLrFrac}×), weight decay ${e.weightDecay}, gradient clip 1.`;
  }).join('\n')}
- Task vectors: ${deltas}.

## Accuracy (greedy exact match, computed by the training script's own tfjs forward pass)

${table}

The merges are plain task arithmetic over all tensors. Wall time: ${wall.toFixed(0)} s on the 2-core development machine${REUSE_BASE ? ' (experts only: the base was reused with --reuse-base)' : ''}.

Why slots: the previous demo fine-tuned every weight. Its experts were as accurate, but task
arithmetic at λ = 1 kept 12% / 30.5% (addition / reversal), and no variant that trained shared
weights (random disjoint halves of every weight, the base as teacher, frozen norms and embeddings,
gentler learning rates, more task data in the base) got the mean of both tasks clearly above the
better expert's (README, "Demo models"): the task vectors interfered through every shared head and
neuron. With disjoint slots and distillation they add instead.

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

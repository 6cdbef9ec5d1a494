// Batches, the training loop and greedy exact-match evaluation for the demo models.
import * as tf from '@tensorflow/tfjs';
import { BOS_ID, EOS_ID, PAD_ID, encodeChars } from './tokenizer';
import { forward, maskedCrossEntropy, maskedSoftCrossEntropy, probabilities, type LlamaConfig, type Params } from './model';
import { AdamW } from './optim';
import type { Item } from './data';

/** A token sequence and the index of the first token that carries loss (as a target). */
export interface Example {
  ids: number[];
  lossFrom: number;
  /** Match the teacher's next-token distributions here instead of the tokens (see TrainOptions.teacher). */
  distill?: boolean;
}

/** <s> prompt answer </s>, loss on the answer and </s> only. */
export function taskExample(it: Item, encode: (text: string) => number[] = encodeChars): Example {
  const prompt = [BOS_ID, ...encode(it.prompt)];
  return { ids: [...prompt, ...encode(it.answer), EOS_ID], lossFrom: prompt.length };
}

/** <s> text </s>, loss on every token after <s>. */
export function textExample(text: string, encode: (text: string) => number[] = encodeChars): Example {
  return { ids: [BOS_ID, ...encode(text), EOS_ID], lossFrom: 1 };
}

interface Batch {
  ids: tf.Tensor2D;
  targets: tf.Tensor1D;
  mask: tf.Tensor1D;
  /** Positions whose loss is the teacher's distribution (distill examples). */
  dmask: tf.Tensor1D;
  S: number;
}

/** Right-padded inputs (seq[0..n−2]) and targets (seq[1..n−1]); padding never carries loss. */
function makeBatch(examples: Example[]): Batch {
  const S = Math.max(...examples.map((e) => e.ids.length)) - 1;
  const B = examples.length;
  const ids = new Int32Array(B * S).fill(PAD_ID);
  const targets = new Int32Array(B * S).fill(PAD_ID);
  const mask = new Float32Array(B * S);
  const dmask = new Float32Array(B * S);
  examples.forEach((e, b) => {
    for (let t = 0; t < e.ids.length - 1; t++) {
      ids[b * S + t] = e.ids[t];
      targets[b * S + t] = e.ids[t + 1];
      if (t + 1 >= e.lossFrom) (e.distill ? dmask : mask)[b * S + t] = 1;
    }
  });
  return { ids: tf.tensor2d(ids, [B, S], 'int32'), targets: tf.tensor1d(targets, 'int32'), mask: tf.tensor1d(mask), dmask: tf.tensor1d(dmask), S };
}

export interface TrainOptions {
  steps: number;
  lr: number;
  warmup: number;
  /** Final learning rate as a fraction of `lr` (cosine decay). */
  minLrFrac: number;
  weightDecay: number;
  /** Called for each step; returns that step's batch (seeded by the caller). */
  batch: (step: number) => Example[];
  label: string;
  logEvery: number;
  /**
   * Per-tensor 0/1 masks (HF name → same shape): gradients are multiplied by them, so masked
   * entries keep their starting values exactly (AdamW's moments stay zero there; experts use no
   * weight decay). Tensors without a mask train freely.
   */
  gradMask?: Map<string, tf.Tensor>;
  /**
   * A frozen model whose next-token distributions the `distill` examples are trained to match
   * (cross-entropy against its softmax), weighted `distillWeight` against the task loss.
   */
  teacher?: Params;
  distillWeight?: number;
}

export async function train(c: LlamaConfig, params: Params, o: TrainOptions): Promise<{ finalLoss: number }> {
  const opt = new AdamW(params, { beta1: 0.9, beta2: 0.98, eps: 1e-8, weightDecay: o.weightDecay, clipNorm: 1 });
  const vars = [...params.values()];
  let ema = NaN;
  const t0 = performance.now();
  for (let step = 0; step < o.steps; step++) {
    const warm = Math.min(1, (step + 1) / o.warmup);
    const progress = Math.max(0, (step - o.warmup) / Math.max(1, o.steps - o.warmup));
    const lr = o.lr * warm * (o.minLrFrac + (1 - o.minLrFrac) * 0.5 * (1 + Math.cos(Math.PI * progress)));
    const b = makeBatch(o.batch(step));
    const soft = o.teacher ? tf.tidy(() => probabilities(forward(c, o.teacher as Params, b.ids))) : undefined;
    const { value, grads } = tf.variableGrads(() => {
      const logits = forward(c, params, b.ids);
      const hard = maskedCrossEntropy(logits, b.targets, b.mask);
      return soft ? tf.add(hard, tf.mul(maskedSoftCrossEntropy(logits, soft, b.dmask), o.distillWeight ?? 1)) : hard;
    }, vars);
    soft?.dispose();
    if (o.gradMask) {
      for (const [name, p] of params) {
        const m = o.gradMask.get(name);
        if (!m || !grads[p.name]) continue;
        const g = grads[p.name];
        grads[p.name] = tf.mul(g, m);
        g.dispose();
      }
    }
    const norm = opt.step(grads, lr);
    const loss = (await value.data())[0];
    tf.dispose([value, norm, b.ids, b.targets, b.mask, b.dmask]);
    tf.dispose(grads);
    ema = Number.isNaN(ema) ? loss : 0.95 * ema + 0.05 * loss;
    if ((step + 1) % o.logEvery === 0 || step === o.steps - 1) {
      const s = ((performance.now() - t0) / 1000).toFixed(0);
      console.log(`  [${o.label}] step ${step + 1}/${o.steps} loss ${ema.toFixed(4)} lr ${lr.toExponential(2)} ${s}s`);
    }
  }
  opt.dispose();
  return { finalLoss: ema };
}

/**
 * Greedy exact-match accuracy, computed teacher-forced in one forward pass per chunk: greedy
 * decoding emits exactly answer + </s> if and only if, along that very sequence, the argmax at
 * every answer position is the next answer token (and </s> after the last). Same argmax rule
 * (first maximum) as step-by-step decoding, so the two agree item for item.
 */
export function exactMatch(c: LlamaConfig, params: Params, items: Item[], chunk = 100, encode: (text: string) => number[] = encodeChars): { correct: boolean[]; accuracy: number } {
  const correct: boolean[] = [];
  for (let i = 0; i < items.length; i += chunk) {
    const exs = items.slice(i, i + chunk).map((it) => taskExample(it, encode));
    const b = makeBatch(exs);
    const [pred, tgt, mask] = tf.tidy(() => [tf.argMax(forward(c, params, b.ids), -1), b.targets, b.mask]).map((t) => t.dataSync());
    tf.dispose([b.ids, b.targets, b.mask, b.dmask]);
    exs.forEach((_, k) => {
      let ok = true;
      for (let t = 0; t < b.S; t++) {
        const j = k * b.S + t;
        if (mask[j] === 1 && pred[j] !== tgt[j]) ok = false;
      }
      correct.push(ok);
    });
  }
  return { correct, accuracy: correct.filter(Boolean).length / Math.max(1, correct.length) };
}

/** Step-by-step greedy decoding (no cache; the demo prompts are short). Stops at </s>. */
export function greedy(c: LlamaConfig, params: Params, promptIds: number[], maxNew: number): number[] {
  const seq = [...promptIds];
  const out: number[] = [];
  for (let n = 0; n < maxNew && seq.length < c.maxPositions; n++) {
    const next = tf.tidy(() => {
      const logits = forward(c, params, tf.tensor2d(seq, [1, seq.length], 'int32'));
      return tf.argMax(tf.slice(logits, [seq.length - 1, 0], [1, c.vocab]), -1).dataSync()[0];
    });
    out.push(next);
    if (next === EOS_ID) break;
    seq.push(next);
  }
  return out;
}

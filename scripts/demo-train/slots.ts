// Parameter slots for the demo models: which attention heads and MLP neurons each model may train.
//
// The base trains only its own heads and neurons; the other ones start with zero o_proj / down_proj
// columns that stay zero, so they add nothing to the residual stream. Each expert then trains only
// its own slot (query heads with their key/value heads, and MLP neurons) and nothing else, so the
// two task vectors touch disjoint parameters. That is what makes them mergeable at this scale
// (see TRAINING.md for the experiments that failed without it).
import * as tf from '@tensorflow/tfjs';
import { tensorShapes, type LlamaConfig } from './model';

export interface Slot {
  /** Query heads [from, to); their key/value heads are [from, to) / (heads / kvHeads). */
  heads: [number, number];
  /** MLP neurons (rows of gate/up, columns of down) [from, to). */
  neurons: [number, number];
}

/** Checks that the slots tile the heads and neurons without overlap and align with key/value groups. */
export function checkSlots(c: LlamaConfig, slots: Slot[]): void {
  const group = c.heads / c.kvHeads;
  const sorted = (k: 'heads' | 'neurons') => [...slots].sort((a, b) => a[k][0] - b[k][0]);
  for (const [k, total] of [['heads', c.heads], ['neurons', c.intermediate]] as const) {
    let at = 0;
    for (const s of sorted(k)) {
      if (s[k][0] !== at || s[k][1] <= s[k][0]) throw new Error(`slots: ${k} must tile [0, ${total}) without gaps or overlap`);
      at = s[k][1];
    }
    if (at !== total) throw new Error(`slots: ${k} cover [0, ${at}), not [0, ${total})`);
  }
  for (const s of slots) if (s.heads[0] % group || s.heads[1] % group) throw new Error(`slots: heads [${s.heads}] split a key/value group of ${group}`);
}

/**
 * 0/1 masks (HF name → tensor of the weight's shape). `own`: every weight, 1 on the slots'
 * parameters only. `except`: o_proj and down_proj only, 1 except on the columns of the given slots
 * (what the base trains; those columns stay zero and other weights train freely).
 */
export function slotMasks(c: LlamaConfig, mode: 'own' | 'except', slots: Slot[]): Map<string, tf.Tensor> {
  const hd = c.hidden / c.heads;
  const group = c.heads / c.kvHeads;
  const out = new Map<string, tf.Tensor>();
  for (const [name, shape] of tensorShapes(c)) {
    if (mode === 'except' && !name.endsWith('o_proj.weight') && !name.endsWith('down_proj.weight')) continue;
    const [R, C] = shape.length === 2 ? shape : [1, shape[0]];
    const m = new Float32Array(R * C).fill(mode === 'own' ? 0 : 1);
    const rows = (a: number, b: number, v: number): void => {
      m.fill(v, a * C, b * C);
    };
    const cols = (a: number, b: number, v: number): void => {
      for (let r = 0; r < R; r++) m.fill(v, r * C + a, r * C + b);
    };
    for (const s of slots) {
      const [h0, h1] = s.heads;
      const [n0, n1] = s.neurons;
      if (mode === 'own') {
        if (name.endsWith('q_proj.weight')) rows(h0 * hd, h1 * hd, 1);
        if (name.endsWith('k_proj.weight') || name.endsWith('v_proj.weight')) rows((h0 / group) * hd, (h1 / group) * hd, 1);
        if (name.endsWith('o_proj.weight')) cols(h0 * hd, h1 * hd, 1);
        if (name.endsWith('gate_proj.weight') || name.endsWith('up_proj.weight')) rows(n0, n1, 1);
        if (name.endsWith('down_proj.weight')) cols(n0, n1, 1);
      } else {
        if (name.endsWith('o_proj.weight')) cols(h0 * hd, h1 * hd, 0);
        if (name.endsWith('down_proj.weight')) cols(n0, n1, 0);
      }
    }
    out.set(name, tf.tensor(m, shape));
  }
  return out;
}

// mergekit nuslerp.py. Two models a, b (the non-base inputs in order), t = w_b / (w_a + w_b) (0.5 when
// |w_a + w_b| < 1e-6). With a third, base model: out = base + S(t, a − base, b − base) (task vectors
// rounded to f32 like the tensor subtraction); otherwise S(t, a, b). S works per vector:
//   nuslerp_flatten (default): the whole tensor; else nuslerp_row_wise: columns (the code transposes
//   dim 0 with the last, so the vectors run along dim 0); else rows along the last dimension.
//   û = v / max(‖v‖, 1e-7); θ = acos(clamp(û0·û1, −1, 1)); S = (sin((1−t)θ)·v0 + sin(tθ)·v1) / sin θ,
//   or (1−t)·v0 + t·v1 where |sin θ| < 1e-8.
// One input → unchanged. f64 arithmetic.

import { MethodError } from '../../errors';
import { boolParam, checkSizes, numParam, type RefEntry } from '../shared/reference/types';

/** The vectors of a tensor: element index = start + j·step, j < len, for each vector. */
function vectorsOf(shape: number[], n: number, flatten: boolean, rowWise: boolean): { count: number; len: number; start: (v: number) => number; step: number } {
  if (flatten || shape.length < 2) return { count: 1, len: n, start: () => 0, step: 1 };
  if (rowWise) {
    const cols = shape[0] > 0 ? n / shape[0] : 0;
    return { count: cols, len: shape[0], start: (v) => v, step: cols };
  }
  const L = shape[shape.length - 1];
  return { count: L > 0 ? n / L : 0, len: L, start: (v) => v * L, step: 1 };
}

export function nuslerpMerge(entry: RefEntry): Float32Array {
  const n = checkSizes(entry);
  if (entry.inputs.length === 1) return Float32Array.from(entry.inputs[0].data);
  const base = entry.inputs.find((x) => x.isBase);
  const others = entry.inputs.filter((x) => !x.isBase);
  if (others.length !== 2)
    throw new MethodError(`Tensor "${entry.name}": nuslerp needs exactly two models besides the optional base, got ${others.length}`, { tensor: entry.name });
  const wa = numParam(entry, others[0].params, 'weight', undefined, 'model input 0');
  const wb = numParam(entry, others[1].params, 'weight', undefined, 'model input 1');
  const sum = wa + wb;
  const t = Math.abs(sum) < 1e-6 ? 0.5 : wb / sum;
  const flatten = boolParam(entry, entry.params, 'nuslerp_flatten', true);
  const rowWise = boolParam(entry, entry.params, 'nuslerp_row_wise', false);

  const sub = (x: Float32Array): Float32Array => {
    if (!base) return x;
    const d = new Float32Array(n);
    for (let i = 0; i < n; i++) d[i] = x[i] - base.data[i];
    return d;
  };
  const v0 = sub(others[0].data);
  const v1 = sub(others[1].data);
  const out = new Float32Array(n);
  const vs = vectorsOf(entry.shape, n, flatten, rowWise);
  for (let v = 0; v < vs.count; v++) {
    const s0 = vs.start(v);
    let aa = 0;
    let bb = 0;
    let ab = 0;
    for (let j = 0, i = s0; j < vs.len; j++, i += vs.step) {
      aa += v0[i] * v0[i];
      bb += v1[i] * v1[i];
      ab += v0[i] * v1[i];
    }
    const dot = ab / (Math.max(Math.sqrt(aa), 1e-7) * Math.max(Math.sqrt(bb), 1e-7));
    const theta = Math.acos(Math.min(1, Math.max(-1, dot)));
    const sin = Math.sin(theta);
    const lerp = Math.abs(sin) < 1e-8;
    const k0 = lerp ? 1 - t : Math.sin((1 - t) * theta) / sin;
    const k1 = lerp ? t : Math.sin(t * theta) / sin;
    for (let j = 0, i = s0; j < vs.len; j++, i += vs.step) out[i] = (base ? base.data[i] : 0) + k0 * v0[i] + k1 * v1[i];
  }
  return out;
}

/** The CPU twin of this folder's spec (methods/reference.ts). */
export function reference(): (entry: RefEntry) => Float32Array {
  return nuslerpMerge;
}

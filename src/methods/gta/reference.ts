// Generalized task arithmetic (mergekit generalized_task_arithmetic.py): task_arithmetic, ties,
// breadcrumbs, breadcrumbs_ties, dare_ties, dare_linear, della, della_linear (the specs of ./spec.ts).
// δ in f32 (fround(x − base)); the sign election in f32; the rest in f64.

import { MethodError } from '../../errors';
import { checkDella, specs } from './spec';
import { magnitude, magnitudeOutliers } from '../shared/reference/sparsify';
import { dareSparsify, dellaSparsify } from '../shared/reference/random-sparsify';
import { taskVector } from '../shared/reference/topk';
import { boolParam, checkSizes, numParam, specDefault, splitBase, type RefEntry } from '../shared/reference/types';

export function gtaMerge(entry: RefEntry): Float32Array {
  const spec = specs.find((x) => x.name === entry.method);
  if (!spec) throw new MethodError(`no CPU reference for GTA method "${entry.method}"`, { tensor: entry.name });
  const v = spec.gta;
  const n = checkSizes(entry);
  const { base, others } = splitBase(entry);
  if (others.length === 0) return Float32Array.from(base.data);

  const normalize = boolParam(entry, entry.params, 'normalize', v.normalize);
  const rescale = boolParam(entry, entry.params, 'rescale', v.rescale);
  const lambda = numParam(entry, entry.params, 'lambda', 1.0);
  const densityDefault = specDefault<number>(spec.params, 'density') ?? 1.0;
  const gammaDefault = specDefault<number>(spec.params, 'gamma') ?? 0.01;

  const weights: number[] = [];
  const deltas: Float64Array[] = [];
  others.forEach((inp, m) => {
    const who = `model input ${m}`;
    weights.push(numParam(entry, inp.params, 'weight', undefined, who));
    const delta = taskVector(inp.data, base.data);
    if (v.sparsifier === 'magnitude') {
      deltas.push(magnitude(delta, numParam(entry, inp.params, 'density', densityDefault, who), rescale, entry.name));
    } else if (v.sparsifier === 'magnitude_outliers') {
      const density = numParam(entry, inp.params, 'density', densityDefault, who);
      const gamma = numParam(entry, inp.params, 'gamma', gammaDefault, who);
      deltas.push(magnitudeOutliers(delta, density, gamma, rescale));
    } else if (v.sparsifier === 'random' || v.sparsifier === 'della_magprune') {
      // random masks: element e of the tensor draws rand(seed, stream = the input's index, e)
      const seed = entry.seed;
      if (seed === undefined) throw new MethodError(`Tensor "${entry.name}": ${entry.method} is random and needs the entry's seed`, { tensor: entry.name });
      const stream = entry.inputs.indexOf(inp);
      const density = numParam(entry, inp.params, 'density', densityDefault, who);
      if (v.sparsifier === 'random') {
        const inverse = boolParam(entry, entry.params, 'rescale_inverse_density', false);
        deltas.push(dareSparsify(delta, density, rescale, inverse, seed, stream));
      } else {
        const epsilon = numParam(entry, inp.params, 'epsilon', specDefault<number>(spec.params, 'epsilon') ?? 0.15, who);
        checkDella(entry.method, density, epsilon);
        const rowLen = entry.shape.length ? entry.shape[entry.shape.length - 1] : 1;
        deltas.push(dellaSparsify(delta, rowLen, density, epsilon, rescale, seed, stream));
      }
    } else if (v.sparsifier === undefined) {
      deltas.push(Float64Array.from(delta));
    } else {
      throw new MethodError(`no CPU reference for sparsifier "${v.sparsifier}"`, { tensor: entry.name });
    }
  });

  const M = deltas.length;
  const out = new Float32Array(n);
  const b = base.data;
  if (v.consensus) {
    // The sign election is a decision: it is computed in f32, model by model, as mergekit does with
    // dtype float32 (and as the GPU does), so that exact cancellations elect the same sign.
    const f = Math.fround;
    const w32 = weights.map(f);
    for (let i = 0; i < n; i++) {
      let s = 0;
      for (let m = 0; m < M; m++) s = f(s + f(f(deltas[m][i]) * w32[m]));
      const maj = s >= 0 ? 1 : -1; // a sum of exactly 0 elects +
      let mixed = 0;
      let div = 0;
      for (let m = 0; m < M; m++) {
        const wd = f(f(deltas[m][i]) * w32[m]);
        if (Math.sign(wd) === maj) {
          // sign(0) = 0 never matches: zeros are never counted
          mixed += wd;
          div += weights[m];
        }
      }
      if (div === 0) div = 1;
      if (normalize) mixed /= div;
      if (lambda !== 1) mixed *= lambda;
      out[i] = b[i] + mixed;
    }
  } else {
    let div = 0;
    for (const w of weights) div += w;
    if (Math.abs(div) < 1e-8) div = 1;
    for (let i = 0; i < n; i++) {
      let mixed = 0;
      for (let m = 0; m < M; m++) mixed += deltas[m][i] * weights[m];
      if (normalize) mixed /= div;
      if (lambda !== 1) mixed *= lambda;
      out[i] = b[i] + mixed;
    }
  }
  return out;
}

/** The CPU twin of each of this folder's specs (methods/reference.ts). */
export function reference(): (entry: RefEntry) => Float32Array {
  return gtaMerge;
}

// Data-flow-space genome (Akiba et al. DFS, papers.md §1.2): the weights stay as they are and only
// the inference path through two models' layers is evolved.
//
// Layout: A's layers then B's, M = layersA + layersB physical layers, repeated r times: T = M·r
// slots, slot t uses physical layer t mod M. Genes:
//   x[0 .. T)            indicator: slot t is on the path iff x[t] > DFS_THRESHOLD (0.5);
//   x[T .. T + M²)       (only with `scales`) the scale matrix W, row-major: gene T + i·M + j scales
//                        the input of physical layer j when it follows physical layer i.
// Decisions:
//  - Indicator threshold. Akiba uses I_t > 0 with an unbounded CMA-ES; our CMA-ES works in the
//    [0, 1] box, so "I_t > 0" becomes "gene > 0.5" (the box middle plays the role of 0).
//  - Initialisation as the paper: the slots of A's first repetition at 0 + 2σ0 (here 0.5 + 2σ0,
//    so A's own path is on at the start), every other slot at the threshold (the paper's 0, i.e. a
//    coin flip under the first samples); scales start at 1 (W = 1, the natural reading).
//  - W is the full M×M matrix indexed by (previous physical layer, next physical layer), applied at
//    every transition, natural i → i+1 ones included (§6 q7); M² genes are fine for tiny models. The
//    first hop follows the embeddings, not a layer, so its scale is 1.
//  - A scale gene g decodes to g·scaleMax (default scaleMax 2, so the start 0.5 is scale 1).
//  - Scale placement (§6 q6): the scale multiplies the FULL hidden state (the residual stream)
//    entering the hop, before the block (Hugging Face semantics), not only the block's delta.
//  - Embeddings, the final norm and lm_head are model A's (as the paper; A may be a PS merge: PS+DFS).
//  - An empty path (no indicator on) falls back to A's own layers 0 … layersA−1 with scale 1, and the
//    decoded path says so (`fallback: true`), so a candidate is always a runnable model.
// Export: every scale 1 → a mergekit passthrough recipe with slices; else the hop-list document
// below (format merge-studio/layer-path@1), which mergekit cannot express.

import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { ModelError, OptimizerError, RecipeError, UnsupportedError } from '../errors';
import type { Recipe, SliceSource } from '../recipe/types';

export interface DfsSpace {
  /** Model A (a model reference, or a recipe label for PS+DFS). Supplies embeddings, final norm, lm_head. */
  modelA: string;
  modelB: string;
  layersA: number;
  layersB: number;
  /** r: how many times the layer sequence A‖B is repeated. */
  repeats: number;
  /** Evolve the per-transition input scales W (M² genes). */
  scales: boolean;
  /** Largest scale (default 2). */
  scaleMax?: number;
}

export interface DfsHop {
  model: 'a' | 'b';
  /** Layer index inside its model. */
  layer: number;
  /** Multiplies the hidden state entering this hop (see DFS_SCALE_SEMANTICS). */
  scale: number;
}

export interface DfsPath {
  hops: DfsHop[];
  /** True when no slot was on and A's own path was substituted. */
  fallback: boolean;
}

export const DFS_THRESHOLD = 0.5;
export const DFS_FORMAT = 'merge-studio/layer-path@1';
export const DFS_SCALE_SEMANTICS = 'the scale multiplies the full hidden state (residual stream) entering the hop, before the block';
export const DFS_EMBEDDINGS = 'model_a';

const round6 = (v: number): number => Math.round(v * 1e6) / 1e6;

/** Physical layers M. */
export function dfsLayers(space: DfsSpace): number {
  return space.layersA + space.layersB;
}

/** Indicator slots T = M·r. */
export function dfsSlots(space: DfsSpace): number {
  return dfsLayers(space) * space.repeats;
}

export function dfsDimension(space: DfsSpace): number {
  checkShape(space);
  const M = dfsLayers(space);
  return dfsSlots(space) + (space.scales ? M * M : 0);
}

function checkShape(space: DfsSpace): void {
  for (const k of ['layersA', 'layersB', 'repeats'] as const) {
    const v = space[k];
    if (!Number.isInteger(v) || v < 1) throw new RecipeError(`layer-path search: ${k} must be a positive integer, got ${v}`, { key: k });
  }
  if (!space.modelA || !space.modelB) throw new RecipeError('layer-path search: both model A and model B must be given', { key: space.modelA ? 'modelB' : 'modelA' });
  const s = space.scaleMax ?? 2;
  if (!(Number.isFinite(s) && s > 0)) throw new RecipeError(`layer-path search: scaleMax must be a positive number, got ${s}`, { key: 'scaleMax' });
}

/**
 * Checks everything that can be known before any evaluation: the space's shape, that the two
 * models can feed each other (equal hidden sizes) and that the evaluation budget is positive.
 */
export function validateDfsSpace(space: DfsSpace, check: { hiddenA?: number; hiddenB?: number; budget?: number } = {}): void {
  checkShape(space);
  const { hiddenA, hiddenB, budget } = check;
  if (hiddenA !== undefined && hiddenB !== undefined && hiddenA !== hiddenB)
    throw new ModelError(
      `models ${space.modelA} (hidden size ${hiddenA}) and ${space.modelB} (hidden size ${hiddenB}) cannot form a layer path: ` +
        'a layer of one model cannot read the hidden state of the other; pick two models with the same hidden size',
      { model: space.modelB, key: 'hidden_size' },
    );
  if (budget !== undefined && !(Number.isInteger(budget) && budget > 0))
    throw new OptimizerError(`the evaluation budget must be a positive whole number of evaluations, got ${budget}`, { key: 'budget' });
}

function slotLabel(space: DfsSpace, t: number): string {
  const M = dfsLayers(space);
  const l = t % M;
  const rep = Math.floor(t / M) + 1;
  return l < space.layersA ? `slot ${t} · A layer ${l} · repeat ${rep}` : `slot ${t} · B layer ${l - space.layersA} · repeat ${rep}`;
}

function physLabel(space: DfsSpace, l: number): string {
  return l < space.layersA ? `A${l}` : `B${l - space.layersA}`;
}

export function dfsGeneNames(space: DfsSpace): string[] {
  const T = dfsSlots(space);
  const M = dfsLayers(space);
  const names = Array.from({ length: T }, (_, t) => slotLabel(space, t));
  if (space.scales) for (let i = 0; i < M; i++) for (let j = 0; j < M; j++) names.push(`scale ${physLabel(space, i)} → ${physLabel(space, j)}`);
  if (names.length !== dfsDimension(space)) throw new Error('dfsGeneNames: internal size mismatch');
  return names;
}

export function dfsBounds(space: DfsSpace): { lower: number[]; upper: number[] } {
  const n = dfsDimension(space);
  return { lower: new Array<number>(n).fill(0), upper: new Array<number>(n).fill(1) };
}

/** The paper's start: A's first repetition on (threshold + 2σ0), other slots at the threshold, scales 1. */
export function dfsInitialMean(space: DfsSpace, sigma0 = 1 / 6): number[] {
  const x = new Array<number>(dfsDimension(space)).fill(DFS_THRESHOLD);
  for (let t = 0; t < space.layersA; t++) x[t] = Math.min(1, DFS_THRESHOLD + 2 * sigma0);
  const T = dfsSlots(space);
  const one = 1 / (space.scaleMax ?? 2);
  if (space.scales) for (let i = T; i < x.length; i++) x[i] = Math.min(1, one);
  return x;
}

/** A's own layers in order, unscaled. */
export function dfsOwnPath(space: DfsSpace): DfsHop[] {
  return Array.from({ length: space.layersA }, (_, l) => ({ model: 'a' as const, layer: l, scale: 1 }));
}

export function decodeDfs(space: DfsSpace, x: readonly number[]): DfsPath {
  const n = dfsDimension(space);
  if (x.length !== n) throw new RecipeError(`the layer-path genome has ${x.length} genes but this space has ${n}`, { key: 'genome' });
  const M = dfsLayers(space);
  const T = dfsSlots(space);
  const sMax = space.scaleMax ?? 2;
  const hops: DfsHop[] = [];
  let prev = -1;
  for (let t = 0; t < T; t++) {
    if (!(x[t] > DFS_THRESHOLD)) continue;
    const l = t % M;
    let scale = 1;
    if (space.scales && prev >= 0) {
      const g = x[T + prev * M + l];
      scale = round6((g > 1 ? 1 : g >= 0 ? g : 0) * sMax);
    }
    hops.push(l < space.layersA ? { model: 'a', layer: l, scale } : { model: 'b', layer: l - space.layersA, scale });
    prev = l;
  }
  if (hops.length === 0) return { hops: dfsOwnPath(space), fallback: true };
  return { hops, fallback: false };
}

export function dfsIsUnscaled(path: DfsPath | DfsHop[]): boolean {
  const hops = Array.isArray(path) ? path : path.hops;
  return hops.every((h) => h.scale === 1);
}

function checkHops(space: DfsSpace, hops: DfsHop[]): void {
  if (hops.length === 0) throw new RecipeError('the layer path has no hops', { key: 'hops' });
  hops.forEach((h, i) => {
    const n = h.model === 'a' ? space.layersA : h.model === 'b' ? space.layersB : -1;
    if (n < 0) throw new RecipeError(`hops[${i}].model must be "a" or "b", got ${JSON.stringify(h.model)}`, { key: `hops[${i}].model` });
    if (!Number.isInteger(h.layer) || h.layer < 0 || h.layer >= n)
      throw new RecipeError(`hops[${i}].layer ${h.layer} is outside model ${h.model.toUpperCase()}'s ${n} layers`, { key: `hops[${i}].layer` });
    if (!Number.isFinite(h.scale)) throw new RecipeError(`hops[${i}].scale must be a finite number, got ${h.scale}`, { key: `hops[${i}].scale` });
  });
}

/**
 * A mergekit passthrough recipe for an unscaled path: each run of consecutive layers of one model is
 * one slice. mergekit takes the embeddings from the first slice's model and the final norm / lm_head
 * from the last slice's, so when the path starts (ends) in B an empty A slice (layer_range [0, 0])
 * is put first (last): it adds no layer and makes A supply them, as the path semantics require.
 */
export function dfsToRecipe(space: DfsSpace, path: DfsPath | DfsHop[]): Recipe {
  const hops = Array.isArray(path) ? path : path.hops;
  checkHops(space, hops);
  const scaled = hops.findIndex((h) => h.scale !== 1);
  if (scaled >= 0)
    throw new UnsupportedError(
      `hop ${scaled} has input scale ${hops[scaled].scale}; mergekit passthrough slices cannot scale a hop's input hidden state. Export the path as a hop list (dfsToHopList) instead`,
      { key: `hops[${scaled}].scale` },
    );
  const ref = (m: 'a' | 'b'): string => (m === 'a' ? space.modelA : space.modelB);
  const slices: { sources: SliceSource[] }[] = [];
  let i = 0;
  if (hops[0].model === 'b') slices.push({ sources: [{ model: space.modelA, layer_range: [0, 0] }] });
  while (i < hops.length) {
    let j = i + 1;
    while (j < hops.length && hops[j].model === hops[i].model && hops[j].layer === hops[j - 1].layer + 1) j++;
    slices.push({ sources: [{ model: ref(hops[i].model), layer_range: [hops[i].layer, hops[j - 1].layer + 1] }] });
    i = j;
  }
  if (hops[hops.length - 1].model === 'b') slices.push({ sources: [{ model: space.modelA, layer_range: [0, 0] }] });
  return { merge_method: 'passthrough', slices };
}

/** The hop-list document (merge-studio/layer-path@1): what a scaled path exports to. */
export interface DfsHopList {
  format: typeof DFS_FORMAT;
  model_a: string;
  model_b: string;
  /** Embeddings, final norm and lm_head come from model_a. */
  embeddings_and_head: typeof DFS_EMBEDDINGS;
  hops: DfsHop[];
  scale_semantics: typeof DFS_SCALE_SEMANTICS;
}

export function dfsToHopList(space: DfsSpace, path: DfsPath | DfsHop[]): DfsHopList {
  const hops = Array.isArray(path) ? path : path.hops;
  checkHops(space, hops);
  return {
    format: DFS_FORMAT,
    model_a: space.modelA,
    model_b: space.modelB,
    embeddings_and_head: DFS_EMBEDDINGS,
    hops: hops.map((h) => ({ model: h.model, layer: h.layer, scale: h.scale })),
    scale_semantics: DFS_SCALE_SEMANTICS,
  };
}

/** YAML text of a hop list (one flow mapping per hop). */
export function hopListToYaml(doc: DfsHopList): string {
  const body = stringifyYaml({ ...doc, hops: [] }, { lineWidth: 0 }).replace(/^hops: \[\]\n/m, '');
  const hops = doc.hops.map((h) => `  - { model: ${h.model}, layer: ${h.layer}, scale: ${h.scale} }`).join('\n');
  return `# Layer path found by data-flow-space evolution (Akiba et al. DFS). Not a mergekit config:\n# ${DFS_SCALE_SEMANTICS}.\n${body}hops:\n${hops}\n`;
}

/** Parses a hop list from YAML or JSON text; RecipeError naming the field on anything unexpected. */
export function parseHopList(text: string, fileName = 'layer-path.yml'): DfsHopList {
  let raw: unknown;
  try {
    raw = parseYaml(text);
  } catch (e) {
    throw new RecipeError(`${fileName} is not valid YAML/JSON: ${e instanceof Error ? e.message.split('\n')[0] : String(e)}`, { file: fileName });
  }
  const fail = (msg: string, key?: string): never => {
    throw new RecipeError(`${fileName}: ${msg}`, { file: fileName, key });
  };
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) fail('expected a mapping with format, model_a, model_b, hops');
  const o = raw as Record<string, unknown>;
  const known = ['format', 'model_a', 'model_b', 'embeddings_and_head', 'hops', 'scale_semantics'];
  for (const k of Object.keys(o)) if (!known.includes(k)) fail(`unknown key "${k}" (expected ${known.join(', ')})`, k);
  if (o.format !== DFS_FORMAT) fail(`format must be "${DFS_FORMAT}", got ${JSON.stringify(o.format)}`, 'format');
  for (const k of ['model_a', 'model_b'] as const) if (typeof o[k] !== 'string' || o[k] === '') fail(`${k} must be a model reference`, k);
  if (o.embeddings_and_head !== undefined && o.embeddings_and_head !== DFS_EMBEDDINGS)
    fail(`embeddings_and_head must be "${DFS_EMBEDDINGS}" (the only supported choice), got ${JSON.stringify(o.embeddings_and_head)}`, 'embeddings_and_head');
  if (o.scale_semantics !== undefined && o.scale_semantics !== DFS_SCALE_SEMANTICS)
    fail(`scale_semantics must be "${DFS_SCALE_SEMANTICS}" (the only supported placement), got ${JSON.stringify(o.scale_semantics)}`, 'scale_semantics');
  if (!Array.isArray(o.hops) || o.hops.length === 0) fail('hops must be a non-empty list of {model, layer, scale}', 'hops');
  const hops = (o.hops as unknown[]).map((h, i): DfsHop => {
    if (!h || typeof h !== 'object' || Array.isArray(h)) fail(`hops[${i}] must be a mapping {model, layer, scale}`, `hops[${i}]`);
    const e = h as Record<string, unknown>;
    for (const k of Object.keys(e)) if (!['model', 'layer', 'scale'].includes(k)) fail(`hops[${i}] has an unknown key "${k}"`, `hops[${i}].${k}`);
    if (e.model !== 'a' && e.model !== 'b') fail(`hops[${i}].model must be a or b, got ${JSON.stringify(e.model)}`, `hops[${i}].model`);
    if (typeof e.layer !== 'number' || !Number.isInteger(e.layer) || e.layer < 0) fail(`hops[${i}].layer must be a layer index (integer ≥ 0)`, `hops[${i}].layer`);
    const scale = e.scale === undefined ? 1 : e.scale;
    if (typeof scale !== 'number' || !Number.isFinite(scale)) fail(`hops[${i}].scale must be a finite number`, `hops[${i}].scale`);
    return { model: e.model as 'a' | 'b', layer: e.layer as number, scale: scale as number };
  });
  return {
    format: DFS_FORMAT,
    model_a: o.model_a as string,
    model_b: o.model_b as string,
    embeddings_and_head: DFS_EMBEDDINGS,
    hops,
    scale_semantics: DFS_SCALE_SEMANTICS,
  };
}

/** The physical layers the evaluator must hold (each once) and, per hop, its pool index and scale. */
export interface DfsPool {
  pool: { model: 'a' | 'b'; layer: number }[];
  hops: { layer: number; scale: number }[];
}

export function dfsPool(path: DfsPath | DfsHop[]): DfsPool {
  const hops = Array.isArray(path) ? path : path.hops;
  const pool: DfsPool['pool'] = [];
  const index = new Map<string, number>();
  const out: DfsPool['hops'] = hops.map((h) => {
    const key = `${h.model}:${h.layer}`;
    let i = index.get(key);
    if (i === undefined) {
      i = pool.length;
      pool.push({ model: h.model, layer: h.layer });
      index.set(key, i);
    }
    return { layer: i, scale: h.scale };
  });
  return { pool, hops: out };
}

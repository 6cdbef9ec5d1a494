// Export a parameter-space search as a mergekit-evolve configuration (mergekit docs/evolve.md), for
// users who move the search to a GPU cluster. What mergekit-evolve cannot express is stated in YAML
// comments rather than silently dropped.
//
// mergekit-evolve's genome keys: models, merge_method (linear, task_arithmetic, ties, dare_ties,
// slerp), base_model, tokenizer_source, layer_granularity (layers per group; 0 = one group; must
// divide the layer count), normalize, allow_negative_weights, smooth, filters. tasks: lm-eval tasks
// with weight and metric. Its decoding differs from ours in ways the comments spell out: genes are
// unbounded (weight = |x|, density = clamp(|x|, 0, 1)), the start is weight 1/n_models and density
// 1, normalize defaults to true for ties/dare_ties/linear, and every merge is written with
// int8_mask, dtype bfloat16 and random seed 0.

import { Document } from 'yaml';
import { UnsupportedError } from '../errors';
import { getMethod, METHODS } from '../methods/specs';
import { psGroupRanges, validatePsSpace, type PsSpace } from './genome-ps';

/** The searchable methods mergekit-evolve also searches (spec.evolve.mergekitEvolve). */
export const MERGEKIT_EVOLVE_METHODS: readonly string[] = METHODS.filter((m) => m.evolve?.mergekitEvolve).map((m) => m.name);

export interface MergekitEvolveTask {
  /** lm-eval task name. */
  name: string;
  weight?: number;
  /** Default "acc,none". */
  metric?: string;
}

export interface MergekitEvolveExtras {
  tokenizerSource?: string;
  limit?: number;
  numFewshot?: number;
  /** CLI suggestions written as a comment (mergekit-evolve takes them as flags, not config keys). */
  maxFevals?: number;
  sigma0?: number;
  populationSize?: number;
  /** What else the studio's search used that mergekit-evolve lacks (e.g. "DFS layer path", "SAE"). */
  notExpressible?: string[];
}

/** A mergekit-evolve YAML config for the search space; UnsupportedError for methods it lacks. */
export function psToMergekitEvolveYaml(space: PsSpace, tasks: MergekitEvolveTask[], extras: MergekitEvolveExtras = {}): string {
  validatePsSpace(space);
  if (!MERGEKIT_EVOLVE_METHODS.includes(space.method))
    throw new UnsupportedError(
      `mergekit-evolve cannot search ${space.method} merges (it supports ${MERGEKIT_EVOLVE_METHODS.join(', ')} and slerp); export the best recipe as mergekit YAML instead`,
      { key: 'merge_method' },
    );
  if (tasks.length === 0) throw new UnsupportedError('mergekit-evolve needs at least one lm-eval task to score merges', { key: 'tasks' });
  const L = space.numLayers;
  const G = space.layerGroups;
  if (L % G !== 0) {
    const r = psGroupRanges(space).map(([a, b]) => `${a}–${b - 1}`);
    throw new UnsupportedError(
      `mergekit-evolve needs layer groups of equal size (layer_granularity must divide the ${L} layers); this search has ${G} groups (${r.join(', ')}). Pick a group count that divides ${L}`,
      { key: 'layerGroups' },
    );
  }

  const spec = getMethod(space.method);
  const normalizeDefault = spec.params.find((p) => p.name === 'normalize')?.default;
  const normalize = space.normalize ?? (typeof space.fixed?.normalize === 'boolean' ? space.fixed.normalize : normalizeDefault);

  const genome: Record<string, unknown> = { models: [...space.models], merge_method: space.method };
  if (space.base !== undefined) genome.base_model = space.base;
  if (extras.tokenizerSource !== undefined) genome.tokenizer_source = extras.tokenizerSource;
  genome.layer_granularity = G === 1 ? 0 : L / G;
  // Always explicit: mergekit-evolve's own default (true for dare_ties) differs from the method's.
  if (typeof normalize === 'boolean') genome.normalize = normalize;
  genome.allow_negative_weights = false;
  genome.smooth = false;
  if (space.filters && space.filters.length > 0) genome.filters = [...space.filters];

  const out: Record<string, unknown> = {
    genome,
    tasks: tasks.map((t) => {
      const e: Record<string, unknown> = { name: t.name, weight: t.weight ?? 1.0 };
      e.metric = t.metric ?? 'acc,none';
      return e;
    }),
  };
  if (extras.limit !== undefined) out.limit = extras.limit;
  if (extras.numFewshot !== undefined) out.num_fewshot = extras.numFewshot;

  const notes: string[] = [
    'Exported by merge studio from its parameter-space (PS) search. Differences to keep in mind:',
    `- merge studio bounds genes to [0, 1] (weights scaled to [0, ${space.weightMax ?? 1}], start 0.5, sigma0 1/6);`,
    '  mergekit-evolve uses unbounded genes (weight = |x|, density = clamp(|x|, 0, 1)) starting at weight 1/n_models, density 1.',
  ];
  const fixed = Object.entries(space.fixed ?? {}).filter(([k]) => k !== 'normalize');
  if (fixed.length > 0)
    notes.push(`- fixed parameters not expressible here (mergekit-evolve writes only normalize and int8_mask): ${fixed.map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(', ')}.`);
  if ((space.densityMin ?? 0) > 0) notes.push(`- merge studio kept every density ≥ ${space.densityMin}; mergekit-evolve allows down to 0.`);
  if (space.seedForRandom !== undefined && spec.random) notes.push(`- merge studio merged with random_seed ${space.seedForRandom}; mergekit-evolve merges with seed 0.`);
  if (G > 1 || (space.filters?.length ?? 0) > 0)
    notes.push('- layer groups and filters map one to one (embeddings take the first group\'s "rest" genes, final norm and lm_head the last group\'s).');
  for (const n of extras.notExpressible ?? []) notes.push(`- not expressible in mergekit-evolve: ${n}.`);
  notes.push('- data-flow-space (layer path) search and sparsity-aware evolution have no mergekit-evolve equivalent.');
  const cli = ['mergekit-evolve --storage-path ./evol'];
  if (extras.maxFevals !== undefined) cli.push(`--max-fevals ${extras.maxFevals}`);
  if (extras.sigma0 !== undefined) cli.push(`--sigma0 ${extras.sigma0}`);
  if (extras.populationSize !== undefined) cli.push(`--force-population-size ${extras.populationSize}`);
  cli.push('config.yml');
  notes.push(`Run: ${cli.join(' ')}`);

  const doc = new Document(out);
  doc.commentBefore = notes.map((l) => ` ${l}`).join('\n');
  return doc.toString({ lineWidth: 0 });
}

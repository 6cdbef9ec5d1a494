// What a list of evolved candidates says, honestly: which of them are different recipes (equal
// genomes — after the clamp to [0, 1] and the decoding's rounding, at the precision the table
// shows — are one recipe, listed once), which genes tell them apart, and how noisy a fitness
// measured on a few items per set is (a 95 % interval).
import { decodeDfs, type DfsHop, type DfsSpace } from './genome-dfs';
import { psDecodeGene, psGenes, type PsSpace } from './genome-ps';

/** What decoding a genome needs from a run's configuration (an EvolveConfig is one). */
export interface GenomeSpace {
  kind: 'ps' | 'dfs' | 'sae';
  ps?: PsSpace;
  dfs?: DfsSpace;
}

/** Decimals at which two decoded genes count as equal (what the candidates table shows). */
export const GENE_DECIMALS = 2;

/** One gene of a candidate as the table shows it. */
export interface GeneValue {
  /** The gene's full name ("lang-math · layers 0–1 · weight"). */
  label: string;
  /** A compact name for narrow tables ("lang-math L0–1 w"). */
  short: string;
  value: string;
}

/** Every gene of a genome, decoded and formatted (PS / SAE: weights and densities; DFS: the path). */
export function decodedGenes(c: GenomeSpace, genome: readonly number[]): GeneValue[] {
  if ((c.kind === 'ps' || c.kind === 'sae') && c.ps) {
    const space = c.ps;
    const groups = space.layerGroups > 1;
    return psGenes(space).map((g) => ({
      label: g.label,
      short: [g.model, groups ? `L${g.layers[0]}${g.layers[1] - g.layers[0] > 1 ? `–${g.layers[1] - 1}` : ''}` : '', g.filter ?? '', g.param === 'weight' ? 'w' : g.param === 'density' ? 'd' : g.param].filter(Boolean).join(' '),
      value: psDecodeGene(space, g.param, genome[g.index]).toFixed(GENE_DECIMALS),
    }));
  }
  if (c.kind === 'dfs' && c.dfs) return [{ label: 'path', short: 'path', value: hopsText(decodeDfs(c.dfs, genome).hops) }];
  return genome.map((x, i) => ({ label: `gene ${i}`, short: `g${i}`, value: x.toFixed(GENE_DECIMALS) }));
}

/** "A0 A1 B2×0.80": the layers a DFS path runs, with input scales other than 1. */
export function hopsText(hops: readonly DfsHop[]): string {
  return hops.map((h) => `${h.model.toUpperCase()}${h.layer}${h.scale === 1 ? '' : `×${h.scale.toFixed(GENE_DECIMALS)}`}`).join(' ') || '(empty path)';
}

/** A key equal for two genomes exactly when they decode to the same recipe at GENE_DECIMALS. */
export function genomeKey(c: GenomeSpace, genome: readonly number[]): string {
  return decodedGenes(c, genome)
    .map((g) => g.value)
    .join('|');
}

/**
 * The list without repeated recipes: of candidates with equal keys, the first (the list is best
 * first) stays. Order is kept.
 */
export function distinctCandidates<T extends { genome: number[] }>(c: GenomeSpace, list: readonly T[]): T[] {
  const seen = new Set<string>();
  const out: T[] = [];
  for (const rec of list) {
    const k = genomeKey(c, rec.genome);
    if (seen.has(k)) continue;
    seen.add(k);
    out.push(rec);
  }
  return out;
}

/**
 * For each candidate, the genes whose values are not the same across the whole list (what tells
 * the candidates apart); genes equal in every candidate are left out. One candidate: none differ.
 */
export function differingGenes(c: GenomeSpace, genomes: readonly (readonly number[])[]): GeneValue[][] {
  const decoded = genomes.map((g) => decodedGenes(c, g));
  if (decoded.length < 2) return decoded.map(() => []);
  const n = decoded[0].length;
  const varies: boolean[] = [];
  for (let i = 0; i < n; i++) varies.push(decoded.some((d) => d[i]?.value !== decoded[0][i].value));
  return decoded.map((d) => d.filter((_, i) => varies[i]));
}

/** A fitness with its 95 % interval; `items`: items per set, as measured. */
export interface FitnessInterval {
  fitness: number;
  lo: number;
  hi: number;
  items: number[];
}

const Z95 = 1.959963984540054;

/**
 * The 95 % interval of a fitness that is the mean of per-set accuracies, set s having `counts[s]`
 * items. Equal counts: the mean is the pooled proportion, and the interval is Wilson's score
 * interval on all items together (sound at 0 and 1 and at small n, unlike p ± z·√(p(1−p)/n)).
 * Unequal counts: the normal interval of the mean with each set's proportion shrunk by
 * Agresti–Coull (two successes and two failures added), clamped to [0, 1].
 */
export function fitnessInterval(perSet: readonly number[], counts: readonly number[]): FitnessInterval | undefined {
  if (perSet.length === 0 || perSet.length !== counts.length || counts.some((n) => !Number.isInteger(n) || n <= 0)) return undefined;
  if (perSet.some((p) => !Number.isFinite(p) || p < 0 || p > 1)) return undefined;
  const S = perSet.length;
  const fitness = perSet.reduce((a, b) => a + b, 0) / S;
  const z2 = Z95 * Z95;
  if (counts.every((n) => n === counts[0])) {
    const n = counts[0] * S;
    const center = (fitness + z2 / (2 * n)) / (1 + z2 / n);
    const half = (Z95 / (1 + z2 / n)) * Math.sqrt((fitness * (1 - fitness)) / n + z2 / (4 * n * n));
    return { fitness, lo: Math.max(0, center - half), hi: Math.min(1, center + half), items: [...counts] };
  }
  let variance = 0;
  for (let s = 0; s < S; s++) {
    const n = counts[s];
    const p = (perSet[s] * n + 2) / (n + 4);
    variance += (p * (1 - p)) / (n + 4);
  }
  const half = (Z95 * Math.sqrt(variance)) / S;
  return { fitness, lo: Math.max(0, fitness - half), hi: Math.min(1, fitness + half), items: [...counts] };
}

/** "16 items per set" or "16 / 12 items per set". */
export function itemsText(items: readonly number[]): string {
  const same = items.every((n) => n === items[0]);
  return `${same ? items[0] : items.join(' / ')} item${same && items[0] === 1 ? '' : 's'} per set`;
}

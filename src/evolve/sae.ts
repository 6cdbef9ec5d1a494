// Sparsity-aware evolution (SAE; papers.md §3) in recipe space: a steady-state archive search in the
// style of M2N2 / SparseFusion whose candidates are parameter-space genomes (genome-ps.ts), i.e.
// recipes, not raw weight vectors.
//
// One step breeds one child:
//   1. parent 1 ~ Categorical(max(Total, 0)) over the archive (all totals ≤ 0: uniform);
//   2. parent 2 by M2N2's attraction matchmaking: cᵢ = Σⱼ max(0, S[i,j]/zⱼ − S[p1,j]/zⱼ) over the
//      per-item scores (uniform among the others when scores are missing or all cᵢ = 0);
//   3. prune: s = sparsitySchedule(step); each parent's density genes are capped so their decoded
//      density is at most 1 − s. In recipe terms the merge's own trim (TIES top-k, DARE drop,
//      breadcrumbs, DELLA, CABS) IS the prune of every task vector at sparsity ≥ s;
//   4. crossover in gene space, M2N2's split-point blend: w ~ U(0,1), k ~ U{0..D};
//      child = w·x + (1−w)·y on genes [0, k), (1−w)·x + w·y on [k, D). Linear rather than M2N2's
//      SLERP: the genes are bounded recipe settings, not weight vectors, and a linear blend of two
//      genomes in [0, 1] stays in [0, 1];
//   5. optional small Gaussian noise on the genes (clamped to [0, 1]), then the cap again. Nothing is
//      ever added to weights, so the exact zeros of the merged delta come only from the trim and
//      survive: SparseFusion's N(0, 0.01²) on every weight (papers.md §6 c3) is not reproduced;
//   6. the engine merges and evaluates the child's recipe and reports fitness (higher is better),
//      the merged delta's sparsity (share of merged − base exactly 0), optionally per-layer
//      sparsities, per-item scores and the attraction statistic;
//   7. the child joins the archive, Total is recomputed over the P + 1 and the lowest is dropped
//      (the child itself when it is the worst).
// Total = ω·F + β·S, where F is the fitness or, with `competition`, M2N2's resource-shared fitness
// Fᵢ = Σⱼ S[i,j]/zⱼ / N^α with zⱼ = (Σᵢ S[i,j])^α (0 → 1); S is the sparsity itself ('absolute') or
// softmaxᵢ(spᵢ/τ) over the pool ('relative', SparseFusion's); sp is the global share or, with
// `layerWise`, the mean of the per-layer sparsities. A candidate whose sp exceeds maxSparsity gets
// Total = −collapsePenalty (anti-collapse). Totals are clipped at 0 for selection probabilities.
// The "attraction" statistic (§3.3): the share of the child's kept (non-zero delta) positions where
// the sparser parent's delta is zero; the engine computes it on the GPU, the loop records it.
// The initial archive: `initialGenomes`, then the PS start (all 0.5), then uniform random genomes;
// they are evaluated as they are (not pruned). Everything random comes from one seeded Rng whose
// state is part of state(), so a restored run continues bit for bit.

import { OptimizerError } from '../errors';
import type { Recipe } from '../recipe/types';
import { decodePs, evolveSpec, psDensityGene, psDimension, psGenes, psInitialMean, SAE_METHODS, type PsSpace } from './genome-ps';
import { Rng, type RngState } from './rng';

export interface SparsityScheduleOptions {
  sMin: number;
  sMax: number;
  /** Length of the first cycle, in bred children. */
  t0: number;
  /** Each cycle is tMult times longer than the previous (≥ 1). */
  tMult: number;
  /**
   * SparseFusion's formula s = sMin + (sMax − sMin)·½(1 + sin(π/2·u)), whose range is only
   * [(sMin + sMax)/2, sMax) although its docstring says [sMin, sMax]. Default false: the documented
   * range, s = sMin + (sMax − sMin)·sin(π/2·u).
   */
  sparseFusionRange?: boolean;
}

export const DEFAULT_SCHEDULE: SparsityScheduleOptions = { sMin: 0.1, sMax: 0.6, t0: 100, tMult: 2 };

/**
 * Cyclic sparsity (cosine warm restarts with a sine warm-up): cycle c lasts t0·tMult^c steps; inside a
 * cycle u = position/length goes 0 → 1 and s rises from sMin towards sMax, then restarts at sMin.
 */
export function sparsitySchedule(step: number, o: SparsityScheduleOptions = DEFAULT_SCHEDULE): number {
  checkSchedule(o);
  if (!(Number.isInteger(step) && step >= 0)) throw new OptimizerError(`sparsity schedule: step must be an integer ≥ 0, got ${step}`, { key: 'step' });
  let len = o.t0;
  let pos = step;
  if (o.tMult === 1) pos = step % len;
  else {
    while (pos >= len) {
      pos -= len;
      len *= o.tMult;
    }
  }
  const u = pos / len;
  const rise = Math.sin((Math.PI / 2) * u);
  return o.sparseFusionRange ? o.sMin + (o.sMax - o.sMin) * 0.5 * (1 + rise) : o.sMin + (o.sMax - o.sMin) * rise;
}

function checkSchedule(o: SparsityScheduleOptions): void {
  if (!(o.sMin >= 0 && o.sMin <= o.sMax && o.sMax <= 1))
    throw new OptimizerError(`sparsity schedule: need 0 ≤ sMin ≤ sMax ≤ 1, got sMin ${o.sMin}, sMax ${o.sMax}`, { key: 'schedule' });
  if (!(Number.isInteger(o.t0) && o.t0 >= 1)) throw new OptimizerError(`sparsity schedule: t0 must be an integer ≥ 1, got ${o.t0}`, { key: 'schedule' });
  if (!(Number.isFinite(o.tMult) && o.tMult >= 1)) throw new OptimizerError(`sparsity schedule: tMult must be ≥ 1, got ${o.tMult}`, { key: 'schedule' });
}

export interface SaeOptions {
  /** Archive size P (≥ 2). */
  archiveSize: number;
  /** ω, weight of fitness (default 0.5). */
  omega?: number;
  /** β, weight of the sparsity term (default 0.5; 0 = plain evolution). */
  beta?: number;
  /** 'relative' (default, SparseFusion): softmax over the pool of sp/τ. 'absolute': sp itself. */
  sparsityTerm?: 'absolute' | 'relative';
  /** τ of the relative term (default 1). */
  temperature?: number;
  /** Score the mean of per-layer sparsities instead of the global share (evaluations must give layerSparsity). */
  layerWise?: boolean;
  /** Anti-collapse cap: sp above it gets Total = −collapsePenalty (default 0.95). */
  maxSparsity?: number;
  /** Default 1e6. */
  collapsePenalty?: number;
  /** Use M2N2's competition-normalised fitness from per-item scores (evaluations must give perItem ≥ 0). */
  competition?: boolean;
  /** α of the competition normalisation (default 1). */
  alpha?: number;
  schedule?: SparsityScheduleOptions;
  /** σ of Gaussian noise on child genes (default 0.02; 0 = none). */
  geneNoise?: number;
  /** Genomes to start the archive with (e.g. a hand-set recipe's or the best PS result's). */
  initialGenomes?: number[][];
}

type ResolvedOptions = Required<Omit<SaeOptions, 'initialGenomes'>> & { initialGenomes: number[][] };

export interface SaeEvaluation {
  /** Higher is better. */
  fitness: number;
  /** Per-item scores on the fixed search split (≥ 0 for competition); same length for every candidate. */
  perItem?: Float32Array | number[];
  /** Share of the merged delta (merged − base) that is exactly 0, in [0, 1]. */
  sparsity: number;
  layerSparsity?: number[];
  /** Share of the child's kept delta positions that the sparser parent left at 0. */
  attraction?: number;
}

export interface SaeChild {
  id: number;
  genome: number[];
  recipe: Recipe;
  /** Parent ids (none for an initial candidate). */
  parents: number[];
  /** Breeding step (index into the schedule); null for an initial candidate. */
  step: number | null;
  /** s of the schedule at this step: every density of the child is ≤ 1 − s. */
  sparsityTarget: number | null;
  /** The parent with the higher recorded sparsity, for the attraction statistic. */
  sparserParent?: { id: number; recipe: Recipe };
}

/** An archive member as stored (JSON-safe). */
export interface SaeMember {
  id: number;
  genome: number[];
  fitness: number;
  perItem?: number[];
  sparsity: number;
  layerSparsity?: number[];
  attraction?: number;
  parents: number[];
  step: number | null;
}

export interface SaeScored extends SaeMember {
  /** Sparsity as scored (global or layer-wise mean). */
  scoredSparsity: number;
  fitnessTerm: number;
  sparsityTerm: number;
  total: number;
}

export interface SaeRecord {
  id: number;
  parents: number[];
  step: number | null;
  sparsityTarget: number | null;
  fitness: number;
  sparsity: number;
  attraction?: number;
  /** Total of the child in the pool it was ranked in. */
  total: number;
  /** Still in the archive right after its acceptance. */
  survived: boolean;
  /** Id of the member dropped to make room (the child's own id when it did not survive). */
  dropped?: number;
}

interface PendingChild {
  id: number;
  genome: number[];
  parents: number[];
  step: number | null;
  sparsityTarget: number | null;
  sparserParent?: number;
}

export interface SaeState {
  version: 1;
  space: PsSpace;
  options: SaeOptions;
  seed: number;
  rng: RngState;
  /** Bred children proposed so far (the schedule's next step). */
  step: number;
  /** Initial candidates proposed so far. */
  initialProposed: number;
  nextId: number;
  archive: SaeMember[];
  pending: PendingChild[];
  history: SaeRecord[];
  best?: SaeMember;
}

export interface SaeCallbacks {
  evaluate(recipe: Recipe, child: SaeChild): Promise<SaeEvaluation>;
  /** attraction(childRecipe, sparserParentRecipe): computed by the engine on the GPU. */
  attraction?(childRecipe: Recipe, sparserParentRecipe: Recipe): Promise<number>;
}

function resolve(o: SaeOptions): ResolvedOptions {
  const r: ResolvedOptions = {
    archiveSize: o.archiveSize,
    omega: o.omega ?? 0.5,
    beta: o.beta ?? 0.5,
    sparsityTerm: o.sparsityTerm ?? 'relative',
    temperature: o.temperature ?? 1,
    layerWise: o.layerWise ?? false,
    maxSparsity: o.maxSparsity ?? 0.95,
    collapsePenalty: o.collapsePenalty ?? 1e6,
    competition: o.competition ?? false,
    alpha: o.alpha ?? 1,
    schedule: o.schedule ?? DEFAULT_SCHEDULE,
    geneNoise: o.geneNoise ?? 0.02,
    initialGenomes: o.initialGenomes ?? [],
  };
  const bad = (k: string, why: string): never => {
    throw new OptimizerError(`sparsity-aware evolution: ${k} ${why}`, { key: k });
  };
  if (!(Number.isInteger(r.archiveSize) && r.archiveSize >= 2)) bad('archiveSize', `must be an integer ≥ 2, got ${r.archiveSize}`);
  for (const k of ['omega', 'beta', 'alpha', 'geneNoise'] as const) if (!(Number.isFinite(r[k]) && r[k] >= 0)) bad(k, `must be a number ≥ 0, got ${r[k]}`);
  if (!(r.temperature > 0 && Number.isFinite(r.temperature))) bad('temperature', `must be > 0, got ${r.temperature}`);
  if (!(r.maxSparsity > 0 && r.maxSparsity <= 1)) bad('maxSparsity', `must be in (0, 1], got ${r.maxSparsity}`);
  if (!(r.collapsePenalty >= 0 && Number.isFinite(r.collapsePenalty))) bad('collapsePenalty', `must be a finite number ≥ 0, got ${r.collapsePenalty}`);
  if (r.sparsityTerm !== 'absolute' && r.sparsityTerm !== 'relative') bad('sparsityTerm', `must be "absolute" or "relative", got ${String(r.sparsityTerm)}`);
  checkSchedule(r.schedule);
  return r;
}

/** M2N2's competition-normalised fitness of every row of `scores` (each row one candidate's per-item scores). */
export function competitionFitness(scores: readonly (readonly number[])[], alpha = 1): number[] {
  if (scores.length === 0) return [];
  const N = scores[0].length;
  const z = new Array<number>(N).fill(0);
  for (const row of scores) for (let j = 0; j < N; j++) z[j] += row[j];
  for (let j = 0; j < N; j++) z[j] = z[j] === 0 ? 1 : Math.pow(z[j], alpha);
  const norm = N === 0 ? 1 : Math.pow(N, alpha);
  return scores.map((row) => {
    let f = 0;
    for (let j = 0; j < N; j++) f += row[j] / z[j];
    return f / norm;
  });
}

/** Softmax of sp/τ (max-shifted). */
export function relativeSparsity(sp: readonly number[], temperature = 1): number[] {
  if (sp.length === 0) return [];
  const a = sp.map((s) => s / temperature);
  const m = Math.max(...a);
  const e = a.map((v) => Math.exp(v - m));
  const sum = e.reduce((x, y) => x + y, 0);
  return e.map((v) => v / sum);
}

/** CPU twin of the attraction statistic: share of child-nonzero positions where the parent delta is 0. */
export function attractionShare(childDelta: ArrayLike<number>, parentDelta: ArrayLike<number>): number {
  if (childDelta.length !== parentDelta.length) throw new OptimizerError(`attraction: deltas of ${childDelta.length} and ${parentDelta.length} elements`);
  let kept = 0;
  let filled = 0;
  for (let i = 0; i < childDelta.length; i++) {
    if (childDelta[i] !== 0) {
      kept++;
      if (parentDelta[i] === 0) filled++;
    }
  }
  return kept ? filled / kept : 0;
}

const clamp01 = (g: number): number => (g > 1 ? 1 : g >= 0 ? g : 0);

export class SaeSearch {
  private readonly o: ResolvedOptions;
  private readonly dim: number;
  private readonly densityIdx: number[];
  private rng: Rng;
  private step = 0;
  private initialProposed = 0;
  private nextId = 0;
  private archive: SaeMember[] = [];
  private pending: PendingChild[] = [];
  private history: SaeRecord[] = [];
  private bestMember: SaeMember | undefined;

  constructor(
    private readonly options: SaeOptions,
    readonly space: PsSpace,
    private readonly seed: number,
  ) {
    this.o = resolve(options);
    this.dim = psDimension(space);
    this.densityIdx = psGenes(space).filter((g) => g.param === 'density').map((g) => g.index);
    if (this.densityIdx.length === 0)
      throw new OptimizerError(
        `sparsity-aware evolution prunes through density genes, and ${space.method} has none` +
          (evolveSpec(space.method).evolve.optionalDensityGenes ? ' (set densityGenes: true)' : `; use ${SAE_METHODS.join(', ')}`),
        { key: 'method' },
      );
    for (const [i, g] of this.o.initialGenomes.entries()) this.checkGenome(g, `initialGenomes[${i}]`);
    this.rng = new Rng(seed);
  }

  private checkGenome(g: readonly number[], what: string): void {
    if (!Array.isArray(g) || g.length !== this.dim) throw new OptimizerError(`${what} has ${Array.isArray(g) ? g.length : 'no'} genes; the space has ${this.dim}`, { key: 'genome' });
    if (!g.every((v) => Number.isFinite(v) && v >= 0 && v <= 1)) throw new OptimizerError(`${what} has genes outside [0, 1]`, { key: 'genome' });
  }

  get archiveSize(): number {
    return this.o.archiveSize;
  }

  /** Bred children proposed so far. */
  get steps(): number {
    return this.step;
  }

  /** Children proposed and not yet accepted (after a restore: evaluate these again, in order). */
  pendingChildren(): SaeChild[] {
    return this.pending.map((p) => this.childOf(p));
  }

  private childOf(p: PendingChild): SaeChild {
    const c: SaeChild = { id: p.id, genome: [...p.genome], recipe: decodePs(this.space, p.genome), parents: [...p.parents], step: p.step, sparsityTarget: p.sparsityTarget };
    if (p.sparserParent !== undefined) {
      const m = this.archive.find((x) => x.id === p.sparserParent);
      if (m) c.sparserParent = { id: m.id, recipe: decodePs(this.space, m.genome) };
    }
    return c;
  }

  private capDensity(g: number[], s: number): void {
    const cap = psDensityGene(this.space, 1 - s);
    for (const i of this.densityIdx) if (g[i] > cap) g[i] = cap;
  }

  /** The next candidate: an initial one while the archive is filling, else a bred child. */
  proposeChild(): SaeChild {
    const P = this.o.archiveSize;
    const pendingInitial = this.pending.filter((p) => p.step === null).length;
    if (this.archive.length + pendingInitial < P) {
      const k = this.initialProposed++;
      let genome: number[];
      const given = this.o.initialGenomes;
      if (k < given.length) genome = [...given[k]];
      else if (k === given.length) genome = psInitialMean(this.space);
      else genome = Array.from({ length: this.dim }, () => this.rng.next());
      const p: PendingChild = { id: this.nextId++, genome, parents: [], step: null, sparsityTarget: null };
      this.pending.push(p);
      return this.childOf(p);
    }
    if (this.archive.length < P)
      throw new OptimizerError(`the archive is still filling (${this.archive.length} of ${P} evaluated); accept the pending initial candidates before breeding`, { key: 'archive' });

    const scored = this.score(this.archive);
    const p1 = this.pickByTotal(scored);
    const p2 = this.matchmake(scored, p1);
    const step = this.step++;
    const s = sparsitySchedule(step, this.o.schedule);
    const x = [...this.archive[p1].genome];
    const y = [...this.archive[p2].genome];
    this.capDensity(x, s);
    this.capDensity(y, s);
    const w = this.rng.next();
    const k = this.rng.int(this.dim + 1);
    const child = x.map((xi, i) => (i < k ? w * xi + (1 - w) * y[i] : (1 - w) * xi + w * y[i]));
    if (this.o.geneNoise > 0) for (let i = 0; i < this.dim; i++) child[i] = clamp01(child[i] + this.o.geneNoise * this.rng.normal());
    for (let i = 0; i < this.dim; i++) child[i] = clamp01(child[i]);
    this.capDensity(child, s);
    const a = this.archive[p1];
    const b = this.archive[p2];
    const sparser = this.scoredSparsity(b) > this.scoredSparsity(a) ? b : a;
    const p: PendingChild = { id: this.nextId++, genome: child, parents: [a.id, b.id], step, sparsityTarget: s, sparserParent: sparser.id };
    this.pending.push(p);
    return this.childOf(p);
  }

  private scoredSparsity(m: SaeMember): number {
    if (this.o.layerWise && m.layerSparsity && m.layerSparsity.length > 0) return m.layerSparsity.reduce((x, y) => x + y, 0) / m.layerSparsity.length;
    return m.sparsity;
  }

  /** Totals of a pool of members (the archive, or the archive plus a child). */
  private score(pool: SaeMember[]): SaeScored[] {
    const o = this.o;
    const sp = pool.map((m) => this.scoredSparsity(m));
    let F: number[];
    if (o.competition) F = competitionFitness(pool.map((m) => m.perItem ?? []), o.alpha);
    else F = pool.map((m) => m.fitness);
    const S = o.sparsityTerm === 'absolute' ? sp : relativeSparsity(sp, o.temperature);
    return pool.map((m, i) => {
      const collapsed = sp[i] > o.maxSparsity;
      const total = collapsed ? -o.collapsePenalty : o.omega * F[i] + o.beta * S[i];
      return { ...m, scoredSparsity: sp[i], fitnessTerm: F[i], sparsityTerm: S[i], total };
    });
  }

  private pickByTotal(scored: SaeScored[]): number {
    const w = scored.map((m) => Math.max(0, m.total));
    return this.categorical(w);
  }

  private categorical(w: number[]): number {
    const sum = w.reduce((a, b) => a + b, 0);
    if (!(sum > 0) || !Number.isFinite(sum)) return this.rng.int(w.length);
    let u = this.rng.next() * sum;
    for (let i = 0; i < w.length; i++) {
      u -= w[i];
      if (u < 0 && w[i] > 0) return i;
    }
    // Rounding left u ≥ 0 after the last weight: the last positive one.
    for (let i = w.length - 1; i >= 0; i--) if (w[i] > 0) return i;
    return w.length - 1;
  }

  /** M2N2's matchmaker: partners that beat parent 1 where parent 1 is weak (normalised per-item). */
  private matchmake(scored: SaeScored[], p1: number): number {
    const rows = scored.map((m) => m.perItem);
    const N = rows[0]?.length ?? 0;
    let c: number[] | undefined;
    if (N > 0 && rows.every((r) => r && r.length === N)) {
      const z = new Array<number>(N).fill(0);
      for (const r of rows) for (let j = 0; j < N; j++) z[j] += r![j];
      for (let j = 0; j < N; j++) z[j] = z[j] === 0 ? 1 : Math.pow(z[j], this.o.alpha);
      const base = rows[p1]!;
      c = rows.map((r, i) => {
        if (i === p1) return 0;
        let v = 0;
        for (let j = 0; j < N; j++) v += Math.max(0, r![j] / z[j] - base[j] / z[j]);
        return v;
      });
    }
    if (!c || !c.some((v) => v > 0)) {
      const others = scored.map((_, i) => i).filter((i) => i !== p1);
      return others[this.rng.int(others.length)];
    }
    return this.categorical(c);
  }

  private checkEvaluation(e: SaeEvaluation, id: number): void {
    const bad = (why: string): never => {
      throw new OptimizerError(`evaluation of candidate ${id}: ${why}`, { key: 'evaluation' });
    };
    if (!Number.isFinite(e.fitness)) bad(`fitness must be a finite number, got ${e.fitness}`);
    if (!(e.sparsity >= 0 && e.sparsity <= 1)) bad(`sparsity must be in [0, 1], got ${e.sparsity}`);
    if (e.layerSparsity && !e.layerSparsity.every((v) => v >= 0 && v <= 1)) bad('layerSparsity values must be in [0, 1]');
    if (this.o.layerWise && !(e.layerSparsity && e.layerSparsity.length > 0)) bad('layer-wise sparsity scoring needs layerSparsity');
    if (e.attraction !== undefined && !(e.attraction >= 0 && e.attraction <= 1)) bad(`attraction must be in [0, 1], got ${e.attraction}`);
    if (e.perItem) {
      const ref = this.archive.find((m) => m.perItem)?.perItem;
      if (ref && ref.length !== e.perItem.length)
        bad(`perItem has ${e.perItem.length} scores but earlier candidates have ${ref.length}; per-item competition needs one fixed search split`);
      for (let j = 0; j < e.perItem.length; j++) if (!Number.isFinite(e.perItem[j])) bad(`perItem[${j}] is not finite`);
      if (this.o.competition) for (let j = 0; j < e.perItem.length; j++) if (e.perItem[j] < 0) bad(`perItem[${j}] is negative; competition needs scores ≥ 0`);
    } else if (this.o.competition) bad('competition-normalised fitness needs perItem scores');
  }

  /** Adds an evaluated child; returns its record (total, survival, the member dropped). */
  acceptChild(child: SaeChild | number, evaluation: SaeEvaluation): SaeRecord {
    const id = typeof child === 'number' ? child : child.id;
    const pi = this.pending.findIndex((p) => p.id === id);
    if (pi < 0) throw new OptimizerError(`candidate ${id} is not pending (already accepted, or never proposed by this search)`, { key: 'child' });
    this.checkEvaluation(evaluation, id);
    const p = this.pending[pi];
    this.pending.splice(pi, 1);
    const m: SaeMember = { id, genome: [...p.genome], fitness: evaluation.fitness, sparsity: evaluation.sparsity, parents: [...p.parents], step: p.step };
    if (evaluation.perItem) m.perItem = Array.from(evaluation.perItem);
    if (evaluation.layerSparsity) m.layerSparsity = [...evaluation.layerSparsity];
    if (evaluation.attraction !== undefined) m.attraction = evaluation.attraction;
    if (!this.bestMember || m.fitness > this.bestMember.fitness) this.bestMember = m;

    const pool = [...this.archive, m];
    const scored = this.score(pool);
    const total = scored[scored.length - 1].total;
    let dropped: number | undefined;
    if (pool.length > this.o.archiveSize) {
      let worst = 0;
      for (let i = 1; i < scored.length; i++) if (scored[i].total < scored[worst].total) worst = i;
      dropped = pool[worst].id;
      pool.splice(worst, 1);
    }
    this.archive = pool;
    const rec: SaeRecord = {
      id,
      parents: [...p.parents],
      step: p.step,
      sparsityTarget: p.sparsityTarget,
      fitness: m.fitness,
      sparsity: m.sparsity,
      total,
      survived: dropped !== id,
      ...(m.attraction !== undefined ? { attraction: m.attraction } : {}),
      ...(dropped !== undefined ? { dropped } : {}),
    };
    this.history.push(rec);
    return rec;
  }

  /**
   * CmaEs.ask()'s contract: the candidates to evaluate next, the same ones again until they are
   * told. Those are the pending children when there are any (after a restore too, in order), else
   * one new child. SAE is steady-state: a child's parents are drawn from the archive its
   * predecessor has already joined, so one ask() breeds one child (handing out several at once
   * would draw them all from the same archive and change the search); the run loop groups children
   * into rounds.
   */
  ask(): SaeChild[] {
    if (this.pending.length === 0) this.proposeChild();
    return this.pending.map((p) => this.childOf(p));
  }

  /**
   * CmaEs.tell()'s contract: one evaluation per asked child, in ask() order; every evaluation is
   * checked before any child joins the archive, so a refused tell() changes nothing.
   */
  tell(evaluations: SaeEvaluation[]): SaeRecord[] {
    const n = this.pending.length;
    if (n === 0) throw new OptimizerError('sparsity-aware evolution: tell() called without asked candidates; call ask() first', { key: 'child' });
    if (!Array.isArray(evaluations) || evaluations.length !== n)
      throw new OptimizerError(`sparsity-aware evolution: tell() needs ${n} evaluation${n === 1 ? '' : 's'} (one per asked candidate), got ${Array.isArray(evaluations) ? evaluations.length : typeof evaluations}`, { key: 'evaluation' });
    const ids = this.pending.map((p) => p.id);
    ids.forEach((id, k) => this.checkEvaluation(evaluations[k], id));
    return ids.map((id, k) => this.acceptChild(id, evaluations[k]));
  }

  /** Children evaluated and accepted so far (SAE is steady-state: each one is a generation). */
  get generation(): number {
    return this.history.length;
  }

  /** Evaluations told so far (one per child). */
  get evaluations(): number {
    return this.history.length;
  }

  /** The mutation step: σ of the Gaussian noise on child genes (what CMA-ES reports as its step size). */
  get sigma(): number {
    return this.o.geneNoise;
  }

  /** Proposes, evaluates (and measures attraction when the callback is given), accepts. */
  async next(cb: SaeCallbacks): Promise<{ child: SaeChild; evaluation: SaeEvaluation; record: SaeRecord }> {
    const child = this.pending.length > 0 ? this.childOf(this.pending[0]) : this.proposeChild();
    const evaluation = { ...(await cb.evaluate(child.recipe, child)) };
    if (evaluation.attraction === undefined && cb.attraction && child.sparserParent) evaluation.attraction = await cb.attraction(child.recipe, child.sparserParent.recipe);
    const record = this.acceptChild(child, evaluation);
    return { child, evaluation, record };
  }

  /** The archive with every member's terms and Total, in archive order. */
  scoredArchive(): SaeScored[] {
    return this.archive.length ? this.score(this.archive) : [];
  }

  /** Highest fitness ever evaluated (it may have left the archive). */
  best(): SaeMember | undefined {
    return this.bestMember ? structuredCloneMember(this.bestMember) : undefined;
  }

  records(): SaeRecord[] {
    return this.history.map((r) => ({ ...r, parents: [...r.parents] }));
  }

  /** JSON-safe state; SaeSearch.fromState(JSON.parse(JSON.stringify(state))) continues identically. */
  state(): SaeState {
    return {
      version: 1,
      space: JSON.parse(JSON.stringify(this.space)) as PsSpace,
      options: JSON.parse(JSON.stringify(this.options)) as SaeOptions,
      seed: this.seed,
      rng: this.rng.state(),
      step: this.step,
      initialProposed: this.initialProposed,
      nextId: this.nextId,
      archive: this.archive.map(structuredCloneMember),
      pending: this.pending.map((p) => ({ ...p, genome: [...p.genome], parents: [...p.parents] })),
      history: this.records(),
      ...(this.bestMember ? { best: structuredCloneMember(this.bestMember) } : {}),
    };
  }

  /** CmaEs.restore()'s name for fromState(). */
  static restore(state: SaeState): SaeSearch {
    return SaeSearch.fromState(state);
  }

  static fromState(state: SaeState): SaeSearch {
    if (!state || typeof state !== 'object' || state.version !== 1)
      throw new OptimizerError(`saved sparsity-aware evolution state has version ${JSON.stringify((state as { version?: unknown } | null)?.version)}; this studio reads version 1`, { key: 'state' });
    const s = new SaeSearch(state.options, state.space, state.seed);
    const ints = [state.step, state.initialProposed, state.nextId];
    if (!ints.every((v) => Number.isInteger(v) && v >= 0)) throw new OptimizerError('saved sparsity-aware evolution state is corrupt (counters)', { key: 'state' });
    if (!Array.isArray(state.archive) || !Array.isArray(state.pending) || !Array.isArray(state.history))
      throw new OptimizerError('saved sparsity-aware evolution state is corrupt (archive, pending or history missing)', { key: 'state' });
    for (const m of [...state.archive, ...state.pending]) s.checkGenome(m.genome, `saved candidate ${m.id}`);
    s.rng = Rng.fromState(state.rng);
    s.step = state.step;
    s.initialProposed = state.initialProposed;
    s.nextId = state.nextId;
    s.archive = state.archive.map(structuredCloneMember);
    s.pending = state.pending.map((p) => ({ ...p, genome: [...p.genome], parents: [...p.parents] }));
    s.history = state.history.map((r) => ({ ...r, parents: [...r.parents] }));
    s.bestMember = state.best ? structuredCloneMember(state.best) : undefined;
    return s;
  }
}

function structuredCloneMember(m: SaeMember): SaeMember {
  const c: SaeMember = { id: m.id, genome: [...m.genome], fitness: m.fitness, sparsity: m.sparsity, parents: [...m.parents], step: m.step };
  if (m.perItem) c.perItem = [...m.perItem];
  if (m.layerSparsity) c.layerSparsity = [...m.layerSparsity];
  if (m.attraction !== undefined) c.attraction = m.attraction;
  return c;
}

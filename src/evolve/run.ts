// One evolution run: CMA-ES over a parameter-space (PS) or data-flow-space (DFS) genome, or the
// sparsity-aware archive search (SAE), with fitness from the evaluation service on the search
// split and the held-out split scored separately for every new best (never used for selection).
// Both strategies have the same ask/tell surface, so one step function runs every generation; the
// kind of run is looked at once, where the optimizer is built (optimizerFor).
// Everything is injected (evaluator, store, clock), so the loop is tested in Node with a synthetic
// evaluator; the engine worker wires the real one. The whole run is one JSON record, saved after
// every generation: a reload continues it bit for bit.
import type { Recipe } from '../recipe/types';
import type { EvalTarget, ModelOrRecipe } from '../eval/target';
import { CmaEs, type CmaState } from './cmaes';
import { decodePs, psBounds, psDimension, psInitialMean, validatePsSpace, type PsSpace } from './genome-ps';
import { decodeDfs, dfsBounds, dfsDimension, dfsInitialMean, dfsToHopList, dfsToRecipe, dfsIsUnscaled, validateDfsSpace, type DfsHop, type DfsSpace } from './genome-dfs';
import { SaeSearch, type SaeEvaluation, type SaeOptions, type SaeState } from './sae';
import { OptimizerError } from '../errors';
import { genomeKey } from './distinct';

/** ps / dfs: CMA-ES; sae: the sparsity-aware archive search over PS genomes. */
export type EvolveKind = 'ps' | 'dfs' | 'sae';

export interface EvolveConfig {
  kind: EvolveKind;
  ps?: PsSpace;
  /** DFS: model B is dfs.modelB; model A is `dfsA` (a model, or the best PS recipe for PS+DFS). */
  dfs?: DfsSpace;
  dfsA?: ModelOrRecipe;
  /** SAE options (kind 'sae'; its PS space is `ps`, its base for the delta is `sparsity.base`). */
  sae?: SaeOptions;
  /** Generations (CMA-ES); for SAE, rounds of `popSize` (default: archive size) children. */
  generations: number;
  seed: number;
  sigma0?: number;
  popSize?: number;
  separable?: boolean;
  /** Items per eval set per evaluation (a seeded subset, the same for every candidate). */
  limit?: number;
  /** Optional sparsity term: score = omega·fitness + beta·sparsity of the merged delta (PS only). */
  sparsity?: { omega: number; beta: number; base: string };
}

export interface CandidateRecord {
  generation: number;
  index: number;
  genome: number[];
  fitness: number;
  perSet: number[];
  sparsity?: number;
  /** What CMA-ES maximised (fitness, or the sparsity-aware score); SAE: ω·fitness + β·sparsity. */
  score: number;
  /** SAE: share of the child's kept delta positions that its sparser parent had left at the base value. */
  attraction?: number;
  /** SAE: the schedule's sparsity target for this child. */
  sparsityTarget?: number | null;
}

export interface GenerationRecord {
  generation: number;
  best: number;
  mean: number;
  sigma: number;
  sparsityMean?: number;
  /** Best score so far (all generations). */
  bestSoFar: number;
  points: { fitness: number; sparsity?: number; score: number }[];
  ms: number;
  /** SAE: mean sparsity of the archive after this round, and mean attraction share of its children. */
  archiveSparsity?: number;
  attractionMean?: number;
}

function mean(xs: number[]): number | undefined {
  return xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : undefined;
}

export interface BestRecord extends CandidateRecord {
  recipe?: Recipe;
  hops?: DfsHop[];
  heldout?: { fitness: number; perSet: number[] };
}

export type RunStatus = 'running' | 'paused' | 'stopped' | 'done' | 'failed';

export interface RunRecord {
  id: string;
  version: 1;
  createdAt: number;
  updatedAt: number;
  status: RunStatus;
  config: EvolveConfig;
  /** Eval set names (search / held-out) for display. */
  setNames: { search: string[]; heldout: string[] };
  /**
   * Items each evaluation scores per set (after `limit`), search and held-out, when every set is
   * an accuracy set: what a fitness's 95 % interval is computed from (distinct.ts). Absent in runs
   * saved before it was recorded, or with a perplexity set.
   */
  itemsPerSet?: { search: number[]; heldout: number[] };
  cma: CmaState | null;
  sae?: SaeState | null;
  history: GenerationRecord[];
  /** The best candidates so far, best first (at most TOP_N). */
  top: BestRecord[];
  error?: string;
}

export const TOP_N = 8;

export interface CandidateEval {
  fitness: number;
  perSet: number[];
  sparsity?: number;
  layerSparsity?: number[];
  attraction?: number;
  perItem?: number[];
}

/** What an evaluation measures besides fitness. */
export interface CandidateEvalOptions {
  /** Measure the merged delta's sparsity against this model. */
  sparsityBase?: string;
  /** SAE: also the attraction share against this target (the sparser parent). */
  attractionTo?: EvalTarget;
  /** Per-item scores (SAE's competition-normalised fitness). */
  perItem?: boolean;
}

/** The world a run needs (the worker passes GPU-backed implementations). */
export interface RunEnv {
  evaluate(target: EvalTarget, split: 'search' | 'heldout', opts: CandidateEvalOptions): Promise<CandidateEval>;
  save(record: RunRecord): Promise<void>;
  now(): number;
  onProgress?(record: RunRecord, event: { kind: 'candidate'; candidate: CandidateRecord } | { kind: 'generation'; generation: GenerationRecord }): void;
}

export function dimensionOf(c: EvolveConfig): number {
  if (c.kind === 'ps' || c.kind === 'sae') return psDimension(c.ps!);
  return dfsDimension(c.dfs!);
}

/** Checks a configuration before any work starts (clear messages for zero budgets, bad spaces). */
export function validateConfig(c: EvolveConfig, check: { hiddenA?: number; hiddenB?: number } = {}): void {
  if (!Number.isInteger(c.generations) || c.generations <= 0) throw new OptimizerError(`the budget is ${c.generations} generations; give at least 1`);
  if (c.limit !== undefined && (!Number.isInteger(c.limit) || c.limit <= 0)) throw new OptimizerError(`items per set is ${c.limit}; give at least 1`);
  if (c.kind === 'ps' || c.kind === 'sae') {
    if (!c.ps) throw new OptimizerError('a parameter-space run needs a parameter space');
    validatePsSpace(c.ps);
    if (c.kind === 'sae') {
      if (!c.sae) throw new OptimizerError('a sparsity-aware run needs its options (archive size, ω, β, schedule)');
      if (!c.sparsity?.base && !c.ps.base) throw new OptimizerError('a sparsity-aware run needs a base model: sparsity is measured on the merged delta from it');
      new SaeSearch(c.sae, c.ps, c.seed); // validates the options
    }
  } else if (c.kind === 'dfs') {
    if (!c.dfs || !c.dfsA) throw new OptimizerError('a data-flow run needs models A and B');
    validateDfsSpace(c.dfs, { ...check, budget: c.generations });
  } else throw new OptimizerError(`unknown evolution kind "${String(c.kind)}"`);
}

export function newRun(id: string, config: EvolveConfig, setNames: RunRecord['setNames'], now: number): RunRecord {
  return { id, version: 1, createdAt: now, updatedAt: now, status: 'running', config, setNames, cma: null, history: [], top: [] };
}

function cmaFor(c: EvolveConfig): CmaEs {
  const ps = c.kind === 'ps';
  const b = ps ? psBounds(c.ps!) : dfsBounds(c.dfs!);
  return new CmaEs({
    dim: dimensionOf(c),
    seed: c.seed,
    mean: ps ? psInitialMean(c.ps!) : dfsInitialMean(c.dfs!, c.sigma0 ?? 1 / 6),
    sigma0: c.sigma0 ?? 1 / 6,
    popSize: c.popSize,
    separable: c.separable,
    bounds: b,
  });
}

/** A candidate as the run loop evaluates it. */
interface Proposal {
  genome: number[];
  target: EvalTarget;
  options: CandidateEvalOptions;
  /** SAE: the schedule's sparsity target of the child. */
  sparsityTarget?: number | null;
}

/**
 * The one surface the run loop drives: both strategies ask for candidates and are told their
 * evaluations (CmaEs and SaeSearch have the same ask/tell shape); these adapters only say how a
 * candidate is evaluated and scored, what a generation adds to the history, and which field of
 * the record holds the strategy's JSON state.
 */
interface RunOptimizer {
  /** Candidates in one generation record: CMA-ES's λ (one ask), SAE's round of children (one per ask). */
  readonly perGeneration: number;
  /** Recorded in the history: CMA-ES's step size after the generation, SAE's gene noise. */
  readonly sigma: number;
  ask(): Proposal[];
  /** The record fields one search evaluation gives: what the strategy maximises, and SAE's extras. */
  judge(p: Proposal, e: CandidateEval): Pick<CandidateRecord, 'sparsity' | 'score' | 'attraction' | 'sparsityTarget'>;
  /** The evaluations of the last ask(), in its order. */
  tell(evals: CandidateEval[]): void;
  summary(cands: CandidateRecord[]): Partial<GenerationRecord>;
  /** Writes the strategy's state into the record (saved with it). */
  save(r: RunRecord): void;
}

/** CMA-ES over a PS or DFS genome: a fresh one, or the record's saved state. */
function cmaOptimizer(r: RunRecord): RunOptimizer {
  const c = r.config;
  const cma = r.cma ? CmaEs.restore(r.cma) : cmaFor(c);
  const sp = c.sparsity;
  const score = (e: CandidateEval) => (sp && e.sparsity !== undefined ? sp.omega * e.fitness + sp.beta * e.sparsity : e.fitness);
  return {
    perGeneration: cma.popSize,
    get sigma() {
      return cma.sigma;
    },
    ask: () => cma.ask().map((genome) => ({ genome, target: decodeCandidate(c, genome).target, options: { sparsityBase: sp?.base } })),
    judge: (_p, e) => ({ sparsity: e.sparsity, score: score(e) }),
    tell: (evals) => cma.tell(evals.map((e) => -score(e))), // CMA-ES minimises
    summary: () => ({}),
    save: (rec) => {
      rec.cma = cma.state();
    },
  };
}

/** SAE's evaluation of a search result (its sparsity is 0 when the evaluator measured none). */
function saeEvaluation(e: CandidateEval): SaeEvaluation {
  return { fitness: e.fitness, sparsity: e.sparsity ?? 0, layerSparsity: e.layerSparsity, perItem: e.perItem, attraction: e.attraction };
}

/** The sparsity-aware archive search over PS genomes: a fresh one, or the record's saved state. */
function saeOptimizer(r: RunRecord): RunOptimizer {
  const c = r.config;
  const o = c.sae!;
  const search = r.sae ? SaeSearch.restore(r.sae) : new SaeSearch(o, c.ps!, c.seed);
  const omega = o.omega ?? 0.5, beta = o.beta ?? 0.5;
  const sparsityBase = c.sparsity?.base ?? c.ps!.base!;
  const recipeTarget = (recipe: Recipe): EvalTarget => ({ kind: 'recipe', recipe, seed: c.seed });
  return {
    perGeneration: c.popSize ?? o.archiveSize,
    sigma: o.geneNoise ?? 0.02,
    ask: () =>
      search.ask().map((child) => ({
        genome: child.genome,
        target: recipeTarget(child.recipe),
        options: { sparsityBase, attractionTo: child.sparserParent ? recipeTarget(child.sparserParent.recipe) : undefined, perItem: o.competition },
        sparsityTarget: child.sparsityTarget,
      })),
    judge: (p, e) => {
      const s = saeEvaluation(e);
      return { sparsity: s.sparsity, score: omega * s.fitness + beta * s.sparsity, attraction: s.attraction, sparsityTarget: p.sparsityTarget };
    },
    tell: (evals) => {
      search.tell(evals.map(saeEvaluation));
    },
    summary: (cands) => ({
      archiveSparsity: mean(search.scoredArchive().map((m) => m.sparsity)),
      attractionMean: mean(cands.map((x) => x.attraction).filter((x): x is number => x !== undefined)),
    }),
    save: (rec) => {
      rec.sae = search.state();
    },
  };
}

/** The run's strategy (the only place the loop looks at the kind of run). */
function optimizerFor(r: RunRecord): RunOptimizer {
  return r.config.kind === 'sae' ? saeOptimizer(r) : cmaOptimizer(r);
}

/** The candidate a genome stands for. */
export function decodeCandidate(c: EvolveConfig, genome: number[]): { target: EvalTarget; recipe?: Recipe; hops?: DfsHop[] } {
  if (c.kind === 'ps' || c.kind === 'sae') {
    const recipe = decodePs(c.ps!, genome);
    return { target: { kind: 'recipe', recipe, seed: c.seed }, recipe };
  }
  const path = decodeDfs(c.dfs!, genome);
  return {
    target: { kind: 'path', a: c.dfsA!, b: c.dfs!.modelB, hops: path.hops },
    hops: path.hops,
    recipe: dfsIsUnscaled(path) && c.dfsA!.kind === 'model' ? dfsToRecipe(c.dfs!, path) : undefined,
  };
}

/** The hop list document of a DFS candidate (when its scales are not all 1, it is the only faithful export). */
export function hopListOf(c: EvolveConfig, hops: DfsHop[]) {
  return dfsToHopList(c.dfs!, hops);
}

export class EvolutionRun {
  private pauseRequested = false;
  private stopRequested = false;

  constructor(
    readonly record: RunRecord,
    private env: RunEnv,
  ) {}

  pause(): void {
    this.pauseRequested = true;
  }
  stop(): void {
    this.stopRequested = true;
  }

  /** Runs generations until the budget is spent, a pause or stop, or an error; saves after each. */
  async run(): Promise<RunRecord> {
    const r = this.record;
    const opt = optimizerFor(r);
    r.status = 'running';
    try {
      while (r.history.length < r.config.generations) {
        if (this.stopRequested) break;
        if (this.pauseRequested) {
          r.status = 'paused';
          break;
        }
        await this.step(opt);
      }
      if (r.status === 'running') r.status = this.stopRequested ? 'stopped' : 'done';
    } catch (e) {
      r.status = 'failed';
      r.error = e instanceof Error ? e.message : String(e);
    }
    r.updatedAt = this.env.now();
    await this.env.save(r);
    return r;
  }

  /**
   * One generation, the same for every strategy: ask, evaluate each candidate on the search split,
   * tell, until the generation holds its candidates (CMA-ES: one population; SAE: a round of
   * children, one ask each); then the top list, the history record, the strategy's state into the
   * record, saving and progress.
   */
  private async step(opt: RunOptimizer): Promise<void> {
    const r = this.record;
    const t0 = this.env.now();
    const gen = r.history.length;
    const cands: CandidateRecord[] = [];
    while (cands.length < opt.perGeneration) {
      const asked = opt.ask();
      if (asked.length === 0) throw new OptimizerError('the optimizer proposed no candidates');
      const evals: CandidateEval[] = [];
      for (const a of asked) {
        const e = await this.env.evaluate(a.target, 'search', a.options);
        evals.push(e);
        cands.push(this.announce({ generation: gen, index: cands.length, genome: a.genome, fitness: e.fitness, perSet: e.perSet, ...opt.judge(a, e) }));
      }
      opt.tell(evals);
    }
    await this.updateTop(cands);
    const g: GenerationRecord = {
      generation: gen,
      best: Math.max(...cands.map((x) => x.fitness)),
      mean: mean(cands.map((x) => x.fitness))!,
      sigma: opt.sigma,
      sparsityMean: mean(cands.map((x) => x.sparsity).filter((x): x is number => x !== undefined)),
      bestSoFar: Math.max(r.top[0]?.score ?? -Infinity, ...cands.map((x) => x.score)),
      points: cands.map((x) => ({ fitness: x.fitness, sparsity: x.sparsity, score: x.score })),
      ms: this.env.now() - t0,
      ...opt.summary(cands),
    };
    r.history.push(g);
    opt.save(r);
    r.updatedAt = this.env.now();
    await this.env.save(r);
    this.env.onProgress?.(r, { kind: 'generation', generation: g });
  }

  private announce(cand: CandidateRecord): CandidateRecord {
    this.env.onProgress?.(this.record, { kind: 'candidate', candidate: cand });
    return cand;
  }

  /** Keeps the TOP_N best by score; every newcomer to the top is scored on the held-out split. */
  private async updateTop(cands: CandidateRecord[]): Promise<void> {
    const r = this.record;
    const merged: BestRecord[] = [...r.top];
    for (const cand of cands) {
      const worst = merged.length >= TOP_N ? merged[merged.length - 1].score : -Infinity;
      if (cand.score <= worst) continue;
      // One row per recipe: a genome that decodes to a listed one (the clamp to [0, 1] and the
      // decoding's rounding make many) replaces it only when it scored higher.
      const key = genomeKey(r.config, cand.genome);
      const same = merged.findIndex((m) => genomeKey(r.config, m.genome) === key);
      if (same >= 0) {
        if (merged[same].score >= cand.score) continue;
        merged.splice(same, 1);
      }
      const d = decodeCandidate(r.config, cand.genome);
      const rec: BestRecord = { ...cand, recipe: d.recipe, hops: d.hops };
      merged.push(rec);
      merged.sort((a, b) => b.score - a.score || a.generation - b.generation || a.index - b.index);
      merged.length = Math.min(merged.length, TOP_N);
    }
    for (const rec of merged) {
      if (rec.heldout) continue;
      const e = await this.env.evaluate(decodeCandidate(r.config, rec.genome).target, 'heldout', {});
      rec.heldout = { fitness: e.fitness, perSet: e.perSet };
    }
    r.top = merged;
  }
}

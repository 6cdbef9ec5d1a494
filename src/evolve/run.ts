// One evolution run: CMA-ES over a parameter-space (PS) or data-flow-space (DFS) genome, or the
// sparsity-aware archive search (SAE), with fitness from the evaluation service on the search
// split and the held-out split scored separately for every new best (never used for selection).
// Everything is injected (evaluator, store, clock), so the loop is tested in Node with a synthetic
// evaluator; the engine worker wires the real one. The whole run is one JSON record, saved after
// every generation: a reload continues it bit for bit.
import type { Recipe } from '../recipe/types';
import type { EvalTarget, ModelOrRecipe } from '../eval/target';
import { CmaEs, type CmaState } from './cmaes';
import { decodePs, psBounds, psDimension, psInitialMean, validatePsSpace, type PsSpace } from './genome-ps';
import { decodeDfs, dfsBounds, dfsDimension, dfsInitialMean, dfsToHopList, dfsToRecipe, dfsIsUnscaled, validateDfsSpace, type DfsHop, type DfsSpace } from './genome-dfs';
import { SaeSearch, type SaeOptions, type SaeState } from './sae';
import { OptimizerError } from '../errors';

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

/** The world a run needs (the worker passes GPU-backed implementations). */
export interface RunEnv {
  evaluate(target: EvalTarget, split: 'search' | 'heldout', opts: { sparsityBase?: string; attractionTo?: EvalTarget; perItem?: boolean }): Promise<CandidateEval>;
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

function optimizerFor(c: EvolveConfig): CmaEs {
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
    return this.record.config.kind === 'sae' ? this.runSae() : this.runCma();
  }

  private async runCma(): Promise<RunRecord> {
    const r = this.record;
    const c = r.config;
    const cma = r.cma ? CmaEs.restore(r.cma) : optimizerFor(c);
    return this.drive(
      () => cma.generation < c.generations,
      async (gen) => {
        const xs = cma.ask();
        const cands: CandidateRecord[] = [];
        for (let i = 0; i < xs.length; i++) {
          const genome = xs[i];
          const e = await this.env.evaluate(decodeCandidate(c, genome).target, 'search', { sparsityBase: c.sparsity?.base });
          const score = c.sparsity && e.sparsity !== undefined ? c.sparsity.omega * e.fitness + c.sparsity.beta * e.sparsity : e.fitness;
          cands.push(this.announce({ generation: gen, index: i, genome, fitness: e.fitness, perSet: e.perSet, sparsity: e.sparsity, score }));
        }
        cma.tell(cands.map((x) => -x.score));
        return { cands, sigma: cma.sigma, persist: () => (r.cma = cma.state()) };
      },
    );
  }

  private sparsityBase(): string {
    const c = this.record.config;
    return c.sparsity?.base ?? c.ps!.base!;
  }

  /** SAE: rounds of children from the archive search; same saving, history and top list as CMA runs. */
  private async runSae(): Promise<RunRecord> {
    const r = this.record;
    const c = r.config;
    const search = r.sae ? SaeSearch.fromState(r.sae) : new SaeSearch(c.sae!, c.ps!, c.seed);
    const perRound = c.popSize ?? c.sae!.archiveSize;
    const omega = c.sae!.omega ?? 0.5, beta = c.sae!.beta ?? 0.5;
    return this.drive(
      () => r.history.length < c.generations,
      async (gen) => {
        const cands: CandidateRecord[] = [];
        for (let i = 0; i < perRound; i++) {
          let perSet: number[] = [];
          const { child, evaluation } = await search.next({
            evaluate: async (recipe, ch) => {
              const e = await this.env.evaluate({ kind: 'recipe', recipe, seed: c.seed }, 'search', {
                sparsityBase: this.sparsityBase(),
                attractionTo: ch.sparserParent ? { kind: 'recipe', recipe: ch.sparserParent.recipe, seed: c.seed } : undefined,
                perItem: c.sae!.competition,
              });
              perSet = e.perSet;
              return { fitness: e.fitness, sparsity: e.sparsity ?? 0, layerSparsity: e.layerSparsity, perItem: e.perItem, attraction: e.attraction };
            },
          });
          cands.push(
            this.announce({
              generation: gen,
              index: i,
              genome: child.genome,
              fitness: evaluation.fitness,
              perSet,
              sparsity: evaluation.sparsity,
              score: omega * evaluation.fitness + beta * evaluation.sparsity,
              attraction: evaluation.attraction,
              sparsityTarget: child.sparsityTarget,
            }),
          );
        }
        const archive = search.scoredArchive();
        return {
          cands,
          sigma: c.sae!.geneNoise ?? 0.02,
          extra: {
            archiveSparsity: mean(archive.map((m) => m.sparsity)),
            attractionMean: mean(cands.map((x) => x.attraction).filter((x): x is number => x !== undefined)),
          },
          persist: () => (r.sae = search.state()),
        };
      },
    );
  }

  private announce(cand: CandidateRecord): CandidateRecord {
    this.env.onProgress?.(this.record, { kind: 'candidate', candidate: cand });
    return cand;
  }

  /**
   * The loop both strategies share: pause/stop checks, one generation, the top list, the history
   * record, saving (with the strategy's state) and progress; then the final status.
   */
  private async drive(
    more: () => boolean,
    step: (gen: number) => Promise<{ cands: CandidateRecord[]; sigma: number; extra?: Partial<GenerationRecord>; persist: () => void }>,
  ): Promise<RunRecord> {
    const r = this.record;
    r.status = 'running';
    try {
      while (more()) {
        if (this.stopRequested) break;
        if (this.pauseRequested) {
          r.status = 'paused';
          break;
        }
        const t0 = this.env.now();
        const gen = r.history.length;
        const { cands, sigma, extra, persist } = await step(gen);
        await this.updateTop(cands);
        const g: GenerationRecord = {
          generation: gen,
          best: Math.max(...cands.map((x) => x.fitness)),
          mean: mean(cands.map((x) => x.fitness))!,
          sigma,
          sparsityMean: mean(cands.map((x) => x.sparsity).filter((x): x is number => x !== undefined)),
          bestSoFar: Math.max(r.top[0]?.score ?? -Infinity, ...cands.map((x) => x.score)),
          points: cands.map((x) => ({ fitness: x.fitness, sparsity: x.sparsity, score: x.score })),
          ms: this.env.now() - t0,
          ...extra,
        };
        r.history.push(g);
        persist();
        r.updatedAt = this.env.now();
        await this.env.save(r);
        this.env.onProgress?.(r, { kind: 'generation', generation: g });
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

  /** Keeps the TOP_N best by score; every newcomer to the top is scored on the held-out split. */
  private async updateTop(cands: CandidateRecord[]): Promise<void> {
    const r = this.record;
    const merged: BestRecord[] = [...r.top];
    for (const cand of cands) {
      const worst = merged.length >= TOP_N ? merged[merged.length - 1].score : -Infinity;
      if (cand.score <= worst) continue;
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

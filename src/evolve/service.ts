// Evolution inside the engine worker: runs the loop of evolve/run.ts against the evaluation service
// (GPU merges + ONNX forward passes, weights never read back), saves every generation to
// IndexedDB together with the run's inputs (model files — URLs or the user's File objects — and
// eval set texts), and sends the UI only small views of the run.
import type { ModelSpec } from '../io/types';
import type { EvalService, EvalSetInput } from '../eval/service';
import { setScore } from '../eval/service';
import { EvolutionRun, newRun, validateConfig, type EvolveConfig, type RunRecord } from './run';
import { runStore } from './run-store';
import { OptimizerError, toRecord, type ErrorRecord } from '../errors';

export interface EvolveInputs {
  models: ModelSpec[];
  search: EvalSetInput[];
  heldout: EvalSetInput[];
}

/** What is saved: the run plus everything needed to continue it after a reload. */
export type StoredRun = RunRecord & { inputs: EvolveInputs };

/** What the UI receives: the run without optimizer state or inputs. */
export type RunView = Omit<RunRecord, 'cma'> & { evaluations: number };

export type EvolveProgress = { kind: 'candidate'; runId: string; generation: number; index: number; fitness: number; sparsity?: number } | { kind: 'generation'; run: RunView };

export type EvolveReply = { ok: true; run: RunView } | { ok: false; error: ErrorRecord };

/** Starts a run (the engine worker's evolveStart): saved to IndexedDB every generation. */
export interface EvolveStartRequest {
  id: string;
  config: EvolveConfig;
  inputs: EvolveInputs;
}

export function viewOf(r: RunRecord): RunView {
  const { cma, ...rest } = r as StoredRun;
  delete (rest as Partial<StoredRun>).inputs;
  return { ...rest, evaluations: cma?.evaluations ?? 0 };
}

export interface EvolveStore {
  save(r: StoredRun): Promise<void>;
  load(id: string): Promise<StoredRun | undefined>;
  list(): Promise<StoredRun[]>;
  remove(id: string): Promise<void>;
}

export class EvolveService {
  private active?: EvolutionRun;
  constructor(
    private evals: EvalService,
    private store: EvolveStore = runStore as EvolveStore,
  ) {}

  /** Starts a new run (id chosen by the caller, e.g. a timestamp). Resolves when it ends or pauses. */
  async start(id: string, config: EvolveConfig, inputs: EvolveInputs, onProgress?: (p: EvolveProgress) => void): Promise<EvolveReply> {
    try {
      if (this.active) throw new OptimizerError('an evolution run is already in progress; pause or stop it first');
      const record: StoredRun = { ...newRun(id, config, { search: inputs.search.map((s) => s.name), heldout: inputs.heldout.map((s) => s.name) }, Date.now()), inputs };
      await this.preflight(record);
      return await this.drive(record, onProgress);
    } catch (e) {
      return { ok: false, error: toRecord(e) };
    }
  }

  /** Continues a saved run (after a pause or a page reload). */
  async resume(id: string, onProgress?: (p: EvolveProgress) => void): Promise<EvolveReply> {
    try {
      if (this.active) throw new OptimizerError('an evolution run is already in progress');
      const record = await this.store.load(id);
      if (!record) throw new OptimizerError(`no saved evolution run "${id}"`);
      if (record.status === 'done' || record.status === 'stopped') return { ok: true, run: viewOf(record) };
      await this.preflight(record);
      return await this.drive(record, onProgress);
    } catch (e) {
      return { ok: false, error: toRecord(e) };
    }
  }

  pause(): void {
    this.active?.pause();
  }
  stop(): void {
    this.active?.stop();
  }

  async list(): Promise<RunView[]> {
    return (await this.store.list()).map(viewOf).sort((a, b) => b.updatedAt - a.updatedAt);
  }
  async get(id: string): Promise<RunView | undefined> {
    const r = await this.store.load(id);
    return r && viewOf(r);
  }
  remove(id: string): Promise<void> {
    return this.store.remove(id);
  }

  /** Everything that can be checked before the first candidate: budget, spaces, models, eval sets vs tokenizer. */
  private async preflight(r: StoredRun): Promise<void> {
    const c = r.config;
    const { models, search, heldout } = r.inputs;
    if (search.length === 0) throw new OptimizerError('evolution needs at least one search eval set (its fitness)');
    const infos = await this.evals.useModels(models);
    let hiddenA: number | undefined, hiddenB: number | undefined;
    if (c.kind === 'dfs' && c.dfs) {
      const a = c.dfsA?.kind === 'model' ? infos.get(c.dfsA.ref) : c.dfsA?.kind === 'recipe' ? infos.get(c.dfsA.recipe.base_model ?? c.dfsA.recipe.models?.[0]?.model ?? '') : undefined;
      const b = infos.get(c.dfs.modelB);
      hiddenA = a ? Number(a.config.hidden_size) : undefined;
      hiddenB = b ? Number(b.config.hidden_size) : undefined;
    }
    validateConfig(c, { hiddenA, hiddenB });
    // Parse and tokenize-check every set (clear errors naming file and line before any GPU work);
    // the evaluation service keeps the result, so no candidate parses or checks a set again.
    const tokModel = c.kind !== 'dfs' ? (c.ps!.base ?? c.ps!.models[0]) : c.dfsA?.kind === 'model' ? c.dfsA.ref : c.dfs!.modelB;
    const info = infos.get(tokModel);
    if (!info) throw new OptimizerError(`model "${tokModel}" is not among the loaded models`);
    const tok = await this.evals.tokenizerFor(info);
    const sets = this.evals.prepareSets([...search, ...heldout], tok, { limit: c.limit, seed: c.seed, mode: 'teacher-forced' });
    if (sets.every((s) => s.kind !== 'perplexity')) {
      const n = sets.map((s) => s.items.length);
      r.itemsPerSet = { search: n.slice(0, search.length), heldout: n.slice(search.length) };
    }
  }

  private async drive(record: StoredRun, onProgress?: (p: EvolveProgress) => void): Promise<EvolveReply> {
    const c = record.config;
    const { search, heldout } = record.inputs;
    const run = new EvolutionRun(record, {
      evaluate: async (target, split, o) => {
        const sets = split === 'search' ? search : heldout;
        if (sets.length === 0) return { fitness: NaN, perSet: [] };
        const s = await this.evals.evaluate(target, sets, {
          limit: c.limit,
          seed: c.seed,
          mode: 'teacher-forced',
          perItem: !!o.perItem,
          sparsity: o.sparsityBase ? { base: o.sparsityBase, other: o.attractionTo } : undefined,
        });
        return {
          fitness: s.fitness,
          perSet: s.sets.map(setScore),
          sparsity: s.sparsity?.sparsity,
          layerSparsity: s.sparsity?.layers.map((l) => l.sparsity),
          attraction: s.sparsity?.attraction,
          perItem: s.items?.flatMap((items) => items.map((it) => (it.correct ? 1 : 0))),
        };
      },
      save: (r) => this.store.save(r as StoredRun),
      now: () => Date.now(),
      onProgress: (r, ev) => {
        if (ev.kind === 'candidate') onProgress?.({ kind: 'candidate', runId: r.id, generation: ev.candidate.generation, index: ev.candidate.index, fitness: ev.candidate.fitness, sparsity: ev.candidate.sparsity });
        else onProgress?.({ kind: 'generation', run: viewOf(r) });
      },
    });
    this.active = run;
    try {
      // Saved as running before the first candidate: a page that dies during the first generation
      // (of a new run, or right after a resume) finds the run marked running and continues it.
      record.status = 'running';
      await this.store.save(record);
      const r = await run.run();
      if (r.status === 'failed') return { ok: false, error: { name: 'OptimizerError', code: 'optimizer', message: r.error ?? 'the run failed', details: {} } };
      return { ok: true, run: viewOf(r) };
    } finally {
      this.active = undefined;
    }
  }
}

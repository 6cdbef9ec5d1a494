// Evolution runs driven from the studio: the form (store/evolve-config.ts) becomes an EvolveConfig,
// the engine worker runs it and saves it to IndexedDB every generation, and this module keeps the
// small views the charts draw. Progress messages are batched (at most four store updates a second)
// so a fast run cannot flood React. On boot the saved runs are listed; a run whose page died while
// it was running is resumed at once (the worker reloads its inputs from IndexedDB).
import { create } from 'zustand';
import { createJSONStorage, persist } from 'zustand/middleware';
import type { ErrorRecord } from '../errors';
import type { EvolveProgress, EvolveReply, RunView } from '../worker/api';
import { useEvalSets, usableSets } from './evalsets';
import { buildEvolveConfig, DEFAULT_FORM, defaultRole, demoFormSuggestion, withSuggestion, type EvolveForm, type ModelFacts, type PsResult, type SetRole } from './evolve-config';
import { shelfSpecs } from './model-specs';
import { useStudio } from './store';
import { callback, getEngine } from './workers';
import type { ShelfModel } from './types';

export type Activity = 'idle' | 'starting' | 'running' | 'pausing' | 'stopping';

/** The generation in progress: candidates evaluated so far (drawn before the generation ends). */
export interface LiveGeneration {
  runId: string;
  generation: number;
  points: { fitness: number; sparsity?: number }[];
}

export interface EvolutionState {
  form: EvolveForm;
  /** The loaded demo's suggestion last applied to the form (withSuggestion undoes what the user kept of it). */
  suggested: Partial<EvolveForm>;
  /** Eval set roles by file name (absent: by the name, *.search.* / *.test.*). */
  roles: Record<string, SetRole>;
  runs: RunView[];
  /** The run the charts show. */
  shown: RunView | null;
  activity: Activity;
  /** The run the engine is working on (null when idle). */
  activeId: string | null;
  live: LiveGeneration | null;
  error: ErrorRecord | null;
  /** Set when a run was resumed automatically after a reload. */
  resumedAfterReload: boolean;
  booted: boolean;
  /** A text export on show (candidate YAML, hop list, mergekit-evolve config). */
  exported: ExportedText | null;
}

export interface ExportedText {
  title: string;
  text: string;
  filename: string;
  /** Why there is nothing to export (shown instead of the text). */
  error?: string;
}

export const useEvolution = create<EvolutionState>()(
  persist(
    (): EvolutionState => ({
      form: DEFAULT_FORM,
      suggested: {},
      roles: {},
      runs: [],
      shown: null,
      activity: 'idle',
      activeId: null,
      live: null,
      error: null,
      resumedAfterReload: false,
      booted: false,
      exported: null,
    }),
    {
      // The form and the set roles survive a reload (runs live in IndexedDB, in the engine worker).
      name: 'merge-studio-evolution',
      version: 1,
      storage: createJSONStorage(() => localStorage),
      partialize: (s) => ({ form: s.form, roles: s.roles, suggested: s.suggested }),
      merge: (persisted, current) => {
        const p = (persisted ?? {}) as Partial<Pick<EvolutionState, 'form' | 'roles' | 'suggested'>>;
        return {
          ...current,
          form: { ...DEFAULT_FORM, ...(p.form && typeof p.form === 'object' ? p.form : {}) },
          roles: p.roles && typeof p.roles === 'object' ? p.roles : {},
          suggested: demoFormSuggestion(p.suggested),
        };
      },
    },
  ),
);

export function setForm(patch: Partial<EvolveForm>): void {
  useEvolution.setState({ form: { ...useEvolution.getState().form, ...patch }, error: null });
}

/** A demo's manifest suggests a starting form (see demoFormSuggestion); the user's own choices stay, another demo's suggestion goes. */
export function suggestForm(manifestEvolution: unknown): void {
  const suggestion = demoFormSuggestion(manifestEvolution);
  const { form, suggested } = useEvolution.getState();
  useEvolution.setState({ form: withSuggestion(form, suggestion, suggested), suggested: suggestion });
}

// A loaded demo's suggestion reaches the form (the studio store holds it; shelf.ts sets it).
useStudio.subscribe((s, prev) => {
  if (s.demoEvolution !== prev.demoEvolution) suggestForm(s.demoEvolution);
});

export function setRole(name: string, role: SetRole): void {
  useEvolution.setState({ roles: { ...useEvolution.getState().roles, [name]: role } });
}

/** The user's choice, else the demo manifest's suggestion, else by the name (defaultRole). */
export function roleOf(roles: Record<string, SetRole>, name: string, split?: string, suggested?: SetRole): SetRole {
  return roles[name] ?? suggested ?? defaultRole(name, split);
}

/** Header facts of the ready shelf models. */
export function shelfFacts(models: ShelfModel[]): Map<string, ModelFacts> {
  const out = new Map<string, ModelFacts>();
  for (const m of models) {
    if (m.status !== 'ready' || !m.summary) continue;
    let smallest = Infinity;
    for (const t of m.tensors ?? []) {
      const n = t.shape.reduce((a, b) => a * b, 1);
      if (n > 0 && n < smallest) smallest = n;
    }
    out.set(m.ref, { ref: m.ref, layers: m.summary.layers, hidden: m.summary.hidden, smallestTensor: Number.isFinite(smallest) ? smallest : 1 });
  }
  return out;
}

/** Finished or paused parameter-space runs with a best recipe (PS + DFS starts from one). */
export function psResults(runs: RunView[]): (PsResult & { label: string })[] {
  return runs
    .filter((r) => (r.config.kind === 'ps' || r.config.kind === 'sae') && r.status !== 'running' && r.top[0]?.recipe)
    .map((r) => ({
      runId: r.id,
      recipe: r.top[0].recipe!,
      seed: r.config.seed,
      label: `${new Date(r.createdAt).toLocaleString(undefined, { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit' })} · ${r.config.kind.toUpperCase()} ${r.config.ps?.method ?? ''} · best ${r.top[0].fitness.toFixed(3)}`,
    }));
}

const record = (e: unknown): ErrorRecord => {
  const r = e as Partial<ErrorRecord> | undefined;
  if (r && typeof r === 'object' && typeof r.message === 'string' && typeof r.code === 'string') return { name: r.name ?? 'StudioError', code: r.code, message: r.message, details: r.details ?? {} };
  return { name: 'Error', code: 'optimizer', message: e instanceof Error ? e.message : String(e), details: {} };
};

const FLUSH_MS = 250;

/**
 * Batches the worker's progress messages into at most one store update per FLUSH_MS. Progress
 * travels on its own message port, so its last messages may arrive after the engine's reply:
 * `close` drops them (the reply already carries the final state).
 */
function progressSink(runId: string): { onProgress: (p: EvolveProgress) => void; flush: () => void; close: () => void } {
  let queue: EvolveProgress[] = [];
  let timer: ReturnType<typeof setTimeout> | undefined;
  let closed = false;
  const flush = () => {
    clearTimeout(timer);
    timer = undefined;
    if (queue.length === 0) return;
    const events = queue;
    queue = [];
    const s = useEvolution.getState();
    let shown = s.shown;
    let live = s.live;
    let runs = s.runs;
    for (const p of events) {
      if (p.kind === 'generation') {
        if (!shown || shown.id === p.run.id) shown = p.run;
        runs = upsert(runs, p.run);
        live = { runId: p.run.id, generation: p.run.history.length, points: [] };
      } else {
        if (!live || live.runId !== p.runId || live.generation !== p.generation) live = { runId: p.runId, generation: p.generation, points: [] };
        live = { ...live, points: [...live.points, { fitness: p.fitness, sparsity: p.sparsity }] };
      }
    }
    useEvolution.setState({ shown, live, runs });
  };
  return {
    onProgress: (p) => {
      if (closed || (p.kind === 'generation' ? p.run.id : p.runId) !== runId) return;
      queue.push(p);
      timer ??= setTimeout(flush, FLUSH_MS);
    },
    flush,
    close: () => {
      closed = true;
      clearTimeout(timer);
      queue = [];
    },
  };
}

function upsert(runs: RunView[], run: RunView): RunView[] {
  const i = runs.findIndex((r) => r.id === run.id);
  const next = i < 0 ? [run, ...runs] : runs.map((r) => (r.id === run.id ? run : r));
  return next.sort((a, b) => b.updatedAt - a.updatedAt);
}

/** Drives one engine call (start or resume) to its end and records the outcome. */
async function drive(runId: string, call: (onProgress: (p: EvolveProgress) => void) => Promise<EvolveReply>): Promise<void> {
  const sink = progressSink(runId);
  useEvolution.setState({ activity: 'running', activeId: runId, error: null });
  let reply: EvolveReply;
  try {
    reply = await call(callback(sink.onProgress));
  } catch (e) {
    reply = { ok: false, error: record(e) };
  }
  sink.close();
  const runs = await getEngine()
    .api.evolveRuns()
    .catch(() => useEvolution.getState().runs);
  // The final state: the engine's reply, else what it saved (a failed run keeps its history).
  const final = reply.ok ? reply.run : runs.find((r) => r.id === runId);
  const current = useEvolution.getState().shown;
  const showFinal = final && (!current || current.id === runId);
  useEvolution.setState({ activity: 'idle', activeId: null, live: null, runs, shown: showFinal ? final : current, error: reply.ok ? null : reply.error });
}

const busy = () => useEvolution.getState().activity !== 'idle';

function newRunId(): string {
  const d = new Date();
  const p = (n: number) => String(n).padStart(2, '0');
  return `run-${d.getFullYear()}${p(d.getMonth() + 1)}${p(d.getDate())}-${p(d.getHours())}${p(d.getMinutes())}${p(d.getSeconds())}-${Math.random().toString(36).slice(2, 6)}`;
}

/** Builds the run from the form and starts it; a bad form becomes `error` (nothing starts). */
export async function startEvolution(): Promise<void> {
  if (busy()) return;
  const ev = useEvolution.getState();
  const st = useStudio.getState();
  try {
    const facts = shelfFacts(st.models);
    const psResult = ev.form.kind === 'psdfs' ? psResults(ev.runs).find((r) => r.runId === ev.form.fromRun) ?? psResults(ev.runs)[0] : undefined;
    const { config, models } = buildEvolveConfig(ev.form, st.recipe, facts, psResult);
    const sets = usableSets(useEvalSets.getState().sets);
    const search = sets.filter((x) => roleOf(ev.roles, x.name, x.split, x.role) === 'search').map((x) => ({ name: x.name, text: x.text }));
    const heldout = sets.filter((x) => roleOf(ev.roles, x.name, x.split, x.role) === 'heldout').map((x) => ({ name: x.name, text: x.text }));
    if (search.length === 0) throw Object.assign(new Error('Evolution needs at least one search eval set (its fitness): mark a set "search", or add a .jsonl file.'), { code: 'eval' });
    const { specs, missing } = shelfSpecs(st.models, models);
    if (missing.length) throw Object.assign(new Error(`The run uses ${missing.join(', ')}, which is not on the shelf (or still being read).`), { code: 'model' });
    const id = newRunId();
    const now = Date.now();
    // What the charts show until the first generation arrives.
    const pending: RunView = { id, version: 1, createdAt: now, updatedAt: now, status: 'running', config, setNames: { search: search.map((s) => s.name), heldout: heldout.map((s) => s.name) }, history: [], top: [], evaluations: 0 };
    useEvolution.setState({ activity: 'starting', shown: pending, live: null, resumedAfterReload: false, error: null, exported: null });
    const engine = getEngine();
    await drive(id, (onProgress) => engine.api.evolveStart({ id, config, inputs: { models: specs, search, heldout } }, onProgress));
  } catch (e) {
    const err = e as Error & { code?: ErrorRecord['code']; details?: ErrorRecord['details'] };
    useEvolution.setState({ activity: 'idle', error: { name: err.name ?? 'Error', code: err.code ?? 'optimizer', message: err.message, details: err.details ?? {} } });
  }
}

export function pauseEvolution(): void {
  if (useEvolution.getState().activity !== 'running') return;
  useEvolution.setState({ activity: 'pausing' });
  void getEngine().api.evolvePause();
}

export function stopEvolution(): void {
  const a = useEvolution.getState().activity;
  if (a !== 'running' && a !== 'pausing') return;
  useEvolution.setState({ activity: 'stopping' });
  void getEngine().api.evolveStop();
}

export async function resumeEvolution(id?: string, afterReload = false): Promise<void> {
  if (busy()) return;
  const runId = id ?? useEvolution.getState().shown?.id;
  if (!runId) return;
  const engine = getEngine();
  useEvolution.setState({ resumedAfterReload: afterReload });
  await drive(runId, (onProgress) => engine.api.evolveResume(runId, onProgress));
}

export function openRun(id: string): void {
  const run = useEvolution.getState().runs.find((r) => r.id === id);
  if (run) useEvolution.setState({ shown: run, live: null, resumedAfterReload: false, exported: null });
}

export async function removeRun(id: string): Promise<void> {
  if (useEvolution.getState().activeId === id) return;
  await getEngine().api.evolveRemove(id);
  const runs = useEvolution.getState().runs.filter((r) => r.id !== id);
  const shown = useEvolution.getState().shown;
  useEvolution.setState(shown?.id === id ? { runs, shown: runs[0] ?? null, exported: null } : { runs });
}

/** Lists the saved runs and shows the latest; resumes it if the page died while it ran. */
export async function bootEvolution(): Promise<void> {
  if (useEvolution.getState().booted) return;
  useEvolution.setState({ booted: true });
  let runs: RunView[];
  try {
    runs = await getEngine().api.evolveRuns();
  } catch (e) {
    useEvolution.setState({ error: record(e) });
    return;
  }
  const latest = runs[0] ?? null;
  useEvolution.setState({ runs, shown: latest });
  if (latest?.status === 'running') await resumeEvolution(latest.id, true);
}

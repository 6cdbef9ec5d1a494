// Live diagnostics: after every recipe or shelf change the engine worker computes sparsity, density,
// sign conflicts, mask overlap and contributions (merge/diagnostics.ts) on the GPU. One call in
// flight at a time; changes during a call make it run again right after, so charts keep up with a
// slider being dragged. Paused while a merge runs (the two would share the GPU).
import { specOf } from './model-specs';
import { create } from 'zustand';
import type { ErrorRecord } from '../errors';
import { recipeModels } from '../recipe/model-card';
import type { DiagnosticsResult, ModelSpec } from '../worker/api';
import { useStudio, type StudioState } from './store';
import { getEngine } from './workers';

export interface DiagnosticsState {
  status: 'idle' | 'running' | 'ready' | 'error' | 'unavailable';
  result: DiagnosticsResult | null;
  /** Recipe revision the result is for. */
  forRevision: number;
  /** From the change to the result arriving, for the last result (ms). */
  latencyMs: number;
  /** Engine time of the last result (ms). */
  engineMs: number;
  error: ErrorRecord | null;
  reason: string | null;
}

export const useDiagnostics = create<DiagnosticsState>()(() => ({
  status: 'idle',
  result: null,
  forRevision: -1,
  latencyMs: 0,
  engineMs: 0,
  error: null,
  reason: null,
}));

function modelSpecs(s: StudioState): { specs: ModelSpec[]; missing: string[] } {
  const specs: ModelSpec[] = [];
  const missing: string[] = [];
  for (const ref of recipeModels(s.recipe)) {
    const m = s.models.find((x) => x.ref === ref && x.status === 'ready');
    if (!m) missing.push(ref);
    else specs.push(specOf(m));
  }
  return { specs, missing };
}

function key(s: StudioState): string {
  const ready = s.models.filter((m) => m.status === 'ready').map((m) => `${m.id}=${m.ref}`);
  return `${s.revision}|${ready.join(',')}`;
}

const busy = (s: StudioState) => s.run.kind === 'merging' || s.run.kind === 'picking';

let started = false;

/**
 * Stops diagnostics still running on the GPU (before a merge): the engine cancels an older
 * diagnostics call when a newer one arrives, and a call for no tensors finishes at once.
 */
export function cancelDiagnostics(): void {
  if (useDiagnostics.getState().status !== 'running') return;
  const s = useStudio.getState();
  const { specs, missing } = modelSpecs(s);
  if (missing.length || specs.length === 0) return;
  void getEngine().api.diagnostics({ recipe: s.recipe, models: specs, tensors: [] });
}

export function startDiagnostics(delayMs = 0): void {
  if (started) return;
  started = true;
  let last = '';
  let timer: ReturnType<typeof setTimeout> | undefined;
  let inFlight = false;
  let dirty = false;
  /** A change arrived during a merge: diagnose once the merge is over. */
  let deferred = false;
  let wasBusy = false;
  const changedAt = new Map<number, number>();

  const run = async (): Promise<void> => {
    if (inFlight) {
      dirty = true;
      return;
    }
    const s = useStudio.getState();
    if (busy(s)) {
      deferred = true;
      return;
    }
    const { specs, missing } = modelSpecs(s);
    if (specs.length === 0 || missing.length) {
      useDiagnostics.setState({ status: 'unavailable', reason: missing.length ? `waiting for ${missing.join(', ')}` : 'no models in the recipe', forRevision: s.revision });
      return;
    }
    if (s.analysis && s.analysisFor === s.revision && s.analysis.plan.status === 'error') {
      useDiagnostics.setState({ status: 'unavailable', reason: 'the recipe does not plan', forRevision: s.revision });
      return;
    }
    inFlight = true;
    dirty = false;
    const rev = s.revision;
    useDiagnostics.setState({ status: 'running' });
    try {
      const sent = performance.now();
      const reply = await getEngine().api.diagnostics({ recipe: s.recipe, models: specs });
      // User Timing entries for profiling (bench:ui reads them): the engine round trip of this call.
      performance.measure('diagnostics:round-trip', { start: sent, end: performance.now() });
      if (reply.ok) {
        const { ok: _ok, cache: _cache, ...result } = reply;
        const t = changedAt.get(rev);
        useDiagnostics.setState({
          status: 'ready',
          result,
          forRevision: rev,
          engineMs: result.elapsedMs,
          latencyMs: t !== undefined ? performance.now() - t : result.elapsedMs,
          error: null,
          reason: null,
        });
      } else if (reply.error.code === 'cancelled') {
        // Stopped for a merge (cancelDiagnostics): show the last result and diagnose again afterwards.
        useDiagnostics.setState({ status: useDiagnostics.getState().result ? 'ready' : 'idle' });
        if (busy(useStudio.getState())) deferred = true;
        else dirty = true;
      } else {
        useDiagnostics.setState({ status: 'error', error: reply.error, forRevision: rev });
      }
    } catch (e) {
      useDiagnostics.setState({ status: 'error', error: { name: 'Error', code: 'gpu', message: e instanceof Error ? e.message : String(e), details: {} }, forRevision: rev });
    } finally {
      inFlight = false;
      for (const r of [...changedAt.keys()]) if (r <= rev) changedAt.delete(r);
      if (dirty || useStudio.getState().revision !== rev) {
        dirty = false;
        void run();
      }
    }
  };

  const check = (s: StudioState) => {
    const b = busy(s);
    if (wasBusy && !b && deferred) {
      deferred = false;
      void run();
    }
    wasBusy = b;
    const k = key(s);
    if (k === last) return;
    last = k;
    if (!changedAt.has(s.revision)) changedAt.set(s.revision, performance.now());
    clearTimeout(timer);
    timer = setTimeout(() => void run(), delayMs);
  };
  useStudio.subscribe(check);
  check(useStudio.getState());
}

// Evolution: configure a run, "Start evolution" / "Pause" / "Resume" / "Stop", a progress line
// (generation, evaluations, candidates per minute), live charts, the best candidates, and the saved
// runs (IndexedDB, one record per run, rewritten every generation).
import { dimensionOf } from '../evolve/run';
import { useEvaluate } from '../store/evaluate';
import { RUN_KINDS } from '../store/evolve-config';
import { openRun, pauseEvolution, removeRun, resumeEvolution, startEvolution, stopEvolution, useEvolution, type Activity, type LiveGeneration } from '../store/evolution';
import type { RunView } from '../worker/api';
import { Candidates, EvolveExportButton, ExportPane } from './Candidates';
import { EvolutionCharts } from './EvolutionCharts';
import { EvolutionForm } from './EvolutionForm';
import { formatDuration } from './format';

export function Evolution() {
  const activity = useEvolution((s) => s.activity);
  const shown = useEvolution((s) => s.shown);
  const live = useEvolution((s) => s.live);
  const error = useEvolution((s) => s.error);
  const resumed = useEvolution((s) => s.resumedAfterReload);
  const activeId = useEvolution((s) => s.activeId);
  const idle = activity === 'idle';
  // "Try it" and evolution share the engine's evaluator: one at a time.
  const trying = useEvaluate((s) => s.completion.status === 'running' || s.run.status === 'running');
  const canResume = idle && !!shown && (shown.status === 'paused' || shown.status === 'running');
  const status = shown ? statusOf(shown, activity, activeId) : null;
  return (
    <section className="panel evolution" aria-labelledby="evo-title" data-status={status?.key ?? 'none'}>
      <header className="panel-head">
        <h2 id="evo-title">Evolution</h2>
        {status ? (
          <span className={`badge ${status.cls}`} aria-label="Run status">
            {status.text}
          </span>
        ) : null}
        <span className="muted small">CMA-ES · SAE · saved every generation</span>
      </header>
      <details className="subpanel evo-config" open={!shown}>
        <summary className="small">Configure a run</summary>
        <EvolutionForm disabled={!idle} />
      </details>
      <div className="evo-controls row gap wrap">
        <button type="button" className="primary" onClick={() => void startEvolution()} disabled={!idle || trying} title={trying ? 'Try it is using the evaluator' : undefined}>
          Start evolution
        </button>
        <button type="button" onClick={pauseEvolution} disabled={activity !== 'running'}>
          Pause
        </button>
        <button type="button" onClick={() => void resumeEvolution()} disabled={!canResume || trying}>
          Resume
        </button>
        <button type="button" className="danger" onClick={stopEvolution} disabled={activity !== 'running' && activity !== 'pausing'}>
          Stop
        </button>
      </div>
      {error ? (
        <p className="callout bad small" role="alert">
          {error.message}
        </p>
      ) : null}
      {shown ? (
        <div className="evo-run">
          {resumed && activeId === shown.id ? <p className="small muted">Resumed after the page reloaded: the run continues from its last saved generation.</p> : null}
          <ProgressLine run={shown} live={live} activity={activeId === shown.id ? activity : 'idle'} />
          <EvolutionCharts run={shown} live={live} />
          <Candidates run={shown} />
          <div className="row gap wrap evo-exports">
            <EvolveExportButton run={shown} />
          </div>
          <ExportPane />
        </div>
      ) : (
        <p className="small muted pad evo-empty">Pick the models and eval sets above, then start: fitness and sparsity are drawn here as they come in.</p>
      )}
      <RunList />
    </section>
  );
}

function statusOf(run: RunView, activity: Activity, activeId: string | null): { key: string; text: string; cls: string } {
  const active = activeId === run.id;
  if (active && activity === 'starting') return { key: 'starting', text: 'starting', cls: 'warn' };
  if (active && activity === 'pausing') return { key: 'pausing', text: 'pausing after this generation', cls: 'warn' };
  if (active && activity === 'stopping') return { key: 'stopping', text: 'stopping after this generation', cls: 'warn' };
  if (active) return { key: 'running', text: 'running', cls: 'ok' };
  if (run.status === 'running') return { key: 'interrupted', text: 'interrupted', cls: 'warn' };
  if (run.status === 'failed') return { key: 'failed', text: 'failed', cls: 'bad' };
  if (run.status === 'done') return { key: 'done', text: 'done', cls: 'ok' };
  return { key: run.status, text: run.status, cls: '' };
}

/** Candidates per generation as the optimizer will draw them. */
function populationOf(run: RunView): number | null {
  const c = run.config;
  if (c.popSize) return c.popSize;
  if (c.kind === 'sae') return c.sae?.archiveSize ?? null;
  try {
    return 4 + Math.floor(3 * Math.log(dimensionOf(c)));
  } catch {
    return null;
  }
}

function ProgressLine({ run, live, activity }: { run: RunView; live: LiveGeneration | null; activity: Activity }) {
  const G = run.config.generations;
  const done = run.history.length;
  const evals = run.history.reduce((a, g) => a + g.points.length, 0);
  const ms = run.history.reduce((a, g) => a + g.ms, 0);
  const perMin = ms > 0 ? (evals / ms) * 60_000 : null;
  const pop = populationOf(run);
  const inGen = live && live.runId === run.id && live.generation === done ? live.points.length : 0;
  const running = activity !== 'idle';
  const word = run.config.kind === 'sae' ? 'round' : 'generation';
  const kind = RUN_KINDS.find((k) => k.id === run.config.kind)?.label ?? run.config.kind;
  const method = run.config.ps?.method ?? (run.config.dfsA?.kind === 'recipe' ? 'PS + DFS' : 'layer path');
  return (
    <p className="small evo-progress" aria-label="Evolution progress" aria-live="polite">
      <b>
        {word} {running && done < G ? done + 1 : done}/{G}
      </b>
      {running && done < G && pop ? ` · candidate ${Math.min(inGen + 1, pop)}/${pop}` : ''} · {evals + inGen} evaluations · {perMin !== null ? `${perMin.toFixed(1)} candidates/min` : '— candidates/min'}
      {ms > 0 ? ` · ${formatDuration(ms)}` : ''}
      <span className="muted">
        {' '}
        · {kind === 'Parameter space (PS)' ? 'PS' : kind}, {method}, seed {run.config.seed}, {run.config.limit ?? 'all'} items/set
      </span>
      {run.error ? <span className="bad"> · {run.error}</span> : null}
    </p>
  );
}

function RunList() {
  const runs = useEvolution((s) => s.runs);
  const shown = useEvolution((s) => s.shown);
  const activeId = useEvolution((s) => s.activeId);
  if (runs.length === 0) return null;
  return (
    <details className="subpanel evo-runs">
      <summary className="small">
        Saved runs <span className="muted">({runs.length})</span>
      </summary>
      <ul className="run-list" aria-label="Saved runs">
        {runs.map((r) => (
          <li key={r.id} className={r.id === shown?.id ? 'on' : undefined}>
            <span className="mono ellipsis grow" title={r.id}>
              {r.id}
            </span>
            <span className="small muted">
              {r.config.kind} · {r.history.length}/{r.config.generations} · {r.status}
            </span>
            <button type="button" className="mini" aria-label={`Open ${r.id}`} disabled={r.id === shown?.id} onClick={() => openRun(r.id)}>
              Open
            </button>
            <button type="button" className="mini" aria-label={`Delete ${r.id}`} disabled={r.id === activeId} onClick={() => void removeRun(r.id)}>
              Delete
            </button>
          </li>
        ))}
      </ul>
    </details>
  );
}

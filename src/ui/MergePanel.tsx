// Merge and export: what the merge will write, the Merge button, live progress (tensors, bytes,
// MB/s, ETA) with "Cancel merge", and the completion summary with per-file SHA-256.
import { useEffect, useState } from 'react';
import { cancelMerge, safeOutputName, startMerge } from '../store/run';
import { useStudio } from '../store/store';
import type { RunState } from '../store/types';
import type { VocabReport } from '../recipe/vocab';
import { formatBytes, formatDuration } from './format';
import { PublishPanel } from './PublishPanel';

const STAGE: Record<string, string> = {
  'reading-headers': 'Reading headers',
  planning: 'Planning',
  merging: 'Merging',
  finalizing: 'Writing config, tokenizer and model card',
  done: 'Done',
};

export function MergePanel() {
  const run = useStudio((s) => s.run);
  const plan = useStudio((s) => s.analysis?.plan);
  const outputName = useStudio((s) => s.outputName);
  const set = useStudio((s) => s.set);
  const hasPicker = typeof (window as unknown as { showDirectoryPicker?: unknown }).showDirectoryPicker === 'function';
  const busy = run.kind === 'merging' || run.kind === 'picking';
  const blocked = !plan ? 'Checking the recipe…' : plan.status === 'ok' ? null : plan.status === 'incomplete' ? `Missing models: ${plan.missingRefs.join(', ')}` : plan.status === 'empty' ? 'Add models first.' : plan.error?.message ?? 'The recipe does not plan.';
  return (
    <section className="panel merge" aria-labelledby="merge-title">
      <header className="panel-head">
        <h2 id="merge-title">Merge</h2>
        {plan?.status === 'ok' ? (
          <span className="muted small">
            {plan.tensors} tensors · reads {formatBytes(plan.readBytes)} · writes {formatBytes(plan.outputBytes)}
          </span>
        ) : null}
      </header>
      <div className="merge-row">
        {hasPicker ? (
          <p className="small muted grow">Writes a mergekit-shaped folder into a folder you pick (choose or create an empty one).</p>
        ) : (
          <label className="field grow">
            <span>Output name (browser storage, then download)</span>
            <input aria-label="Output name" value={outputName} onChange={(e) => set({ outputName: e.target.value })} onBlur={() => set({ outputName: safeOutputName(outputName) })} />
          </label>
        )}
        <button type="button" className="primary" onClick={() => void startMerge()} disabled={busy || !!blocked} title={blocked ?? undefined}>
          Merge
        </button>
      </div>
      {blocked && !busy && plan && plan.status !== 'ok' ? (
        <p className={`small ${plan.status === 'error' ? 'bad' : 'muted'}`} role={plan.status === 'error' ? 'alert' : undefined} aria-label="Why the merge cannot start">
          {blocked}
        </p>
      ) : null}
      {plan?.status === 'ok' && plan.warnings.length ? (
        <details className="warnings small">
          <summary>
            {plan.warnings.length} planner warning{plan.warnings.length === 1 ? '' : 's'}
          </summary>
          <ul>
            {plan.warnings.map((w, i) => (
              <li key={i}>{w}</li>
            ))}
          </ul>
        </details>
      ) : null}
      {plan?.status === 'ok' && plan.vocab ? <VocabSummary vocab={plan.vocab} /> : null}
      <RunView run={run} />
    </section>
  );
}

/** Before merging: the output vocabulary, and per model the tokens it lacks and what fills their rows. */
function VocabSummary({ vocab }: { vocab: VocabReport }) {
  const lacking = vocab.models.filter((m) => m.missing > 0);
  const source = vocab.setting === 'union' ? `the union of the vocabularies (${vocab.sourceModel}’s first)` : vocab.setting === 'base' ? `the base ${vocab.sourceModel}’s vocabulary` : `${vocab.sourceModel}’s vocabulary`;
  return (
    <section className="vocab small" aria-label="Vocabulary">
      <p>
        Output vocabulary: <b>{vocab.size.toLocaleString()}</b> tokens, {source}
        {vocab.addedTokens > 0 ? `, ${vocab.addedTokens} added` : ''}
        {vocab.rows > vocab.size ? `; ${vocab.rows.toLocaleString()} embedding rows (padded)` : ''}.{' '}
        {lacking.length === 0 ? 'Every model has every token at a row of its own.' : 'Embedding and lm_head rows are permuted to it; rows a model lacks are filled:'}
      </p>
      {lacking.length ? (
        <ul className="vocab-models">
          {lacking.map((m) => (
            <li key={m.model} aria-label={`Tokens ${m.model} lacks`}>
              <b>{m.model}</b> lacks {m.missing.toLocaleString()} token{m.missing === 1 ? '' : 's'}:{' '}
              {m.examples.map((e, i) => (
                <span key={e.id}>
                  {i ? ', ' : ''}
                  <code title={`id ${e.id}: ${e.fill}`}>{JSON.stringify(e.token)}</code>
                </span>
              ))}
              {m.missing > m.examples.length ? ` and ${(m.missing - m.examples.length).toLocaleString()} more` : ''}
              <ul>
                {Object.entries(m.fills).map(([what, n]) => (
                  <li key={what}>
                    {n.toLocaleString()} × {what}
                  </li>
                ))}
              </ul>
            </li>
          ))}
        </ul>
      ) : null}
    </section>
  );
}

function useNow(active: boolean): number {
  const [now, setNow] = useState(() => performance.now());
  useEffect(() => {
    if (!active) return;
    const t = setInterval(() => setNow(performance.now()), 500);
    return () => clearInterval(t);
  }, [active]);
  return now;
}

function RunView({ run }: { run: RunState }) {
  const now = useNow(run.kind === 'merging');
  if (run.kind === 'idle') return null;
  if (run.kind === 'picking') return <p className="muted small">Choose an output folder…</p>;
  if (run.kind === 'failed')
    return (
      <div className="callout bad" role="alert">
        <strong>The merge failed.</strong> {run.error.message}
        <p className="small muted">Nothing was left in the output folder.</p>
      </div>
    );
  if (run.kind === 'cancelled')
    return (
      <div className={`callout ${run.clean ? 'info' : 'warn'}`} role="status">
        {run.clean ? 'Merge cancelled. No partial output was left behind.' : 'Merge cancelled, but a temporary folder could not be removed; delete it by hand.'}
      </div>
    );
  if (run.kind === 'merging') {
    const p = run.progress;
    const frac = p && p.bytesTotal > 0 ? p.bytesRead / p.bytesTotal : 0;
    const eta = p && run.rate > 0 ? (p.bytesTotal - p.bytesRead) / run.rate : NaN;
    const elapsed = now - run.startedAt;
    return (
      <div className="progress-box" aria-live="polite">
        <div className="row space small">
          <span>{run.cancelling ? 'Cancelling…' : p ? STAGE[p.stage] ?? p.stage : 'Starting the engine…'}</span>
          <span className="muted">{formatDuration(Math.max(elapsed, p?.elapsedMs ?? 0))}</span>
        </div>
        <div className="bar" role="progressbar" aria-label="Merge progress" aria-valuemin={0} aria-valuemax={100} aria-valuenow={Math.round(frac * 100)}>
          <div style={{ width: `${(frac * 100).toFixed(1)}%` }} />
        </div>
        {p ? (
          <div className="stats small">
            <span>
              <b>{p.tensorsDone}</b> / {p.tensorsTotal} tensors
            </span>
            <span>
              <b>{formatBytes(p.bytesRead)}</b> / {formatBytes(p.bytesTotal)}
            </span>
            <span>
              <b>{run.rate > 0 ? `${(run.rate / 1e6).toFixed(1)} MB/s` : '—'}</b>
            </span>
            <span>ETA {Number.isFinite(eta) ? formatDuration(eta * 1000) : '—'}</span>
          </div>
        ) : null}
        {p?.currentTensor ? <div className="mono small muted current">{p.currentTensor}</div> : null}
        <button type="button" className="danger" onClick={cancelMerge} disabled={run.cancelling}>
          Cancel merge
        </button>
      </div>
    );
  }
  // done
  const s = run.summary;
  const where = run.target.kind === 'directory' ? `the folder “${run.target.name}”` : `browser storage (OPFS) at ${run.target.dir}`;
  return (
    <>
      <div className="done" role="status" aria-label="Merge summary">
        <p>
          <strong className="ok">Merged {s.tensors} tensors</strong> in {formatDuration(s.elapsedMs)} · {formatBytes(s.files.reduce((a, f) => a + f.bytes, 0))} in {s.files.length} files written to {where}
        </p>
        {s.warnings.length ? <p className="small warn-text">{s.warnings.length} warning(s): {s.warnings[0]}</p> : null}
        <table className="files small" aria-label="Output files">
          <thead>
            <tr>
              <th>file</th>
              <th className="num">size</th>
              <th>SHA-256</th>
            </tr>
          </thead>
          <tbody>
            {run.files.map((f) => {
              const dl = run.downloads?.find((d) => d.path === f.path);
              return (
                <tr key={f.path}>
                  <td className="mono">
                    {dl ? (
                      <a href={dl.url} download={f.path.split('/').pop()}>
                        {f.path}
                      </a>
                    ) : (
                      f.path
                    )}
                  </td>
                  <td className="num mono">{formatBytes(f.bytes)}</td>
                  <td className="mono hash" title={f.sha256} data-sha256={f.sha256 ?? ''}>
                    {f.sha256 ? `${f.sha256.slice(0, 16)}…` : run.hashing ? 'hashing…' : '—'}
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
        {run.downloads ? <p className="small muted">This browser has no folder picker: the files are in its private storage; download each above.</p> : null}
      </div>
      <PublishPanel summary={run.summary} />
    </>
  );
}

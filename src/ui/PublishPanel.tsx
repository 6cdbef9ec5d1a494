// "Publish to the Hub", shown under a completed merge: repository, private (default), token (kept
// in this tab only: store/hub.ts), optional commit message; upload progress; the repository's URL.
// The files are the ones the merge wrote, whichever engine (CPU or WebGPU) wrote them.
import { useState } from 'react';
import { getHubEndpoint, getHubToken, setHubEndpoint, setHubToken, useHub } from '../store/hub';
import { cancelPublish, publishProblem, startPublish, usePublish, type PublishState } from '../store/publish';
import { formatBytes, formatDuration } from './format';
import type { MergeSummary } from '../worker/api';

const PHASE: Record<string, string> = {
  checking: 'Checking the token',
  creating: 'Creating the repository',
  preparing: 'Preparing the upload',
  hashing: 'Hashing the weights',
  uploading: 'Uploading',
  committing: 'Committing',
  done: 'Done',
};

export function PublishPanel({ summary }: { summary: MergeSummary }) {
  const stored = usePublish((s) => s.state);
  const of = usePublish((s) => s.of);
  const state: PublishState = of === summary || stored.kind === 'publishing' ? stored : { kind: 'idle' };
  const [repo, setRepo] = useState('');
  const [isPrivate, setPrivate] = useState(true);
  const [token, setToken] = useState(() => getHubToken() ?? '');
  const [message, setMessage] = useState('');
  const [endpoint, setEndpoint] = useState(getHubEndpoint);
  const busy = state.kind === 'publishing';
  const problem = publishProblem(repo, token);
  return (
    <section className="publish" aria-labelledby="publish-title">
      <h3 id="publish-title">Publish to the Hub</h3>
      <form
        className="publish-form"
        onSubmit={(e) => {
          e.preventDefault();
          if (!problem && !busy) void startPublish({ repo, private: isPrivate, commitMessage: message });
        }}
      >
        <label className="field">
          <span>Repository (namespace/name)</span>
          <input aria-label="Hub repository" placeholder="your-name/merged-model" value={repo} onChange={(e) => setRepo(e.target.value)} disabled={busy} spellCheck={false} />
        </label>
        <label className="field">
          <span>Access token (write role; kept in this tab only)</span>
          <input
            aria-label="Hub token"
            type="password"
            autoComplete="off"
            placeholder="hf_…"
            value={token}
            onChange={(e) => {
              setToken(e.target.value);
              setHubToken(e.target.value, useHub.getState().tokenKept);
            }}
            disabled={busy}
          />
        </label>
        <label className="field">
          <span>Commit message (optional)</span>
          <input aria-label="Commit message" value={message} onChange={(e) => setMessage(e.target.value)} disabled={busy} />
        </label>
        <label className="row gap small">
          <input type="checkbox" aria-label="Private repository" checked={isPrivate} onChange={(e) => setPrivate(e.target.checked)} disabled={busy} />
          <span>Private (a new repository only; an existing one keeps its visibility)</span>
        </label>
        <details className="small">
          <summary>Hub address</summary>
          <label className="field">
            <span>Hub (a Hugging Face Hub or a compatible server)</span>
            <input
              aria-label="Hub address"
              value={endpoint}
              onChange={(e) => setEndpoint(e.target.value)}
              onBlur={() => endpoint !== getHubEndpoint() && setHubEndpoint(endpoint)}
              disabled={busy}
            />
          </label>
        </details>
        <div className="row gap">
          <button type="submit" className="primary" disabled={busy || !!problem} title={problem ?? undefined}>
            Publish to the Hub
          </button>
          {busy ? (
            <button type="button" className="danger" onClick={cancelPublish}>
              Cancel upload
            </button>
          ) : null}
        </div>
        {problem && repo && !busy ? <p className="small muted">{problem}</p> : null}
      </form>
      <PublishStatus state={state} />
    </section>
  );
}

function PublishStatus({ state }: { state: PublishState }) {
  if (state.kind === 'idle') return null;
  if (state.kind === 'failed')
    return (
      <div className="callout bad" role="alert" aria-label="Publish error">
        <strong>Publishing failed.</strong> {state.error.message}
      </div>
    );
  if (state.kind === 'cancelled')
    return (
      <div className="callout info" role="status">
        Upload cancelled; nothing was committed to {state.repo}.
      </div>
    );
  if (state.kind === 'publishing') {
    const p = state.progress;
    const bytes = p ? (p.phase === 'hashing' ? p.bytesHashed : p.bytesUploaded) : 0;
    const frac = p && p.bytesTotal > 0 ? bytes / p.bytesTotal : 0;
    return (
      <div className="progress-box" aria-live="polite">
        <div className="row space small">
          <span>{p ? PHASE[p.phase] : 'Reading the merged files'} · {state.repo}</span>
          <span className="muted">{formatDuration(performance.now() - state.startedAt)}</span>
        </div>
        <div className="bar" role="progressbar" aria-label="Upload progress" aria-valuemin={0} aria-valuemax={100} aria-valuenow={Math.round(frac * 100)}>
          <div style={{ width: `${(frac * 100).toFixed(1)}%` }} />
        </div>
        {p ? (
          <div className="stats small">
            <span>
              <b>{formatBytes(bytes)}</b> / {formatBytes(p.bytesTotal)}
            </span>
            <span>{p.filesTotal} files</span>
            {p.file ? <span className="mono">{p.file}</span> : null}
          </div>
        ) : null}
      </div>
    );
  }
  const r = state.result;
  return (
    <div className="callout ok" role="status" aria-label="Published">
      Published to{' '}
      <a href={r.url} target="_blank" rel="noreferrer">
        {r.url}
      </a>{' '}
      ({r.created ? `new ${r.private ? 'private' : 'public'} repository` : 'existing repository'}): {r.files} files, {formatBytes(r.bytes)} in one commit{' '}
      <a className="mono" href={r.commit.url} target="_blank" rel="noreferrer">
        {r.commit.oid.slice(0, 12)}
      </a>
      .
    </div>
  );
}

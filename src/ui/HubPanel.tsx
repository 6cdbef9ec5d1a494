// "Add from the Hub" on the shelf: a repo id or Hub URL with an optional revision, the token field
// (memory, or this tab's sessionStorage when asked; never saved elsewhere), the endpoint, and the
// byte cache (limit, usage, clear).
import { useEffect, useState, type FormEvent } from 'react';
import { addFromHub, clearHubCache, getHubToken, refreshCacheUsage, setCacheLimit, setHubEndpoint, setHubToken, useHub } from '../store/hub';
import { formatBytes } from './format';

export function HubPanel({ onClose }: { onClose?: () => void }) {
  const hub = useHub();
  const [text, setText] = useState('');
  const [revision, setRevision] = useState('');
  const [tokenText, setTokenText] = useState('');
  const [keep, setKeep] = useState(false);
  const [endpoint, setEndpoint] = useState(hub.endpoint);
  const [limitGb, setLimitGb] = useState(String(hub.cacheBytes / 1e9));
  useEffect(() => {
    void refreshCacheUsage();
  }, []);
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    if (!text.trim()) return;
    if (endpoint !== hub.endpoint && !setHubEndpoint(endpoint)) return;
    const m = await addFromHub(text, revision);
    if (m) {
      setText('');
      setRevision('');
    }
  };
  return (
    <form className="hub-panel callout info" aria-label="Add from the Hub" onSubmit={(e) => void submit(e)}>
      <div className="row space">
        <strong>Add from the Hub</strong>
        {onClose ? (
          <button type="button" className="link" onClick={onClose}>
            Close
          </button>
        ) : null}
      </div>
      <p className="muted small">Only headers are read now; tensors are read by range requests when you merge, pinned to the commit the revision points to.</p>
      <label className="field">
        <span>Model</span>
        <input name="hub-ref" placeholder="org/name or https://huggingface.co/org/name" value={text} onChange={(e) => setText(e.currentTarget.value)} spellCheck={false} />
      </label>
      <label className="field">
        <span>Revision</span>
        <input name="hub-revision" placeholder="main (branch, tag or commit)" value={revision} onChange={(e) => setRevision(e.currentTarget.value)} spellCheck={false} />
      </label>
      <div className="row gap">
        <button type="submit" disabled={!!hub.adding || !text.trim()}>
          {hub.adding ? `Adding ${hub.adding}…` : 'Add'}
        </button>
      </div>
      {hub.error ? (
        <p className="bad small" role="alert">
          {hub.error}
        </p>
      ) : null}
      <details>
        <summary className="small">Token, Hub endpoint and cache</summary>
        <label className="field">
          <span>Token</span>
          <input
            name="hub-token"
            type="password"
            autoComplete="off"
            placeholder={hub.hasToken ? 'a token is set' : 'hf_… (gated or private models)'}
            value={tokenText}
            onChange={(e) => setTokenText(e.currentTarget.value)}
          />
        </label>
        <label className="small row gap">
          <input type="checkbox" name="hub-token-keep" checked={keep} onChange={(e) => setKeep(e.currentTarget.checked)} /> keep for this tab (sessionStorage)
        </label>
        <div className="row gap">
          <button
            type="button"
            onClick={() => {
              setHubToken(tokenText, keep);
              setTokenText('');
            }}
            disabled={!tokenText.trim()}
          >
            Use token
          </button>
          {hub.hasToken ? (
            <button type="button" className="link" onClick={() => setHubToken(undefined)}>
              Forget token
            </button>
          ) : null}
          <span className="muted small" data-testid="hub-token-state">
            {hub.hasToken ? (hub.tokenKept ? 'token set (this tab)' : 'token set (memory only)') : getHubToken() ? '' : 'no token'}
          </span>
        </div>
        <p className="muted small">The token is sent only to the Hub endpoint, never saved in links, recipes or this browser's storage.</p>
        <label className="field">
          <span>Endpoint</span>
          <input name="hub-endpoint" value={endpoint} onChange={(e) => setEndpoint(e.currentTarget.value)} onBlur={() => endpoint !== hub.endpoint && setHubEndpoint(endpoint)} spellCheck={false} />
        </label>
        <div className="row gap">
          <label className="field">
            <span>Cache limit (GB)</span>
            <input name="hub-cache-limit" type="number" min="0" step="0.1" value={limitGb} onChange={(e) => setLimitGb(e.currentTarget.value)} onBlur={() => void setCacheLimit(Number(limitGb) * 1e9)} />
          </label>
          <span className="small" data-testid="hub-cache-usage">
            {hub.usage ? `${formatBytes(hub.usage.bytes)} cached in ${hub.usage.blocks} blocks` : 'cache unavailable'}
          </span>
          <button type="button" className="link" onClick={() => void clearHubCache()}>
            Clear cache
          </button>
        </div>
      </details>
    </form>
  );
}

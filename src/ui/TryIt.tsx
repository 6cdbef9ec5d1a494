// "Try it": run the current merge (merged on the GPU, never written) or one shelf model. A prompt
// gets its greedy completion; eval sets (the demo's and dropped .jsonl files) get per-set metrics
// and a row per item. Busy while an evolution run uses the evaluator.
import { useRef, useState, type DragEvent } from 'react';
import { addEvalFiles, removeEvalSet, useEvalSets, type EvalSetEntry, type SaveState } from '../store/evalsets';
import { generate, runEval, setsToRun, useEvaluate } from '../store/evaluate';
import { useEvolution } from '../store/evolution';
import { useStudio } from '../store/store';
import type { EvaluateSummary } from '../worker/api';
import { filesFromDrop } from './drop';
import { formatBytes, formatDuration } from './format';

const LIMITS: (number | null)[] = [4, 8, 16, 32, 64, 128, null];

export function TryIt() {
  const evolving = useEvolution((s) => s.activity !== 'idle');
  return (
    <section className="panel tryit" aria-labelledby="tryit-title">
      <header className="panel-head">
        <h2 id="tryit-title">Try it</h2>
        <span className="muted small">greedy decoding in this tab · nothing is written</span>
      </header>
      {evolving ? (
        <p className="callout info small" role="status">
          An evolution run is using the evaluator. Pause it to try a model here.
        </p>
      ) : null}
      <TargetPicker />
      <Generate disabled={evolving} />
      <EvalSets disabled={evolving} />
    </section>
  );
}

function TargetPicker() {
  const target = useEvaluate((s) => s.target);
  const models = useStudio((s) => s.models);
  const method = useStudio((s) => s.recipe.merge_method);
  const ready = models.filter((m) => m.status === 'ready');
  return (
    <div className="tryit-row">
      <label className="field grow">
        <span>Evaluate</span>
        <select aria-label="Model to evaluate" value={target} onChange={(e) => useEvaluate.setState({ target: e.target.value })}>
          <option value="">current merge ({method})</option>
          {ready.map((m) => (
            <option key={m.id} value={m.ref}>
              {m.ref}
            </option>
          ))}
        </select>
      </label>
    </div>
  );
}

/** The first prompt of the first usable set: a sensible example for the demo models. */
function examplePrompt(sets: EvalSetEntry[]): string | null {
  for (const s of sets) {
    if (s.error) continue;
    const first = s.text.split('\n').find((l) => l.trim());
    try {
      const o = JSON.parse(first ?? '') as { prompt?: unknown; text?: unknown };
      if (typeof o.prompt === 'string') return o.prompt;
    } catch {
      /* not JSON: the set carries its own error */
    }
  }
  return null;
}

function Generate({ disabled }: { disabled: boolean }) {
  const prompt = useEvaluate((s) => s.prompt);
  const maxNewTokens = useEvaluate((s) => s.maxNewTokens);
  const c = useEvaluate((s) => s.completion);
  const sets = useEvalSets((s) => s.sets);
  const example = examplePrompt(sets);
  const running = c.status === 'running';
  return (
    <div className="tryit-generate">
      <div className="field">
        <span className="row space">
          <label htmlFor="tryit-prompt">Prompt</label>
          {example ? (
            <button type="button" className="link" onClick={() => useEvaluate.setState({ prompt: example })} title={example}>
              Use an example
            </button>
          ) : null}
        </span>
        <textarea
          id="tryit-prompt"
          aria-label="Prompt"
          rows={3}
          spellCheck={false}
          value={prompt}
          placeholder={example ?? 'Type a prompt'}
          onChange={(e) => useEvaluate.setState({ prompt: e.target.value })}
          onKeyDown={(e) => {
            if (e.key === 'Enter' && (e.metaKey || e.ctrlKey) && !disabled) void generate();
          }}
        />
      </div>
      <div className="row gap">
        <label className="row gap small muted">
          max new tokens
          <input className="numbox" type="number" min={1} max={256} aria-label="Max new tokens" value={maxNewTokens} onChange={(e) => useEvaluate.setState({ maxNewTokens: Math.max(1, Math.min(256, Math.round(Number(e.target.value) || 1))) })} />
        </label>
        <span className="grow" />
        <button type="button" className="primary" onClick={() => void generate()} disabled={disabled || running}>
          {running ? 'Generating…' : 'Generate'}
        </button>
      </div>
      {c.status === 'error' && c.error ? (
        <p className="callout bad small" role="alert">
          {c.error.message}
        </p>
      ) : null}
      {c.status === 'done' ? (
        <div className="completion" role="status" aria-label="Completion">
          <pre className="completion-text">
            <span className="muted">{prompt}</span>
            <mark>{c.text || '∅'}</mark>
          </pre>
          <p className="small muted">
            {c.label} · {c.tokens} token{c.tokens === 1 ? '' : 's'} · {formatDuration(c.ms ?? 0)} · weights read back: <b className={c.readback?.weightBytes ? 'bad' : 'ok'}>{formatBytes(c.readback?.weightBytes ?? 0)}</b>
          </p>
        </div>
      ) : running ? (
        <p className="small muted" aria-live="polite">
          Merging and decoding…
        </p>
      ) : null}
    </div>
  );
}

/** Whether a user's file is kept in this browser: "saved" only once its IndexedDB write completed. */
function SaveNote({ save }: { save: SaveState }) {
  const text =
    save.state === 'saved'
      ? 'saved in this browser'
      : save.state === 'failed'
        ? `not saved: ${save.reason}`
        : save.held
          ? 'saving…'
          : 'saving… keep this tab open until it is saved';
  return (
    <span className={`small save-state ${save.state === 'failed' ? 'bad' : save.state === 'saving' && !save.held ? 'warn-text' : 'muted'}`} role="status" data-state={save.state}>
      {text}
    </span>
  );
}

function EvalSets({ disabled }: { disabled: boolean }) {
  const sets = useEvalSets((s) => s.sets);
  const status = useEvalSets((s) => s.status);
  const loadError = useEvalSets((s) => s.loadError);
  const selected = useEvaluate((s) => s.selected);
  const limit = useEvaluate((s) => s.limit);
  const run = useEvaluate((s) => s.run);
  const input = useRef<HTMLInputElement>(null);
  const [over, setOver] = useState(false);
  const toRun = setsToRun(sets, selected);
  const onDrop = (e: DragEvent) => {
    e.preventDefault();
    setOver(false);
    void filesFromDrop(e.dataTransfer).then((picked) => addEvalFiles(picked.map((p) => p.file as File)));
  };
  const toggle = (id: string, on: boolean) => useEvaluate.setState({ selected: on ? [...selected, id] : selected.filter((x) => x !== id) });
  return (
    <div className="subpanel tryit-sets">
      <h3>Eval sets</h3>
      <div
        className={`evalset-drop${over ? ' over' : ''}`}
        data-testid="evalset-dropzone"
        onDragOver={(e) => {
          e.preventDefault();
          setOver(true);
        }}
        onDragLeave={() => setOver(false)}
        onDrop={onDrop}
      >
        {sets.length ? (
          <ul className="evalset-list" aria-label="Eval sets">
            {sets.map((s) => (
              <li key={s.id} className={s.error ? 'bad-set' : undefined}>
                <label className="row gap">
                  <input type="checkbox" aria-label={`Run ${s.name}`} checked={selected.includes(s.id)} disabled={!!s.error} onChange={(e) => toggle(s.id, e.target.checked)} />
                  <span className="mono grow ellipsis">{s.name}</span>
                  <span className="muted small">{s.error ? '' : `${s.items} ${s.kind ?? ''}`}</span>
                  {s.origin === 'demo' ? <span className="tag">demo</span> : null}
                </label>
                {s.origin === 'file' ? (
                  <button type="button" className="icon" aria-label={`Remove ${s.name}`} title="Remove" onClick={() => removeEvalSet(s.id)}>
                    ×
                  </button>
                ) : null}
                {s.save ? <SaveNote save={s.save} /> : null}
                {s.error ? <p className="small bad set-error">{s.error}</p> : null}
              </li>
            ))}
          </ul>
        ) : (
          <p className="small muted">{status === 'loading' ? 'Loading the demo eval sets…' : 'No eval sets yet.'}</p>
        )}
        <p className="small muted drop-hint">
          Drop .jsonl files here or{' '}
          <button type="button" className="link" onClick={() => input.current?.click()}>
            add eval sets
          </button>{' '}
          — one {'{"prompt", "answer"}'}, {'{"prompt", "choices", "label"}'} or {'{"text"}'} per line.
        </p>
        <input
          ref={input}
          type="file"
          hidden
          multiple
          accept=".jsonl,.json,application/jsonl"
          data-testid="input-evalsets"
          onChange={(e) => {
            const files = [...(e.currentTarget.files ?? [])];
            e.currentTarget.value = '';
            void addEvalFiles(files);
          }}
        />
      </div>
      {loadError ? <p className="small warn-text">{loadError}</p> : null}
      <div className="row gap">
        <label className="row gap small muted">
          items per set
          <select aria-label="Items per set" value={limit === null ? 'all' : String(limit)} onChange={(e) => useEvaluate.setState({ limit: e.target.value === 'all' ? null : Number(e.target.value) })}>
            {LIMITS.map((l) => (
              <option key={String(l)} value={l === null ? 'all' : String(l)}>
                {l === null ? 'all' : l}
              </option>
            ))}
          </select>
        </label>
        <span className="small muted grow">{toRun.length ? `${toRun.length} set${toRun.length === 1 ? '' : 's'}` : ''}</span>
        <button type="button" onClick={() => void runEval()} disabled={disabled || run.status === 'running' || toRun.length === 0}>
          {run.status === 'running' ? 'Evaluating…' : 'Run eval'}
        </button>
      </div>
      {run.status === 'error' && run.error ? (
        <p className="callout bad small" role="alert">
          {run.error.message}
        </p>
      ) : null}
      {run.status === 'running' ? (
        <p className="small muted" aria-live="polite">
          Merging and scoring {run.label}…
        </p>
      ) : null}
      {run.status === 'done' && run.summary ? <EvalResults summary={run.summary} label={run.label ?? ''} /> : null}
    </div>
  );
}

const pct = (v: number | undefined) => (v === undefined ? '—' : `${(v * 100).toFixed(1)}%`);
const num = (v: number | undefined, d = 3) => (v === undefined || !Number.isFinite(v) ? '—' : v.toFixed(d));

function EvalResults({ summary, label }: { summary: EvaluateSummary; label: string }) {
  return (
    <div className="eval-results" role="region" aria-label="Eval results">
      <p className="small muted">
        {label} · {summary.backend === 'wasm' ? 'CPU (wasm)' : 'WebGPU'} · fitness <b>{num(summary.fitness)}</b> · merge {formatDuration(summary.timings.mergeMs)} · eval {formatDuration(summary.timings.evalMs)} · {summary.readback.runs} forward passes · weights read back: <b className={summary.readback.weightBytes ? 'bad' : 'ok'}>{formatBytes(summary.readback.weightBytes)}</b>
      </p>
      <table className="small" aria-label="Eval metrics">
        <thead>
          <tr>
            <th>set</th>
            <th className="num">items</th>
            <th className="num">accuracy</th>
            <th className="num">mean log-lik</th>
          </tr>
        </thead>
        <tbody>
          {summary.sets.map((m) => (
            <tr key={m.name}>
              <td className="mono ellipsis">{m.name}</td>
              <td className="num mono">{m.n}</td>
              <td className="num mono">{m.kind === 'perplexity' ? `ppl ${num(m.perplexity, 2)}` : pct(m.accuracy)}</td>
              <td className="num mono">{num(m.meanLogLik)}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {summary.sets.map((m, i) => (
        <details key={m.name} className="items" open={i === 0}>
          <summary className="small">
            Items of <span className="mono">{m.name}</span>
          </summary>
          <ItemTable summary={summary} index={i} />
        </details>
      ))}
    </div>
  );
}

function ItemTable({ summary, index }: { summary: EvaluateSummary; index: number }) {
  const m = summary.sets[index];
  const items = summary.items?.[index] ?? [];
  if (m.kind === 'perplexity')
    return (
      <div className="items-scroll">
        <table className="small" aria-label={`Items of ${m.name}`}>
          <thead>
            <tr>
              <th className="num">line</th>
              <th>text</th>
              <th className="num">tokens</th>
              <th className="num">NLL</th>
            </tr>
          </thead>
          <tbody>
            {items.map((it) => (
              <tr key={it.index}>
                <td className="num mono">{it.line}</td>
                <td className="mono cell-text" title={it.prompt}>{it.prompt}</td>
                <td className="num mono">{it.tokens ?? '—'}</td>
                <td className="num mono">{num(it.nll)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    );
  const choice = m.kind === 'choice';
  return (
    <div className="items-scroll">
      <table className="small" aria-label={`Items of ${m.name}`}>
        <thead>
          <tr>
            <th className="num">line</th>
            <th>prompt</th>
            {choice ? (
              <>
                <th className="num">picked</th>
                <th className="num">label</th>
              </>
            ) : (
              <>
                <th>completion</th>
                <th>extracted</th>
                <th>answer</th>
              </>
            )}
            <th className="num" title="correct">✓</th>
            <th className="num" title={choice ? 'log-likelihood of the labelled choice' : 'log-likelihood of the answer'}>
              log-lik
            </th>
          </tr>
        </thead>
        <tbody>
          {items.map((it) => (
            <tr key={it.index} className={it.correct ? 'item-ok' : 'item-bad'}>
              <td className="num mono">{it.line}</td>
              <td className="mono cell-text" title={it.prompt}>{it.prompt}</td>
              {choice ? (
                <>
                  <td className="num mono">{it.predicted ?? '—'}</td>
                  <td className="num mono">{it.label ?? '—'}</td>
                </>
              ) : (
                <>
                  <td className="mono cell-text" title={it.completion}>{it.completion ?? '—'}</td>
                  <td className="mono cell-text cell-short" title={it.extracted ?? undefined}>{it.extracted ?? '∅'}</td>
                  <td className="mono cell-text cell-short" title={it.answer}>{it.answer ?? '—'}</td>
                </>
              )}
              <td className={`num ${it.correct ? 'ok' : 'bad'}`} aria-label={it.correct ? 'correct' : 'wrong'}>
                {it.correct ? '✓' : '✗'}
              </td>
              <td className="num mono">{num(choice ? it.choiceLogLiks?.[it.label ?? 0] : it.logLik, 2)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

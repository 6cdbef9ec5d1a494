// Details of one model: its name in the recipe, files, dtypes, the full compatibility report against
// the base (every missing/extra tensor and shape difference, with what the merge does) and the
// windowed tensor table.
import { useEffect, useRef, useState } from 'react';
import { renameRef } from '../store/shelf';
import { useStudio } from '../store/store';
import type { CompatReport } from '../store/types';
import { formatBytes, formatCount, formatShape } from './format';
import { compatHeadline } from './Shelf';
import { TensorTable } from './TensorTable';
import { Facts } from './Facts';

const LIST_MAX = 50;

export function ModelSheet() {
  const id = useStudio((s) => s.selectedModel);
  const m = useStudio((s) => s.models.find((x) => x.id === s.selectedModel));
  const compat = useStudio((s) => (m ? s.analysis?.compat.find((c) => c.model === m.ref) : undefined));
  const [name, setName] = useState('');
  const closeBtn = useRef<HTMLButtonElement>(null);
  useEffect(() => setName(m?.ref ?? ''), [m?.ref]);
  // Focus moves into the sheet when it opens and back to where it was when it closes.
  useEffect(() => {
    if (!id) return;
    const back = document.activeElement as HTMLElement | null;
    closeBtn.current?.focus();
    return () => back?.focus?.();
  }, [id]);
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      if (e.key === 'Escape') useStudio.getState().set({ selectedModel: null });
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, []);
  if (!id || !m) return null;
  const s = m.summary;
  const close = () => useStudio.getState().set({ selectedModel: null });
  const commitName = () => {
    if (!renameRef(m.id, name)) setName(m.ref);
  };
  return (
    <aside className="sheet" role="dialog" aria-modal="false" aria-label={`Details of ${m.ref}`}>
      <header className="panel-head">
        <h2>{m.ref}</h2>
        <span className="muted small">{m.origin === 'demo' ? 'demo checkpoint' : `from ${m.name}`}</span>
        <button ref={closeBtn} type="button" className="icon" aria-label="Close details" onClick={close}>
          ×
        </button>
      </header>
      <div className="sheet-body">
        <label className="field">
          <span>Name in the recipe</span>
          <input
            value={name}
            aria-label={`Name of ${m.ref} in the recipe`}
            onChange={(e) => setName(e.target.value)}
            onBlur={commitName}
            onKeyDown={(e) => {
              if (e.key === 'Enter') commitName();
            }}
          />
        </label>
        {s ? (
          <Facts
            wide
            items={[
              { term: 'architecture', value: s.architecture },
              { term: 'layers', value: s.layers },
              { term: 'hidden size', value: s.hidden ?? '—' },
              { term: 'vocabulary', value: s.vocab ?? '—' },
              { term: 'parameters', value: formatCount(s.params) },
              { term: 'weights', value: formatBytes(s.weightBytes) },
              { term: 'dtypes', value: s.dtypes.map((d) => `${d.dtype} ×${d.tensors}`).join(', ') },
              { term: 'fingerprint', value: `${s.fingerprint.slice(0, 16)}…`, title: s.fingerprint, className: 'mono' },
            ]}
          />
        ) : null}
        <details className="files">
          <summary>
            {m.files.length} file{m.files.length === 1 ? '' : 's'} · {formatBytes(m.files.reduce((a, f) => a + f.size, 0))}
          </summary>
          <ul className="mono small">
            {m.files.map((f) => (
              <li key={f.path}>
                {f.path} <span className="muted">{formatBytes(f.size)}</span>
              </li>
            ))}
          </ul>
        </details>
        {compat ? <CompatDetails report={compat} /> : null}
        {m.tensors ? <TensorTable rows={m.tensors} label={`Tensors of ${m.ref}`} height={360} /> : null}
      </div>
    </aside>
  );
}

function Names({ title, names, note }: { title: string; names: string[]; note: string }) {
  if (!names.length) return null;
  return (
    <div className="compat-block">
      <h3>
        {title} <span className="muted">({names.length})</span>
      </h3>
      <p className="muted small">{note}</p>
      <ul className="mono small">
        {names.slice(0, LIST_MAX).map((n) => (
          <li key={n}>{n}</li>
        ))}
        {names.length > LIST_MAX ? <li className="muted">… and {names.length - LIST_MAX} more</li> : null}
      </ul>
    </div>
  );
}

const ACTION: Record<string, string> = {
  crop: 'cropped to a common size',
  skip: 'skipped: the base keeps its own tensor',
  refuse: 'the merge refuses',
};

function CompatDetails({ report: c }: { report: CompatReport }) {
  return (
    <section className={`compat-report ${c.verdict}`} aria-label={`Compatibility of ${c.model} with ${c.base}`}>
      <h3>{compatHeadline(c)}</h3>
      {c.notes.length ? (
        <ul className="notes small">
          {c.notes.map((n, i) => (
            <li key={i}>{n}</li>
          ))}
        </ul>
      ) : null}
      <Names title="Missing tensors" names={c.missing} note={`The base ${c.base} has them and this model does not; a merge stops with “Tensor … is required but not present”.`} />
      {c.shapes.length ? (
        <div className="compat-block">
          <h3>
            Shape differences <span className="muted">({c.shapes.length})</span>
          </h3>
          <table className="small">
            <thead>
              <tr>
                <th>tensor</th>
                <th>base</th>
                <th>this model</th>
                <th>merge</th>
              </tr>
            </thead>
            <tbody>
              {c.shapes.slice(0, LIST_MAX).map((x) => (
                <tr key={x.tensor} className={`act-${x.action}`}>
                  <td className="mono">{x.tensor}</td>
                  <td className="mono">{formatShape(x.base)}</td>
                  <td className="mono">{formatShape(x.model)}</td>
                  <td>{ACTION[x.action]}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ) : null}
      {c.dtypes.length ? (
        <Names title="Unsupported dtypes" names={c.dtypes.map((d) => `${d.tensor} (${d.dtype})`)} note="Only F32, F16 and BF16 tensors can be merged." />
      ) : null}
      <Names title="Extra tensors" names={c.extra} note="Only this model has them; the output follows the base's tensor list, so they are not merged." />
    </section>
  );
}

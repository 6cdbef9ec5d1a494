// The model shelf: a drop zone (files and whole folders), the two pickers, one card per model with
// its role in the recipe, and — after a share link — which checkpoints the recipe expects.
import { useRef, useState, type DragEvent } from 'react';
import { roleOf, setRole, type Role } from '../recipe/edit';
import { addPicked, attachAdapter, detachAdapter, demoFolder, loadDemo, removeModel, sharedStatus } from '../store/shelf';
import { useStudio } from '../store/store';
import type { CompatReport, ShelfModel } from '../store/types';
import { filesFromDrop, filesFromInput } from './drop';
import { formatBytes, formatCount } from './format';
import { Facts } from './Facts';
import { HubPanel } from './HubPanel';
import { addFromHub, useHub } from '../store/hub';

const NONE: string[] = [];

export function Shelf() {
  const models = useStudio((s) => s.models);
  const shared = useStudio((s) => s.shared);
  const demoDismissed = useStudio((s) => s.demoDismissed);
  const missingRefs = useStudio((s) => s.analysis?.plan.missingRefs) ?? NONE;
  const hasDemo = models.some((m) => m.origin === 'demo');
  const sharedRefs = new Set((shared ?? []).map((s) => s.ref));
  const unexplained = missingRefs.filter((r) => !sharedRefs.has(r));
  return (
    <section className="panel shelf" aria-labelledby="shelf-title">
      <header className="panel-head">
        <h2 id="shelf-title">Models</h2>
        <span className="muted small">{models.length ? `${models.length} on the shelf` : 'none yet'}</span>
        {!hasDemo ? (
          <button type="button" className="link" onClick={() => void loadDemo(false)}>
            Load demo models
          </button>
        ) : null}
        <DemoSwitch />
      </header>
      <DropZone />
      <HubToggle />
      {shared && shared.length ? <SharedList /> : null}
      {unexplained.length ? (
        <div className="callout warn" role="status">
          The recipe uses {unexplained.map((r, i) => (
            <span key={r}>
              {i ? ', ' : ''}
              <code>{r}</code>
            </span>
          ))}
          , not on the shelf. Drop {unexplained.length === 1 ? 'its folder' : 'their folders'}, or rename a model to match.
        </div>
      ) : null}
      <ul className="cards" aria-label="Loaded models">
        {models.map((m) => (
          <ModelCard key={m.id} model={m} />
        ))}
      </ul>
      {models.length === 0 && demoDismissed ? <p className="muted small pad">Drop checkpoint folders above, or load the demo models.</p> : null}
    </section>
  );
}

/**
 * The other demo family, one page load away: the composition demo (public/demo-lang, where a merge
 * has to combine a language and a skill and evolution finds the per-layer recipe) from the default
 * demo, and back; `demo-recipe` makes the page load that family's recipe too (App's boot).
 */
function DemoSwitch() {
  const lang = demoFolder() === 'demo-lang';
  return (
    <a
      className="link small"
      href={lang ? '?demo-recipe' : '?demo=demo-lang&demo-recipe'}
      title={lang ? 'The default demo: an addition expert and a reversal expert' : 'Devanagari numerals × digit reversal: no source model solves the target, an evolved per-layer merge does'}
    >
      {lang ? 'Default demo' : 'Composition demo'}
    </a>
  );
}

function DropZone() {
  const [over, setOver] = useState(false);
  const [busy, setBusy] = useState(false);
  const files = useRef<HTMLInputElement>(null);
  const folder = useRef<HTMLInputElement>(null);
  const take = async (p: Promise<{ path: string; file: Blob }[]> | { path: string; file: Blob }[]) => {
    setBusy(true);
    try {
      await addPicked(await p);
    } finally {
      setBusy(false);
    }
  };
  const onDrop = (e: DragEvent<HTMLDivElement>) => {
    e.preventDefault();
    setOver(false);
    void take(filesFromDrop(e.dataTransfer));
  };
  return (
    <div
      className={`dropzone${over ? ' over' : ''}${busy ? ' busy' : ''}`}
      data-testid="dropzone"
      onDragOver={(e) => {
        e.preventDefault();
        e.dataTransfer.dropEffect = 'copy';
        setOver(true);
      }}
      onDragLeave={() => setOver(false)}
      onDrop={onDrop}
    >
      <p className="drop-title">{busy ? 'Reading headers…' : 'Drop checkpoint folders or .safetensors files'}</p>
      <p className="muted small">Only headers are read; weights stay on your disk until you merge.</p>
      <div className="row gap">
        <button type="button" onClick={() => files.current?.click()}>
          Add model files
        </button>
        <button type="button" onClick={() => folder.current?.click()}>
          Add model folder
        </button>
      </div>
      <input
        ref={files}
        type="file"
        multiple
        hidden
        accept=".safetensors,.json,.model,.txt"
        data-testid="input-files"
        onChange={(e) => {
          void take(filesFromInput(e.currentTarget));
          e.currentTarget.value = '';
        }}
      />
      <input
        ref={(el) => {
          folder.current = el;
          el?.setAttribute('webkitdirectory', '');
        }}
        type="file"
        multiple
        hidden
        data-testid="input-folder"
        onChange={(e) => {
          void take(filesFromInput(e.currentTarget));
          e.currentTarget.value = '';
        }}
      />
    </div>
  );
}

function HubToggle() {
  const [open, setOpen] = useState(false);
  return open ? (
    <HubPanel onClose={() => setOpen(false)} />
  ) : (
    <div className="row gap pad">
      <button type="button" onClick={() => setOpen(true)}>
        Add from the Hub
      </button>
    </div>
  );
}

function FetchShared({ identity }: { identity: ReturnType<typeof sharedStatus>[number]['identity'] }) {
  const endpoint = useHub((s) => s.endpoint);
  const adding = useHub((s) => s.adding);
  const h = identity.hub!;
  const from = h.endpoint ?? 'https://huggingface.co';
  if (new URL(from).origin !== endpoint)
    return <span className="small muted">on {from} (set it as the Hub endpoint under "Add from the Hub" to fetch it)</span>;
  return (
    <button type="button" className="link" disabled={!!adding} onClick={() => void addFromHub(`${h.repo}@${h.commit}`, undefined, identity.ref)}>
      Fetch {h.repo}@{h.commit.slice(0, 7)} from the Hub
    </button>
  );
}

function SharedList() {
  const shared = useStudio((s) => s.shared)!;
  const models = useStudio((s) => s.models);
  const rows = sharedStatus(shared, models);
  const done = rows.every((r) => r.status === 'matched');
  return (
    <div className={`callout ${done ? 'ok' : 'info'}`} aria-label="Checkpoints the shared recipe expects">
      <div className="row space">
        <strong>{done ? 'All shared checkpoints are here' : 'The shared recipe expects these checkpoints'}</strong>
        <button type="button" className="link" onClick={() => useStudio.getState().set({ shared: null })}>
          Dismiss
        </button>
      </div>
      <ul className="expect">
        {rows.map((r) => (
          <li key={r.identity.ref} className={`expect-${r.status}`}>
            <span className="badge">{r.status === 'matched' ? '✓ matches' : r.status === 'differs' ? '≠ differs' : r.status === 'reading' ? '… reading' : 'missing'}</span>
            <code>{r.identity.ref}</code>
            <span className="muted small">
              {r.identity.tensors ? `${r.identity.tensors} tensors · ${formatBytes(r.identity.bytes)}` : 'identity unknown'}
              {r.identity.hash ? ` · hash ${r.identity.hash.slice(0, 8)}` : ''}
            </span>
            {r.identity.hub && (r.status === 'missing' || r.status === 'differs') ? <FetchShared identity={r.identity} /> : null}
            {r.status === 'differs' && r.model?.summary ? (
              <span className="small bad">
                dropped: {r.model.summary.tensors} tensors · {formatBytes(r.model.summary.weightBytes)} · hash {r.model.summary.fingerprint.slice(0, 8)}
              </span>
            ) : null}
          </li>
        ))}
      </ul>
    </div>
  );
}

const ROLES: { role: Role; label: string }[] = [
  { role: 'base', label: 'Base' },
  { role: 'input', label: 'Input' },
  { role: 'off', label: 'Off' },
];

function ModelCard({ model: m }: { model: ShelfModel }) {
  const recipe = useStudio((s) => s.recipe);
  const compat = useStudio((s) => s.analysis?.compat.find((c) => c.model === m.ref));
  const selected = useStudio((s) => s.selectedModel === m.id);
  const [over, setOver] = useState(false);
  const role = roleOf(recipe, m.ref);
  const s = m.summary;
  const setRoleTo = (r: Role) => useStudio.getState().edit((x) => setRole(x, m.ref, r, s?.layers ?? 0));
  // a LoRA adapter folder dropped here makes this model "model+adapter"
  const onDrop = (e: DragEvent<HTMLLIElement>) => {
    e.preventDefault();
    e.stopPropagation();
    setOver(false);
    void filesFromDrop(e.dataTransfer).then((files) => attachAdapter(m.id, files));
  };
  return (
    <li
      className={`card model role-${role}${selected ? ' selected' : ''}${over ? ' over' : ''}`}
      aria-label={`Model ${m.ref}`}
      data-testid={`card-${m.ref}`}
      onDragOver={(e) => {
        if (m.status !== 'ready') return;
        e.preventDefault();
        e.stopPropagation();
        e.dataTransfer.dropEffect = 'copy';
        setOver(true);
      }}
      onDragLeave={() => setOver(false)}
      onDrop={onDrop}
    >
      <div className="row space">
        <div className="model-name">
          <strong title={m.name !== m.ref ? `folder: ${m.name}` : undefined}>{m.ref}</strong>
          {m.origin === 'demo' ? <span className="tag">demo</span> : null}
          {m.hub ? (
            <span className="tag" title={`${m.hub.repo} at commit ${m.hub.commit} (${m.hub.revision}) on ${m.hub.endpoint}`}>
              hub @{m.hub.commit.slice(0, 7)}
            </span>
          ) : null}
        </div>
        <button type="button" className="icon" aria-label={`Remove ${m.ref}`} title="Remove from the shelf" onClick={() => void removeModel(m.id)}>
          ×
        </button>
      </div>
      {m.status === 'reading' ? <p className="muted small">Reading headers…</p> : null}
      {m.status === 'error' ? (
        <p className="bad small" role="alert">
          {m.error}
        </p>
      ) : null}
      {s ? (
        <>
          <Facts
            items={[
              { term: 'arch', value: s.architecture.replace(/ForCausalLM$/, ''), title: s.architecture },
              { term: 'layers', value: s.layers },
              { term: 'hidden', value: s.hidden ?? '—' },
              { term: 'params', value: formatCount(s.params) },
              { term: 'dtype', value: s.dtypes.map((d) => d.dtype).join(' ') },
              { term: 'size', value: formatBytes(s.weightBytes) },
              { term: 'shards', value: s.shards.length },
              { term: 'tensors', value: s.tensors },
            ]}
          />
          <div className="row space">
            <fieldset className="seg" aria-label={`Role of ${m.ref}`}>
              {ROLES.map((r) => (
                <label key={r.role} className={role === r.role ? 'on' : ''}>
                  <input type="radio" name={`role-${m.id}`} value={r.role} checked={role === r.role} onChange={() => setRoleTo(r.role)} />
                  {r.label}
                </label>
              ))}
            </fieldset>
            <button type="button" className="link" aria-expanded={selected} onClick={() => useStudio.getState().set({ selectedModel: selected ? null : m.id })}>
              {selected ? 'Hide details' : 'Tensors & details'}
            </button>
          </div>
          {m.adapter ? <AdapterLine model={m} /> : <p className="muted small adapter-hint">Drop a LoRA adapter folder here to apply it.</p>}
          {compat ? <CompatLine report={compat} /> : role === 'base' ? <p className="compat ok small">Base model: the others are checked against it.</p> : null}
        </>
      ) : null}
    </li>
  );
}

/** The adapter a card carries: its name, r, alpha, targets, and a way to remove it. */
function AdapterLine({ model: m }: { model: ShelfModel }) {
  const a = m.adapter!;
  const s = a.summary;
  return (
    <div className="adapter small" aria-label={`LoRA adapter ${a.ref}`}>
      <span className="tag">LoRA</span> <code>{a.ref}</code>
      {s ? (
        <span className="muted">
          {' '}
          r={s.ranks[0] === s.ranks[1] ? s.ranks[0] : `${s.ranks[0]}–${s.ranks[1]}`} · alpha={s.alpha}
          {s.rslora ? ' (rsLoRA)' : ''} · targets {s.targets} · {s.modules} module{s.modules === 1 ? '' : 's'}
          {s.replaced ? ` · ${s.replaced} tensor${s.replaced === 1 ? '' : 's'} replaced` : ''}
        </span>
      ) : null}{' '}
      <button type="button" className="link" onClick={() => void detachAdapter(m.id)}>
        Remove adapter
      </button>
    </div>
  );
}

export function compatHeadline(c: CompatReport): string {
  if (c.verdict === 'ok') return `Fits the base ${c.base}`;
  const parts: string[] = [];
  if (c.missing.length) parts.push(`${c.missing.length} tensor${c.missing.length === 1 ? '' : 's'} missing`);
  const refuse = c.shapes.filter((x) => x.action === 'refuse').length;
  const crop = c.shapes.filter((x) => x.action === 'crop').length;
  const skip = c.shapes.filter((x) => x.action === 'skip').length;
  if (refuse) parts.push(`${refuse} shape${refuse === 1 ? '' : 's'} differ`);
  if (crop) parts.push(`${crop} embedding${crop === 1 ? '' : 's'} cropped`);
  if (skip) parts.push(`${skip} tensor${skip === 1 ? '' : 's'} skipped`);
  if (c.dtypes.length) parts.push(`${c.dtypes.length} unsupported dtype${c.dtypes.length === 1 ? '' : 's'}`);
  if (!parts.length && c.notes.length) parts.push(`${c.notes.length} note${c.notes.length === 1 ? '' : 's'}`);
  return `${c.verdict === 'refuse' ? 'Incompatible with' : 'Fits, with changes, the base'} ${c.base}: ${parts.join(', ')}`;
}

function CompatLine({ report: c }: { report: CompatReport }) {
  return (
    <div className={`compat ${c.verdict} small`} role={c.verdict === 'refuse' ? 'alert' : undefined}>
      <span className="compat-icon" aria-hidden="true">
        {c.verdict === 'ok' ? '✓' : c.verdict === 'warn' ? '!' : '✕'}
      </span>
      <span>
        {compatHeadline(c)}
        {c.verdict !== 'ok' && c.notes[0] ? <span className="compat-note">{c.notes[0]}</span> : null}
      </span>
    </div>
  );
}

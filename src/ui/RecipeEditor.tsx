// The recipe editor: method picker (methods the loaded set can run), global parameters and
// per-model parameters generated from the method's spec, filter tabs (all tensors, self_attn, mlp,
// a custom substring), per-layer curves, slices for passthrough, seed and dtypes.
import { useState, type KeyboardEvent } from 'react';
import type { TorchDtypeName } from '../formats/dtype';
import { METHODS, getMethod } from '../methods/specs';
import type { MethodSpec, ParamSpec } from '../methods/spec';
import { filteredValue, filtersOf, setChatTemplate, setDtype, setMethod, setParamFiltered, setSeed, setTokenizerSource } from '../recipe/edit';
import { CHAT_TEMPLATES } from '../recipe/chat-templates';
import type { Recipe, ValueOrGradient } from '../recipe/types';
import { useStudio } from '../store/store';
import { formatBytes, formatValue } from './format';
import { ParamControl } from './ParamControl';
import { SlicesEditor } from './SlicesEditor';

/** Models a method needs at least (base included), so the picker offers only what the shelf can run. */
export function modelsNeeded(spec: MethodSpec): number {
  let n = Math.max(1, spec.minInputs);
  if (spec.base === 'required' || spec.base === 'slerp') n = Math.max(n, 1 + Math.max(1, spec.nonBaseInputs?.min ?? 1));
  else if (spec.nonBaseInputs?.min) n = Math.max(n, spec.nonBaseInputs.min + (spec.base === 'optional' ? 0 : 0));
  return n;
}

function specOf(name: string): MethodSpec | undefined {
  try {
    return getMethod(name);
  } catch {
    return undefined;
  }
}

export function RecipeEditor() {
  const recipe = useStudio((s) => s.recipe);
  const models = useStudio((s) => s.models);
  const plan = useStudio((s) => s.analysis?.plan);
  const edit = useStudio((s) => s.edit);
  const spec = specOf(recipe.merge_method);
  const ready = models.filter((m) => m.status === 'ready');
  const layersOf = (ref: string) => models.find((m) => m.ref === ref)?.summary?.layers ?? 0;
  const refs = ready.map((m) => m.ref);
  const baseRef = recipe.base_model ?? recipe.models?.[0]?.model ?? recipe.slices?.[0]?.sources[0]?.model;
  const layers = plan?.status === 'ok' && plan.layers > 0 ? plan.layers : baseRef ? layersOf(baseRef) || 1 : 1;

  return (
    <section className="panel editor" aria-labelledby="editor-title">
      <header className="panel-head">
        <h2 id="editor-title">Recipe</h2>
        <PlanBadge />
      </header>
      <div className="method-row">
        <label className="field grow">
          <span>Merge method</span>
          <select
            aria-label="Merge method"
            value={recipe.merge_method}
            onChange={(e) => edit((r) => setMethod(r, e.target.value, layersOf, refs))}
          >
            {METHODS.map((m) => {
              const need = modelsNeeded(m);
              const ok = ready.length >= need;
              if (!ok && m.name !== recipe.merge_method) return null;
              return (
                <option key={m.name} value={m.name}>
                  {m.label}
                  {ok ? '' : ` (needs ${need} models)`}
                </option>
              );
            })}
            {!spec ? <option value={recipe.merge_method}>{recipe.merge_method} (not supported)</option> : null}
          </select>
        </label>
      </div>
      {spec ? <MethodDescription key={spec.name} text={spec.description} reference={spec.reference} /> : null}
      {spec ? <MethodParams spec={spec} recipe={recipe} layers={layers} /> : null}
      {spec && recipe.slices ? <SlicesEditor spec={spec} layersOf={layersOf} refs={refs} /> : null}
      {spec ? <Options spec={spec} recipe={recipe} refs={refs} /> : null}
    </section>
  );
}

/** The method's description, two lines unless expanded. */
function MethodDescription({ text, reference }: { text: string; reference?: string }) {
  const [open, setOpen] = useState(false);
  const long = text.length > 160;
  return (
    <p className={`method-desc small muted${long && !open ? ' clamped' : ''}`}>
      {text}{' '}
      {reference ? (
        <a href={reference} target="_blank" rel="noreferrer">
          paper
        </a>
      ) : null}
      {long ? (
        <button type="button" className="link" aria-expanded={open} onClick={() => setOpen(!open)}>
          {open ? 'less' : 'more'}
        </button>
      ) : null}
    </p>
  );
}

function PlanBadge() {
  const plan = useStudio((s) => s.analysis?.plan);
  const analysisFor = useStudio((s) => s.analysisFor);
  const revision = useStudio((s) => s.revision);
  const stamp = { 'data-for': analysisFor, 'data-current': analysisFor === revision ? 'yes' : 'no' };
  if (!plan) return <span className="badge muted">checking…</span>;
  if (plan.status === 'ok')
    return (
      <span className="badge ok" title={plan.warnings.join('\n') || undefined} {...stamp}>
        ✓ {plan.tensors} tensors · {formatBytes(plan.outputBytes)}
        {plan.warnings.length ? ` · ${plan.warnings.length} warning${plan.warnings.length === 1 ? '' : 's'}` : ''}
      </span>
    );
  if (plan.status === 'incomplete')
    return (
      <span className="badge warn" {...stamp}>
        models missing
      </span>
    );
  if (plan.status === 'empty')
    return (
      <span className="badge muted" {...stamp}>
        no models
      </span>
    );
  return (
    <span className="badge bad" {...stamp}>
      won’t merge
    </span>
  );
}

const BUILTIN_TABS = ['self_attn', 'mlp'];

function FilterTabs({ recipe }: { recipe: Recipe }) {
  const tab = useStudio((s) => s.filterTab);
  const set = useStudio((s) => s.set);
  const [custom, setCustom] = useState('');
  const used = new Set<string>(BUILTIN_TABS);
  const settings = [...Object.values(recipe.parameters ?? {}), ...(recipe.models ?? []).flatMap((m) => Object.values(m.parameters ?? {}))];
  for (const s of settings) for (const f of filtersOf(s)) used.add(f);
  if (tab) used.add(tab);
  const tabs: (string | undefined)[] = [undefined, ...used];
  const onKey = (e: KeyboardEvent<HTMLDivElement>) => {
    const i = tabs.indexOf(tab);
    if (e.key === 'ArrowRight' || e.key === 'ArrowLeft') {
      const j = (i + (e.key === 'ArrowRight' ? 1 : tabs.length - 1)) % tabs.length;
      set({ filterTab: tabs[j] });
      (e.currentTarget.querySelectorAll('[role=tab]')[j] as HTMLElement | undefined)?.focus();
      e.preventDefault();
    }
  };
  return (
    <div className="filter-bar">
      <div role="tablist" aria-label="Tensor filter" className="tabs" onKeyDown={onKey}>
        {tabs.map((t) => (
          <button key={t ?? '*'} type="button" role="tab" aria-selected={tab === t} tabIndex={tab === t ? 0 : -1} className={tab === t ? 'on' : ''} onClick={() => set({ filterTab: t })}>
            {t ?? 'All tensors'}
          </button>
        ))}
      </div>
      <form
        className="custom-filter"
        onSubmit={(e) => {
          e.preventDefault();
          const f = custom.trim();
          if (f) set({ filterTab: f });
          setCustom('');
        }}
      >
        <input aria-label="Custom tensor filter" placeholder="custom filter, e.g. q_proj" value={custom} onChange={(e) => setCustom(e.target.value)} />
        <button type="submit" className="mini" disabled={!custom.trim()}>
          Add
        </button>
      </form>
    </div>
  );
}

function MethodParams({ spec, recipe, layers }: { spec: MethodSpec; recipe: Recipe; layers: number }) {
  const tab = useStudio((s) => s.filterTab);
  const edit = useStudio((s) => s.edit);
  const globals = spec.params.filter((p) => p.scope === 'global');
  const perModel = spec.params.filter((p) => p.scope === 'model');
  const where = tab === undefined ? '' : ` for tensors matching “${tab}”`;
  const inheritGlobal = (p: ParamSpec): { value: ValueOrGradient | undefined; from: string } => {
    if (tab !== undefined) {
      const all = filteredValue(recipe.parameters?.[p.name], undefined);
      if (all !== undefined) return { value: all, from: `inherits ${show(all)} from all tensors` };
    }
    return { value: p.default, from: p.default !== undefined ? `default ${show(p.default)}` : p.required ? '' : 'not set' };
  };
  const inheritModel = (p: ParamSpec, model: string): { value: ValueOrGradient | undefined; from: string } => {
    const entry = recipe.models?.find((m) => m.model === model)?.parameters?.[p.name];
    if (tab !== undefined) {
      const all = filteredValue(entry, undefined);
      if (all !== undefined) return { value: all, from: `inherits ${show(all)} from all tensors` };
    }
    const top = filteredValue(recipe.parameters?.[p.name], tab) ?? filteredValue(recipe.parameters?.[p.name], undefined);
    if (top !== undefined) return { value: top, from: `inherits ${show(top)} from the top-level parameters` };
    return { value: p.default, from: p.default !== undefined ? `default ${show(p.default)}` : p.required ? '' : 'not set' };
  };
  const inputs = recipe.models ?? [];
  const baseAsInput = spec.base === 'input';
  const priority = perModel.find((p) => p.name === 'priority');
  return (
    <>
      {(globals.length > 0 || perModel.length > 0) && !recipe.slices ? <FilterTabs recipe={recipe} /> : null}
      {globals.length ? (
        <section className="subpanel" aria-label="Method parameters">
          <h3>
            Parameters<span className="muted">{where}</span>
          </h3>
          {globals.map((p) => (
            <ParamControl
              key={p.name}
              spec={p}
              value={filteredValue(recipe.parameters?.[p.name], tab)}
              inherited={inheritGlobal(p)}
              layers={layers}
              onChange={(v) => edit((r) => setParamFiltered(r, { scope: 'global' }, p.name, tab, v))}
            />
          ))}
        </section>
      ) : null}
      {perModel.length && !recipe.slices ? (
        <section className="subpanel" aria-label="Per-model parameters">
          <h3>
            Models<span className="muted">{where}</span>
          </h3>
          {recipe.base_model !== undefined && !baseAsInput ? (
            <div className="model-params base-row">
              <div className="mp-head">
                <span className="role-dot base" aria-hidden="true" />
                <strong>{recipe.base_model}</strong>
                <span className="muted small">base · task vectors are measured from it</span>
              </div>
            </div>
          ) : null}
          {inputs.length === 0 ? <p className="muted small">No input models: set a model’s role to Input on the shelf.</p> : null}
          {inputs.map((m) => (
            <div key={m.model} className="model-params">
              <div className="mp-head">
                <span className={`role-dot ${m.model === recipe.base_model ? 'base' : 'input'}`} aria-hidden="true" />
                <strong>{m.model}</strong>
                {m.model === recipe.base_model ? <span className="muted small">base (an ordinary input for {spec.name})</span> : null}
              </div>
              {perModel.map((p) => (
                <ParamControl
                  key={p.name}
                  spec={p}
                  owner={m.model}
                  value={filteredValue(m.parameters?.[p.name], tab)}
                  inherited={inheritModel(p, m.model)}
                  layers={layers}
                  onChange={(v) => edit((r) => setParamFiltered(r, { scope: 'model', model: m.model }, p.name, tab, v))}
                />
              ))}
            </div>
          ))}
          {priority ? <PruningOrder recipe={recipe} spec={priority} /> : null}
        </section>
      ) : null}
    </>
  );
}

/** Methods with a per-model `priority` (CABS): the order in which task vectors claim positions. */
function PruningOrder({ recipe, spec }: { recipe: Recipe; spec: ParamSpec }) {
  const rows = (recipe.models ?? [])
    .filter((m) => m.model !== recipe.base_model)
    .map((m, i) => {
      const v = filteredValue(m.parameters?.priority, undefined) ?? filteredValue(recipe.parameters?.priority, undefined) ?? spec.default ?? 0;
      return { model: m.model, p: typeof v === 'number' ? v : Number(v), i };
    })
    .sort((a, b) => b.p - a.p || a.i - b.i);
  return (
    <p className="small pruning-order" aria-label="Pruning order">
      <span className="muted">Pruning order: </span>
      {rows.map((r, k) => (
        <span key={r.model}>
          {k ? ' → ' : ''}
          {r.model} <span className="muted">({formatValue(r.p)})</span>
        </span>
      ))}
    </p>
  );
}

function show(v: ValueOrGradient): string {
  return Array.isArray(v) ? `[${v.join(', ')}]` : typeof v === 'number' ? formatValue(v) : String(v);
}

const DTYPES: TorchDtypeName[] = ['float32', 'float16', 'bfloat16'];

const CHAT_NAMES = Object.keys(CHAT_TEMPLATES);

function Options({ spec, recipe, refs }: { spec: MethodSpec; recipe: Recipe; refs: string[] }) {
  const edit = useStudio((s) => s.edit);
  const tokSource = recipe.tokenizer ? (recipe.tokenizer.source ?? 'union') : recipe.tokenizer_source;
  const chat = recipe.chat_template;
  const customChat = chat !== undefined && chat !== 'auto' && !CHAT_NAMES.includes(chat);
  return (
    <section className="subpanel options" aria-label="Options">
      <h3>Options</h3>
      <div className="row gap wrap">
        <label className="field">
          <span>Compute dtype</span>
          <select aria-label="Compute dtype" value={recipe.dtype ?? ''} onChange={(e) => edit((r) => setDtype(r, 'dtype', (e.target.value || undefined) as TorchDtypeName | undefined))}>
            <option value="">inputs’ own</option>
            {DTYPES.map((d) => (
              <option key={d}>{d}</option>
            ))}
          </select>
        </label>
        <label className="field">
          <span>Output dtype</span>
          <select aria-label="Output dtype" value={recipe.out_dtype ?? ''} onChange={(e) => edit((r) => setDtype(r, 'out_dtype', (e.target.value || undefined) as TorchDtypeName | undefined))}>
            <option value="">same as compute</option>
            {DTYPES.map((d) => (
              <option key={d}>{d}</option>
            ))}
          </select>
        </label>
        <label className="field">
          <span>Seed{spec.random ? '' : ' (unused by this method)'}</span>
          <input
            type="number"
            aria-label="Seed"
            min={0}
            step={1}
            placeholder="0"
            value={recipe.random_seed ?? ''}
            onChange={(e) => edit((r) => setSeed(r, e.target.value === '' ? undefined : Number(e.target.value)))}
          />
        </label>
        <label className="field">
          <span>Tokenizer</span>
          <select
            aria-label="Tokenizer source"
            title="mergekit tokenizer_source: which vocabulary the output has; embedding rows are permuted to it and missing tokens filled"
            value={tokSource ?? ''}
            onChange={(e) => edit((r) => setTokenizerSource(r, e.target.value || undefined))}
          >
            {recipe.tokenizer ? null : <option value="">copy the base’s files</option>}
            <option value="base">base vocabulary</option>
            <option value="union">union of all vocabularies</option>
            {[...new Set([...refs, ...(tokSource && tokSource !== 'base' && tokSource !== 'union' ? [tokSource] : [])])].map((m) => (
              <option key={m} value={m}>
                {m}’s vocabulary
              </option>
            ))}
          </select>
        </label>
        <label className="field">
          <span>Chat template</span>
          <select aria-label="Chat template" value={customChat ? '\u0000custom' : (chat ?? '')} onChange={(e) => edit((r) => setChatTemplate(r, e.target.value === '\u0000custom' ? chat : e.target.value || undefined))}>
            <option value="">the tokenizer’s own</option>
            <option value="auto">auto (most common among the models)</option>
            {CHAT_NAMES.map((n) => (
              <option key={n} value={n}>
                {n}
              </option>
            ))}
            {customChat ? <option value={'\u0000custom'}>custom (from the YAML)</option> : null}
          </select>
        </label>
      </div>
    </section>
  );
}

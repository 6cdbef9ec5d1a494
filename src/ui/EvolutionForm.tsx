// The evolution run's settings: what to evolve (PS, DFS, PS + DFS, SAE), over which models, how much
// sparsity is worth, the budget, and which eval sets are the search split and which are held out.
// The form is checked live through the same builder "Start evolution" uses, so a bad choice shows
// its message before anything runs.
import { useMemo } from 'react';
import { PS_METHODS, psDimension, type PsFilter, type PsMethod } from '../evolve/genome-ps';
import { dfsDimension } from '../evolve/genome-dfs';
import { useEvalSets, usableSets } from '../store/evalsets';
import { buildEvolveConfig, resolveModels, RUN_KINDS, SAE_METHODS, type EvolveForm, type RunKind, type SetRole } from '../store/evolve-config';
import { psResults, roleOf, setForm, setRole, shelfFacts, useEvolution } from '../store/evolution';
import { useStudio } from '../store/store';
import { toRecord } from '../errors';

const FILTERS: PsFilter[] = ['self_attn', 'mlp'];

function int(v: string, fallback: number): number {
  const n = Math.round(Number(v));
  return Number.isFinite(n) ? n : fallback;
}

function NumField({ label, value, onChange, min, max, step, hint }: { label: string; value: number; onChange: (v: number) => void; min?: number; max?: number; step?: number; hint?: string }) {
  return (
    <label className="field" title={hint}>
      <span>{label}</span>
      <input className="numbox" type="number" aria-label={label} value={value} min={min} max={max} step={step ?? 1} onChange={(e) => onChange(step && step < 1 ? Number(e.target.value) : int(e.target.value, value))} />
    </label>
  );
}

/** Gene count and population of the configured run, or the builder's message. */
function useCheck(form: EvolveForm) {
  const models = useStudio((s) => s.models);
  const recipe = useStudio((s) => s.recipe);
  const runs = useEvolution((s) => s.runs);
  return useMemo(() => {
    try {
      const psr = psResults(runs);
      const { config } = buildEvolveConfig(form, recipe, shelfFacts(models), psr.find((r) => r.runId === form.fromRun) ?? psr[0]);
      const dim = config.kind === 'dfs' ? dfsDimension(config.dfs!) : psDimension(config.ps!);
      const pop = config.popSize ?? (config.kind === 'sae' ? config.sae!.archiveSize : 4 + Math.floor(3 * Math.log(dim)));
      return { ok: true as const, dim, pop, evaluations: pop * config.generations, separable: !!config.separable };
    } catch (e) {
      return { ok: false as const, message: toRecord(e).message };
    }
  }, [form, models, recipe, runs]);
}

export function EvolutionForm({ disabled }: { disabled: boolean }) {
  const form = useEvolution((s) => s.form);
  const models = useStudio((s) => s.models);
  const recipe = useStudio((s) => s.recipe);
  const runs = useEvolution((s) => s.runs);
  const refs = models.filter((m) => m.status === 'ready').map((m) => m.ref);
  const { base, experts, pool } = resolveModels(form, recipe, refs);
  const check = useCheck(form);
  const ps = form.kind === 'ps' || form.kind === 'sae';
  const dfs = form.kind === 'dfs' || form.kind === 'psdfs';
  const methods = form.kind === 'sae' ? SAE_METHODS : PS_METHODS;
  const psr = psResults(runs);
  return (
    <fieldset className="evo-form" disabled={disabled}>
      <div className="evo-grid">
        <label className="field">
          <span>Evolve</span>
          <select aria-label="Run kind" value={form.kind} onChange={(e) => {
              const kind = e.target.value as RunKind;
              setForm(kind === 'sae' && !SAE_METHODS.includes(form.method) ? { kind, method: 'ties' } : { kind });
            }}>
            {RUN_KINDS.map((k) => (
              <option key={k.id} value={k.id}>
                {k.label}
              </option>
            ))}
          </select>
        </label>
        {ps ? (
          <>
            <label className="field">
              <span>Method</span>
              <select aria-label="Evolution method" value={form.method} onChange={(e) => setForm({ method: e.target.value as PsMethod })}>
                {methods.map((m) => (
                  <option key={m} value={m}>
                    {m}
                  </option>
                ))}
              </select>
            </label>
            {form.method !== 'linear' ? (
              <label className="field">
                <span>Base</span>
                <select aria-label="Evolution base model" value={base ?? ''} onChange={(e) => setForm({ base: e.target.value, experts: null })}>
                  {refs.map((r) => (
                    <option key={r} value={r}>
                      {r}
                    </option>
                  ))}
                </select>
              </label>
            ) : null}
          </>
        ) : null}
        {dfs ? (
          <>
            {form.kind === 'psdfs' ? (
              <label className="field">
                <span>Model A: best PS recipe of</span>
                <select aria-label="PS run for model A" value={form.fromRun ?? psr[0]?.runId ?? ''} onChange={(e) => setForm({ fromRun: e.target.value })}>
                  {psr.length === 0 ? <option value="">no finished PS run yet</option> : null}
                  {psr.map((r) => (
                    <option key={r.runId} value={r.runId} title={r.runId}>
                      {r.label}
                    </option>
                  ))}
                </select>
              </label>
            ) : (
              <label className="field">
                <span>Model A</span>
                <select aria-label="Layer path model A" value={form.dfsA ?? refs[0] ?? ''} onChange={(e) => setForm({ dfsA: e.target.value })}>
                  {refs.map((r) => (
                    <option key={r} value={r}>
                      {r}
                    </option>
                  ))}
                </select>
              </label>
            )}
            <label className="field">
              <span>Model B</span>
              <select aria-label="Layer path model B" value={form.dfsB ?? refs.find((r) => r !== (form.dfsA ?? refs[0])) ?? ''} onChange={(e) => setForm({ dfsB: e.target.value })}>
                {refs.map((r) => (
                  <option key={r} value={r}>
                    {r}
                  </option>
                ))}
              </select>
            </label>
          </>
        ) : null}
      </div>

      {ps ? (
        <>
          <div className="evo-line" role="group" aria-label="Experts">
            <span className="small muted">{form.method === 'linear' ? 'Mix' : 'Experts'}</span>
            {pool
              .filter((r) => form.method === 'linear' || r !== base)
              .map((r) => (
                <label key={r} className="row gap small">
                  <input
                    type="checkbox"
                    aria-label={`Evolve ${r}`}
                    checked={experts.includes(r)}
                    onChange={(e) => setForm({ experts: e.target.checked ? [...experts, r] : experts.filter((x) => x !== r) })}
                  />
                  <span className="mono">{r}</span>
                </label>
              ))}
          </div>
          <div className="evo-grid">
            <NumField label="Layer groups" value={form.layerGroups} min={1} onChange={(v) => setForm({ layerGroups: v })} hint="genes per model per group of consecutive layers" />
            <label className="field">
              <span>Weights up to</span>
              <select aria-label="Weights up to" value={form.weightMax} onChange={(e) => setForm({ weightMax: Number(e.target.value) as 1 | 2 })}>
                <option value={1}>1</option>
                <option value={2}>2 (unnormalized)</option>
              </select>
            </label>
            <div className="field">
              <span>Separate genes for</span>
              <div className="row gap">
                {FILTERS.map((f) => (
                  <label key={f} className="row gap small">
                    <input type="checkbox" aria-label={`Separate genes for ${f}`} checked={form.filters.includes(f)} onChange={(e) => setForm({ filters: e.target.checked ? [...form.filters, f] : form.filters.filter((x) => x !== f) })} />
                    <span className="mono">{f}</span>
                  </label>
                ))}
              </div>
            </div>
          </div>
        </>
      ) : null}

      {dfs ? (
        <div className="evo-grid">
          <NumField label="Repeats" value={form.repeats} min={1} max={4} onChange={(v) => setForm({ repeats: v })} hint="r: how often the layer sequence A‖B is offered" />
          <label className="row gap small checkline">
            <input type="checkbox" aria-label="Evolve input scales" checked={form.scales} onChange={(e) => setForm({ scales: e.target.checked })} />
            evolve input scales (M² genes)
          </label>
        </div>
      ) : null}

      {form.kind === 'ps' ? (
        <div className="evo-grid">
          <label className="row gap small checkline" title="needs a base; the base stays on the GPU">
            <input type="checkbox" aria-label="Measure sparsity" checked={form.measureSparsity} onChange={(e) => setForm({ measureSparsity: e.target.checked })} />
            measure sparsity
          </label>
          <NumField label="Sparsity worth β" value={form.beta} min={0} step={0.05} onChange={(v) => setForm({ beta: v })} hint="score = fitness + β·sparsity of the merged delta" />
        </div>
      ) : null}

      {form.kind === 'sae' ? (
        <div className="evo-grid">
          <NumField label="Sparsity worth β" value={form.beta} min={0} step={0.05} onChange={(v) => setForm({ beta: v })} hint="Total = ω·fitness + β·sparsity" />
          <NumField label="Fitness weight ω" value={form.omega} min={0} step={0.05} onChange={(v) => setForm({ omega: v })} />
          <NumField label="Archive size" value={form.archiveSize} min={2} onChange={(v) => setForm({ archiveSize: v })} />
          <label className="field">
            <span>Sparsity term</span>
            <select aria-label="Sparsity term" value={form.sparsityTerm} onChange={(e) => setForm({ sparsityTerm: e.target.value as 'absolute' | 'relative' })}>
              <option value="absolute">absolute</option>
              <option value="relative">relative (softmax over the archive)</option>
            </select>
          </label>
          <label className="row gap small checkline">
            <input type="checkbox" aria-label="Layer-wise sparsity" checked={form.layerWise} onChange={(e) => setForm({ layerWise: e.target.checked })} />
            layer-wise
          </label>
        </div>
      ) : null}

      <div className="evo-grid">
        <NumField label={form.kind === 'sae' ? 'Rounds' : 'Generations'} value={form.generations} min={1} onChange={(v) => setForm({ generations: v })} />
        <NumField label="Seed" value={form.seed} min={0} onChange={(v) => setForm({ seed: v })} />
        <NumField label="Items per set" value={form.limit} min={1} onChange={(v) => setForm({ limit: v })} hint="a seeded subset, the same for every candidate" />
        <label className="field" title="blank: the default (CMA-ES 4 + ⌊3 ln n⌋; SAE the archive size)">
          <span>Population</span>
          <input
            className="numbox"
            type="number"
            aria-label="Population"
            placeholder="auto"
            min={2}
            value={form.popSize ?? ''}
            onChange={(e) => setForm({ popSize: e.target.value === '' ? null : int(e.target.value, 4) })}
          />
        </label>
      </div>

      <SetRoles />

      <p className={`small ${check.ok ? 'muted' : 'bad'}`} aria-label="Run check">
        {check.ok
          ? `${check.dim} genes · ${check.pop} candidates per ${form.kind === 'sae' ? 'round' : 'generation'} · ${check.evaluations} search evaluations${check.separable ? ' · separable CMA-ES' : ''}`
          : check.message.charAt(0).toUpperCase() + check.message.slice(1)}
      </p>
    </fieldset>
  );
}

function SetRoles() {
  const sets = usableSets(useEvalSets((s) => s.sets));
  const roles = useEvolution((s) => s.roles);
  if (sets.length === 0) return <p className="small muted">No eval sets yet: the demo's load with the demo models; add .jsonl files in Try it.</p>;
  return (
    <div className="evo-sets" role="group" aria-label="Eval set roles">
      {sets.map((s) => (
        <label key={s.id} className="row gap small">
          <span className="mono grow ellipsis">{s.name}</span>
          <select aria-label={`Role of ${s.name}`} value={roleOf(roles, s.name, s.split, s.role)} onChange={(e) => setRole(s.name, e.target.value as SetRole)}>
            <option value="search">search (fitness)</option>
            <option value="heldout">held-out</option>
            <option value="off">unused</option>
          </select>
        </label>
      ))}
    </div>
  );
}

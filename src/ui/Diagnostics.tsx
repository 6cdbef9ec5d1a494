// Live diagnostics ("visually tuning sparsity"): per-layer merged sparsity, per-model density, sign
// conflicts, mask overlap and per-model contribution, plus a layers × tensor-kind heatmap, redrawn
// whenever the engine's diagnostics for the current recipe arrive (store/diagnostics.ts).
import { createContext, memo, useContext, useDeferredValue, useMemo, useState } from 'react';
import { Bar, BarChart, CartesianGrid, Line, LineChart, Tooltip, XAxis, YAxis } from 'recharts';
import { useDiagnostics } from '../store/diagnostics';
import { useStudio } from '../store/store';
import type { DiagnosticsResult, TensorDiagnostics } from '../worker/api';
import { formatValue } from './format';
import { useChartWidth } from './useChartWidth';

/**
 * Top of the sign-conflict axis: the largest rate rounded up to a tenth (at least 10%), so the
 * ticks are round and a merge without conflicts (disjoint task vectors) reads 0% of 10%, not 0% of
 * an arbitrary auto range.
 */
const conflictAxisMax = (dataMax: number): number => Math.min(1, Math.max(0.1, Math.ceil(dataMax * 10 - 1e-9) / 10));

const PALETTE = ['#7aa2ff', '#4cc38a', '#f2b84b', '#e07bd8', '#5cc8d6', '#ff8a65', '#b39ddb', '#9ccc65'];
const pct = (v: number) => `${Math.round(v * 100)}%`;
const pct1 = (v: number) => `${(v * 100).toFixed(1)}%`;

export function Diagnostics() {
  const d = useDiagnostics();
  const revision = useStudio((s) => s.revision);
  // Charts re-render at low priority (time-sliced), so slider drags and typing never wait for them.
  const result = useDeferredValue(d.result);
  const stale = d.forRevision !== revision || result !== d.result;
  return (
    <section className="panel diagnostics" aria-labelledby="diag-title" data-for={d.forRevision} data-current={stale ? 'no' : 'yes'}>
      <header className="panel-head">
        <h2 id="diag-title">Diagnostics</h2>
        <span className="muted small">
          {d.status === 'running' ? 'updating…' : d.status === 'ready' ? `updated ${Math.round(d.latencyMs)} ms after the change · ${d.result?.engine === 'cpu' ? 'CPU engine' : 'GPU'} ${Math.round(d.engineMs)} ms` : d.status === 'unavailable' ? d.reason : d.status === 'error' ? '' : 'waiting for the recipe'}
        </span>
      </header>
      {d.status === 'error' && d.error ? (
        <p className="callout bad small" role="alert">
          {d.error.message}
        </p>
      ) : null}
      {result && result.layers.length ? (
        <Charts result={result} stale={stale} />
      ) : d.status === 'ready' ? (
        <p className="muted small pad">No task vectors to measure (this method has no base).</p>
      ) : d.status === 'running' || d.status === 'idle' ? (
        <div className="diag-placeholder" aria-hidden="true">
          <span>Measuring sparsity, conflicts and overlap on the GPU…</span>
        </div>
      ) : null}
    </section>
  );
}

interface Row {
  layer: string;
  [k: string]: number | string;
}

const Charts = memo(function Charts({ result, stale }: { result: DiagnosticsResult; stale: boolean }) {
  const models = result.models;
  const pairs = useMemo(() => {
    const out: string[] = [];
    for (let a = 0; a < models.length; a++) for (let b = a + 1; b < models.length; b++) out.push(`${models[a]} ∩ ${models[b]}`);
    return out;
  }, [models]);
  const rows: Row[] = useMemo(
    () =>
      result.layers
        .filter((l) => l.layer !== null)
        .map((l) => {
          const r: Row = { layer: String(l.layer), merged: l.mergedSparsity, conflicts: l.conflictRate };
          models.forEach((m, i) => {
            r[`density:${m}`] = l.density[i] ?? 0;
            r[`share:${m}`] = l.share[i] ?? 0;
          });
          pairs.forEach((p, i) => (r[`overlap:${p}`] = l.overlap[i] ?? 0));
          return r;
        }),
    [result, models, pairs],
  );
  const whole = useMemo(() => totals(result), [result]);
  const [gridRef, width] = useChartWidth();
  return (
    <div className={`diag-body${stale ? ' stale' : ''}`}>
      <p className="small diag-summary">
        Whole model: merged sparsity <b>{pct1(whole.sparsity)}</b> · sign conflicts <b>{pct1(whole.conflicts)}</b> of positions two or more models keep
        {models.map((m, i) => (
          <span key={m}>
            {' '}
            · <span className="swatch-dot" style={{ background: PALETTE[i % PALETTE.length] }} /> {m} keeps <b>{pct1(whole.density[i])}</b>, contributes <b>{pct(whole.share[i])}</b>
          </span>
        ))}
      </p>
      <ChartWidth.Provider value={width}>
      <div className="chart-grid" ref={gridRef}>
        <Chart title="Merged sparsity" hint="weights left at the base value">
          <LineChart data={rows} margin={MARGIN}>
            <Grid />
            <XAxis dataKey="layer" {...AXIS} />
            <YAxis domain={[0, 1]} tickFormatter={pct} {...AXIS} width={36} />
            <Tooltip formatter={(v) => pct1(Number(v))} {...TOOLTIP} />
            <Line type="monotone" dataKey="merged" name="merged sparsity" stroke="#7aa2ff" strokeWidth={2} dot={false} isAnimationActive={false} />
          </LineChart>
        </Chart>
        <Chart title="Density per model" hint="task vector kept">
          <LineChart data={rows} margin={MARGIN}>
            <Grid />
            <XAxis dataKey="layer" {...AXIS} />
            <YAxis domain={[0, 1]} tickFormatter={pct} {...AXIS} width={36} />
            <Tooltip formatter={(v) => pct1(Number(v))} {...TOOLTIP} />
            {models.map((m, i) => (
              <Line key={m} type="monotone" dataKey={`density:${m}`} name={m} stroke={PALETTE[i % PALETTE.length]} strokeWidth={2} dot={false} isAnimationActive={false} />
            ))}
          </LineChart>
        </Chart>
        <Chart title="Sign conflicts" hint="kept by ≥ 2 models, signs disagree">
          <BarChart data={rows} margin={MARGIN}>
            <Grid />
            <XAxis dataKey="layer" {...AXIS} />
            <YAxis domain={[0, conflictAxisMax]} tickFormatter={pct} {...AXIS} width={36} />
            <Tooltip formatter={(v) => pct1(Number(v))} {...TOOLTIP} />
            <Bar dataKey="conflicts" name="conflict rate" fill="#ff8a65" isAnimationActive={false} />
          </BarChart>
        </Chart>
        <Chart title="Mask overlap" hint="|A ∩ B| / |A ∪ B|">
          <LineChart data={rows} margin={MARGIN}>
            <Grid />
            <XAxis dataKey="layer" {...AXIS} />
            <YAxis domain={[0, 1]} tickFormatter={pct} {...AXIS} width={36} />
            <Tooltip formatter={(v) => pct1(Number(v))} {...TOOLTIP} />
            {pairs.map((p, i) => (
              <Line key={p} type="monotone" dataKey={`overlap:${p}`} name={p} stroke={PALETTE[(i + 2) % PALETTE.length]} strokeWidth={2} dot={false} isAnimationActive={false} />
            ))}
          </LineChart>
        </Chart>
        <Chart title="Contribution per model" hint="share of the update’s L1 mass">
          <BarChart data={rows} margin={MARGIN}>
            <Grid />
            <XAxis dataKey="layer" {...AXIS} />
            <YAxis domain={[0, 1]} tickFormatter={pct} {...AXIS} width={36} />
            <Tooltip formatter={(v) => pct1(Number(v))} {...TOOLTIP} />
            {models.map((m, i) => (
              <Bar key={m} dataKey={`share:${m}`} name={m} stackId="s" fill={PALETTE[i % PALETTE.length]} isAnimationActive={false} />
            ))}
          </BarChart>
        </Chart>
        <Heatmap tensors={result.tensors} />
      </div>
      </ChartWidth.Provider>
    </div>
  );
});

const MARGIN = { top: 6, right: 8, bottom: 0, left: 0 };
const AXIS = { tick: { fontSize: 10, fill: 'var(--muted)' }, stroke: 'var(--border-strong)', tickLine: false } as const;
const TOOLTIP = {
  contentStyle: { background: 'var(--panel-2)', border: '1px solid var(--border-strong)', borderRadius: 6, fontSize: 11 },
  labelFormatter: (l: unknown) => `layer ${String(l)}`,
  isAnimationActive: false,
} as const;

function Grid() {
  return <CartesianGrid stroke="var(--border)" vertical={false} />;
}

/** Width of one chart, measured once for the whole grid (one ResizeObserver instead of one per chart). */
const ChartWidth = createContext(0);
const CHART_H = 104;

function Chart({ title, hint, children }: { title: string; hint: string; children: React.ReactElement<{ width?: number; height?: number }> }) {
  const width = useContext(ChartWidth);
  return (
    <figure className="chart" aria-label={title} title={`${title}: ${hint}`}>
      <figcaption>
        <span>{title}</span> <span className="muted">{hint}</span>
      </figcaption>
      <div className="chart-box">{width > 0 ? cloneSized(children, width) : null}</div>
    </figure>
  );
}

function cloneSized(el: React.ReactElement<{ width?: number; height?: number }>, width: number) {
  const Comp = el.type as React.ComponentType<{ width?: number; height?: number }>;
  return <Comp {...el.props} width={width} height={CHART_H} />;
}

function totals(r: DiagnosticsResult) {
  const m = r.models.length;
  let numel = 0;
  let union = 0;
  let multi = 0;
  let conflicts = 0;
  const kept = new Array<number>(m).fill(0);
  const l1 = new Array<number>(m).fill(0);
  for (const l of r.layers) {
    numel += l.numel;
    union += l.mergedNonzero;
    multi += l.multi;
    conflicts += l.conflicts;
    for (let i = 0; i < m; i++) {
      kept[i] += l.kept[i] ?? 0;
      l1[i] += l.l1[i] ?? 0;
    }
  }
  const totalL1 = l1.reduce((a, b) => a + b, 0);
  return {
    sparsity: numel ? 1 - union / numel : 0,
    conflicts: multi ? conflicts / multi : 0,
    density: kept.map((k) => (numel ? k / numel : 0)),
    share: l1.map((v) => (totalL1 ? v / totalL1 : 0)),
  };
}

type Metric = 'sparsity' | 'conflicts' | 'overlap';
const METRICS: { id: Metric; label: string }[] = [
  { id: 'sparsity', label: 'merged sparsity' },
  { id: 'conflicts', label: 'sign conflicts' },
  { id: 'overlap', label: 'mask overlap' },
];

/** Tensor kind: what follows "layers.N." without ".weight", shortened ("self_attn.q_proj" → "q_proj"). */
function kindOf(name: string): string | null {
  const m = /(?:^|\.)layers\.\d+\.(.+)$/.exec(name);
  if (!m) return null;
  return m[1]
    .replace(/\.weight$/, '')
    .replace(/^(self_attn|mlp|attention|feed_forward)\./, '')
    .replace(/^input_layernorm$/, 'in_norm')
    .replace(/^post_attention_layernorm$/, 'post_norm');
}

function Heatmap({ tensors }: { tensors: TensorDiagnostics[] }) {
  const [metric, setMetric] = useState<Metric>('sparsity');
  const { kinds, layers, cell } = useMemo(() => {
    const kinds: string[] = [];
    const layerSet = new Set<number>();
    const cell = new Map<string, number>();
    for (const t of tensors) {
      const k = kindOf(t.name);
      if (k === null || t.layer === null) continue;
      if (!kinds.includes(k)) kinds.push(k);
      layerSet.add(t.layer);
      const v = metric === 'sparsity' ? t.mergedSparsity : metric === 'conflicts' ? t.conflictRate : t.overlap.length ? t.overlap.reduce((a, b) => a + b, 0) / t.overlap.length : 0;
      cell.set(`${t.layer}:${k}`, v);
    }
    return { kinds, layers: [...layerSet].sort((a, b) => a - b), cell };
  }, [tensors, metric]);
  const max = Math.max(1e-9, ...cell.values());
  const min = Math.min(max, ...cell.values());
  // Colour spans the observed range so differences between layers and kinds stay visible.
  const lo = max - min < 1e-6 ? 0 : min;
  return (
    <figure className="chart heat" aria-label="Layers × tensor kind">
      <figcaption className="heat-cap">
        <span>Layers × kind</span>
        <select aria-label="Heatmap metric" value={metric} onChange={(e) => setMetric(e.target.value as Metric)}>
          {METRICS.map((m) => (
            <option key={m.id} value={m.id}>
              {m.label}
            </option>
          ))}
        </select>
        <span className="muted" title="colour range">
          {pct(lo)}–{pct(max)}
        </span>
      </figcaption>
      <div className="heat-grid" style={{ gridTemplateColumns: `72px repeat(${layers.length}, minmax(6px, 1fr))` }}>
        {kinds.map((k) => (
          <HeatRow key={k} kind={k} layers={layers} cell={cell} lo={lo} hi={max} />
        ))}
        <span />
        {layers.map((l) => (
          <span key={l} className="heat-x">
            {layers.length <= 32 || l % 4 === 0 ? l : ''}
          </span>
        ))}
      </div>
    </figure>
  );
}

function HeatRow({ kind, layers, cell, lo, hi }: { kind: string; layers: number[]; cell: Map<string, number>; lo: number; hi: number }) {
  return (
    <>
      <span className="heat-y" title={kind}>
        {kind}
      </span>
      {layers.map((l) => {
        const v = cell.get(`${l}:${kind}`);
        const a = v === undefined ? 0 : Math.max(0, Math.min(1, (v - lo) / (hi - lo || 1)));
        return <span key={l} className="heat-cell" style={{ background: v === undefined ? 'transparent' : `color-mix(in srgb, var(--accent) ${Math.round(8 + a * 92)}%, var(--bg))` }} title={`layer ${l} · ${kind}: ${v === undefined ? '—' : formatValue(+(v * 100).toFixed(2)) + '%'}`} />;
      })}
    </>
  );
}

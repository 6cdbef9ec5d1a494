// Live charts of an evolution run: best and mean fitness per generation, the step size σ, the merged
// delta's sparsity (with SAE's archive sparsity and attraction share), and every evaluated candidate
// on fitness × sparsity with the Pareto front drawn through the non-dominated ones. The store hands
// over new data at most four times a second; the charts draw without animation.
import { memo, useMemo } from 'react';
import { CartesianGrid, Line, LineChart, Scatter, ScatterChart, Tooltip, XAxis, YAxis, ZAxis } from 'recharts';
import type { LiveGeneration } from '../store/evolution';
import type { RunView } from '../worker/api';
import { paretoFront } from './pareto';
import { useChartWidth } from './useChartWidth';

const H = 118;
const MARGIN = { top: 6, right: 10, bottom: 0, left: 0 };
const AXIS = { tick: { fontSize: 10, fill: 'var(--muted)' }, stroke: 'var(--border-strong)', tickLine: false } as const;
const TIP = {
  contentStyle: { background: 'var(--panel-2)', border: '1px solid var(--border-strong)', borderRadius: 6, fontSize: 11 },
  isAnimationActive: false,
} as const;
const pct = (v: number) => `${Math.round(v * 100)}%`;
const UNIT_TICKS = [0, 0.25, 0.5, 0.75, 1];

/** Round ticks over [lo, hi] for shares in [0, 1]: steps of 0.05, 0.1 or 0.25. */
function shareTicks(values: number[]): { domain: [number, number]; ticks: number[] } {
  const fin = values.filter(Number.isFinite);
  if (fin.length === 0) return { domain: [0, 1], ticks: UNIT_TICKS };
  const span = Math.max(...fin) - Math.min(...fin);
  const step = span <= 0.2 ? 0.05 : span <= 0.5 ? 0.1 : 0.25;
  const lo = Math.max(0, Math.floor(Math.min(...fin) / step - 1e-9) * step);
  let hi = Math.min(1, Math.ceil(Math.max(...fin) / step + 1e-9) * step);
  if (hi <= lo) hi = Math.min(1, lo + step);
  const ticks: number[] = [];
  for (let t = lo; t <= hi + 1e-9; t += step) ticks.push(+t.toFixed(4));
  return { domain: [ticks[0], ticks[ticks.length - 1]], ticks };
}

/** 0 … a round maximum (σ). */
function zeroTicks(values: number[]): number[] {
  const max = Math.max(0, ...values.filter(Number.isFinite));
  // A multiple of 0.1 (0.02 below 0.1), so the middle tick is round too.
  const unit = max > 0.1 ? 0.1 : 0.02;
  const top = max > 0 ? Math.ceil((max * 1.05) / unit) * unit : 0.2;
  return [0, +(top / 2).toFixed(4), +top.toFixed(4)];
}
const f3 = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? v.toFixed(3) : '—');

function Fig({ title, hint, children, data }: { title: string; hint: string; children: React.ReactNode; data?: Record<string, number> }) {
  const attrs = Object.fromEntries(Object.entries(data ?? {}).map(([k, v]) => [`data-${k}`, v]));
  return (
    <figure className="chart" aria-label={title} title={`${title}: ${hint}`} {...attrs}>
      <figcaption>
        <span>{title}</span> <span className="muted">{hint}</span>
      </figcaption>
      <div className="chart-box evo-box">{children}</div>
    </figure>
  );
}

function Empty({ text }: { text: string }) {
  return <div className="chart-empty small muted">{text}</div>;
}

export const EvolutionCharts = memo(function EvolutionCharts({ run, live }: { run: RunView; live: LiveGeneration | null }) {
  const [ref, width] = useChartWidth();
  const sae = run.config.kind === 'sae';
  const rows = useMemo(
    () =>
      run.history.map((g) => ({
        gen: g.generation + 1,
        best: g.best,
        mean: g.mean,
        sigma: g.sigma,
        sparsity: g.sparsityMean,
        archive: g.archiveSparsity,
        attraction: g.attractionMean,
      })),
    [run.history],
  );
  const livePoints = live && live.runId === run.id ? live.points : [];
  const points = useMemo(() => {
    const all: { fitness: number; sparsity: number }[] = [];
    for (const g of run.history) for (const p of g.points) if (p.sparsity !== undefined) all.push({ fitness: p.fitness, sparsity: p.sparsity });
    return all;
  }, [run.history]);
  const front = useMemo(() => paretoFront(points).map((i) => points[i]), [points]);
  const now = useMemo(() => livePoints.filter((p): p is { fitness: number; sparsity: number } => p.sparsity !== undefined), [livePoints]);
  const hasSparsity = rows.some((r) => r.sparsity !== undefined) || now.length > 0;
  const xTicks = useMemo(() => shareTicks([...points, ...now].map((p) => p.sparsity)), [points, now]);
  const sigmaTicks = useMemo(() => zeroTicks(rows.map((r) => r.sigma)), [rows]);
  const sized = width > 0;
  const waiting = rows.length === 0 ? <Empty text={livePoints.length ? `generation 1: ${livePoints.length} candidate${livePoints.length === 1 ? '' : 's'} evaluated…` : 'waiting for the first generation…'} /> : null;
  return (
    <div className="chart-grid evo-charts" ref={ref}>
      <Fig title="Fitness per generation" hint="search split: best and mean">
        {waiting ??
          (sized ? (
            <LineChart width={width} height={H} data={rows} margin={MARGIN}>
              <CartesianGrid stroke="var(--border)" vertical={false} />
              <XAxis dataKey="gen" {...AXIS} />
              <YAxis domain={[0, 1]} ticks={UNIT_TICKS} interval={0} tickFormatter={pct} {...AXIS} width={34} />
              <Tooltip formatter={f3} labelFormatter={(l) => `generation ${String(l)}`} {...TIP} />
              <Line type="linear" dataKey="best" name="best" stroke="#4cc38a" strokeWidth={2} dot={rows.length < 30} isAnimationActive={false} />
              <Line type="linear" dataKey="mean" name="mean" stroke="#7aa2ff" strokeWidth={1.5} dot={false} isAnimationActive={false} />
            </LineChart>
          ) : null)}
      </Fig>
      <Fig title={sae ? 'Gene noise σ' : 'Step size σ'} hint={sae ? 'per child, fixed' : 'CMA-ES, per generation'}>
        {waiting ??
          (sized ? (
            <LineChart width={width} height={H} data={rows} margin={MARGIN}>
              <CartesianGrid stroke="var(--border)" vertical={false} />
              <XAxis dataKey="gen" {...AXIS} />
              <YAxis domain={[0, sigmaTicks[2]]} ticks={sigmaTicks} interval={0} tickFormatter={(v: number) => v.toFixed(2)} {...AXIS} width={34} />
              <Tooltip formatter={f3} labelFormatter={(l) => `generation ${String(l)}`} {...TIP} />
              <Line type="linear" dataKey="sigma" name="σ" stroke="#f2b84b" strokeWidth={2} dot={false} isAnimationActive={false} />
            </LineChart>
          ) : null)}
      </Fig>
      <Fig title="Sparsity per generation" hint={sae ? 'children, archive; attraction share' : 'merged delta exactly 0, mean'}>
        {waiting ??
          (!hasSparsity ? (
            <Empty text={run.config.kind === 'dfs' ? 'a layer path has no merged delta' : 'not measured in this run'} />
          ) : sized ? (
            <LineChart width={width} height={H} data={rows} margin={MARGIN}>
              <CartesianGrid stroke="var(--border)" vertical={false} />
              <XAxis dataKey="gen" {...AXIS} />
              <YAxis domain={[0, 1]} ticks={UNIT_TICKS} interval={0} tickFormatter={pct} {...AXIS} width={34} />
              <Tooltip formatter={f3} labelFormatter={(l) => `generation ${String(l)}`} {...TIP} />
              <Line type="linear" dataKey="sparsity" name="sparsity" stroke="#e07bd8" strokeWidth={2} dot={false} isAnimationActive={false} />
              {sae ? <Line type="linear" dataKey="archive" name="archive" stroke="#5cc8d6" strokeWidth={1.5} dot={false} isAnimationActive={false} /> : null}
              {sae ? <Line type="linear" dataKey="attraction" name="attraction" stroke="#ff8a65" strokeWidth={1.5} strokeDasharray="4 3" dot={false} isAnimationActive={false} /> : null}
            </LineChart>
          ) : null)}
      </Fig>
      <Fig title="Fitness vs sparsity" hint={`${points.length + now.length} candidates · front of ${front.length}`} data={{ points: points.length, front: front.length }}>
        {!hasSparsity ? (
          <Empty text={run.config.kind === 'dfs' ? 'a layer path has no merged delta' : rows.length ? 'sparsity not measured in this run' : 'waiting for candidates…'} />
        ) : sized ? (
          <ScatterChart width={width} height={H} margin={MARGIN}>
            <CartesianGrid stroke="var(--border)" />
            <XAxis type="number" dataKey="sparsity" name="sparsity" domain={xTicks.domain} ticks={xTicks.ticks} interval={0} tickFormatter={pct} {...AXIS} />
            <YAxis type="number" dataKey="fitness" name="fitness" domain={[0, 1]} ticks={UNIT_TICKS} interval={0} tickFormatter={pct} {...AXIS} width={34} />
            <ZAxis range={[14, 14]} />
            <Tooltip formatter={f3} {...TIP} />
            <Scatter name="candidates" data={points} fill="#8e97a8" fillOpacity={0.55} isAnimationActive={false} />
            {now.length ? <Scatter name="this generation" data={now} fill="#f2b84b" isAnimationActive={false} /> : null}
            <Scatter name="Pareto front" data={front} fill="#4cc38a" line={{ stroke: '#4cc38a', strokeWidth: 1.5 }} isAnimationActive={false} className="pareto-front" />
          </ScatterChart>
        ) : null}
      </Fig>
    </div>
  );
});

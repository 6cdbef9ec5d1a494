// A per-layer curve for a gradient parameter (a list of anchors, evenly spaced over the layers, as
// mergekit reads `density: [0.2, 0.5, 0.8]`). Anchors are dragged with the pointer or moved with the
// keyboard (arrows, Page Up/Down, Home/End); the bars show the value each layer gets, computed by the
// engine's own evaluateSetting at t = i / (L − 1).
import { useMemo, useRef, type KeyboardEvent, type PointerEvent } from 'react';
import { evaluateSetting } from '../recipe/resolve';
import { formatValue } from './format';

const W = 560;
const H = 96;
const PAD_X = 10;
const PAD_Y = 8;

export interface CurveProps {
  values: number[];
  layers: number;
  min: number;
  max: number;
  /** Accessible name of the curve, e.g. "density of demo-instruct". */
  label: string;
  onChange(values: number[]): void;
}

/** The value layer i of L gets (mergekit: t = i/(L−1); a one-layer slice has t = 1). */
export function layerValues(values: number[], layers: number): number[] {
  return Array.from({ length: layers }, (_, i) => {
    const t = layers > 1 ? i / (layers - 1) : 1;
    return Number(evaluateSetting(values, t, ''));
  });
}

export function CurveEditor({ values, layers, min, max, label, onChange }: CurveProps) {
  const svg = useRef<SVGSVGElement>(null);
  const drag = useRef<number | null>(null);
  const span = max - min || 1;
  const x = (t: number) => PAD_X + t * (W - 2 * PAD_X);
  const y = (v: number) => PAD_Y + (1 - (Math.min(max, Math.max(min, v)) - min) / span) * (H - 2 * PAD_Y);
  const perLayer = useMemo(() => layerValues(values, Math.max(1, layers)), [values, layers]);
  const n = values.length;
  const step = span <= 2 ? 0.01 : 1;
  const clamp = (v: number) => Math.min(max, Math.max(min, Math.round(v / step) * step));

  const set = (k: number, v: number) => {
    const next = [...values];
    next[k] = +clamp(v).toFixed(4);
    if (next[k] !== values[k]) onChange(next);
  };
  const fromPointer = (e: PointerEvent) => {
    const box = svg.current!.getBoundingClientRect();
    const py = ((e.clientY - box.top) / box.height) * H;
    return min + (1 - (py - PAD_Y) / (H - 2 * PAD_Y)) * span;
  };
  const onDown = (k: number) => (e: PointerEvent<SVGCircleElement>) => {
    e.preventDefault();
    (e.currentTarget as Element).setPointerCapture(e.pointerId);
    (e.currentTarget as SVGCircleElement).focus();
    drag.current = k;
  };
  const onMove = (e: PointerEvent<SVGSVGElement>) => {
    if (drag.current === null) return;
    set(drag.current, fromPointer(e));
  };
  const onUp = () => {
    drag.current = null;
  };
  const onKey = (k: number) => (e: KeyboardEvent<SVGCircleElement>) => {
    const big = span / 10;
    const d: Record<string, number> = { ArrowUp: step, ArrowRight: step, ArrowDown: -step, ArrowLeft: -step, PageUp: big, PageDown: -big };
    if (e.key in d) set(k, values[k] + d[e.key]);
    else if (e.key === 'Home') set(k, min);
    else if (e.key === 'End') set(k, max);
    else return;
    e.preventDefault();
  };

  const barW = (W - 2 * PAD_X) / Math.max(1, layers);
  const path = values.map((v, k) => `${k ? 'L' : 'M'}${x(n > 1 ? k / (n - 1) : 0).toFixed(1)},${y(v).toFixed(1)}`).join(' ');
  return (
    <div className="curve">
      <svg ref={svg} viewBox={`0 0 ${W} ${H}`} preserveAspectRatio="none" onPointerMove={onMove} onPointerUp={onUp} onPointerCancel={onUp} role="group" aria-label={`Per-layer curve: ${label}`}>
        {[0, 0.5, 1].map((f) => (
          <line key={f} className="grid" x1={PAD_X} x2={W - PAD_X} y1={y(min + f * span)} y2={y(min + f * span)} />
        ))}
        {perLayer.map((v, i) => (
          <rect key={i} className="bar" x={PAD_X + i * barW + 1} width={Math.max(1, barW - 2)} y={y(v)} height={Math.max(0, H - PAD_Y - y(v))}>
            <title>{`layer ${i}: ${formatValue(v)}`}</title>
          </rect>
        ))}
        <path className="line" d={path} />
        {values.map((v, k) => (
          <circle
            key={k}
            className="anchor"
            cx={x(n > 1 ? k / (n - 1) : 0)}
            cy={y(v)}
            r={6}
            tabIndex={0}
            role="slider"
            aria-label={`${label}, anchor ${k + 1} of ${n}`}
            aria-valuemin={min}
            aria-valuemax={max}
            aria-valuenow={v}
            aria-valuetext={formatValue(v)}
            onPointerDown={onDown(k)}
            onKeyDown={onKey(k)}
          />
        ))}
      </svg>
      <div className="curve-values" aria-label={`Per-layer values: ${label}`}>
        {perLayer.length <= 48
          ? perLayer.map((v, i) => (
              <span key={i} title={`layer ${i}`}>
                {formatValue(+v.toFixed(2))}
              </span>
            ))
          : (
              <span>
                layers 0–{perLayer.length - 1}: {formatValue(Math.min(...perLayer))} … {formatValue(Math.max(...perLayer))}
              </span>
            )}
      </div>
    </div>
  );
}

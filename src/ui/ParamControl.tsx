// One parameter, generated from its ParamSpec: a slider with exact numeric entry for numbers (or a
// per-layer curve when the value is a gradient), a checkbox for booleans. A value not set at this
// level shows what it inherits (another level, or mergekit's default) and can be overridden.
import { useEffect, useState } from 'react';
import type { ParamSpec } from '../methods/spec';
import { resampleGradient, toGradient } from '../recipe/edit';
import type { ValueOrGradient } from '../recipe/types';
import { CurveEditor } from './CurveEditor';
import { formatValue } from './format';

export interface ParamControlProps {
  spec: ParamSpec;
  /** Whose parameter: a model reference, or undefined for a global one. */
  owner?: string;
  value: ValueOrGradient | undefined;
  /** What applies when `value` is unset (a wider level or the default), with where it comes from. */
  inherited?: { value: ValueOrGradient | undefined; from: string };
  layers: number;
  onChange(v: ValueOrGradient | undefined): void;
}

export function paramBounds(p: ParamSpec): { min: number; max: number; step: number } {
  const min = p.min ?? 0;
  const max = p.max ?? (p.name === 'priority' ? 10 : 1);
  const step = max - min <= 2 ? 0.01 : 1;
  return { min, max, step };
}

export function ParamControl({ spec: p, owner, value, inherited, layers, onChange }: ParamControlProps) {
  const name = owner ? `${p.name} of ${owner}` : p.name;
  const { min, max, step } = paramBounds(p);
  const effective = value ?? inherited?.value;
  const missing = effective === undefined && p.required;

  if (p.type === 'boolean') {
    const checked = effective === true || effective === 1;
    return (
      <div className={`param bool${value === undefined ? ' inherits' : ''}`}>
        <div className="param-row">
          <span className="pname" title={p.description}>
            {p.name}
          </span>
          <input type="checkbox" aria-label={name} title={p.description} checked={checked} onChange={(e) => onChange(e.target.checked)} />
          <span className="muted small grow">{value === undefined ? inherited?.from ?? '' : checked ? 'on' : 'off'}</span>
          {value !== undefined ? <Reset name={name} onReset={() => onChange(undefined)} /> : <span className="reset-space" />}
        </div>
      </div>
    );
  }

  const isCurve = Array.isArray(value) && value.every((v) => typeof v === 'number');
  const scalar = typeof effective === 'number' ? effective : Array.isArray(effective) ? Number(effective[0]) : undefined;
  return (
    <div className={`param number${value === undefined ? ' inherits' : ''}${missing ? ' missing' : ''}${isCurve ? ' is-curve' : ''}`}>
      <div className="param-row">
        <span className="pname" title={p.description}>
          {p.name}
          {p.required ? <span className="req" title="required">*</span> : null}
        </span>
        {isCurve ? (
          <span className="muted small curve-caption">per-layer curve · {(value as number[]).length} anchors</span>
        ) : (
          <>
            <input
              type="range"
              aria-label={name}
              min={min}
              max={max}
              step={step}
              value={scalar ?? min}
              onChange={(e) => onChange(Number(e.target.value))}
            />
            <NumberBox name={name} value={scalar} step={step} min={p.min} max={p.max} onCommit={(v) => onChange(v)} title={value === undefined ? inherited?.from : undefined} />
          </>
        )}
        <button
          type="button"
          className={`icon curve-toggle${isCurve ? ' on' : ''}`}
          aria-pressed={isCurve}
          aria-label={`Per-layer curve for ${name}`}
          title={isCurve ? 'Use one value for every layer' : 'Vary it over the layers (a mergekit gradient)'}
          onClick={() => {
            if (isCurve) {
              const v = value as number[];
              onChange(+(v.reduce((a, b) => a + b, 0) / v.length).toFixed(4));
            } else onChange(toGradient(scalar, 3, (min + max) / 2));
          }}
        >
          ∿
        </button>
        {value !== undefined ? <Reset name={name} onReset={() => onChange(undefined)} /> : <span className="reset-space" />}
      </div>
      {value === undefined && (missing || (inherited && inherited.from && !inherited.from.startsWith('default'))) ? (
        <div className="inherit-note small">{missing ? <span className="bad">required: set a value</span> : <span className="muted">{inherited!.from}</span>}</div>
      ) : null}
      {isCurve ? (
        <>
          <CurveEditor values={value as number[]} layers={layers} min={min} max={max} label={name} onChange={onChange} />
          <div className="row gap small">
            <button type="button" className="mini" aria-label={`Remove an anchor from ${name}`} disabled={(value as number[]).length <= 2} onClick={() => onChange(resampleGradient(value as number[], (value as number[]).length - 1))}>
              − anchor
            </button>
            <button type="button" className="mini" aria-label={`Add an anchor to ${name}`} onClick={() => onChange(resampleGradient(value as number[], (value as number[]).length + 1))}>
              + anchor
            </button>
          </div>
        </>
      ) : null}
    </div>
  );
}

function Reset({ name, onReset }: { name: string; onReset(): void }) {
  return (
    <button type="button" className="icon reset" aria-label={`Reset ${name}`} title="Remove this setting (inherit)" onClick={onReset}>
      ↺
    </button>
  );
}

/** Exact numeric entry: keeps what is typed until it is a number, commits on every valid number. */
export function NumberBox({
  name,
  value,
  step,
  min,
  max,
  onCommit,
  width,
  title,
}: {
  name: string;
  value: number | undefined;
  step: number;
  min?: number;
  max?: number;
  onCommit(v: number): void;
  width?: number;
  title?: string;
}) {
  const [text, setText] = useState(value === undefined ? '' : formatValue(value));
  const [focused, setFocused] = useState(false);
  useEffect(() => {
    if (!focused) setText(value === undefined ? '' : formatValue(value));
  }, [value, focused]);
  return (
    <input
      type="number"
      className="numbox"
      style={width ? { width } : undefined}
      aria-label={name}
      title={title}
      step={step}
      min={min}
      max={max}
      value={text}
      placeholder="—"
      onFocus={() => setFocused(true)}
      onBlur={() => {
        setFocused(false);
        setText(value === undefined ? '' : formatValue(value));
      }}
      onChange={(e) => {
        setText(e.target.value);
        const v = e.target.value.trim() === '' ? NaN : Number(e.target.value);
        if (Number.isFinite(v)) onCommit(v);
      }}
    />
  );
}

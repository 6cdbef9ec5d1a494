// A windowed tensor table: only the rows in view (plus a few) are in the DOM, so a checkpoint with
// tens of thousands of tensors scrolls as smoothly as one with ten. Rows have a fixed height.
import { useMemo, useRef, useState, type KeyboardEvent, type UIEvent } from 'react';
import type { TensorRow } from '../store/types';
import { formatBytes, formatShape } from './format';

const ROW = 24;
const OVERSCAN = 8;

export function TensorTable({ rows, height = 320, label }: { rows: TensorRow[]; height?: number; label: string }) {
  const [query, setQuery] = useState('');
  const [top, setTop] = useState(0);
  const box = useRef<HTMLDivElement>(null);
  const shown = useMemo(() => {
    const q = query.trim().toLowerCase();
    return q ? rows.filter((r) => r.name.toLowerCase().includes(q) || r.dtype.toLowerCase() === q) : rows;
  }, [rows, query]);
  const first = Math.max(0, Math.floor(top / ROW) - OVERSCAN);
  const last = Math.min(shown.length, Math.ceil((top + height) / ROW) + OVERSCAN);
  const onScroll = (e: UIEvent<HTMLDivElement>) => setTop(e.currentTarget.scrollTop);
  const onKey = (e: KeyboardEvent<HTMLDivElement>) => {
    const el = box.current;
    if (!el) return;
    if (e.key === 'Home') el.scrollTop = 0;
    else if (e.key === 'End') el.scrollTop = el.scrollHeight;
    else return;
    e.preventDefault();
  };
  const bytes = useMemo(() => shown.reduce((a, r) => a + r.bytes, 0), [shown]);
  return (
    <div className="tensor-table">
      <div className="tensor-tools">
        <input type="search" placeholder="Filter tensors (name or dtype)" aria-label="Filter tensors" value={query} onChange={(e) => setQuery(e.target.value)} />
        <span className="muted small">
          {shown.length === rows.length ? `${rows.length} tensors` : `${shown.length} of ${rows.length}`} · {formatBytes(bytes)}
        </span>
      </div>
      <div role="table" aria-label={label} aria-rowcount={shown.length + 1} className="tt">
        <div role="rowgroup">
          <div role="row" className="tt-row tt-head" aria-rowindex={1}>
            <span role="columnheader">Name</span>
            <span role="columnheader">Dtype</span>
            <span role="columnheader">Shape</span>
            <span role="columnheader" className="num">
              Bytes
            </span>
            <span role="columnheader">Shard</span>
          </div>
        </div>
        <div ref={box} role="rowgroup" className="tt-body" style={{ height }} onScroll={onScroll} tabIndex={0} aria-label={`${label}, scrollable`} onKeyDown={onKey}>
          <div style={{ height: shown.length * ROW, position: 'relative' }}>
            {shown.slice(first, last).map((r, i) => (
              <div role="row" key={r.name} className="tt-row" aria-rowindex={first + i + 2} style={{ transform: `translateY(${(first + i) * ROW}px)` }}>
                <span role="cell" className="mono name" title={r.name}>
                  {r.name}
                </span>
                <span role="cell" className={`mono dtype dtype-${r.dtype}`}>
                  {r.dtype}
                </span>
                <span role="cell" className="mono">
                  {formatShape(r.shape)}
                </span>
                <span role="cell" className="mono num">
                  {formatBytes(r.bytes)}
                </span>
                <span role="cell" className="mono muted shard" title={r.shard}>
                  {r.shard}
                </span>
              </div>
            ))}
          </div>
          {shown.length === 0 ? <p className="muted empty">No tensor matches “{query}”.</p> : null}
        </div>
      </div>
    </div>
  );
}

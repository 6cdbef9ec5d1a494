// The slices editor (passthrough and other frankenmerges): output slices in order, each taking a
// [start, end) layer range from one or more sources, with a layer map of the resulting stack.
import type { MethodSpec } from '../methods/spec';
import { moveSlice, removeSlice, setSlices, updateSliceSource } from '../recipe/edit';
import type { OutputSlice, SliceSource } from '../recipe/types';
import { useStudio } from '../store/store';
import { NumberBox } from './ParamControl';

const PALETTE = ['#7aa2ff', '#4cc38a', '#f2b84b', '#e07bd8', '#5cc8d6', '#ff8a65'];

export function SlicesEditor({ spec, layersOf, refs }: { spec: MethodSpec; layersOf: (ref: string) => number; refs: string[] }) {
  const slices = useStudio((s) => s.recipe.slices) ?? [];
  const edit = useStudio((s) => s.edit);
  const modelParams = spec.params.filter((p) => p.scope === 'model');
  const multi = spec.maxInputs === undefined || spec.maxInputs > 1;
  const color = (ref: string) => PALETTE[Math.max(0, refs.indexOf(ref)) % PALETTE.length];
  const total = slices.reduce((a, s) => a + sliceLen(s), 0);
  const addSlice = () => {
    const last = slices[slices.length - 1]?.sources[0];
    const model = last?.model ?? refs[0];
    if (model === undefined) return;
    const L = layersOf(model);
    const start = last?.layer_range ? Math.min(last.layer_range[1], L) : 0;
    const end = Math.min(L, start + Math.max(1, Math.ceil(L / 4)));
    edit((r) => setSlices(r, [...(r.slices ?? []), { sources: [{ model, layer_range: start < end ? [start, end] : [0, L] }] }]));
  };
  return (
    <section className="subpanel" aria-labelledby="slices-title">
      <div className="row space">
        <h3 id="slices-title">Slices</h3>
        <span className="muted small">
          {slices.length} slice{slices.length === 1 ? '' : 's'} → {total} output layers
        </span>
      </div>
      <div className="layer-map" aria-hidden="true">
        {slices.map((s, i) => (
          <div key={i} style={{ flexGrow: Math.max(1, sliceLen(s)), background: color(s.sources[0]?.model ?? '') }} title={`slice ${i + 1}: ${s.sources.map(describe).join(' + ')}`}>
            {sliceLen(s) >= 2 ? s.sources[0]?.model : ''}
          </div>
        ))}
      </div>
      <ol className="slices">
        {slices.map((s, i) => (
          <li key={i} className="slice">
            <div className="row space">
              <span className="small muted">
                Slice {i + 1} · {sliceLen(s)} layer{sliceLen(s) === 1 ? '' : 's'}
              </span>
              <span className="row gap">
                <button type="button" className="icon" aria-label={`Move slice ${i + 1} up`} disabled={i === 0} onClick={() => edit((r) => moveSlice(r, i, -1))}>
                  ↑
                </button>
                <button type="button" className="icon" aria-label={`Move slice ${i + 1} down`} disabled={i === slices.length - 1} onClick={() => edit((r) => moveSlice(r, i, 1))}>
                  ↓
                </button>
                <button type="button" className="icon" aria-label={`Remove slice ${i + 1}`} disabled={slices.length <= 1} onClick={() => edit((r) => removeSlice(r, i))}>
                  ×
                </button>
              </span>
            </div>
            {s.sources.map((src, j) => {
              const L = layersOf(src.model);
              const [a, b] = src.layer_range ?? [0, L];
              const who = `slice ${i + 1} source ${j + 1}`;
              return (
                <div key={j} className="source">
                  <span className="swatch" style={{ background: color(src.model) }} aria-hidden="true" />
                  <select aria-label={`Model of ${who}`} value={src.model} onChange={(e) => edit((r) => updateSliceSource(r, i, j, { model: e.target.value, layer_range: clampRange([a, b], layersOf(e.target.value)) }))}>
                    {[...new Set([...refs, src.model])].map((r) => (
                      <option key={r} value={r}>
                        {r}
                      </option>
                    ))}
                  </select>
                  <span className="small muted">layers</span>
                  <NumberBox name={`First layer of ${who}`} value={a} step={1} min={0} max={L} width={56} onCommit={(v) => edit((r) => updateSliceSource(r, i, j, { layer_range: [Math.max(0, Math.trunc(v)), b] }))} />
                  <span className="small muted">to</span>
                  <NumberBox name={`End layer (exclusive) of ${who}`} value={b} step={1} min={0} max={L} width={56} onCommit={(v) => edit((r) => updateSliceSource(r, i, j, { layer_range: [a, Math.max(0, Math.trunc(v))] }))} />
                  <span className="small muted">of {L}</span>
                  {modelParams.map((p) => {
                    const v = src.parameters?.[p.name];
                    return (
                      <label key={p.name} className="small inline">
                        {p.name}
                        <NumberBox
                          name={`${p.name} of ${who}`}
                          value={typeof v === 'number' ? v : undefined}
                          step={0.01}
                          min={p.min}
                          max={p.max}
                          width={64}
                          onCommit={(x) => edit((r) => updateSliceSource(r, i, j, { parameters: { ...(src.parameters ?? {}), [p.name]: x } }))}
                        />
                      </label>
                    );
                  })}
                  {s.sources.length > 1 ? (
                    <button type="button" className="icon" aria-label={`Remove ${who}`} onClick={() => edit((r) => setSlices(r, (r.slices ?? []).map((x, k) => (k === i ? { ...x, sources: x.sources.filter((_, q) => q !== j) } : x))))}>
                      ×
                    </button>
                  ) : null}
                </div>
              );
            })}
            {multi ? (
              <button
                type="button"
                className="mini"
                onClick={() =>
                  edit((r) =>
                    setSlices(
                      r,
                      (r.slices ?? []).map((x, k) => (k === i ? { ...x, sources: [...x.sources, { model: refs.find((m) => !x.sources.some((y) => y.model === m)) ?? refs[0], layer_range: x.sources[0]?.layer_range } as SliceSource] } : x)),
                    ),
                  )
                }
              >
                + source
              </button>
            ) : null}
          </li>
        ))}
      </ol>
      <button type="button" onClick={addSlice} disabled={refs.length === 0}>
        Add slice
      </button>
    </section>
  );
}

function sliceLen(s: OutputSlice): number {
  const r = s.sources[0]?.layer_range;
  return r ? Math.max(0, r[1] - r[0]) : 0;
}

function describe(s: SliceSource): string {
  return `${s.model}${s.layer_range ? ` [${s.layer_range[0]}, ${s.layer_range[1]})` : ''}`;
}

function clampRange([a, b]: [number, number], L: number): [number, number] {
  const e = Math.min(b, L);
  return [Math.min(a, e), e];
}

// Sparsity of a merged model's delta from its base, measured on the GPU over resident weights (no
// weight readback: only two u32 counters per tensor come back). Feeds the sparsity term of
// sparsity-aware evolution and its "attraction" statistic (the share of a child's kept delta
// positions that the sparser parent had left at the base value). deltaStatsCpu is the twin over
// CPU arrays for the wasm backend.
import { Batch, storage } from '../gpu/buffers';
import { deltaCounts } from '../gpu/ops-delta';
import { layerOf } from '../merge/diagnostics';
import { elementCount } from '../gpu/tensor-job';
import type { ResidentWeights } from './resident';
import { EvalError } from '../errors';

export interface DeltaStats {
  /** Elements compared (tensors present in both the merge and the base). */
  numel: number;
  /** Elements whose merged value differs from the base. */
  kept: number;
  /** 1 − kept / numel. */
  sparsity: number;
  /** Per transformer layer (index = layer number; tensors outside layers are not in this list). */
  layers: { layer: number; numel: number; kept: number; sparsity: number }[];
  /** Only with `other`: kept positions where `other` equals the base, and their share of `kept`. */
  filled?: number;
  attraction?: number;
}

/**
 * Compares `merged` with `base` tensor by tensor (same names; tensors missing from either side are
 * skipped). With `other`, also counts the kept positions where `other` left the base value.
 */
export async function deltaStats(merged: ResidentWeights, base: ResidentWeights, other?: ResidentWeights): Promise<DeltaStats> {
  const device = merged.device;
  const names = [...merged.tensors.keys()].filter((n) => base.get(n) && (!other || other.get(n)));
  const counters = storage(device, Math.max(1, names.length) * 8, 'delta-counters');
  const b = new Batch(device);
  b.clear(counters);
  names.forEach((name, i) => {
    const m = merged.get(name)!;
    const n = elementCount(m.shape);
    if (n > 0) deltaCounts(b, m.buffer, base.get(name)!.buffer, other?.get(name)?.buffer, n, counters, 2 * i);
  });
  b.read(counters, names.length * 8);
  b.temps.push(counters);
  const [bytes] = await b.submit();
  const c = new Uint32Array(bytes.buffer, bytes.byteOffset, names.length * 2);
  return summarize(names.map((name, i) => ({ name, numel: elementCount(merged.get(name)!.shape), kept: c[2 * i], filled: c[2 * i + 1] })), !!other);
}

/**
 * The CPU twin over f32 arrays (the wasm backend's weights): the same comparisons as delta.wgsl
 * (`!=` on f32 values: NaN counts as changed, −0 equals +0), the same tensors and the same record.
 */
export function deltaStatsCpu(merged: Map<string, Float32Array>, base: Map<string, Float32Array>, other?: Map<string, Float32Array>): DeltaStats {
  const rows: TensorCounts[] = [];
  for (const [name, m] of merged) {
    const b = base.get(name);
    const o = other?.get(name);
    if (!b || (other && !o)) continue;
    if (b.length !== m.length || (o && o.length !== m.length)) throw new EvalError(`tensor "${name}": the merge has ${m.length} elements, its base ${b.length}${o ? ` and the other model ${o.length}` : ''}`, { tensor: name });
    let kept = 0, filled = 0;
    for (let i = 0; i < m.length; i++) {
      if (m[i] !== b[i]) {
        kept++;
        if (o && o[i] === b[i]) filled++;
      }
    }
    rows.push({ name, numel: m.length, kept, filled });
  }
  return summarize(rows, !!other);
}

interface TensorCounts {
  name: string;
  numel: number;
  kept: number;
  filled: number;
}

/** Totals and per-layer figures from per-tensor counts (shared by the GPU and CPU paths). */
function summarize(rows: TensorCounts[], withOther: boolean): DeltaStats {
  let numel = 0, kept = 0, filled = 0;
  const byLayer = new Map<number, { numel: number; kept: number }>();
  for (const r of rows) {
    numel += r.numel;
    kept += r.kept;
    filled += r.filled;
    const layer = layerOf(r.name);
    if (layer !== null) {
      const e = byLayer.get(layer) ?? { numel: 0, kept: 0 };
      e.numel += r.numel;
      e.kept += r.kept;
      byLayer.set(layer, e);
    }
  }
  const layers = [...byLayer.entries()].sort((a, b) => a[0] - b[0]).map(([layer, e]) => ({ layer, ...e, sparsity: e.numel ? 1 - e.kept / e.numel : 0 }));
  return {
    numel,
    kept,
    sparsity: numel ? 1 - kept / numel : 0,
    layers,
    ...(withOther ? { filled, attraction: kept ? filled / kept : 0 } : {}),
  };
}

// Merge diagnostics on the CPU engine (a studio without WebGPU): the same figures as
// diagnostics.ts from the method's own CPU masks (CpuMethod.sparsify: the task-arithmetic family;
// other methods count as dense task vectors, as on the GPU where a method has no sparsify), counted
// by the diagnostics twin (diagnostics-reference.ts). Counts are exact and equal the GPU's (same
// masks); norms and L1 sums are added in f64 in element order, so they may differ from the GPU's
// strip-wise sums in the last bits.
import type { Plan, PlanEntry } from '../recipe/plan-types';
import { cpuMethod } from '../methods/cpu';
import { num } from '../methods/shared/cpu/method';
import { CpuTensorJob } from '../backends/cpu/job';
import { CancelledError, UnsupportedError } from '../errors';
import { DIAG_MAX_MODELS, diagnoseWith, type DiagnoseOptions, type DiagnosticsResult, type Raw } from './diagnostics';
import { referenceDiagnostics } from './diagnostics-reference';

async function cpuTensorRaw(entry: PlanEntry, signal?: AbortSignal): Promise<{ raw: Raw; models: string[] } | string> {
  if (signal?.aborted) throw new CancelledError();
  const method = cpuMethod(entry.method);
  if (!method) return `merge method "${entry.method}" has no CPU implementation`;
  const bi = entry.inputs.findIndex((x) => x.isBase);
  if (bi < 0) return 'no base model: no task vectors';
  const job = new CpuTensorJob(entry, { rowLen: method.rowLen?.(entry), signal });
  try {
    const others = entry.inputs.map((_, i) => i).filter((i) => i !== bi);
    const s = (await method.sparsify?.(job)) ?? (others.length ? { base: bi, models: others, masks: others.map(() => undefined), coefs: others.map((i) => Math.fround(num(entry.inputs[i].params, 'weight', 1))) } : undefined);
    if (!s) return 'no task vectors';
    if (s.models.length > DIAG_MAX_MODELS) throw new UnsupportedError(`diagnostics handle at most ${DIAG_MAX_MODELS} task vectors per tensor; "${entry.name}" has ${s.models.length}`);
    const whole = { index: 0, start: 0, count: job.n };
    const base = await job.input(s.base, whole);
    const deltas: Float32Array[] = [];
    for (const i of s.models) {
      const x = await job.input(i, whole);
      const d = new Float32Array(job.n);
      for (let e = 0; e < job.n; e++) d[e] = x[e] - base[e];
      deltas.push(d);
    }
    const masks = s.masks.map((m) => {
      if (!m) return undefined;
      const out = new Uint8Array(job.n);
      for (let e = 0; e < job.n; e++) out[e] = (m[e >>> 5] >>> (e & 31)) & 1;
      return out;
    });
    return { raw: referenceDiagnostics(deltas, masks, s.coefs), models: s.models.map((i) => entry.inputs[i].model) };
  } finally {
    job.dispose();
  }
}

/** Diagnostics of a plan on the CPU (same result shape as the GPU's diagnose()). */
export function diagnoseCpu(plan: Plan | PlanEntry[], opts: DiagnoseOptions = {}): Promise<DiagnosticsResult> {
  return diagnoseWith(plan, { ...opts, concurrency: 1 }, (entry) => cpuTensorRaw(entry, opts.signal), 'cpu');
}

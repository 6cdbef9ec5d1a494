import type { TensorJob, Chunk } from '../tensor-job';

/** Emits one chunk of the output (f32, chunk.count elements); resolves once it is written. */
export type Emit = (c: Chunk, out: GPUBuffer) => Promise<void>;

/** The GPU side of a merge method: composed from kernel wrappers in gpu/ops.ts. */
export interface GpuMethod {
  name: string;
  /** Row length when the method's statistics are per row (chunks then hold whole rows). */
  rowLen?(job: { entry: TensorJob['entry'] }): number | undefined;
  run(job: TensorJob, emit: Emit): Promise<void>;
}

export function num(p: Record<string, unknown>, name: string, fallback?: number): number {
  const v = p[name];
  if (typeof v === 'number') return v;
  if (typeof v === 'boolean') return v ? 1 : 0;
  if (fallback !== undefined) return fallback;
  throw new Error(`parameter ${name} missing`);
}

export function bool(p: Record<string, unknown>, name: string, fallback: boolean): boolean {
  const v = p[name];
  if (typeof v === 'boolean') return v;
  if (typeof v === 'number') return v !== 0;
  return fallback;
}

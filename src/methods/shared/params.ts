// Reading a resolved parameter of a plan entry (both engines; the planner has already checked types).

/** A numeric parameter (booleans count 0/1); `fallback` when absent, else an internal error. */
export function num(p: Record<string, unknown>, name: string, fallback?: number): number {
  const v = p[name];
  if (typeof v === 'number') return v;
  if (typeof v === 'boolean') return v ? 1 : 0;
  if (fallback !== undefined) return fallback;
  throw new Error(`parameter ${name} missing`);
}

/** A boolean parameter (numbers: non-zero is true); `fallback` when absent. */
export function bool(p: Record<string, unknown>, name: string, fallback: boolean): boolean {
  const v = p[name];
  if (typeof v === 'boolean') return v;
  if (typeof v === 'number') return v !== 0;
  return fallback;
}

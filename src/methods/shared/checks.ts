// Parameter checks shared by method specs' validate(): each throws a MethodError naming the
// parameter, the allowed values and what was found (the planner adds the tensor name).
import { MethodError } from '../../errors';
import type { ParamValue } from '../spec';

/** A finite number within [min, max] (either bound optional); `what` says what the bound means. */
export function checkNumber(method: string, key: string, v: ParamValue | undefined, o: { min?: number; max?: number; integer?: boolean; model?: string } = {}): void {
  if (v === undefined) return;
  const who = o.model ? ` (model ${o.model})` : '';
  const range =
    o.min !== undefined && o.max !== undefined ? `between ${o.min} and ${o.max}` : o.min !== undefined ? `≥ ${o.min}` : o.max !== undefined ? `≤ ${o.max}` : 'finite';
  const want = `${o.integer ? 'an integer' : 'a number'} ${range}`;
  if (typeof v !== 'number' || !Number.isFinite(v) || (o.integer && !Number.isInteger(v)) || (o.min !== undefined && v < o.min) || (o.max !== undefined && v > o.max))
    throw new MethodError(`${method}: ${key}${who} must be ${want}, got ${JSON.stringify(v)}`, { key, ...(o.model ? { model: o.model } : {}) });
}

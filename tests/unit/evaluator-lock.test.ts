// The engine worker's evaluator lock: Try it evaluations and evolution runs never interleave,
// in either order, and each refusal is a typed error that says what to do.
import { describe, expect, it } from 'vitest';
import { EvaluatorLock } from '../../src/worker/evaluator-lock';
import { EvalError, OptimizerError } from '../../src/errors';

describe('EvaluatorLock', () => {
  it('refuses an evolution while an evaluation holds the evaluator, and lets it in after release', () => {
    const lock = new EvaluatorLock();
    const release = lock.acquire('evaluation');
    expect(() => lock.acquire('evolution')).toThrow(OptimizerError);
    expect(() => lock.acquire('evolution')).toThrow(/evaluation is using the evaluator/);
    release();
    const evo = lock.acquire('evolution');
    expect(lock.held('evolution')).toBe(true);
    evo();
    expect(lock.held('evolution')).toBe(false);
  });

  it('refuses an evaluation while an evolution runs', () => {
    const lock = new EvaluatorLock();
    const evo = lock.acquire('evolution');
    expect(() => lock.acquire('evaluation')).toThrow(EvalError);
    expect(() => lock.acquire('evaluation')).toThrow(/pause or stop it first/);
    evo();
    lock.acquire('evaluation')();
  });

  it('counts holders of one kind, and a second release of one share changes nothing', () => {
    const lock = new EvaluatorLock();
    const a = lock.acquire('evaluation');
    const b = lock.acquire('evaluation');
    a();
    a();
    expect(lock.held('evaluation')).toBe(true); // b still holds it
    expect(() => lock.acquire('evolution')).toThrow(OptimizerError);
    b();
    expect(lock.held('evaluation')).toBe(false);
  });
});

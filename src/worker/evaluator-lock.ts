// The engine worker has one evaluator (models, weight caches, ORT sessions). Evaluations from the
// Try it tab and an evolution run both drive it and must never interleave: whichever holds it
// first keeps it, and the other is refused with a typed error that says what to do.
import { EvalError, OptimizerError, type StudioError } from '../errors';

export type EvaluatorUser = 'evaluation' | 'evolution';

const REFUSAL: Record<EvaluatorUser, () => StudioError> = {
  // what the evaluation is told while an evolution holds the evaluator, and the other way round
  evaluation: () => new EvalError('an evolution run is using the evaluator; pause or stop it first'),
  evolution: () => new OptimizerError('an evaluation is using the evaluator; wait for it to finish (or cancel it) before starting or resuming an evolution'),
};

export class EvaluatorLock {
  private holders: Record<EvaluatorUser, number> = { evaluation: 0, evolution: 0 };

  /** Takes a share of the evaluator for `user` (several of one kind may hold it); throws if the other kind holds it. */
  acquire(user: EvaluatorUser): () => void {
    const other: EvaluatorUser = user === 'evaluation' ? 'evolution' : 'evaluation';
    if (this.holders[other] > 0) throw REFUSAL[user]();
    this.holders[user]++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.holders[user]--;
    };
  }

  held(user: EvaluatorUser): boolean {
    return this.holders[user] > 0;
  }
}

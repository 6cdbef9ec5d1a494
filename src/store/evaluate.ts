// "Try it": the greedy completion of a prompt and eval-set runs, for the current recipe (merged on
// the GPU, never written) or one shelf model as it is. The engine answers typed error records; they
// are kept and shown as they are. Every ready shelf model is sent with each call, so switching the
// target between the merge and a model keeps the engine's opened headers and cached inputs.
import { create } from 'zustand';
import type { ErrorRecord } from '../errors';
import { recipeModels } from '../recipe/model-card';
import type { EvalTarget, EvaluateSummary, Readback } from '../worker/api';
import { useEvalSets, type EvalSetEntry } from './evalsets';
import { shelfSpecs } from './model-specs';
import { useStudio } from './store';
import { getEngine } from './workers';

/** '' = the current recipe; otherwise a shelf model's reference. */
export type TargetKey = string;

export interface CompletionState {
  status: 'idle' | 'running' | 'done' | 'error';
  text?: string;
  tokens?: number;
  ms?: number;
  readback?: Readback;
  error?: ErrorRecord;
  /** What was evaluated, in words. */
  label?: string;
}

export interface EvalRunState {
  status: 'idle' | 'running' | 'done' | 'error';
  summary?: EvaluateSummary;
  error?: ErrorRecord;
  label?: string;
  startedAt?: number;
}

export interface EvaluateState {
  target: TargetKey;
  prompt: string;
  maxNewTokens: number;
  completion: CompletionState;
  /** Eval set ids ticked for "Run eval" (empty: every usable set). */
  selected: string[];
  /** Items per set (null: all). */
  limit: number | null;
  run: EvalRunState;
}

export const useEvaluate = create<EvaluateState>()(() => ({
  target: '',
  prompt: '',
  maxNewTokens: 16,
  completion: { status: 'idle' },
  selected: [],
  limit: 16,
  run: { status: 'idle' },
}));

const fail = (message: string, code: ErrorRecord['code'] = 'eval', details: ErrorRecord['details'] = {}): ErrorRecord => ({ name: 'EvalError', code, message, details });

export function targetLabel(key: TargetKey): string {
  return key === '' ? `current merge (${useStudio.getState().recipe.merge_method})` : key;
}

/** The request's target and models, or why there is none. */
export function buildTarget(key: TargetKey): { target: EvalTarget; models: ReturnType<typeof shelfSpecs>['specs'] } | { error: ErrorRecord } {
  const st = useStudio.getState();
  const { specs } = shelfSpecs(st.models);
  if (key === '') {
    const refs = recipeModels(st.recipe);
    if (refs.length === 0) return { error: fail('The recipe names no models yet: add models to the shelf and give them roles.', 'recipe') };
    const missing = refs.filter((r) => !specs.some((s) => s.ref === r));
    if (missing.length) return { error: fail(`The recipe uses ${missing.join(', ')}, which ${missing.length === 1 ? 'is' : 'are'} not on the shelf (or still being read).`, 'model', { model: missing[0] }) };
    return { target: { kind: 'recipe', recipe: st.recipe, seed: st.recipe.random_seed }, models: specs };
  }
  if (!specs.some((s) => s.ref === key)) return { error: fail(`Model ${key} is not on the shelf (or still being read).`, 'model', { model: key }) };
  return { target: { kind: 'model', ref: key }, models: specs };
}

const asRecord = (e: unknown): ErrorRecord => fail(e instanceof Error ? e.message : String(e), 'gpu');

export async function generate(): Promise<void> {
  const s = useEvaluate.getState();
  if (s.completion.status === 'running') return;
  const label = targetLabel(s.target);
  if (!s.prompt.trim()) {
    useEvaluate.setState({ completion: { status: 'error', error: fail('Type a prompt first.'), label } });
    return;
  }
  const t = buildTarget(s.target);
  if ('error' in t) {
    useEvaluate.setState({ completion: { status: 'error', error: t.error, label } });
    return;
  }
  useEvaluate.setState({ completion: { status: 'running', label } });
  try {
    const r = await getEngine().api.complete({ target: t.target, models: t.models, prompt: s.prompt, maxNewTokens: s.maxNewTokens });
    useEvaluate.setState({ completion: r.ok ? { status: 'done', text: r.text, tokens: r.tokens, ms: r.ms, readback: r.readback, label } : { status: 'error', error: r.error, label } });
  } catch (e) {
    useEvaluate.setState({ completion: { status: 'error', error: asRecord(e), label } });
  }
}

/** The sets "Run eval" uses: the ticked ones, else every usable one. */
export function setsToRun(sets: EvalSetEntry[], selected: string[]): EvalSetEntry[] {
  const usable = sets.filter((x) => !x.error && x.items > 0);
  const picked = usable.filter((x) => selected.includes(x.id));
  return picked.length ? picked : usable;
}

export async function runEval(): Promise<void> {
  const s = useEvaluate.getState();
  if (s.run.status === 'running') return;
  const label = targetLabel(s.target);
  const sets = setsToRun(useEvalSets.getState().sets, s.selected);
  if (sets.length === 0) {
    useEvaluate.setState({ run: { status: 'error', error: fail('No eval set to run: add a .jsonl file (one {"prompt", "answer"} object per line), or wait for the demo sets.'), label } });
    return;
  }
  const t = buildTarget(s.target);
  if ('error' in t) {
    useEvaluate.setState({ run: { status: 'error', error: t.error, label } });
    return;
  }
  useEvaluate.setState({ run: { status: 'running', label, startedAt: performance.now() } });
  try {
    const r = await getEngine().api.evaluate({
      target: t.target,
      models: t.models,
      evalSets: sets.map((x) => ({ name: x.name, text: x.text })),
      limit: s.limit ?? undefined,
      mode: 'generate',
      perItem: true,
    });
    useEvaluate.setState({ run: r.ok ? { status: 'done', summary: r.summary, label } : { status: 'error', error: r.error, label } });
  } catch (e) {
    useEvaluate.setState({ run: { status: 'error', error: asRecord(e), label } });
  }
}

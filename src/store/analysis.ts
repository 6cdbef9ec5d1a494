// Keeps `analysis` (the plan verdict and compatibility reports) in step with the recipe and the
// shelf: debounced, computed in the inspector worker, stale answers dropped.
import { useStudio, type StudioState } from './store';
import { getInspector } from './workers';

/** recipe reference → model id, for the models whose headers are read. */
export function readyRefs(s: Pick<StudioState, 'models'>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const m of s.models) if (m.status === 'ready') out[m.ref] = m.id;
  return out;
}

function key(s: StudioState): string {
  return `${s.revision}|${Object.entries(readyRefs(s)).join(';')}`;
}

let started = false;

export function startAnalysis(delayMs = 80): void {
  if (started) return;
  started = true;
  let last = '';
  let timer: ReturnType<typeof setTimeout> | undefined;
  let seq = 0;
  const run = async () => {
    const s = useStudio.getState();
    const mine = ++seq;
    try {
      const analysis = await getInspector().analyze(s.recipe, readyRefs(s));
      if (mine === seq) useStudio.setState({ analysis, analysisFor: s.revision });
    } catch (e) {
      console.error('analysis failed', e);
    }
  };
  const check = (s: StudioState) => {
    const k = key(s);
    if (k === last) return;
    last = k;
    clearTimeout(timer);
    timer = setTimeout(run, delayMs);
  };
  useStudio.subscribe(check);
  check(useStudio.getState());
}

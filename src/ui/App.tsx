// The studio: model shelf | recipe editor + YAML | diagnostics / try it / evolution, merge and GPU
// panels (the outer columns stay in view while the recipe scrolls, so charts follow every slider).
// Boot order: the engine reports its GPU and its saved evolution runs (one that was running when
// the page died resumes); a "#share=" link wins over the saved recipe; the demo models load unless
// the user removed them (with the demo recipe on a first visit), and the demo's eval sets with them.
import { useEffect } from 'react';
import { startAnalysis } from '../store/analysis';
import { startDiagnostics } from '../store/diagnostics';
import { loadDemoEvalSets, loadSavedEvalSets } from '../store/evalsets';
import { bootEvolution } from '../store/evolution';
import { copyShareLink, openShareFromLocation } from '../store/share';
import { loadDemo } from '../store/shelf';
import { useStudio } from '../store/store';
import { getEngine } from '../store/workers';
import { CapabilityPanel } from './CapabilityPanel';
import { MergePanel } from './MergePanel';
import { ModelSheet } from './ModelSheet';
import { RecipeEditor } from './RecipeEditor';
import { RightTabs } from './RightTabs';
import { Shelf } from './Shelf';
import { YamlPane } from './YamlPane';

let booted = false;

async function boot(): Promise<void> {
  if (booted) return;
  booted = true;
  startAnalysis();
  startDiagnostics();
  getEngine()
    .api.capabilities()
    .then((report) => useStudio.getState().set({ capability: { state: 'ready', report } }))
    .catch((e: unknown) => useStudio.getState().set({ capability: { state: 'failed', message: e instanceof Error ? e.message : String(e) } }));
  void bootEvolution();
  openShareFromLocation();
  window.addEventListener('hashchange', () => openShareFromLocation());
  const st = useStudio.getState();
  // Saved first, so that a user's file named like a demo set keeps its place (addEvalSets' underFiles).
  void loadSavedEvalSets().then(() => loadDemoEvalSets());
  // The shelf's demo switch asks for the other family with its recipe (`demo-recipe`): loaded even
  // if the user had dismissed the demo, and the parameter is dropped so a reload keeps their edits.
  const params = new URLSearchParams(location.search);
  const switched = params.has('demo-recipe');
  if (switched) {
    params.delete('demo-recipe');
    const query = params.toString();
    history.replaceState(history.state, '', `${location.pathname}${query ? `?${query}` : ''}${location.hash}`);
  }
  if (!st.demoDismissed || switched) {
    await loadDemo(!st.hasRecipe || switched).catch((e: unknown) =>
      useStudio.getState().set({ notice: { kind: 'error', text: `The demo models could not be loaded: ${e instanceof Error ? e.message : String(e)}` } }),
    );
  }
  document.documentElement.dataset.ready = 'true';
}

export function App() {
  useEffect(() => {
    void boot();
  }, []);
  return (
    <div className="studio">
      <Header />
      <Notices />
      <main className="cols">
        <Shelf />
        <div className="col center">
          <RecipeEditor />
          <YamlPane />
        </div>
        <div className="col right">
          <RightTabs />
          <MergePanel />
          <CapabilityPanel />
        </div>
      </main>
      <ModelSheet />
    </div>
  );
}

function Header() {
  const cap = useStudio((s) => s.capability);
  const link = useStudio((s) => s.shareLink);
  const chip =
    cap.state === 'probing' ? { cls: 'probing', text: 'Checking WebGPU…' } : cap.state === 'ready' && cap.report.available ? (cap.report.isFallbackAdapter ? { cls: 'fallback', text: `${cap.report.architecture || cap.report.vendor} · software` } : { cls: 'ok', text: [cap.report.vendor, cap.report.architecture].filter(Boolean).join(' · ') || 'WebGPU' }) : cap.state === 'ready' && cap.report.merge?.engine === 'cpu' ? { cls: 'fallback', text: 'no WebGPU · CPU engine' } : { cls: 'bad', text: 'no WebGPU' };
  return (
    <header className="topbar">
      <div className="brand">
        <svg width="18" height="18" viewBox="0 0 24 24" aria-hidden="true">
          <path d="M4 5h6v6H4zM14 13h6v6h-6z" fill="currentColor" opacity=".5" />
          <path d="M7 11v3a3 3 0 0 0 3 3h4M17 13V10a3 3 0 0 0-3-3h-4" stroke="currentColor" strokeWidth="2" fill="none" />
        </svg>
        <h1>Merge Studio</h1>
        <span className="muted small tagline">merge language models in this tab · WebGPU · mergekit-exact</span>
      </div>
      <div className="row gap">
        <span className={`chip ${chip.cls}`} title="GPU adapter (details in the GPU panel)">
          <span className="dot" aria-hidden="true" />
          {chip.text}
        </span>
        {link ? <input className="share-field" readOnly aria-label="Share link" value={link} onFocus={(e) => e.currentTarget.select()} /> : null}
        <button type="button" onClick={() => void copyShareLink()}>
          Copy share link
        </button>
      </div>
    </header>
  );
}

function Notices() {
  const shareError = useStudio((s) => s.shareError);
  const notice = useStudio((s) => s.notice);
  const set = useStudio((s) => s.set);
  if (!shareError && !notice) return null;
  return (
    <div className="notices">
      {shareError ? (
        <div className="callout bad row space" role="alert">
          <span>{shareError}</span>
          <button type="button" className="link" onClick={() => set({ shareError: null })}>
            Dismiss
          </button>
        </div>
      ) : null}
      {notice ? (
        <div className={`callout ${notice.kind === 'error' ? 'bad' : 'info'} row space`} role={notice.kind === 'error' ? 'alert' : 'status'}>
          <span>{notice.text}</span>
          <button type="button" className="link" onClick={() => set({ notice: null })}>
            Dismiss
          </button>
        </div>
      ) : null}
    </div>
  );
}

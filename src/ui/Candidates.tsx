// The best candidates of a run (best first): search fitness (what selection saw), held-out fitness
// (never used for selection), sparsity, generation; and what to do with each: apply it to the
// editor, see / copy / download its YAML, share it as a link, merge it.
import { differingGenes, distinctCandidates, fitnessInterval, itemsText, type FitnessInterval } from '../evolve/distinct';
import type { BestRecord } from '../evolve/run';
import { applyCandidate, candidateExport, candidateName, downloadText, evolveConfigExport, mergeCandidate, shareCandidate, showExport } from '../store/candidates';
import { useEvolution, type ExportedText } from '../store/evolution';
import { useStudio } from '../store/store';
import type { RunView } from '../worker/api';

const f3 = (v: number | undefined) => (v === undefined || !Number.isFinite(v) ? '—' : v.toFixed(3));
const pct = (v: number | undefined) => (v === undefined || !Number.isFinite(v) ? '—' : `${(v * 100).toFixed(1)}%`);

function describe(run: RunView, rec: BestRecord): string {
  if (rec.hops) return `${rec.hops.length} hops${rec.hops.some((h) => h.scale !== 1) ? ', scaled' : ''}`;
  return run.config.ps?.method ?? '';
}

/** "0.625" with its 95 % interval underneath ("0.45–0.78"), when the items per set are known. */
function Fitness({ value, ci }: { value: number | undefined; ci: FitnessInterval | undefined }) {
  return (
    <>
      {f3(value)}
      {ci ? (
        <span className="ci muted" title={`95% interval on ${itemsText(ci.items)}`}>
          {' '}
          {ci.lo.toFixed(2)}–{ci.hi.toFixed(2)}
        </span>
      ) : null}
    </>
  );
}

export function Candidates({ run }: { run: RunView }) {
  const merging = useStudio((s) => s.run.kind === 'merging' || s.run.kind === 'picking');
  // Runs saved before the top list was kept distinct may repeat a recipe: list each once.
  const top = distinctCandidates(run.config, run.top);
  if (top.length === 0) return null;
  const sae = run.config.kind === 'sae';
  const dfs = run.config.kind === 'dfs';
  const genes = differingGenes(run.config, top.map((r) => r.genome));
  const n = run.itemsPerSet;
  const searchCi = (rec: BestRecord) => (n ? fitnessInterval(rec.perSet, n.search) : undefined);
  const heldCi = (rec: BestRecord) => (n && rec.heldout ? fitnessInterval(rec.heldout.perSet, n.heldout) : undefined);
  const typical = n ? fitnessInterval(top[0].perSet, n.search) : undefined;
  return (
    <div className="candidates">
      <table className="small" aria-label="Best candidates">
        <thead>
          <tr>
            <th className="num">#</th>
            <th className="num" title="generation (round) it was found in">gen</th>
            <th className="num" title="fitness on the search split (used for selection)">search</th>
            <th className="num" title="fitness on the held-out split (never used for selection)">held-out</th>
            {dfs ? <th className="num" title="layers on the path (scaled: some input scale is not 1)">hops</th> : <th className="num" title="share of the merged delta exactly 0">sparsity</th>}
            {sae || run.config.sparsity?.beta ? <th className="num" title="what selection maximised">score</th> : null}
            <th title="the genes whose values differ between the listed candidates (genes equal in all of them are left out)">genes that differ</th>
            <th>
              <span className="visually-hidden">actions</span>
            </th>
          </tr>
        </thead>
        <tbody>
          {top.map((rec, i) => {
            const name = `candidate ${i + 1}`;
            const noRecipe = !rec.recipe;
            return (
              <tr key={`${rec.generation}:${rec.index}`}>
                <td className="num mono">{i + 1}</td>
                <td className="num mono">{rec.generation + 1}</td>
                <td className="num mono">
                  <Fitness value={rec.fitness} ci={searchCi(rec)} />
                </td>
                <td className="num mono">{rec.heldout ? <Fitness value={rec.heldout.fitness} ci={heldCi(rec)} /> : '…'}</td>
                {dfs ? <td className="num mono">{describe(run, rec)}</td> : <td className="num mono">{pct(rec.sparsity)}</td>}
                {sae || run.config.sparsity?.beta ? <td className="num mono">{f3(rec.score)}</td> : null}
                <td className="small cand-genes" title={genes[i].map((g) => `${g.label} ${g.value}`).join('\n')}>
                  {genes[i].length ? genes[i].map((g) => `${g.short} ${g.value}`).join(', ') : top.length === 1 ? 'the only candidate' : '—'}
                </td>
                <td className="cand-actions">
                  <button type="button" className="mini" aria-label={`Apply ${name}`} disabled={noRecipe} title={noRecipe ? 'a scaled layer path (or one over a PS merge) has no mergekit recipe: export its hop list' : 'put this recipe into the editor'} onClick={() => applyCandidate(rec)}>
                    Apply
                  </button>
                  <button type="button" className="mini" aria-label={`YAML of ${name}`} onClick={() => showExport(candidateExport(run, rec))}>
                    YAML
                  </button>
                  <button type="button" className="mini" aria-label={`Share link of ${name}`} disabled={noRecipe} onClick={() => void shareCandidate(rec)}>
                    Link
                  </button>
                  <button type="button" className="mini" aria-label={`Merge ${name}`} disabled={noRecipe || merging} title="apply, then merge into a folder (the Merge panel shows the progress)" onClick={() => void mergeCandidate(rec)}>
                    Merge…
                  </button>
                </td>
              </tr>
            );
          })}
        </tbody>
      </table>
      <p className="small muted cand-note">
        Best by {sae ? 'ω·fitness + β·sparsity' : run.config.sparsity?.beta ? 'fitness + β·sparsity' : 'search fitness'}; held-out sets: {run.setNames.heldout.length ? run.setNames.heldout.join(', ') : 'none'}. Best is {candidateName(top[0])}; each recipe is listed once.
        {typical && n ? (
          <>
            {' '}
            Fitness is measured on {itemsText(n.search)} ({n.search.length} search set{n.search.length === 1 ? '' : 's'}): the best candidate's 95% interval is {typical.lo.toFixed(2)}–{typical.hi.toFixed(2)}, so smaller differences are noise; more items per set narrow it.
          </>
        ) : null}
      </p>
    </div>
  );
}

export function EvolveExportButton({ run }: { run: RunView }) {
  const ps = run.config.kind === 'ps';
  return (
    <button type="button" className="mini" disabled={!ps} title={ps ? 'the search space and tasks as a mergekit-evolve config.yml' : 'only parameter-space runs map to mergekit-evolve'} onClick={() => showExport(evolveConfigExport(run))}>
      Export mergekit-evolve config
    </button>
  );
}

export function ExportPane() {
  const e = useEvolution((s) => s.exported);
  if (!e) return null;
  return (
    <div className="export-pane" role="region" aria-label={e.title}>
      <div className="row space">
        <strong className="small">{e.title}</strong>
        <span className="row gap">
          {!e.error ? (
            <>
              <button type="button" className="mini" onClick={() => void copy(e)}>
                Copy
              </button>
              <button type="button" className="mini" onClick={() => downloadText(e)}>
                Download
              </button>
            </>
          ) : null}
          <button type="button" className="mini" onClick={() => showExport(null)}>
            Close
          </button>
        </span>
      </div>
      {e.error ? (
        <p className="callout bad small" role="alert">
          {e.error}
        </p>
      ) : (
        <textarea className="mono" readOnly aria-label="Exported YAML" value={e.text} rows={Math.min(16, e.text.split('\n').length + 1)} spellCheck={false} />
      )}
    </div>
  );
}

async function copy(e: ExportedText): Promise<void> {
  let ok = false;
  try {
    await navigator.clipboard.writeText(e.text);
    ok = true;
  } catch {
    /* no clipboard permission: the text is selectable in the pane */
  }
  useStudio.getState().set({ notice: { kind: 'info', text: ok ? `${e.title} copied.` : 'The clipboard is not available here; select the text in the pane.' } });
}

// What the studio does with an evolved candidate: apply it to the editor, export it (mergekit YAML,
// or the hop list of a scaled layer path, which mergekit cannot express), share it, merge it; and
// the whole parameter-space search as a mergekit-evolve configuration.
import { toRecord } from '../errors';
import { dfsToHopList, hopListToYaml } from '../evolve/genome-dfs';
import { psToMergekitEvolveYaml } from '../evolve/mergekit-evolve';
import type { BestRecord } from '../evolve/run';
import { recipeToMergekitYaml } from '../recipe/mergekit-yaml';
import type { RunView } from '../worker/api';
import { useEvolution, type ExportedText } from './evolution';
import { startMerge } from './run';
import { copyShareLink } from './share';
import { useStudio } from './store';

/** A short name for a candidate: generation and index in it. */
export const candidateName = (rec: BestRecord): string => `g${rec.generation + 1}-${rec.index + 1}`;

/** The candidate's export text: mergekit YAML when it is a recipe, else its layer path's hop list. */
export function candidateExport(run: RunView, rec: BestRecord): ExportedText {
  if (rec.recipe) {
    return { title: `mergekit YAML of candidate ${candidateName(rec)}`, text: recipeToMergekitYaml(rec.recipe), filename: `${run.id}-${candidateName(rec)}.yml` };
  }
  if (rec.hops && run.config.dfs) {
    return { title: `Layer path (hop list) of candidate ${candidateName(rec)}`, text: hopListToYaml(dfsToHopList(run.config.dfs, rec.hops)), filename: `${run.id}-${candidateName(rec)}.layer-path.yml` };
  }
  return { title: 'Nothing to export', text: '# this candidate has neither a recipe nor a layer path\n', filename: 'candidate.yml' };
}

export function showExport(e: ExportedText | null): void {
  useEvolution.setState({ exported: e });
}

export function applyCandidate(rec: BestRecord): boolean {
  if (!rec.recipe) return false;
  useStudio.getState().setRecipe(rec.recipe);
  useStudio.getState().set({ notice: { kind: 'info', text: `Applied candidate ${candidateName(rec)} to the editor (search fitness ${rec.fitness.toFixed(3)}).` } });
  return true;
}

export async function shareCandidate(rec: BestRecord): Promise<void> {
  if (rec.recipe) await copyShareLink(rec.recipe);
}

/** Apply, then the merge panel's own flow (folder picker, progress, hashes). */
export async function mergeCandidate(rec: BestRecord): Promise<void> {
  if (applyCandidate(rec)) await startMerge();
}

/** The search as a mergekit-evolve config (PS runs; the search sets become lm-eval task names). */
export function evolveConfigExport(run: RunView): ExportedText {
  try {
    const ps = run.config.ps;
    if (!ps || run.config.kind !== 'ps') throw new Error('only parameter-space (PS) runs can be exported as a mergekit-evolve configuration');
    const tasks = run.setNames.search.map((n) => ({ name: n.replace(/\.jsonl?$/i, '').replace(/[^A-Za-z0-9_]+/g, '_') }));
    const notExpressible: string[] = [];
    if (run.config.sparsity && run.config.sparsity.beta > 0) notExpressible.push(`the sparsity term (β = ${run.config.sparsity.beta})`);
    notExpressible.push(`the eval sets ${run.setNames.search.join(', ')} (JSONL; replace the task names with lm-eval tasks)`);
    const text = psToMergekitEvolveYaml(ps, tasks, {
      limit: run.config.limit,
      sigma0: run.config.sigma0 ?? +(1 / 6).toFixed(6),
      populationSize: run.config.popSize,
      maxFevals: run.config.popSize ? run.config.popSize * run.config.generations : undefined,
      notExpressible,
    });
    return { title: 'mergekit-evolve configuration', text, filename: `${run.id}.mergekit-evolve.yml` };
  } catch (e) {
    return { title: 'mergekit-evolve configuration', text: '', filename: `${run.id}.mergekit-evolve.yml`, error: toRecord(e).message };
  }
}

export function downloadText(e: ExportedText): void {
  const url = URL.createObjectURL(new Blob([e.text], { type: 'application/yaml' }));
  const a = document.createElement('a');
  a.href = url;
  a.download = e.filename;
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

// Merge runs: choose the output (a folder via showDirectoryPicker, else OPFS + download links),
// run the engine worker with throttled progress, cancel (the engine's sink removes everything it
// wrote), then hash every output file in the inspector worker.
import { specOf } from './model-specs';
import { outputPathSegments } from '../io/output-path';
import { recipeModels } from '../recipe/model-card';
import type { MergeProgress, ModelSpec, OutputSpec } from '../worker/api';
import { useStudio } from './store';
import type { FileHash, OutputTarget, RunState } from './types';
import { callback, getEngine, getInspector } from './workers';
import { cancelDiagnostics } from './diagnostics';
import { identityOf } from './shelf';
import { getHubEndpoint } from './hub';
import { DEFAULT_HUB_URL } from '../merge/hub-names';
import type { ModelIdentity } from '../recipe/share-url';
import type { MergeSummary } from '../worker/api';

/** Where the last completed merge's files are (what "Publish to the Hub" uploads). */
export type MergedOutput = { where: { kind: 'opfs'; dir: string } | { kind: 'directory'; handle: FileSystemDirectoryHandle }; summary: MergeSummary };
let lastOutput: MergedOutput | undefined;

/** The last completed merge's output, if it is still the one shown. */
export function lastMergedOutput(): MergedOutput | undefined {
  const run = useStudio.getState().run;
  return run.kind === 'done' && lastOutput && run.summary === lastOutput.summary ? lastOutput : undefined;
}

type DirPicker = (opts?: { id?: string; mode?: 'read' | 'readwrite'; startIn?: string }) => Promise<FileSystemDirectoryHandle>;

/** A folder name for OPFS: letters, digits, ".", "-", "_" only. */
export function safeOutputName(name: string): string {
  const s = name.trim().replace(/[^A-Za-z0-9._-]+/g, '-').replace(/^[.-]+/, '');
  return s.slice(0, 100) || 'merged';
}

const PROGRESS_MS = 100;

let downloadsToRevoke: string[] = [];

export async function startMerge(): Promise<void> {
  const st = useStudio.getState();
  if (st.run.kind === 'merging' || st.run.kind === 'picking') return;
  for (const u of downloadsToRevoke) URL.revokeObjectURL(u);
  downloadsToRevoke = [];
  const recipe = st.recipe;
  const refs = recipeModels(recipe);
  const models: ModelSpec[] = [];
  const identities: ModelIdentity[] = [];
  for (const ref of refs) {
    const m = st.models.find((x) => x.ref === ref && x.status === 'ready');
    if (!m) {
      st.setRun({ kind: 'failed', error: { name: 'ModelError', code: 'model', message: `The recipe uses ${ref}, which is not on the shelf: drop its folder first.`, details: { model: ref } } });
      return;
    }
    models.push(specOf(m));
    identities.push(identityOf(m) ?? { ref, name: m.name, tensors: 0, bytes: 0, hash: '' });
  }

  let output: OutputSpec;
  let target: OutputTarget;
  let hashTarget: { kind: 'opfs'; dir: string } | { kind: 'directory'; handle: FileSystemDirectoryHandle };
  const picker = (window as unknown as { showDirectoryPicker?: DirPicker }).showDirectoryPicker;
  if (typeof picker === 'function') {
    st.setRun({ kind: 'picking' });
    let handle: FileSystemDirectoryHandle;
    try {
      handle = await picker.call(window, { id: 'merge-output', mode: 'readwrite' });
    } catch (e) {
      const aborted = e instanceof DOMException && e.name === 'AbortError';
      st.setRun(aborted ? { kind: 'idle' } : { kind: 'failed', error: { name: 'IoError', code: 'io', message: `Could not open the folder picker: ${e instanceof Error ? e.message : String(e)}`, details: {} } });
      return;
    }
    output = { kind: 'directory', handle };
    target = { kind: 'directory', name: handle.name || 'the chosen folder' };
    hashTarget = { kind: 'directory', handle };
  } else {
    const dir = `merges/${safeOutputName(st.outputName)}`;
    output = { kind: 'opfs', dir };
    target = { kind: 'opfs', dir };
    hashTarget = { kind: 'opfs', dir };
  }

  const existedBefore = target.kind === 'opfs' ? await opfsDir(target.dir).then(() => true, () => false) : false;
  const startedAt = performance.now();
  const samples: { t: number; b: number }[] = [];
  let latest: MergeProgress | null = null;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const flush = () => {
    timer = undefined;
    const run = useStudio.getState().run;
    if (run.kind !== 'merging' || !latest) return;
    const now = performance.now();
    samples.push({ t: now, b: latest.bytesRead });
    while (samples.length > 2 && now - samples[0].t > 3000) samples.shift();
    const first = samples[0];
    const dt = (now - first.t) / 1000;
    const rate = dt > 0.2 ? (latest.bytesRead - first.b) / dt : latest.elapsedMs > 0 ? latest.bytesRead / (latest.elapsedMs / 1000) : 0;
    useStudio.getState().setRun({ ...run, progress: latest, rate });
  };
  const onProgress = (p: MergeProgress) => {
    const stageChanged = latest?.stage !== p.stage;
    latest = p;
    if (stageChanged) {
      clearTimeout(timer);
      flush();
    } else timer ??= setTimeout(flush, PROGRESS_MS);
  };

  cancelDiagnostics();
  st.setRun({ kind: 'merging', target, progress: null, startedAt, rate: 0, cancelling: false });
  const engine = getEngine();
  let result;
  try {
    // the model card links back to this studio with the recipe, and to the Hub models it uses
    const hubUrl = getHubEndpoint();
    const card = { studioUrl: `${location.origin}${location.pathname}`, identities, ...(hubUrl !== DEFAULT_HUB_URL ? { hubUrl } : {}) };
    result = await engine.api.merge({ recipe, models, output, card }, engine.progress(onProgress));
  } catch (e) {
    result = { ok: false as const, error: { name: 'Error', code: 'io' as const, message: e instanceof Error ? e.message : String(e), details: {} } };
  }
  clearTimeout(timer);
  if (!result.ok) {
    if (result.error.code === 'cancelled') {
      const clean = await isClean(hashTarget, existedBefore).catch(() => false);
      st.setRun({ kind: 'cancelled', target, clean });
    } else st.setRun({ kind: 'failed', error: result.error });
    return;
  }
  const summary = result.summary;
  const files: FileHash[] = summary.files.map((f) => ({ path: f.path, bytes: f.bytes }));
  const done: Extract<RunState, { kind: 'done' }> = { kind: 'done', target, summary, files, hashing: true };
  lastOutput = { where: hashTarget, summary };
  if (target.kind === 'opfs') done.downloads = await opfsDownloads(target.dir, files.map((f) => f.path)).catch(() => undefined);
  st.setRun(done);
  const update = (patch: Partial<typeof done>) => {
    const cur = useStudio.getState().run;
    if (cur.kind === 'done' && cur.summary === summary) useStudio.getState().setRun({ ...cur, ...patch });
  };
  try {
    await getInspector().hashOutput(
      hashTarget,
      files.map((f) => f.path),
      callback((path: string, sha256: string) => {
        const cur = useStudio.getState().run;
        if (cur.kind === 'done' && cur.summary === summary) update({ files: cur.files.map((f) => (f.path === path ? { ...f, sha256 } : f)) });
      }),
    );
  } finally {
    update({ hashing: false });
  }
}

export function cancelMerge(): void {
  const run = useStudio.getState().run;
  if (run.kind !== 'merging') return;
  useStudio.getState().setRun({ ...run, cancelling: true });
  void getEngine().api.cancel();
}

async function opfsDir(dir: string, create = false): Promise<FileSystemDirectoryHandle> {
  let d = await navigator.storage.getDirectory();
  for (const s of outputPathSegments(dir)) d = await d.getDirectoryHandle(s, { create });
  return d;
}

async function opfsDownloads(dir: string, paths: string[]): Promise<{ path: string; url: string }[]> {
  const d = await opfsDir(dir);
  const out = [];
  for (const p of paths) {
    let sub = d;
    const segs = outputPathSegments(p);
    for (const s of segs.slice(0, -1)) sub = await sub.getDirectoryHandle(s);
    const file = await (await sub.getFileHandle(segs[segs.length - 1])).getFile();
    const url = URL.createObjectURL(file);
    downloadsToRevoke.push(url);
    out.push({ path: p, url });
  }
  return out;
}

type Listable = FileSystemDirectoryHandle & { keys(): AsyncIterable<string> };

/** After a cancel: no temporary ".…partial-…" folder is left, nor an output folder that was not there before. */
async function isClean(t: { kind: 'opfs'; dir: string } | { kind: 'directory'; handle: FileSystemDirectoryHandle }, existedBefore: boolean): Promise<boolean> {
  let parent: FileSystemDirectoryHandle;
  let name: string | null;
  if (t.kind === 'directory') {
    parent = t.handle;
    name = null;
  } else {
    const segs = outputPathSegments(t.dir);
    parent = segs.length > 1 ? await opfsDir(segs.slice(0, -1).join('/'), true) : await navigator.storage.getDirectory();
    name = existedBefore ? null : segs[segs.length - 1];
  }
  for await (const k of (parent as Listable).keys()) {
    if (k.includes('.partial-')) return false;
    if (name !== null && k === name) return false;
  }
  return true;
}

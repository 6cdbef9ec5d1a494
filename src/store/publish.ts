// "Publish to the Hub" after a merge: the files of the last completed merge (OPFS or the picked
// folder; the same whichever engine wrote them) pushed in one commit by merge/publish.ts, with the
// token from store/hub.ts. Its own small store: the form, the progress and the result.
import { create } from 'zustand';
import { repoIdProblem, tokenProblem } from '../merge/hub-names';
import type { PublishFile, PublishProgress, PublishResult } from '../merge/publish';
import { outputPathSegments } from '../io/output-path';
import { toRecord, type ErrorRecord } from '../errors';
import { getHubEndpoint, getHubToken } from './hub';
import { lastMergedOutput, type MergedOutput } from './run';
import type { MergeSummary } from '../worker/api';

export type PublishState =
  | { kind: 'idle' }
  | { kind: 'publishing'; repo: string; progress: PublishProgress | null; startedAt: number }
  | { kind: 'done'; result: PublishResult }
  | { kind: 'failed'; repo: string; error: ErrorRecord }
  | { kind: 'cancelled'; repo: string };

interface PublishStore {
  state: PublishState;
  /** The merge the state is about (a new merge shows a fresh form). */
  of: MergeSummary | null;
  set(state: PublishState, of?: MergeSummary | null): void;
}

export const usePublish = create<PublishStore>()((set) => ({ state: { kind: 'idle' }, of: null, set: (state, of) => set(of === undefined ? { state } : { state, of }) }));

let controller: AbortController | undefined;

/** The merged files, read back from where the merge committed them. */
async function outputFiles(out: MergedOutput): Promise<PublishFile[]> {
  let root: FileSystemDirectoryHandle;
  if (out.where.kind === 'directory') root = out.where.handle;
  else {
    root = await navigator.storage.getDirectory();
    for (const s of outputPathSegments(out.where.dir)) root = await root.getDirectoryHandle(s);
  }
  const files: PublishFile[] = [];
  for (const f of out.summary.files) {
    const segs = outputPathSegments(f.path);
    let d = root;
    for (const s of segs.slice(0, -1)) d = await d.getDirectoryHandle(s);
    const file = await (await d.getFileHandle(segs[segs.length - 1])).getFile();
    if (file.size !== f.bytes) throw new Error(`${f.path} is ${file.size} bytes now but the merge wrote ${f.bytes}: the output folder changed since; merge again`);
    files.push({ path: f.path, content: file });
  }
  return files;
}

/** Why the form cannot be submitted, or null. */
export function publishProblem(repo: string, token: string): string | null {
  if (!lastMergedOutput()) return 'Merge first: publishing uploads the last merge’s output.';
  if (!repo.trim()) return 'Enter a repository: namespace/name.';
  return repoIdProblem(repo.trim()) ?? tokenProblem(token) ?? null;
}

export async function startPublish(o: { repo: string; private: boolean; commitMessage?: string }): Promise<void> {
  const st = usePublish.getState();
  if (st.state.kind === 'publishing') return;
  const repo = o.repo.trim();
  const out = lastMergedOutput();
  if (!out) {
    st.set({ kind: 'failed', repo, error: { name: 'PublishError', code: 'io', message: 'There is no completed merge to publish: merge first.', details: {} } });
    return;
  }
  controller = new AbortController();
  const startedAt = performance.now();
  st.set({ kind: 'publishing', repo, progress: null, startedAt }, out.summary);
  let last = 0;
  try {
    const files = await outputFiles(out);
    const { publishToHub } = await import('../merge/publish'); // the Hub client loads on first use
    const result = await publishToHub(
      { repo, files, token: getHubToken() ?? '', hubUrl: getHubEndpoint(), private: o.private, ...(o.commitMessage?.trim() ? { commitMessage: o.commitMessage.trim() } : {}) },
      {
        signal: controller.signal,
        onProgress: (p) => {
          const now = performance.now();
          if (now - last < 100 && p.phase !== 'done') return;
          last = now;
          const cur = usePublish.getState().state;
          if (cur.kind === 'publishing') usePublish.getState().set({ ...cur, progress: p });
        },
      },
    );
    usePublish.getState().set({ kind: 'done', result });
  } catch (e) {
    const error = toRecord(e);
    usePublish.getState().set(error.code === 'cancelled' ? { kind: 'cancelled', repo } : { kind: 'failed', repo, error });
  } finally {
    controller = undefined;
  }
}

export function cancelPublish(): void {
  controller?.abort();
}

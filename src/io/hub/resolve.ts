// Resolving a Hub reference to a pinned commit and its file list, through @huggingface/hub's
// modelInfo and listFiles (with a retrying fetch). The Hub's answers become typed errors naming the
// repo: not found, gated without a token, a revision that does not exist, PyTorch pickle weights
// only. Isomorphic.
import { HubApiError, listFiles, modelInfo } from '@huggingface/hub';
import { CancelledError, IoError, ModelError, StudioError } from '../../errors';
import { DEFAULT_HUB_ENDPOINT, formatHubRef, hubModelUrl, type HubRef } from './ref';
import { DEFAULT_RETRY, isAbortError, retryingFetch, type FetchTrace, type RetryPolicy } from './retry';

export { DEFAULT_HUB_ENDPOINT };

export interface HubAccess {
  /** The Hub's origin (HF_ENDPOINT); default https://huggingface.co. */
  endpoint: string;
  token?: string;
  fetch?: typeof fetch;
  retry?: RetryPolicy;
  /** Told about each retry (the CLI prints it). Never given the token. */
  onRetry?: (what: string, delayMs: number) => void;
}

export interface HubModelFile {
  path: string;
  size: number;
  /** Stored with LFS (the Hub redirects its downloads to a CDN). */
  lfs: boolean;
}

export interface HubModel {
  repo: string;
  /** The revision asked for ("main" when none was). */
  revision: string;
  /** The commit it pointed to when resolved: every file is read at this commit. */
  commit: string;
  endpoint: string;
  /** The files the engine may read (top-level safetensors, JSON, tokenizer files), sorted. */
  files: HubModelFile[];
  /** Every file of the repo at that commit (for messages). */
  allFiles: string[];
  gated: boolean;
  private: boolean;
}

/** Files a merge may read: mergekit reads the top level's *.safetensors, *.json and tokenizer files. */
export function isHubModelFile(path: string): boolean {
  return !path.includes('/') && /\.(safetensors|json|model|txt|tiktoken|jinja)$/i.test(path) && !path.startsWith('.');
}

const PICKLE = /\.(bin|pt|pth|ckpt|pkl)$/i;

function messageOf(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** Checks a token's form (the library insists on "hf_…"); undefined when fine. */
export function tokenProblem(token: string): string | undefined {
  if (!/^hf_[A-Za-z0-9_-]{1,200}$/.test(token)) return 'a Hugging Face token starts with "hf_" followed by letters and digits';
  return undefined;
}

/** Maps a failed Hub API call to a typed error naming the repo (and what to do). */
function hubError(e: unknown, trace: FetchTrace, ref: HubRef, a: HubAccess, what: string): StudioError {
  if (e instanceof StudioError) return e;
  if (isAbortError(e)) return new CancelledError();
  const name = formatHubRef(ref);
  const where = a.endpoint;
  const details = { model: name };
  if (e instanceof HubApiError) {
    const code = trace.errorCode;
    const status = e.statusCode;
    if (code === 'GatedRepo' || (status === 403 && code !== 'RepoNotFound'))
      return new ModelError(
        a.token
          ? `model "${name}" is gated on ${where} and the token given has no access to it: ask for access at ${hubModelUrl(where, ref)}`
          : `model "${name}" is gated on ${where}: it needs a token with access (set HF_TOKEN or pass --token; in the studio, the Hub token field)`,
        details,
      );
    if (code === 'RevisionNotFound' || (status === 404 && code === undefined && ref.revision && what === 'revision'))
      return new ModelError(`model "${name}": the repo ${ref.repo} on ${where} has no revision "${ref.revision ?? 'main'}" (a branch, tag or commit)`, details);
    if (code === 'RepoNotFound' || status === 401 || status === 404)
      return new ModelError(
        `model "${name}" not found on ${where}${a.token ? '' : ' (if it is private, it needs a token: set HF_TOKEN or pass --token)'}`,
        details,
      );
    if (status === 429 || status >= 500)
      return new IoError(`model "${name}": the Hub at ${where} kept failing (HTTP ${status}) after ${trace.attempts} attempts; try again later`, details);
    return new IoError(`model "${name}": the Hub at ${where} answered HTTP ${status} to the ${what} request: ${trace.errorMessage ?? messageOf(e)}`, details);
  }
  if (e instanceof TypeError && /hf_/.test(e.message)) return new ModelError(`the Hub token is malformed: ${tokenProblem('') ?? e.message}`, details);
  return new IoError(
    `model "${name}": cannot reach the Hub at ${where} (${trace.lastProblem ?? messageOf(e)})${trace.attempts > 1 ? ` after ${trace.attempts} attempts` : ''}`,
    details,
  );
}

/**
 * Resolves a reference: the commit its revision points to now (pinned: every file is then read
 * at that commit), and the files with their sizes. Throws ModelError / IoError naming the repo.
 */
export async function resolveHubModel(ref: HubRef, a: HubAccess, signal?: AbortSignal): Promise<HubModel> {
  const endpoint = a.endpoint.replace(/\/+$/, '');
  const access = { ...a, endpoint };
  if (a.token) {
    const p = tokenProblem(a.token);
    if (p) throw new ModelError(`the Hub token is malformed: ${p}`, { model: formatHubRef(ref) });
  }
  const trace: FetchTrace = { attempts: 0 };
  const f = retryingFetch(a.retry ?? DEFAULT_RETRY, trace, signal, a.fetch, a.onRetry);
  const creds = a.token ? { accessToken: a.token } : {};
  let info: { sha?: string; gated: unknown; private: boolean; siblings?: { rfilename: string }[] };
  try {
    info = (await modelInfo({ name: ref.repo, revision: ref.revision, hubUrl: endpoint, fetch: f, additionalFields: ['sha'], ...creds })) as typeof info;
  } catch (e) {
    throw hubError(e, trace, ref, access, 'revision');
  }
  const commit = info.sha;
  if (!commit || !/^[0-9a-f]{40}$/.test(commit))
    throw new IoError(`model "${formatHubRef(ref)}": the Hub at ${endpoint} gave no commit id for revision "${ref.revision ?? 'main'}"`, { model: formatHubRef(ref) });
  const all: { path: string; size: number; lfs: boolean }[] = [];
  const listTrace: FetchTrace = { attempts: 0 };
  try {
    for await (const e of listFiles({
      repo: { type: 'model', name: ref.repo },
      revision: commit,
      recursive: true,
      hubUrl: endpoint,
      fetch: retryingFetch(a.retry ?? DEFAULT_RETRY, listTrace, signal, a.fetch, a.onRetry),
      ...creds,
    })) {
      if (e.type === 'file') all.push({ path: e.path, size: e.lfs?.size ?? e.size, lfs: !!e.lfs });
    }
  } catch (e) {
    throw hubError(e, listTrace, { ...ref, revision: commit }, access, 'file list');
  }
  const name = formatHubRef(ref);
  const files = all.filter((x) => isHubModelFile(x.path)).sort((x, y) => (x.path < y.path ? -1 : x.path > y.path ? 1 : 0));
  if (!files.some((x) => x.path.endsWith('.safetensors'))) {
    const pickles = all.filter((x) => PICKLE.test(x.path)).map((x) => x.path);
    if (pickles.length)
      throw new ModelError(
        `model "${name}" has only PyTorch pickle weights (${pickles.slice(0, 3).join(', ')}${pickles.length > 3 ? ', …' : ''}): refused, because loading a pickle file can run arbitrary code. Use a revision or repo with .safetensors weights (or convert them where you trust the files).`,
        { model: name, file: pickles[0] },
      );
    const nested = all.filter((x) => x.path.endsWith('.safetensors')).map((x) => x.path);
    throw new ModelError(
      `model "${name}" has no .safetensors weights at the top of the repo${nested.length ? ` (only in subfolders: ${nested.slice(0, 3).join(', ')})` : ''} on ${endpoint}`,
      { model: name },
    );
  }
  return {
    repo: ref.repo,
    revision: ref.revision ?? 'main',
    commit,
    endpoint,
    files,
    allFiles: all.map((x) => x.path),
    gated: !!info.gated,
    private: !!info.private,
  };
}

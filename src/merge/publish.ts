// Publishing a finished output folder to a Hugging Face Hub model repository, through
// @huggingface/hub (whoAmI, createRepo, commitIter). Isomorphic: the CLI runs it in Node on the
// committed output folder, the studio in the page on the OPFS / picked folder, for merges from
// either engine (the folder is the same).
//
//   1. check the repo id and the token, and ask the Hub who the token belongs to (401 → a bad
//      token, before anything is created; a namespace the token's user does not belong to → 403);
//   2. create the repository, PRIVATE unless asked otherwise (an existing one is used as it is);
//   3. ONE commit holding every file: the library preuploads, uploads the large files to LFS
//      storage first, and only then posts the commit. A failure before that last request leaves
//      the repository without a new commit; nothing is ever half-committed.
//
// Uploads use plain LFS (basic / multipart PUTs), not xet: the library offers xet only when asked
// (`useXet`, default on) and falls back to LFS whenever the Hub's batch answer does not choose
// xet; the Hub accepts LFS uploads for every model repo, LFS needs no WebAssembly chunker in the
// page, and it is the path the tests exercise against the fake Hub.
//
// The token goes only to the Hub's origin: every request passes through one fetch wrapper that
// drops an Authorization header bound anywhere else (LFS storage URLs are pre-signed), and every
// message that leaves this module has the token replaced by "hf_***".
// Transient failures (connection errors, 429 honouring Retry-After, 5xx) are retried with backoff;
// the commit request itself is retried only on answers that say it was not applied (429, 503).
import { commitIter, createRepo, whoAmI, HubApiError, type CommitOperation } from '@huggingface/hub';
import { CancelledError, PublishError } from '../errors';
import { DEFAULT_HUB_URL, redactToken, repoIdProblem, tokenProblem } from './hub-names';
import { retryAfterMs, sleep } from '../io/hub/retry';

export { DEFAULT_HUB_URL, redactToken, repoIdProblem, tokenProblem };

export interface PublishFile {
  /** Path inside the repository ("model-00001-of-00002.safetensors", "README.md"). */
  path: string;
  content: Blob;
}

export interface PublishRequest {
  /** "namespace/name". */
  repo: string;
  files: PublishFile[];
  /** A Hugging Face access token ("hf_…") with write access. */
  token: string;
  /** The Hub's address (HF_ENDPOINT); default the public Hub. */
  hubUrl?: string;
  /** Create the repository private (default true). Ignored when it exists already. */
  private?: boolean;
  /** The commit title; default "Upload merged model (<n> files)". */
  commitMessage?: string;
}

export interface PublishProgress {
  phase: 'checking' | 'creating' | 'preparing' | 'hashing' | 'uploading' | 'committing' | 'done';
  /** Bytes of all files. */
  bytesTotal: number;
  /** Bytes hashed (SHA-256 of the large files, which LFS needs before an upload). */
  bytesHashed: number;
  /** Bytes of files whose upload finished, plus the finished fraction of those in flight. */
  bytesUploaded: number;
  filesTotal: number;
  /** The file the last event was about. */
  file?: string;
}

export interface PublishResult {
  repo: string;
  /** The repository's page. */
  url: string;
  /** Whether this call created the repository (else it existed and was committed to). */
  created: boolean;
  /** The visibility this call asked for; undefined when the repository existed already. */
  private?: boolean;
  commit: { oid: string; url: string };
  files: number;
  bytes: number;
}

export interface RetryPolicy {
  /** Tries per request after the first (default 4). */
  retries: number;
  /** First backoff (doubles per retry; default 500 ms); a Retry-After header wins when longer. */
  baseDelayMs: number;
  /** Longest single wait (default 30 s). */
  maxDelayMs: number;
}

export interface PublishOptions {
  signal?: AbortSignal;
  onProgress?: (p: PublishProgress) => void;
  /** The fetch to use (default globalThis.fetch). */
  fetch?: typeof fetch;
  retry?: Partial<RetryPolicy>;
}

/** A request that failed on the network every time it was tried. */
class NetworkFailure extends Error {
  constructor(
    readonly url: URL,
    readonly attempts: number,
    override readonly cause: unknown,
  ) {
    super(`${url.host}: ${cause instanceof Error ? (cause.cause instanceof Error ? `${cause.message} (${cause.cause.message})` : cause.message) : String(cause)}`);
  }
}

/**
 * The fetch every Hub request goes through: Authorization only to the Hub's origin, retries for
 * transient failures. `init` may carry the library's own extra fields (progressHint); they pass on.
 */
export function hubFetch(hubOrigin: string, policy: RetryPolicy, base: typeof fetch, signal?: AbortSignal): typeof fetch {
  return async (input: RequestInfo | URL, init?: RequestInit) => {
    const url = new URL(typeof input === 'string' ? input : input instanceof URL ? input.href : input.url);
    const headers = new Headers(init?.headers ?? (input instanceof Request ? input.headers : undefined));
    if (url.origin !== hubOrigin) headers.delete('authorization');
    // The commit is the one request that is not idempotent: retried only when the answer says it
    // was not applied. A connection lost while it is in flight is reported, never replayed.
    const isCommit = init?.method === 'POST' && /^\/api\/models\/[^/]+\/[^/]+\/commit\//.test(url.pathname);
    for (let attempt = 0; ; attempt++) {
      if (signal?.aborted) throw new CancelledError();
      let res: Response;
      try {
        res = await base(url.href, { ...init, headers });
      } catch (e) {
        if (signal?.aborted || (e instanceof Error && e.name === 'AbortError')) throw e;
        if (isCommit || attempt >= policy.retries) throw new NetworkFailure(url, attempt + 1, e);
        await sleep(Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** attempt), signal);
        continue;
      }
      const transient = res.status === 429 || (res.status >= 500 && (!isCommit || res.status === 503));
      if (!transient || attempt >= policy.retries) return res;
      await res.body?.cancel().catch(() => {});
      await sleep(Math.min(policy.maxDelayMs, Math.max(retryAfterMs(res.headers.get('retry-after')) ?? 0, policy.baseDelayMs * 2 ** attempt)), signal);
    }
  };
}

type Who = Awaited<ReturnType<typeof whoAmI>>;

interface Session {
  repo: string;
  token: string;
  hub: string;
  credentials: { accessToken: string; hubUrl: string; fetch: typeof fetch };
  fail: (message: string, file?: string) => never;
  /** A library / network error → a message naming the repo, the step and the files in flight. */
  explain: (e: unknown, step: string) => never;
  inFlight: Set<string>;
}

function session(req: Omit<PublishRequest, 'files'>, opts: PublishOptions): Session {
  const { signal } = opts;
  const repo = req.repo.trim();
  const token = req.token?.trim() ?? '';
  const fail = (message: string, file?: string): never => {
    throw new PublishError(redactToken(message, token), repo, file);
  };
  const idProblem = repoIdProblem(repo);
  if (idProblem) fail(`cannot publish: ${idProblem}`);
  const tProblem = tokenProblem(token);
  if (tProblem) fail(`cannot publish to ${repo}: ${tProblem}`);
  let hubUrl: URL | undefined;
  try {
    hubUrl = new URL(req.hubUrl ?? DEFAULT_HUB_URL);
  } catch {
    /* below */
  }
  if (!hubUrl || (hubUrl.protocol !== 'https:' && hubUrl.protocol !== 'http:')) return fail(`cannot publish to ${repo}: the Hub address "${req.hubUrl}" is not an http(s) URL`);
  const hub = hubUrl.href.replace(/\/+$/, '');
  const policy: RetryPolicy = { retries: 4, baseDelayMs: 500, maxDelayMs: 30_000, ...opts.retry };
  const f = hubFetch(hubUrl.origin, policy, opts.fetch ?? globalThis.fetch.bind(globalThis), signal);
  const inFlight = new Set<string>();
  const explain = (e: unknown, step: string): never => {
    if (e instanceof CancelledError || signal?.aborted) throw new CancelledError();
    const files = [...inFlight];
    const fileNote = files.length ? ` (uploading ${files.join(', ')})` : '';
    if (e instanceof NetworkFailure && step === 'committing')
      return fail(`publishing to ${repo}: the connection was lost while the Hub was committing (${e.message}); the commit may or may not have been made: look at ${hub}/${repo}/commits/main before publishing again`);
    if (e instanceof NetworkFailure)
      return fail(`publishing to ${repo} failed while ${step}${fileNote}: the network failed ${e.attempts} time${e.attempts === 1 ? '' : 's'} (${e.message}); nothing was committed`, files[0]);
    if (e instanceof HubApiError) {
      const st = e.statusCode;
      const why =
        st === 401
          ? `the Hub rejected the token (401 Unauthorized): check that it is valid and not expired`
          : st === 403
            ? `the token has no write access to ${repo} (403 Forbidden): it needs the "write" role, or rights in the "${repo.split('/')[0]}" organisation`
            : st === 404
              ? `the repository ${repo} was not found (404)`
              : `the Hub answered ${st}: ${e.message}`;
      return fail(`publishing to ${repo} failed while ${step}${fileNote}: ${why}; nothing was committed`, files[0]);
    }
    return fail(`publishing to ${repo} failed while ${step}${fileNote}: ${e instanceof Error ? e.message : String(e)}; nothing was committed`, files[0]);
  };
  return { repo, token, hub, credentials: { accessToken: token, hubUrl: hub, fetch: f }, fail, explain, inFlight };
}

async function checkAccess(s: Session): Promise<Who> {
  let who: Who;
  try {
    who = await whoAmI(s.credentials);
  } catch (e) {
    return s.explain(e, 'checking the token');
  }
  const role = who.auth?.accessToken?.role;
  if (role === 'read') s.fail(`cannot publish to ${s.repo}: the token "${who.auth.accessToken?.displayName ?? ''}" is read-only; create one with the "write" role`);
  const namespace = s.repo.split('/')[0];
  if (who.type === 'user' && namespace !== who.name && !(who.orgs ?? []).some((o) => o.name === namespace))
    s.fail(`cannot publish to ${s.repo}: the token belongs to "${who.name}", who is not a member of "${namespace}" (403: no rights to that namespace)`);
  return who;
}

/**
 * The checks publishToHub starts with, alone: the repo id, the token's form, and the Hub's word on
 * the token (401) and the namespace (403). The CLI runs them before a merge, so a bad token fails
 * in seconds rather than after the merge. Returns the token's user name.
 */
export async function checkPublishAccess(req: Omit<PublishRequest, 'files'>, opts: PublishOptions = {}): Promise<string> {
  return (await checkAccess(session(req, opts))).name;
}

/** Pushes `req.files` to `req.repo` as one commit. Throws PublishError (or CancelledError). */
export async function publishToHub(req: PublishRequest, opts: PublishOptions = {}): Promise<PublishResult> {
  const { signal } = opts;
  const s = session(req, opts);
  const { repo, hub, credentials, fail, explain, inFlight } = s;
  if (req.files.length === 0) fail(`cannot publish to ${repo}: there are no files to upload`);
  const seen = new Set<string>();
  for (const f of req.files) {
    if (!f.path || f.path.startsWith('/') || f.path.split('/').some((x) => x === '' || x === '.' || x === '..'))
      fail(`cannot publish to ${repo}: "${f.path}" is not a relative file path`, f.path);
    if (seen.has(f.path)) fail(`cannot publish to ${repo}: "${f.path}" is listed twice`, f.path);
    seen.add(f.path);
  }

  const bytesTotal = req.files.reduce((a, x) => a + x.content.size, 0);
  const sizes = new Map(req.files.map((x) => [x.path, x.content.size]));
  const progress: PublishProgress = { phase: 'checking', bytesTotal, bytesHashed: 0, bytesUploaded: 0, filesTotal: req.files.length };
  const report = (patch: Partial<PublishProgress>) => {
    Object.assign(progress, patch);
    opts.onProgress?.({ ...progress });
  };

  // 1. whose token is it?
  report({ phase: 'checking' });
  const who = await checkAccess(s);
  const namespace = repo.split('/')[0];

  // 2. the repository
  report({ phase: 'creating' });
  const visibility = req.private === false ? 'public' : 'private';
  let created = true;
  let url = `${hub}/${repo}`;
  try {
    const r = await createRepo({ ...credentials, repo: { type: 'model', name: repo }, visibility });
    if (r.repoUrl) url = r.repoUrl;
  } catch (e) {
    if (e instanceof HubApiError && e.statusCode === 409) created = false;
    else if (e instanceof HubApiError && e.statusCode === 403)
      fail(`cannot create ${repo}: the token's user "${who.name}" has no right to create repositories in "${namespace}" (403 Forbidden); nothing was published`);
    else explain(e, 'creating the repository');
  }

  // 3. one commit with every file
  const operations: CommitOperation[] = req.files.map((x) => ({ operation: 'addOrUpdate', path: x.path, content: x.content }));
  const hashed = new Map<string, number>();
  const uploaded = new Map<string, number>();
  const sum = (m: Map<string, number>) => [...m.entries()].reduce((a, [p, frac]) => a + frac * (sizes.get(p) ?? 0), 0);
  report({ phase: 'preparing' });
  let step = 'preparing the upload';
  let out: Awaited<ReturnType<typeof commitIter>> extends AsyncGenerator<unknown, infer R> ? R : never;
  try {
    const it = commitIter({
      ...credentials,
      repo: { type: 'model', name: repo },
      title: req.commitMessage?.trim() || `Upload merged model (${req.files.length} files)`,
      operations,
      useXet: false,
      abortSignal: signal,
    });
    for (;;) {
      const r = await it.next();
      if (r.done) {
        out = r.value;
        break;
      }
      const ev = r.value;
      if (ev.event === 'phase') {
        if (ev.phase === 'uploadingLargeFiles') {
          step = 'uploading the large files';
          report({ phase: 'hashing' });
        } else if (ev.phase === 'committing') {
          step = 'committing';
          inFlight.clear();
          // small files travel inside the commit request itself
          for (const x of req.files) if (!uploaded.has(x.path)) uploaded.set(x.path, 0);
          report({ phase: 'committing' });
        }
      } else if (ev.state === 'hashing') {
        hashed.set(ev.path, ev.progress);
        report({ phase: 'hashing', bytesHashed: sum(hashed), file: ev.path });
      } else if (ev.state === 'uploading') {
        if (ev.progress >= 1) inFlight.delete(ev.path);
        else if (progress.phase !== 'committing') inFlight.add(ev.path);
        uploaded.set(ev.path, ev.progress);
        report({ phase: progress.phase === 'committing' ? 'committing' : 'uploading', bytesUploaded: sum(uploaded), file: ev.path });
      } else if (ev.state === 'error') {
        fail(`publishing to ${repo} failed: the Hub refused ${ev.path}; nothing was committed`, ev.path);
      }
    }
  } catch (e) {
    if (e instanceof PublishError) throw e;
    return explain(e, step);
  }
  if (!out?.commit?.oid) fail(`publishing to ${repo}: the Hub's answer to the commit has no commit id`);
  report({ phase: 'done', bytesUploaded: bytesTotal, bytesHashed: sum(hashed), file: undefined });
  return { repo, url, created, ...(created ? { private: visibility === 'private' } : {}), commit: { oid: out!.commit.oid, url: out!.commit.url }, files: req.files.length, bytes: bytesTotal };
}

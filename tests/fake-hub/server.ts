// A fake Hugging Face Hub for tests and benchmarks: two HTTP servers on 127.0.0.1 (random ports).
//
//   hub origin  the API subset @huggingface/hub uses for reading (model info with sha and siblings,
//               tree listing with sizes / lfs and Link pagination, resolve with Range), gated and
//               private repos, the Hub's 4xx answers with X-Error-Code
//   cdn origin  LFS file contents: the hub's resolve answers 302 to a signed URL here, served with
//               Range — the token must never reach it (the request log records every
//               Authorization header so tests can check)
//
// Both send CORS headers (and answer preflights) so a page on another origin reads them. Faults can
// be injected (429 + Retry-After, 5xx, a connection cut mid-body, a reset before any answer) and
// the link throttled (shared bandwidth + per-request latency) for benchmarks.
//
// Writes (the publishing side) plug in through `extraHandlers` (tried first, in order) and the
// exposed `store`; tests/fake-hub/write.ts adds them. Node only; never contacts anything.
import { createHash, createHmac, randomBytes } from 'node:crypto';
import { readdir, readFile, stat } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join, relative } from 'node:path';

// ---- repositories ------------------------------------------------------------------------------

export interface RepoCommit {
  sha: string;
  parent?: string;
  files: Map<string, Uint8Array>;
  message: string;
  date: string;
}

export interface FakeRepo {
  /** "org/name" (or "name"). */
  id: string;
  /** The repo type: only models are read by the studio, datasets are kept for completeness. */
  type: 'model' | 'dataset';
  /** Reading needs a token from FakeHub.tokens: 401 GatedRepo without one. */
  gated: boolean;
  /** Invisible without a token: 401 RepoNotFound (the Hub does not say a private repo exists). */
  private: boolean;
  commits: Map<string, RepoCommit>;
  /** branch / tag → commit sha */
  refs: Map<string, string>;
}

export interface RepoOptions {
  gated?: boolean;
  private?: boolean;
  branch?: string;
  message?: string;
}

// A file's hashes are computed once per stored byte array (committed bytes are never changed in
// place): the real Hub does not hash a file per request, and hashing a 0.4 GB file on every tree
// listing and resolve would put seconds of the fake server's CPU into bench:hub's timings.
const blobOids = new WeakMap<Uint8Array, string>();
const sha256s = new WeakMap<Uint8Array, string>();

function gitBlobOid(bytes: Uint8Array): string {
  let h = blobOids.get(bytes);
  if (h === undefined) blobOids.set(bytes, (h = createHash('sha1').update(`blob ${bytes.length}\0`).update(bytes).digest('hex')));
  return h;
}

function sha256Hex(bytes: Uint8Array): string {
  let h = sha256s.get(bytes);
  if (h === undefined) sha256s.set(bytes, (h = createHash('sha256').update(bytes).digest('hex')));
  return h;
}

/** The repositories a fake Hub serves. Mutable: commits move branches (tests of pinning do that). */
export class RepoStore {
  readonly repos = new Map<string, FakeRepo>();
  /** LFS objects by sha256, served by the CDN origin. */
  readonly lfsObjects = new Map<string, Uint8Array>();
  private counter = 0;

  constructor(readonly isLfs: (path: string, size: number) => boolean = (p, n) => p.endsWith('.safetensors') || n >= 10 * 1024 * 1024) {}

  get(id: string): FakeRepo | undefined {
    return this.repos.get(id);
  }

  /** Creates an empty repo (no commit yet). */
  create(id: string, o: RepoOptions & { type?: 'model' | 'dataset' } = {}): FakeRepo {
    if (this.repos.has(id)) throw new Error(`fake hub: repo ${id} exists`);
    const repo: FakeRepo = { id, type: o.type ?? 'model', gated: !!o.gated, private: !!o.private, commits: new Map(), refs: new Map() };
    this.repos.set(id, repo);
    return repo;
  }

  /**
   * Commits files onto a branch (creating the repo if missing): `files` replaces or adds paths,
   * `deletes` removes them; other files carry over from the branch's head. Returns the commit sha.
   */
  commit(id: string, files: Record<string, Uint8Array | string> | Map<string, Uint8Array>, o: RepoOptions & { deletes?: string[] } = {}): string {
    const repo = this.repos.get(id) ?? this.create(id, o);
    if (o.gated !== undefined) repo.gated = o.gated;
    if (o.private !== undefined) repo.private = o.private;
    const branch = o.branch ?? 'main';
    const parentSha = repo.refs.get(branch);
    const next = new Map(parentSha ? repo.commits.get(parentSha)!.files : []);
    const entries = files instanceof Map ? [...files] : Object.entries(files);
    for (const [path, v] of entries) {
      const bytes = typeof v === 'string' ? new TextEncoder().encode(v) : v;
      next.set(path, bytes);
      if (this.isLfs(path, bytes.length)) this.lfsObjects.set(sha256Hex(bytes), bytes);
    }
    for (const d of o.deletes ?? []) next.delete(d);
    const h = createHash('sha1').update(`${id}\0${parentSha ?? ''}\0${++this.counter}\0`);
    for (const [p, b] of [...next].sort(([a], [b2]) => (a < b2 ? -1 : 1))) h.update(`${p}\0${gitBlobOid(b)}\0`);
    const sha = h.digest('hex');
    repo.commits.set(sha, { sha, parent: parentSha, files: next, message: o.message ?? 'commit', date: new Date().toISOString() });
    repo.refs.set(branch, sha);
    return sha;
  }

  /** Commits every regular file of a local folder (recursively) as one commit. */
  async commitFolder(id: string, dir: string, o: RepoOptions & { filter?: (path: string) => boolean } = {}): Promise<string> {
    const files = new Map<string, Uint8Array>();
    const walk = async (d: string) => {
      for (const e of await readdir(d, { withFileTypes: true })) {
        const abs = join(d, e.name);
        if (e.isDirectory()) await walk(abs);
        else if ((await stat(abs)).isFile()) {
          const rel = relative(dir, abs).split('\\').join('/');
          if (!o.filter || o.filter(rel)) files.set(rel, new Uint8Array(await readFile(abs)));
        }
      }
    };
    await walk(dir);
    return this.commit(id, files, o);
  }

  /** A branch, tag or full/abbreviated (≥ 7 hex) commit sha → the commit, or undefined. */
  resolve(repo: FakeRepo, rev: string): RepoCommit | undefined {
    const byRef = repo.refs.get(rev === 'HEAD' ? 'main' : rev);
    if (byRef) return repo.commits.get(byRef);
    if (/^[0-9a-f]{7,40}$/.test(rev)) {
      const hits = [...repo.commits.keys()].filter((s) => s.startsWith(rev));
      if (hits.length === 1) return repo.commits.get(hits[0]);
    }
    return undefined;
  }
}

// ---- faults, throttling, the request log -------------------------------------------------------

export type Origin = 'hub' | 'cdn';

export interface Fault {
  /** Which origin (default either). */
  origin?: Origin;
  /** Applies to requests whose path contains this string (default: any request). */
  path?: string;
  /** Only GET requests with a Range header (data reads), not metadata or size probes. */
  rangeOnly?: boolean;
  /**
   * status: answer this status (429 adds Retry-After); cut: send the headers and `afterBytes` of the
   * body, then destroy the socket; reset: destroy the socket before answering.
   */
  kind: 'status' | 'cut' | 'reset';
  status?: number;
  /** Retry-After seconds for 429 / 503. */
  retryAfter?: number;
  afterBytes?: number;
  /** How many matching requests it hits (default 1; Infinity: until cleared). */
  times?: number;
}

export interface Throttle {
  /** Bytes per second shared by every response body on both origins (one link). */
  bytesPerSecond: number;
  /** Added before every response's headers (one round trip). */
  latencyMs: number;
}

export interface LoggedRequest {
  origin: Origin;
  method: string;
  /** Path and query as requested. */
  url: string;
  range?: string;
  authorization?: string;
  status: number;
  /** Body bytes sent (complete or not). */
  bytesSent: number;
  /** performance.now() when the request arrived, and when its answer ended (complete, cut or closed). */
  at: number;
  endedAt?: number;
  /** A fault that hit this request. */
  fault?: Fault['kind'];
}

export type ExtraHandler = (req: IncomingMessage, res: ServerResponse, url: URL) => Promise<boolean>;

export interface FakeHubOptions {
  store?: RepoStore;
  /** Tokens that may read gated / private repos (and that write handlers may accept). */
  tokens?: string[];
  /** Tried before the read routes on the hub origin; return true when the request was answered. */
  extraHandlers?: ExtraHandler[];
  throttle?: Throttle;
  /** Entries per page of the tree listing (Link: rel="next" beyond). Default 1000. */
  treePageSize?: number;
}

export interface FakeHub {
  /** The hub origin, e.g. http://127.0.0.1:41234 (HF_ENDPOINT / hubUrl). */
  url: string;
  /** The CDN origin LFS downloads are redirected to. */
  cdnUrl: string;
  store: RepoStore;
  tokens: Set<string>;
  log: LoggedRequest[];
  faults: Fault[];
  throttle: Throttle | undefined;
  extraHandlers: ExtraHandler[];
  /** Body bytes sent for requests matching `pred` (both origins). */
  bytesSent(pred?: (r: LoggedRequest) => boolean): number;
  close(): Promise<void>;
}

// ---- helpers shared with write handlers ------------------------------------------------------

const EXPOSED =
  'Content-Range, Content-Length, Accept-Ranges, ETag, X-Repo-Commit, X-Error-Code, X-Error-Message, X-Linked-Size, X-Linked-ETag, Retry-After, Link, Location';

/** CORS headers for a response to `req` (credentials are not used: the token is a header). */
/** Deterministic pseudo-random file contents for the Hub tests (xorshift32). */
export function bytes(n: number, seed: number): Uint8Array {
  const b = new Uint8Array(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    b[i] = x & 0xff;
  }
  return b;
}

export function corsHeaders(req: IncomingMessage): Record<string, string> {
  return {
    'Access-Control-Allow-Origin': req.headers.origin ?? '*',
    'Access-Control-Expose-Headers': EXPOSED,
    'Cross-Origin-Resource-Policy': 'cross-origin',
    Vary: 'Origin',
  };
}

/** Answers a CORS preflight. */
export function answerPreflight(req: IncomingMessage, res: ServerResponse): void {
  res.writeHead(204, {
    ...corsHeaders(req),
    'Access-Control-Allow-Methods': 'GET, HEAD, POST, PUT, DELETE, OPTIONS',
    'Access-Control-Allow-Headers': req.headers['access-control-request-headers'] ?? 'authorization, range, content-type, accept',
    'Access-Control-Max-Age': '600',
  });
  res.end();
}

/** A JSON answer with CORS headers. */
export function sendJson(req: IncomingMessage, res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { ...corsHeaders(req), 'Content-Type': 'application/json', 'Content-Length': String(Buffer.byteLength(text)), ...headers });
  res.end(text);
}

/** The Hub's error shape: status, X-Error-Code, X-Error-Message and {"error": message}. */
export function sendHubError(req: IncomingMessage, res: ServerResponse, status: number, code: string | undefined, message: string, headers: Record<string, string> = {}): void {
  sendJson(req, res, status, { error: message }, { ...(code ? { 'X-Error-Code': code } : {}), 'X-Error-Message': message, ...headers });
}

/** The bearer token of a request, if any. */
export function bearerOf(req: IncomingMessage): string | undefined {
  const h = req.headers.authorization;
  const m = h ? /^Bearer\s+(\S+)$/i.exec(h) : null;
  return m ? m[1] : undefined;
}

function parseRange(header: string | undefined, size: number): { start: number; end: number } | undefined | null {
  if (header === undefined) return undefined;
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m || (m[1] === '' && m[2] === '')) return null;
  if (m[1] === '') {
    const n = Number(m[2]);
    if (n === 0 || size === 0) return null;
    return { start: Math.max(0, size - n), end: size - 1 };
  }
  const start = Number(m[1]);
  const end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
  if (start >= size || end < start) return null;
  return { start, end };
}

const sleep = (ms: number) => new Promise<void>((ok) => setTimeout(ok, ms));

// ---- the servers -----------------------------------------------------------------------------

export async function startFakeHub(o: FakeHubOptions = {}): Promise<FakeHub> {
  const store = o.store ?? new RepoStore();
  const secret = randomBytes(16);
  const log: LoggedRequest[] = [];
  const faults: Fault[] = [];
  const extraHandlers = [...(o.extraHandlers ?? [])];
  const pageSize = o.treePageSize ?? 1000;
  const state = { throttle: o.throttle, linkFreeAt: 0 };
  const tokens = new Set(o.tokens ?? []);
  let hubOrigin = '';
  let cdnOrigin = '';

  const takeFault = (origin: Origin, req: IncomingMessage, path: string): Fault | undefined => {
    const i = faults.findIndex(
      (f) =>
        (f.origin === undefined || f.origin === origin) &&
        (f.path === undefined || path.includes(f.path)) &&
        (!f.rangeOnly || (req.method === 'GET' && req.headers.range !== undefined && req.headers.range !== 'bytes=0-0')),
    );
    if (i < 0) return undefined;
    const f = faults[i];
    const left = (f.times ?? 1) - 1;
    if (left <= 0) faults.splice(i, 1);
    else faults[i] = { ...f, times: left };
    return f;
  };

  /** Sends a body through the throttled link (a shared bandwidth: pieces are scheduled one after another). */
  const sendBody = async (res: ServerResponse, bytes: Uint8Array, entry: LoggedRequest, cutAfter?: number): Promise<void> => {
    const limit = cutAfter === undefined ? bytes.length : Math.min(cutAfter, bytes.length);
    const piece = 64 * 1024;
    for (let at = 0; at < limit; ) {
      const n = Math.min(piece, limit - at);
      const t = state.throttle;
      if (t && t.bytesPerSecond > 0) {
        const now = performance.now();
        const start = Math.max(now, state.linkFreeAt);
        state.linkFreeAt = start + (n / t.bytesPerSecond) * 1000;
        const wait = state.linkFreeAt - now;
        if (wait > 1) await sleep(wait);
      }
      if (res.destroyed) return;
      const ok = res.write(bytes.subarray(at, at + n));
      at += n;
      entry.bytesSent += n;
      if (!ok)
        await new Promise<void>((done) => {
          const finish = () => {
            res.off('drain', finish);
            res.off('close', finish);
            done();
          };
          res.on('drain', finish);
          res.on('close', finish);
        });
    }
    if (cutAfter !== undefined) {
      // Let what was written leave, then cut the connection mid-body.
      await sleep(5);
      res.socket?.destroy();
      res.destroy();
      return;
    }
    res.end();
  };

  /** Common front: log, latency, faults. Returns the log entry, or undefined when a fault answered. */
  const front = async (origin: Origin, req: IncomingMessage, res: ServerResponse, url: URL): Promise<LoggedRequest | undefined> => {
    const entry: LoggedRequest = {
      origin,
      method: req.method ?? 'GET',
      url: url.pathname + url.search,
      ...(req.headers.range ? { range: req.headers.range } : {}),
      ...(req.headers.authorization ? { authorization: req.headers.authorization } : {}),
      status: 0,
      bytesSent: 0,
      at: performance.now(),
    };
    log.push(entry);
    res.on('close', () => (entry.endedAt = performance.now()));
    const origWriteHead = res.writeHead.bind(res) as (...a: unknown[]) => ServerResponse;
    (res as unknown as { writeHead: (...a: unknown[]) => ServerResponse }).writeHead = (...a: unknown[]) => {
      entry.status = a[0] as number;
      return origWriteHead(...a);
    };
    if (req.method === 'OPTIONS') {
      answerPreflight(req, res);
      return undefined;
    }
    if (state.throttle && state.throttle.latencyMs > 0) await sleep(state.throttle.latencyMs);
    const f = takeFault(origin, req, url.pathname);
    if (!f) return entry;
    entry.fault = f.kind;
    if (f.kind === 'reset') {
      req.socket.destroy();
      return undefined;
    }
    if (f.kind === 'status') {
      const status = f.status ?? 500;
      const headers: Record<string, string> = {};
      if (f.retryAfter !== undefined || status === 429) headers['Retry-After'] = String(f.retryAfter ?? 1);
      req.resume();
      sendHubError(req, res, status, undefined, status === 429 ? 'Too many requests (fake hub fault)' : `Server error (fake hub fault ${status})`, headers);
      return undefined;
    }
    // cut: answer normally, but stop after afterBytes of the body
    (entry as LoggedRequest & { cut?: Fault }).cut = f;
    return entry;
  };

  /** Serves bytes with Range support (206 + Content-Range, 416 when unsatisfiable). */
  const serveBytes = async (req: IncomingMessage, res: ServerResponse, entry: LoggedRequest, bytes: Uint8Array, headers: Record<string, string>) => {
    const range = parseRange(req.headers.range, bytes.length);
    const base = { ...corsHeaders(req), 'Accept-Ranges': 'bytes', 'Content-Type': 'application/octet-stream', ...headers };
    if (range === null) {
      res.writeHead(416, { ...base, 'Content-Range': `bytes */${bytes.length}` });
      res.end();
      return;
    }
    const start = range?.start ?? 0;
    const end = range?.end ?? bytes.length - 1;
    const body = bytes.subarray(start, end + 1);
    res.writeHead(range ? 206 : 200, {
      ...base,
      'Content-Length': String(body.length),
      ...(range ? { 'Content-Range': `bytes ${start}-${end}/${bytes.length}` } : {}),
    });
    if (req.method === 'HEAD') return void res.end();
    const cut = (entry as LoggedRequest & { cut?: Fault }).cut;
    if (cut && body.length <= (cut.afterBytes ?? 0)) {
      // too short to be cut: the fault waits for a longer body
      delete entry.fault;
      faults.unshift({ ...cut, times: 1 });
      return sendBody(res, body, entry);
    }
    await sendBody(res, body, entry, cut ? (cut.afterBytes ?? 0) : undefined);
  };

  const sign = (oid: string, expires: number) => createHmac('sha256', secret).update(`${oid}:${expires}`).digest('hex').slice(0, 32);

  /** Access check for reads: undefined when allowed, else the error was sent. */
  const denied = (req: IncomingMessage, res: ServerResponse, repo: FakeRepo | undefined, id: string): boolean => {
    const token = bearerOf(req);
    const known = token !== undefined && tokens.has(token);
    if (!repo || (repo.private && !known)) {
      sendHubError(
        req,
        res,
        repo || token === undefined ? 401 : 404,
        'RepoNotFound',
        `Repository Not Found for url: ${req.url}. Please make sure you specified the correct \`repo_id\` and \`repo_type\`. If you are trying to access a private or gated repo, make sure you are authenticated.`,
      );
      return true;
    }
    if (repo.gated && !known) {
      if (token === undefined)
        sendHubError(req, res, 401, 'GatedRepo', `Access to model ${id} is restricted. You must have access to it and be authenticated to access it. Please log in.`);
      else sendHubError(req, res, 403, 'GatedRepo', `Access to model ${id} is restricted and you are not in the authorized list. Visit https://huggingface.co/${id} to ask for access.`);
      return true;
    }
    return false;
  };

  /** Splits "org/name/<marker>/rest" for the two repo-id shapes ("org/name" and "name"). */
  const splitRepo = (rest: string, marker: string): { id: string; tail: string } | undefined => {
    const parts = rest.split('/');
    const i = parts.indexOf(marker);
    if (i < 1 || i > 2) return undefined;
    return { id: parts.slice(0, i).map(decodeURIComponent).join('/'), tail: parts.slice(i + 1).join('/') };
  };

  const treeEntries = (store: RepoStore, files: Map<string, Uint8Array>, dir: string, recursive: boolean) => {
    const prefix = dir ? `${dir}/` : '';
    const out: object[] = [];
    const dirs = new Set<string>();
    for (const [path, bytes] of [...files].sort(([a], [b]) => (a < b ? -1 : 1))) {
      if (!path.startsWith(prefix)) continue;
      const rest = path.slice(prefix.length);
      if (!recursive && rest.includes('/')) {
        const d = prefix + rest.slice(0, rest.indexOf('/'));
        if (!dirs.has(d)) {
          dirs.add(d);
          out.push({ type: 'directory', oid: createHash('sha1').update(d).digest('hex'), size: 0, path: d });
        }
        continue;
      }
      const lfs = store.isLfs(path, bytes.length);
      const pointer = lfs ? `version https://git-lfs.github.com/spec/v1\noid sha256:${sha256Hex(bytes)}\nsize ${bytes.length}\n` : '';
      out.push({
        type: 'file',
        oid: lfs ? gitBlobOid(new TextEncoder().encode(pointer)) : gitBlobOid(bytes),
        size: bytes.length,
        path,
        ...(lfs ? { lfs: { oid: sha256Hex(bytes), size: bytes.length, pointerSize: pointer.length } } : {}),
      });
    }
    return out;
  };

  const hubHandler = async (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', hubOrigin);
    const entry = await front('hub', req, res, url);
    if (!entry) return;
    for (const h of extraHandlers) if (await h(req, res, url)) return;
    const p = url.pathname;
    if (req.method !== 'GET' && req.method !== 'HEAD') return sendHubError(req, res, 405, undefined, `${req.method} ${p} is not served by the fake hub`);

    // model info: /api/models/{id}/revision/{rev}  (rev URL-encoded)
    if (p.startsWith('/api/models/') || p.startsWith('/api/datasets/')) {
      const rest = p.slice(p.indexOf('/', 5) + 1);
      const info = splitRepo(rest, 'revision');
      const tree = info ? undefined : splitRepo(rest, 'tree');
      const plain = info || tree ? undefined : { id: rest.split('/').map(decodeURIComponent).join('/'), tail: 'HEAD' };
      const at = info ?? tree ?? plain!;
      const repo = store.get(at.id);
      if (denied(req, res, repo, at.id)) return;
      if (tree) {
        const slash = tree.tail.indexOf('/');
        const rev = decodeURIComponent(slash < 0 ? tree.tail : tree.tail.slice(0, slash));
        const dir = slash < 0 ? '' : decodeURIComponent(tree.tail.slice(slash + 1));
        const commit = store.resolve(repo!, rev);
        if (!commit) return sendHubError(req, res, 404, 'RevisionNotFound', `Invalid rev id: ${rev}`);
        const all = treeEntries(store, commit.files, dir, url.searchParams.get('recursive') === 'true');
        if (dir && all.length === 0) return sendHubError(req, res, 404, 'EntryNotFound', `${dir} does not exist on "${rev}"`);
        const cursor = Number(url.searchParams.get('cursor') ?? '0');
        const page = all.slice(cursor, cursor + pageSize);
        const headers: Record<string, string> = {};
        if (cursor + pageSize < all.length) {
          const next = new URL(url);
          next.searchParams.set('cursor', String(cursor + pageSize));
          headers.Link = `<${next.href}>; rel="next"`;
        }
        return sendJson(req, res, 200, page, headers);
      }
      const rev = decodeURIComponent(at.tail);
      const commit = store.resolve(repo!, rev);
      if (!commit) return sendHubError(req, res, 404, 'RevisionNotFound', `Invalid rev id: ${rev}`);
      return sendJson(req, res, 200, {
        _id: createHash('sha1').update(repo!.id).digest('hex').slice(0, 24),
        id: repo!.id,
        modelId: repo!.id,
        sha: commit.sha,
        private: repo!.private,
        gated: repo!.gated ? 'manual' : false,
        disabled: false,
        downloads: 0,
        likes: 0,
        tags: [],
        library_name: 'transformers',
        lastModified: commit.date,
        createdAt: commit.date,
        siblings: [...commit.files.keys()].sort().map((rfilename) => ({ rfilename })),
      });
    }

    // resolve: /{id}/resolve/{rev}/{path}
    const r = splitRepo(p.slice(1), 'resolve');
    if (r) {
      const repo = store.get(r.id);
      if (denied(req, res, repo, r.id)) return;
      const slash = r.tail.indexOf('/');
      if (slash < 0) return sendHubError(req, res, 404, 'EntryNotFound', `no file named in ${p}`);
      const rev = decodeURIComponent(r.tail.slice(0, slash));
      const path = r.tail
        .slice(slash + 1)
        .split('/')
        .map(decodeURIComponent)
        .join('/');
      const commit = store.resolve(repo!, rev);
      if (!commit) return sendHubError(req, res, 404, 'RevisionNotFound', `Invalid rev id: ${rev}`);
      const bytes = commit.files.get(path);
      if (!bytes) return sendHubError(req, res, 404, 'EntryNotFound', `${path} does not exist on "${rev}"`);
      const commitHeaders = { 'X-Repo-Commit': commit.sha };
      if (store.isLfs(path, bytes.length)) {
        const oid = sha256Hex(bytes);
        const expires = Math.floor(Date.now() / 1000) + 3600;
        const location = `${cdnOrigin}/lfs/${oid}?expires=${expires}&sig=${sign(oid, expires)}`;
        res.writeHead(302, {
          ...corsHeaders(req),
          ...commitHeaders,
          Location: location,
          'X-Linked-Size': String(bytes.length),
          'X-Linked-ETag': `"${oid}"`,
          ETag: `"${gitBlobOid(bytes)}"`,
          'Content-Length': '0',
        });
        return void res.end();
      }
      return serveBytes(req, res, entry, bytes, { ...commitHeaders, ETag: `"${gitBlobOid(bytes)}"` });
    }
    sendHubError(req, res, 404, undefined, `fake hub: no route for ${p}`);
  };

  const cdnHandler = async (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', cdnOrigin);
    const entry = await front('cdn', req, res, url);
    if (!entry) return;
    const m = /^\/lfs\/([0-9a-f]{64})$/.exec(url.pathname);
    const bytes = m ? store.lfsObjects.get(m[1]) : undefined;
    if (!m || !bytes) return sendHubError(req, res, 404, undefined, 'NoSuchKey');
    const expires = Number(url.searchParams.get('expires'));
    if (url.searchParams.get('sig') !== sign(m[1], expires) || expires * 1000 < Date.now())
      return sendHubError(req, res, 403, undefined, 'Request has expired or the signature does not match');
    return serveBytes(req, res, entry, bytes, { ETag: `"${m[1]}"` });
  };

  const wrap = (h: (req: IncomingMessage, res: ServerResponse) => Promise<void>) => (req: IncomingMessage, res: ServerResponse) => {
    h(req, res).catch((e: unknown) => {
      if (!res.headersSent) sendHubError(req, res, 500, undefined, `fake hub: ${e instanceof Error ? e.message : String(e)}`);
      else res.destroy();
    });
  };
  const hub: Server = createServer(wrap(hubHandler));
  const cdn: Server = createServer(wrap(cdnHandler));
  const listen = (s: Server) =>
    new Promise<number>((ok, fail) => {
      s.once('error', fail);
      s.listen(0, '127.0.0.1', () => ok((s.address() as AddressInfo).port));
    });
  hubOrigin = `http://127.0.0.1:${await listen(hub)}`;
  cdnOrigin = `http://127.0.0.1:${await listen(cdn)}`;

  return {
    url: hubOrigin,
    cdnUrl: cdnOrigin,
    store,
    tokens,
    log,
    faults,
    extraHandlers,
    get throttle() {
      return state.throttle;
    },
    set throttle(t: Throttle | undefined) {
      state.throttle = t;
      state.linkFreeAt = 0;
    },
    bytesSent: (pred) => log.filter((r) => !pred || pred(r)).reduce((n, r) => n + r.bytesSent, 0),
    async close() {
      for (const s of [hub, cdn]) {
        s.closeAllConnections();
        await new Promise<void>((ok) => s.close(() => ok()));
      }
    },
  };
}

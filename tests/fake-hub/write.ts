// The fake Hub's WRITE API: the routes @huggingface/hub calls to publish a model (whoami-v2, repo
// creation, preupload, the LFS batch, LFS object uploads, the ndjson commit), over a repo store
// that the read side can serve from. Tests only; never the real Hub.
//
// createWriteHandler(store, opts) returns `(req, res, url) => Promise<boolean>`: true when it
// answered the request, false when the route is not one of its own (so a server can chain it with
// other handlers, e.g. the read API's `extraHandlers`). startWriteHub() wraps it in a tiny server
// for tests that need only the write side, plus a second server standing in for LFS storage on
// another origin (uploads go there by pre-signed URL, never with the token).
//
// Behaviour follows the Hub's: 401 without / with an unknown token, 403 for a namespace the token's
// user cannot write (or a read token), 404 for an unknown repo, 409 when a repo exists; creation
// makes an initial commit holding .gitattributes; a commit is applied whole or not at all (an LFS
// file whose object was never uploaded fails it with 422); files that the Hub would store in LFS
// (*.safetensors and other binary patterns, large or non-text files) are answered "lfs" by preupload.
import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface FakeUser {
  name: string;
  orgs: string[];
  role: 'read' | 'write';
}

export interface FakeCommit {
  oid: string;
  title: string;
  description?: string;
  /** The whole tree after this commit. */
  files: Map<string, Uint8Array>;
  /** Paths stored as LFS pointers in this tree. */
  lfs: Set<string>;
}

export interface FakeRepo {
  id: string;
  private: boolean;
  /** Oldest first; the last one is the head of "main". */
  commits: FakeCommit[];
}

export interface FakeHubStore {
  repos: Map<string, FakeRepo>;
  /** Token → user. */
  tokens: Map<string, FakeUser>;
  /** LFS objects by sha256. */
  lfs: Map<string, Uint8Array>;
}

export interface RequestLog {
  method: string;
  path: string;
  /** The origin the request reached ("http://127.0.0.1:1234"). */
  origin: string;
  authorization?: string;
}

export interface WriteHandlerOptions {
  /** Where LFS uploads go (pre-signed URLs); default the origin of the request itself. */
  lfsBaseUrl?: () => string;
  /** Every request this handler answered (tests check where the token went). */
  log?: RequestLog[];
  /** Fault injection: the next n LFS uploads have their connection cut after some bytes. */
  cutUploads?: { remaining: number };
  /** Fault injection: answer the next n whoami requests with 503. */
  failWhoami?: { remaining: number };
  /**
   * LFS objects larger than this many bytes are uploaded in parts of this size (the Hub's multipart
   * transfer: one PUT per part to its own pre-signed URL, then a completion POST); default never.
   */
  multipartChunk?: number;
  /** Fault injection: the next n commit requests are answered 503 (not applied). */
  busyCommits?: { remaining: number };
  /** Fault injection: the next n commit requests lose their connection before any answer (not applied). */
  cutCommits?: { remaining: number };
  /** Fault injection: hold every LFS upload open (a test interrupts the client meanwhile). */
  stallUploads?: boolean;
}

export function emptyStore(): FakeHubStore {
  return { repos: new Map(), tokens: new Map(), lfs: new Map() };
}

export type Handler = (req: IncomingMessage, res: ServerResponse, url: URL) => Promise<boolean>;

const GITATTRIBUTES = '*.safetensors filter=lfs diff=lfs merge=lfs -text\n*.bin filter=lfs diff=lfs merge=lfs -text\n*.model filter=lfs diff=lfs merge=lfs -text\n';
const LFS_PATTERNS = [/\.safetensors$/, /\.bin$/, /\.model$/, /\.pt$/, /\.onnx$/, /\.gguf$/];

function json(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) {
  res.writeHead(status, { 'Content-Type': 'application/json', ...headers });
  res.end(JSON.stringify(body));
}

function error(res: ServerResponse, status: number, message: string, code?: string) {
  json(res, status, { error: message }, code ? { 'X-Error-Code': code } : {});
}

async function body(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
const commitId = (parent: string, payload: string) => createHash('sha1').update(parent + '\n' + payload + '\n' + Math.random()).digest('hex');

function isLfs(path: string, size: number, sample: Buffer): boolean {
  if (LFS_PATTERNS.some((re) => re.test(path))) return true;
  if (size >= 10 * 1024 * 1024) return true;
  return sample.includes(0);
}

export function createWriteHandler(store: FakeHubStore, opts: WriteHandlerOptions = {}): Handler {
  /** Multipart uploads in progress: oid → part number → bytes. */
  const partsOf = new Map<string, Map<number, Buffer>>();
  const userOf = (req: IncomingMessage): FakeUser | undefined => {
    const m = /^Bearer (.+)$/.exec(req.headers.authorization ?? '');
    return m ? store.tokens.get(m[1]) : undefined;
  };
  const canWrite = (u: FakeUser, namespace: string) => u.role === 'write' && (u.name === namespace || u.orgs.includes(namespace));
  /** The repo of a write route, after the auth checks; undefined when an answer was sent. */
  const writable = (req: IncomingMessage, res: ServerResponse, id: string): FakeRepo | undefined => {
    const u = userOf(req);
    const repo = store.repos.get(id);
    if (!u) {
      error(res, 401, 'Invalid credentials in Authorization header');
      return undefined;
    }
    if (!repo || (repo.private && !(u.name === id.split('/')[0] || u.orgs.includes(id.split('/')[0])))) {
      error(res, 404, `Repository not found: ${id}`, 'RepoNotFound');
      return undefined;
    }
    if (!canWrite(u, id.split('/')[0])) {
      error(res, 403, `You don't have the rights to write to ${id}`);
      return undefined;
    }
    return repo;
  };

  return async (req, res, url) => {
    const method = req.method ?? 'GET';
    const path = decodeURIComponent(url.pathname);
    const origin = `http://${req.headers.host}`;
    const log = () => opts.log?.push({ method, path: url.pathname, origin, ...(req.headers.authorization ? { authorization: req.headers.authorization } : {}) });

    if (method === 'GET' && path === '/api/whoami-v2') {
      log();
      if (opts.failWhoami && opts.failWhoami.remaining > 0) {
        opts.failWhoami.remaining--;
        error(res, 503, 'Service temporarily unavailable');
        return true;
      }
      const u = userOf(req);
      if (!u) return error(res, 401, 'Invalid credentials in Authorization header'), true;
      json(res, 200, {
        type: 'user',
        id: `id-${u.name}`,
        name: u.name,
        fullname: u.name,
        email: `${u.name}@example.invalid`,
        emailVerified: true,
        isPro: false,
        canPay: false,
        avatarUrl: '',
        periodEnd: null,
        billingMode: 'prepaid',
        orgs: u.orgs.map((o) => ({ type: 'org', id: `id-${o}`, name: o, fullname: o, email: null, canPay: false, avatarUrl: '', periodEnd: null })),
        auth: { type: 'access_token', accessToken: { displayName: 'test token', role: u.role, createdAt: '2026-01-01T00:00:00.000Z' } },
      });
      return true;
    }

    if (method === 'POST' && path === '/api/repos/create') {
      log();
      const u = userOf(req);
      const b = JSON.parse((await body(req)).toString('utf8')) as { name: string; organization?: string; visibility?: string; private?: boolean; type?: string };
      if (!u) return error(res, 401, 'Invalid credentials in Authorization header'), true;
      const ns = b.organization ?? u.name;
      const id = `${ns}/${b.name}`;
      if (b.type && b.type !== 'model') return error(res, 400, `this fake Hub only holds models, not ${b.type}`), true;
      if (!canWrite(u, ns)) return error(res, 403, `You don't have the rights to create a model under the namespace "${ns}"`), true;
      if (store.repos.has(id)) return error(res, 409, 'You already created this model repo', 'RepoExists'), true;
      const isPrivate = b.visibility ? b.visibility !== 'public' : !!b.private;
      const files = new Map([['.gitattributes', new TextEncoder().encode(GITATTRIBUTES)]]);
      store.repos.set(id, { id, private: isPrivate, commits: [{ oid: commitId('', id), title: 'initial commit', files, lfs: new Set() }] });
      json(res, 200, { url: `${origin}/${id}`, name: id, id: `repo-${id}` });
      return true;
    }

    let m = /^\/api\/models\/([^/]+\/[^/]+)\/preupload\/([^/]+)$/.exec(path);
    if (method === 'POST' && m) {
      log();
      const repo = writable(req, res, m[1]);
      if (!repo) return true;
      const b = JSON.parse((await body(req)).toString('utf8')) as { files: { path: string; size: number; sample: string }[] };
      json(res, 200, { files: b.files.map((f) => ({ path: f.path, uploadMode: isLfs(f.path, f.size, Buffer.from(f.sample, 'base64')) ? 'lfs' : 'regular', shouldIgnore: false })) });
      return true;
    }

    m = /^\/([^/]+\/[^/]+)\.git\/info\/lfs\/objects\/batch$/.exec(path);
    if (method === 'POST' && m) {
      log();
      const repo = writable(req, res, m[1]);
      if (!repo) return true;
      const b = JSON.parse((await body(req)).toString('utf8')) as { operation: string; transfers?: string[]; objects: { oid: string; size: number }[] };
      if (b.operation !== 'upload') return error(res, 400, 'only uploads'), true;
      if (b.transfers && !b.transfers.includes('basic')) return error(res, 400, 'this fake Hub speaks only the basic LFS transfer'), true;
      const base = opts.lfsBaseUrl?.() ?? origin;
      const chunk = opts.multipartChunk;
      const upload = (o: { oid: string; size: number }) => {
        if (!chunk || o.size <= chunk) return { href: `${base}/lfs-storage/${o.oid}?size=${o.size}&signature=fake`, expires_in: 3600 };
        const header: Record<string, string> = { chunk_size: String(chunk) };
        for (let i = 1; i <= Math.ceil(o.size / chunk); i++) header[String(i).padStart(5, '0')] = `${base}/lfs-part/${o.oid}/${i}?signature=fake`;
        return { href: `${base}/lfs-complete/${o.oid}?size=${o.size}&signature=fake`, header, expires_in: 3600 };
      };
      res.writeHead(200, { 'Content-Type': 'application/vnd.git-lfs+json' });
      res.end(
        JSON.stringify({
          transfer: 'basic',
          objects: b.objects.map((o) => (store.lfs.has(o.oid) ? { oid: o.oid, size: o.size } : { oid: o.oid, size: o.size, authenticated: true, actions: { upload: upload(o) } })),
        }),
      );
      return true;
    }

    m = /^\/lfs-part\/([0-9a-f]{64})\/(\d+)$/.exec(path);
    if (method === 'PUT' && m) {
      log();
      if (opts.cutUploads && opts.cutUploads.remaining > 0) {
        opts.cutUploads.remaining--;
        await new Promise<void>((ok) => req.once('data', () => ok()));
        req.socket.destroy();
        return true;
      }
      const bytes = await body(req);
      const parts = partsOf.get(m[1]) ?? new Map<number, Buffer>();
      partsOf.set(m[1], parts);
      parts.set(Number(m[2]), bytes);
      res.writeHead(200, { ETag: `"${sha256(bytes).slice(0, 32)}"` });
      res.end();
      return true;
    }

    m = /^\/lfs-complete\/([0-9a-f]{64})$/.exec(path);
    if (method === 'POST' && m) {
      log();
      const oid = m[1];
      const b = JSON.parse((await body(req)).toString('utf8')) as { oid: string; parts: { partNumber: number; etag: string }[] };
      const parts = partsOf.get(oid);
      if (b.oid !== oid || !parts) return error(res, 400, `no parts were uploaded for ${oid}`), true;
      const chunks: Buffer[] = [];
      for (const p of b.parts) {
        const part = parts.get(p.partNumber);
        if (!part || p.etag !== `"${sha256(part).slice(0, 32)}"`) return error(res, 400, `part ${p.partNumber} of ${oid} is missing or its ETag is wrong`), true;
        chunks.push(part);
      }
      const whole = Buffer.concat(chunks);
      if (String(whole.byteLength) !== url.searchParams.get('size') || sha256(whole) !== oid) return error(res, 400, `the parts of ${oid} do not add up to the object`), true;
      store.lfs.set(oid, new Uint8Array(whole));
      partsOf.delete(oid);
      json(res, 200, { success: true });
      return true;
    }

    m = /^\/lfs-storage\/([0-9a-f]{64})$/.exec(path);
    if (method === 'PUT' && m) {
      log();
      const oid = m[1];
      if (opts.stallUploads) {
        req.on('data', () => {});
        return true; // never answered: the client is interrupted meanwhile
      }
      if (opts.cutUploads && opts.cutUploads.remaining > 0) {
        opts.cutUploads.remaining--;
        // read a little, then cut the connection mid-body
        await new Promise<void>((ok) => req.once('data', () => ok()));
        req.socket.destroy();
        return true;
      }
      const bytes = await body(req);
      if (String(bytes.byteLength) !== url.searchParams.get('size')) return error(res, 400, `size ${bytes.byteLength} ≠ ${url.searchParams.get('size')}`), true;
      if (sha256(bytes) !== oid) return error(res, 400, 'the uploaded bytes do not match their sha256'), true;
      store.lfs.set(oid, new Uint8Array(bytes));
      res.writeHead(200, { ETag: `"${oid.slice(0, 32)}"` });
      res.end();
      return true;
    }

    m = /^\/api\/models\/([^/]+\/[^/]+)\/commit\/([^/]+)$/.exec(path);
    if (method === 'POST' && m) {
      log();
      const repo = writable(req, res, m[1]);
      if (!repo) return true;
      if (m[2] !== 'main') return error(res, 404, `Revision not found: ${m[2]}`, 'RevisionNotFound'), true;
      const text = (await body(req)).toString('utf8');
      if (opts.busyCommits && opts.busyCommits.remaining > 0) {
        opts.busyCommits.remaining--;
        json(res, 503, { error: 'The Hub is busy, try again' }, { 'Retry-After': '0' });
        return true;
      }
      if (opts.cutCommits && opts.cutCommits.remaining > 0) {
        opts.cutCommits.remaining--;
        req.socket.destroy();
        return true;
      }
      const head = repo.commits[repo.commits.length - 1];
      const files = new Map(head.files);
      const lfs = new Set(head.lfs);
      let title = '';
      let description: string | undefined;
      for (const line of text.split('\n').filter(Boolean)) {
        const op = JSON.parse(line) as { key: string; value: Record<string, unknown> };
        const v = op.value;
        if (op.key === 'header') {
          title = String(v.summary ?? '');
          description = v.description ? String(v.description) : undefined;
          if (v.parentCommit && v.parentCommit !== head.oid) return error(res, 412, 'A commit has happened since. Please refresh and try again.'), true;
        } else if (op.key === 'file') {
          if (v.encoding !== 'base64') return error(res, 400, 'files must be base64'), true;
          files.set(String(v.path), new Uint8Array(Buffer.from(String(v.content), 'base64')));
          lfs.delete(String(v.path));
        } else if (op.key === 'lfsFile') {
          const obj = store.lfs.get(String(v.oid));
          if (!obj || obj.byteLength !== v.size) return error(res, 422, `LFS object ${String(v.oid)} for ${String(v.path)} was not uploaded`), true;
          files.set(String(v.path), obj);
          lfs.add(String(v.path));
        } else if (op.key === 'deletedFile') {
          files.delete(String(v.path));
          lfs.delete(String(v.path));
        } else return error(res, 400, `unknown commit operation ${op.key}`), true;
      }
      if (!title) return error(res, 400, 'a commit needs a summary'), true;
      const oid = commitId(head.oid, text);
      repo.commits.push({ oid, title, ...(description ? { description } : {}), files, lfs });
      json(res, 200, { success: true, commitOid: oid, commitUrl: `${origin}/${repo.id}/commit/${oid}`, hookOutput: '' });
      return true;
    }
    return false;
  };
}

export interface WriteHub {
  /** The Hub's origin, e.g. http://127.0.0.1:41234 (HF_ENDPOINT). */
  url: string;
  /** The LFS storage origin (another port: another origin). */
  storageUrl: string;
  store: FakeHubStore;
  log: RequestLog[];
  opts: WriteHandlerOptions;
  close(): Promise<void>;
}

/** CORS as the Hub sends it, so the studio (another origin) can publish: preflights answered. */
function cors(req: IncomingMessage, res: ServerResponse): boolean {
  res.setHeader('Access-Control-Allow-Origin', req.headers.origin ?? '*');
  res.setHeader('Access-Control-Expose-Headers', 'ETag, X-Request-Id, X-Error-Code, Retry-After');
  res.setHeader('Cross-Origin-Resource-Policy', 'cross-origin');
  if (req.method !== 'OPTIONS') return false;
  res.writeHead(204, {
    'Access-Control-Allow-Methods': 'GET, HEAD, POST, PUT, OPTIONS',
    'Access-Control-Allow-Headers': req.headers['access-control-request-headers'] ?? 'authorization, content-type',
    'Access-Control-Max-Age': '600',
  });
  res.end();
  return true;
}

function listen(handler: Handler): Promise<Server> {
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', `http://${req.headers.host}`);
    if (cors(req, res)) return;
    handler(req, res, url).then(
      (done) => {
        if (!done) error(res, 404, `no route for ${req.method} ${url.pathname}`);
      },
      (e) => {
        if (!res.headersSent) error(res, 500, String(e));
        else res.destroy();
      },
    );
  });
  return new Promise((ok) => server.listen(0, '127.0.0.1', () => ok(server)));
}

/** The write API on 127.0.0.1 (and LFS storage on a second port), for tests of publishing alone. */
export async function startWriteHub(store: FakeHubStore = emptyStore(), opts: WriteHandlerOptions = {}): Promise<WriteHub> {
  const log: RequestLog[] = opts.log ?? [];
  let storageUrl = '';
  const o: WriteHandlerOptions = { ...opts, log, lfsBaseUrl: () => storageUrl };
  const handler = createWriteHandler(store, o);
  const hub = await listen(handler);
  const storage = await listen(handler);
  storageUrl = `http://127.0.0.1:${(storage.address() as AddressInfo).port}`;
  const close = (s: Server) =>
    new Promise<void>((ok) => {
      s.closeAllConnections();
      s.close(() => ok());
    });
  return { url: `http://127.0.0.1:${(hub.address() as AddressInfo).port}`, storageUrl, store, log, opts: o, close: async () => void (await Promise.all([close(hub), close(storage)])) };
}

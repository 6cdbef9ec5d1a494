// The CLI's localhost server: the headless page (cli.html through Vite in middleware mode, no
// build step), the model files (HTTP Range), and the output sink protocols: HTTP (io/http-sink.ts)
// under /sink/ and WebSocket (io/ws-sink.ts, what the CLI uses) at /sink-ws.
// Listens on 127.0.0.1 only, on a random port. Node only.
import { createReadStream } from 'node:fs';
import { readFile, rm, stat } from 'node:fs/promises';
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { Duplex } from 'node:stream';
import type { ViteDevServer } from 'vite';
import { WebSocketServer, type RawData, type WebSocket } from 'ws';
import { ADAPTER_URL_DIR, type ResolvedModel } from './models';
import type { ByteSource } from '../io/types';
import { OutputDir, SinkProtocolError } from './output-dir';

export const ISOLATION_HEADERS = {
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
  'Cross-Origin-Resource-Policy': 'same-origin',
};

export interface CliServer {
  origin: string;
  /** Base URL of the model files: `${modelsUrl}/<i>/<path>`. */
  modelsUrl: string;
  /** HTTP sink protocol base URL (io/http-sink.ts). */
  sinkUrl: string;
  /** WebSocket sink URL (io/ws-sink.ts). */
  sinkWsUrl: string;
  close(): Promise<void>;
}

export interface ServerOptions {
  root: string;
  models: ResolvedModel[];
  /** Where a merge writes; absent for commands that write nothing through the page (npm run eval). */
  output?: OutputDir;
  /** Serve the app through Vite (false: only models + sink, for tests of the protocol). */
  vite?: boolean;
  verbose?: boolean;
}

/** Parses a single "bytes=a-b" range against a size. undefined: no Range header; null: unsatisfiable. */
export function parseRange(header: string | undefined, size: number): { start: number; end: number } | undefined | null {
  if (header === undefined) return undefined;
  const m = /^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$/i.exec(header);
  if (!m || (m[1] === '' && m[2] === '')) return null;
  if (m[1] === '') {
    const n = Number(m[2]); // suffix: the last n bytes
    if (n === 0 || size === 0) return null;
    return { start: Math.max(0, size - n), end: size - 1 };
  }
  const start = Number(m[1]);
  const end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
  if (!Number.isSafeInteger(start) || start >= size || end < start) return null;
  return { start, end };
}

function send(res: ServerResponse, status: number, body: string | object = '', type = 'text/plain; charset=utf-8') {
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': typeof body === 'string' ? type : 'application/json', 'Cache-Control': 'no-store', ...ISOLATION_HEADERS });
  res.end(text);
}

/**
 * Streams [start, start+length) of a byte source (a Hub file: cache, retries and counters live in
 * this process) in pieces, reading the next piece while the current one is written. A failed read
 * cuts the connection, so the reader sees a short body, never wrong bytes.
 */
async function pipeSource(res: ServerResponse, source: ByteSource, start: number, length: number): Promise<void> {
  const PIECE = 16 * 1024 * 1024;
  const abort = new AbortController();
  res.on('close', () => abort.abort());
  const piece = (at: number) => source.read(start + at, Math.min(PIECE, length - at), abort.signal);
  try {
    let next = piece(0);
    for (let at = 0; at < length; ) {
      const bytes = await next;
      at += bytes.length;
      if (at < length) next = piece(at);
      if (!res.write(bytes))
        await new Promise<void>((ok) => {
          const go = () => {
            res.off('drain', go);
            res.off('close', go);
            ok();
          };
          res.on('drain', go);
          res.on('close', go);
        });
      if (res.destroyed) return;
    }
    res.end();
  } catch {
    // the source recorded its error for the command (cli/hub.ts); the reader sees a cut body
    res.destroy();
  }
}

async function serveModelFile(req: IncomingMessage, res: ServerResponse, models: ResolvedModel[], rest: string) {
  if (req.method !== 'GET' && req.method !== 'HEAD') return send(res, 405, 'only GET and HEAD');
  const slash = rest.indexOf('/');
  const idx = Number(rest.slice(0, slash));
  let path: string;
  try {
    path = decodeURIComponent(rest.slice(slash + 1));
  } catch {
    return send(res, 400, 'bad path encoding');
  }
  const model = slash > 0 && Number.isInteger(idx) ? models[idx] : undefined;
  // Only files listed for that model: no traversal, nothing else on disk is reachable.
  const adapterPath = path.startsWith(`${ADAPTER_URL_DIR}/`) ? path.slice(ADAPTER_URL_DIR.length + 1) : undefined;
  const file = adapterPath !== undefined ? model?.adapter?.files.find((f) => f.path === adapterPath) : model?.files.find((f) => f.path === path);
  if (!model || !file) return send(res, 404, `no such model file: ${rest}`);
  let size: number;
  if (file.source) size = file.source.size;
  else
    try {
      size = (await stat(file.abs!)).size;
    } catch (e) {
      return send(res, 404, `${model.ref}/${path}: ${(e as Error).message}`);
    }
  const range = parseRange(req.headers.range, size);
  const headers: Record<string, string | number> = {
    'Accept-Ranges': 'bytes',
    'Content-Type': 'application/octet-stream',
    'Cache-Control': 'no-store',
    ...ISOLATION_HEADERS,
  };
  if (range === null) {
    res.writeHead(416, { ...headers, 'Content-Range': `bytes */${size}` });
    return res.end();
  }
  const start = range?.start ?? 0;
  const end = range?.end ?? size - 1;
  const length = size === 0 ? 0 : end - start + 1;
  if (range) headers['Content-Range'] = `bytes ${start}-${end}/${size}`;
  headers['Content-Length'] = length;
  res.writeHead(range ? 206 : 200, headers);
  if (req.method === 'HEAD' || length === 0) return res.end();
  if (file.source) return pipeSource(res, file.source, start, length);
  const stream = createReadStream(file.abs!, { start, end });
  stream.on('error', (e) => res.destroy(e));
  res.on('close', () => stream.destroy());
  stream.pipe(res);
}

async function handleSink(req: IncomingMessage, res: ServerResponse, output: OutputDir, op: string, q: URLSearchParams) {
  try {
    switch (`${req.method} ${op}`) {
      case 'POST open':
        return send(res, 200, { id: await output.openFile(q.get('path') ?? '') });
      case 'PUT write': {
        const offset = Number(q.get('offset') ?? 'NaN');
        if (!Number.isSafeInteger(offset) || offset < 0) throw new SinkProtocolError(400, 'write needs a non-negative integer offset');
        await output.write(q.get('id'), offset, req);
        res.writeHead(204, ISOLATION_HEADERS);
        return res.end();
      }
      case 'POST close':
        return send(res, 200, { bytes: await output.closeFile(q.get('id')) });
      case 'POST commit':
        return send(res, 200, { files: await output.commit() });
      case 'POST abort':
        await output.abort();
        res.writeHead(204, ISOLATION_HEADERS);
        return res.end();
      default:
        return send(res, 404, `unknown sink request ${req.method} ${op}`);
    }
  } catch (e) {
    // Drain an unread body so the connection stays usable.
    req.resume();
    if (e instanceof SinkProtocolError) return send(res, e.status, e.message);
    return send(res, 500, e instanceof Error ? e.message : String(e));
  }
}

/** Largest WebSocket message the sink accepts (the client sends parts of at most 16 MiB). */
export const SINK_WS_MAX_PAYLOAD = 64 * 1024 * 1024;
export const SINK_WS_PATH = '/sink-ws';

/**
 * One WebSocket sink connection (protocol: io/ws-sink.ts). Messages are framed in arrival order
 * and handled strictly one after another; every request gets exactly one JSON answer, in order.
 * After the first error every request except abort is refused. If the socket closes before a
 * commit, the output is aborted (the temporary folder removed).
 */
export function serveSinkSocket(ws: WebSocket, output: OutputDir, log?: (msg: string) => void): void {
  let chain: Promise<void> = Promise.resolve();
  /** A write request waiting for its binary message. */
  let header: { id: string | null; offset: number; bytes: number; error?: SinkProtocolError } | null = null;
  let failed: string | null = null;
  let used = false;
  let closed = false;

  const answer = (r: object) => {
    if (!closed && ws.readyState === ws.OPEN) ws.send(JSON.stringify(r));
  };
  const handle = (what: string, f: () => Promise<object>, evenAfterFailure = false) => {
    chain = chain.then(async () => {
      if (closed) return; // nobody is listening: don't write any more
      try {
        if (failed && !evenAfterFailure) throw new SinkProtocolError(409, `refusing ${what}: an earlier request failed (${failed})`);
        answer({ ok: true, ...(await f()) });
      } catch (e) {
        const status = e instanceof SinkProtocolError ? e.status : 500;
        const message = e instanceof Error ? e.message : String(e);
        failed ??= message;
        log?.(`sink: ${what} failed: ${status} ${message}`);
        answer({ ok: false, status, message });
      }
    });
  };
  const refuse = (what: string, status: number, message: string) =>
    handle(what, async () => {
      throw new SinkProtocolError(status, message);
    });

  ws.on('message', (data: RawData, isBinary: boolean) => {
    used = true;
    if (isBinary) {
      const h = header;
      header = null;
      if (!h) return refuse('write', 400, 'binary message without a write request before it');
      const bytes = Array.isArray(data) ? Buffer.concat(data) : data instanceof ArrayBuffer ? new Uint8Array(data) : data;
      return handle('write', async () => {
        if (h.error) throw h.error;
        if (bytes.byteLength !== h.bytes) throw new SinkProtocolError(400, `write announced ${h.bytes} bytes but carried ${bytes.byteLength}`);
        return { written: await output.writeBytes(h.id, h.offset, bytes) };
      });
    }
    if (header) {
      header = null;
      refuse('write', 400, 'a write request was not followed by its binary message');
    }
    let msg: Record<string, unknown>;
    try {
      msg = JSON.parse(String(data)) as Record<string, unknown>;
      if (!msg || typeof msg !== 'object' || Array.isArray(msg)) throw new Error('not a JSON object');
    } catch (e) {
      return refuse('request', 400, `bad sink request: ${(e as Error).message}`);
    }
    const id = typeof msg.id === 'string' ? msg.id : null;
    switch (msg.op) {
      case 'open':
        return handle('open', async () => ({ id: await output.openFile(typeof msg.path === 'string' ? msg.path : '') }));
      case 'write': {
        const { offset, bytes } = msg;
        header = { id, offset: Number(offset), bytes: Number(bytes) };
        if (!Number.isSafeInteger(offset) || (offset as number) < 0) header.error = new SinkProtocolError(400, 'write needs a non-negative integer offset');
        else if (!Number.isSafeInteger(bytes) || (bytes as number) < 0) header.error = new SinkProtocolError(400, 'write needs a non-negative integer byte count');
        return;
      }
      case 'close':
        return handle('close', async () => ({ bytes: await output.closeFile(id) }));
      case 'commit':
        return handle('commit', async () => ({ files: await output.commit() }));
      case 'abort':
        return handle('abort', async () => (await output.abort(), {}), true);
      default:
        return refuse('request', 400, `unknown sink op ${JSON.stringify(msg.op)}`);
    }
  });
  ws.on('error', (e) => log?.(`sink socket error: ${e.message}`));
  ws.on('close', () => {
    closed = true;
    chain = chain.then(async () => {
      if (used && output.state === 'open') {
        log?.('sink socket closed before commit: aborting the output');
        await output.abort();
      }
    });
  });
}

function refuseUpgrade(socket: Duplex, status: string) {
  socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
  socket.destroy();
}

export async function startCliServer(o: ServerOptions): Promise<CliServer> {
  let vite: ViteDevServer | undefined;
  let cacheDir: string | undefined;
  if (o.vite !== false) {
    const { createServer } = await import('vite');
    cacheDir = join(o.root, 'node_modules/.vite-cli', String(process.pid));
    vite = await createServer({
      root: o.root,
      configFile: join(o.root, 'vite.config.ts'),
      appType: 'custom',
      logLevel: o.verbose ? 'info' : 'error',
      clearScreen: false,
      // A cache of its own per process: concurrent CLI runs (and `npm run dev`) re-optimizing a
      // shared cache made each other's pages fail to load.
      cacheDir,
      server: { middlewareMode: true, hmr: false, ws: false, watch: null, headers: ISOLATION_HEADERS },
      // Pre-bundle the page's dependencies up front: a dependency discovered mid-run would make
      // Vite reload the page, killing the merge.
      optimizeDeps: { entries: ['cli.html'], include: ['comlink'], noDiscovery: true },
    });
  }
  const server: Server = createHttpServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const p = url.pathname;
    if (p.startsWith('/models/')) {
      // --verbose: each model-file request (the page's reads; the CPU engine's threads read files themselves)
      if (o.verbose) console.error(`server: ${req.method} ${p}${req.headers.range ? ` ${req.headers.range}` : ''}`);
      serveModelFile(req, res, o.models, p.slice('/models/'.length)).catch((e) => send(res, 500, String(e)));
      return;
    }
    if (p.startsWith('/sink/')) {
      if (!o.output) return void send(res, 404, 'this command has no output sink');
      void handleSink(req, res, o.output, p.slice('/sink/'.length), url.searchParams);
      return;
    }
    if (p === '/favicon.ico') {
      res.writeHead(204, ISOLATION_HEADERS);
      return res.end();
    }
    if (!vite) return send(res, 404, 'not found');
    for (const [k, v] of Object.entries(ISOLATION_HEADERS)) res.setHeader(k, v);
    if (p === '/' || p === '/cli.html') {
      // Served as is: no /@vite/client (no HMR socket that could reload the page mid-merge).
      readFile(join(o.root, 'cli.html'), 'utf8')
        .then((html) => send(res, 200, html, 'text/html; charset=utf-8'))
        .catch((e) => send(res, 500, String(e)));
      return;
    }
    vite.middlewares(req, res, () => send(res, 404, `not found: ${p}`));
  });
  const log = o.verbose ? (m: string) => console.error(m) : undefined;
  const wss = new WebSocketServer({ noServer: true, maxPayload: SINK_WS_MAX_PAYLOAD, perMessageDeflate: false });
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const p = new URL(req.url ?? '/', 'http://127.0.0.1').pathname;
    if (p !== SINK_WS_PATH) return refuseUpgrade(socket, '404 Not Found');
    // Only the CLI's own page (or a client that sends no Origin, like Node): WebSockets are not
    // subject to CORS, so any web page in a browser on this machine could try otherwise.
    const from = req.headers.origin;
    if (from !== undefined && from !== origin) return refuseUpgrade(socket, '403 Forbidden');
    const output = o.output;
    if (!output) return void socket.destroy();
    wss.handleUpgrade(req, socket, head, (ws) => serveSinkSocket(ws, output, log));
  });
  await new Promise<void>((ok, fail) => {
    server.once('error', fail);
    server.listen(0, '127.0.0.1', () => ok());
  });
  const { port } = server.address() as AddressInfo;
  const origin = `http://127.0.0.1:${port}`;
  let closed = false;
  return {
    origin,
    modelsUrl: `${origin}/models`,
    sinkUrl: `${origin}/sink`,
    sinkWsUrl: `ws://127.0.0.1:${port}${SINK_WS_PATH}`,
    async close() {
      if (closed) return;
      closed = true;
      for (const c of wss.clients) c.terminate();
      wss.close();
      server.closeAllConnections();
      await new Promise<void>((ok) => server.close(() => ok()));
      await vite?.close();
      if (cacheDir) await rm(cacheDir, { recursive: true, force: true }).catch(() => {});
    },
  };
}

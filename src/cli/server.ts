// The CLI's localhost server: the headless page (cli.html through Vite in middleware mode, no
// build step), the model files (HTTP Range), and the output sink protocol (io/http-sink.ts).
// Listens on 127.0.0.1 only, on a random port. Node only.
import { createReadStream } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { ViteDevServer } from 'vite';
import type { ResolvedModel } from './models';
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
  sinkUrl: string;
  close(): Promise<void>;
}

export interface ServerOptions {
  root: string;
  models: ResolvedModel[];
  output: OutputDir;
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
  const file = model?.files.find((f) => f.path === path);
  if (!model || !file) return send(res, 404, `no such model file: ${rest}`);
  let size: number;
  try {
    size = (await stat(file.abs)).size;
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
  const stream = createReadStream(file.abs, { start, end });
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

export async function startCliServer(o: ServerOptions): Promise<CliServer> {
  let vite: ViteDevServer | undefined;
  if (o.vite !== false) {
    const { createServer } = await import('vite');
    vite = await createServer({
      root: o.root,
      configFile: join(o.root, 'vite.config.ts'),
      appType: 'custom',
      logLevel: o.verbose ? 'info' : 'error',
      clearScreen: false,
      // A separate cache, so the CLI and a running `npm run dev` never fight over it.
      cacheDir: join(o.root, 'node_modules/.vite-cli'),
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
      serveModelFile(req, res, o.models, p.slice('/models/'.length)).catch((e) => send(res, 500, String(e)));
      return;
    }
    if (p.startsWith('/sink/')) {
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
    async close() {
      if (closed) return;
      closed = true;
      server.closeAllConnections();
      await new Promise<void>((ok) => server.close(() => ok()));
      await vite?.close();
    },
  };
}

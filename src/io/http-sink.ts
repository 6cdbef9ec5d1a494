// An OutputSink that streams files to the headless CLI's localhost server (src/cli/server.ts),
// which writes them into a temporary sibling of the output folder and renames it on commit.
//
// Protocol (all under the sink's base URL, e.g. http://127.0.0.1:PORT/sink):
//   POST {url}/open?path=<relative path>        → 200 {"id": "<id>"}     create/truncate a file
//   PUT  {url}/write?id=<id>&offset=<n>  body    → 204                   append bytes; offset must equal
//                                                                          the bytes written so far (409 otherwise)
//   POST {url}/close?id=<id>                     → 200 {"bytes": n}      file complete
//   POST {url}/commit                            → 200 {"files": [...]}  all files closed → folder renamed into place
//   POST {url}/abort                             → 204                   temporary folder removed
// Errors: any non-2xx answer carries a plain-text message, surfaced as IoError.
import { IoError } from '../errors';
import type { FileWriter, OutputSink } from './types';
import { outputPathSegments } from './output-path';

/** Largest request body one PUT carries; bigger writes are split (keeps the server's buffers small). */
export const HTTP_SINK_MAX_PUT = 32 * 1024 * 1024;

export class HttpSink implements OutputSink {
  private readonly base: string;
  private state: 'open' | 'committed' | 'aborted' = 'open';
  private readonly openWriters = new Set<string>();

  constructor(url: string, private readonly fetchImpl: typeof fetch = (...a) => fetch(...a)) {
    this.base = url.replace(/\/+$/, '');
  }

  async create(path: string): Promise<FileWriter> {
    this.assertOpen('create ' + path);
    outputPathSegments(path);
    const res = await this.call('POST', `/open?path=${encodeURIComponent(path)}`, undefined, path);
    const { id } = (await res.json()) as { id: string };
    if (typeof id !== 'string' || !id) throw new IoError(`Output server gave no file id for "${path}"`, { file: path });
    this.openWriters.add(id);
    let offset = 0;
    let closed = false;
    return {
      write: async (bytes: Uint8Array) => {
        if (closed) throw new IoError(`Write to "${path}" after it was closed`, { file: path });
        this.assertOpen('write ' + path);
        for (let at = 0; at < bytes.byteLength; at += HTTP_SINK_MAX_PUT) {
          const part = bytes.subarray(at, Math.min(bytes.byteLength, at + HTTP_SINK_MAX_PUT));
          await this.call('PUT', `/write?id=${encodeURIComponent(id)}&offset=${offset}`, part, path);
          offset += part.byteLength;
        }
      },
      close: async () => {
        if (closed) return;
        closed = true;
        await this.call('POST', `/close?id=${encodeURIComponent(id)}`, undefined, path);
        this.openWriters.delete(id);
      },
    };
  }

  async commit(): Promise<void> {
    this.assertOpen('commit');
    if (this.openWriters.size) throw new IoError(`Cannot commit the output: ${this.openWriters.size} file(s) are still open`);
    await this.call('POST', '/commit');
    this.state = 'committed';
  }

  /** Best effort and idempotent; never rejects (the server also cleans up when the run fails). */
  async abort(): Promise<void> {
    if (this.state !== 'open') return;
    this.state = 'aborted';
    try {
      await this.call('POST', '/abort');
    } catch {
      /* the CLI removes the temporary folder itself on failure */
    }
  }

  private assertOpen(what: string) {
    if (this.state !== 'open') throw new IoError(`Cannot ${what}: the output was already ${this.state}`);
  }

  private async call(method: string, pathAndQuery: string, body?: Uint8Array, file?: string): Promise<Response> {
    let res: Response;
    try {
      res = await this.fetchImpl(this.base + pathAndQuery, {
        method,
        body: body as BodyInit | undefined,
        headers: body ? { 'content-type': 'application/octet-stream' } : undefined,
      });
    } catch (e) {
      throw new IoError(`Output server at ${this.base} is unreachable (${method} ${pathAndQuery.split('?')[0]}): ${e instanceof Error ? e.message : String(e)}`, { file });
    }
    if (!res.ok) {
      const text = await res.text().catch(() => '');
      throw new IoError(`Output server refused ${method} ${pathAndQuery.split('?')[0]}${file ? ` for "${file}"` : ''}: ${res.status} ${text || res.statusText}`, { file });
    }
    return res;
  }
}

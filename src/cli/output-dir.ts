// The CLI's side of the output sink protocols (io/http-sink.ts, io/ws-sink.ts): files are written into a
// temporary sibling "<out>.partial-<pid>" and the folder is renamed to <out> on commit, so the
// output folder appears only when complete. abort()/cleanup() remove the temporary folder.
import { mkdir, open, readdir, rename, rm, rmdir, stat, type FileHandle } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { outputPathSegments } from '../io/output-path';

export class SinkProtocolError extends Error {
  override name = 'SinkProtocolError';
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

interface OpenFile {
  path: string;
  fh: FileHandle;
  written: number;
  busy: boolean;
}

/** Is `p` missing, or an empty directory? (A file or a non-empty folder is refused.) */
export async function outputTargetProblem(p: string): Promise<string | undefined> {
  let st;
  try {
    st = await stat(p);
  } catch {
    return undefined;
  }
  if (!st.isDirectory()) return `${p} exists and is not a folder`;
  const entries = await readdir(p);
  if (entries.length) return `${p} already exists and is not empty (${entries.length} entr${entries.length === 1 ? 'y' : 'ies'}); choose another --out or remove it`;
  return undefined;
}

export class OutputDir {
  readonly out: string;
  readonly temp: string;
  state: 'open' | 'committed' | 'aborted' = 'open';
  private created = false;
  private nextId = 1;
  private readonly openFiles = new Map<string, OpenFile>();
  private readonly paths = new Set<string>();
  readonly closed: { path: string; bytes: number }[] = [];

  /** Checks the finished temporary folder before it is renamed into place (the CLI re-reads the model). */
  validate?: (dir: string) => Promise<unknown>;

  constructor(out: string, tag: string | number = process.pid) {
    this.out = resolve(out);
    this.temp = `${this.out}.partial-${tag}`;
  }

  private assertOpen() {
    if (this.state !== 'open') throw new SinkProtocolError(409, `the output was already ${this.state}`);
  }

  async openFile(path: string): Promise<string> {
    this.assertOpen();
    let segs: string[];
    try {
      segs = outputPathSegments(path);
    } catch (e) {
      throw new SinkProtocolError(400, (e as Error).message);
    }
    if (this.paths.has(path)) throw new SinkProtocolError(409, `"${path}" was opened twice`);
    this.paths.add(path);
    if (!this.created) {
      await rm(this.temp, { recursive: true, force: true });
      await mkdir(this.temp, { recursive: true });
      this.created = true;
    }
    const abs = join(this.temp, ...segs);
    await mkdir(dirname(abs), { recursive: true });
    const fh = await open(abs, 'wx');
    const id = String(this.nextId++);
    this.openFiles.set(id, { path, fh, written: 0, busy: false });
    return id;
  }

  private file(id: string | null): OpenFile {
    const f = id ? this.openFiles.get(id) : undefined;
    if (!f) throw new SinkProtocolError(404, `no open output file with id ${JSON.stringify(id)}`);
    return f;
  }

  /** Appends the chunks of one request body at `offset` (must equal the bytes written so far). */
  async write(id: string | null, offset: number, body: AsyncIterable<Uint8Array> | Iterable<Uint8Array>): Promise<number> {
    this.assertOpen();
    const f = this.file(id);
    if (f.busy) throw new SinkProtocolError(409, `"${f.path}": a write is already in progress (writes must be sequential)`);
    if (offset !== f.written) throw new SinkProtocolError(409, `"${f.path}": write at offset ${offset}, but ${f.written} bytes were written so far`);
    f.busy = true;
    try {
      for await (const chunk of body) {
        let done = 0;
        while (done < chunk.byteLength) {
          const { bytesWritten } = await f.fh.write(chunk, done, chunk.byteLength - done, f.written);
          done += bytesWritten;
          f.written += bytesWritten;
        }
      }
    } finally {
      f.busy = false;
    }
    return f.written;
  }

  /** Appends `bytes` at `offset` (the WebSocket sink's write: one message, already in memory). */
  writeBytes(id: string | null, offset: number, bytes: Uint8Array): Promise<number> {
    return this.write(id, offset, [bytes]);
  }

  async closeFile(id: string | null): Promise<number> {
    this.assertOpen();
    const f = this.file(id);
    if (f.busy) throw new SinkProtocolError(409, `"${f.path}": cannot close during a write`);
    this.openFiles.delete(id!);
    await f.fh.close();
    this.closed.push({ path: f.path, bytes: f.written });
    return f.written;
  }

  /** Renames the temporary folder to the output folder. */
  async commit(): Promise<{ path: string; bytes: number }[]> {
    this.assertOpen();
    if (this.openFiles.size)
      throw new SinkProtocolError(409, `cannot commit: still open: ${[...this.openFiles.values()].map((f) => f.path).join(', ')}`);
    if (!this.created) {
      await mkdir(this.temp, { recursive: true });
      this.created = true;
    }
    if (this.validate) {
      try {
        await this.validate(this.temp);
      } catch (e) {
        throw new SinkProtocolError(500, (e as Error).message);
      }
    }
    const problem = await outputTargetProblem(this.out);
    if (problem) throw new SinkProtocolError(409, problem);
    await rmdir(this.out).catch(() => {}); // an empty folder given as --out
    await rename(this.temp, this.out);
    this.state = 'committed';
    return this.closed;
  }

  /** Removes the temporary folder (idempotent; a no-op once committed). */
  async abort(): Promise<void> {
    if (this.state === 'committed') return;
    this.state = 'aborted';
    for (const f of this.openFiles.values()) await f.fh.close().catch(() => {});
    this.openFiles.clear();
    await rm(this.temp, { recursive: true, force: true }).catch(() => {});
  }
}

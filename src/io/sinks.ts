// Output sinks: where a merge's files go. Every sink writes under a temporary name and makes the
// output appear only on commit(); abort() removes whatever was written. See io/types.ts.
//
//   ws         → WsSink (the headless CLI's localhost server, one WebSocket; io/ws-sink.ts)
//   http       → HttpSink (the same server, HTTP requests; io/http-sink.ts)
//   memory     → MemorySink (tests, tiny models; files returned in the summary)
//   opfs       → HandleSink in navigator.storage.getDirectory(): writes ".<dir>.partial-<random>/…",
//                on commit moves each file into "<dir>/" (replacing an earlier "<dir>")
//   directory  → HandleSink inside the folder the user picked: writes ".<name>.partial-<random>/…"
//                inside it, on commit moves each file up into the picked folder
// Directory handles cannot be renamed in every browser, so commit moves files one by one with
// FileSystemFileHandle.move() where it exists and copies (then deletes) otherwise.
import { IoError } from '../errors';
import { HttpSink } from './http-sink';
import { outputPathSegments } from './output-path';
import type { FileWriter, OutputSink, OutputSpec } from './types';
import { WsSink } from './ws-sink';

export { HttpSink } from './http-sink';
export { WsSink } from './ws-sink';

export function sinkFor(output: OutputSpec): OutputSink {
  switch (output.kind) {
    case 'ws':
      return new WsSink(output.url);
    case 'http':
      return new HttpSink(output.url);
    case 'memory':
      return new MemorySink();
    case 'opfs': {
      const segs = outputPathSegments(output.dir);
      return new HandleSink(async () => {
        if (typeof navigator === 'undefined' || !navigator.storage?.getDirectory)
          throw new IoError('The Origin Private File System (navigator.storage.getDirectory) is not available here');
        let parent = await navigator.storage.getDirectory();
        for (const s of segs.slice(0, -1)) parent = await parent.getDirectoryHandle(s, { create: true });
        return { parent, finalName: segs[segs.length - 1], replace: true };
      }, 'OPFS ' + output.dir);
    }
    case 'directory':
      return new HandleSink(async () => ({ parent: output.handle, finalName: null, replace: false }), `folder "${output.handle.name}"`);
    default: {
      const never: never = output;
      throw new IoError(`Unknown output kind ${JSON.stringify((never as { kind: string }).kind)}`);
    }
  }
}

type SinkState = 'open' | 'committed' | 'aborted';

function stateError(what: string, state: SinkState) {
  return new IoError(`Cannot ${what}: the output was already ${state}`);
}

/** Collects the output in memory. `files` is filled on commit() and stays empty after abort(). */
export class MemorySink implements OutputSink {
  /** Committed files by path. */
  files: Record<string, Uint8Array> = {};
  private readonly staged = new Map<string, Uint8Array>();
  private readonly writing = new Set<string>();
  private state: SinkState = 'open';

  async create(path: string): Promise<FileWriter> {
    if (this.state !== 'open') throw stateError('create ' + path, this.state);
    outputPathSegments(path);
    if (this.writing.has(path) || this.staged.has(path)) throw new IoError(`Output file "${path}" was created twice`, { file: path });
    this.writing.add(path);
    const parts: Uint8Array[] = [];
    let closed = false;
    return {
      write: async (bytes) => {
        if (closed) throw new IoError(`Write to "${path}" after it was closed`, { file: path });
        if (this.state !== 'open') throw stateError('write ' + path, this.state);
        parts.push(bytes.slice()); // the caller may reuse its buffer
      },
      close: async () => {
        if (closed) return;
        closed = true;
        this.writing.delete(path);
        if (this.state !== 'open') return;
        this.staged.set(path, concat(parts));
        parts.length = 0;
      },
    };
  }

  async commit(): Promise<void> {
    if (this.state !== 'open') throw stateError('commit', this.state);
    if (this.writing.size) throw new IoError(`Cannot commit the output: still writing ${[...this.writing].join(', ')}`);
    this.files = Object.fromEntries(this.staged);
    this.staged.clear();
    this.state = 'committed';
  }

  async abort(): Promise<void> {
    if (this.state !== 'open') return;
    this.state = 'aborted';
    this.staged.clear();
    this.writing.clear();
    this.files = {};
  }
}

function concat(parts: Uint8Array[]): Uint8Array {
  if (parts.length === 1) return parts[0];
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.byteLength;
  }
  return out;
}

// ---- File System Access / OPFS ---------------------------------------------------------------

interface Target {
  /** The folder that holds the temporary folder. */
  parent: FileSystemDirectoryHandle;
  /** The final folder's name inside `parent`, or null when `parent` itself is the destination. */
  finalName: string | null;
  /** Remove an existing final folder first (OPFS), instead of writing into it. */
  replace: boolean;
}

interface SyncAccessHandle {
  write(buf: BufferSource, opts?: { at?: number }): number;
  flush(): void;
  close(): void;
}
type MovableFile = FileSystemFileHandle & {
  move?: (dest: FileSystemDirectoryHandle, name: string) => Promise<void>;
  createSyncAccessHandle?: () => Promise<SyncAccessHandle>;
};
type IterableDir = FileSystemDirectoryHandle & { entries(): AsyncIterable<[string, FileSystemHandle]> };

function randomTag(): string {
  const b = new Uint8Array(6);
  crypto.getRandomValues(b);
  return [...b].map((x) => x.toString(16).padStart(2, '0')).join('');
}

function ioMessage(e: unknown): string {
  return e instanceof Error ? `${e.name}: ${e.message}` : String(e);
}

/** Writes into a temporary folder next to (or inside) the destination, and moves files on commit. */
export class HandleSink implements OutputSink {
  private state: SinkState = 'open';
  private setup: Promise<{ target: Target; temp: FileSystemDirectoryHandle; tempName: string }> | null = null;
  private readonly open = new Map<string, () => Promise<void>>();
  private readonly created = new Set<string>();

  constructor(
    private readonly resolve: () => Promise<Target>,
    private readonly label: string,
  ) {}

  private prepare() {
    this.setup ??= (async () => {
      const target = await this.resolve();
      const stem = target.finalName ?? target.parent.name ?? 'output';
      const tempName = `.${stem || 'output'}.partial-${randomTag()}`;
      const temp = await target.parent.getDirectoryHandle(tempName, { create: true });
      return { target, temp, tempName };
    })();
    return this.setup;
  }

  async create(path: string): Promise<FileWriter> {
    if (this.state !== 'open') throw stateError('create ' + path, this.state);
    const segs = outputPathSegments(path);
    if (this.created.has(path)) throw new IoError(`Output file "${path}" was created twice`, { file: path });
    this.created.add(path);
    const { temp } = await this.prepare();
    try {
      let dir = temp;
      for (const s of segs.slice(0, -1)) dir = await dir.getDirectoryHandle(s, { create: true });
      const fh = (await dir.getFileHandle(segs[segs.length - 1], { create: true })) as MovableFile;
      return await this.writerFor(fh, path);
    } catch (e) {
      if (e instanceof IoError) throw e;
      throw new IoError(`Cannot create "${path}" in ${this.label}: ${ioMessage(e)}`, { file: path });
    }
  }

  private async writerFor(fh: MovableFile, path: string): Promise<FileWriter> {
    let closed = false;
    const guard = () => {
      if (closed) throw new IoError(`Write to "${path}" after it was closed`, { file: path });
      if (this.state !== 'open') throw stateError('write ' + path, this.state);
    };
    const wrap = async (what: string, f: () => Promise<void> | void) => {
      try {
        await f();
      } catch (e) {
        throw new IoError(`Cannot ${what} "${path}" in ${this.label}: ${ioMessage(e)}`, { file: path });
      }
    };
    if (typeof fh.createWritable === 'function') {
      const w = await fh.createWritable();
      this.open.set(path, () => w.abort().catch(() => {}));
      return {
        write: async (bytes) => {
          guard();
          await wrap('write', () => w.write(bytes as BufferSource));
        },
        close: async () => {
          if (closed) return;
          closed = true;
          this.open.delete(path);
          await wrap('close', () => w.close());
        },
      };
    }
    if (typeof fh.createSyncAccessHandle === 'function') {
      // Safari: no createWritable, but dedicated workers get a synchronous access handle.
      const h = await fh.createSyncAccessHandle();
      let at = 0;
      this.open.set(path, async () => h.close());
      return {
        write: async (bytes) => {
          guard();
          await wrap('write', () => {
            at += h.write(bytes as BufferSource, { at });
          });
        },
        close: async () => {
          if (closed) return;
          closed = true;
          this.open.delete(path);
          await wrap('close', () => {
            h.flush();
            h.close();
          });
        },
      };
    }
    throw new IoError(`${this.label}: this browser can neither createWritable() nor createSyncAccessHandle() here`, { file: path });
  }

  async commit(): Promise<void> {
    if (this.state !== 'open') throw stateError('commit', this.state);
    if (this.open.size) throw new IoError(`Cannot commit the output: still writing ${[...this.open.keys()].join(', ')}`);
    const { target, temp, tempName } = await this.prepare();
    try {
      let dest = target.parent;
      if (target.finalName !== null) {
        if (target.replace) await target.parent.removeEntry(target.finalName, { recursive: true }).catch(() => {});
        dest = await target.parent.getDirectoryHandle(target.finalName, { create: true });
      }
      await moveTree(temp, dest);
      await target.parent.removeEntry(tempName, { recursive: true });
      this.state = 'committed';
    } catch (e) {
      throw new IoError(`Cannot move the finished output into place in ${this.label}: ${ioMessage(e)} (the files are left in "${tempName}")`);
    }
  }

  async abort(): Promise<void> {
    if (this.state !== 'open') return;
    this.state = 'aborted';
    for (const close of this.open.values()) await close().catch(() => {});
    this.open.clear();
    if (!this.setup) return;
    try {
      const { target, tempName } = await this.setup;
      await target.parent.removeEntry(tempName, { recursive: true });
    } catch {
      /* best effort: nothing else can be done here */
    }
  }
}

async function moveTree(from: FileSystemDirectoryHandle, to: FileSystemDirectoryHandle): Promise<void> {
  const entries: [string, FileSystemHandle][] = [];
  for await (const e of (from as IterableDir).entries()) entries.push(e);
  for (const [name, h] of entries) {
    if (h.kind === 'directory') {
      await moveTree(h as FileSystemDirectoryHandle, await to.getDirectoryHandle(name, { create: true }));
      continue;
    }
    const fh = h as MovableFile;
    await to.removeEntry(name).catch(() => {}); // move()/copy onto an existing name: replace it
    if (typeof fh.move === 'function') {
      try {
        await fh.move(to, name);
        continue;
      } catch {
        /* cross-filesystem or unsupported here: copy instead */
      }
    }
    const dst = await to.getFileHandle(name, { create: true });
    const w = await dst.createWritable();
    await (await fh.getFile()).stream().pipeTo(w);
    await from.removeEntry(name);
  }
}

// ByteSource for Node (the CLI and tests): a file on disk read with positioned reads.
// Node only — never import this from browser code.

import { open, readFile, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { IoError } from '../errors';
import { checkRead, throwIfAborted } from './sources';
import type { ByteSource, PortableSource } from './types';

function reasonOf(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

export class NodeFileSource implements ByteSource {
  private constructor(
    readonly name: string,
    readonly path: string,
    readonly size: number,
  ) {}

  /** Stats the file (it must be a regular file, symlinks followed) and returns a source for it. */
  static async open(name: string, path: string): Promise<NodeFileSource> {
    let st;
    try {
      st = await stat(path);
    } catch (e) {
      throw new IoError(`${name}: cannot open ${path}: ${reasonOf(e)}`, { file: name });
    }
    if (!st.isFile()) throw new IoError(`${name}: ${path} is not a regular file`, { file: name });
    return new NodeFileSource(name, path, st.size);
  }

  async read(offset: number, length: number, signal?: AbortSignal): Promise<Uint8Array> {
    checkRead(this.name, this.size, offset, length);
    throwIfAborted(signal);
    const out = new Uint8Array(length);
    if (length === 0) return out;
    const range = `bytes [${offset}, ${offset + length})`;
    let fh;
    try {
      fh = await open(this.path, 'r');
    } catch (e) {
      throw new IoError(`${this.name}: cannot open ${this.path} to read ${range}: ${reasonOf(e)}`, { file: this.name });
    }
    try {
      let done = 0;
      while (done < length) {
        throwIfAborted(signal);
        let n: number;
        try {
          ({ bytesRead: n } = await fh.read(out, done, length - done, offset + done));
        } catch (e) {
          throw new IoError(`${this.name}: reading ${range} failed: ${reasonOf(e)}`, { file: this.name });
        }
        if (n === 0) {
          throw new IoError(`${this.name}: reading ${range} hit the end of the file after ${done} bytes (was the file truncated since it was opened?)`, {
            file: this.name,
          });
        }
        done += n;
      }
      return out;
    } finally {
      await fh.close().catch(() => undefined);
    }
  }

  portable(): PortableSource {
    return { kind: 'node-file', name: this.name, path: this.path, size: this.size };
  }

  /** Reopens a portable description in this thread (a CPU engine worker in Node). */
  static fromPortable(p: Extract<PortableSource, { kind: 'node-file' }>): NodeFileSource {
    return new NodeFileSource(p.name, p.path, p.size);
  }

  async text(): Promise<string> {
    try {
      return await readFile(this.path, 'utf8');
    } catch (e) {
      throw new IoError(`${this.name}: cannot read ${this.path}: ${reasonOf(e)}`, { file: this.name });
    }
  }
}

/**
 * The files of a model folder (not recursive), keyed by file name. Regular files only; symlinks
 * that resolve to regular files count (a Hugging Face cache snapshot is made of them).
 */
export async function nodeModelFiles(dir: string): Promise<Map<string, ByteSource>> {
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch (e) {
    throw new IoError(`cannot list the model folder ${dir}: ${reasonOf(e)}`, { file: dir });
  }
  const names = entries
    .filter((e) => e.isFile() || e.isSymbolicLink())
    .map((e) => e.name)
    .sort();
  const files = new Map<string, ByteSource>();
  for (const name of names) {
    const path = join(dir, name);
    let st;
    try {
      st = await stat(path);
    } catch {
      continue; // a dangling symlink
    }
    if (!st.isFile()) continue;
    files.set(name, await NodeFileSource.open(name, path));
  }
  return files;
}

// ByteSource implementations for the browser and for tests: a File/Blob, an HTTP URL read with
// Range requests, and bytes in memory. (The Node file source lives in node-source.ts so that this
// module stays free of node: imports.)
//
// Every read returns exactly the requested bytes or rejects with IoError naming the file and the
// byte range; an aborted signal rejects with CancelledError.

import { CancelledError, IoError, StudioError } from '../errors';
import type { ByteSource, PortableSource } from './types';

/** Validates a read request against a file size; throws IoError when it is out of bounds. */
export function checkRead(name: string, size: number, offset: number, length: number): void {
  if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0) {
    throw new IoError(`${name}: invalid read of ${length} bytes at offset ${offset}`, { file: name });
  }
  if (offset + length > size) {
    throw new IoError(`${name}: read of bytes [${offset}, ${offset + length}) past the end of a ${size}-byte file`, { file: name });
  }
}

export function throwIfAborted(signal?: AbortSignal): void {
  if (signal?.aborted) throw new CancelledError();
}

/** Resolves like `p`, but rejects with CancelledError as soon as `signal` aborts. */
export function abortable<T>(p: Promise<T>, signal?: AbortSignal): Promise<T> {
  if (!signal) return p;
  if (signal.aborted) {
    p.catch(() => undefined);
    return Promise.reject(new CancelledError());
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(new CancelledError());
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(e);
      },
    );
  });
}

function rangeText(offset: number, length: number): string {
  return `bytes [${offset}, ${offset + length})`;
}

function reasonOf(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

function isAbort(e: unknown): boolean {
  return e instanceof CancelledError || (typeof e === 'object' && e !== null && (e as { name?: unknown }).name === 'AbortError');
}

/** A File or Blob (drag and drop, file picker, directory handle). Reads are lazy slices. */
export class BlobSource implements ByteSource {
  readonly size: number;
  constructor(
    readonly name: string,
    private readonly blob: Blob,
  ) {
    this.size = blob.size;
  }

  async read(offset: number, length: number, signal?: AbortSignal): Promise<Uint8Array> {
    checkRead(this.name, this.size, offset, length);
    throwIfAborted(signal);
    if (length === 0) return new Uint8Array(0);
    let buf: ArrayBuffer;
    try {
      buf = await abortable(this.blob.slice(offset, offset + length).arrayBuffer(), signal);
    } catch (e) {
      if (isAbort(e) || signal?.aborted) throw new CancelledError();
      throw new IoError(`${this.name}: reading ${rangeText(offset, length)} failed: ${reasonOf(e)} (was the file changed or moved?)`, {
        file: this.name,
      });
    }
    if (buf.byteLength !== length) {
      throw new IoError(`${this.name}: reading ${rangeText(offset, length)} returned ${buf.byteLength} bytes (was the file changed?)`, {
        file: this.name,
      });
    }
    return new Uint8Array(buf);
  }

  portable(): PortableSource {
    return { kind: 'blob', name: this.name, blob: this.blob };
  }

  async text(): Promise<string> {
    try {
      return await this.blob.text();
    } catch (e) {
      throw new IoError(`${this.name}: reading the file failed: ${reasonOf(e)}`, { file: this.name });
    }
  }
}

/** Bytes in memory (tests, small generated files). Reads return copies. */
export class MemorySource implements ByteSource {
  readonly size: number;
  constructor(
    readonly name: string,
    private readonly bytes: Uint8Array,
  ) {
    this.size = bytes.length;
  }

  async read(offset: number, length: number, signal?: AbortSignal): Promise<Uint8Array> {
    checkRead(this.name, this.size, offset, length);
    throwIfAborted(signal);
    return this.bytes.slice(offset, offset + length);
  }

  async text(): Promise<string> {
    return new TextDecoder().decode(this.bytes);
  }

  portable(): PortableSource {
    return { kind: 'memory', name: this.name, bytes: this.bytes };
  }
}

/**
 * A file served over HTTP(S) that supports Range requests (the CLI's localhost server, the Hub's
 * resolve URLs). `size` must be the file's exact size.
 */
export class HttpSource implements ByteSource {
  constructor(
    readonly name: string,
    readonly url: string,
    readonly size: number,
  ) {}

  portable(): PortableSource {
    return { kind: 'http', name: this.name, url: this.url, size: this.size };
  }

  /** Finds the size with a HEAD request (falling back to a one-byte Range request). */
  static async open(name: string, url: string, signal?: AbortSignal): Promise<HttpSource> {
    const sizeOf = (res: Response): number | undefined => {
      const cr = res.headers.get('content-range');
      const m = cr ? /\/(\d+)\s*$/.exec(cr) : null;
      if (res.status === 206 && m) return Number(m[1]);
      const cl = res.headers.get('content-length');
      if (res.status === 200 && res.headers.get('content-encoding') === null && cl !== null && /^\d+$/.test(cl.trim())) return Number(cl);
      return undefined;
    };
    let res: Response;
    try {
      res = await fetch(url, { method: 'HEAD', signal });
      let size = res.ok ? sizeOf(res) : undefined;
      if (size === undefined) {
        res = await fetch(url, { headers: { Range: 'bytes=0-0' }, signal });
        await res.body?.cancel();
        size = res.ok ? sizeOf(res) : undefined;
      }
      if (size === undefined || !Number.isSafeInteger(size)) {
        throw new IoError(`${name}: cannot determine the size of ${url} (HTTP ${res.status}; no Content-Length or Content-Range)`, { file: name });
      }
      return new HttpSource(name, url, size);
    } catch (e) {
      if (isAbort(e)) throw new CancelledError();
      if (e instanceof StudioError) throw e;
      throw new IoError(`${name}: cannot reach ${url}: ${reasonOf(e)}`, { file: name });
    }
  }

  async read(offset: number, length: number, signal?: AbortSignal): Promise<Uint8Array> {
    checkRead(this.name, this.size, offset, length);
    throwIfAborted(signal);
    if (length === 0) return new Uint8Array(0);
    const what = `${this.name}: HTTP read of ${rangeText(offset, length)} from ${this.url}`;
    let buf: ArrayBuffer;
    try {
      const res = await fetch(this.url, { headers: { Range: `bytes=${offset}-${offset + length - 1}` }, signal });
      const whole = offset === 0 && length === this.size;
      if (res.status !== 206 && !(res.status === 200 && whole)) {
        await res.body?.cancel().catch(() => undefined);
        const hint = res.status === 200 ? ' (the server ignored the Range header; it must support HTTP range requests)' : '';
        throw new IoError(`${what} failed: HTTP ${res.status} ${res.statusText}${hint}`, { file: this.name });
      }
      buf = await res.arrayBuffer();
    } catch (e) {
      if (isAbort(e) || signal?.aborted) throw new CancelledError();
      if (e instanceof StudioError) throw e;
      throw new IoError(`${what} failed: ${reasonOf(e)}`, { file: this.name });
    }
    if (buf.byteLength !== length) {
      throw new IoError(`${what} returned ${buf.byteLength} bytes instead of ${length} (did the file change on the server?)`, { file: this.name });
    }
    return new Uint8Array(buf);
  }

  async text(): Promise<string> {
    try {
      const res = await fetch(this.url);
      if (!res.ok) throw new IoError(`${this.name}: HTTP ${res.status} ${res.statusText} fetching ${this.url}`, { file: this.name });
      return await res.text();
    } catch (e) {
      if (e instanceof StudioError) throw e;
      throw new IoError(`${this.name}: cannot fetch ${this.url}: ${reasonOf(e)}`, { file: this.name });
    }
  }
}

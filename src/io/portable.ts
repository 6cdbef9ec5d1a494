// Reopening a byte source in another thread: a CPU engine worker receives PortableSource records
// (a Blob, a URL, bytes, or — in Node — a file path or a Hub file with the CLI's disk cache) and
// reads the same bytes the page would. Node files and Node Hub files are opened by an opener the
// Node worker registers (io/node-source.ts, io/hub/node-thread.ts), so this module
// stays free of node: imports and loads in the browser.
import { IoError } from '../errors';
import { BlobSource, HttpSource, MemorySource } from './sources';
import type { ByteSource, PortableSource } from './types';
import { HubFileSource } from './hub/source';
import { LazyOpfsBlockStore } from './hub/opfs-cache';

/** One OPFS cache per thread for the Hub sources reopened in it. */
let threadCache: LazyOpfsBlockStore | undefined;
function lazyCache(limit: number): LazyOpfsBlockStore {
  if (!threadCache || threadCache.persistentLimit !== limit) threadCache = new LazyOpfsBlockStore(limit);
  return threadCache;
}

type Opener = (p: PortableSource) => ByteSource;
let nodeFileOpener: Opener | undefined;

/** Registers how 'node-file' and 'node-hub' sources are opened in this thread (the Node worker does this). */
export function setNodeFileOpener(open: Opener): void {
  nodeFileOpener = open;
}

export function openPortable(p: PortableSource): ByteSource {
  switch (p.kind) {
    case 'blob':
      return new BlobSource(p.name, p.blob);
    case 'http':
      return new HttpSource(p.name, p.url, p.size);
    case 'memory':
      return new MemorySource(p.name, p.bytes);
    case 'hub':
      return new HubFileSource(p.file, { ...(p.token ? { token: p.token } : {}), ...(p.cacheBytes ? { cache: lazyCache(p.cacheBytes) } : {}) });
    case 'node-file':
    case 'node-hub':
      if (!nodeFileOpener) throw new IoError(`${p.name}: a ${p.kind === 'node-file' ? 'local file path' : 'Hub file through the disk cache'} cannot be read in this thread (no file system)`, { file: p.name });
      return nodeFileOpener(p);
  }
}

/** The portable form of a source, or an error naming it when it cannot cross threads. */
export function portableOf(s: ByteSource): PortableSource {
  const p = s.portable?.();
  if (!p) throw new IoError(`${s.name}: this source cannot be read from a worker thread`, { file: s.name });
  return p;
}

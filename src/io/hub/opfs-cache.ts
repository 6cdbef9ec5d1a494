// The studio's Hub byte cache in the origin-private file system (OPFS): one file per block
// ("<hash of the file key>-<index>.blk" in the folder "hub-cache"), bounded by a limit the user
// sets, least recently used out first (recency: the file's lastModified, refreshed in memory on
// every hit). The page (usage, clear, limit) and the workers (reads) open their own instances over
// the same folder; a block is written whole through a writable stream, which OPFS swaps in only on
// close, so no reader sees half a block.
import { DEFAULT_BLOCK_SIZE, keyHash, type BlockStore, type CacheUsage } from './cache';

export const OPFS_CACHE_DIR = 'hub-cache';
/** The default bound: 2 GB (decimal). */
export const DEFAULT_OPFS_CACHE_BYTES = 2e9;

interface Entry {
  bytes: number;
  used: number;
}

export class OpfsBlockStore implements BlockStore {
  private readonly entries = new Map<string, Entry>();
  private total = 0;
  private clock = 0;

  private constructor(
    private readonly dir: FileSystemDirectoryHandle,
    public limit: number,
    readonly blockSize: number,
  ) {}

  /** Tells a source's portable form that another thread can open this cache too (io/hub/source.ts). */
  get persistentLimit(): number {
    return this.limit;
  }

  /** Opens the cache folder (undefined where OPFS is unavailable) and indexes its blocks. */
  static async open(limit = DEFAULT_OPFS_CACHE_BYTES, blockSize = DEFAULT_BLOCK_SIZE): Promise<OpfsBlockStore | undefined> {
    if (typeof navigator === 'undefined' || !navigator.storage?.getDirectory) return undefined;
    try {
      const root = await navigator.storage.getDirectory();
      const dir = await root.getDirectoryHandle(OPFS_CACHE_DIR, { create: true });
      const s = new OpfsBlockStore(dir, limit, blockSize);
      const found: [string, number, number][] = [];
      for await (const [name, h] of dir as unknown as AsyncIterable<[string, FileSystemHandle]>) {
        if (h.kind !== 'file' || !name.endsWith('.blk')) continue;
        const f = await (h as FileSystemFileHandle).getFile();
        found.push([name, f.size, f.lastModified]);
      }
      found.sort((a, b) => a[2] - b[2]);
      for (const [name, bytes] of found) {
        s.entries.set(name, { bytes, used: ++s.clock });
        s.total += bytes;
      }
      await s.evict();
      return s;
    } catch {
      return undefined;
    }
  }

  private name(key: string, index: number): string {
    return `${keyHash(key)}-${index}.blk`;
  }

  async get(key: string, index: number): Promise<Uint8Array | undefined> {
    const name = this.name(key, index);
    const e = this.entries.get(name);
    try {
      const f = await (await this.dir.getFileHandle(name)).getFile();
      const b = new Uint8Array(await f.arrayBuffer());
      if (e) e.used = ++this.clock;
      else {
        // written by another instance (a worker) since this one opened
        this.entries.set(name, { bytes: b.length, used: ++this.clock });
        this.total += b.length;
      }
      return b;
    } catch {
      if (e) {
        this.entries.delete(name);
        this.total -= e.bytes;
      }
      return undefined;
    }
  }

  async put(key: string, index: number, bytes: Uint8Array): Promise<void> {
    if (bytes.length > this.limit) return;
    const name = this.name(key, index);
    if (this.entries.has(name)) return;
    const h = await this.dir.getFileHandle(name, { create: true });
    const w = await h.createWritable();
    await w.write(bytes as Uint8Array<ArrayBuffer>);
    await w.close();
    if (this.entries.has(name)) return;
    this.entries.set(name, { bytes: bytes.length, used: ++this.clock });
    this.total += bytes.length;
    await this.evict();
  }

  async setLimit(limit: number): Promise<void> {
    this.limit = limit;
    await this.evict();
  }

  private async evict(): Promise<void> {
    if (this.total <= this.limit) return;
    for (const [name, e] of [...this.entries].sort((a, b) => a[1].used - b[1].used)) {
      if (this.total <= this.limit) break;
      this.entries.delete(name);
      this.total -= e.bytes;
      await this.dir.removeEntry(name).catch(() => undefined);
    }
  }

  async usage(): Promise<CacheUsage> {
    return { bytes: this.total, blocks: this.entries.size, limit: this.limit };
  }

  async clear(): Promise<void> {
    for (const name of [...this.entries.keys()]) await this.dir.removeEntry(name).catch(() => undefined);
    for await (const [name] of this.dir as unknown as AsyncIterable<[string, FileSystemHandle]>) await this.dir.removeEntry(name).catch(() => undefined);
    this.entries.clear();
    this.total = 0;
  }
}

/**
 * An OPFS cache opened on first use: how a source reopened in another thread (a CPU engine Web
 * Worker) reaches the page's cache. Where OPFS is missing every lookup is a miss.
 */
export class LazyOpfsBlockStore implements BlockStore {
  private store: Promise<OpfsBlockStore | undefined> | undefined;
  constructor(
    private readonly limit: number,
    readonly blockSize = DEFAULT_BLOCK_SIZE,
  ) {}
  private open(): Promise<OpfsBlockStore | undefined> {
    this.store ??= OpfsBlockStore.open(this.limit, this.blockSize);
    return this.store;
  }
  get persistentLimit(): number {
    return this.limit;
  }
  async get(key: string, index: number) {
    return (await this.open())?.get(key, index);
  }
  async put(key: string, index: number, bytes: Uint8Array) {
    await (await this.open())?.put(key, index, bytes);
  }
  async usage(): Promise<CacheUsage> {
    return (await (await this.open())?.usage()) ?? { bytes: 0, blocks: 0, limit: this.limit };
  }
  async clear() {
    await (await this.open())?.clear();
  }
}

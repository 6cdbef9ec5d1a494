// The CLI's Hub byte cache: a folder of blocks (io/hub/cache.ts), bounded in bytes, least recently
// used out first. Node only.
//
//   <dir>/blocks/<hash of the file key>/key          the key (host/repo/commit/path#size), for people
//   <dir>/blocks/<hash of the file key>/<index>.blk  block <index> of that file
//
// A block is written to a temporary name and renamed, so a reader never sees half a block and two
// processes may share the folder. Recency is the block's mtime (touched on every hit), so it
// survives between runs; the index of blocks is read from the folder when the store opens.
import { mkdir, readdir, readFile, rename, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_BLOCK_SIZE, keyHash, type BlockStore, type CacheUsage } from './cache';

/** Where the Hub's own tools keep their cache: $HF_HOME, else $XDG_CACHE_HOME/huggingface, else ~/.cache/huggingface. */
export function defaultHubCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  const hfHome = env.HF_HOME || join(env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'huggingface');
  return join(hfHome, 'merge-studio');
}

interface Entry {
  path: string;
  bytes: number;
  used: number;
  /** The block file's mtime as this store last set or saw it (epoch ms): its recency between runs. */
  mtime: number;
}

/** A block's mtime is refreshed on a hit only when older than this: recency between runs needs no finer grain, and a touch per 4 MiB read is a syscall the merge's threads pay. */
const TOUCH_AFTER_MS = 60_000;

export class DiskBlockStore implements BlockStore {
  private readonly entries = new Map<string, Entry>();
  /** Block folders this store made (or found) since it opened or was cleared. */
  private readonly folders = new Set<string>();
  private total = 0;
  private clock = 0;

  private constructor(
    readonly dir: string,
    readonly limit: number,
    readonly blockSize: number,
  ) {}

  /** Opens (creating) the cache folder and indexes the blocks already there. */
  static async open(dir: string, limit: number, blockSize = DEFAULT_BLOCK_SIZE): Promise<DiskBlockStore> {
    const s = new DiskBlockStore(dir, limit, blockSize);
    await s.rescan();
    return s;
  }

  /**
   * The same folder for another thread (a CPU engine worker) without indexing it first: blocks are
   * looked up on disk, written under temporary names and renamed. The size bound is kept by the
   * store that opened the folder (rescan after the threads are done) and by this one for what it
   * writes.
   */
  static attach(dir: string, limit: number, blockSize = DEFAULT_BLOCK_SIZE): DiskBlockStore {
    return new DiskBlockStore(dir, limit, blockSize);
  }

  /** Indexes the blocks in the folder again (other threads or processes wrote some) and evicts down to the bound. */
  async rescan(): Promise<void> {
    const dir = this.dir;
    await mkdir(join(dir, 'blocks'), { recursive: true });
    this.entries.clear();
    this.folders.clear();
    this.total = 0;
    const s = this;
    const found: { id: string; e: Entry }[] = [];
    for (const h of await readdir(join(dir, 'blocks')).catch(() => [] as string[])) {
      const sub = join(dir, 'blocks', h);
      for (const n of await readdir(sub).catch(() => [] as string[])) {
        if (!n.endsWith('.blk')) continue;
        const path = join(sub, n);
        const st = await stat(path).catch(() => undefined);
        if (st?.isFile()) found.push({ id: `${h}/${n}`, e: { path, bytes: st.size, used: st.mtimeMs, mtime: st.mtimeMs } });
      }
    }
    found.sort((a, b) => a.e.used - b.e.used);
    for (const { id, e } of found) {
      s.entries.set(id, { ...e, used: ++s.clock });
      s.total += e.bytes;
    }
    await s.evict();
  }

  /**
   * The last blocks read or written, in memory (bounded by HOT_BYTES): a tensor's chunks and the
   * small tensors around it are read from one block many times in a row.
   */
  private readonly hot = new Map<string, Uint8Array>();
  private hotBytes = 0;
  static readonly HOT_BYTES = 64 * 1024 * 1024;

  private remember(id: string, b: Uint8Array): void {
    const old = this.hot.get(id);
    if (old) this.hotBytes -= old.length;
    this.hot.delete(id);
    this.hot.set(id, b);
    this.hotBytes += b.length;
    for (const [k, v] of this.hot) {
      if (this.hotBytes <= DiskBlockStore.HOT_BYTES) break;
      this.hot.delete(k);
      this.hotBytes -= v.length;
    }
  }

  private id(key: string, index: number): { id: string; sub: string; file: string } {
    const h = keyHash(key);
    const sub = join(this.dir, 'blocks', h);
    return { id: `${h}/${index}.blk`, sub, file: join(sub, `${index}.blk`) };
  }

  async get(key: string, index: number): Promise<Uint8Array | undefined> {
    const { id, file } = this.id(key, index);
    let e = this.entries.get(id);
    if (!e) {
      // not indexed here: another thread or process may have stored it since this store opened
      const st = await stat(file).catch(() => undefined);
      if (!st?.isFile() || st.size === 0) return undefined;
      e = { path: file, bytes: st.size, used: ++this.clock, mtime: st.mtimeMs };
      this.entries.set(id, e);
      this.total += e.bytes;
    }
    const hot = this.hot.get(id);
    if (hot) {
      this.hot.delete(id);
      this.hot.set(id, hot);
      e.used = ++this.clock;
      return hot;
    }
    try {
      const b = new Uint8Array(await readFile(file));
      if (b.length !== e.bytes) throw new Error('changed');
      e.used = ++this.clock;
      this.remember(id, b);
      const now = Date.now();
      if (now - e.mtime > TOUCH_AFTER_MS) {
        e.mtime = now;
        await utimes(file, new Date(now), new Date(now)).catch(() => undefined);
      }
      return b;
    } catch {
      this.entries.delete(id);
      this.total -= e.bytes;
      return undefined;
    }
  }

  async has(key: string, index: number, length: number): Promise<boolean> {
    const { id, file } = this.id(key, index);
    const e = this.entries.get(id);
    if (e) return e.bytes === length;
    const st = await stat(file).catch(() => undefined);
    return !!st?.isFile() && st.size === length;
  }

  async put(key: string, index: number, bytes: Uint8Array): Promise<void> {
    if (bytes.length > this.limit) return;
    const { id, sub, file } = this.id(key, index);
    if (this.entries.has(id)) return;
    const makeFolder = async () => {
      await mkdir(sub, { recursive: true });
      await writeFile(join(sub, 'key'), key).catch(() => undefined);
      this.folders.add(sub);
    };
    // once per file's folder in this store, not per block (again if the folder went away meanwhile)
    if (!this.folders.has(sub)) await makeFolder();
    const tmp = `${file}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
    await writeFile(tmp, bytes).catch(async (e: unknown) => {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      await makeFolder();
      await writeFile(tmp, bytes);
    });
    await rename(tmp, file);
    if (this.entries.has(id)) return; // a concurrent put of the same block
    this.entries.set(id, { path: file, bytes: bytes.length, used: ++this.clock, mtime: Date.now() });
    this.remember(id, bytes);
    this.total += bytes.length;
    await this.evict();
  }

  private async evict(): Promise<void> {
    if (this.total <= this.limit) return;
    const byAge = [...this.entries].sort((a, b) => a[1].used - b[1].used);
    for (const [id, e] of byAge) {
      if (this.total <= this.limit) break;
      this.entries.delete(id);
      this.total -= e.bytes;
      const hot = this.hot.get(id);
      if (hot) {
        this.hot.delete(id);
        this.hotBytes -= hot.length;
      }
      await rm(e.path, { force: true }).catch(() => undefined);
    }
  }

  async usage(): Promise<CacheUsage> {
    return { bytes: this.total, blocks: this.entries.size, limit: this.limit };
  }

  async clear(): Promise<void> {
    await rm(join(this.dir, 'blocks'), { recursive: true, force: true });
    await mkdir(join(this.dir, 'blocks'), { recursive: true });
    this.entries.clear();
    this.folders.clear();
    this.hot.clear();
    this.hotBytes = 0;
    this.total = 0;
  }
}

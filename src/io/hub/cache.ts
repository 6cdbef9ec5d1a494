// The Hub byte cache's shape: fixed-size blocks of files pinned to a commit (so a block never goes
// stale), kept by a BlockStore — a folder in the CLI (io/hub/node-cache.ts), OPFS in the studio
// (io/hub/opfs-cache.ts), memory in tests. Stores are bounded and evict least recently used
// blocks first. A store that fails is treated as a miss (the bytes come from the network).

/** Cache blocks are 4 MiB: large enough that a tensor read is a few requests, small enough to bound over-reading. */
export const DEFAULT_BLOCK_SIZE = 4 * 1024 * 1024;

export interface CacheUsage {
  bytes: number;
  blocks: number;
  limit: number;
}

export interface BlockStore {
  readonly blockSize: number;
  /** The block's bytes, or undefined (a miss). Marks it recently used. */
  get(key: string, index: number): Promise<Uint8Array | undefined>;
  /** Stores a block (the last block of a file may be short); may evict others. */
  put(key: string, index: number, bytes: Uint8Array): Promise<void>;
  /** Whether the block is stored with `length` bytes, without reading it (optional; else get). */
  has?(key: string, index: number, length: number): Promise<boolean>;
  usage(): Promise<CacheUsage>;
  clear(): Promise<void>;
}

/**
 * The cache key of a file: where it lives (endpoint host, repo, commit, path) and its size. A
 * commit's files are immutable, so the key never names changed bytes.
 */
export function hubFileKey(f: { endpoint: string; repo: string; commit: string; path: string; size: number }): string {
  let host: string;
  try {
    host = new URL(f.endpoint).host;
  } catch {
    host = f.endpoint;
  }
  return `${host}/${f.repo}/${f.commit}/${f.path}#${f.size}`;
}

/** FNV-1a 64 (as two 32-bit halves) → 16 hex digits: file names for keys. Not a security hash. */
export function keyHash(key: string): string {
  let h1 = 0x811c9dc5;
  let h2 = 0xcbf29ce4;
  for (let i = 0; i < key.length; i++) {
    const c = key.charCodeAt(i);
    h1 = Math.imul(h1 ^ c, 0x01000193) >>> 0;
    h2 = Math.imul(h2 ^ c ^ (h1 >>> 7), 0x01000193) >>> 0;
  }
  return h1.toString(16).padStart(8, '0') + h2.toString(16).padStart(8, '0');
}

/** An in-memory LRU block store (tests; also a fallback when no persistent store is available). */
export class MemoryBlockStore implements BlockStore {
  private readonly blocks = new Map<string, Uint8Array>();
  private bytes = 0;
  constructor(
    readonly limit: number,
    readonly blockSize = DEFAULT_BLOCK_SIZE,
  ) {}

  async get(key: string, index: number): Promise<Uint8Array | undefined> {
    const k = `${key}|${index}`;
    const b = this.blocks.get(k);
    if (!b) return undefined;
    this.blocks.delete(k);
    this.blocks.set(k, b); // most recent last
    return b;
  }

  async put(key: string, index: number, bytes: Uint8Array): Promise<void> {
    if (bytes.length > this.limit) return;
    const k = `${key}|${index}`;
    const old = this.blocks.get(k);
    if (old) {
      this.bytes -= old.length;
      this.blocks.delete(k);
    }
    this.blocks.set(k, bytes.slice());
    this.bytes += bytes.length;
    for (const [victim, b] of this.blocks) {
      if (this.bytes <= this.limit) break;
      this.blocks.delete(victim);
      this.bytes -= b.length;
    }
  }

  async usage(): Promise<CacheUsage> {
    return { bytes: this.bytes, blocks: this.blocks.size, limit: this.limit };
  }

  async clear(): Promise<void> {
    this.blocks.clear();
    this.bytes = 0;
  }
}

// Hub reads shared between threads of one process (the CLI and its CPU engine worker threads):
// byte counters in shared memory (network, cache, retries: the process's one set of figures, exact
// when a thread replies) and a claim table per file, so that two threads missing the same cache
// block fetch it once — the first claims it, the others wait until it is in the cache. Isomorphic
// (SharedArrayBuffer + Atomics); the threads exchange these buffers by postMessage.

/** Counter slots in a counters buffer. */
const NETWORK = 0;
const CACHE = 1;
const RETRIES = 2;

/** A buffer for the counters (three 64-bit integers). */
export function newHubCounters(): SharedArrayBuffer {
  return new SharedArrayBuffer(3 * 8);
}

/** The counters as numbers. */
export function readHubCounters(buf: SharedArrayBuffer): { network: number; cache: number; retries: number } {
  const a = new BigInt64Array(buf);
  return { network: Number(Atomics.load(a, NETWORK)), cache: Number(Atomics.load(a, CACHE)), retries: Number(Atomics.load(a, RETRIES)) };
}

/** A HubMeter (io/hub/source.ts) that adds to shared counters; retry messages go to `onRetry`. */
export class SharedHubMeter {
  private readonly a: BigInt64Array;
  constructor(
    buf: SharedArrayBuffer,
    private readonly onRetry?: (what: string) => void,
  ) {
    this.a = new BigInt64Array(buf);
  }
  network(bytes: number): void {
    Atomics.add(this.a, NETWORK, BigInt(bytes));
  }
  cache(bytes: number): void {
    Atomics.add(this.a, CACHE, BigInt(bytes));
  }
  retry(what: string): void {
    Atomics.add(this.a, RETRIES, 1n);
    this.onRetry?.(what);
  }
}

const FREE = 0;
const FETCHING = 1;
const STORED = 2;

/** A claim table for one file's cache blocks (one 32-bit state per block). */
export function newBlockClaims(fileSize: number, blockSize: number): SharedArrayBuffer {
  return new SharedArrayBuffer(Math.max(1, Math.ceil(fileSize / blockSize)) * 4);
}

/** Who fetches a missing block when several threads miss it at once (see HubReadOptions.claims). */
export interface BlockClaims {
  /**
   * True: this thread fetches block `index` (and must call settle); false: another one is fetching
   * it or has stored it (wait, then read the cache; fetch it only if the cache still misses).
   */
  claim(index: number): boolean;
  /** The claimed block is in the cache (ok) or its fetch failed (others may claim it again). */
  settle(index: number, ok: boolean): void;
  /** Resolves when no other thread is fetching block `index`. */
  wait(index: number, signal?: AbortSignal): Promise<void>;
}

export class SharedBlockClaims implements BlockClaims {
  private readonly s: Int32Array;
  constructor(buf: SharedArrayBuffer) {
    this.s = new Int32Array(buf);
  }
  claim(index: number): boolean {
    if (index >= this.s.length) return true;
    return Atomics.compareExchange(this.s, index, FREE, FETCHING) === FREE;
  }
  settle(index: number, ok: boolean): void {
    if (index >= this.s.length) return;
    Atomics.store(this.s, index, ok ? STORED : FREE);
  }
  async wait(index: number, signal?: AbortSignal): Promise<void> {
    // a block takes tens of milliseconds or more to arrive: polling every few ms costs nothing
    for (let delay = 1; index < this.s.length && Atomics.load(this.s, index) === FETCHING; delay = Math.min(8, delay * 2)) {
      if (signal?.aborted) return;
      await new Promise((ok) => setTimeout(ok, delay));
    }
  }
}

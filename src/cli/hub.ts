// The CLI's Hub access: endpoint (HF_ENDPOINT), token (--token or HF_TOKEN; never printed), the
// disk block cache (--cache-dir, bounded, LRU) and the byte counters behind the progress line
// (network MB/s, bytes left, ETA) and the benchmark's cache hit share.
// - The CPU engine's worker threads read Hub files themselves (io/hub/node-thread.ts): each opens
//   the same cache folder, fetches misses from the Hub with the token handed to it in memory, and
//   adds to this process's counters in shared memory (io/hub/shared.ts); a block missed by several
//   threads at once is fetched once. No localhost hop: cached blocks are read at disk speed.
// - The page (WebGPU) reads them through the CLI's localhost server (server.ts), which reads them
//   in this process.
import { CancelledError, StudioError } from '../errors';
import { DEFAULT_HUB_ENDPOINT, resolveHubModel, type HubAccess } from '../io/hub/resolve';
import { formatHubRef, parseHubRefOrThrow } from '../io/hub/ref';
import { HubFileSource, type HubMeter } from '../io/hub/source';
import type { BlockStore } from '../io/hub/cache';
import { DiskBlockStore, defaultHubCacheDir } from '../io/hub/node-cache';
import { HubPrefetcher } from '../io/hub/prefetch';
import { DEFAULT_RETRY, type RetryPolicy } from '../io/hub/retry';
import { newBlockClaims, newHubCounters, readHubCounters, SharedBlockClaims, SharedHubMeter } from '../io/hub/shared';
import type { ByteSource, PortableSource } from '../io/types';
import type { ResolvedModel } from './models';
import { formatBytes, formatDuration } from './progress';

/** Default cache bound: 20 GB (decimal, like the sizes printed). */
export const DEFAULT_CACHE_BYTES = 20e9;

/** How far the prefetcher runs ahead of the engine's reads (bytes; at most half the cache bound). */
export const PREFETCH_BUDGET_BYTES = 256 * 1024 * 1024;
/** Range requests the prefetcher keeps in flight, each a run of up to PREFETCH_RUN_BLOCKS cache blocks. */
export const PREFETCH_CONCURRENCY = 6;
export const PREFETCH_RUN_BLOCKS = 4;

export interface HubCliOptions {
  token?: string;
  /** A folder, or null for no cache. Default: $HF_HOME/merge-studio. */
  cacheDir?: string | null;
  cacheBytes?: number;
  retry?: RetryPolicy;
  env?: NodeJS.ProcessEnv;
  /** Told about retries (printed as warnings). */
  onRetry?: (message: string) => void;
}

/**
 * Counts bytes from the network and from the cache, for this process and its worker threads (the
 * shared counters they add to); the progress line reads its rate.
 */
export class HubStats implements HubMeter {
  /** Shared with the worker threads (io/hub/shared.ts); this thread adds to it too. */
  readonly counters = newHubCounters();
  private readonly meter: SharedHubMeter;
  private readonly samples: { t: number; n: number }[] = [];
  constructor(private readonly onRetry?: (message: string) => void) {
    this.meter = new SharedHubMeter(this.counters);
  }

  get networkBytes(): number {
    return readHubCounters(this.counters).network;
  }
  get cacheBytes(): number {
    return readHubCounters(this.counters).cache;
  }
  get retries(): number {
    return readHubCounters(this.counters).retries;
  }

  private sample(): void {
    const t = performance.now();
    const n = this.networkBytes;
    const lastSample = this.samples[this.samples.length - 1];
    if (lastSample && lastSample.n === n && this.samples.length > 1 && t - lastSample.t < 3000) return;
    this.samples.push({ t, n });
    while (this.samples.length > 2 && t - this.samples[0].t > 3000) this.samples.shift();
  }

  network(bytes: number): void {
    this.meter.network(bytes);
    this.sample();
  }
  cache(bytes: number): void {
    this.meter.cache(bytes);
  }
  retry(what: string): void {
    this.meter.retry(what);
    this.onRetry?.(what);
  }
  /** A retry in a worker thread (already counted there): only the message. */
  retryElsewhere(what: string): void {
    this.onRetry?.(what);
  }
  /** Network bytes per second over the last ~3 s (worker threads' bytes included). */
  rate(): number {
    this.sample();
    if (this.samples.length < 2) return 0;
    const a = this.samples[0];
    const b = this.samples[this.samples.length - 1];
    const dt = Math.max(performance.now(), b.t) - a.t;
    return dt > 0 ? ((b.n - a.n) / dt) * 1000 : 0;
  }
  /** Share of the bytes read that came from the cache. */
  hitShare(): number {
    const { network, cache } = readHubCounters(this.counters);
    const all = network + cache;
    return all ? cache / all : 0;
  }
}

/** "hub 95.3 MB/s, 1.2 GB left, ETA 13 s" for the progress line. */
export function networkLine(stats: HubStats, bytesLeft: number): string {
  const r = stats.rate();
  return `hub ${formatBytes(r)}/s, ${formatBytes(bytesLeft)} left${r > 0 && bytesLeft > 0 ? `, ETA ${formatDuration((bytesLeft / r) * 1000)}` : ''}`;
}

/**
 * A Hub file of the CLI: read here (preflight, the card, the page's reads through the server), and
 * by the CPU engine's worker threads themselves from its portable form.
 */
class CliHubSource implements ByteSource {
  constructor(
    readonly inner: HubFileSource,
    private readonly forThreads: Extract<PortableSource, { kind: 'node-hub' }>,
    private readonly onError: (e: unknown) => void,
  ) {}
  get name() {
    return this.inner.name;
  }
  get size() {
    return this.inner.size;
  }
  read(offset: number, length: number, signal?: AbortSignal) {
    return this.inner.read(offset, length, signal).catch((e: unknown) => {
      this.onError(e);
      throw e;
    });
  }
  text() {
    return this.inner.text().catch((e: unknown) => {
      this.onError(e);
      throw e;
    });
  }
  portable(): PortableSource {
    const storageUrl = this.inner.storageUrl;
    return storageUrl ? { ...this.forThreads, storageUrl } : this.forThreads;
  }
}

export class CliHub {
  readonly stats: HubStats;
  /** The first failed Hub read in this process (the page sees only a cut server connection; this names repo and file). */
  failure: StudioError | undefined;
  private constructor(
    readonly access: HubAccess,
    readonly cache: BlockStore | undefined,
    readonly cacheDir: string | undefined,
    private readonly retry: RetryPolicy | undefined,
    onRetry?: (message: string) => void,
  ) {
    this.stats = new HubStats(onRetry);
  }

  /** Carries the worker threads' retry warnings here (the counters are shared memory). */
  private channel: BroadcastChannel | undefined;
  private readonly channelName = `merge-studio-hub-${process.pid}-${Math.random().toString(36).slice(2)}`;

  private listen(): string {
    if (!this.channel) {
      const c = new BroadcastChannel(this.channelName);
      (c as unknown as { unref?: () => void }).unref?.();
      c.onmessage = (ev) => {
        if (typeof ev.data === 'string') this.stats.retryElsewhere(ev.data);
      };
      this.channel = c;
    }
    return this.channelName;
  }

  /** After the worker threads are done: index the blocks they stored and keep the size bound; stop listening. */
  async settle(): Promise<void> {
    this.channel?.close();
    this.channel = undefined;
    if (this.cache instanceof DiskBlockStore) await this.cache.rescan().catch(() => undefined);
  }

  static async open(o: HubCliOptions = {}): Promise<CliHub> {
    const env = o.env ?? process.env;
    const endpoint = (env.HF_ENDPOINT || DEFAULT_HUB_ENDPOINT).replace(/\/+$/, '');
    const token = o.token ?? (env.HF_TOKEN || env.HUGGING_FACE_HUB_TOKEN || undefined);
    const dir = o.cacheDir === null ? undefined : (o.cacheDir ?? defaultHubCacheDir(env));
    const cache = dir ? await DiskBlockStore.open(dir, o.cacheBytes ?? DEFAULT_CACHE_BYTES) : undefined;
    return new CliHub({ endpoint, ...(token ? { token } : {}), ...(o.retry ? { retry: o.retry } : {}), onRetry: (w) => o.onRetry?.(w) }, cache, dir, o.retry, o.onRetry);
  }

  /** Resolves a Hub reference to its pinned commit and opens its files (sources with cache and counters). */
  async resolve(ref: string, signal?: AbortSignal): Promise<ResolvedModel> {
    const hubRef = parseHubRefOrThrow(ref);
    const model = await resolveHubModel(hubRef, this.access, signal);
    const files = model.files.map((f) => {
      const file = { endpoint: model.endpoint, repo: model.repo, commit: model.commit, path: f.path, size: f.size };
      const claims = this.cache ? newBlockClaims(f.size, this.cache.blockSize) : undefined;
      const src = new HubFileSource(file, {
        token: this.access.token,
        cache: this.cache,
        meter: this.stats,
        ...(this.retry ? { retry: this.retry } : {}),
        // no read-ahead here: the headers are read before the plan exists (reading ahead then put 8
        // blocks per file on the link in front of the other headers); the prefetcher reads ahead
        // once the plan says what (prefetch below)
        ...(claims ? { claims: new SharedBlockClaims(claims) } : {}),
      });
      const forThreads: Extract<PortableSource, { kind: 'node-hub' }> = {
        kind: 'node-hub',
        name: f.path,
        file,
        ...(this.access.token ? { token: this.access.token } : {}),
        ...(this.cacheDir && this.cache ? { cacheDir: this.cacheDir, cacheBytes: (this.cache as DiskBlockStore).limit } : {}),
        retry: { ...(this.retry ?? DEFAULT_RETRY) },
        counters: this.stats.counters,
        ...(claims ? { claims } : {}),
        channel: this.listen(),
      };
      const onError = (e: unknown) => {
        if (e instanceof StudioError && !(e instanceof CancelledError)) this.failure ??= e;
      };
      return { path: f.path, size: f.size, source: new CliHubSource(src, forThreads, onError) as ByteSource };
    });
    return { ref, hub: model, files };
  }

  /**
   * Starts fetching the Hub byte ranges a merge will read, in the order given (io/hub/prefetch.ts),
   * into the block cache the engine's readers use; undefined when there is no cache or no Hub
   * range. Its network bytes count as this process's; stop() it when the merge ends.
   */
  prefetch(ranges: { source: ByteSource; offset: number; length: number }[], o: { budgetBytes?: number; concurrency?: number; runBlocks?: number } = {}): HubPrefetcher | undefined {
    const cache = this.cache;
    if (!cache) return undefined;
    const stats = this.stats;
    let own = 0;
    const meter: HubMeter = {
      network: (n) => {
        own += n;
        stats.network(n);
      },
      cache: () => undefined,
      retry: (w) => stats.retry(w),
    };
    // a source of its own per file (its meter tells its bytes apart); the claim table is shared
    const mine = new Map<CliHubSource, HubFileSource>();
    const hubRanges = [];
    for (const r of ranges) {
      if (!(r.source instanceof CliHubSource)) continue;
      let src = mine.get(r.source);
      if (!src) {
        const t = r.source.portable() as Extract<PortableSource, { kind: 'node-hub' }>;
        src = new HubFileSource(t.file, {
          token: this.access.token,
          cache,
          meter,
          retry: t.retry ?? this.retry ?? DEFAULT_RETRY,
          ...(t.claims ? { claims: new SharedBlockClaims(t.claims) } : {}),
        });
        src.useStorageUrl(t.storageUrl);
        mine.set(r.source, src);
      }
      hubRanges.push({ source: src, offset: r.offset, length: r.length });
    }
    if (!hubRanges.length) return undefined;
    const { network, cache: cached } = readHubCounters(stats.counters);
    const before = network + cached;
    const limit = (cache as { limit?: number }).limit ?? Infinity;
    return new HubPrefetcher(hubRanges, {
      blockSize: cache.blockSize,
      // what the readers have read since: every byte they read is counted once, from the network or the cache
      consumed: () => {
        const c = readHubCounters(stats.counters);
        return c.network + c.cache - before - own;
      },
      budgetBytes: Math.min(o.budgetBytes ?? PREFETCH_BUDGET_BYTES, limit / 2),
      concurrency: o.concurrency ?? PREFETCH_CONCURRENCY,
      runBlocks: o.runBlocks ?? PREFETCH_RUN_BLOCKS,
    });
  }

  /** "org/name@main → 1a2b3c4 (5 files, 1.2 GB) on https://…" */
  static describe(m: ResolvedModel): string {
    const h = m.hub!;
    const bytes = h.files.reduce((n, f) => n + f.size, 0);
    return `${m.ref}: ${formatHubRef({ repo: h.repo, revision: h.revision })} → commit ${h.commit.slice(0, 12)} on ${h.endpoint} (${h.files.length} files, ${formatBytes(bytes)})`;
  }
}

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
import { parseShardIndex, SHARD_INDEX_FILE } from '../formats/safetensors';
import { FINGERPRINT_SAMPLE } from '../formats/fingerprint';
import { formatBytes, formatDuration } from './progress';

/** Default cache bound: 20 GB (decimal, like the sizes printed). */
export const DEFAULT_CACHE_BYTES = 20e9;

/**
 * How far the prefetcher runs ahead of the engine's reads, in bytes, as a share of the disk cache's
 * bound: what it fetched and nobody has read yet (≤ the budget), plus what was read or fetched
 * since (≤ the budget again, plus the threads' own read-ahead and block rounding) stays under the
 * bound, so the cache's LRU never evicts a block before it is read. The blocks wait on disk, not in
 * memory (memory holds only the requests in flight: PREFETCH_WINDOW_BYTES).
 */
export const PREFETCH_BUDGET_SHARE = 1 / 3;
/** Range requests the prefetcher keeps in flight at most, each a run of up to PREFETCH_RUN_BLOCKS cache blocks. */
export const PREFETCH_CONCURRENCY = 16;
export const PREFETCH_RUN_BLOCKS = 4;
/**
 * Bytes the prefetcher has asked for and not yet received, at most: a new request starts when the
 * window has room, while the others still arrive (requests ending together left the link idle for
 * a round trip each time), and 32 MiB is about 0.3 s at 100 MB/s: a reader waiting on a block waits
 * no longer than that.
 */
export const PREFETCH_WINDOW_BYTES = 32 * 1024 * 1024;
/**
 * A safetensors file's first block is fetched as two requests at once: its first 512 KiB (the
 * header of a model of this size; a larger header is read from the whole block), which the header
 * read takes as soon as they arrive, and the rest of the block. The plan is built while the rest
 * keeps the link busy.
 */
export const EARLY_HEAD_BYTES = 512 * 1024;

export interface HubCliOptions {
  token?: string;
  /** A folder, or null for no cache. Default: $HF_HOME/merge-studio. */
  cacheDir?: string | null;
  cacheBytes?: number;
  retry?: RetryPolicy;
  env?: NodeJS.ProcessEnv;
  /** Told about retries (printed as warnings). */
  onRetry?: (message: string) => void;
  /**
   * As soon as a repo's file listing is known (before any header is parsed or a plan exists), fetch
   * into the cache what reading its headers needs — the first block of each safetensors file
   * (header and first tensors) and the small JSON files the headers come with — with the
   * prefetcher, which later follows the plan (prefetch()). 'merge' (the merge command): also each
   * safetensors file's last block, which the model card's fingerprint reads before the merge
   * starts. Needs a cache; stopPrefetch() when done.
   */
  readEarly?: false | 'headers' | 'merge';
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
  /** The prefetcher's source of the same file (its own meter; the same cache and claim table). */
  prefetchSource: HubFileSource | undefined;
  constructor(
    readonly inner: HubFileSource,
    private readonly forThreads: Extract<PortableSource, { kind: 'node-hub' }>,
    private readonly onError: (e: unknown) => void,
    private readonly meter: HubMeter,
  ) {}
  get name() {
    return this.inner.name;
  }
  get size() {
    return this.inner.size;
  }
  /** Where the Hub redirected this file (found by this thread's reads or the prefetcher's). */
  get storageUrl(): string | undefined {
    return this.inner.storageUrl ?? this.prefetchSource?.storageUrl;
  }
  read(offset: number, length: number, signal?: AbortSignal): Promise<Uint8Array> {
    // a header read while the prefetcher brings the file's first bytes ahead of its first block
    const head = this.prefetchSource?.headBytes;
    if (head && length > 0 && offset >= 0 && offset + length <= head.length && !signal?.aborted)
      return head.bytes.then(
        (b) => {
          this.meter.cache(length);
          return b.slice(offset, offset + length);
        },
        () => this.readInner(offset, length, signal),
      );
    return this.readInner(offset, length, signal);
  }
  private readInner(offset: number, length: number, signal?: AbortSignal): Promise<Uint8Array> {
    this.inner.useStorageUrl(this.prefetchSource?.storageUrl);
    return this.inner.read(offset, length, signal).catch((e: unknown) => {
      this.onError(e);
      throw e;
    });
  }
  text() {
    this.inner.useStorageUrl(this.prefetchSource?.storageUrl);
    return this.inner.text().catch((e: unknown) => {
      this.onError(e);
      throw e;
    });
  }
  portable(): PortableSource {
    const storageUrl = this.storageUrl;
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
    private readonly readEarly: false | 'headers' | 'merge' = false,
  ) {
    this.stats = new HubStats(onRetry);
  }

  /** The one prefetcher of this command (early reads, then the plan's), created on first use. */
  private pf: HubPrefetcher | undefined;
  /** Network bytes the prefetcher's sources received (told apart from the readers' bytes). */
  private pfOwn = 0;
  private pfMeter: HubMeter | undefined;

  private prefetcherFor(cache: BlockStore): HubPrefetcher {
    if (!this.pf) {
      const stats = this.stats;
      this.pfMeter = {
        network: (n) => {
          this.pfOwn += n;
          stats.network(n);
        },
        cache: () => undefined,
        retry: (w) => stats.retry(w),
      };
      const limit = (cache as { limit?: number }).limit ?? Infinity;
      this.pf = new HubPrefetcher([], {
        blockSize: cache.blockSize,
        budgetBytes: Number.isFinite(limit) ? limit * PREFETCH_BUDGET_SHARE : Infinity,
        concurrency: PREFETCH_CONCURRENCY,
        windowBytes: PREFETCH_WINDOW_BYTES,
        runBlocks: PREFETCH_RUN_BLOCKS,
        open: true,
      });
    }
    return this.pf;
  }

  /** The prefetcher's own source for a file (same cache and claim table, its own meter and storage URL). */
  private prefetchSourceOf(src: CliHubSource, cache: BlockStore): HubFileSource {
    if (!src.prefetchSource) {
      this.prefetcherFor(cache);
      const t = src.portable() as Extract<PortableSource, { kind: 'node-hub' }>;
      const own = new HubFileSource(t.file, {
        token: this.access.token,
        cache,
        meter: this.pfMeter,
        retry: t.retry ?? this.retry ?? DEFAULT_RETRY,
        ...(t.claims ? { claims: new SharedBlockClaims(t.claims) } : {}),
      });
      own.useStorageUrl(t.storageUrl);
      src.prefetchSource = own;
    }
    return src.prefetchSource;
  }

  /** Stops the prefetcher (cancelling what is in flight) and waits for it. */
  async stopPrefetch(): Promise<void> {
    await this.pf?.stop();
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
    return new CliHub(
      { endpoint, ...(token ? { token } : {}), ...(o.retry ? { retry: o.retry } : {}), onRetry: (w) => o.onRetry?.(w) },
      cache,
      dir,
      o.retry,
      o.onRetry,
      o.readEarly ?? false,
    );
  }

  /**
   * Resolves a Hub reference to its pinned commit and opens its files (sources with cache and
   * counters). With readEarly, what reading its headers will need starts downloading now: `role`
   * says which files (a model's weights and config.json / shard index; an adapter's weights and
   * adapter_config.json).
   */
  async resolve(ref: string, signal?: AbortSignal, role: 'model' | 'adapter' = 'model'): Promise<ResolvedModel> {
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
      return { path: f.path, size: f.size, source: new CliHubSource(src, forThreads, onError, this.stats) as ByteSource };
    });
    if (this.readEarly && this.cache) this.readHeadersEarly(files, role, this.cache);
    return { ref, hub: model, files };
  }

  /**
   * Queues the first block of each safetensors file the model's opening reads (the header is at
   * the start: the request brings the header and the first tensors; reading the header reads that
   * block anyway) and the whole of the small JSON files opening it reads (config.json and the shard
   * index, or adapter_config.json). With a shard index, only the shards it names (known once the
   * index is in: a repo may hold other weights, e.g. consolidated.safetensors, the merge never
   * reads). Nothing past a file's first block: which tensors the merge needs is known only from the
   * plan (prefetch()).
   */
  private readHeadersEarly(files: { path: string; size: number; source: ByteSource }[], role: 'model' | 'adapter', cache: BlockStore): void {
    const pf = this.prefetcherFor(cache);
    const B = cache.blockSize;
    const early = (f: { size: number; source: ByteSource } | undefined, whole: boolean): HubFileSource | undefined => {
      if (!f || !(f.source instanceof CliHubSource) || f.size === 0) return undefined;
      const own = this.prefetchSourceOf(f.source, cache);
      const last = Math.floor((f.size - 1) / B);
      if (whole) pf.early(own, 0, last);
      else {
        pf.early(own, 0, 0, EARLY_HEAD_BYTES);
        // and its last block: the model card's fingerprint reads the file's last 64 KiB (cli/merge.ts
        // cardIdentities) before the merge starts, whatever the plan
        if (this.readEarly === 'merge') {
          const from = Math.max(1, Math.floor(Math.max(0, f.size - FINGERPRINT_SAMPLE) / B));
          if (from <= last) pf.early(own, from, last);
        }
      }
      return own;
    };
    const named = (path: string) => files.find((f) => f.path === path);
    if (role === 'adapter') {
      early(named('adapter_config.json'), true);
      early(named('adapter_model.safetensors'), false);
      return;
    }
    early(named('config.json'), true);
    const index = early(named(SHARD_INDEX_FILE), true);
    if (!index) {
      for (const f of files) if (!f.path.includes('/') && f.path.toLowerCase().endsWith('.safetensors')) early(f, false);
      return;
    }
    // the shards the index names (read through the prefetcher's source: it counts no reader bytes);
    // a bad index is left for the model's opening to report
    void index
      .text()
      .then((text) => {
        for (const shard of new Set(parseShardIndex(SHARD_INDEX_FILE, text).weightMap.values())) early(named(shard), false);
      })
      .catch(() => undefined);
  }

  /**
   * Fetches the Hub byte ranges a merge will read, in the order given (io/hub/prefetch.ts), into the
   * block cache the engine's readers use, after what was queued early; undefined when there is no
   * cache or no Hub range. Its network bytes count as this process's; stopPrefetch() when the merge
   * ends.
   */
  prefetch(ranges: { source: ByteSource; offset: number; length: number }[]): HubPrefetcher | undefined {
    const cache = this.cache;
    if (!cache) return undefined;
    const hubRanges = [];
    for (const r of ranges) if (r.source instanceof CliHubSource) hubRanges.push({ source: this.prefetchSourceOf(r.source, cache), offset: r.offset, length: r.length });
    if (!hubRanges.length && !this.pf) return undefined;
    const pf = this.prefetcherFor(cache);
    const stats = this.stats;
    // what the readers have read since: every byte they read is counted once, from the network or
    // the cache; the prefetcher's own bytes are not theirs
    const readers = () => {
      const c = readHubCounters(stats.counters);
      return c.network + c.cache - this.pfOwn;
    };
    const before = readers();
    pf.follow(hubRanges, () => readers() - before);
    pf.close();
    return pf;
  }

  /** "org/name@main → 1a2b3c4 (5 files, 1.2 GB) on https://…" */
  static describe(m: ResolvedModel): string {
    const h = m.hub!;
    const bytes = h.files.reduce((n, f) => n + f.size, 0);
    return `${m.ref}: ${formatHubRef({ repo: h.repo, revision: h.revision })} → commit ${h.commit.slice(0, 12)} on ${h.endpoint} (${h.files.length} files, ${formatBytes(bytes)})`;
  }
}

// The CLI's Hub access: endpoint (HF_ENDPOINT), token (--token or HF_TOKEN; never printed), the
// disk block cache (--cache-dir, bounded, LRU) and the byte counters behind the progress line
// (network MB/s, bytes left, ETA) and the benchmark's cache hit share. Hub files are read in this
// process only: the page (WebGPU) and the CPU engine's worker threads read them through the CLI's
// localhost server, so the cache, the retries and the counters live in one place and the token
// never leaves this process.
import { CancelledError, StudioError } from '../errors';
import { DEFAULT_HUB_ENDPOINT, resolveHubModel, type HubAccess } from '../io/hub/resolve';
import { formatHubRef, parseHubRefOrThrow } from '../io/hub/ref';
import { HubFileSource, type HubMeter } from '../io/hub/source';
import type { BlockStore } from '../io/hub/cache';
import { DiskBlockStore, defaultHubCacheDir } from '../io/hub/node-cache';
import type { RetryPolicy } from '../io/hub/retry';
import type { ByteSource, PortableSource } from '../io/types';
import type { ResolvedModel } from './models';
import { formatBytes, formatDuration } from './progress';

/** Default cache bound: 20 GB (decimal, like the sizes printed). */
export const DEFAULT_CACHE_BYTES = 20e9;

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

/** Counts bytes from the network and from the cache; the progress line reads its rate. */
export class HubStats implements HubMeter {
  networkBytes = 0;
  cacheBytes = 0;
  retries = 0;
  private readonly samples: { t: number; n: number }[] = [];
  constructor(private readonly onRetry?: (message: string) => void) {}

  network(bytes: number): void {
    this.networkBytes += bytes;
    const t = performance.now();
    this.samples.push({ t, n: this.networkBytes });
    while (this.samples.length > 2 && t - this.samples[0].t > 3000) this.samples.shift();
  }
  cache(bytes: number): void {
    this.cacheBytes += bytes;
  }
  retry(what: string): void {
    this.retries++;
    this.onRetry?.(what);
  }
  /** Network bytes per second over the last ~3 s. */
  rate(): number {
    if (this.samples.length < 2) return 0;
    const a = this.samples[0];
    const b = this.samples[this.samples.length - 1];
    const dt = Math.max(performance.now(), b.t) - a.t;
    return dt > 0 ? ((b.n - a.n) / dt) * 1000 : 0;
  }
  /** Share of the bytes read that came from the cache. */
  hitShare(): number {
    const all = this.networkBytes + this.cacheBytes;
    return all ? this.cacheBytes / all : 0;
  }
}

/** "hub 95.3 MB/s, 1.2 GB left, ETA 13 s" for the progress line. */
export function networkLine(stats: HubStats, bytesLeft: number): string {
  const r = stats.rate();
  return `hub ${formatBytes(r)}/s, ${formatBytes(bytesLeft)} left${r > 0 && bytesLeft > 0 ? `, ETA ${formatDuration((bytesLeft / r) * 1000)}` : ''}`;
}

/** A Hub file whose reads in other threads go through the CLI's server (`proxyUrl`). */
class ProxiedSource implements ByteSource {
  proxyUrl: string | undefined;
  constructor(
    readonly inner: HubFileSource,
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
    if (!this.proxyUrl) throw new Error(`${this.inner.where}: no local server to read it from another thread`);
    return { kind: 'http', name: this.name, url: this.proxyUrl, size: this.size };
  }
}

export class CliHub {
  readonly stats: HubStats;
  /** The first failed Hub read (other threads see only a cut proxy connection; this names repo and file). */
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
      const src = new HubFileSource(
        { endpoint: model.endpoint, repo: model.repo, commit: model.commit, path: f.path, size: f.size },
        { token: this.access.token, cache: this.cache, meter: this.stats, ...(this.retry ? { retry: this.retry } : {}) },
      );
      const onError = (e: unknown) => {
        if (e instanceof StudioError && !(e instanceof CancelledError)) this.failure ??= e;
      };
      return { path: f.path, size: f.size, source: new ProxiedSource(src, onError) as ByteSource };
    });
    return { ref, hub: model, files };
  }

  /** Points other threads' reads of a model's Hub files at the CLI server (`${modelsUrl}/<i>/<path>`). */
  static proxy(models: ResolvedModel[], modelsUrl: string): void {
    models.forEach((m, i) => {
      for (const f of m.files) if (f.source instanceof ProxiedSource) f.source.proxyUrl = `${modelsUrl}/${i}/${encodeURIComponent(f.path)}`;
    });
  }

  /** "org/name@main → 1a2b3c4 (5 files, 1.2 GB) on https://…" */
  static describe(m: ResolvedModel): string {
    const h = m.hub!;
    const bytes = h.files.reduce((n, f) => n + f.size, 0);
    return `${m.ref}: ${formatHubRef({ repo: h.repo, revision: h.revision })} → commit ${h.commit.slice(0, 12)} on ${h.endpoint} (${h.files.length} files, ${formatBytes(bytes)})`;
  }
}

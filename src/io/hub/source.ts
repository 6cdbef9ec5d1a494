// A file of a Hub repo at a pinned commit, read by HTTP Range requests: the engine's ByteSource for
// Hub models. Isomorphic (fetch + streams), so the studio's workers and the CLI use the same code.
//
// - Reads go to {endpoint}/{repo}/resolve/{commit}/{path}; the token (if any) is sent only there.
//   When the Hub redirects (LFS files live on a CDN), the redirect is followed without the token
//   and the CDN URL is remembered, so later reads of the file go straight to it (one round trip);
//   if the CDN refuses it later (signed URLs expire) the next read asks the Hub again.
// - Transient failures (429 with Retry-After, 5xx, a connection reset or cut mid-body) are retried
//   with exponential backoff and resumed from the last byte received; every answer is checked
//   against the expected range and file size. Past the retry budget the read fails with an IoError
//   naming the repo and the file.
// - With a BlockStore, bytes come from the cache when present; missing blocks are fetched in one
//   request per run of consecutive blocks and stored; optionally the next blocks are read ahead.
import { CancelledError, IoError, StudioError } from '../../errors';
import { checkRead, throwIfAborted } from '../sources';
import type { ByteSource, PortableSource } from '../types';
import { hubFileKey, type BlockStore } from './cache';
import type { BlockClaims } from './shared';
import { backoffMs, DEFAULT_RETRY, isAbortError, retryableStatus, retryAfterMs, sleep, type RetryPolicy } from './retry';

/**
 * Blocks the CLI reads ahead of a read that waited on the network (HubReadOptions.readAhead): eight
 * 4 MiB blocks per file keep the link busy while the CPU engine's threads compute (their event
 * loops cannot start requests then: with 2 blocks bench:hub's cold run at 100 MB/s took 7.4–11 s,
 * with 8 it took 6.1 s on the same loaded machine), and bound what is read past the bytes a merge
 * needs to 32 MiB per file where it stops reading in order (slices).
 */
export const HUB_READ_AHEAD_BLOCKS = 8;

/** A file of a repo at a commit, with its size from the Hub's listing. */
export interface HubFile {
  endpoint: string;
  repo: string;
  commit: string;
  path: string;
  size: number;
}

/** Where bytes came from (progress and the benchmark's cache hit share). */
export interface HubMeter {
  network(bytes: number): void;
  cache(bytes: number): void;
  retry?(what: string, delayMs: number): void;
}

export interface HubReadOptions {
  /** Sent as "Authorization: Bearer …" to the Hub's origin only. */
  token?: string;
  fetch?: typeof fetch;
  retry?: RetryPolicy;
  cache?: BlockStore;
  meter?: HubMeter;
  /** With a cache: who fetches a block that several threads miss at once (io/hub/shared.ts). */
  claims?: BlockClaims;
  /**
   * With a cache: after a read that waited on the network, fetch this many blocks past it in the
   * background (one request each, into the cache), so a file read in order keeps the link busy
   * instead of paying a round trip per block. 0 (default): none.
   */
  readAhead?: number;
}

/** The resolve URL of a file at its commit. */
export function resolveUrl(f: Pick<HubFile, 'endpoint' | 'repo' | 'commit' | 'path'>): string {
  const path = f.path.split('/').map(encodeURIComponent).join('/');
  return `${f.endpoint.replace(/\/+$/, '')}/${f.repo}/resolve/${encodeURIComponent(f.commit)}/${path}`;
}

/**
 * This thread's Hub session: what a source uses when its own options leave it out — the token the
 * studio's engine worker was given (memory only), the byte cache, the meter. Set by the thread's
 * owner (the engine worker, a CPU worker, the CLI).
 */
let threadDefaults: HubReadOptions = {};
export function setHubThreadDefaults(d: HubReadOptions): void {
  threadDefaults = d;
}
export function hubThreadDefaults(): HubReadOptions {
  return threadDefaults;
}

/** Some runtimes (browsers) answer redirect: 'manual' with an opaque response: then follow (the browser drops the token cross-origin). */
let manualRedirectsOpaque = false;

class Retryable extends Error {
  constructor(
    message: string,
    readonly retryAfter?: number,
  ) {
    super(message);
  }
}

function reasonOf(e: unknown): string {
  if (!(e instanceof Error)) return String(e);
  const cause = e.cause instanceof Error ? e.cause : undefined;
  const code = cause && (cause as { code?: unknown }).code;
  return cause ? `${e.message} (${typeof code === 'string' ? code : cause.message})` : e.message;
}

export class HubFileSource implements ByteSource {
  readonly name: string;
  readonly size: number;
  private cdnUrl: string | undefined;
  private readonly inflight = new Map<number, Promise<Uint8Array>>();
  private readonly hubOrigin: string;
  private readonly key: string;

  constructor(
    readonly file: HubFile,
    private readonly o: HubReadOptions = {},
  ) {
    this.name = file.path;
    this.size = file.size;
    this.hubOrigin = new URL(file.endpoint).origin;
    this.key = hubFileKey(file);
  }

  /** Where the Hub redirected this file's reads (a CDN's signed URL), once known. */
  get storageUrl(): string | undefined {
    return this.cdnUrl;
  }

  /**
   * Starts from a storage URL another thread was redirected to (saves each thread a round trip to
   * the Hub); if the storage refuses it later, reads ask the Hub again. Only a URL off the Hub's
   * origin is taken (the token is never sent to it).
   */
  useStorageUrl(url: string | undefined): void {
    if (!url || this.cdnUrl) return;
    try {
      if (new URL(url).origin !== this.hubOrigin) this.cdnUrl = url;
    } catch {
      // not a URL: ask the Hub
    }
  }

  /** "org/name@abc1234: path" — what messages name. */
  get where(): string {
    return `${this.file.repo}@${this.file.commit.slice(0, 7)}: ${this.file.path}`;
  }

  private get token(): string | undefined {
    return this.o.token ?? threadDefaults.token;
  }

  portable(): PortableSource {
    const token = this.token;
    // the receiving thread opens the same persistent cache (OPFS) when this one reads through it
    const limit = (this.cache as { persistentLimit?: number } | undefined)?.persistentLimit;
    return { kind: 'hub', name: this.name, file: { ...this.file }, ...(token ? { token } : {}), ...(limit ? { cacheBytes: limit } : {}) };
  }

  private get fetchImpl(): typeof fetch {
    const f = this.o.fetch ?? threadDefaults.fetch;
    return f ?? ((...a) => fetch(...a));
  }

  private get cache(): BlockStore | undefined {
    return this.o.cache ?? threadDefaults.cache;
  }

  private get meter(): HubMeter | undefined {
    return this.o.meter ?? threadDefaults.meter;
  }

  async text(): Promise<string> {
    return new TextDecoder().decode(await this.read(0, this.size));
  }

  async read(offset: number, length: number, signal?: AbortSignal): Promise<Uint8Array> {
    checkRead(this.name, this.size, offset, length);
    throwIfAborted(signal);
    if (length === 0) return new Uint8Array(0);
    const cache = this.cache;
    if (!cache) return this.fetchRange(offset, length, signal);
    const B = cache.blockSize;
    const first = Math.floor(offset / B);
    const last = Math.floor((offset + length - 1) / B);
    const blocks: (Uint8Array | Promise<Uint8Array> | undefined)[] = [];
    for (let i = first; i <= last; i++) blocks.push(this.inflight.get(i));
    const looked = await Promise.all(blocks.map((b, j) => (b ? undefined : cache.get(this.key, first + j).catch(() => undefined))));
    looked.forEach((b, j) => {
      const blockStart = (first + j) * B;
      if (b && b.length === Math.min(B, this.size - blockStart)) blocks[j] = b;
      else if (!blocks[j]) blocks[j] = this.inflight.get(first + j); // started by another read meanwhile
    });
    // bytes of this read it does not fetch itself count as cached (stored, or in flight for another read)
    let hit = 0;
    blocks.forEach((b, j) => {
      const blockStart = (first + j) * B;
      if (b) hit += Math.min(offset + length, blockStart + B, this.size) - Math.max(offset, blockStart);
    });
    if (hit) this.meter?.cache(hit);
    // blocks another thread is fetching: wait for them to land in the cache (fetched here only if
    // they do not: a failed fetch or store there)
    const claims = this.o.claims;
    const claimed = new Set<number>();
    if (claims)
      blocks.forEach((b, j) => {
        const idx = first + j;
        if (b) return;
        if (claims.claim(idx)) return void claimed.add(idx);
        const blockStart = idx * B;
        const blockLen = Math.min(B, this.size - blockStart);
        const p = claims
          .wait(idx, signal)
          .then(() => cache.get(this.key, idx).catch(() => undefined))
          .then((got) => {
            const overlap = Math.min(offset + length, blockStart + blockLen) - Math.max(offset, blockStart);
            if (got && got.length === blockLen) {
              this.meter?.cache(overlap);
              return got;
            }
            return this.fetchRange(blockStart, blockLen, signal);
          });
        this.inflight.set(idx, p);
        p.catch(() => undefined).finally(() => this.inflight.delete(idx));
        blocks[j] = p;
      });
    // fetch each run of missing blocks with one request
    for (let j = 0; j < blocks.length; ) {
      if (blocks[j]) {
        j++;
        continue;
      }
      let k = j;
      while (k + 1 < blocks.length && !blocks[k + 1]) k++;
      const start = (first + j) * B;
      const end = Math.min(this.size, (first + k + 1) * B);
      const run = this.fetchRange(start, end - start, signal);
      const runStart = j;
      for (let m = j; m <= k; m++) {
        const idx = first + m;
        const at = (m - runStart) * B;
        const p = run.then((bytes) => bytes.slice(at, Math.min(bytes.length, at + B)));
        // in flight until stored, so a read in between neither misses nor fetches it again
        this.inflight.set(idx, p);
        p.then((block) => cache.put(this.key, idx, block))
          .then(
            () => claimed.has(idx) && claims!.settle(idx, true),
            () => claimed.has(idx) && claims!.settle(idx, false),
          )
          .finally(() => this.inflight.delete(idx));
        blocks[m] = p;
      }
      j = k + 1;
    }
    // anything not already stored (fetched here, or in flight): the reader is on the network's clock
    if (looked.some((b, j) => !b || b.length !== Math.min(B, this.size - (first + j) * B))) this.readAheadFrom(last + 1);
    const got = await Promise.all(blocks as (Uint8Array | Promise<Uint8Array>)[]);
    const out = new Uint8Array(length);
    for (let j = 0; j < got.length; j++) {
      const blockStart = (first + j) * B;
      const from = Math.max(offset, blockStart);
      const to = Math.min(offset + length, blockStart + got[j].length);
      out.set(got[j].subarray(from - blockStart, to - blockStart), from - offset);
    }
    return out;
  }

  /** The file's first bytes while fetchHeadBlock brings them (undefined: not asked for). */
  private head: { length: number; bytes: Promise<Uint8Array> } | undefined;

  /**
   * The first `length` bytes fetched ahead of the file's first block by fetchHeadBlock (a
   * safetensors header is there), or undefined. Rejects if that request failed.
   */
  get headBytes(): { length: number; bytes: Promise<Uint8Array> } | undefined {
    return this.head;
  }

  /**
   * Fetches the first cache block (io/hub/prefetch.ts) as two requests at once: its first
   * `headLength` bytes, offered by headBytes as soon as they arrive (a header is read from them
   * while the rest of the block is still on the link), and the rest; the block is stored once both
   * are in. Skipped when the block is stored, in flight or claimed elsewhere. Resolves with the bytes
   * fetched (each once).
   */
  async fetchHeadBlock(headLength: number, signal?: AbortSignal, onBytes?: (n: number) => void): Promise<number> {
    const cache = this.cache;
    if (!cache) return 0;
    const len = Math.min(cache.blockSize, this.size);
    if (headLength <= 0 || headLength >= len) return this.fetchBlocks(0, 0, signal, onBytes);
    const claims = this.o.claims;
    if (this.inflight.has(0) || (claims && !claims.claim(0))) return 0;
    const stored = cache.has ? await cache.has(this.key, 0, len) : (await cache.get(this.key, 0).catch(() => undefined))?.length === len;
    if (stored) {
      claims?.settle(0, true);
      return 0;
    }
    const first = this.fetchRange(0, headLength, signal, onBytes);
    const rest = this.fetchRange(headLength, len - headLength, signal, onBytes);
    this.head = { length: headLength, bytes: first };
    first.catch(() => undefined);
    const block = Promise.all([first, rest]).then(([a, b]) => {
      const out = new Uint8Array(len);
      out.set(a, 0);
      out.set(b, headLength);
      return out;
    });
    this.inflight.set(0, block);
    const put = block.then((b) => cache.put(this.key, 0, b));
    await put.then(
      () => claims?.settle(0, true),
      (e: unknown) => {
        claims?.settle(0, false);
        throw e;
      },
    ).finally(() => {
      this.inflight.delete(0);
      this.head = undefined; // the block is in the cache (or failed: the readers fetch it)
    });
    return len;
  }

  /**
   * Fetches blocks [first, last] into the cache (io/hub/prefetch.ts): those neither stored, in
   * flight here nor claimed by another thread; consecutive missing blocks in one request. Counts
   * only network bytes (nobody read them yet). Resolves with the bytes fetched; a failed fetch
   * rejects after its claims are released (a reader then fetches the block itself). `onBytes` is
   * told each piece of body as it arrives (the prefetcher counts the bytes still on the link).
   */
  async fetchBlocks(first: number, last: number, signal?: AbortSignal, onBytes?: (n: number) => void): Promise<number> {
    const cache = this.cache;
    if (!cache) return 0;
    const B = cache.blockSize;
    const claims = this.o.claims;
    const count = Math.ceil(this.size / B);
    const todo: number[] = [];
    for (let idx = Math.max(0, first); idx <= Math.min(last, count - 1); idx++) {
      if (this.inflight.has(idx) || (claims && !claims.claim(idx))) continue;
      const len = Math.min(B, this.size - idx * B);
      const stored = cache.has ? await cache.has(this.key, idx, len) : (await cache.get(this.key, idx).catch(() => undefined))?.length === len;
      if (stored) claims?.settle(idx, true);
      else todo.push(idx);
    }
    let fetched = 0;
    for (let j = 0; j < todo.length; ) {
      let k = j;
      while (k + 1 < todo.length && todo[k + 1] === todo[k] + 1) k++;
      const run = todo.slice(j, k + 1);
      j = k + 1;
      const start = run[0] * B;
      const end = Math.min(this.size, (run[run.length - 1] + 1) * B);
      const got = this.fetchRange(start, end - start, signal, onBytes);
      const stores = run.map((idx, m) => {
        // a view, not a copy: the run's buffer is this request's alone
        const p = got.then((bytes) => (run.length === 1 ? bytes : bytes.subarray(m * B, Math.min(bytes.length, (m + 1) * B))));
        this.inflight.set(idx, p);
        const stored = p.then((block) => cache.put(this.key, idx, block));
        stored.then(
          () => claims?.settle(idx, true),
          () => claims?.settle(idx, false),
        ).finally(() => this.inflight.delete(idx));
        return stored;
      });
      try {
        await Promise.all(stores);
      } catch (e) {
        // release the claims of the runs not started (the readers fetch those blocks themselves)
        for (const idx of todo.slice(j)) claims?.settle(idx, false);
        throw e;
      }
      fetched += end - start;
    }
    return fetched;
  }

  /** Fetches blocks [next, next + readAhead) into the cache in the background (those not stored, in flight or claimed elsewhere). */
  private readAheadFrom(next: number): void {
    const ahead = this.o.readAhead ?? 0;
    const cache = this.cache;
    if (!ahead || !cache) return;
    const B = cache.blockSize;
    const claims = this.o.claims;
    const end = Math.min(Math.ceil(this.size / B), next + ahead);
    for (let idx = next; idx < end; idx++) {
      if (this.inflight.has(idx) || (claims && !claims.claim(idx))) continue;
      const start = idx * B;
      const len = Math.min(B, this.size - start);
      const p = cache
        .get(this.key, idx)
        .catch(() => undefined)
        .then(async (stored) => {
          if (stored && stored.length === len) return stored;
          const bytes = await this.fetchRange(start, len);
          await cache.put(this.key, idx, bytes).catch(() => undefined);
          return bytes;
        });
      this.inflight.set(idx, p);
      p.then(
        () => claims?.settle(idx, true),
        () => claims?.settle(idx, false),
      ).finally(() => this.inflight.delete(idx));
    }
  }

  /** One ranged request for [start, end] (inclusive); follows a redirect without the token. */
  private async request(start: number, end: number, signal?: AbortSignal): Promise<Response> {
    const range = `bytes=${start}-${end}`;
    const f = this.fetchImpl;
    if (this.cdnUrl) return f(this.cdnUrl, { headers: { Range: range }, signal });
    const url = resolveUrl(this.file);
    const headers: Record<string, string> = { Range: range };
    const token = this.token;
    if (token) headers.Authorization = `Bearer ${token}`;
    if (!manualRedirectsOpaque) {
      const res = await f(url, { headers, redirect: 'manual', signal });
      if (res.type === 'opaqueredirect') manualRedirectsOpaque = true;
      else if (res.status >= 300 && res.status < 400 && res.headers.get('location')) {
        await res.body?.cancel().catch(() => undefined);
        this.checkCommit(res);
        const loc = new URL(res.headers.get('location')!, url).href;
        const sameOrigin = new URL(loc).origin === this.hubOrigin;
        if (!sameOrigin) this.cdnUrl = loc;
        return f(loc, { headers: sameOrigin ? headers : { Range: range }, signal });
      } else return res;
    }
    const res = await f(url, { headers, signal });
    if (res.redirected && res.url && new URL(res.url).origin !== this.hubOrigin) this.cdnUrl = res.url;
    return res;
  }

  private checkCommit(res: Response): void {
    const commit = res.headers.get('x-repo-commit');
    if (commit && commit !== this.file.commit)
      throw new IoError(`${this.where}: the Hub answered for commit ${commit}, not the pinned ${this.file.commit}`, { file: this.file.path, model: this.file.repo });
  }

  /** Reads [offset, offset+length) from the network, retrying and resuming; `onBytes` is told each piece of body received. */
  private async fetchRange(offset: number, length: number, signal?: AbortSignal, onBytes?: (n: number) => void): Promise<Uint8Array> {
    const out = new Uint8Array(length);
    const policy = this.o.retry ?? threadDefaults.retry ?? DEFAULT_RETRY;
    let got = 0;
    let failures = 0;
    const span = `bytes [${offset}, ${offset + length})`;
    const fatal = (msg: string) => new IoError(`${this.where}: reading ${span} failed: ${msg}`, { file: this.file.path, model: this.file.repo });
    while (got < length) {
      const before = got;
      try {
        const start = offset + got;
        const end = offset + length - 1;
        const viaCdn = this.cdnUrl !== undefined;
        const res = await this.request(start, end, signal);
        if (viaCdn && (res.status === 401 || res.status === 403 || res.status === 404 || res.status === 410)) {
          // an expired or revoked CDN URL: ask the Hub for a fresh one (no backoff)
          await res.body?.cancel().catch(() => undefined);
          this.cdnUrl = undefined;
          if (++failures > policy.maxRetries) throw fatal(`the file's storage URL was refused (HTTP ${res.status}) ${failures} times`);
          continue;
        }
        if (retryableStatus(res.status)) {
          await res.body?.cancel().catch(() => undefined);
          throw new Retryable(`HTTP ${res.status}`, retryAfterMs(res.headers.get('retry-after')));
        }
        if (res.status === 401 || res.status === 403)
          throw fatal(`HTTP ${res.status}: the Hub refused access${this.token ? ' with the token given' : ' (no token given; set HF_TOKEN or --token)'}`);
        if (res.status === 404) throw fatal(`HTTP 404: the file is not in the repo at commit ${this.file.commit}`);
        const whole = start === 0 && end === this.size - 1;
        if (res.status !== 206 && !(res.status === 200 && whole)) {
          await res.body?.cancel().catch(() => undefined);
          throw fatal(`HTTP ${res.status}${res.status === 200 ? ' (the server ignored the Range header)' : ''}`);
        }
        if (!viaCdn && !res.redirected) this.checkCommit(res);
        if (res.status === 206) {
          const cr = res.headers.get('content-range');
          const m = cr ? /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(cr.trim()) : null;
          if (!m || Number(m[1]) !== start || Number(m[2]) !== end || (m[3] !== '*' && Number(m[3]) !== this.size)) {
            await res.body?.cancel().catch(() => undefined);
            throw fatal(`the answer's Content-Range "${cr ?? ''}" is not bytes ${start}-${end}/${this.size} (did the file change on the Hub?)`);
          }
        }
        if (!res.body) throw new Retryable('an answer without a body');
        const reader = res.body.getReader();
        try {
          for (;;) {
            let chunk: ReadableStreamReadResult<Uint8Array>;
            try {
              chunk = await reader.read();
            } catch (e) {
              if (isAbortError(e) || signal?.aborted) throw new CancelledError();
              throw new Retryable(`the connection was cut after ${got - before} of ${end - start + 1} bytes (${reasonOf(e)})`);
            }
            if (chunk.done) break;
            const v = chunk.value;
            if (got + v.length > length) throw fatal(`the answer carried more than the ${end - start + 1} bytes asked for`);
            out.set(v, got);
            got += v.length;
            this.meter?.network(v.length);
            onBytes?.(v.length);
          }
        } finally {
          reader.releaseLock();
        }
        if (got < length) throw new Retryable(`the answer ended after ${got - before} of ${end - start + 1} bytes`);
      } catch (e) {
        if (e instanceof CancelledError || signal?.aborted) throw new CancelledError();
        if (isAbortError(e)) throw new CancelledError();
        if (e instanceof StudioError) throw e;
        const problem = e instanceof Retryable ? e.message : reasonOf(e);
        failures = got > before ? 1 : failures + 1; // progress resets the budget
        if (failures > policy.maxRetries)
          throw fatal(`gave up after ${failures} failed attempts in a row (last: ${problem}); check the network and try again`);
        const d = backoffMs(failures, policy, e instanceof Retryable ? e.retryAfter : undefined);
        this.meter?.retry?.(`${this.where}: ${problem}; retrying in ${(d / 1000).toFixed(1)} s`, d);
        await sleep(d, signal);
      }
    }
    return out;
  }
}

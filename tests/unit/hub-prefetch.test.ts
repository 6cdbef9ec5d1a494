// The Hub prefetcher (io/hub/prefetch.ts) against the fake Hub with a per-request latency: several
// range requests in flight, each cache block fetched once (also with a reader fetching alongside
// through the same claim table), the readers' bytes unchanged, and never more than the byte budget
// fetched ahead of what the readers consumed.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { hubFileKey, MemoryBlockStore } from '../../src/io/hub/cache';
import { HubPrefetcher, prefetchJobs, type PrefetchRange } from '../../src/io/hub/prefetch';
import type { RetryPolicy } from '../../src/io/hub/retry';
import { newBlockClaims, SharedBlockClaims } from '../../src/io/hub/shared';
import { HubFileSource, type HubFile } from '../../src/io/hub/source';
import { bytes, startFakeHub, type FakeHub } from '../fake-hub/server';

const FAST: RetryPolicy = { maxRetries: 3, baseDelayMs: 2, maxDelayMs: 10, maxRetryAfterMs: 200 };
const B = 1024; // block size
const SIZE = 40 * B + 100;


let hub: FakeHub;
const weights = bytes(SIZE, 11);
let file: HubFile;

beforeAll(async () => {
  hub = await startFakeHub({ throttle: { bytesPerSecond: 50e6, latencyMs: 25 } });
  const commit = hub.store.commit('org/pf', { 'config.json': '{}', 'model.safetensors': weights });
  file = { endpoint: hub.url, repo: 'org/pf', commit, path: 'model.safetensors', size: SIZE };
});
afterAll(() => hub.close());
beforeEach(() => {
  hub.log.length = 0;
});

/** Concurrent requests from call to headers (the latency is spent there). */
function countingFetch() {
  const s = { active: 0, max: 0 };
  const f: typeof fetch = async (...a) => {
    s.active++;
    s.max = Math.max(s.max, s.active);
    try {
      return await fetch(...a);
    } finally {
      s.active--;
    }
  };
  return { s, f };
}

/** Byte spans [start, end] of the data requests that sent a body. */
function dataSpans(): [number, number][] {
  return hub.log
    .filter((r) => r.range && r.bytesSent > 0)
    .map((r) => {
      const m = /bytes=(\d+)-(\d+)/.exec(r.range!)!;
      return [Number(m[1]), Number(m[2])] as [number, number];
    })
    .sort((a, b) => a[0] - b[0]);
}

function expectNoOverlap(spans: [number, number][]): void {
  for (let i = 1; i < spans.length; i++) expect(spans[i][0], `span ${i} overlaps the one before`).toBeGreaterThan(spans[i - 1][1]);
}

/** "Tensors" over the file in read order (not file order: the second half first). */
function tensorRanges(): { offset: number; length: number }[] {
  const out: { offset: number; length: number }[] = [];
  for (let off = 20 * B + 50; off < SIZE; off += 3 * B + 7) out.push({ offset: off, length: Math.min(3 * B + 7, SIZE - off) });
  for (let off = 0; off < 20 * B + 50; off += 2 * B + 300) out.push({ offset: off, length: Math.min(2 * B + 300, 20 * B + 50 - off) });
  return out;
}

describe('prefetchJobs', () => {
  it('covers each block once, in read order, in runs of at most runBlocks', () => {
    const src = new HubFileSource(file);
    const ranges = [
      { source: src, offset: 5 * B, length: 3 * B }, // blocks 5–7
      { source: src, offset: 6 * B, length: B }, // block 6 again: nothing new
      { source: src, offset: 8 * B, length: 5 * B + 1 }, // blocks 8–13
      { source: src, offset: 0, length: 10 }, // block 0
    ];
    const jobs = prefetchJobs(ranges, B, 4);
    expect(jobs.map((j) => [j.first, j.last])).toEqual([
      [5, 8],
      [9, 12],
      [13, 13],
      [0, 0],
    ]);
    // positions in bytes of the ranges: readers are past job 1 after 3 KiB + 1 KiB (block 6 again) + 1 KiB of block 8
    expect(jobs[0].end).toBe(3 * B + B + B);
    expect(jobs[3].start).toBe(3 * B + B + 5 * B + 1);
  });
});

describe('HubPrefetcher', () => {
  it('keeps several requests in flight and fetches each block once, also alongside a reader', async () => {
    const { s, f } = countingFetch();
    const cache = new MemoryBlockStore(Infinity, B);
    const claims = newBlockClaims(SIZE, B);
    const pfSource = new HubFileSource(file, { fetch: f, cache, claims: new SharedBlockClaims(claims), retry: FAST });
    const reader = new HubFileSource(file, { cache, claims: new SharedBlockClaims(claims), retry: FAST });
    const ranges: PrefetchRange[] = tensorRanges().map((r) => ({ source: pfSource, ...r }));
    let consumed = 0;
    const pf = new HubPrefetcher(ranges, { blockSize: B, consumed: () => consumed, budgetBytes: 16 * B, concurrency: 4, runBlocks: 2 });
    // the reader follows the plan (as a CPU thread would), a little behind
    await new Promise((ok) => setTimeout(ok, 30));
    for (const r of tensorRanges()) {
      const got = await reader.read(r.offset, r.length);
      expect(Buffer.from(got).equals(Buffer.from(weights.subarray(r.offset, r.offset + r.length)))).toBe(true);
      consumed += r.length;
    }
    await pf.done;
    expect(pf.error).toBeUndefined();
    expect(s.max).toBeGreaterThan(1);
    expect(pf.maxInFlight).toBeGreaterThan(1);
    expect(pf.maxInFlight).toBeLessThanOrEqual(4);
    // every byte of the file crossed the link exactly once (the prefetcher's and the reader's requests together)
    const spans = dataSpans();
    expectNoOverlap(spans);
    expect(hub.bytesSent((r) => !!r.range)).toBe(SIZE);
    expect(pf.networkBytes).toBeGreaterThan(SIZE / 2); // most of it fetched ahead
  });

  it('runs no further ahead than the byte budget, and goes on as the readers consume', async () => {
    const cache = new MemoryBlockStore(Infinity, B);
    const src = new HubFileSource(file, { cache, claims: new SharedBlockClaims(newBlockClaims(SIZE, B)), retry: FAST });
    const ranges: PrefetchRange[] = [{ source: src, offset: 0, length: SIZE }];
    let consumed = 0;
    const pf = new HubPrefetcher(ranges, { blockSize: B, consumed: () => consumed, budgetBytes: 6 * B, concurrency: 8, runBlocks: 2, pollMs: 2 });
    await new Promise((ok) => setTimeout(ok, 250));
    expect(pf.networkBytes).toBe(6 * B);
    expect(hub.bytesSent((r) => !!r.range)).toBe(6 * B);
    consumed = 10 * B;
    await new Promise((ok) => setTimeout(ok, 250));
    expect(pf.networkBytes).toBe(16 * B);
    consumed = SIZE;
    await pf.done;
    expect(pf.networkBytes).toBe(SIZE);
    expectNoOverlap(dataSpans());
    // everything is in the cache: a reader now needs no request
    hub.log.length = 0;
    const reader = new HubFileSource(file, { cache, retry: FAST });
    expect(Buffer.from(await reader.read(0, SIZE)).equals(Buffer.from(weights))).toBe(true);
    expect(hub.log.filter((r) => r.range).length).toBe(0);
  });

  it('fetches a first block as its head and the rest at once: the head is read before the rest arrives, the block stored once', async () => {
    const cache = new MemoryBlockStore(Infinity, 8 * B);
    // the request for the rest of the block is held until released
    let release!: () => void;
    const held = new Promise<void>((ok) => (release = ok));
    const seen: string[] = [];
    const f: typeof fetch = async (input, init) => {
      const range = new Headers(init?.headers).get('range') ?? '';
      seen.push(range);
      if (range.startsWith(`bytes=${B}-`)) await held;
      return fetch(input, init);
    };
    const src = new HubFileSource(file, { fetch: f, cache, claims: new SharedBlockClaims(newBlockClaims(SIZE, 8 * B)), retry: FAST });
    const pf = new HubPrefetcher([], { blockSize: 8 * B, budgetBytes: Infinity, open: true });
    pf.early(src, 0, 0, B);
    for (let i = 0; i < 200 && !src.headBytes; i++) await new Promise((ok) => setTimeout(ok, 5));
    const head = await src.headBytes!.bytes;
    expect(Buffer.from(head).equals(Buffer.from(weights.subarray(0, B)))).toBe(true);
    expect(await cache.get(hubFileKey(file), 0)).toBeUndefined(); // the rest is still held
    release();
    pf.close();
    await pf.done;
    expect(pf.error).toBeUndefined();
    expect(pf.networkBytes).toBe(8 * B);
    expect(Buffer.from((await cache.get(hubFileKey(file), 0))!).equals(Buffer.from(weights.subarray(0, 8 * B)))).toBe(true);
    expect(src.headBytes).toBeUndefined(); // the block is in: reads go to the cache
    // two requests (each asked of the Hub, then of the CDN it redirects to), each byte sent once
    expect([...new Set(seen)].sort()).toEqual([`bytes=0-${B - 1}`, `bytes=${B}-${8 * B - 1}`]);
    expectNoOverlap(dataSpans());
    expect(hub.bytesSent((r) => !!r.range)).toBe(8 * B);
  });

  it('stop() cancels what is in flight and starts nothing more', async () => {
    const cache = new MemoryBlockStore(Infinity, B);
    const src = new HubFileSource(file, { cache, claims: new SharedBlockClaims(newBlockClaims(SIZE, B)), retry: FAST });
    const pf = new HubPrefetcher([{ source: src, offset: 0, length: SIZE }], { blockSize: B, consumed: () => 0, budgetBytes: Infinity, concurrency: 2, runBlocks: 1 });
    await pf.stop();
    expect(pf.error).toBeUndefined();
    expect(pf.requests).toBeLessThanOrEqual(2);
    expect(pf.networkBytes).toBeLessThan(SIZE);
  });
});

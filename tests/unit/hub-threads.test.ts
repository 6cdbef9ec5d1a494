// Hub files read by worker threads themselves (io/hub/node-thread.ts), as the CLI's CPU engine
// does: no localhost hop (the portable form names no URL), the same bytes, the CLI's one cache
// folder (a block fetched by one thread is a cache hit for the others and for the CLI process), a
// block missed by two threads at once fetched once, the process's counters exact (network, cache,
// retries — the retry warning itself reaches the CLI's thread), the token never on the CDN.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CliHub } from '../../src/cli/hub';
import { DiskBlockStore } from '../../src/io/hub/node-cache';
import { portableOf } from '../../src/io/portable';
import type { PortableSource } from '../../src/io/types';
import { bytes, startFakeHub, type FakeHub } from '../fake-hub/server';

const TOKEN = 'hf_threadtoken456';
const MiB = 1024 * 1024;


class Thread {
  private readonly w = new Worker(new URL('../fixtures/hub-thread-worker.mjs', import.meta.url));
  private next = 0;
  private readonly waiting = new Map<number, { ok: (b: Uint8Array) => void; fail: (e: Error) => void }>();
  constructor() {
    this.w.on('message', (m: { id: number; ok: boolean; bytes?: Uint8Array; message?: string }) => {
      const w = this.waiting.get(m.id)!;
      this.waiting.delete(m.id);
      if (m.ok) w.ok(m.bytes!);
      else w.fail(new Error(m.message));
    });
  }
  read(p: PortableSource, offset: number, length: number): Promise<Uint8Array> {
    const id = this.next++;
    return new Promise((ok, fail) => {
      this.waiting.set(id, { ok, fail });
      this.w.postMessage({ id, p, offset, length });
    });
  }
  close() {
    return this.w.terminate();
  }
}

let hub: FakeHub;
let tmp: string;
const weights = bytes(9 * MiB + 12_345, 3); // three 4 MiB cache blocks
const small = bytes(50_000, 4);
let threads: Thread[] = [];

beforeAll(async () => {
  hub = await startFakeHub({ tokens: [TOKEN] });
  hub.store.commit('org/threads', { 'config.json': '{}', 'model.safetensors': weights, 'extra.safetensors': small }, { gated: true });
  tmp = await mkdtemp(join(tmpdir(), 'hub-threads-'));
  threads = [new Thread(), new Thread()];
});
afterAll(async () => {
  await Promise.all(threads.map((t) => t.close()));
  await hub?.close();
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

describe('Hub files read by worker threads themselves', () => {
  it('reads through the shared cache folder, fetching each block once, with the counters and retries of one process', async () => {
    const retries: string[] = [];
    const cacheDir = join(tmp, 'cache');
    const cli = await CliHub.open({ token: TOKEN, cacheDir, env: { HF_ENDPOINT: hub.url }, retry: { maxRetries: 3, baseDelayMs: 2, maxDelayMs: 10, maxRetryAfterMs: 100 }, onRetry: (w) => retries.push(w) });
    const m = await cli.resolve('org/threads');
    const file = (path: string) => m.files.find((f) => f.path === path)!.source!;
    const p = portableOf(file('model.safetensors'));
    // what crosses to a thread: the Hub file and the cache folder, no address of a server in this process
    expect(p.kind).toBe('node-hub');
    if (p.kind !== 'node-hub') return;
    expect(p.cacheDir).toBe(cacheDir);
    expect(p.token).toBe(TOKEN);
    expect(Object.keys(p)).not.toContain('url');

    hub.log.length = 0;
    // both threads miss every block at once: each block comes over the network once
    const [a, b] = await Promise.all([threads[0].read(p, 0, weights.length), threads[1].read(p, 0, weights.length)]);
    expect(Buffer.from(a).equals(Buffer.from(weights))).toBe(true);
    expect(Buffer.from(b).equals(Buffer.from(weights))).toBe(true);
    const cdn = hub.log.filter((r) => r.origin === 'cdn');
    expect(cdn.length).toBeGreaterThan(0);
    expect(cdn.every((r) => r.authorization === undefined)).toBe(true);
    expect(hub.bytesSent((r) => r.origin === 'cdn')).toBe(weights.length);
    expect(cli.stats.networkBytes).toBe(weights.length);
    expect(cli.stats.cacheBytes).toBe(weights.length);

    // a later read in either thread, and in this process, comes from the folder
    hub.log.length = 0;
    const c = await threads[1].read(p, 5 * MiB, 3 * MiB);
    expect(Buffer.from(c).equals(Buffer.from(weights.subarray(5 * MiB, 8 * MiB)))).toBe(true);
    const d = await file('model.safetensors').read(MiB, 6 * MiB);
    expect(Buffer.from(d).equals(Buffer.from(weights.subarray(MiB, 7 * MiB)))).toBe(true);
    expect(hub.log.filter((r) => r.origin === 'cdn')).toEqual([]);
    expect(cli.stats.networkBytes).toBe(weights.length);
    expect(cli.stats.cacheBytes).toBe(weights.length + 9 * MiB);
    expect(cli.stats.hitShare()).toBeCloseTo((weights.length + 9 * MiB) / (2 * weights.length + 9 * MiB), 9);

    // a cut body in a thread: retried and resumed there, counted here, its warning printed here
    hub.faults.push({ origin: 'cdn', kind: 'cut', afterBytes: 1000 });
    const e = await threads[0].read(portableOf(file('extra.safetensors')), 0, small.length);
    expect(Buffer.from(e).equals(Buffer.from(small))).toBe(true);
    expect(hub.faults).toEqual([]);
    expect(cli.stats.retries).toBe(1);
    for (let i = 0; i < 100 && retries.length === 0; i++) await new Promise((ok) => setTimeout(ok, 10));
    expect(retries).toHaveLength(1);
    expect(retries[0]).toMatch(/org\/threads@[0-9a-f]{7}: extra\.safetensors: .*cut after/);

    // the blocks the threads stored are the CLI's cache: indexed by the CLI store, and by a later run
    // (a thread stores a block after handing it to its reader: the last store may still be in flight)
    const blocks = Math.ceil(weights.length / (4 * MiB)) + 1;
    for (let i = 0; i < 200; i++) {
      await cli.settle();
      if ((await cli.cache!.usage()).blocks >= blocks) break;
      await new Promise((ok) => setTimeout(ok, 10));
    }
    expect((await cli.cache!.usage()).blocks).toBe(blocks);
    const later = await DiskBlockStore.open(cacheDir, 1e9);
    expect((await later.usage()).blocks).toBe(blocks);
  });
});

// Reading from the Hub (io/hub/*) against the fake Hub (tests/fake-hub/server.ts): references,
// resolution to a pinned commit, typed errors, range reads through the CDN redirect without the
// token, retries (429 + Retry-After, 5xx, resets), resuming after a cut, the retry budget, the
// block cache.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { IoError, ModelError } from '../../src/errors';
import { MemoryBlockStore } from '../../src/io/hub/cache';
import { formatHubRef, parseHubRef } from '../../src/io/hub/ref';
import { resolveHubModel, type HubAccess } from '../../src/io/hub/resolve';
import type { RetryPolicy } from '../../src/io/hub/retry';
import { HubFileSource, type HubMeter } from '../../src/io/hub/source';
import { openPortable } from '../../src/io/portable';
import { bytes, startFakeHub, type FakeHub } from '../fake-hub/server';

const FAST: RetryPolicy = { maxRetries: 3, baseDelayMs: 2, maxDelayMs: 10, maxRetryAfterMs: 200 };
const TOKEN = 'hf_testtoken123';


let hub: FakeHub;
const weights = bytes(300_000, 7);
let access: HubAccess;

beforeAll(async () => {
  hub = await startFakeHub({ tokens: [TOKEN], treePageSize: 2 });
  hub.store.commit('org/model', { 'config.json': '{"a":1}', 'model.safetensors': weights, 'tokenizer.json': '{}', 'sub/extra.safetensors': bytes(10, 1), 'README.md': '# hi' });
  hub.store.commit('org/gated', { 'config.json': '{}', 'model.safetensors': weights }, { gated: true });
  hub.store.commit('org/private', { 'config.json': '{}', 'model.safetensors': weights }, { private: true });
  hub.store.commit('org/pickle', { 'config.json': '{}', 'pytorch_model.bin': bytes(100, 2) });
  access = { endpoint: hub.url, retry: FAST };
});
afterAll(() => hub.close());
beforeEach(() => {
  hub.log.length = 0;
  hub.faults.length = 0;
});

describe('parseHubRef', () => {
  it('reads ids, revisions and Hub URLs; leaves local paths alone', () => {
    expect(parseHubRef('org/name')).toEqual({ repo: 'org/name' });
    expect(parseHubRef('meta-llama/Llama-3.1-8B@main')).toEqual({ repo: 'meta-llama/Llama-3.1-8B', revision: 'main' });
    expect(parseHubRef('org/name@refs/pr/3')).toEqual({ repo: 'org/name', revision: 'refs/pr/3' });
    expect(parseHubRef('https://huggingface.co/org/name')).toEqual({ repo: 'org/name', origin: 'https://huggingface.co' });
    expect(parseHubRef('https://huggingface.co/org/name/tree/v1.0')).toEqual({ repo: 'org/name', revision: 'v1.0', origin: 'https://huggingface.co' });
    expect(parseHubRef('https://hf.example/org/name/blob/abc1234/config.json')).toEqual({ repo: 'org/name', revision: 'abc1234', origin: 'https://hf.example' });
    expect(parseHubRef('https://huggingface.co/org/name/tree/refs%2Fpr%2F1')).toEqual({ repo: 'org/name', revision: 'refs/pr/1', origin: 'https://huggingface.co' });
    for (const notHub of ['./org/name', '/abs/org/name', '~/m/x', 'name', 'a/b/c', 'org/name+lora/x', 'org/-bad', 'org/a..b', 'org/name@', 'org/name@a b', 'https://huggingface.co/datasets/org/x', 'https://huggingface.co/org'])
      expect(parseHubRef(notHub), notHub).toBeUndefined();
    expect(formatHubRef({ repo: 'org/name', revision: 'dev' })).toBe('org/name@dev');
  });
});

describe('resolveHubModel', () => {
  it('pins the revision to a commit and lists top-level model files with sizes (paged listing)', async () => {
    const m = await resolveHubModel({ repo: 'org/model' }, access);
    expect(m.commit).toBe(hub.store.get('org/model')!.refs.get('main'));
    expect(m.files).toEqual([
      { path: 'config.json', size: 7, lfs: false },
      { path: 'model.safetensors', size: weights.length, lfs: true },
      { path: 'tokenizer.json', size: 2, lfs: false },
    ]);
    expect(m.allFiles).toContain('sub/extra.safetensors');
    // the tree was paged (2 per page) and listed at the commit, not the branch
    const trees = hub.log.filter((r) => r.url.includes('/tree/'));
    expect(trees.length).toBeGreaterThan(1);
    expect(trees.every((r) => r.url.includes(`/tree/${m.commit}`))).toBe(true);
  });

  it('refuses what cannot be read, naming the repo', async () => {
    const fail = (ref: Parameters<typeof resolveHubModel>[0], a: HubAccess = access) => resolveHubModel(ref, a).then(() => 'resolved', (e: unknown) => e);
    const missing = await fail({ repo: 'org/nope' });
    expect(missing).toBeInstanceOf(ModelError);
    expect(String((missing as Error).message)).toMatch(/"org\/nope" not found on http:\/\/127\.0\.0\.1/);
    const gated = await fail({ repo: 'org/gated' });
    expect((gated as Error).message).toMatch(/"org\/gated" is gated .* needs a token/);
    const wrongToken = await fail({ repo: 'org/gated' }, { ...access, token: 'hf_other' });
    expect((wrongToken as Error).message).toMatch(/token given has no access/);
    expect(((await fail({ repo: 'org/private' })) as Error).message).toMatch(/"org\/private" not found .*private.*token/);
    const rev = await fail({ repo: 'org/model', revision: 'nope' });
    expect((rev as Error).message).toMatch(/has no revision "nope"/);
    const pickle = await fail({ repo: 'org/pickle' });
    expect(pickle).toBeInstanceOf(ModelError);
    expect((pickle as Error).message).toMatch(/"org\/pickle" has only PyTorch pickle weights \(pytorch_model\.bin\): refused/);
    expect(((await fail({ repo: 'org/model' }, { ...access, token: 'not-a-token' })) as Error).message).toMatch(/token is malformed/);
    // with the token, the gated repo resolves
    expect((await resolveHubModel({ repo: 'org/gated' }, { ...access, token: TOKEN })).files.map((f) => f.path)).toContain('model.safetensors');
  });

  it('retries the API on 429 (Retry-After) and 5xx, and gives up past the budget', async () => {
    hub.faults.push({ origin: 'hub', path: '/api/models/', kind: 'status', status: 429, retryAfter: 0.02 }, { origin: 'hub', path: '/tree/', kind: 'status', status: 503 });
    const m = await resolveHubModel({ repo: 'org/model' }, access);
    expect(m.files.length).toBe(3);
    hub.faults.push({ origin: 'hub', kind: 'status', status: 500, times: 10 });
    const e = await resolveHubModel({ repo: 'org/model' }, access).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(IoError);
    expect((e as Error).message).toMatch(/"org\/model".*kept failing \(HTTP 500\) after 4 attempts/);
  });
});

describe('HubFileSource', () => {
  async function source(repo = 'org/model', path = 'model.safetensors', extra: Partial<ConstructorParameters<typeof HubFileSource>[1]> = {}, token?: string) {
    const m = await resolveHubModel({ repo }, { ...access, token });
    const f = m.files.find((x) => x.path === path)!;
    return new HubFileSource({ endpoint: m.endpoint, repo, commit: m.commit, path, size: f.size }, { retry: FAST, token, ...extra });
  }

  it('reads ranges through the CDN redirect; the token reaches only the Hub origin', async () => {
    const s = await source('org/gated', 'model.safetensors', {}, TOKEN);
    hub.log.length = 0;
    expect(await s.read(1000, 5000)).toEqual(weights.slice(1000, 6000));
    expect(await s.read(0, 10)).toEqual(weights.slice(0, 10));
    expect(await s.read(weights.length - 3, 3)).toEqual(weights.slice(-3));
    const cdn = hub.log.filter((r) => r.origin === 'cdn');
    expect(cdn.length).toBe(3);
    expect(cdn.every((r) => r.authorization === undefined)).toBe(true);
    // one redirect from the Hub (with the token), then straight to the CDN
    const viaHub = hub.log.filter((r) => r.origin === 'hub');
    expect(viaHub.map((r) => r.status)).toEqual([302]);
    expect(viaHub[0].authorization).toBe(`Bearer ${TOKEN}`);
    // bytes moved = bytes asked for
    expect(hub.bytesSent((r) => r.origin === 'cdn')).toBe(5013);
    // small files are fetched whole from the Hub origin
    const cfg = await source('org/model', 'config.json');
    expect(await cfg.text()).toBe('{"a":1}');
  });

  it('stays on the pinned commit when the branch moves', async () => {
    const s = await source('org/model', 'config.json');
    hub.store.commit('org/model', { 'config.json': '{"a":2}' });
    expect(await s.text()).toBe('{"a":1}');
    expect((await resolveHubModel({ repo: 'org/model' }, access)).commit).not.toBe(s.file.commit);
  });

  it('retries 429 / 5xx / resets and resumes a cut body from the last byte', async () => {
    const s = await source();
    const retries: string[] = [];
    const meter: HubMeter = { network: () => {}, cache: () => {}, retry: (w) => retries.push(w) };
    const s2 = new HubFileSource(s.file, { retry: FAST, meter });
    hub.log.length = 0;
    hub.faults.push(
      { kind: 'status', status: 429, retryAfter: 0.01, rangeOnly: true },
      { kind: 'status', status: 502, rangeOnly: true },
      { kind: 'reset', rangeOnly: true },
      { origin: 'cdn', kind: 'cut', afterBytes: 70_000 },
    );
    expect(await s2.read(100, 200_000)).toEqual(weights.slice(100, 200_100));
    expect(retries.length).toBe(4);
    expect(retries.join('\n')).toMatch(/HTTP 429[\s\S]*HTTP 502[\s\S]*cut after 7\d{4} of 200000 bytes/);
    // resumed: the request after the cut starts where the cut left off, and nothing was read twice
    const data = hub.log.filter((r) => r.origin === 'cdn' && r.status === 206);
    expect(data.length).toBe(2);
    const resumedAt = Number(/bytes=(\d+)-/.exec(data[1].range!)![1]);
    expect(resumedAt).toBeGreaterThan(100);
    expect(resumedAt - 100).toBe(data[0].bytesSent);
    expect(data[0].bytesSent + data[1].bytesSent).toBe(200_000);
  });

  it('gives up past the retry budget with an IoError naming repo and file', async () => {
    const s = await source();
    hub.faults.push({ kind: 'status', status: 503, times: Infinity, rangeOnly: true });
    const e = await s.read(0, 1000).catch((x: unknown) => x);
    hub.faults.length = 0;
    expect(e).toBeInstanceOf(IoError);
    expect((e as Error).message).toMatch(/^org\/model@[0-9a-f]{7}: model\.safetensors: reading bytes \[0, 1000\) failed: gave up after 4 failed attempts in a row \(last: HTTP 503\)/);
    // a refused (not transient) answer fails at once
    const gone = new HubFileSource({ ...s.file, path: 'missing.safetensors' }, { retry: FAST });
    await expect(gone.read(0, 1)).rejects.toThrow(/missing\.safetensors: reading .*HTTP 404/);
  });

  it('serves repeated reads from the block cache, fetching runs of missing blocks once', async () => {
    const cache = new MemoryBlockStore(1 << 20, 64 * 1024);
    let net = 0;
    let hit = 0;
    const s0 = await source();
    const s = new HubFileSource(s0.file, { retry: FAST, cache, meter: { network: (n) => (net += n), cache: (n) => (hit += n) } });
    hub.log.length = 0;
    expect(await s.read(70_000, 100_000)).toEqual(weights.slice(70_000, 170_000));
    expect(net).toBe(2 * 65536); // blocks 1..2 → [65536, 196608)
    expect(hub.log.filter((r) => r.origin === 'cdn').length).toBe(1);
    // overlapping read: block 1-2 hit, block 0 and 3 fetched separately
    expect(await s.read(0, 262_144)).toEqual(weights.slice(0, 262_144));
    expect(hit).toBe(2 * 65536); // blocks 1 and 2 lie wholly inside the read
    const again = net;
    expect(await s.read(0, weights.length)).toEqual(weights);
    expect(net - again).toBe(weights.length - 262_144);
    expect(await s.read(5, 299_000)).toEqual(weights.slice(5, 299_005));
    expect(net - again).toBe(weights.length - 262_144); // all from cache
    expect((await cache.usage()).bytes).toBe(weights.length);
  });

  it('crosses to another thread as a PortableSource (token in memory, no cache)', async () => {
    const s = await source('org/gated', 'model.safetensors', {}, TOKEN);
    const p = s.portable();
    expect(p).toMatchObject({ kind: 'hub', token: TOKEN, file: { repo: 'org/gated', path: 'model.safetensors' } });
    const back = openPortable(structuredClone(p));
    expect(await back.read(10, 20)).toEqual(weights.slice(10, 30));
  });
});

describe('DiskBlockStore (the CLI cache folder)', () => {
  it('keeps blocks across opens, evicts least recently used first, and stays within its bound', async () => {
    const { mkdtemp, rm } = await import('node:fs/promises');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const { DiskBlockStore } = await import('../../src/io/hub/node-cache');
    const dir = await mkdtemp(join(tmpdir(), 'hub-cache-'));
    try {
      const a = await DiskBlockStore.open(dir, 3000, 1000);
      for (let i = 0; i < 3; i++) await a.put('k', i, bytes(1000, i + 1));
      expect(await a.get('k', 0)).toEqual(bytes(1000, 1)); // 0 is now the most recent
      await a.put('k', 3, bytes(1000, 4)); // evicts 1, the least recently used
      expect(await a.usage()).toMatchObject({ bytes: 3000, blocks: 3 });
      expect(await a.get('k', 1)).toBeUndefined();
      // a second process sees the same blocks
      const b = await DiskBlockStore.open(dir, 3000, 1000);
      expect(await b.get('k', 3)).toEqual(bytes(1000, 4));
      expect(await b.get('k', 0)).toEqual(bytes(1000, 1));
      // a smaller bound trims on open
      const c = await DiskBlockStore.open(dir, 1500, 1000);
      expect((await c.usage()).bytes).toBeLessThanOrEqual(1500);
      await c.clear();
      expect(await c.usage()).toMatchObject({ bytes: 0, blocks: 0 });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

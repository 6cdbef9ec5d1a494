// A Hub merge's reads start before the plan exists (cli/hub.ts readEarly + io/hub/prefetch.ts):
// as soon as a repo's file listing is in, the first block of each safetensors file the model's
// opening reads (its header's bytes as a request of their own, and the rest), its last block (the
// model card's fingerprint) and its small JSON files are on the link, so reading the headers makes
// no request at all; a file the merge never reads (a weights file the shard index
// does not name) is not touched; once the plan is followed, the prefetcher runs no further ahead of
// the readers than its bound; every byte crosses the link once and the counters add up.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CliHub, EARLY_HEAD_BYTES } from '../../src/cli/hub';
import { planReads } from '../../src/cli/merge';
import { openResolved, type ResolvedModel } from '../../src/cli/models';
import { fingerprint, sliceable } from '../../src/formats/fingerprint';
import type { ModelInfo } from '../../src/formats/model-info';
import { parseMergekitYaml } from '../../src/recipe/mergekit-yaml';
import { buildPlan } from '../../src/recipe/plan';
import { tokenizerFiles } from '../../src/merge/tokenizer-files';
import { writeTinyLlama } from '../fixtures/checkpoints';
import { bytes, startFakeHub, type FakeHub, type LoggedRequest } from '../fake-hub/server';

const MiB = 1024 * 1024;
const B = 4 * MiB; // the CLI cache's block size
const SHAPE = { layers: 16, hidden: 256, intermediate: 768, vocab: 4096, dtype: 'BF16' as const };
const REFS = ['org/base', 'org/ft'];
const FAST = { maxRetries: 3, baseDelayMs: 2, maxDelayMs: 10, maxRetryAfterMs: 100 };

let hub: FakeHub;
let tmp: string;
/** Bytes of each stored file, by "repo/path". */
const stored = new Map<string, Uint8Array>();

beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'hub-early-'));
  hub = await startFakeHub({ throttle: { bytesPerSecond: 50e6, latencyMs: 20 } });
  for (const [i, ref] of REFS.entries()) {
    const dir = join(tmp, 'models', ref);
    // two shards and an index, as large repos are published
    await writeTinyLlama(dir, { ...SHAPE, seed: 21 + i, shardBytes: 16 * MiB });
    // weights the index does not name (as consolidated.safetensors beside the shards of some repos): never read
    await writeFile(join(dir, 'consolidated.safetensors'), bytes(9 * MiB, 5 + i));
    await hub.store.commitFolder(ref, dir);
    const commit = hub.store.get(ref)!.commits.get(hub.store.get(ref)!.refs.get('main')!)!;
    for (const [path, b] of commit.files) stored.set(`${ref}/${path}`, b);
  }
});
afterAll(async () => {
  await hub?.close();
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

/** "repo/path" of a logged read (hub resolve URL or the CDN's object) — by the object's bytes. */
const lfsPath = new Map<string, string>();
function fileOf(r: LoggedRequest): string | undefined {
  const m = /\/([^/]+\/[^/]+)\/resolve\/[0-9a-f]{40}\/(.+)$/.exec(r.url);
  if (m) return `${m[1]}/${decodeURIComponent(m[2])}`;
  const oid = /\/lfs\/([0-9a-f]{64})/.exec(r.url)?.[1];
  if (!oid) return undefined;
  if (!lfsPath.size) {
    for (const [key, b] of stored)
      for (const [o, obj] of hub.store.lfsObjects) if (obj === b) lfsPath.set(o, key);
  }
  return lfsPath.get(oid);
}

/** Data reads that sent bytes: file, span [start, end], times. */
function reads(): { file: string; start: number; end: number; at: number; endedAt?: number }[] {
  return hub.log
    .filter((r) => r.range && r.bytesSent > 0)
    .map((r) => {
      const m = /bytes=(\d+)-(\d+)/.exec(r.range!)!;
      return { file: fileOf(r)!, start: Number(m[1]), end: Number(m[1]) + r.bytesSent - 1, at: r.at, endedAt: r.endedAt };
    });
}

async function until(what: string, ok: () => boolean, ms = 5000): Promise<void> {
  const t0 = performance.now();
  while (!ok()) {
    if (performance.now() - t0 > ms) throw new Error(`timed out waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe('a Hub merge reads before the plan exists', () => {
  it('fetches the headers, first and last blocks as soon as the listing is in, only the needed files, within the bound, each byte once', { timeout: 20_000 }, async () => {
    hub.log.length = 0;
    const cacheBytes = 120 * MiB; // a budget of 40 MiB ahead (a third of the cache), the header blocks included
    const cli = await CliHub.open({ cacheDir: join(tmp, 'cache'), cacheBytes, env: { HF_ENDPOINT: hub.url }, retry: FAST, readEarly: 'merge' });
    try {
      const models: ResolvedModel[] = await Promise.all(REFS.map((r) => cli.resolve(r)));
      const resolvedAt = performance.now();
      const shards = (ref: string) => [...stored.keys()].filter((k) => k.startsWith(`${ref}/model-`) && k.endsWith('.safetensors'));
      const needed = REFS.flatMap(shards);
      expect(needed).toHaveLength(4);
      // nothing opened yet, no plan: the first bytes of every shard (its header) arrive anyway
      const headIn = (f: string) => reads().some((r) => r.file === f && r.start === 0 && r.end === Math.min(EARLY_HEAD_BYTES, stored.get(f)!.length) - 1 && r.endedAt !== undefined);
      await until('the shards\' first bytes are in', () => needed.every(headIn));
      expect(Math.min(...reads().filter((r) => r.file.endsWith('.safetensors')).map((r) => r.at))).toBeLessThan(resolvedAt + 1000);
      // opening the models (config, index, every shard's header) needs no request: the headers come
      // from those first bytes (or the first blocks, if in already: hub-prefetch.test.ts holds the
      // rest of a block back to show a header read does not wait for it)
      const before = hub.log.length;
      const infos = new Map<string, ModelInfo>();
      const opened = await Promise.all(models.map((m) => openResolved(m)));
      models.forEach((m, i) => infos.set(m.ref, opened[i]));
      expect(hub.log.slice(before).filter((r) => r.method === 'GET')).toEqual([]);
      const size = (f: string) => stored.get(f)!.length;
      const lastBlock = (f: string) => Math.floor((size(f) - 1) / B) * B;
      const earlyOf = (f: string) => Math.min(B, size(f)) + (lastBlock(f) > 0 ? size(f) - lastBlock(f) : 0);
      const blocksIn = (f: string) => reads().filter((r) => r.file === f && r.endedAt !== undefined).reduce((n, r) => n + r.end - r.start + 1, 0) === earlyOf(f);
      await until('the first and last blocks are in', () => needed.every(blocksIn));
      // the model card's fingerprints of the shards (headers, first and last 64 KiB) need no request
      // either (the card also fingerprints consolidated.safetensors, reading its first and last
      // blocks itself: the early reads leave files the index does not name alone)
      const beforeCard = hub.log.length;
      for (const m of models) await fingerprint(m.files.filter((f) => f.path !== 'consolidated.safetensors').map((f) => ({ path: f.path, file: sliceable(f.source!) })));
      expect(hub.log.slice(beforeCard).filter((r) => r.method === 'GET')).toEqual([]);
      const early = reads().filter((x) => x.file.endsWith('.safetensors'));
      // before the plan: nothing but a file's first block (two requests: the header's bytes and the
      // rest) and its last (the model card's fingerprint reads the file's last 64 KiB)
      for (const f of needed) {
        expect(lastBlock(f)).toBeGreaterThan(0);
        const spans = early.filter((r) => r.file === f).sort((x, y) => x.start - y.start);
        expect(spans.map((r) => [r.start, r.end])).toEqual([
          [0, EARLY_HEAD_BYTES - 1],
          [EARLY_HEAD_BYTES, B - 1],
          [lastBlock(f), size(f) - 1],
        ]);
      }

      const recipe = parseMergekitYaml(`merge_method: linear\nmodels:\n${REFS.map((r) => `  - model: ${r}\n    parameters: { weight: 0.5 }\n`).join('')}dtype: bfloat16\n`);
      const plan = buildPlan(recipe, infos);
      const ranges = planReads(plan, recipe, infos);
      const pf = cli.prefetch(ranges)!;
      expect(pf).toBeDefined();
      expect(pf.firstRequestAt!).toBeLessThan(pf.followedAt!);

      // no reader yet: it goes on past the header blocks and stops at its bound ahead (40 MiB, the early blocks included, rounded out to whole blocks)
      const earlyBytes = hub.bytesSent((r) => !!r.range);
      await new Promise((r) => setTimeout(r, 400));
      const ahead = hub.bytesSent((r) => !!r.range) - earlyBytes;
      expect(ahead).toBeGreaterThanOrEqual(B);
      expect(earlyBytes + ahead).toBeLessThanOrEqual(cacheBytes / 3 + B);
      const total = needed.reduce((n, f) => n + stored.get(f)!.length, 0);
      expect(earlyBytes + ahead).toBeLessThan(total);
      // the tokenizer files the output copies (read last) were fetched first: writing them needs no request
      const logged = hub.log.length;
      const tok = await tokenizerFiles(plan, recipe, infos);
      expect(tok.map((f) => f.name)).toEqual(expect.arrayContaining(['tokenizer.json', 'tokenizer_config.json']));
      expect(hub.log.slice(logged).filter((r) => r.method === 'GET')).toEqual([]);

      // the readers (as the engine's threads, in plan order): the prefetcher follows them to the end
      for (const r of ranges) {
        const got = await r.source.read(r.offset, r.length);
        const file = models.find((m) => m.files.some((f) => f.source === r.source))!;
        const path = file.files.find((f) => f.source === r.source)!.path;
        const want = stored.get(`${file.hub!.repo}/${path}`)!.subarray(r.offset, r.offset + r.length);
        expect(Buffer.from(got).equals(Buffer.from(want)), `${file.ref}/${path}`).toBe(true);
      }
      await pf.done;
      expect(pf.error).toBeUndefined();
      expect(pf.networkBytes).toBeGreaterThan(0);

      // every byte of the needed shards crossed the link exactly once; the unnamed weights never did
      const all = reads();
      expect(all.some((r) => r.file.endsWith('consolidated.safetensors'))).toBe(false);
      for (const f of needed) {
        const spans = all.filter((r) => r.file === f).sort((a, b) => a.start - b.start);
        let next = 0;
        for (const s of spans) {
          expect(s.start, `${f}: a byte fetched twice or skipped`).toBe(next);
          next = s.end + 1;
        }
        expect(next).toBe(stored.get(f)!.length);
      }
      // the counters: network = what the Hub sent; the readers' bytes all came from the cache or the network
      expect(cli.stats.networkBytes).toBe(hub.bytesSent((r) => r.method === 'GET' && r.status >= 200 && r.status < 300 && !r.url.startsWith('/api/')));
      expect(cli.stats.networkBytes + cli.stats.cacheBytes).toBeGreaterThanOrEqual(ranges.reduce((n, r) => n + r.length, 0));
    } finally {
      await cli.stopPrefetch();
      await cli.settle();
    }
  });
});

// A Hub file read by a Node worker thread itself (the CLI's CPU engine): the thread opens the
// CLI's disk block cache folder (content keyed by repo, commit and file, so concurrent readers are
// safe; blocks are written to a temporary name and renamed), fetches misses from the Hub with the
// token it was handed in memory, and adds to the CLI process's counters in shared memory. Blocks
// that several threads miss at once are fetched once (the claim table of io/hub/shared.ts). Retry
// warnings go to the CLI on a BroadcastChannel. Node only.
import { BroadcastChannel } from 'node:worker_threads';
import type { PortableSource } from '../types';
import { hubFileKey } from './cache';
import { DiskBlockStore } from './node-cache';
import { SharedBlockClaims, SharedHubMeter } from './shared';
import { HUB_READ_AHEAD_BLOCKS, HubFileSource } from './source';

type NodeHubPortable = Extract<PortableSource, { kind: 'node-hub' }>;

/** This thread's stores (one per cache folder) and sources (one per file: its storage URL and blocks in flight are kept between tasks). */
const stores = new Map<string, DiskBlockStore>();
const sources = new Map<string, HubFileSource>();
const channels = new Map<string, BroadcastChannel>();

function channel(name: string): BroadcastChannel {
  let c = channels.get(name);
  if (!c) {
    c = new BroadcastChannel(name);
    c.unref();
    channels.set(name, c);
  }
  return c;
}

export function openNodeHubSource(p: NodeHubPortable): HubFileSource {
  // one source per file and CLI run (the channel names the run: a buffer arrives as a new object with every message)
  const key = `${hubFileKey(p.file)}|${p.cacheDir ?? ''}|${p.token ?? ''}|${p.channel ?? ''}`;
  const known = sources.get(key);
  if (known) {
    known.useStorageUrl(p.storageUrl);
    return known;
  }
  const name = p.channel;
  const meter = new SharedHubMeter(p.counters, name ? (what) => channel(name).postMessage(what) : undefined);
  let cache: DiskBlockStore | undefined;
  if (p.cacheDir) {
    cache = stores.get(p.cacheDir);
    if (!cache || cache.limit !== p.cacheBytes) {
      cache = DiskBlockStore.attach(p.cacheDir, p.cacheBytes ?? Infinity);
      stores.set(p.cacheDir, cache);
    }
  }
  const source = new HubFileSource(p.file, {
    ...(p.token ? { token: p.token } : {}),
    ...(p.retry ? { retry: p.retry } : {}),
    ...(cache ? { cache } : {}),
    ...(cache && p.claims ? { claims: new SharedBlockClaims(p.claims) } : {}),
    readAhead: HUB_READ_AHEAD_BLOCKS,
    meter,
  });
  source.useStorageUrl(p.storageUrl);
  sources.set(key, source);
  return source;
}

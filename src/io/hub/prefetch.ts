// Keeps the link busy during a Hub merge: fetches the cache blocks the merge will read ahead of the
// readers, into the same block cache and claim table the readers use (so no block is fetched
// twice), with several range requests in flight. Isomorphic; the CLI runs it in its main thread
// while the CPU engine's threads compute (their event loops cannot start requests then).
//
// Two kinds of work, the first before the second:
// - early(): blocks wanted now, before any plan exists (the first block of each safetensors file as
//   soon as the Hub's file listing is known: its header and first tensors), up to the byte budget
//   (past it, the header reads fetch their blocks themselves).
// - follow(): the byte ranges the merge will read, in the order the engine reads them (plan entry
//   order, each input's tensor), at most the byte budget, less the early bytes, ahead of what the
//   readers have consumed: what was fetched and not yet read stays within the budget, so the cache
//   never has to evict a block nobody has read yet.
//
// In flight it counts requests and bytes asked for but not yet received: a new request starts as
// soon as that byte window has room — while the others are still arriving, not when they have all
// ended — so the link does not idle for a round trip between rounds of requests.
import { CancelledError } from '../../errors';
import type { HubFileSource } from './source';

/** A byte range the merge will read. */
export interface PrefetchRange {
  source: HubFileSource;
  offset: number;
  length: number;
}

export interface PrefetchOptions {
  /** The cache's block size. */
  blockSize: number;
  /** Bytes the readers have consumed so far, in the order of the followed ranges (polled). */
  consumed?: () => number;
  /** How far (bytes of the followed ranges) the fetches may run ahead of `consumed`. */
  budgetBytes: number;
  /** Range requests in flight at once at most. Default 16. */
  concurrency?: number;
  /** Bytes asked for and not yet received at most (a request larger than this runs alone). Default 32 MiB. */
  windowBytes?: number;
  /** Blocks per request at most. Default 4. */
  runBlocks?: number;
  /** How often `consumed` is polled while the budget is used up (ms). Default 10. */
  pollMs?: number;
  /**
   * Wait for work from early() and follow() until close() (the CLI starts it before the plan
   * exists). Default false: the ranges given to the constructor are all, and `done` resolves once
   * they are fetched.
   */
  open?: boolean;
}

interface Job {
  source: HubFileSource;
  first: number;
  last: number;
  /** Position (bytes of the followed ranges, in order) when the readers are past this job's blocks. */
  end: number;
  /** Position when the readers reach its first block. */
  start: number;
  /** Block 0 alone, its first `head` bytes as a request of their own (HubFileSource.fetchHeadBlock). */
  head?: number;
}

/**
 * The runs of blocks to fetch, in order: each block once (also across calls sharing `seen`),
 * consecutive blocks of a file merged up to `runBlocks`.
 */
export function prefetchJobs(ranges: PrefetchRange[], blockSize: number, runBlocks: number, seen = new Map<HubFileSource, Set<number>>()): Job[] {
  const jobs: Job[] = [];
  let pos = 0;
  for (const r of ranges) {
    if (r.length <= 0) continue;
    let got = seen.get(r.source);
    if (!got) seen.set(r.source, (got = new Set()));
    const first = Math.floor(r.offset / blockSize);
    const last = Math.floor((r.offset + r.length - 1) / blockSize);
    for (let b = first; b <= last; b++) {
      if (got.has(b)) continue;
      got.add(b);
      const startPos = pos + Math.max(0, b * blockSize - r.offset);
      const endPos = pos + Math.min(r.length, (b + 1) * blockSize - r.offset);
      const j = jobs[jobs.length - 1];
      if (j && j.source === r.source && j.last === b - 1 && b - j.first < runBlocks) {
        j.last = b;
        j.end = endPos;
      } else jobs.push({ source: r.source, first: b, last: b, start: startPos, end: endPos });
    }
    pos += r.length;
  }
  return jobs;
}

export class HubPrefetcher {
  /** Bytes fetched by the prefetcher (also counted by the sources' meter as network bytes). */
  networkBytes = 0;
  requests = 0;
  /** Most requests in flight at once. */
  maxInFlight = 0;
  /** Most bytes asked for and not yet received at once. */
  maxWindowBytes = 0;
  /** performance.now() when the first request started / the last one settled (undefined: none yet). */
  firstRequestAt: number | undefined;
  lastSettledAt: number | undefined;
  /** performance.now() when the followed ranges were given (undefined: not yet). */
  followedAt: number | undefined;
  /** From start until the last request settled (or stop()). */
  elapsedMs = 0;
  /**
   * Time (ms) it waited with work queued, by reason: room (the request or byte window full) and
   * budget (too far ahead of the readers); and with no work queued yet (work: before the plan).
   */
  readonly waited = { room: 0, budget: 0, work: 0 };
  /** The first failure (the readers fetch what was left and report their own errors). */
  error: unknown;
  readonly done: Promise<void>;
  private readonly abort = new AbortController();
  private readonly seen = new Map<HubFileSource, Set<number>>();
  private readonly urgent: Job[] = [];
  private readonly jobs: Job[] = [];
  private next = 0;
  private closed: boolean;
  private consumed: (() => number) | undefined;
  private inFlight = 0;
  /** Bytes asked for and not yet received. */
  private windowUsed = 0;
  /** Bytes of the blocks queued by early() (counted against the budget). */
  private earlyBytes = 0;
  private wake: (() => void) | undefined;

  constructor(
    ranges: PrefetchRange[],
    private readonly o: PrefetchOptions,
  ) {
    this.closed = !o.open;
    this.consumed = o.consumed;
    this.jobs.push(...prefetchJobs(ranges, o.blockSize, this.runBlocks, this.seen));
    this.done = this.run();
  }

  private get runBlocks(): number {
    return Math.max(1, this.o.runBlocks ?? 4);
  }

  /** Runs of blocks the prefetcher will walk (each block once). */
  get plannedJobs(): number {
    return this.jobs.length + this.urgent.length;
  }

  /**
   * Fetches blocks [first, last] of a file before any followed range; blocks past the budget are
   * left out (false): their readers fetch them. With `head`, block 0 comes as two requests at once,
   * its first `head` bytes on their own (a header read takes them before the block is complete).
   */
  early(source: HubFileSource, first: number, last: number, head?: number): boolean {
    if (this.closed) return false;
    let got = this.seen.get(source);
    if (!got) this.seen.set(source, (got = new Set()));
    const B = this.o.blockSize;
    let all = true;
    for (let b = first; b <= last; b++) {
      if (got.has(b)) continue;
      const bytes = Math.max(0, Math.min(source.size, (b + 1) * B) - b * B);
      if (this.earlyBytes + bytes > this.o.budgetBytes) {
        all = false;
        continue;
      }
      this.earlyBytes += bytes;
      got.add(b);
      const j = this.urgent[this.urgent.length - 1];
      if (j && j.source === source && j.last === b - 1 && b - j.first < this.runBlocks && j.head === undefined) j.last = b;
      else this.urgent.push({ source, first: b, last: b, start: -Infinity, end: -Infinity, ...(b === 0 && head ? { head } : {}) });
    }
    this.wake?.();
    return all;
  }

  /**
   * The ranges the readers will read, in their order, and what they have consumed of them since
   * (polled): blocks are fetched at most the budget ahead. Blocks already fetched or queued are skipped.
   */
  follow(ranges: PrefetchRange[], consumed: () => number): void {
    if (this.closed) return;
    this.consumed = consumed;
    this.followedAt = performance.now();
    this.jobs.push(...prefetchJobs(ranges, this.o.blockSize, this.runBlocks, this.seen));
    this.wake?.();
  }

  /** No more work will come: `done` resolves once what is queued is fetched. */
  close(): void {
    this.closed = true;
    this.wake?.();
  }

  /** Stops starting requests and cancels those in flight. */
  async stop(): Promise<void> {
    this.closed = true;
    this.abort.abort();
    this.wake?.();
    await this.done;
  }

  private jobBytes(j: Job): number {
    const B = this.o.blockSize;
    return Math.max(0, Math.min(j.source.size, (j.last + 1) * B) - j.first * B);
  }

  /** Resolves on wake() (a request settled or received bytes, new work, stop) or after `ms`. */
  private pause(ms: number | undefined): Promise<void> {
    return new Promise<void>((ok) => {
      const t = ms !== undefined ? setTimeout(() => this.wake?.(), ms) : undefined;
      this.wake = () => {
        if (t) clearTimeout(t);
        this.wake = undefined;
        ok();
      };
    });
  }

  private async run(): Promise<void> {
    const t0 = performance.now();
    const limit = Math.max(1, this.o.concurrency ?? 16);
    const window = Math.max(1, this.o.windowBytes ?? 32 * 1024 * 1024);
    const poll = this.o.pollMs ?? 10;
    const signal = this.abort.signal;
    const all: Promise<void>[] = [];
    for (;;) {
      if (signal.aborted || this.error !== undefined) break;
      const urgent = this.urgent.length > 0;
      const job = urgent ? this.urgent[0] : this.jobs[this.next];
      if (!job) {
        if (this.closed) break;
        const t = performance.now();
        await this.pause(undefined);
        this.waited.work += performance.now() - t;
        continue;
      }
      const bytes = this.jobBytes(job);
      const room = this.inFlight === 0 || (this.inFlight < limit && this.windowUsed + bytes <= window);
      let inBudget = urgent;
      if (!inBudget) {
        const consumed = this.consumed?.() ?? 0;
        // within the budget, or (a run larger than the budget) nothing else ahead of the readers
        inBudget = job.end - consumed <= this.o.budgetBytes - this.earlyBytes || (this.inFlight === 0 && job.start <= consumed);
      }
      if (!(room && inBudget)) {
        // no room: a settling request or arriving bytes wake it; over budget: poll the readers
        const t = performance.now();
        await this.pause(room ? poll : undefined);
        this.waited[room ? 'budget' : 'room'] += performance.now() - t;
        continue;
      }
      if (urgent) this.urgent.shift();
      else this.next++;
      this.inFlight++;
      this.windowUsed += bytes;
      this.requests++;
      this.firstRequestAt ??= performance.now();
      this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
      this.maxWindowBytes = Math.max(this.maxWindowBytes, this.windowUsed);
      let received = 0;
      const onBytes = (n: number) => {
        received += n;
        this.windowUsed -= n;
        this.wake?.();
      };
      const settled = () => {
        this.inFlight--;
        this.windowUsed -= bytes - received; // blocks skipped (stored or claimed elsewhere), or a failure
        this.lastSettledAt = performance.now();
        this.wake?.();
      };
      all.push(
        (job.head !== undefined ? job.source.fetchHeadBlock(job.head, signal, onBytes) : job.source.fetchBlocks(job.first, job.last, signal, onBytes)).then(
          (n) => {
            this.networkBytes += n;
            settled();
          },
          (e: unknown) => {
            if (!(e instanceof CancelledError) && !signal.aborted) this.error ??= e;
            settled();
          },
        ),
      );
    }
    await Promise.all(all);
    this.elapsedMs = performance.now() - t0;
  }
}

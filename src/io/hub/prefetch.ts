// Keeps the link busy during a Hub merge: walks the byte ranges the merge will read, in the order
// the engine reads them (plan entry order, each input's tensor), and fetches their cache blocks
// ahead of the readers with several range requests in flight (each a run of blocks), into the same
// block cache and claim table the readers use (so no block is fetched twice). It stays at most a
// byte budget ahead of what the readers have consumed, so the cache never has to evict a block
// nobody has read yet. Isomorphic; the CLI runs it in its main thread while the CPU engine's
// threads compute (their event loops cannot start requests then).
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
  /** Bytes the readers have consumed so far, in the order of the ranges (polled). */
  consumed: () => number;
  /** How far (bytes of the ranges) the fetches may run ahead of `consumed`. */
  budgetBytes: number;
  /** Range requests in flight at once. Default 6. */
  concurrency?: number;
  /** Blocks per request at most. Default 4. */
  runBlocks?: number;
  /** How often `consumed` is polled while the budget is used up (ms). Default 10. */
  pollMs?: number;
}

interface Job {
  source: HubFileSource;
  first: number;
  last: number;
  /** Position (bytes of the ranges, in order) when the readers are past this job's blocks. */
  end: number;
  /** Position when the readers reach its first block. */
  start: number;
}

/** The runs of blocks to fetch, in order: each block once, consecutive blocks of a file merged up to `runBlocks`. */
export function prefetchJobs(ranges: PrefetchRange[], blockSize: number, runBlocks: number): Job[] {
  const seen = new Map<HubFileSource, Set<number>>();
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
  /** From start until the last request settled (or stop()). */
  elapsedMs = 0;
  /** The first failure (the readers fetch what was left and report their own errors). */
  error: unknown;
  readonly done: Promise<void>;
  private readonly abort = new AbortController();
  private readonly jobs: Job[];

  constructor(
    ranges: PrefetchRange[],
    private readonly o: PrefetchOptions,
  ) {
    this.jobs = prefetchJobs(ranges, o.blockSize, Math.max(1, o.runBlocks ?? 4));
    this.done = this.run();
  }

  /** Runs of blocks the prefetcher will walk (each block once). */
  get plannedJobs(): number {
    return this.jobs.length;
  }

  /** Stops starting requests and cancels those in flight. */
  async stop(): Promise<void> {
    this.abort.abort();
    await this.done;
  }

  private async run(): Promise<void> {
    const t0 = performance.now();
    const limit = Math.max(1, this.o.concurrency ?? 6);
    const poll = this.o.pollMs ?? 10;
    const signal = this.abort.signal;
    let inFlight = 0;
    let wake: (() => void) | undefined;
    const settled = () => {
      inFlight--;
      wake?.();
    };
    const all: Promise<void>[] = [];
    for (const job of this.jobs) {
      for (;;) {
        if (signal.aborted || this.error !== undefined) break;
        const room = inFlight < limit;
        const consumed = this.o.consumed();
        // within the budget, or (a run larger than the budget) nothing else ahead of the readers
        const inBudget = job.end - consumed <= this.o.budgetBytes || (inFlight === 0 && job.start <= consumed);
        if (room && inBudget) break;
        await new Promise<void>((ok) => {
          const t = room ? setTimeout(ok, poll) : undefined;
          wake = () => {
            if (t) clearTimeout(t);
            ok();
          };
        });
        wake = undefined;
      }
      if (signal.aborted || this.error !== undefined) break;
      inFlight++;
      this.requests++;
      this.maxInFlight = Math.max(this.maxInFlight, inFlight);
      all.push(
        job.source.fetchBlocks(job.first, job.last, signal).then(
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

// Retrying Hub requests: 429 (honouring Retry-After), 5xx and network failures are retried with
// exponential backoff and jitter, up to a budget; everything else is an answer. Isomorphic.
import { CancelledError } from '../../errors';

export interface RetryPolicy {
  /** Failed attempts in a row (without new bytes) before giving up. */
  maxRetries: number;
  /** First backoff delay; doubled per attempt. */
  baseDelayMs: number;
  maxDelayMs: number;
  /** A Retry-After longer than this is shortened to it. */
  maxRetryAfterMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { maxRetries: 6, baseDelayMs: 500, maxDelayMs: 20_000, maxRetryAfterMs: 60_000 };

/** Whether an HTTP status is worth retrying (rate limit, timeouts, server errors). */
export function retryableStatus(status: number): boolean {
  return status === 408 || status === 429 || status === 425 || status >= 500;
}

/** Retry-After as milliseconds (seconds or an HTTP date), or undefined. */
export function retryAfterMs(header: string | null | undefined, now = Date.now()): number | undefined {
  if (!header) return undefined;
  const t = header.trim();
  if (/^\d+(\.\d+)?$/.test(t)) return Number(t) * 1000;
  const d = Date.parse(t);
  return Number.isNaN(d) ? undefined : Math.max(0, d - now);
}

/** The delay before retry number `attempt` (1-based): Retry-After when given, else backoff with ±25 % jitter. */
export function backoffMs(attempt: number, policy: RetryPolicy, retryAfter?: number, random = Math.random): number {
  if (retryAfter !== undefined) return Math.min(retryAfter, policy.maxRetryAfterMs);
  const d = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (attempt - 1));
  return Math.round(d * (0.75 + 0.5 * random()));
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((ok, fail) => {
    if (signal?.aborted) return fail(new CancelledError());
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      ok();
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      fail(new CancelledError());
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

export function isAbortError(e: unknown): boolean {
  return e instanceof CancelledError || (typeof e === 'object' && e !== null && (e as { name?: unknown }).name === 'AbortError');
}

/** What the last answer of a retrying fetch said (the Hub's X-Error-Code is not in HubApiError). */
export interface FetchTrace {
  status?: number;
  errorCode?: string;
  errorMessage?: string;
  /** The last failure a retry was made for ("HTTP 503", "connection reset"…). */
  lastProblem?: string;
  attempts: number;
}

/**
 * A fetch that retries transient failures (for the metadata requests @huggingface/hub makes; range
 * reads resume by themselves in source.ts). The answer it gives up on is returned as is, so the
 * library turns it into its HubApiError; a network failure past the budget is rethrown.
 */
export function retryingFetch(
  policy: RetryPolicy,
  trace: FetchTrace,
  signal?: AbortSignal,
  base: typeof fetch = (...a) => fetch(...a),
  onRetry?: (problem: string, delayMs: number) => void,
): typeof fetch {
  return async (input, init) => {
    for (let attempt = 1; ; attempt++) {
      trace.attempts++;
      let res: Response;
      try {
        res = await base(input, { ...init, signal: init?.signal ?? signal });
      } catch (e) {
        if (isAbortError(e) || signal?.aborted) throw new CancelledError();
        trace.lastProblem = e instanceof Error ? (e.cause instanceof Error ? `${e.message} (${e.cause.message})` : e.message) : String(e);
        if (attempt > policy.maxRetries) throw e;
        const d = backoffMs(attempt, policy);
        onRetry?.(trace.lastProblem, d);
        await sleep(d, signal);
        continue;
      }
      trace.status = res.status;
      trace.errorCode = res.headers.get('x-error-code') ?? undefined;
      trace.errorMessage = res.headers.get('x-error-message') ?? undefined;
      if (!retryableStatus(res.status) || attempt > policy.maxRetries) return res;
      trace.lastProblem = `HTTP ${res.status}`;
      await res.body?.cancel().catch(() => undefined);
      const d = backoffMs(attempt, policy, retryAfterMs(res.headers.get('retry-after')));
      onRetry?.(trace.lastProblem, d);
      await sleep(d, signal);
    }
  };
}

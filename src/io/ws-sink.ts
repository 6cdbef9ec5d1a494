// An OutputSink that streams files to the headless CLI's localhost server (src/cli/server.ts) over
// one WebSocket. Same semantics as HttpSink (files land in a temporary sibling of the output
// folder, renamed into place on commit), but much faster from Chromium: fetch() uploads of
// request bodies crawl at ~10 MB/s there, binary WebSocket messages run several times faster.
//
// Protocol (ws://127.0.0.1:PORT/sink-ws; one connection per sink, opened on first use):
//   Every request is one text frame holding a JSON object; a write is a text frame followed by
//   exactly one binary frame carrying the bytes. The server handles requests strictly in order
//   and answers each with one JSON text frame, in the same order:
//     {"op":"open","path":"<relative path>"}        → {"ok":true,"id":"<id>"}      create a file
//     {"op":"write","id":"<id>","offset":n,"bytes":k} + binary frame of k bytes
//                                                   → {"ok":true,"written":n+k}  append; offset must
//                                                                                 equal the bytes written so far
//     {"op":"close","id":"<id>"}                     → {"ok":true,"bytes":n}      file complete
//     {"op":"commit"}                                → {"ok":true,"files":[...]}  folder renamed into place
//     {"op":"abort"}                                 → {"ok":true}                temporary folder removed
//   Errors: {"ok":false,"status":<HTTP-like code>,"message":"…"}. An error is final for the
//   connection: the server answers every later request except abort with an error, and this sink
//   rejects the operation that failed and every later one with IoError carrying the message.
//   The server aborts the output if the socket closes before a commit.
// Writes are pipelined: write() resolves once its bytes are handed to the socket (WebSocket.send
// copies them), not when the server has them on disk; at most WS_SINK_MAX_INFLIGHT_PARTS parts /
// WS_SINK_MAX_INFLIGHT_BYTES bytes are unanswered at any time, and close()/commit() wait for the
// answers to everything sent before them.
import { IoError } from '../errors';
import { outputPathSegments } from './output-path';
import type { FileWriter, OutputSink } from './types';

/** Largest binary frame; bigger writes are split. */
export const WS_SINK_MAX_PART = 16 * 1024 * 1024;
/** Write parts sent but not yet answered, at most. */
export const WS_SINK_MAX_INFLIGHT_PARTS = 4;
/** Unanswered write bytes, at most (one bigger part may still go alone). */
export const WS_SINK_MAX_INFLIGHT_BYTES = 64 * 1024 * 1024;
/** Don't send while the socket's own buffer holds more than this. */
const MAX_BUFFERED = 64 * 1024 * 1024;
/** How long abort() waits for the server's answer before closing the socket anyway. */
const ABORT_WAIT_MS = 10_000;

/** The part of the browser WebSocket this sink uses (the `ws` package's client fits too, for tests). */
export interface WsLike {
  binaryType: string;
  readonly readyState: number;
  readonly bufferedAmount: number;
  send(data: string | ArrayBufferView): void;
  close(code?: number, reason?: string): void;
  onopen: ((ev: unknown) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
  onerror: ((ev: unknown) => void) | null;
  onclose: ((ev: { code: number; reason: string }) => void) | null;
}
export type WsFactory = (url: string) => WsLike;

interface Reply {
  ok: boolean;
  status?: number;
  message?: string;
  [k: string]: unknown;
}

interface Pending {
  what: string;
  file?: string;
  /** Bytes of a write part (0 for other requests), released from the window when answered. */
  bytes: number;
  resolve(r: Reply): void;
  reject(e: IoError): void;
}

const OPEN = 1;

export class WsSink implements OutputSink {
  private state: 'open' | 'committed' | 'aborted' = 'open';
  private socket: Promise<WsLike> | null = null;
  private ws: WsLike | null = null;
  /** Set once anything fails; every later operation rejects with it. */
  private failure: IoError | null = null;
  /** Requests sent, in order, waiting for their answers. */
  private readonly pending: Pending[] = [];
  private inflightParts = 0;
  private inflightBytes = 0;
  /** Woken on every answer and on failure (window waits). */
  private wakers: (() => void)[] = [];
  /** Serializes sending, so the parts of one write() go out together and in call order. */
  private sendQueue: Promise<unknown> = Promise.resolve();
  private readonly openWriters = new Set<string>();

  constructor(
    readonly url: string,
    private readonly factory: WsFactory = (u) => new WebSocket(u) as unknown as WsLike,
  ) {}

  async create(path: string): Promise<FileWriter> {
    this.assertOpen('create ' + path);
    outputPathSegments(path);
    const reply = await (await this.enqueue(() => this.send({ op: 'open', path }, `open "${path}"`, path))).answered;
    const id = reply.id;
    if (typeof id !== 'string' || !id) throw this.fail(new IoError(`Output server at ${this.url} gave no file id for "${path}"`, { file: path }));
    this.openWriters.add(id);
    let offset = 0;
    let closed = false;
    return {
      write: async (bytes: Uint8Array) => {
        if (closed) throw new IoError(`Write to "${path}" after it was closed`, { file: path });
        this.assertOpen('write ' + path);
        if (!bytes.byteLength) return;
        await this.enqueue(async () => {
          for (let at = 0; at < bytes.byteLength; at += WS_SINK_MAX_PART) {
            const part = sendable(bytes.subarray(at, Math.min(bytes.byteLength, at + WS_SINK_MAX_PART)));
            await this.admit(part.byteLength, path);
            // The answer is not awaited: a failure reaches the caller through this.failure (the
            // next operation rejects with it, close() and commit() at the latest).
            await this.send({ op: 'write', id, offset, bytes: part.byteLength }, `write to "${path}"`, path, part);
            offset += part.byteLength;
          }
        });
      },
      close: async () => {
        if (closed) return;
        closed = true;
        await (await this.enqueue(() => this.send({ op: 'close', id }, `close "${path}"`, path))).answered;
        this.openWriters.delete(id);
      },
    };
  }

  async commit(): Promise<void> {
    this.assertOpen('commit');
    if (this.openWriters.size) throw new IoError(`Cannot commit the output: ${this.openWriters.size} file(s) are still open`);
    await (await this.enqueue(() => this.send({ op: 'commit' }, 'commit'))).answered;
    this.state = 'committed';
    this.ws?.close(1000, 'committed');
  }

  /** Best effort and idempotent; never rejects (the server also aborts when the socket closes). */
  async abort(): Promise<void> {
    if (this.state !== 'open') return;
    this.state = 'aborted';
    const ws = this.ws;
    if (!this.socket) return; // nothing was ever sent
    try {
      if (ws && ws.readyState === OPEN && !this.failure) {
        ws.send(JSON.stringify({ op: 'abort' }));
        const answered = new Promise<Reply>((resolve, reject) => this.pending.push({ what: 'abort', bytes: 0, resolve, reject }));
        await Promise.race([answered, new Promise((ok) => setTimeout(ok, ABORT_WAIT_MS))]);
      }
    } catch {
      /* the CLI removes the temporary folder itself on failure */
    }
    try {
      (ws ?? (await this.socket.catch(() => null)))?.close(1000, 'aborted');
    } catch {
      /* already closed */
    }
  }

  private assertOpen(what: string) {
    if (this.failure) throw this.failure;
    if (this.state !== 'open') throw new IoError(`Cannot ${what}: the output was already ${this.state}`);
  }

  /** Runs `f` (which sends) after everything enqueued before it has been sent; answers are awaited outside. */
  private enqueue<T>(f: () => Promise<T>): Promise<T> {
    const sent = this.sendQueue.then(() => (this.failure ? Promise.reject(this.failure) : f()));
    this.sendQueue = sent.then(
      () => undefined,
      () => undefined,
    );
    return sent;
  }

  private connect(): Promise<WsLike> {
    this.socket ??= new Promise<WsLike>((resolve, reject) => {
      let ws: WsLike;
      try {
        ws = this.factory(this.url);
        ws.binaryType = 'arraybuffer';
      } catch (e) {
        reject(this.fail(new IoError(`Cannot connect to the output server at ${this.url}: ${e instanceof Error ? e.message : String(e)}`)));
        return;
      }
      let opened = false;
      ws.onopen = () => {
        opened = true;
        this.ws = ws;
        resolve(ws);
      };
      ws.onerror = () => {
        /* followed by close, which carries the code */
      };
      ws.onclose = (ev) => {
        const why = `${ev.code}${ev.reason ? ' ' + ev.reason : ''}`;
        if (!opened) {
          reject(this.fail(new IoError(`Cannot connect to the output server at ${this.url} (WebSocket closed: ${why})`)));
          return;
        }
        if (this.state === 'open' || this.pending.length)
          this.fail(new IoError(`The connection to the output server at ${this.url} closed unexpectedly (${why})`));
      };
      ws.onmessage = (ev) => this.onReply(ev.data);
    });
    return this.socket;
  }

  private onReply(data: unknown) {
    const p = this.pending.shift();
    if (!p) return void this.fail(new IoError(`Output server at ${this.url} sent an unexpected message`));
    if (p.bytes) {
      this.inflightParts--;
      this.inflightBytes -= p.bytes;
    }
    let reply: Reply;
    try {
      if (typeof data !== 'string') throw new Error('binary answer');
      reply = JSON.parse(data) as Reply;
      if (!reply || typeof reply !== 'object') throw new Error('not an object');
    } catch (e) {
      p.reject(this.fail(new IoError(`Output server at ${this.url} answered ${p.what} with garbage (${(e as Error).message})`, { file: p.file })));
      return;
    }
    if (reply.ok === true) {
      p.resolve(reply);
      this.wake();
      return;
    }
    const err = new IoError(`Output server refused ${p.what}: ${reply.status ?? '?'} ${reply.message ?? 'unknown error'}`, { file: p.file });
    p.reject(this.fail(err));
  }

  /** Records the first failure, rejects everything unanswered, and closes the socket. Returns the failure. */
  private fail(e: IoError): IoError {
    if (!this.failure) {
      this.failure = e;
      for (const p of this.pending.splice(0)) p.reject(e);
      this.inflightParts = 0;
      this.inflightBytes = 0;
      this.wake();
      try {
        this.ws?.close(1000, 'failed');
      } catch {
        /* already closed */
      }
    }
    return this.failure;
  }

  private wake() {
    const w = this.wakers;
    this.wakers = [];
    for (const f of w) f();
  }

  /** Waits until a write part of `bytes` fits the window and the socket's buffer has room. */
  private async admit(bytes: number, file: string) {
    const ws = await this.connect();
    for (;;) {
      if (this.failure) throw this.failure;
      if (this.state !== 'open') throw new IoError(`Cannot write "${file}": the output was already ${this.state}`, { file });
      const windowFull =
        this.inflightParts >= WS_SINK_MAX_INFLIGHT_PARTS || (this.inflightParts > 0 && this.inflightBytes + bytes > WS_SINK_MAX_INFLIGHT_BYTES);
      if (!windowFull && ws.bufferedAmount <= MAX_BUFFERED) return;
      // Answers wake us; a full socket buffer drains without an event, so poll that.
      await new Promise<void>((ok) => {
        this.wakers.push(ok);
        if (!windowFull) setTimeout(ok, 2);
      });
    }
  }

  /** Sends one request (and a write's bytes); `answered` settles with its answer. */
  private async send(msg: Record<string, unknown>, what: string, file?: string, body?: Uint8Array): Promise<{ answered: Promise<Reply> }> {
    const ws = await this.connect();
    if (this.failure) throw this.failure;
    if (ws.readyState !== OPEN) throw this.fail(new IoError(`The connection to the output server at ${this.url} is closed (${what})`, { file }));
    const bytes = body?.byteLength ?? 0;
    const answered = new Promise<Reply>((resolve, reject) => this.pending.push({ what, file, bytes, resolve, reject }));
    answered.catch(() => {}); // unawaited write answers: their failure surfaces through this.failure
    if (bytes) {
      this.inflightParts++;
      this.inflightBytes += bytes;
    }
    try {
      ws.send(JSON.stringify(msg));
      if (body) ws.send(body);
    } catch (e) {
      throw this.fail(new IoError(`Cannot send ${what} to the output server at ${this.url}: ${e instanceof Error ? e.message : String(e)}`, { file }));
    }
    return { answered };
  }
}

/** A plain Uint8Array view WebSocket.send accepts: not shared memory, not a Node Buffer (which `ws` would mask in place). */
function sendable(b: Uint8Array): Uint8Array {
  if (typeof SharedArrayBuffer !== 'undefined' && b.buffer instanceof SharedArrayBuffer) return b.slice();
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
}

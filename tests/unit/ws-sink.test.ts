// The WebSocket sink protocol end to end against the CLI's server (WsSink over the `ws` package's
// client ↔ node:http + ws server, no browser), and the raw protocol's error answers.
import { mkdir, mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { WsSink, WS_SINK_MAX_PART, type WsLike } from '../../src/io/ws-sink';
import { sinkFor } from '../../src/io/sinks';
import { OutputDir } from '../../src/cli/output-dir';
import { startCliServer, type CliServer } from '../../src/cli/server';

const enc = (s: string) => new TextEncoder().encode(s);
const nodeWs = (url: string) => new WebSocket(url) as unknown as WsLike;
const until = async (cond: () => Promise<boolean> | boolean, ms = 5000) => {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 10));
  }
};

/** A raw protocol client: send frames, read the answers in order. */
async function rawClient(url: string, origin?: string) {
  const ws = new WebSocket(url, origin ? { origin } : {});
  const answers: Record<string, unknown>[] = [];
  ws.on('message', (d, bin) => {
    if (!bin) answers.push(JSON.parse(String(d)) as Record<string, unknown>);
  });
  await new Promise<void>((ok, fail) => {
    ws.once('open', () => ok());
    ws.once('error', fail);
  });
  return {
    ws,
    send: (o: object, bytes?: Uint8Array) => {
      ws.send(JSON.stringify(o));
      if (bytes) ws.send(bytes);
    },
    answer: async (n: number) => {
      await until(() => answers.length > n);
      return answers[n];
    },
  };
}

describe('WebSocket sink ↔ CLI server', () => {
  let tmp: string;
  let out: string;
  let output: OutputDir;
  let server: CliServer;

  beforeEach(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'ws-sink-'));
    out = join(tmp, 'merged');
    await mkdir(join(tmp, 'm'));
    output = new OutputDir(out, 'test');
    server = await startCliServer({ root: tmp, models: [], output, vite: false });
  });
  afterEach(async () => {
    await server.close();
    await rm(tmp, { recursive: true, force: true });
  });

  it('sinkFor(ws) is a WsSink; the URL is ws://…/sink-ws', () => {
    expect(sinkFor({ kind: 'ws', url: server.sinkWsUrl })).toBeInstanceOf(WsSink);
    expect(server.sinkWsUrl).toMatch(/^ws:\/\/127\.0\.0\.1:\d+\/sink-ws$/);
  });

  it('pipelines writes (split into parts) into <out>.partial-<tag> and renames on commit', async () => {
    const sink = new WsSink(server.sinkWsUrl, nodeWs);
    const a = await sink.create('model.safetensors');
    // Bigger than several parts: split, pipelined, and the caller may reuse its buffer at once.
    const big = new Uint8Array(WS_SINK_MAX_PART * 3 + 12345);
    for (let i = 0; i < big.length; i += 4096) big[i] = (i / 4096) & 0xff;
    const expected = big.slice();
    await a.write(enc('abc'));
    await a.write(new Uint8Array(0));
    await a.write(big);
    big.fill(7); // reused by the caller after write() resolved
    await a.write(Buffer.from('xyz')); // a Node Buffer must not be masked in place
    const b = await sink.create('sub/config.json');
    await b.write(enc('{}def').subarray(2)); // a view: only its bytes are sent
    await b.close();
    expect((await readdir(tmp)).sort()).toEqual(['m', 'merged.partial-test']);
    await expect(sink.commit()).rejects.toThrow(/still open/);
    await a.close();
    await sink.commit();
    expect((await readdir(tmp)).sort()).toEqual(['m', 'merged']);
    const got = await readFile(join(out, 'model.safetensors'));
    expect(got.byteLength).toBe(3 + expected.byteLength + 3);
    expect(got.subarray(0, 3).toString()).toBe('abc');
    expect(Buffer.compare(got.subarray(3, 3 + expected.byteLength), expected)).toBe(0);
    expect(got.subarray(-3).toString()).toBe('xyz');
    expect(await readFile(join(out, 'sub/config.json'), 'utf8')).toBe('def');
    expect(output.closed).toEqual([
      { path: 'sub/config.json', bytes: 3 },
      { path: 'model.safetensors', bytes: got.byteLength },
    ]);
    await expect(sink.create('late')).rejects.toThrow(/committed/);
  });

  it('an error answer rejects that operation and every later one with the server’s message', async () => {
    const sink = new WsSink(server.sinkWsUrl, nodeWs);
    const w = await sink.create('a.bin');
    await expect(sink.create('a.bin')).rejects.toThrow(/refused open "a\.bin": 409 "a\.bin" was opened twice/);
    await expect(w.write(enc('x'))).rejects.toThrow(/opened twice/);
    await expect(sink.commit()).rejects.toThrow(/opened twice/);
    await sink.abort(); // never rejects
    await until(async () => (await readdir(tmp)).length === 1);
    expect(await readdir(tmp)).toEqual(['m']);
  });

  it('a failed pipelined write surfaces at the next operation (close)', async () => {
    const sink = new WsSink(server.sinkWsUrl, nodeWs);
    const w = await sink.create('a.bin');
    await w.write(enc('ok'));
    output.writeBytes = async () => {
      throw new Error('ENOSPC: no space left on device');
    };
    await w.write(enc('lost')); // resolves once sent: the answer comes later
    await expect(w.close()).rejects.toThrow(/refused write to "a\.bin": 500 ENOSPC/);
    await expect(sink.commit()).rejects.toThrow(/ENOSPC/);
    await sink.abort();
    await until(async () => (await readdir(tmp)).length === 1);
  });

  it('abort removes the temporary folder; idempotent', async () => {
    const sink = new WsSink(server.sinkWsUrl, nodeWs);
    const w = await sink.create('x.bin');
    await w.write(enc('partial'));
    await sink.abort();
    await sink.abort();
    expect((await readdir(tmp)).sort()).toEqual(['m']);
    expect(output.state).toBe('aborted');
    await expect(sink.create('y')).rejects.toThrow(/aborted/);
  });

  it('a socket closed before commit aborts the output', async () => {
    const c = await rawClient(server.sinkWsUrl);
    c.send({ op: 'open', path: 'x.bin' });
    expect(await c.answer(0)).toEqual({ ok: true, id: '1' });
    c.send({ op: 'write', id: '1', offset: 0, bytes: 3 }, enc('abc'));
    expect(await c.answer(1)).toEqual({ ok: true, written: 3 });
    expect((await readdir(tmp)).sort()).toEqual(['m', 'merged.partial-test']);
    c.ws.close();
    await until(() => output.state === 'aborted');
    await until(async () => (await readdir(tmp)).length === 1);
  });

  it('raw protocol: answers in order; bad requests are refused, then everything but abort', async () => {
    const c = await rawClient(server.sinkWsUrl);
    c.send({ op: 'open', path: '../evil' });
    c.send({ op: 'open', path: 'ok.bin' });
    c.send({ op: 'abort' });
    expect(await c.answer(0)).toMatchObject({ ok: false, status: 400 });
    expect(await c.answer(1)).toMatchObject({ ok: false, status: 409, message: expect.stringMatching(/earlier request failed/) });
    expect(await c.answer(2)).toEqual({ ok: true });
    expect(output.state).toBe('aborted');
  });

  it('raw protocol: wrong offset, wrong length, unknown id, unknown op', async () => {
    for (const [req, bytes, status, msg] of [
      [{ op: 'write', id: '1', offset: 5, bytes: 1 }, enc('x'), 409, /offset 5, but 0 bytes/],
      [{ op: 'write', id: '1', offset: 0, bytes: 2 }, enc('x'), 400, /announced 2 bytes but carried 1/],
      [{ op: 'write', id: '9', offset: 0, bytes: 1 }, enc('x'), 404, /no open output file/],
      [{ op: 'write', id: '1', offset: -1, bytes: 1 }, enc('x'), 400, /non-negative integer offset/],
      [{ op: 'rename' }, undefined, 400, /unknown sink op "rename"/],
    ] as const) {
      const c = await rawClient(server.sinkWsUrl);
      c.send({ op: 'open', path: `f${Math.random()}` });
      const { id } = (await c.answer(0)) as { id: string };
      c.send({ ...req, ...('id' in req && req.id === '1' ? { id } : {}) }, bytes);
      expect(await c.answer(1)).toMatchObject({ ok: false, status, message: expect.stringMatching(msg) });
      c.ws.terminate();
      await until(() => output.state === 'aborted');
      // A fresh output for the next case (the server holds the same OutputDir object).
      Object.assign(output, new OutputDir(out, 'test'));
    }
  });

  it('refuses other origins and other paths; an unreachable URL is an IoError naming it', async () => {
    await expect(rawClient(server.sinkWsUrl, 'http://evil.example')).rejects.toThrow(/403/);
    await expect(rawClient(server.sinkWsUrl.replace('/sink-ws', '/other'))).rejects.toThrow(/404/);
    const dead = new WsSink('ws://127.0.0.1:1/sink-ws', nodeWs);
    await expect(dead.create('a')).rejects.toThrow(/Cannot connect to the output server at ws:\/\/127\.0\.0\.1:1\/sink-ws/);
    await dead.abort();
  });
});

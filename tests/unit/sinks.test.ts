// Output sinks: memory semantics, output path rules, and the HTTP sink protocol end to end
// against the CLI's server (Node fetch ↔ node:http, no browser).
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { HttpSink } from '../../src/io/http-sink';
import { isValidOutputPath } from '../../src/io/output-path';
import { MemorySink, sinkFor } from '../../src/io/sinks';
import { OutputDir } from '../../src/cli/output-dir';
import { startCliServer, type CliServer } from '../../src/cli/server';
import type { ResolvedModel } from '../../src/cli/models';

const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array) => new TextDecoder().decode(b);

describe('output paths', () => {
  it.each(['model.safetensors', 'a/b.json', 'model-00001-of-00002.safetensors', '.hidden'])('accepts %j', (p) => expect(isValidOutputPath(p)).toBe(true));
  it.each(['', '/etc/passwd', '../x', 'a/../b', 'a//b', 'a/', './a', 'a\\b', 'C:x', 'a\u0000b'])('rejects %j', (p) => expect(isValidOutputPath(p)).toBe(false));
});

describe('MemorySink', () => {
  it('publishes files only on commit, copying the caller’s buffers', async () => {
    const s = new MemorySink();
    const w = await s.create('a.bin');
    const buf = enc('hello ');
    await w.write(buf);
    buf.fill(0); // reused by the caller
    await w.write(enc('world'));
    await w.close();
    expect(s.files).toEqual({});
    await s.commit();
    expect(dec(s.files['a.bin'])).toBe('hello world');
    await expect(s.create('b')).rejects.toThrow(/committed/);
  });
  it('abort discards everything; duplicates, bad paths and open files are errors', async () => {
    const s = new MemorySink();
    await expect(s.create('../x')).rejects.toThrow(/not allowed/);
    const w = await s.create('a');
    await expect(s.create('a')).rejects.toThrow(/twice/);
    await expect(s.commit()).rejects.toThrow(/still writing a/);
    await w.write(enc('x'));
    await s.abort();
    await w.close();
    expect(s.files).toEqual({});
    await expect(s.commit()).rejects.toThrow(/aborted/);
  });
  it('sinkFor(memory) is a MemorySink, sinkFor(http) an HttpSink', () => {
    expect(sinkFor({ kind: 'memory' })).toBeInstanceOf(MemorySink);
    expect(sinkFor({ kind: 'http', url: 'http://127.0.0.1:1/sink' })).toBeInstanceOf(HttpSink);
  });
});

describe('HTTP sink ↔ CLI server', () => {
  let tmp: string;
  let out: string;
  let output: OutputDir;
  let server: CliServer;
  let model: ResolvedModel;

  beforeEach(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'sink-'));
    out = join(tmp, 'merged');
    await mkdir(join(tmp, 'm'));
    await writeFile(join(tmp, 'm', 'w.safetensors'), Uint8Array.from({ length: 100 }, (_, i) => i));
    await writeFile(join(tmp, 'secret.txt'), 'no');
    model = { ref: 'org/m', dir: join(tmp, 'm'), files: [{ path: 'w.safetensors', size: 100, abs: join(tmp, 'm', 'w.safetensors') }] };
    output = new OutputDir(out, 'test');
    server = await startCliServer({ root: tmp, models: [model], output, vite: false });
  });
  afterEach(async () => {
    await server.close();
    await rm(tmp, { recursive: true, force: true });
  });

  it('writes into <out>.partial-<tag> and renames on commit', async () => {
    const sink = new HttpSink(server.sinkUrl);
    const a = await sink.create('model.safetensors');
    await a.write(enc('abc'));
    await a.write(new Uint8Array(0));
    await a.write(enc('def').subarray(1)); // a view: only its bytes are sent
    const b = await sink.create('sub/config.json');
    await b.write(enc('{}'));
    await b.close();
    expect((await readdir(tmp)).sort()).toEqual(['m', 'merged.partial-test', 'secret.txt']);
    await expect(sink.commit()).rejects.toThrow(/still open/);
    await a.close();
    await sink.commit();
    expect((await readdir(tmp)).sort()).toEqual(['m', 'merged', 'secret.txt']);
    expect(await readFile(join(out, 'model.safetensors'), 'utf8')).toBe('abcef');
    expect(await readFile(join(out, 'sub/config.json'), 'utf8')).toBe('{}');
    expect(output.closed).toEqual([
      { path: 'sub/config.json', bytes: 2 },
      { path: 'model.safetensors', bytes: 5 },
    ]);
  });

  it('abort removes the temporary folder and nothing appears', async () => {
    const sink = new HttpSink(server.sinkUrl);
    const w = await sink.create('x.bin');
    await w.write(enc('partial'));
    await sink.abort();
    await sink.abort(); // idempotent
    expect((await readdir(tmp)).sort()).toEqual(['m', 'secret.txt']);
    await expect(sink.create('y')).rejects.toThrow(/aborted/);
  });

  it('refuses traversal, duplicate names, out-of-order writes, and unknown ids', async () => {
    const post = (q: string) => fetch(`${server.sinkUrl}/${q}`, { method: 'POST' });
    expect((await post('open?path=..%2Fevil')).status).toBe(400);
    expect((await post('open?path=%2Fetc%2Fx')).status).toBe(400);
    const { id } = (await (await post('open?path=a')).json()) as { id: string };
    expect((await post('open?path=a')).status).toBe(409);
    expect((await fetch(`${server.sinkUrl}/write?id=${id}&offset=5`, { method: 'PUT', body: enc('x') })).status).toBe(409);
    expect((await fetch(`${server.sinkUrl}/write?id=999&offset=0`, { method: 'PUT', body: enc('x') })).status).toBe(404);
    const res = await fetch(`${server.sinkUrl}/write?id=${id}&offset=0`, { method: 'PUT', body: enc('x') });
    expect(res.status).toBe(204);
    const sink = new HttpSink(server.sinkUrl);
    await expect(sink.create('a')).rejects.toThrow(/409/);
  });

  it('serves model files with Range, and nothing else', async () => {
    const base = `${server.modelsUrl}/0/w.safetensors`;
    const full = await fetch(base);
    expect(full.status).toBe(200);
    expect(full.headers.get('accept-ranges')).toBe('bytes');
    expect(full.headers.get('cross-origin-embedder-policy')).toBe('require-corp');
    expect((await full.arrayBuffer()).byteLength).toBe(100);
    const part = await fetch(base, { headers: { Range: 'bytes=10-19' } });
    expect(part.status).toBe(206);
    expect(part.headers.get('content-range')).toBe('bytes 10-19/100');
    expect([...new Uint8Array(await part.arrayBuffer())]).toEqual([10, 11, 12, 13, 14, 15, 16, 17, 18, 19]);
    const tail = await fetch(base, { headers: { Range: 'bytes=-3' } });
    expect([...new Uint8Array(await tail.arrayBuffer())]).toEqual([97, 98, 99]);
    const bad = await fetch(base, { headers: { Range: 'bytes=100-' } });
    expect(bad.status).toBe(416);
    expect(bad.headers.get('content-range')).toBe('bytes */100');
    for (const p of ['0/..%2Fsecret.txt', '0/%2E%2E/secret.txt', '1/w.safetensors', '0/missing', 'x/w.safetensors'])
      expect((await fetch(`${server.modelsUrl}/${p}`)).status, p).toBe(404);
  });
});

import { mkdtemp, rm, symlink, writeFile, mkdir } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CancelledError, IoError, ModelError, SafetensorsError, UnsupportedDtypeError } from '../../src/errors';
import { inferNumLayers, openModel } from '../../src/formats/model';
import {
  assertMergeableDtype,
  buildSafetensorsHeader,
  findDuplicateKey,
  parseSafetensorsHeader,
  parseShardIndex,
  planShards,
  type OutputTensor,
} from '../../src/formats/safetensors';
import { NodeFileSource, nodeModelFiles } from '../../src/io/node-source';
import { BlobSource, HttpSource, MemorySource } from '../../src/io/sources';
import type { ByteSource } from '../../src/io/types';

const enc = new TextEncoder();

/** A file made of a raw header text (not padded) and `data` bytes. */
function rawFile(header: string | object, data: number | Uint8Array = 0): Uint8Array {
  const json = enc.encode(typeof header === 'string' ? header : JSON.stringify(header));
  const body = typeof data === 'number' ? new Uint8Array(data) : data;
  const out = new Uint8Array(8 + json.length + body.length);
  new DataView(out.buffer).setUint32(0, json.length, true);
  out.set(json, 8);
  out.set(body, 8 + json.length);
  return out;
}

function withPrefix(bytes: Uint8Array, lo: number, hi: number): Uint8Array {
  const out = bytes.slice();
  const v = new DataView(out.buffer);
  v.setUint32(0, lo, true);
  v.setUint32(4, hi, true);
  return out;
}

function parse(bytes: Uint8Array, name = 'model.safetensors') {
  return parseSafetensorsHeader(name, bytes.length, async (o, l) => bytes.slice(o, o + l));
}

async function rejects(p: Promise<unknown>, cls: new (...a: never[]) => Error, ...parts: string[]): Promise<Error> {
  let err: unknown;
  try {
    await p;
  } catch (e) {
    err = e;
  }
  expect(err, 'expected a rejection').toBeInstanceOf(cls);
  for (const part of parts) expect((err as Error).message).toContain(part);
  return err as Error;
}

const entry = (dtype: string, shape: number[], begin: number, end: number) => ({ dtype, shape, data_offsets: [begin, end] });

/** A complete file: layout from buildSafetensorsHeader followed by deterministic data. */
function buildFile(tensors: OutputTensor[], metadata?: Record<string, string>): Uint8Array {
  const layout = buildSafetensorsHeader(tensors, metadata);
  const out = new Uint8Array(layout.bytes.length + layout.dataBytes);
  out.set(layout.bytes);
  for (let i = 0; i < layout.dataBytes; i++) out[layout.bytes.length + i] = (i * 31 + 7) & 0xff;
  return out;
}

describe('safetensors header round trip', () => {
  it('parses what buildSafetensorsHeader lays out', async () => {
    const tensors: OutputTensor[] = [
      { name: 'model.layers.0.w', dtype: 'F32', shape: [2, 3] },
      { name: '10', dtype: 'BF16', shape: [4] },
      { name: '2', dtype: 'F16', shape: [] },
      { name: 'empty', dtype: 'F32', shape: [0, 5] },
      { name: 'uni "q" \\ é', dtype: 'BF16', shape: [1, 1, 3] },
    ];
    const layout = buildSafetensorsHeader(tensors, { format: 'pt', note: 'x' });
    expect(layout.bytes.length % 8).toBe(0);
    const n = new DataView(layout.bytes.buffer).getUint32(0, true);
    expect(n).toBe(layout.bytes.length - 8);
    expect(new DataView(layout.bytes.buffer).getUint32(4, true)).toBe(0);
    const text = new TextDecoder().decode(layout.bytes.subarray(8));
    expect(text).toMatch(/^\{.*\} {0,7}$/s); // padded with spaces
    expect(buildSafetensorsHeader([{ name: 'ab', dtype: 'F32', shape: [1] }]).bytes.at(-1)).toBe(0x20);
    expect(layout.dataBytes).toBe(24 + 8 + 2 + 0 + 6);
    expect(layout.offsets.map((o) => o.name)).toEqual(tensors.map((t) => t.name));

    const file = buildFile(tensors, { format: 'pt', note: 'x' });
    const h = await parse(file);
    expect(h.headerLength).toBe(n);
    expect(h.dataStart).toBe(8 + n);
    expect(h.metadata).toEqual({ format: 'pt', note: 'x' });
    // Data-offset order equals the given order (integer-like names are not moved to the front).
    expect(h.tensors.map((t) => t.name)).toEqual(['model.layers.0.w', '10', '2', 'empty', 'uni "q" \\ é']);
    expect(h.tensors[0]).toEqual({ name: 'model.layers.0.w', dtype: 'F32', shape: [2, 3], begin: 0, end: 24 });
    expect(h.tensors[2]).toEqual({ name: '2', dtype: 'F16', shape: [], begin: 32, end: 34 });
    expect(h.tensors[3]).toEqual({ name: 'empty', dtype: 'F32', shape: [0, 5], begin: 34, end: 34 });
  });

  it('handles a header with no tensors and no metadata', async () => {
    const file = buildFile([]);
    const h = await parse(file);
    expect(h.tensors).toEqual([]);
    expect(h.metadata).toEqual({});
    expect(file.length).toBe(16); // "{}" padded to 8
  });

  it('accepts every known dtype, sub-byte types with ceil(numel × bits / 8)', async () => {
    const file = rawFile(
      {
        a: entry('F4', [3], 0, 2),
        b: entry('F6_E3M2', [5], 2, 6),
        c: entry('I64', [2], 6, 22),
        d: entry('BOOL', [3], 22, 25),
        e: entry('F8_E4M3', [2, 2], 25, 29),
        f: entry('C64', [1], 29, 37),
      },
      37,
    );
    const h = await parse(file);
    expect(h.tensors.map((t) => t.dtype)).toEqual(['F4', 'F6_E3M2', 'I64', 'BOOL', 'F8_E4M3', 'C64']);
  });

  it('rejects duplicate or reserved names when building', () => {
    expect(() => buildSafetensorsHeader([{ name: 'a', dtype: 'F32', shape: [1] }, { name: 'a', dtype: 'F32', shape: [1] }])).toThrow(SafetensorsError);
    expect(() => buildSafetensorsHeader([{ name: '__metadata__', dtype: 'F32', shape: [1] }])).toThrow(SafetensorsError);
  });
});

describe('safetensors header validation', () => {
  const F = 'model.safetensors';

  it('rejects files shorter than 8 bytes', async () => {
    await rejects(parse(new Uint8Array(5)), SafetensorsError, F, '5 bytes');
    await rejects(parse(new Uint8Array(0)), SafetensorsError, F);
  });

  it('rejects a header length above 100 MB, above the file size, and above 2^53 exactly', async () => {
    const ok = rawFile({}, 0);
    await rejects(parse(withPrefix(ok, 100_000_001, 0)), SafetensorsError, F, '100000001', 'limit');
    await rejects(parse(withPrefix(ok, 3, 0)), SafetensorsError, F); // "{}" cut → not JSON / trailing
    await rejects(parse(withPrefix(ok, 50, 0)), SafetensorsError, F, 'header length 50', 'only 2 bytes');
    await rejects(parse(withPrefix(ok, 0xffffffff, 0xffffffff)), SafetensorsError, F, '18446744073709551615');
    // 2^53 + 1 is not representable as a double; the message must show it exactly.
    await rejects(parse(withPrefix(ok, 1, 0x200000)), SafetensorsError, F, '9007199254740993');
    await rejects(parse(withPrefix(ok, 0, 1)), SafetensorsError, F, '4294967296');
  });

  it('rejects a header that is not UTF-8, not JSON, or not an object', async () => {
    const bad = rawFile('{"a":1}');
    bad[10] = 0xff;
    await rejects(parse(bad), SafetensorsError, F, 'UTF-8');
    await rejects(parse(rawFile('{"a": ')), SafetensorsError, F, 'not valid JSON');
    await rejects(parse(rawFile('')), SafetensorsError, F, 'not valid JSON');
    await rejects(parse(rawFile('[1,2]')), SafetensorsError, F, 'must be a JSON object', 'array');
    await rejects(parse(rawFile('"x"')), SafetensorsError, F, 'must be a JSON object');
    await rejects(parse(rawFile('null')), SafetensorsError, F, 'must be a JSON object');
    // A byte-order mark is not JSON whitespace.
    await rejects(parse(rawFile('\uFEFF{}')), SafetensorsError, F, 'not valid JSON');
  });

  it('validates __metadata__', async () => {
    await rejects(parse(rawFile({ __metadata__: [] })), SafetensorsError, F, '__metadata__', 'array');
    await rejects(parse(rawFile({ __metadata__: null })), SafetensorsError, F, '__metadata__');
    await rejects(parse(rawFile({ __metadata__: { format: 1 } })), SafetensorsError, F, '__metadata__', '"format"', 'string');
    const h = await parse(rawFile({ __metadata__: { format: 'pt', __proto__x: 'y' } }));
    expect(h.metadata.format).toBe('pt');
  });

  it('validates the shape of each entry', async () => {
    await rejects(parse(rawFile({ x: 5 }, 0)), SafetensorsError, F, 'tensor "x"', 'must be an object');
    await rejects(parse(rawFile({ x: [1] }, 0)), SafetensorsError, F, 'tensor "x"', 'must be an object');
    await rejects(parse(rawFile({ x: { ...entry('F32', [1], 0, 4), extra: 1 } }, 4)), SafetensorsError, F, 'tensor "x"', '"extra"');
    await rejects(parse(rawFile({ x: { dtype: 'F32', shape: [1] } }, 4)), SafetensorsError, F, 'tensor "x"', 'data_offsets');
    await rejects(parse(rawFile({ x: { dtype: 'F32', data_offsets: [0, 4] } }, 4)), SafetensorsError, F, 'tensor "x"', '"shape"');
  });

  it('validates dtype', async () => {
    await rejects(parse(rawFile({ x: entry('F128', [1], 0, 16) }, 16)), SafetensorsError, F, 'tensor "x"', 'unknown dtype "F128"', 'BF16');
    await rejects(parse(rawFile({ x: entry('constructor', [1], 0, 4) }, 4)), SafetensorsError, F, 'tensor "x"', 'unknown dtype');
    await rejects(parse(rawFile({ x: entry('toString', [1], 0, 4) }, 4)), SafetensorsError, F, 'unknown dtype');
    await rejects(parse(rawFile({ x: { dtype: 32, shape: [1], data_offsets: [0, 4] } }, 4)), SafetensorsError, F, 'dtype must be a string');
  });

  it('validates shape', async () => {
    await rejects(parse(rawFile({ x: entry('F32', [-1], 0, 4) }, 4)), SafetensorsError, F, 'tensor "x"', 'shape[0]', '-1');
    await rejects(parse(rawFile({ x: entry('F32', [1.5], 0, 4) }, 4)), SafetensorsError, F, 'shape[0]');
    await rejects(parse(rawFile({ x: entry('F32', [2 ** 60], 0, 4) }, 4)), SafetensorsError, F, 'shape[0]');
    await rejects(parse(rawFile('{"x":{"dtype":"F32","shape":[1,"2"],"data_offsets":[0,8]}}', 8)), SafetensorsError, F, 'shape[1]');
    await rejects(parse(rawFile('{"x":{"dtype":"F32","shape":3,"data_offsets":[0,12]}}', 12)), SafetensorsError, F, 'shape must be an array');
  });

  it('validates data_offsets', async () => {
    await rejects(parse(rawFile('{"x":{"dtype":"F32","shape":[1],"data_offsets":[0]}}', 4)), SafetensorsError, F, 'tensor "x"', 'data_offsets');
    await rejects(parse(rawFile('{"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4,8]}}', 4)), SafetensorsError, F, 'data_offsets');
    await rejects(parse(rawFile({ x: entry('F32', [0], 4, 0) }, 4)), SafetensorsError, F, 'tensor "x"', 'end before they begin');
    await rejects(parse(rawFile({ x: entry('F32', [1], 0.5, 4) }, 4)), SafetensorsError, F, 'data_offsets');
    await rejects(parse(rawFile({ x: entry('F32', [1], -4, 0) }, 4)), SafetensorsError, F, 'data_offsets');
  });

  it('checks byte length against dtype and shape with an actionable message', async () => {
    const err = await rejects(parse(rawFile({ x: entry('BF16', [3, 4], 0, 10) }, 10)), SafetensorsError);
    expect(err.message).toBe('model.safetensors: tensor "x": data_offsets [0, 10] give 10 bytes, but BF16 [3, 4] needs 24 bytes');
    await rejects(parse(rawFile({ x: entry('F4', [3], 0, 1) }, 1)), SafetensorsError, 'F4 [3] needs 2 bytes');
    // numel overflowing 2^53 is compared exactly, not rounded.
    await rejects(parse(rawFile({ x: entry('U8', [2 ** 30, 2 ** 30, 2 ** 30], 0, 4) }, 4)), SafetensorsError, 'needs 1237940039285380274899124224 bytes');
  });

  it('requires contiguous offsets: gaps, overlaps, truncation and trailing bytes differ', async () => {
    const gap = await rejects(parse(rawFile({ a: entry('F32', [1], 0, 4), b: entry('F32', [1], 8, 12) }, 12)), SafetensorsError, F, 'tensor "b"', 'gap of 4 bytes', '"a"');
    expect(gap.message).not.toContain('truncated');
    await rejects(parse(rawFile({ a: entry('F32', [1], 4, 8) }, 8)), SafetensorsError, F, 'tensor "a"', 'gap');
    await rejects(parse(rawFile({ a: entry('F32', [2], 0, 8), b: entry('F32', [1], 4, 8) }, 8)), SafetensorsError, F, 'overlap', '"a"');
    await rejects(parse(rawFile({ a: entry('F32', [1], 0, 4), b: entry('F32', [1], 0, 4) }, 8)), SafetensorsError, F, 'overlap');
    const trunc = await rejects(parse(rawFile({ a: entry('F32', [4], 0, 16) }, 10)), SafetensorsError, F, 'file truncated', '16 bytes', 'only 10');
    expect(trunc.message).not.toContain('trailing');
    const trail = await rejects(parse(rawFile({ a: entry('F32', [1], 0, 4) }, 9)), SafetensorsError, F, 'trailing bytes', '4 bytes', '9 bytes', '5 unexplained');
    expect(trail.message).not.toContain('truncated');
    await rejects(parse(rawFile({}, 3)), SafetensorsError, 'trailing bytes');
    // Zero-size tensors at a boundary are fine; inside another tensor they overlap.
    await parse(rawFile({ a: entry('F32', [1], 0, 4), z: entry('F32', [0], 4, 4), y: entry('F32', [0], 0, 0) }, 4));
    await rejects(parse(rawFile({ a: entry('F32', [2], 0, 8), z: entry('F32', [0], 4, 4) }, 8)), SafetensorsError, 'tensor "z"', 'overlap');
  });

  it('returns tensors in data-offset order', async () => {
    const h = await parse(rawFile({ b: entry('F32', [1], 4, 8), a: entry('F32', [1], 0, 4) }, 8));
    expect(h.tensors.map((t) => t.name)).toEqual(['a', 'b']);
  });

  it('detects duplicate names that JSON.parse would silently merge', async () => {
    const dup = '{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}';
    await rejects(parse(rawFile(dup, 4)), SafetensorsError, F, 'tensor "w"', 'twice');
    const escaped = '{"ab":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a\\u0062":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}';
    await rejects(parse(rawFile(escaped, 4)), SafetensorsError, 'tensor "ab"', 'twice');
    const inner = '{"w":{"dtype":"F32","dtype":"F16","shape":[1],"data_offsets":[0,4]}}';
    await rejects(parse(rawFile(inner, 4)), SafetensorsError, 'tensor "w"', '"dtype" twice');
    const meta = '{"__metadata__":{"k":"a","k":"b"}}';
    await rejects(parse(rawFile(meta)), SafetensorsError, '__metadata__', '"k" twice');
    const meta2 = '{"__metadata__":{},"__metadata__":{}}';
    await rejects(parse(rawFile(meta2)), SafetensorsError, 'two "__metadata__"');
    // Quotes, braces and escaped backslashes inside strings do not confuse the scanner.
    const tricky = '{"__metadata__":{"s":"{\\"x\\": 1, \\"x\\": 2}","t":"\\\\","u":"]}[{"},"x\\\\":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}';
    const h = await parse(rawFile(tricky, 4));
    expect(h.tensors[0].name).toBe('x\\');
    expect(h.metadata.s).toBe('{"x": 1, "x": 2}');
  });

  it('findDuplicateKey reports the path of the enclosing object', () => {
    expect(findDuplicateKey('{"a":{"b":[{"c":1,"c":2}]}}')).toEqual({ path: ['a', 'b'], key: 'c' });
    expect(findDuplicateKey('{"a":1,"b":[{"a":1},{"a":2}]}')).toBeUndefined();
    expect(findDuplicateKey('[{"a":"a","b":"a"}]')).toBeUndefined();
  });

  it('rejects a reader that returns the wrong number of bytes', async () => {
    const file = rawFile({}, 0);
    await rejects(parseSafetensorsHeader(F, file.length, async (o, l) => file.slice(o, o + l - 1)), SafetensorsError, F, 'returned');
  });

  it('assertMergeableDtype accepts F32/F16/BF16 only', () => {
    for (const d of ['F32', 'F16', 'BF16']) expect(() => assertMergeableDtype(F, { name: 'x', dtype: d })).not.toThrow();
    for (const d of ['I64', 'F8_E4M3', 'F64']) {
      expect(() => assertMergeableDtype(F, { name: 'x', dtype: d })).toThrow(UnsupportedDtypeError);
    }
    expect(() => assertMergeableDtype(F, { name: 'pos_ids', dtype: 'I64' })).toThrow(/model\.safetensors: tensor "pos_ids" has dtype I64/);
  });
});

describe('planShards (mergekit tensor_writer rule)', () => {
  const f32 = (name: string, bytes: number): OutputTensor => ({ name, dtype: 'F32', shape: [bytes / 4] });

  it('fills a shard up to exactly the limit, single shard → model.safetensors', () => {
    const plan = planShards([f32('a', 40), f32('b', 40), f32('c', 20)], 100);
    expect(plan.shards.map((s) => s.fileName)).toEqual(['model.safetensors']);
    expect(plan.index).toBeUndefined();
    expect(plan.totalSize).toBe(100);
    expect(plan.shards[0].metadata).toEqual({ format: 'pt' });
  });

  it('starts a new shard when adding the next tensor would exceed the limit', () => {
    const plan = planShards([f32('a', 40), f32('b', 40), f32('c', 24), f32('d', 76)], 100);
    expect(plan.shards.map((s) => s.tensors.map((t) => t.name))).toEqual([['a', 'b'], ['c', 'd']]);
    expect(plan.shards.map((s) => s.fileName)).toEqual(['model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors']);
    expect(plan.shards.map((s) => s.dataBytes)).toEqual([80, 100]);
    expect(plan.index).toEqual({
      metadata: { total_size: 180, mergekit_version: '0.1.4' },
      weight_map: {
        a: 'model-00001-of-00002.safetensors',
        b: 'model-00001-of-00002.safetensors',
        c: 'model-00002-of-00002.safetensors',
        d: 'model-00002-of-00002.safetensors',
      },
    });
  });

  it('gives a tensor larger than the limit its own shard and never makes an empty shard', () => {
    const plan = planShards([f32('a', 40), f32('big', 400), f32('c', 40)], 100);
    expect(plan.shards.map((s) => s.tensors.map((t) => t.name))).toEqual([['a'], ['big'], ['c']]);
    expect(plan.shards[2].fileName).toBe('model-00003-of-00003.safetensors');
    const first = planShards([f32('big', 400), f32('c', 40)], 100);
    expect(first.shards.map((s) => s.tensors.map((t) => t.name))).toEqual([['big'], ['c']]);
    expect(planShards([], 100).shards).toEqual([]);
    expect(planShards([f32('big', 400)], 100).shards.map((s) => s.fileName)).toEqual(['model.safetensors']);
  });

  it('counts bytes by dtype and uses 5e9 by default', () => {
    const t = (name: string, dtype: 'F32' | 'BF16'): OutputTensor => ({ name, dtype, shape: [50_000, 25_000] });
    // BF16 = 2.5e9 bytes each: two fit exactly in 5e9; F32 = 5e9 alone.
    const plan = planShards([t('a', 'BF16'), t('b', 'BF16'), t('c', 'F32'), t('d', 'BF16')]);
    expect(plan.shards.map((s) => s.tensors.map((x) => x.name))).toEqual([['a', 'b'], ['c'], ['d']]);
    expect(plan.totalSize).toBe(12.5e9);
    expect(() => planShards([t('a', 'F32')], 0)).toThrow(RangeError);
  });

  it('shard layouts parse back', async () => {
    const plan = planShards([f32('a', 40), f32('b', 80)], 100);
    for (const s of plan.shards) {
      const file = new Uint8Array(s.layout.bytes.length + s.dataBytes);
      file.set(s.layout.bytes);
      const h = await parse(file, s.fileName);
      expect(h.metadata).toEqual({ format: 'pt' });
      expect(h.tensors.map((t) => t.name)).toEqual(s.tensors.map((t) => t.name));
    }
  });
});

describe('parseShardIndex', () => {
  const I = 'model.safetensors.index.json';
  const idx = (wm: Record<string, unknown>, extra: object = {}) => JSON.stringify({ metadata: { total_size: 8 }, weight_map: wm, ...extra });

  it('parses a valid index', () => {
    const r = parseShardIndex(I, idx({ a: 'model-00001-of-00002.safetensors', b: 'sub/model-00002-of-00002.safetensors' }));
    expect([...r.weightMap]).toEqual([
      ['a', 'model-00001-of-00002.safetensors'],
      ['b', 'sub/model-00002-of-00002.safetensors'],
    ]);
    expect(r.metadata).toEqual({ total_size: 8 });
    expect(parseShardIndex(I, '{"weight_map":{}}').metadata).toEqual({});
  });

  it('rejects paths escaping the model folder, naming the tensor and the path', () => {
    for (const bad of ['../secret.safetensors', '/etc/passwd', 'a\\b.safetensors', 'C:x.safetensors', 'a/../../b', 'a//b', './a', '']) {
      let err: unknown;
      try {
        parseShardIndex(I, idx({ 'model.embed': bad }));
      } catch (e) {
        err = e;
      }
      expect(err, bad).toBeInstanceOf(SafetensorsError);
      expect((err as Error).message).toContain(I);
      expect((err as Error).message).toContain('tensor "model.embed"');
      expect((err as Error).message).toContain(JSON.stringify(bad));
    }
  });

  it('rejects malformed indexes', () => {
    expect(() => parseShardIndex(I, '{')).toThrow(SafetensorsError);
    expect(() => parseShardIndex(I, '[]')).toThrow(/must be a JSON object/);
    expect(() => parseShardIndex(I, '{"metadata":{}}')).toThrow(/no "weight_map"/);
    expect(() => parseShardIndex(I, '{"weight_map":[]}')).toThrow(/"weight_map" must be an object/);
    expect(() => parseShardIndex(I, '{"weight_map":{"a":3}}')).toThrow(/tensor "a".*shard file name/);
    expect(() => parseShardIndex(I, '{"metadata":5,"weight_map":{}}')).toThrow(/"metadata" must be an object/);
    expect(() => parseShardIndex(I, '{"weight_map":{"a":"x.safetensors","a":"y.safetensors"}}')).toThrow(/tensor "a".*twice/);
  });
});

// ---------------------------------------------------------------------------------------------

function textSource(name: string, text: string): MemorySource {
  return new MemorySource(name, enc.encode(text));
}

/** A tiny sharded llama-ish model in memory. */
function shardedModel(): Map<string, ByteSource> {
  const tensors: OutputTensor[] = [
    { name: 'model.embed_tokens.weight', dtype: 'BF16', shape: [8, 4] },
    { name: 'model.layers.0.mlp.weight', dtype: 'F32', shape: [4, 4] },
    { name: 'model.layers.1.mlp.weight', dtype: 'F32', shape: [4, 4] },
    { name: 'model.norm.weight', dtype: 'F16', shape: [4] },
  ];
  const plan = planShards(tensors, 100);
  expect(plan.shards.length).toBe(3);
  const files = new Map<string, ByteSource>();
  for (const s of plan.shards) {
    const file = buildFile(s.tensors, s.metadata);
    files.set(s.fileName, new MemorySource(s.fileName, file));
  }
  files.set('model.safetensors.index.json', textSource('model.safetensors.index.json', JSON.stringify(plan.index)));
  files.set('config.json', textSource('config.json', JSON.stringify({ architectures: ['LlamaForCausalLM'] })));
  files.set('tokenizer.json', textSource('tokenizer.json', '{}'));
  files.set('tokenizer_config.json', textSource('tokenizer_config.json', '{}'));
  return files;
}

function indexOf(files: Map<string, ByteSource>): { metadata: object; weight_map: Record<string, string> } {
  const src = files.get('model.safetensors.index.json') as MemorySource;
  return JSON.parse(new TextDecoder().decode((src as unknown as { bytes: Uint8Array }).bytes));
}

describe('openModel', () => {
  it('opens a sharded model and locates every tensor', async () => {
    const files = shardedModel();
    const m = await openModel('org/tiny', 'tiny', files);
    expect(m.ref).toBe('org/tiny');
    expect(m.name).toBe('tiny');
    expect(m.config).toEqual({ architectures: ['LlamaForCausalLM'] });
    expect([...m.files.keys()].sort()).toEqual(['tokenizer.json', 'tokenizer_config.json']);
    expect([...m.tensors.keys()]).toEqual([
      'model.embed_tokens.weight',
      'model.layers.0.mlp.weight',
      'model.layers.1.mlp.weight',
      'model.norm.weight',
    ]);
    expect(m.numLayers).toBe(2);
    const t = m.tensors.get('model.layers.1.mlp.weight')!;
    expect(t.dtype).toBe('F32');
    expect(t.shape).toEqual([4, 4]);
    expect(t.byteLength).toBe(64);
    expect(t.source.name).toBe('model-00003-of-00003.safetensors');
    // The byte range really is that tensor: compare with the shard's own header.
    const h = await parseSafetensorsHeader('s', t.source.size, (o, l) => t.source.read(o, l));
    const e = h.tensors.find((x) => x.name === t.name)!;
    expect(t.byteOffset).toBe(h.dataStart + e.begin);
    const bytes = await t.source.read(t.byteOffset, t.byteLength);
    expect(bytes.length).toBe(64);
  });

  it('reports a missing shard', async () => {
    const files = shardedModel();
    files.delete('model-00002-of-00003.safetensors');
    await rejects(openModel('org/tiny', 'tiny', files), ModelError, 'model-00002-of-00003.safetensors', 'no such file', 'org/tiny');
  });

  it('reports a tensor listed in the index but absent from its shard', async () => {
    const files = shardedModel();
    const index = indexOf(files);
    index.weight_map['model.layers.2.mlp.weight'] = 'model-00003-of-00003.safetensors';
    files.set('model.safetensors.index.json', textSource('i', JSON.stringify(index)));
    await rejects(openModel('org/tiny', 'tiny', files), ModelError, 'model.layers.2.mlp.weight', 'model-00003-of-00003.safetensors', 'does not contain');
  });

  it('reports a tensor in a shard but not in the index, and one the index puts elsewhere', async () => {
    const files = shardedModel();
    const index = indexOf(files);
    delete index.weight_map['model.norm.weight'];
    files.set('model.safetensors.index.json', textSource('i', JSON.stringify(index)));
    await rejects(openModel('org/tiny', 'tiny', files), ModelError, 'model.norm.weight', 'not listed');

    const files2 = shardedModel();
    const index2 = indexOf(files2);
    index2.weight_map['model.norm.weight'] = 'model-00001-of-00003.safetensors';
    files2.set('model.safetensors.index.json', textSource('i', JSON.stringify(index2)));
    await rejects(openModel('org/tiny', 'tiny', files2), ModelError, 'model.norm.weight', 'model-00001-of-00003.safetensors');
  });

  it('passes through index and header errors as SafetensorsError naming the model file', async () => {
    const files = shardedModel();
    files.set('model.safetensors.index.json', textSource('i', '{"weight_map":{"x":"../x.safetensors"}}'));
    await rejects(openModel('org/tiny', 'tiny', files), SafetensorsError, 'org/tiny/model.safetensors.index.json', 'tensor "x"', '../x.safetensors');
    const files2 = shardedModel();
    files2.set('model-00001-of-00003.safetensors', new MemorySource('m', new Uint8Array(4)));
    await rejects(openModel('org/tiny', 'tiny', files2), SafetensorsError, 'org/tiny/model-00001-of-00003.safetensors');
  });

  it('opens unsharded folders and rejects a tensor present in two files', async () => {
    const a = buildFile([{ name: 'x', dtype: 'F32', shape: [2] }]);
    const b = buildFile([{ name: 'y', dtype: 'BF16', shape: [2] }]);
    const i64 = rawFile({ pos: entry('I64', [2], 0, 16) }, 16);
    const files = new Map<string, ByteSource>([
      ['a.safetensors', new MemorySource('a.safetensors', a)],
      ['b.safetensors', new MemorySource('b.safetensors', b)],
      ['c.safetensors', new MemorySource('c.safetensors', i64)],
      ['sub/ignored.safetensors', new MemorySource('x', new Uint8Array(3))],
    ]);
    const m = await openModel('local', 'local', files);
    expect([...m.tensors.keys()]).toEqual(['pos', 'x', 'y']);
    expect(m.tensors.get('pos')!.dtype).toBe('I64'); // unsupported dtypes are not rejected here
    expect(m.config).toEqual({});
    expect(m.numLayers).toBe(0);

    files.set('d.safetensors', new MemorySource('d.safetensors', buildFile([{ name: 'x', dtype: 'F32', shape: [2] }])));
    await rejects(openModel('local', 'local', files), ModelError, 'tensor "x"', 'a.safetensors', 'd.safetensors');
  });

  it('explains that .bin checkpoints are not supported', async () => {
    const files = new Map<string, ByteSource>([
      ['config.json', textSource('config.json', '{}')],
      ['pytorch_model.bin', new MemorySource('pytorch_model.bin', new Uint8Array(4))],
    ]);
    await rejects(openModel('org/old', 'old', files), ModelError, 'no .safetensors files in org/old', 'pytorch_model.bin', 'not supported', 'convert');
    await rejects(openModel('org/empty', 'e', new Map()), ModelError, 'no .safetensors files in org/empty');
  });

  it('reports a bad config.json', async () => {
    const files = shardedModel();
    files.set('config.json', textSource('config.json', '{"a":'));
    await rejects(openModel('org/tiny', 'tiny', files), ModelError, 'config.json', 'not valid JSON');
    files.set('config.json', textSource('config.json', '[1]'));
    await rejects(openModel('org/tiny', 'tiny', files), ModelError, 'config.json');
  });

  it('takes num_hidden_layers from config, else infers it from names', async () => {
    const files = shardedModel();
    files.set('config.json', textSource('config.json', JSON.stringify({ num_hidden_layers: 32 })));
    expect((await openModel('org/tiny', 'tiny', files)).numLayers).toBe(32);
    expect(inferNumLayers({}, ['model.layers.7.x', 'model.layers.11.y', 'lm_head.weight'])).toBe(12);
    expect(inferNumLayers({ num_hidden_layers: 'x' }, ['transformer.h.3.attn.w', 'transformer.h.10.mlp.w'])).toBe(11);
    expect(inferNumLayers({}, ['a.1.2.b'])).toBe(3);
    expect(inferNumLayers({}, ['embed.weight', 'v1.weight'])).toBe(0);
  });
});

// ---------------------------------------------------------------------------------------------

describe('byte sources', () => {
  const data = new Uint8Array(100).map((_, i) => i);

  async function exercise(src: ByteSource): Promise<void> {
    expect(src.size).toBe(100);
    expect([...(await src.read(10, 5))]).toEqual([10, 11, 12, 13, 14]);
    expect((await src.read(100, 0)).length).toBe(0);
    expect([...(await src.read(0, 100))]).toEqual([...data]);
    const err = await rejects(src.read(95, 10), IoError, `${src.name}: read of bytes [95, 105) past the end of a 100-byte file`);
    expect((err as IoError).details.file).toBe(src.name);
    await rejects(src.read(-1, 2), IoError, src.name);
    const ac = new AbortController();
    ac.abort();
    await rejects(src.read(0, 4, ac.signal), CancelledError);
  }

  it('MemorySource', async () => {
    const src = new MemorySource('mem.bin', data);
    await exercise(src);
    const r = await src.read(0, 4);
    r[0] = 99;
    expect(data[0]).toBe(0); // reads are copies
    expect(await new MemorySource('t', enc.encode('héllo')).text()).toBe('héllo');
  });

  it('BlobSource', async () => {
    await exercise(new BlobSource('blob.bin', new Blob([data])));
    expect(await new BlobSource('t', new Blob(['abc'])).text()).toBe('abc');
  });

  describe('HttpSource and NodeFileSource', () => {
    let server: Server;
    let base = '';
    let dir = '';
    let ignoreRange = false;
    beforeAll(async () => {
      server = createServer((req, res) => {
        const body = Buffer.from(data);
        const m = /^bytes=(\d+)-(\d+)$/.exec(req.headers.range ?? '');
        if (req.url === '/missing') {
          res.writeHead(404).end();
        } else if (m && !ignoreRange) {
          const a = Number(m[1]);
          const b = Math.min(Number(m[2]), body.length - 1);
          res.writeHead(206, { 'Content-Range': `bytes ${a}-${b}/${body.length}`, 'Content-Length': b - a + 1 });
          res.end(req.method === 'HEAD' ? undefined : body.subarray(a, b + 1));
        } else {
          res.writeHead(200, { 'Content-Length': body.length });
          res.end(req.method === 'HEAD' ? undefined : body);
        }
      });
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      const addr = server.address();
      base = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`;
      dir = await mkdtemp(join(tmpdir(), 'st-src-'));
    });
    afterAll(async () => {
      await new Promise<void>((r) => server.close(() => r()));
      await rm(dir, { recursive: true, force: true });
    });

    it('HttpSource reads ranges and checks status and length', async () => {
      const src = await HttpSource.open('remote.bin', `${base}/f`);
      await exercise(src);
      // A server that ignores Range: fine for the whole file, an IoError otherwise.
      ignoreRange = true;
      try {
        expect((await src.read(0, 100)).length).toBe(100);
        await rejects(src.read(10, 5), IoError, 'remote.bin', 'bytes [10, 15)', 'HTTP 200', 'Range');
      } finally {
        ignoreRange = false;
      }
      await rejects(new HttpSource('gone.bin', `${base}/missing`, 100).read(0, 4), IoError, 'gone.bin', 'HTTP 404');
      // The file is shorter than the declared size → wrong length.
      await rejects(new HttpSource('short.bin', `${base}/f`, 200).read(90, 20), IoError, 'short.bin', 'returned 10 bytes');
    });

    it('NodeFileSource and nodeModelFiles', async () => {
      await writeFile(join(dir, 'data.bin'), data);
      await writeFile(join(dir, 'config.json'), '{"num_hidden_layers":1}');
      await writeFile(join(dir, 'model.safetensors'), buildFile([{ name: 'model.layers.0.w', dtype: 'F32', shape: [3] }]));
      await mkdir(join(dir, 'subdir'));
      await symlink(join(dir, 'data.bin'), join(dir, 'link.bin'));
      await symlink(join(dir, 'nowhere'), join(dir, 'dangling'));
      const src = await NodeFileSource.open('data.bin', join(dir, 'data.bin'));
      await exercise(src);
      await rejects(NodeFileSource.open('nope', join(dir, 'nope')), IoError, 'nope');
      const files = await nodeModelFiles(dir);
      expect([...files.keys()]).toEqual(['config.json', 'data.bin', 'link.bin', 'model.safetensors']);
      const m = await openModel(dir, 'tmp', files);
      expect(m.numLayers).toBe(1);
      expect([...m.tensors.keys()]).toEqual(['model.layers.0.w']);
      await rejects(nodeModelFiles(join(dir, 'absent')), IoError, 'absent');
    });
  });
});

// Property-based fuzzing of the safetensors header parser (and the shard-index parser): whatever
// the bytes, the parser either returns a self-consistent header or throws SafetensorsError.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { SafetensorsError } from '../../src/errors';
import { SAFETENSORS_DTYPE_BITS } from '../../src/formats/dtype';
import { findDuplicateKey, parseSafetensorsHeader, parseShardIndex, tensorByteLength, type SafetensorsHeader } from '../../src/formats/safetensors';

const FILE = 'fuzz.safetensors';
const DTYPES = Object.keys(SAFETENSORS_DTYPE_BITS);
const enc = new TextEncoder();

function parse(bytes: Uint8Array): Promise<SafetensorsHeader> {
  return parseSafetensorsHeader(FILE, bytes.length, async (o, l) => bytes.slice(o, o + l));
}

/** Every invariant a successful parse promises, checked against the raw bytes. */
function assertConsistent(h: SafetensorsHeader, bytes: Uint8Array): void {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  expect(view.getUint32(4, true)).toBe(0);
  expect(h.headerLength).toBe(view.getUint32(0, true));
  expect(h.dataStart).toBe(8 + h.headerLength);
  expect(h.dataStart).toBeLessThanOrEqual(bytes.length);
  const json = JSON.parse(new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes.subarray(8, h.dataStart)));
  const names = Object.keys(json).filter((k) => k !== '__metadata__');
  expect(new Set(h.tensors.map((t) => t.name))).toEqual(new Set(names));
  expect(h.tensors.length).toBe(names.length);
  for (const v of Object.values(h.metadata)) expect(typeof v).toBe('string');
  let pos = 0;
  for (const t of h.tensors) {
    expect(t.dtype in SAFETENSORS_DTYPE_BITS).toBe(true);
    for (const d of t.shape) expect(Number.isSafeInteger(d) && d >= 0).toBe(true);
    expect(t.begin).toBe(pos);
    expect(BigInt(t.end - t.begin)).toBe(tensorByteLength(t.dtype, t.shape));
    pos = t.end;
  }
  expect(h.dataStart + pos).toBe(bytes.length);
}

/** Parses; on failure the error must be a SafetensorsError naming the file. */
async function check(bytes: Uint8Array): Promise<SafetensorsHeader | SafetensorsError> {
  let h: SafetensorsHeader;
  try {
    h = await parse(bytes);
  } catch (e) {
    if (!(e instanceof SafetensorsError)) throw e;
    expect(e.message.startsWith(`${FILE}: `)).toBe(true);
    return e;
  }
  assertConsistent(h, bytes);
  return h;
}

function fileFromHeader(text: string, dataBytes: number, lengthOverride?: bigint): Uint8Array {
  const json = enc.encode(text);
  const out = new Uint8Array(8 + json.length + dataBytes);
  new DataView(out.buffer).setBigUint64(0, lengthOverride ?? BigInt(json.length), true);
  out.set(json, 8);
  return out;
}

// ---------------------------------------------------------------------------------------------
// Valid files

interface GenTensor {
  name: string;
  dtype: string;
  shape: number[];
}

const nameArb = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 10 }),
  fc.constantFrom('model.layers.0.mlp.up_proj.weight', '0', '10', '__proto__', 'constructor', 'a"b', 'a\\b', '\u0000'),
);

const validFileArb = fc
  .record({
    tensors: fc.uniqueArray(
      fc.record({ name: nameArb, dtype: fc.constantFrom(...DTYPES), shape: fc.array(fc.nat(6), { maxLength: 3 }) }),
      { selector: (t) => t.name, maxLength: 6 },
    ),
    dataOrder: fc.array(fc.nat(), { minLength: 6, maxLength: 6 }),
    metadata: fc.option(fc.array(fc.tuple(fc.string({ maxLength: 6 }), fc.string({ maxLength: 6 })), { maxLength: 3 }), { nil: undefined }),
    metaPos: fc.nat(6),
    pad: fc.nat(7),
    seed: fc.nat(255),
  })
  .filter((g) => !g.tensors.some((t) => t.name === '__metadata__'))
  .map((g) => {
    const tensors: GenTensor[] = g.tensors;
    // Data order differs from header order.
    const order = tensors.map((_, i) => i).sort((a, b) => g.dataOrder[a] - g.dataOrder[b] || a - b);
    const offsets = new Map<number, [number, number]>();
    let pos = 0;
    for (const i of order) {
      const len = Number(tensorByteLength(tensors[i].dtype, tensors[i].shape));
      offsets.set(i, [pos, pos + len]);
      pos += len;
    }
    const parts = tensors.map(
      (t, i) => `${JSON.stringify(t.name)}:{"dtype":${JSON.stringify(t.dtype)},"shape":${JSON.stringify(t.shape)},"data_offsets":${JSON.stringify(offsets.get(i))}}`,
    );
    if (g.metadata) {
      const uniq = new Map(g.metadata);
      const md = [...uniq].map(([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(v)}`).join(',');
      parts.splice(Math.min(g.metaPos, parts.length), 0, `"__metadata__":{${md}}`);
    }
    const file = fileFromHeader(`{${parts.join(', ')}}${' '.repeat(g.pad)}`, pos);
    for (let i = 0; i < pos; i++) file[file.length - pos + i] = (i * 37 + g.seed) & 0xff;
    return { file, tensors, offsets };
  });

// ---------------------------------------------------------------------------------------------
// Mutations

const structural = [...'{}[]",:0123456789-.eE \\ntu'].map((c) => c.charCodeAt(0));

const mutationArb = fc.oneof(
  fc.record({ kind: fc.constant('flip' as const), pos: fc.nat(), bit: fc.nat(7) }),
  fc.record({ kind: fc.constant('set' as const), pos: fc.nat(), byte: fc.oneof(fc.nat(255), fc.constantFrom(...structural)) }),
  fc.record({ kind: fc.constant('truncate' as const), len: fc.nat() }),
  fc.record({ kind: fc.constant('prefix' as const), value: fc.oneof(fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }), fc.bigInt({ min: 0n, max: 300n })) }),
  fc.record({ kind: fc.constant('prefixDelta' as const), delta: fc.integer({ min: -16, max: 16 }) }),
  fc.record({ kind: fc.constant('insert' as const), pos: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 4 }) }),
  fc.record({ kind: fc.constant('delete' as const), pos: fc.nat(), len: fc.integer({ min: 1, max: 4 }) }),
  fc.record({ kind: fc.constant('append' as const), bytes: fc.uint8Array({ minLength: 1, maxLength: 8 }) }),
);
type Mutation = typeof mutationArb extends fc.Arbitrary<infer M> ? M : never;

function mutate(src: Uint8Array, m: Mutation): Uint8Array {
  const b = src.slice();
  const at = (p: number): number => (b.length === 0 ? 0 : p % b.length);
  switch (m.kind) {
    case 'flip':
      if (b.length) b[at(m.pos)] ^= 1 << m.bit;
      return b;
    case 'set':
      if (b.length) b[at(m.pos)] = m.byte;
      return b;
    case 'truncate':
      return b.slice(0, b.length === 0 ? 0 : m.len % b.length);
    case 'prefix':
    case 'prefixDelta': {
      if (b.length < 8) return b;
      const v = new DataView(b.buffer);
      const cur = v.getBigUint64(0, true);
      const next = m.kind === 'prefix' ? m.value : cur + BigInt(m.delta);
      v.setBigUint64(0, BigInt.asUintN(64, next), true);
      return b;
    }
    case 'insert': {
      const p = b.length === 0 ? 0 : m.pos % (b.length + 1);
      const out = new Uint8Array(b.length + m.bytes.length);
      out.set(b.subarray(0, p));
      out.set(m.bytes, p);
      out.set(b.subarray(p), p + m.bytes.length);
      return out;
    }
    case 'delete': {
      const p = at(m.pos);
      return Uint8Array.from([...b.subarray(0, p), ...b.subarray(p + m.len)]);
    }
    case 'append': {
      const out = new Uint8Array(b.length + m.bytes.length);
      out.set(b);
      out.set(m.bytes, b.length);
      return out;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Random JSON headers

const weirdNumber = fc.oneof(fc.integer({ min: -3, max: 40 }), fc.constantFrom(-0, 0.5, 1e300, 2 ** 53, 2 ** 53 + 2, -1, 1e21, 3.0));
const entryArb = fc.oneof(
  // Plausible entries with small deviations.
  fc.record(
    {
      dtype: fc.oneof(fc.constantFrom(...DTYPES), fc.constantFrom('f32', 'F128', '', 'constructor', 'hasOwnProperty'), fc.jsonValue({ maxDepth: 1 })),
      shape: fc.oneof(fc.array(weirdNumber, { maxLength: 3 }), fc.jsonValue({ maxDepth: 1 })),
      data_offsets: fc.oneof(fc.tuple(fc.nat(64), fc.nat(64)), fc.array(weirdNumber, { maxLength: 3 }), fc.jsonValue({ maxDepth: 1 })),
      extra: fc.jsonValue({ maxDepth: 1 }),
    },
    { requiredKeys: [] },
  ),
  fc.jsonValue({ maxDepth: 2 }),
);
const headerObjectArb = fc.array(
  fc.tuple(fc.oneof(fc.string({ maxLength: 4 }), fc.constantFrom('__metadata__', 'a', 'b')), fc.oneof(entryArb, fc.dictionary(fc.string({ maxLength: 3 }), fc.oneof(fc.string(), fc.integer())))),
  { maxLength: 5 },
);

describe('safetensors parser fuzzing', () => {
  it('accepts every valid generated file and reports exactly its tensors', async () => {
    await fc.assert(
      fc.asyncProperty(validFileArb, async ({ file, tensors, offsets }) => {
        const h = await parse(file);
        assertConsistent(h, file);
        const byName = new Map(h.tensors.map((t) => [t.name, t]));
        tensors.forEach((t, i) => {
          const got = byName.get(t.name)!;
          expect(got.dtype).toBe(t.dtype);
          expect(got.shape).toEqual(t.shape);
          expect([got.begin, got.end]).toEqual(offsets.get(i));
        });
      }),
      { numRuns: 500 },
    );
  });

  it('random byte strings: a header or a SafetensorsError', async () => {
    const withSmallPrefix = fc.tuple(fc.nat(40), fc.uint8Array({ maxLength: 48 })).map(([n, rest]) => {
      const b = new Uint8Array(8 + rest.length);
      new DataView(b.buffer).setUint32(0, n, true);
      b.set(rest, 8);
      return b;
    });
    await fc.assert(
      fc.asyncProperty(fc.oneof(fc.uint8Array({ maxLength: 64 }), withSmallPrefix), async (bytes) => {
        await check(bytes);
      }),
      { numRuns: 1500 },
    );
  });

  it('mutated valid files: a consistent header or a SafetensorsError', async () => {
    await fc.assert(
      fc.asyncProperty(validFileArb, fc.array(mutationArb, { minLength: 1, maxLength: 4 }), async ({ file }, muts) => {
        let bytes = file;
        for (const m of muts) bytes = mutate(bytes, m);
        await check(bytes);
      }),
      { numRuns: 2500 },
    );
  });

  it('random JSON headers: a consistent header or a SafetensorsError', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          headerObjectArb.map((pairs) => `{${pairs.map(([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(v)}`).join(',')}}`),
          fc.jsonValue().map((v) => JSON.stringify(v)),
          fc.string({ unit: 'binary', maxLength: 30 }),
        ),
        fc.nat(80),
        fc.option(fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }), { freq: 8, nil: undefined }),
        async (text, data, prefix) => {
          await check(fileFromHeader(text, data, prefix));
        },
      ),
      { numRuns: 2500 },
    );
  });

  it('large and pathological inputs finish and fail cleanly', async () => {
    // Deep nesting, huge shapes, many tensors.
    await check(fileFromHeader(`{"x":${'['.repeat(5000)}${']'.repeat(5000)}}`, 0));
    await check(fileFromHeader(`{"x":{"dtype":"F32","shape":[${Array(10000).fill(1e15).join(',')}],"data_offsets":[0,4]}}`, 4));
    const many = Array.from({ length: 20000 }, (_, i) => `"t${i}":{"dtype":"U8","shape":[1],"data_offsets":[${i},${i + 1}]}`).join(',');
    const h = await check(fileFromHeader(`{${many}}`, 20000));
    expect(h).not.toBeInstanceOf(SafetensorsError);
  });
});

describe('duplicate-key scanner fuzzing', () => {
  it('finds no duplicates in JSON.stringify output, and finds an injected one', () => {
    fc.assert(
      fc.property(fc.dictionary(fc.string({ unit: 'binary', maxLength: 6 }), fc.jsonValue({ maxDepth: 3 }), { minKeys: 1, maxKeys: 6 }), fc.nat(), (obj, pick) => {
        const text = JSON.stringify(obj);
        expect(findDuplicateKey(text)).toBeUndefined();
        const keys = Object.keys(obj);
        const k = keys[pick % keys.length];
        const dup = `${text.slice(0, -1)},${JSON.stringify(k)}:null}`;
        expect(findDuplicateKey(dup)).toEqual({ path: [], key: k });
      }),
      { numRuns: 1000 },
    );
  });
});

describe('shard index fuzzing', () => {
  it('parseShardIndex returns or throws SafetensorsError', () => {
    const pathArb = fc.oneof(fc.string({ maxLength: 12 }), fc.constantFrom('../a', '/a', 'a\\b', 'model-00001-of-00002.safetensors', 'x/./y'));
    const indexArb = fc.oneof(
      fc.record({ metadata: fc.jsonValue({ maxDepth: 1 }), weight_map: fc.dictionary(fc.string({ maxLength: 5 }), fc.oneof(pathArb, fc.jsonValue({ maxDepth: 1 }))) }, { requiredKeys: [] }).map((o) => JSON.stringify(o)),
      fc.jsonValue().map((v) => JSON.stringify(v)),
      fc.string({ maxLength: 40 }),
    );
    fc.assert(
      fc.property(indexArb, (text) => {
        try {
          const r = parseShardIndex('model.safetensors.index.json', text);
          for (const [, p] of r.weightMap) {
            expect(p.includes('..') || p.startsWith('/') || p.includes('\\') || p === '').toBe(false);
          }
        } catch (e) {
          if (!(e instanceof SafetensorsError)) throw e;
          expect(e.message.startsWith('model.safetensors.index.json: ')).toBe(true);
        }
      }),
      { numRuns: 1500 },
    );
  });
});

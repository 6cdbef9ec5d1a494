// safetensors: header reading with full validation, header writing (layout only), the mergekit
// sharding plan, and the sharded-checkpoint index (model.safetensors.index.json).
//
// File layout: u64 LE header length N, then N bytes of UTF-8 JSON, then the data buffer.
// Every problem is reported as a SafetensorsError naming the file (and the tensor when there is
// one), saying what was expected and what was found. Pure: runs in Node and in the browser.

import { SafetensorsError, UnsupportedDtypeError } from '../errors';
import { SAFETENSORS_DTYPE_BITS, isMergeable, itemSize, type Dtype } from './dtype';

/** The Rust reference implementation refuses headers above 100 MB; so do we. */
export const MAX_HEADER_LENGTH = 100_000_000;
/** mergekit's default `max_shard_size` (bytes, despite the CLI help saying "parameters"). */
export const DEFAULT_MAX_SHARD_BYTES = 5e9;
export const SHARD_INDEX_FILE = 'model.safetensors.index.json';
export const SINGLE_SHARD_FILE = 'model.safetensors';
/** The version mergekit writes into the index metadata. */
export const MERGEKIT_VERSION = '0.1.4';

export interface SafetensorsEntry {
  name: string;
  /** Raw safetensors dtype (any known one, not only the mergeable ones). */
  dtype: string;
  shape: number[];
  /** Offsets relative to the start of the data buffer (dataStart). */
  begin: number;
  end: number;
}

export interface SafetensorsHeader {
  /** N, the JSON length in bytes. */
  headerLength: number;
  /** 8 + N: absolute offset of the data buffer. */
  dataStart: number;
  metadata: Record<string, string>;
  /** Sorted by data offset. */
  tensors: SafetensorsEntry[];
}

export type ReadBytes = (offset: number, length: number) => Promise<Uint8Array>;

const ENTRY_KEYS = ['dtype', 'shape', 'data_offsets'] as const;
const METADATA_KEY = '__metadata__';

const hasOwn = (o: object, k: string): boolean => Object.prototype.hasOwnProperty.call(o, k);

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'string') return `the string ${clip(JSON.stringify(v))}`;
  if (typeof v === 'object') return 'an object';
  return `${typeof v} ${clip(String(v))}`;
}

function clip(s: string, max = 60): string {
  return s.length > max ? `${s.slice(0, max)}…` : s;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function shapeText(shape: readonly number[]): string {
  return `[${shape.join(', ')}]`;
}

/** Bytes a tensor of this dtype and shape occupies: ceil(numel × bits / 8). Exact (BigInt). */
export function tensorByteLength(dtype: string, shape: readonly number[]): bigint {
  const bits = SAFETENSORS_DTYPE_BITS[dtype];
  if (bits === undefined || !hasOwn(SAFETENSORS_DTYPE_BITS, dtype)) throw new Error(`unknown dtype ${dtype}`);
  let numel = 1n;
  for (const d of shape) numel *= BigInt(d);
  return (numel * BigInt(bits) + 7n) / 8n;
}

// ---------------------------------------------------------------------------------------------
// Reading

/**
 * Reads and validates a safetensors header. `readBytes(offset, length)` must resolve to exactly
 * `length` bytes. Throws SafetensorsError for every malformation (errors thrown by `readBytes`
 * itself, e.g. IoError, pass through unchanged).
 */
export async function parseSafetensorsHeader(
  fileName: string,
  fileSize: number,
  readBytes: ReadBytes,
): Promise<SafetensorsHeader> {
  const fail = (problem: string, tensor?: string): never => {
    throw new SafetensorsError(fileName, problem, tensor);
  };
  if (!Number.isSafeInteger(fileSize) || fileSize < 0) fail(`invalid file size ${fileSize}`);
  if (fileSize < 8) {
    fail(`file is ${fileSize} bytes long; a safetensors file starts with an 8-byte header length, so this is not a safetensors file (or it is truncated)`);
  }

  const prefix = await readExact(fileName, readBytes, 0, 8);
  const view = new DataView(prefix.buffer, prefix.byteOffset, 8);
  const lo = view.getUint32(0, true);
  const hi = view.getUint32(4, true);
  if (hi !== 0) {
    const big = (BigInt(hi) << 32n) | BigInt(lo);
    fail(`header length ${big} is larger than the ${MAX_HEADER_LENGTH}-byte limit; this is not a safetensors file, or its first 8 bytes are corrupt`);
  }
  const headerLength = lo;
  if (headerLength > MAX_HEADER_LENGTH) {
    fail(`header length ${headerLength} is larger than the ${MAX_HEADER_LENGTH}-byte limit; this is not a safetensors file, or its first 8 bytes are corrupt`);
  }
  if (headerLength > fileSize - 8) {
    fail(`header length ${headerLength} does not fit in the file: only ${fileSize - 8} bytes follow the 8-byte length prefix (file truncated, or not a safetensors file)`);
  }
  const dataStart = 8 + headerLength;

  const raw = await readExact(fileName, readBytes, 8, headerLength);
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(raw);
  } catch {
    return fail(`the ${headerLength}-byte header is not valid UTF-8`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    return fail(`the header is not valid JSON (${clip(e instanceof Error ? e.message : String(e), 120)})`);
  }
  if (!isPlainObject(json)) return fail(`the header must be a JSON object, found ${describe(json)}`);

  const dup = findDuplicateKey(text);
  if (dup) {
    if (dup.path.length === 0) {
      if (dup.key === METADATA_KEY) fail(`the header has two "${METADATA_KEY}" entries`);
      fail('the header lists this tensor name twice', dup.key);
    }
    if (dup.path[0] === METADATA_KEY) fail(`"${METADATA_KEY}" has the key ${clip(JSON.stringify(dup.key))} twice`);
    fail(`the header entry has the key ${clip(JSON.stringify(dup.key))} twice`, dup.path[0]);
  }

  let metadata: Record<string, string> = {};
  const tensors: SafetensorsEntry[] = [];
  for (const name of Object.keys(json)) {
    const value = json[name];
    if (name === METADATA_KEY) {
      if (!isPlainObject(value)) fail(`"${METADATA_KEY}" must be an object of string values, found ${describe(value)}`);
      const md = value as Record<string, unknown>;
      for (const k of Object.keys(md)) {
        if (typeof md[k] !== 'string') {
          fail(`"${METADATA_KEY}" value for key ${clip(JSON.stringify(k))} must be a string, found ${describe(md[k])}`);
        }
      }
      metadata = md as Record<string, string>;
      continue;
    }
    tensors.push(validateEntry(fileName, name, value));
  }

  // Contiguity: sorted by offsets, each tensor must start where the previous one ended.
  tensors.sort((a, b) => a.begin - b.begin || a.end - b.end);
  let expected = 0;
  let prev: SafetensorsEntry | undefined;
  for (const t of tensors) {
    if (t.begin < expected) {
      fail(`data_offsets [${t.begin}, ${t.end}] overlap tensor "${prev!.name}" at [${prev!.begin}, ${prev!.end}]`, t.name);
    }
    if (t.begin > expected) {
      fail(
        `data_offsets [${t.begin}, ${t.end}] leave a gap of ${t.begin - expected} bytes after ${prev ? `tensor "${prev.name}" (which ends at ${expected})` : 'the start of the data buffer'}; tensor data must be contiguous`,
        t.name,
      );
    }
    expected = t.end;
    prev = t;
  }
  const available = fileSize - dataStart;
  if (expected > available) {
    fail(`file truncated: the header describes ${expected} bytes of tensor data, but only ${available} bytes follow the header (file is ${fileSize} bytes, expected ${dataStart + expected})`);
  }
  if (expected < available) {
    fail(`trailing bytes: the header describes ${expected} bytes of tensor data, but ${available} bytes follow the header (${available - expected} unexplained bytes; file is ${fileSize} bytes, expected ${dataStart + expected})`);
  }
  return { headerLength, dataStart, metadata, tensors };
}

async function readExact(fileName: string, readBytes: ReadBytes, offset: number, length: number): Promise<Uint8Array> {
  const bytes = await readBytes(offset, length);
  if (!(bytes instanceof Uint8Array) || bytes.length !== length) {
    const got = bytes instanceof Uint8Array ? `${bytes.length} bytes` : describe(bytes);
    throw new SafetensorsError(fileName, `reading bytes [${offset}, ${offset + length}) returned ${got} instead of ${length}`);
  }
  return bytes;
}

function validateEntry(fileName: string, name: string, value: unknown): SafetensorsEntry {
  const fail = (problem: string): never => {
    throw new SafetensorsError(fileName, problem, name);
  };
  if (!isPlainObject(value)) return fail(`the header entry must be an object with dtype, shape and data_offsets, found ${describe(value)}`);
  for (const k of Object.keys(value)) {
    if (!(ENTRY_KEYS as readonly string[]).includes(k)) {
      fail(`unexpected key ${clip(JSON.stringify(k))} in the header entry; expected exactly dtype, shape and data_offsets`);
    }
  }
  for (const k of ENTRY_KEYS) if (!hasOwn(value, k)) fail(`the header entry has no "${k}"`);

  const dtype = value.dtype;
  if (typeof dtype !== 'string') return fail(`dtype must be a string, found ${describe(dtype)}`);
  if (!hasOwn(SAFETENSORS_DTYPE_BITS, dtype)) {
    fail(`unknown dtype ${clip(JSON.stringify(dtype))}; known safetensors dtypes are ${Object.keys(SAFETENSORS_DTYPE_BITS).join(', ')}`);
  }

  const rawShape = value.shape;
  if (!Array.isArray(rawShape)) return fail(`shape must be an array of non-negative integers, found ${describe(rawShape)}`);
  const shape: number[] = [];
  for (let i = 0; i < rawShape.length; i++) {
    const d: unknown = rawShape[i];
    if (typeof d !== 'number' || !Number.isSafeInteger(d) || d < 0) {
      fail(`shape[${i}] must be a non-negative integer, found ${describe(d)}`);
    }
    shape.push((d as number) === 0 ? 0 : (d as number)); // normalise -0
  }

  const offs = value.data_offsets;
  if (!Array.isArray(offs) || offs.length !== 2) {
    return fail(`data_offsets must be an array [begin, end] of two integers, found ${Array.isArray(offs) ? `an array of ${offs.length}` : describe(offs)}`);
  }
  for (const o of offs as unknown[]) {
    if (typeof o !== 'number' || !Number.isSafeInteger(o) || o < 0) {
      fail(`data_offsets must be non-negative integers, found ${describe(o)}`);
    }
  }
  const begin = (offs[0] as number) === 0 ? 0 : (offs[0] as number);
  const end = (offs[1] as number) === 0 ? 0 : (offs[1] as number);
  if (begin > end) fail(`data_offsets [${begin}, ${end}] end before they begin`);

  const need = tensorByteLength(dtype, shape);
  const have = end - begin;
  if (BigInt(have) !== need) {
    fail(`data_offsets [${begin}, ${end}] give ${have} bytes, but ${dtype} ${shapeText(shape)} needs ${need} bytes`);
  }
  return { name, dtype, shape, begin, end };
}

/**
 * Finds the first duplicated key of any object in a JSON text that JSON.parse has already
 * accepted (JSON.parse silently keeps the last of duplicates). `path` is the chain of keys of the
 * enclosing objects (empty for the top level).
 */
export function findDuplicateKey(json: string): { path: string[]; key: string } | undefined {
  interface Frame {
    keys: Set<string> | null; // null for arrays
    expectKey: boolean;
    lastKey: string | undefined;
  }
  const stack: Frame[] = [];
  const n = json.length;
  let i = 0;
  while (i < n) {
    const c = json.charCodeAt(i);
    if (c === 0x22 /* " */) {
      // Find the closing quote: the next quote preceded by an even number of backslashes.
      let j = i + 1;
      let hasEscape = false;
      for (;;) {
        j = json.indexOf('"', j);
        if (j < 0) return undefined; // cannot happen for valid JSON
        let k = j - 1;
        while (json.charCodeAt(k) === 0x5c /* \ */) k--;
        if ((j - 1 - k) % 2 === 0) break;
        hasEscape = true;
        j++;
      }
      const top = stack[stack.length - 1];
      if (top && top.keys && top.expectKey) {
        const rawTok = json.slice(i, j + 1);
        const key = hasEscape || rawTok.includes('\\') ? (JSON.parse(rawTok) as string) : rawTok.slice(1, -1);
        if (top.keys.has(key)) {
          const path: string[] = [];
          for (let s = 0; s < stack.length - 1; s++) {
            const f = stack[s];
            if (f.keys && f.lastKey !== undefined) path.push(f.lastKey);
          }
          return { path, key };
        }
        top.keys.add(key);
        top.lastKey = key;
        top.expectKey = false;
      }
      i = j + 1;
      continue;
    }
    if (c === 0x7b /* { */) stack.push({ keys: new Set(), expectKey: true, lastKey: undefined });
    else if (c === 0x5b /* [ */) stack.push({ keys: null, expectKey: false, lastKey: undefined });
    else if (c === 0x7d /* } */ || c === 0x5d /* ] */) stack.pop();
    else if (c === 0x2c /* , */) {
      const top = stack[stack.length - 1];
      if (top && top.keys) top.expectKey = true;
    }
    i++;
  }
  return undefined;
}

/** Throws UnsupportedDtypeError unless the tensor is F32, F16 or BF16. */
export function assertMergeableDtype(fileName: string, entry: { name: string; dtype: string }): asserts entry is { name: string; dtype: Dtype } {
  if (!isMergeable(entry.dtype)) throw new UnsupportedDtypeError(fileName, entry.name, entry.dtype);
}

// ---------------------------------------------------------------------------------------------
// Writing (layout only: the caller streams the tensor bytes in the given order after `bytes`)

export interface OutputTensor {
  name: string;
  dtype: Dtype;
  shape: number[];
}

export interface TensorOffsets {
  name: string;
  /** Relative to the data start (i.e. to the end of `bytes`). */
  begin: number;
  end: number;
}

export interface SafetensorsLayout {
  /** 8-byte length prefix + the JSON header padded with spaces to a multiple of 8. */
  bytes: Uint8Array;
  offsets: TensorOffsets[];
  /** Total bytes of tensor data that must follow `bytes`. */
  dataBytes: number;
}

const OUTPUT_FILE = '(output header)';

function outputTensorBytes(t: OutputTensor): number {
  if (!isMergeable(t.dtype)) throw new UnsupportedDtypeError(OUTPUT_FILE, t.name, String(t.dtype));
  let n = itemSize(t.dtype);
  for (const d of t.shape) {
    if (!Number.isSafeInteger(d) || d < 0) {
      throw new SafetensorsError(OUTPUT_FILE, `shape ${shapeText(t.shape)} has an invalid dimension ${d}`, t.name);
    }
    n *= d;
  }
  if (!Number.isSafeInteger(n)) throw new SafetensorsError(OUTPUT_FILE, `shape ${shapeText(t.shape)} is too large`, t.name);
  return n;
}

/** Lays out a safetensors file: tensors in the given order, header padded to 8 bytes. */
export function buildSafetensorsHeader(tensors: OutputTensor[], metadata?: Record<string, string>): SafetensorsLayout {
  // Built by hand, not JSON.stringify(object): object key order would move integer-like names.
  const parts: string[] = [];
  if (metadata !== undefined) {
    const md = Object.keys(metadata).map((k) => `${JSON.stringify(k)}:${JSON.stringify(String(metadata[k]))}`);
    parts.push(`${JSON.stringify(METADATA_KEY)}:{${md.join(',')}}`);
  }
  const seen = new Set<string>();
  const offsets: TensorOffsets[] = [];
  let pos = 0;
  for (const t of tensors) {
    if (t.name === METADATA_KEY) throw new SafetensorsError(OUTPUT_FILE, `"${METADATA_KEY}" is reserved and cannot be a tensor name`, t.name);
    if (seen.has(t.name)) throw new SafetensorsError(OUTPUT_FILE, 'the tensor name appears twice in the output', t.name);
    seen.add(t.name);
    const len = outputTensorBytes(t);
    const begin = pos;
    const end = pos + len;
    if (!Number.isSafeInteger(end)) throw new SafetensorsError(OUTPUT_FILE, 'the output file is too large', t.name);
    offsets.push({ name: t.name, begin, end });
    parts.push(
      `${JSON.stringify(t.name)}:{"dtype":${JSON.stringify(t.dtype)},"shape":[${t.shape.join(',')}],"data_offsets":[${begin},${end}]}`,
    );
    pos = end;
  }
  const json = new TextEncoder().encode(`{${parts.join(',')}}`);
  const padded = Math.ceil(json.length / 8) * 8;
  if (padded > MAX_HEADER_LENGTH) throw new SafetensorsError(OUTPUT_FILE, `the header would be ${padded} bytes, above the ${MAX_HEADER_LENGTH}-byte limit`);
  const bytes = new Uint8Array(8 + padded);
  new DataView(bytes.buffer).setUint32(0, padded, true); // the high word stays 0
  bytes.set(json, 8);
  bytes.fill(0x20, 8 + json.length);
  return { bytes, offsets, dataBytes: pos };
}

// ---------------------------------------------------------------------------------------------
// Sharding (mergekit tensor_writer semantics)

export interface PlannedShard {
  fileName: string;
  tensors: OutputTensor[];
  /** Always {format: "pt"}, like mergekit. */
  metadata: Record<string, string>;
  /** Header bytes and offsets for this shard. */
  layout: SafetensorsLayout;
  /** Bytes of tensor data in this shard. */
  dataBytes: number;
}

export interface ShardIndexJson {
  metadata: { total_size: number; mergekit_version: string };
  weight_map: Record<string, string>;
}

export interface ShardPlan {
  shards: PlannedShard[];
  /** Sum of all tensors' data bytes. */
  totalSize: number;
  /** The model.safetensors.index.json contents; undefined when there is a single shard. */
  index?: ShardIndexJson;
}

export function shardFileName(index: number, count: number): string {
  if (count === 1) return SINGLE_SHARD_FILE;
  const pad = (n: number): string => String(n).padStart(5, '0');
  return `model-${pad(index + 1)}-of-${pad(count)}.safetensors`;
}

/**
 * Splits tensors (in the given order) into shards like mergekit: a tensor goes into the current
 * shard unless the shard is non-empty and adding it would exceed maxShardBytes. A tensor larger
 * than the limit therefore gets a shard of its own. No tensors → no shards.
 */
export function planShards(tensors: OutputTensor[], maxShardBytes: number = DEFAULT_MAX_SHARD_BYTES): ShardPlan {
  if (!(maxShardBytes > 0)) throw new RangeError(`maxShardBytes must be a positive number of bytes, got ${maxShardBytes}`);
  const groups: { tensors: OutputTensor[]; bytes: number }[] = [];
  let current: { tensors: OutputTensor[]; bytes: number } | undefined;
  let totalSize = 0;
  for (const t of tensors) {
    const size = outputTensorBytes(t);
    if (!current || (current.tensors.length > 0 && current.bytes + size > maxShardBytes)) {
      current = { tensors: [], bytes: 0 };
      groups.push(current);
    }
    current.tensors.push(t);
    current.bytes += size;
    totalSize += size;
  }
  const shards: PlannedShard[] = groups.map((g, i) => {
    const metadata = { format: 'pt' };
    return {
      fileName: shardFileName(i, groups.length),
      tensors: g.tensors,
      metadata,
      layout: buildSafetensorsHeader(g.tensors, metadata),
      dataBytes: g.bytes,
    };
  });
  let index: ShardIndexJson | undefined;
  if (shards.length > 1) {
    const weightMap: Record<string, string> = {};
    for (const s of shards) {
      for (const t of s.tensors) Object.defineProperty(weightMap, t.name, { value: s.fileName, enumerable: true, writable: true, configurable: true });
    }
    index = { metadata: { total_size: totalSize, mergekit_version: MERGEKIT_VERSION }, weight_map: weightMap };
  }
  return { shards, totalSize, index };
}

// ---------------------------------------------------------------------------------------------
// Sharded index (model.safetensors.index.json)

export interface ShardIndex {
  /** tensor name → shard path inside the model folder. */
  weightMap: Map<string, string>;
  metadata: Record<string, unknown>;
}

/** Why a weight_map path is unsafe, or undefined when it is a plain path inside the folder. */
export function unsafeShardPathReason(path: string): string | undefined {
  if (path.length === 0) return 'it is empty';
  if (path.includes('\\')) return 'it contains a backslash';
  if (path.startsWith('/')) return 'it is an absolute path';
  if (/^[A-Za-z]:/.test(path)) return 'it starts with a drive letter';
  if (path.includes('..')) return 'it contains ".."';
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(path)) return 'it contains control characters';
  if (path.split('/').some((seg) => seg === '' || seg === '.')) return 'it has an empty or "." path segment';
  return undefined;
}

/** Parses and validates a sharded-checkpoint index. */
export function parseShardIndex(fileName: string, jsonText: string): ShardIndex {
  const fail = (problem: string, tensor?: string): never => {
    throw new SafetensorsError(fileName, problem, tensor);
  };
  let json: unknown;
  try {
    json = JSON.parse(jsonText);
  } catch (e) {
    return fail(`not valid JSON (${clip(e instanceof Error ? e.message : String(e), 120)})`);
  }
  if (!isPlainObject(json)) return fail(`the index must be a JSON object with "weight_map", found ${describe(json)}`);
  const dup = findDuplicateKey(jsonText);
  if (dup) {
    if (dup.path.length === 1 && dup.path[0] === 'weight_map') fail('weight_map lists this tensor twice', dup.key);
    fail(`the key ${clip(JSON.stringify(dup.key))} appears twice${dup.path.length ? ` in "${dup.path.join('.')}"` : ''}`);
  }
  const md = json.metadata;
  if (md !== undefined && md !== null && !isPlainObject(md)) fail(`"metadata" must be an object, found ${describe(md)}`);
  const wm = json.weight_map;
  if (wm === undefined) fail('has no "weight_map" (tensor name → shard file)');
  if (!isPlainObject(wm)) return fail(`"weight_map" must be an object mapping tensor names to shard files, found ${describe(wm)}`);
  const weightMap = new Map<string, string>();
  for (const name of Object.keys(wm)) {
    const file = wm[name];
    if (typeof file !== 'string') fail(`weight_map value must be a shard file name, found ${describe(file)}`, name);
    const why = unsafeShardPathReason(file as string);
    if (why) {
      fail(`weight_map points to ${clip(JSON.stringify(file))}, which is not allowed because ${why}; shard paths must stay inside the model folder`, name);
    }
    weightMap.set(name, file as string);
  }
  return { weightMap, metadata: isPlainObject(md) ? md : {} };
}

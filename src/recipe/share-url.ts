// Share links: a recipe plus the identity of each checkpoint it uses, in a URL fragment.
//   #share=<base64url(deflate-raw(JSON))>
// JSON: { v: 1, recipe: "<mergekit YAML>", models: [{ ref, name, tensors, bytes, hash }] }.
// The recipe travels as mergekit YAML so the strict YAML validator (parseMergekitYaml) checks it on
// the way in — no second schema of the recipe exists. A link is untrusted input: its length, the
// decompressed size, the envelope (zod) and the recipe are all bounded or validated, and every
// failure is a message, never an exception. Weights and local paths never go into a link.
// Pure: no DOM, no node: imports.

import { deflateSync, Inflate } from 'fflate';
import { z } from 'zod';
import { parseMergekitYaml, recipeToMergekitYaml } from './mergekit-yaml';
import type { Recipe } from './types';

export const SHARE_PARAM = 'share';
/** Longest fragment accepted (characters). Chrome caps URLs at 2 MB; chat apps far lower. */
export const MAX_SHARE_CHARS = 64 * 1024;
/** Largest decompressed payload accepted (bytes): a deflate bomb stops here. */
export const MAX_SHARE_BYTES = 256 * 1024;

/** What identifies a checkpoint without its weights: enough to tell whether a dropped folder matches. */
export interface ModelIdentity {
  /** The reference the recipe uses. */
  ref: string;
  /** Folder name as the sender saw it. */
  name: string;
  /** Number of tensors over all shards. */
  tensors: number;
  /** Bytes of the safetensors files. */
  bytes: number;
  /**
   * Hex SHA-256 fingerprint of the checkpoint: every .safetensors file in path order contributes its
   * header (8-byte length + JSON) and the first and last 64 KiB of its tensor data. The header alone
   * names the layout; the data samples tell fine-tunes of one architecture apart. Empty = unknown.
   */
  hash: string;
  /**
   * Where the checkpoint lives on a Hub, pinned to a commit (models added from the Hub). `endpoint`
   * only when not the public Hub. Never a token.
   */
  hub?: { repo: string; commit: string; endpoint?: string };
}

export interface SharePayload {
  recipe: Recipe;
  models: ModelIdentity[];
}

export type ShareDecode = { ok: true; payload: SharePayload } | { ok: false; error: string };

const identity = z.object({
  ref: z.string().min(1).max(1000),
  name: z.string().max(1000),
  tensors: z.number().int().nonnegative().max(1e9),
  bytes: z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER),
  hash: z.string().regex(/^([0-9a-f]{64})?$/, 'a hex SHA-256'),
  hub: z
    .strictObject({
      repo: z.string().regex(/^[A-Za-z0-9_.-]{1,96}\/[A-Za-z0-9_.-]{1,96}$/, 'a Hub repo id (org/name)'),
      commit: z.string().regex(/^[0-9a-f]{40}$/, 'a commit id'),
      endpoint: z.url({ protocol: /^https?$/ }).max(200).optional(),
    })
    .optional(),
});

const envelope = z.object({
  v: z.literal(1),
  recipe: z.string().min(1).max(MAX_SHARE_BYTES),
  models: z.array(identity).max(256),
});

// ---- base64url ----------------------------------------------------------------------------------

const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
const B64_INDEX = new Int16Array(128).fill(-1);
for (let i = 0; i < B64.length; i++) B64_INDEX[B64.charCodeAt(i)] = i;

export function toBase64Url(bytes: Uint8Array): string {
  let out = '';
  let i = 0;
  for (; i + 2 < bytes.length; i += 3) {
    const n = (bytes[i] << 16) | (bytes[i + 1] << 8) | bytes[i + 2];
    out += B64[(n >> 18) & 63] + B64[(n >> 12) & 63] + B64[(n >> 6) & 63] + B64[n & 63];
  }
  const rest = bytes.length - i;
  if (rest === 1) {
    const n = bytes[i] << 16;
    out += B64[(n >> 18) & 63] + B64[(n >> 12) & 63];
  } else if (rest === 2) {
    const n = (bytes[i] << 16) | (bytes[i + 1] << 8);
    out += B64[(n >> 18) & 63] + B64[(n >> 12) & 63] + B64[(n >> 6) & 63];
  }
  return out;
}

/** Decodes unpadded base64url; undefined for any character outside the alphabet or a bad length. */
export function fromBase64Url(text: string): Uint8Array | undefined {
  if (text.length % 4 === 1) return undefined;
  const out = new Uint8Array(Math.floor((text.length * 3) / 4));
  let o = 0;
  let acc = 0;
  let bits = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    const v = c < 128 ? B64_INDEX[c] : -1;
    if (v < 0) return undefined;
    acc = (acc << 6) | v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[o++] = (acc >> bits) & 0xff;
    }
  }
  return out.subarray(0, o);
}

// ---- bounded inflate ------------------------------------------------------------------------------

/** Inflates raw deflate data, giving up as soon as the output would exceed `max` bytes. */
export function inflateBounded(data: Uint8Array, max: number): { ok: true; bytes: Uint8Array } | { ok: false; error: string } {
  const parts: Uint8Array[] = [];
  let total = 0;
  let over = false;
  let done = false;
  const inf = new Inflate((chunk, final) => {
    total += chunk.length;
    if (total > max) over = true;
    else parts.push(chunk);
    if (final) done = true;
  });
  try {
    // Small input steps: one step can inflate to at most ~1 KiB × 1032 before the size check.
    const STEP = 256;
    for (let i = 0; i < data.length && !over; i += STEP) inf.push(data.subarray(i, Math.min(data.length, i + STEP)), i + STEP >= data.length);
    if (data.length === 0) inf.push(new Uint8Array(0), true);
  } catch (e) {
    return { ok: false, error: `the link's data is not valid compressed data (${e instanceof Error ? e.message : String(e)})` };
  }
  if (over) return { ok: false, error: `the link's data expands to more than ${max / 1024} KiB; it is not a recipe link` };
  if (!done) return { ok: false, error: 'the link is cut off (the compressed data ends early); copy the whole link' };
  const bytes = new Uint8Array(total);
  let o = 0;
  for (const p of parts) {
    bytes.set(p, o);
    o += p.length;
  }
  return { ok: true, bytes };
}

// ---- encode / decode --------------------------------------------------------------------------------

/** The fragment value (without "#share=") for a recipe and its models' identities. */
export function encodeShare(recipe: Recipe, models: ModelIdentity[]): string {
  const json = JSON.stringify({ v: 1, recipe: recipeToMergekitYaml(recipe), models });
  return toBase64Url(deflateSync(new TextEncoder().encode(json), { level: 9 }));
}

/** The share code in a location hash ("#share=…", possibly among other "&"-separated keys), if any. */
export function shareCodeFromHash(hash: string): string | undefined {
  const h = hash.startsWith('#') ? hash.slice(1) : hash;
  for (const part of h.split('&')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq) === SHARE_PARAM) return part.slice(eq + 1);
  }
  return undefined;
}

/** Decodes and validates a share code. Never throws: failures come back as a message. */
export function decodeShare(code: string): ShareDecode {
  const fail = (error: string): ShareDecode => ({ ok: false, error });
  if (code.length === 0) return fail('the share link holds no recipe (nothing after "#share=")');
  if (code.length > MAX_SHARE_CHARS) return fail(`the share link is ${code.length} characters long; at most ${MAX_SHARE_CHARS} are accepted`);
  const raw = fromBase64Url(code.trim());
  if (!raw) return fail('the share link is damaged: it contains characters that are not base64url (A–Z, a–z, 0–9, "-", "_")');
  const inflated = inflateBounded(raw, MAX_SHARE_BYTES);
  if (!inflated.ok) return fail(inflated.error);
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(inflated.bytes));
  } catch {
    return fail('the share link is damaged: its data is not JSON text');
  }
  const env = envelope.safeParse(json);
  if (!env.success) {
    const first = env.error.issues[0];
    const where = first?.path.length ? first.path.join('.') : 'the payload';
    if (json && typeof json === 'object' && 'v' in json && (json as { v: unknown }).v !== 1)
      return fail(`the share link has format version ${JSON.stringify((json as { v: unknown }).v)}; this studio reads version 1`);
    return fail(`the share link's data is invalid at ${where}: ${first?.message ?? 'unexpected shape'}`);
  }
  let recipe: Recipe;
  try {
    recipe = parseMergekitYaml(env.data.recipe, 'the shared recipe');
  } catch (e) {
    return fail(`the shared recipe is invalid: ${e instanceof Error ? e.message : String(e)}`);
  }
  return { ok: true, payload: { recipe, models: env.data.models } };
}

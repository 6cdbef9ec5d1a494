// A checkpoint's fingerprint: what a share link (recipe/share-url.ts ModelIdentity.hash) and a model
// card's link say about each input, so the studio can tell the right checkpoint from another of the
// same shapes. Computed by the studio's inspector worker for every model on the shelf and by the CLI
// for the model card it writes; both from Blobs (Node: fs.openAsBlob), one definition.
import { Sha256 } from './sha256';
import type { ByteSource } from '../io/types';

/** Bytes of tensor data sampled at each end of a shard for the fingerprint. */
export const FINGERPRINT_SAMPLE = 64 * 1024;

/** What the fingerprint reads a file through: a Blob, or anything sliced like one (a Hub file's range reads). */
export interface Sliceable {
  readonly size: number;
  slice(start: number, end: number): { arrayBuffer(): Promise<ArrayBuffer> };
}

/**
 * The checkpoint fingerprint (recipe/share-url.ts ModelIdentity.hash): per .safetensors file in
 * path order, its header (length + JSON) and the first and last 64 KiB of its data. Reads ≤ 128 KiB
 * of data per shard, never the whole file.
 */
export async function fingerprint(files: { path: string; file: Sliceable }[]): Promise<string> {
  const h = new Sha256();
  const bytes = async (b: Sliceable, from: number, to: number) => new Uint8Array(await b.slice(from, to).arrayBuffer());
  for (const f of [...files].filter((x) => x.path.toLowerCase().endsWith('.safetensors')).sort((a, b) => (a.path < b.path ? -1 : 1))) {
    const size = f.file.size;
    if (size < 8) continue;
    const head = await bytes(f.file, 0, 8);
    const n = Number(new DataView(head.buffer).getBigUint64(0, true));
    h.update(head);
    if (!(n > 0 && 8 + n <= size)) continue;
    h.update(await bytes(f.file, 8, 8 + n));
    const start = 8 + n;
    const data = size - start;
    if (data <= 2 * FINGERPRINT_SAMPLE) h.update(await bytes(f.file, start, size));
    else {
      h.update(await bytes(f.file, start, start + FINGERPRINT_SAMPLE));
      h.update(await bytes(f.file, size - FINGERPRINT_SAMPLE, size));
    }
  }
  return h.hex();
}

/** A byte source read like a Blob for the fingerprint (a Hub file: each slice one range read). */
export function sliceable(src: ByteSource): Sliceable {
  return {
    size: src.size,
    slice: (a, b) => ({ arrayBuffer: async () => (await src.read(a, b - a)).slice().buffer as ArrayBuffer }),
  };
}

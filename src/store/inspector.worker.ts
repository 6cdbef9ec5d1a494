// The inspector worker: header reading, compatibility checks, recipe planning and output hashing,
// so that none of it runs on the main thread. Logic lives in inspect-core.ts (Node-testable).
import * as Comlink from 'comlink';
import { toRecord } from '../errors';
import { openModel } from '../formats/model';
import { BlobSource } from '../io/sources';
import { outputPathSegments } from '../io/output-path';
import type { ModelInfo } from '../formats/model-info';
import type { Recipe } from '../recipe/types';
import type { HashTarget, InspectFile, InspectorApi, OpenResult } from './inspector-api';
import type { ByteSource } from '../io/types';
import { HubFileSource } from '../io/hub/source';
import { applyHubSession } from '../io/hub/session';
import { compareToBase, planReport, summarize, tensorRows } from './inspect-core';
import { Sha256, sha256Blob } from './sha256';
import type { Analysis, CompatReport } from './types';

const open = new Map<string, ModelInfo>();

/** Bytes of tensor data sampled at each end of a shard for the fingerprint. */
const SAMPLE = 64 * 1024;

/**
 * The checkpoint fingerprint (recipe/share-url.ts ModelIdentity.hash): per .safetensors file in
 * path order, its header (length + JSON) and the first and last 64 KiB of its data. Reads ≤ 128 KiB
 * of data per shard, never the whole file.
 */
async function fingerprint(files: { path: string; source: ByteSource }[]): Promise<string> {
  const h = new Sha256();
  for (const f of [...files].filter((x) => x.path.toLowerCase().endsWith('.safetensors')).sort((a, b) => (a.path < b.path ? -1 : 1))) {
    const bytes = (from: number, to: number) => f.source.read(from, to - from);
    const size = f.source.size;
    if (size < 8) continue;
    const head = await bytes(0, 8);
    const n = Number(new DataView(head.buffer, head.byteOffset, 8).getBigUint64(0, true));
    h.update(head);
    if (!(n > 0 && 8 + n <= size)) continue;
    h.update(await bytes(8, 8 + n));
    const start = 8 + n;
    const data = size - start;
    if (data <= 2 * SAMPLE) h.update(await bytes(start, size));
    else {
      h.update(await bytes(start, start + SAMPLE));
      h.update(await bytes(size - SAMPLE, size));
    }
  }
  return h.hex();
}

function sourceOf(f: InspectFile): ByteSource {
  if (f.file) return new BlobSource(f.path, f.file);
  if (f.hub) return new HubFileSource({ ...f.hub, path: f.path, size: f.size });
  throw new Error(`${f.path}: neither a file nor a Hub file`);
}

const api: InspectorApi = {
  async setHub(s) {
    await applyHubSession(s);
  },
  async open(id, ref, name, files): Promise<OpenResult> {
    try {
      const list = files.map((f) => ({ path: f.path, source: sourceOf(f) }));
      const info = await openModel(ref, name, new Map(list.map((f) => [f.path, f.source])));
      open.set(id, info);
      const summary = summarize(
        info,
        files.map((f) => ({ path: f.path, size: f.size })),
        await fingerprint(list),
      );
      return { ok: true, summary, tensors: tensorRows(info) };
    } catch (e) {
      open.delete(id);
      return { ok: false, error: toRecord(e) };
    }
  },

  async forget(id) {
    open.delete(id);
  },

  async analyze(recipe: Recipe, refs: Record<string, string>): Promise<Analysis> {
    const models = new Map<string, ModelInfo>();
    for (const [ref, id] of Object.entries(refs)) {
      const info = open.get(id);
      if (info) models.set(ref, { ...info, ref });
    }
    const plan = await planReport(recipe, models);
    const baseRef = recipe.base_model ?? recipe.models?.[0]?.model ?? recipe.slices?.[0]?.sources[0]?.model ?? [...models.keys()][0];
    const base = baseRef !== undefined ? models.get(baseRef) : undefined;
    const compat: CompatReport[] = [];
    if (base) for (const [ref, info] of models) if (ref !== baseRef) compat.push(compareToBase(base, info, recipe.merge_method));
    return { plan, compat };
  },

  async hashOutput(target: HashTarget, paths: string[], onHash) {
    let dir: FileSystemDirectoryHandle;
    if (target.kind === 'directory') dir = target.handle;
    else {
      dir = await navigator.storage.getDirectory();
      for (const s of outputPathSegments(target.dir)) dir = await dir.getDirectoryHandle(s);
    }
    const out: Record<string, string> = {};
    for (const p of paths) {
      let d = dir;
      const segs = outputPathSegments(p);
      for (const s of segs.slice(0, -1)) d = await d.getDirectoryHandle(s);
      const file = await (await d.getFileHandle(segs[segs.length - 1])).getFile();
      out[p] = await sha256Blob(file);
      onHash?.(p, out[p]);
    }
    return out;
  },
};

Comlink.expose(api);

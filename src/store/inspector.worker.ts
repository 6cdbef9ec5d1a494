// The inspector worker: header reading, compatibility checks, recipe planning and output hashing,
// so that none of it runs on the main thread. Logic lives in inspect-core.ts (Node-testable).
import * as Comlink from 'comlink';
import { toRecord } from '../errors';
import { openModel } from '../formats/model';
import { adapterSummary, applyAdapter, openAdapter, splitAdapterRef, type AdapterSummary } from '../formats/lora';
import { BlobSource } from '../io/sources';
import { outputPathSegments } from '../io/output-path';
import type { ModelInfo } from '../formats/model-info';
import type { Recipe } from '../recipe/types';
import type { HashTarget, InspectFile, InspectorApi, OpenResult } from './inspector-api';
import type { ByteSource } from '../io/types';
import { HubFileSource } from '../io/hub/source';
import { applyHubSession } from '../io/hub/session';
import { compareToBase, planReport, summarize, tensorRows } from './inspect-core';
import { sha256Blob } from '../formats/sha256';
import { fingerprint, sliceable } from '../formats/fingerprint';
import type { Analysis, CompatReport } from './types';

const open = new Map<string, ModelInfo>();

function sourceOf(f: InspectFile, label = f.path): ByteSource {
  if (f.file) return new BlobSource(label, f.file);
  if (f.hub) return new HubFileSource({ ...f.hub, path: f.path, size: f.size });
  throw new Error(`${f.path}: neither a file nor a Hub file`);
}

const api: InspectorApi = {
  async setHub(s) {
    await applyHubSession(s);
  },
  async open(id, ref, name, files, adapter): Promise<OpenResult> {
    try {
      const list = files.map((f) => ({ path: f.path, source: sourceOf(f) }));
      const sources = new Map(list.map((f) => [f.path, f.source]));
      let info: ModelInfo;
      let lora: AdapterSummary | undefined;
      if (adapter) {
        const base = await openModel(splitAdapterRef(ref).model, name, sources);
        const a = await openAdapter(adapter.ref, new Map(adapter.files.map((f) => [f.path, sourceOf(f, `${adapter.ref}/${f.path}`)])));
        info = applyAdapter(base, a, ref);
        lora = adapterSummary(a);
      } else info = await openModel(ref, name, sources);
      open.set(id, info);
      const summary = summarize(
        info,
        files.map((f) => ({ path: f.path, size: f.size })),
        await fingerprint(list.map((f) => ({ path: f.path, file: sliceable(f.source) }))),
      );
      return { ok: true, summary, tensors: tensorRows(info), ...(lora ? { adapter: lora } : {}) };
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

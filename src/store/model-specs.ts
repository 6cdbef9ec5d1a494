// Shelf models as the engine worker sees them (ModelSpec: the recipe's name plus the files as Blobs).
import type { ModelSpec } from '../worker/api';
import type { ShelfModel } from './types';

export function specOf(m: ShelfModel): ModelSpec {
  const files = (fs: ShelfModel['files']) => fs.map((f) => ({ path: f.path, size: f.size, ...(f.file ? { blob: f.file } : {}), ...(f.hub ? { hub: f.hub } : {}) }));
  return { ref: m.ref, files: files(m.files), ...(m.adapter ? { adapter: { ref: m.adapter.ref, files: files(m.adapter.files) } } : {}) };
}

/** Specs of the named models (all ready ones when `refs` is absent), and the names the shelf lacks. */
export function shelfSpecs(models: ShelfModel[], refs?: string[]): { specs: ModelSpec[]; missing: string[] } {
  const ready = models.filter((m) => m.status === 'ready');
  if (!refs) return { specs: ready.map(specOf), missing: [] };
  const specs: ModelSpec[] = [];
  const missing: string[] = [];
  for (const ref of refs) {
    const m = ready.find((x) => x.ref === ref);
    if (m) specs.push(specOf(m));
    else missing.push(ref);
  }
  return { specs, missing };
}

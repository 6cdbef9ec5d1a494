// Model shelf actions: add dropped/picked files (grouped into models, headers read in the inspector
// worker), remove and rename models, load the demo, match checkpoints against a share link.
import { parseMergekitYaml } from '../recipe/mergekit-yaml';
import type { ModelIdentity } from '../recipe/share-url';
import { defaultRecipe, renameModel } from '../recipe/edit';
import { recipeModels } from '../recipe/model-card';
import { adapterFromPicked, groupFiles, isAdapterGroup, uniqueName, type FileGroup, type PickedFile } from './grouping';
import { useStudio } from './store';
import type { ShelfModel } from './types';
import { getInspector } from './workers';
import { DEFAULT_HUB_ENDPOINT } from '../io/hub/resolve';

let nextId = 1;

export function identityOf(m: ShelfModel): ModelIdentity | undefined {
  if (!m.summary) return undefined;
  const hub = m.hub ? { repo: m.hub.repo, commit: m.hub.commit, ...(m.hub.endpoint !== DEFAULT_HUB_ENDPOINT ? { endpoint: m.hub.endpoint } : {}) } : undefined;
  return { ref: m.ref, name: m.name, tensors: m.summary.tensors, bytes: m.summary.weightBytes, hash: m.summary.fingerprint, ...(hub ? { hub } : {}) };
}

const sameIdentity = (a: ModelIdentity, b: ModelIdentity) => a.hash === b.hash && a.tensors === b.tensors && a.bytes === b.bytes;

export type SharedStatus = { identity: ModelIdentity; status: 'matched' | 'differs' | 'missing' | 'reading'; model?: ShelfModel };

/** For each checkpoint a share link expects: whether the shelf has it, under the recipe's name. */
export function sharedStatus(shared: ModelIdentity[], models: ShelfModel[]): SharedStatus[] {
  return shared.map((identity) => {
    const model = models.find((m) => m.ref === identity.ref);
    if (!model) return { identity, status: 'missing' };
    if (model.status === 'reading') return { identity, status: 'reading', model };
    const id = identityOf(model);
    // a Hub model pinned to the commit the link names is that checkpoint, whatever else the link knew
    const sameCommit = !!identity.hub && model.hub?.repo === identity.hub.repo && model.hub.commit === identity.hub.commit;
    return { identity, status: sameCommit || (id && sameIdentity(id, identity)) ? 'matched' : 'differs', model };
  });
}

/** Files from a drop or a picker → models on the shelf. Returns the paths that belong to no model. */
export async function addPicked(picked: PickedFile[], origin: ShelfModel['origin'] = 'local'): Promise<string[]> {
  const grouped = groupFiles(picked);
  const { ignored } = grouped;
  // a LoRA adapter folder is not a model: it belongs on its base model's card
  const adapters = grouped.groups.filter(isAdapterGroup);
  const groups = grouped.groups.filter((g) => !isAdapterGroup(g));
  if (adapters.length && groups.length === 0) {
    useStudio.getState().set({
      notice: { kind: 'error', text: `${adapters.map((a) => a.name).join(', ')} ${adapters.length === 1 ? 'is a LoRA adapter' : 'are LoRA adapters'}: drop ${adapters.length === 1 ? 'it' : 'each'} on the card of ${adapters.length === 1 ? 'its' : 'their'} base model to merge it as "model+adapter".` },
    });
    return ignored;
  }
  if (groups.length === 0) {
    useStudio.getState().set({
      notice: { kind: 'error', text: picked.length ? `No model found in ${picked.length} file(s): drop a folder with .safetensors files (and config.json), or the files themselves.` : 'Nothing was dropped.' },
    });
    return ignored;
  }
  await addGroups(groups, origin);
  return ignored;
}

export async function addGroups(groups: FileGroup[], origin: ShelfModel['origin']): Promise<void> {
  const taken = useStudio.getState().models.map((m) => m.ref);
  await addModels(
    groups.map((g) => {
      const ref = uniqueName(g.name, taken);
      taken.push(ref);
      return { ref, name: g.name, origin, files: g.files.map((f) => ({ path: f.path, size: f.file.size, file: f.file })) };
    }),
  );
}

/** Puts models on the shelf and reads their headers in the inspector worker. Resolves with them once read. */
export async function addModels(models: Omit<ShelfModel, 'id' | 'status'>[]): Promise<ShelfModel[]> {
  const st = useStudio.getState();
  const added: ShelfModel[] = models.map((m) => ({ ...m, id: `m${nextId++}`, status: 'reading' }));
  useStudio.setState({ models: [...st.models, ...added], notice: null });
  const inspector = getInspector();
  await Promise.all(
    added.map(async (m) => {
      const res = await inspector.open(
        m.id,
        m.ref,
        m.name,
        m.files.map((f) => ({ path: f.path, size: f.size, file: f.file, hub: f.hub })),
      );
      if (res.ok) useStudio.getState().patchModel(m.id, { status: 'ready', summary: res.summary, tensors: res.tensors, error: undefined });
      else useStudio.getState().patchModel(m.id, { status: 'error', error: res.error.message });
    }),
  );
  adoptSharedNames(added.map((m) => m.id));
  ensureRecipe();
  return added.map((m) => useStudio.getState().models.find((x) => x.id === m.id) ?? m);
}

/** The model's reference without its adapter ("base+adapter" → "base"). */
function baseRefOf(m: ShelfModel): string {
  return m.adapter ? m.ref.slice(0, m.ref.length - m.adapter.ref.length - 1) : m.ref;
}

/** Reads a model's headers again (with or without an adapter); false with a notice on failure. */
async function reopen(m: ShelfModel, ref: string, adapter: ShelfModel['adapter']): Promise<boolean> {
  const res = await getInspector().open(
    m.id,
    ref,
    m.name,
    m.files.map((f) => ({ path: f.path, size: f.size, file: f.file, hub: f.hub })),
    adapter && { ref: adapter.ref, files: adapter.files.map((f) => ({ path: f.path, size: f.size, file: f.file })) },
  );
  if (!res.ok) return false;
  useStudio.getState().patchModel(m.id, { status: 'ready', summary: res.summary, tensors: res.tensors, error: undefined, adapter: adapter && { ...adapter, summary: res.adapter } });
  return true;
}

/**
 * An adapter folder dropped on a model's card: the model becomes "model+adapter" (mergekit's
 * syntax; the recipe follows the new name). The adapter is checked against the model from headers
 * alone; a mismatch or an unsupported adapter type leaves the card as it was, with the error shown.
 */
export async function attachAdapter(id: string, picked: PickedFile[]): Promise<boolean> {
  const st = useStudio.getState();
  const m = st.models.find((x) => x.id === id);
  if (!m || m.status !== 'ready') return false;
  const group = adapterFromPicked(picked);
  if (!group) {
    st.set({ notice: { kind: 'error', text: 'Drop a LoRA adapter folder (adapter_config.json and adapter_model.safetensors) on a model card.' } });
    return false;
  }
  const base = baseRefOf(m);
  const adapterRef = group.name.replace(/\+/g, '-');
  const ref = uniqueName(`${base}+${adapterRef}`, st.models.filter((x) => x.id !== id).map((x) => x.ref));
  const adapter = { ref: ref.slice(base.length + 1), files: group.files.map((f) => ({ path: f.path, size: f.file.size, file: f.file })) };
  const res = await getInspector().open(
    m.id,
    ref,
    m.name,
    m.files.map((f) => ({ path: f.path, size: f.size, file: f.file, hub: f.hub })),
    { ref: adapter.ref, files: adapter.files.map((f) => ({ path: f.path, size: f.size, file: f.file })) },
  );
  if (!res.ok) {
    await reopen(m, m.ref, m.adapter); // the inspector forgot the model on failure
    useStudio.getState().set({ notice: { kind: 'error', text: `Adapter ${group.name} was not applied to ${m.ref}: ${res.error.message}` } });
    return false;
  }
  useStudio.getState().patchModel(m.id, { summary: res.summary, tensors: res.tensors, adapter: { ...adapter, summary: res.adapter } });
  renameRef(m.id, ref);
  useStudio.getState().set({ notice: null });
  return true;
}

/** Removes a model's adapter: it reads as the plain model again (the recipe follows the name). */
export async function detachAdapter(id: string): Promise<void> {
  const m = useStudio.getState().models.find((x) => x.id === id);
  if (!m?.adapter) return;
  const base = uniqueName(baseRefOf(m), useStudio.getState().models.filter((x) => x.id !== id).map((x) => x.ref));
  if (await reopen(m, base, undefined)) {
    useStudio.getState().patchModel(id, { adapter: undefined });
    renameRef(id, base);
  }
}

/** A dropped model whose identity a share link expects takes the recipe's name for it. */
function adoptSharedNames(ids: string[]): void {
  const st = useStudio.getState();
  if (!st.shared) return;
  for (const id of ids) {
    const m = useStudio.getState().models.find((x) => x.id === id);
    const mine = m && identityOf(m);
    if (!m || !mine) continue;
    const want = st.shared.find((s) => sameIdentity(s, mine));
    if (!want || want.ref === m.ref) continue;
    const holder = useStudio.getState().models.find((x) => x.ref === want.ref);
    const holderId = holder && identityOf(holder);
    if (holder && holderId && sameIdentity(holderId, want)) continue; // already matched by another copy
    if (holder) renameRef(holder.id, uniqueName(`${holder.ref}-other`, useStudio.getState().models.map((x) => x.ref)), false);
    renameRef(m.id, want.ref, false);
  }
}

/** No recipe yet (first visit without the demo recipe): base = first model, the others inputs. */
function ensureRecipe(): void {
  const st = useStudio.getState();
  const ready = st.models.filter((m) => m.status === 'ready').map((m) => m.ref);
  if (st.hasRecipe && recipeModels(st.recipe).length > 0) return;
  if (st.models.some((m) => m.status === 'reading')) return;
  if (ready.length === 0) return;
  st.setRecipe(defaultRecipe(ready, ready.length >= 2 ? 'ties' : 'linear'));
}

export async function removeModel(id: string): Promise<void> {
  const st = useStudio.getState();
  const models = st.models.filter((m) => m.id !== id);
  useStudio.setState({ models, selectedModel: st.selectedModel === id ? null : st.selectedModel });
  if (models.every((m) => m.origin !== 'demo') && st.models.some((m) => m.origin === 'demo')) useStudio.setState({ demoDismissed: true });
  await getInspector().forget(id);
}

/**
 * Renames a model's reference; the recipe follows unless the new name is already used by the
 * recipe for something else (`carryRecipe` false: the recipe keeps its names, e.g. adopting a
 * share link's name).
 */
export function renameRef(id: string, ref: string, carryRecipe = true): boolean {
  const st = useStudio.getState();
  const m = st.models.find((x) => x.id === id);
  const name = ref.trim();
  if (!m || !name || name === m.ref) return false;
  if (st.models.some((x) => x.id !== id && x.ref === name)) return false;
  const old = m.ref;
  st.patchModel(id, { ref: name });
  if (carryRecipe && recipeModels(st.recipe).includes(old) && !recipeModels(st.recipe).includes(name)) st.edit((r) => renameModel(r, old, name));
  return true;
}

interface DemoManifest {
  version: 1;
  recipe: string;
  models: { name: string; description: string; files: { path: string; size: number }[] }[];
  /** The Evolution tab's suggested starting form for this demo (store/evolve-config demoFormSuggestion). */
  evolution?: unknown;
}

/**
 * The demo folder: public/demo (the trained models of `npm run demo:train`), or another folder of
 * public/ named by `?demo=` (the end-to-end tests use `?demo=demo-tiny`, random checkpoints).
 */
export function demoFolder(): string {
  const asked = typeof location !== 'undefined' ? new URLSearchParams(location.search).get('demo') : null;
  return asked && /^[\w-]+$/.test(asked) ? asked : 'demo';
}

/** Loads the demo models (see demoFolder); with `withRecipe`, its recipe too. */
export async function loadDemo(withRecipe: boolean): Promise<void> {
  const base = new URL(`${demoFolder()}/`, document.baseURI);
  const manifest = (await (await fetch(new URL('manifest.json', base))).json()) as DemoManifest;
  const groups: FileGroup[] = await Promise.all(
    manifest.models.map(async (m) => ({
      name: m.name,
      files: await Promise.all(
        m.files.map(async (f) => {
          const res = await fetch(new URL(`${m.name}/${f.path}`, base));
          if (!res.ok) throw new Error(`demo file ${m.name}/${f.path}: HTTP ${res.status}`);
          return { path: f.path, file: new File([await res.blob()], f.path) };
        }),
      ),
    })),
  );
  if (withRecipe) {
    const text = await (await fetch(new URL(manifest.recipe, base))).text();
    useStudio.getState().setRecipe(parseMergekitYaml(text, `${demoFolder()}/recipe.yml`));
  }
  useStudio.setState({ demoDismissed: false, demoEvolution: manifest.evolution ?? null });
  await addGroups(groups, 'demo');
}

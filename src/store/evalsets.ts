// The eval sets the studio knows: the demo's (listed by public/demo/manifest.json) and JSONL files
// the user dropped or picked. Shared by "Try it" (run a set, see every item) and evolution (search
// and held-out splits). Each text is parsed once on arrival so a malformed file shows its error
// (file and line) in the list instead of failing a run later. The user's files are kept in
// IndexedDB (name and text) until removed, so a reload finds them again. They go through the
// write-ahead journal of io/journal.ts: a file is journaled in the same task that lists it (so a
// reload right after cannot lose it), and its row says "saved in this browser" only once the
// IndexedDB transaction has completed; a removal is journaled the same way, so it cannot come back.
import { create } from 'zustand';
import { idbBackend, JournaledStore } from '../io/journal';
import { parseEvalSet, type EvalSetKind } from '../eval/evalset';
import { toRecord } from '../errors';
import { demoFolder } from './shelf';

export interface EvalSetEntry {
  id: string;
  /** File name, e.g. "addition.search.jsonl" (names are unique in the list). */
  name: string;
  text: string;
  origin: 'demo' | 'file';
  /** From the manifest or the file name: "search", "test", "train", … */
  split?: string;
  task?: string;
  /**
   * The evolution role the demo's manifest suggests ("search" / "heldout" / "off"): the Devanagari
   * demo evolves its target task only, so the experts' own tasks start unused.
   */
  role?: 'search' | 'heldout' | 'off';
  kind?: EvalSetKind;
  items: number;
  /** Why the file cannot be used (it stays listed so the user sees the message). */
  error?: string;
  /** The user's files: whether this browser has kept it (absent for the demo's sets). */
  save?: SaveState;
}

/**
 * "saving": listed, its IndexedDB write not completed yet (`held`: the journal holds it, so a reload
 * now keeps it; otherwise the page asks before unloading). "saved": the transaction completed.
 */
export type SaveState = { state: 'saving'; held: boolean } | { state: 'saved' } | { state: 'failed'; reason: string };

export interface EvalSetsState {
  sets: EvalSetEntry[];
  status: 'idle' | 'loading' | 'ready';
  /** Problems loading the demo's sets (the studio works without them). */
  loadError: string | null;
}

export const useEvalSets = create<EvalSetsState>()(() => ({ sets: [], status: 'idle', loadError: null }));

let nextId = 1;

/** "addition.search.jsonl" → split "search", task "addition" (the demo's naming). */
export function splitOfName(name: string): { task?: string; split?: string } {
  const m = /^(.+?)\.(search|test|train|heldout|held-out|dev|val)\.jsonl$/i.exec(name);
  return m ? { task: m[1], split: m[2].toLowerCase() } : {};
}

export function entryOf(name: string, text: string, origin: EvalSetEntry['origin'], meta: { split?: string; task?: string; role?: EvalSetEntry['role'] } = {}): EvalSetEntry {
  const guess = splitOfName(name);
  const base = { id: `set${nextId++}`, name, text, origin, split: meta.split ?? guess.split, task: meta.task ?? guess.task, ...(meta.role ? { role: meta.role } : {}) };
  try {
    const set = parseEvalSet(name, text);
    return { ...base, kind: set.kind, items: set.items.length, error: set.items.length === 0 ? `${name} has no items` : undefined };
  } catch (e) {
    return { ...base, items: 0, error: toRecord(e).message };
  }
}

/**
 * Adds (or replaces, by name) entries. `underFiles`: a set the user added under the same name
 * wins (the demo's sets arrive after the saved ones on a reload).
 */
export function addEvalSets(entries: EvalSetEntry[], o: { underFiles?: boolean } = {}): void {
  const current = useEvalSets.getState().sets;
  const userNames = new Set(current.filter((s) => s.origin === 'file').map((s) => s.name));
  const incoming = o.underFiles ? entries.filter((e) => !userNames.has(e.name)) : entries;
  const names = new Set(incoming.map((e) => e.name));
  const kept = current.filter((s) => !names.has(s.name));
  useEvalSets.setState({ sets: [...kept, ...incoming], status: 'ready' });
}

/** The user's eval files as saved in IndexedDB. */
interface SavedEvalSet {
  name: string;
  text: string;
}
const savedSets = new JournaledStore<SavedEvalSet>({ name: 'eval-sets', keyOf: (s) => s.name, backend: idbBackend('eval-sets', 'eval sets') });

const reasonOf = (e: unknown) => toRecord(e).message;

/** Sets the save state of a listed entry (nothing if it was removed or replaced meanwhile). */
function setSave(id: string, save: SaveState): void {
  const sets = useEvalSets.getState().sets;
  if (sets.some((s) => s.id === id)) useEvalSets.setState({ sets: sets.map((s) => (s.id === id ? { ...s, save } : s)) });
}

/** Lists the user's file and saves it: journaled now, "saved" when its IndexedDB write completes. */
function keep(entry: EvalSetEntry): EvalSetEntry {
  const w = savedSets.put({ name: entry.name, text: entry.text });
  w.done.then(
    () => setSave(entry.id, { state: 'saved' }),
    (e: unknown) => setSave(entry.id, { state: 'failed', reason: reasonOf(e) }),
  );
  return { ...entry, save: { state: 'saving', held: w.held } };
}

export async function addEvalFiles(files: File[]): Promise<void> {
  const jsonl = files.filter((f) => /\.jsonl?$/i.test(f.name));
  const entries = await Promise.all(jsonl.map(async (f) => entryOf(f.name, await f.text(), 'file')));
  const skipped = files.length - jsonl.length;
  // Journaled in the same task as listed: no reload can come between the two.
  if (entries.length) addEvalSets(entries.map(keep));
  if (skipped) useEvalSets.setState({ loadError: `${skipped} file(s) ignored: eval sets are .jsonl files (one JSON object per line).` });
}

export function removeEvalSet(id: string): void {
  const gone = useEvalSets.getState().sets.find((s) => s.id === id);
  useEvalSets.setState({ sets: useEvalSets.getState().sets.filter((s) => s.id !== id) });
  if (gone?.origin !== 'file') return;
  savedSets.remove(gone.name).done.catch((e: unknown) =>
    useEvalSets.setState({ loadError: `${gone.name} could not be removed from this browser's storage (${reasonOf(e)}); it may be listed again after a reload.` }),
  );
}

/**
 * Lists the eval files the user added in an earlier visit (parsed again, errors shown as before):
 * those still in the journal at once ("saving…": a reload interrupted their write), then all of
 * them once the journal has been replayed into IndexedDB.
 */
export async function loadSavedEvalSets(): Promise<void> {
  const { pending, all } = savedSets.load();
  const listed = new Map<string, string>(); // name → id of the entry listed from the journal
  if (pending.length) {
    const entries = pending.map((s) => ({ ...entryOf(s.name, s.text, 'file'), save: { state: 'saving', held: true } as SaveState }));
    for (const e of entries) listed.set(e.name, e.id);
    addEvalSets(entries);
  }
  try {
    const saved = await all;
    for (const [name, id] of listed) {
      if (saved.some((s) => s.name === name)) setSave(id, { state: 'saved' });
      // Another tab removed it before this replay ran: not listed any more.
      else useEvalSets.setState({ sets: useEvalSets.getState().sets.filter((s) => s.id !== id) });
    }
    const sets = useEvalSets.getState().sets;
    // A file the user added while this ran is newer than what was saved under its name.
    const userNames = new Set(sets.filter((s) => s.origin === 'file').map((s) => s.name));
    const fresh = saved.filter((s) => !userNames.has(s.name));
    if (fresh.length) addEvalSets(fresh.map((s) => ({ ...entryOf(s.name, s.text, 'file'), save: { state: 'saved' } })));
  } catch (e) {
    for (const id of listed.values()) setSave(id, { state: 'failed', reason: reasonOf(e) });
    useEvalSets.setState({ loadError: `Your saved eval sets could not be read: ${reasonOf(e)}` });
  }
}

interface ManifestEval {
  name: string;
  path: string;
  split?: string;
  task?: string;
  role?: string;
}

const ROLES = ['search', 'heldout', 'off'] as const;

/** Fetches the eval sets the demo's manifest lists under `evals` (none listed: none loaded). */
export async function loadDemoEvalSets(): Promise<void> {
  if (useEvalSets.getState().status === 'loading') return;
  useEvalSets.setState({ status: 'loading' });
  // The same folder the demo models come from (public/demo, or ?demo=… in tests).
  const base = new URL(`${demoFolder()}/`, document.baseURI);
  try {
    const manifest = (await (await fetch(new URL('manifest.json', base))).json()) as { evals?: ManifestEval[] };
    const entries = await Promise.all(
      (Array.isArray(manifest.evals) ? manifest.evals : []).map(async (e) => {
        const res = await fetch(new URL(e.path, base));
        // The dev server answers unknown paths with index.html: only JSONL-looking bodies count.
        const text = res.ok ? await res.text() : null;
        if (text === null || /^\s*</.test(text)) throw new Error(`demo eval set ${e.path}: ${res.ok ? 'not JSONL' : `HTTP ${res.status}`}`);
        const role = ROLES.find((r) => r === e.role);
        return entryOf(e.name, text, 'demo', { split: e.split, task: e.task, role });
      }),
    );
    addEvalSets(entries, { underFiles: true });
    useEvalSets.setState({ status: 'ready' });
  } catch (e) {
    useEvalSets.setState({ status: 'ready', loadError: `The demo eval sets could not be loaded: ${e instanceof Error ? e.message : String(e)}` });
  }
}

/** Usable sets (parsed without error). */
export const usableSets = (sets: EvalSetEntry[]): EvalSetEntry[] => sets.filter((s) => !s.error && s.items > 0);

// The studio's state: one zustand store made of four slices (models, recipe, run, ui). Everything
// in it is plain data (Files/Blobs included, which structured-clone); workers and GPU objects live
// in workers.ts. The recipe is the single source of truth: roles, forms, YAML and share links are
// views of it. The recipe (as mergekit YAML) and a few UI choices persist in localStorage.
import { create } from 'zustand';
import { createJSONStorage, persist } from 'zustand/middleware';
import { toRecord, type ErrorRecord } from '../errors';
import { parseMergekitYaml, recipeToMergekitYaml } from '../recipe/mergekit-yaml';
import type { ModelIdentity } from '../recipe/share-url';
import type { Recipe } from '../recipe/types';
import type { GpuReport } from '../worker/api';
import type { Analysis, RunState, ShelfModel } from './types';

export interface YamlError {
  message: string;
  line?: number;
}

export interface ModelsSlice {
  models: ShelfModel[];
  analysis: Analysis | null;
  /** The recipe revision `analysis` was computed for (tests and benchmarks wait on it). */
  analysisFor: number;
  /** Models the shelf is told about but cannot show yet (drops being read). */
  reading: number;
  patchModel(id: string, patch: Partial<ShelfModel>): void;
}

export interface RecipeSlice {
  recipe: Recipe;
  /** The YAML pane's text: the recipe's YAML, or what the user is typing (possibly invalid). */
  yaml: string;
  yamlError: YamlError | null;
  /** Bumped on every recipe change (diagnostics and analysis debounce on it). */
  revision: number;
  /** Whether a recipe was ever chosen here (first visit: no). */
  hasRecipe: boolean;
  /** Form edits: a pure edit function of recipe/edit.ts applied to the current recipe. */
  edit(fn: (r: Recipe) => Recipe): void;
  /** Replaces the recipe (import, share link, demo). */
  setRecipe(r: Recipe): void;
  /** YAML pane edits: the text is kept; a valid text becomes the recipe, an invalid one an error at its line. */
  setYaml(text: string): void;
}

export interface RunSlice {
  run: RunState;
  setRun(run: RunState): void;
}

export interface UiSlice {
  selectedModel: string | null;
  /** Filter tab of the parameter editor: undefined = all tensors, else a tensor-name substring. */
  filterTab: string | undefined;
  /** Identities from an opened share link: which checkpoints the recipe expects. */
  shared: ModelIdentity[] | null;
  shareError: string | null;
  shareLink: string | null;
  demoDismissed: boolean;
  /** The loaded demo's suggested Evolution form (its manifest's `evolution`; store/evolution applies it). */
  demoEvolution: unknown;
  outputName: string;
  capability: { state: 'probing' } | { state: 'ready'; report: GpuReport } | { state: 'failed'; message: string };
  notice: { kind: 'info' | 'error'; text: string } | null;
  set(patch: Partial<Omit<UiSlice, 'set'>>): void;
}

export type StudioState = ModelsSlice & RecipeSlice & RunSlice & UiSlice;

const EMPTY: Recipe = { merge_method: 'ties', models: [] };

/** localStorage, written only when the persisted part really changed (not on every progress tick). */
const dedupedLocalStorage = () => {
  let last: string | null = null;
  return {
    getItem: (name: string) => localStorage.getItem(name),
    setItem: (name: string, value: string) => {
      if (value === last) return;
      last = value;
      localStorage.setItem(name, value);
    },
    removeItem: (name: string) => localStorage.removeItem(name),
  };
};

function yamlErrorOf(e: unknown): YamlError {
  const r: ErrorRecord = toRecord(e);
  return { message: r.message, line: r.details.line };
}

export const useStudio = create<StudioState>()(
  persist(
    (set, get) => ({
      // ---- models
      models: [],
      analysis: null,
      analysisFor: -1,
      reading: 0,
      patchModel: (id, patch) => set({ models: get().models.map((m) => (m.id === id ? { ...m, ...patch } : m)) }),

      // ---- recipe
      recipe: EMPTY,
      yaml: recipeToMergekitYaml(EMPTY),
      yamlError: null,
      revision: 0,
      hasRecipe: false,
      edit: (fn) => {
        const next = fn(get().recipe);
        if (next === get().recipe) return;
        set({ recipe: next, yaml: recipeToMergekitYaml(next), yamlError: null, revision: get().revision + 1, hasRecipe: true });
      },
      setRecipe: (r) => set({ recipe: r, yaml: recipeToMergekitYaml(r), yamlError: null, revision: get().revision + 1, hasRecipe: true }),
      setYaml: (text) => {
        try {
          const r = parseMergekitYaml(text, 'the YAML pane');
          set({ yaml: text, recipe: r, yamlError: null, revision: get().revision + 1, hasRecipe: true });
        } catch (e) {
          set({ yaml: text, yamlError: yamlErrorOf(e) });
        }
      },

      // ---- run
      run: { kind: 'idle' },
      setRun: (run) => set({ run }),

      // ---- ui
      selectedModel: null,
      filterTab: undefined,
      shared: null,
      shareError: null,
      shareLink: null,
      demoDismissed: false,
      demoEvolution: undefined,
      outputName: 'merged',
      capability: { state: 'probing' },
      notice: null,
      set: (patch) => set(patch),
    }),
    {
      name: 'merge-studio',
      version: 1,
      storage: createJSONStorage(dedupedLocalStorage),
      partialize: (s) => ({ yaml: s.yaml, hasRecipe: s.hasRecipe, shared: s.shared, demoDismissed: s.demoDismissed, outputName: s.outputName }),
      merge: (persisted, current) => {
        const p = (persisted ?? {}) as Partial<Pick<StudioState, 'yaml' | 'hasRecipe' | 'shared' | 'demoDismissed' | 'outputName'>>;
        const out: StudioState = { ...current };
        if (typeof p.demoDismissed === 'boolean') out.demoDismissed = p.demoDismissed;
        if (typeof p.outputName === 'string' && p.outputName) out.outputName = p.outputName;
        if (Array.isArray(p.shared)) out.shared = p.shared;
        if (p.hasRecipe && typeof p.yaml === 'string') {
          out.hasRecipe = true;
          out.yaml = p.yaml;
          try {
            out.recipe = parseMergekitYaml(p.yaml, 'the saved recipe');
          } catch (e) {
            out.yamlError = yamlErrorOf(e);
          }
        }
        return out;
      },
    },
  ),
);

export const studio = useStudio;

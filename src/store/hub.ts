// The studio's Hub settings and actions: the token (memory, or sessionStorage when the user asks to
// keep it for this tab — never localStorage, IndexedDB, share links or YAML), the endpoint, the OPFS
// byte cache (limit, usage, clear), and "Add from the Hub" (resolve a reference to a pinned commit,
// put the model on the shelf, read its headers by range in the inspector worker).
//
// The publishing side (store/publish.ts, ui/PublishPanel.tsx) reads the token and the endpoint here.
import { create } from 'zustand';
import { StudioError } from '../errors';
import { DEFAULT_OPFS_CACHE_BYTES, OpfsBlockStore } from '../io/hub/opfs-cache';
import { formatHubRef, parseHubRef } from '../io/hub/ref';
import { DEFAULT_HUB_ENDPOINT, resolveHubModel } from '../io/hub/resolve';
import { uniqueName } from './grouping';
import { addModels } from './shelf';
import { useStudio } from './store';
import type { ShelfModel } from './types';
import { getEngine, getInspector } from './workers';

const TOKEN_KEY = 'merge-studio.hub-token';
const SETTINGS_KEY = 'merge-studio.hub';

let token: string | undefined;
try {
  token = (typeof sessionStorage !== 'undefined' && sessionStorage.getItem(TOKEN_KEY)) || undefined;
} catch {
  token = undefined;
}

/** The Hub token, if the user gave one (memory / sessionStorage only). */
export function getHubToken(): string | undefined {
  return token;
}

/** Sets or clears the token; `keepForTab` also keeps it in sessionStorage (gone when the tab closes). */
export function setHubToken(value: string | undefined, keepForTab = false): void {
  token = value?.trim() || undefined;
  try {
    if (token && keepForTab) sessionStorage.setItem(TOKEN_KEY, token);
    else sessionStorage.removeItem(TOKEN_KEY);
  } catch {
    /* no sessionStorage: memory only */
  }
  useHub.setState({ hasToken: !!token, tokenKept: !!token && keepForTab });
  void pushSession();
}

interface HubState {
  endpoint: string;
  hasToken: boolean;
  tokenKept: boolean;
  /** Byte-cache bound; 0: no cache. */
  cacheBytes: number;
  usage: { bytes: number; blocks: number } | null;
  /** A reference being added. */
  adding: string | null;
  error: string | null;
}

function loadSettings(): { endpoint?: string; cacheBytes?: number } {
  try {
    const o = JSON.parse(localStorage.getItem(SETTINGS_KEY) ?? '{}') as { endpoint?: unknown; cacheBytes?: unknown };
    return {
      ...(typeof o.endpoint === 'string' ? { endpoint: o.endpoint } : {}),
      ...(typeof o.cacheBytes === 'number' && o.cacheBytes >= 0 ? { cacheBytes: o.cacheBytes } : {}),
    };
  } catch {
    return {};
  }
}

/** `?hub=<origin>` in the page URL points the studio at another Hub-compatible server (tests, mirrors). */
function endpointFromUrl(): string | undefined {
  if (typeof location === 'undefined') return undefined;
  const v = new URLSearchParams(location.search).get('hub');
  if (!v) return undefined;
  try {
    return new URL(v).origin;
  } catch {
    return undefined;
  }
}

const saved = loadSettings();
export const useHub = create<HubState>(() => ({
  endpoint: endpointFromUrl() ?? saved.endpoint ?? DEFAULT_HUB_ENDPOINT,
  hasToken: !!token,
  tokenKept: !!token,
  cacheBytes: saved.cacheBytes ?? DEFAULT_OPFS_CACHE_BYTES,
  usage: null,
  adding: null,
  error: null,
}));

function saveSettings(): void {
  const { endpoint, cacheBytes } = useHub.getState();
  try {
    localStorage.setItem(SETTINGS_KEY, JSON.stringify({ endpoint, cacheBytes }));
  } catch {
    /* quota: settings stay for this visit */
  }
}

/** The Hub's address for this tab (an origin; the public Hub unless the user or the URL set another). */
export function getHubEndpoint(): string {
  return useHub.getState().endpoint;
}

export function setHubEndpoint(endpoint: string): boolean {
  let origin: string;
  try {
    origin = new URL(endpoint.trim()).origin;
  } catch {
    useHub.setState({ error: `"${endpoint}" is not a URL (e.g. ${DEFAULT_HUB_ENDPOINT})` });
    return false;
  }
  useHub.setState({ endpoint: origin, error: null });
  saveSettings();
  return true;
}

let pushed: Promise<void> = Promise.resolve();
/** Sends the token and cache limit to both workers (before any Hub read). */
function pushSession(): Promise<void> {
  const s = { ...(token ? { token } : {}), cacheBytes: useHub.getState().cacheBytes };
  pushed = Promise.all([getEngine().api.setHub(s), getInspector().setHub(s)]).then(() => undefined);
  return pushed;
}

let pageStore: Promise<OpfsBlockStore | undefined> | undefined;
function cacheStore(): Promise<OpfsBlockStore | undefined> {
  pageStore ??= OpfsBlockStore.open(useHub.getState().cacheBytes);
  return pageStore;
}

export async function refreshCacheUsage(): Promise<void> {
  const s = await OpfsBlockStore.open(Number.MAX_SAFE_INTEGER); // a fresh index: the workers write too
  const u = s ? await s.usage() : null;
  useHub.setState({ usage: u ? { bytes: u.bytes, blocks: u.blocks } : null });
}

export async function setCacheLimit(bytes: number): Promise<void> {
  useHub.setState({ cacheBytes: Math.max(0, Math.round(bytes)) });
  saveSettings();
  const s = await OpfsBlockStore.open(Math.max(0, Math.round(bytes)));
  await s?.setLimit(Math.max(0, Math.round(bytes)));
  await pushSession();
  await refreshCacheUsage();
}

export async function clearHubCache(): Promise<void> {
  const s = await cacheStore();
  await s?.clear();
  await refreshCacheUsage();
}

/**
 * Adds a Hub model to the shelf: `text` is a repo id ("org/name", "org/name@rev") or a Hub URL;
 * `revision` (optional) overrides the one in the text. `as` names it in the recipe (default: the
 * reference as written, without the revision when none was asked for).
 */
export async function addFromHub(text: string, revision?: string, as?: string): Promise<ShelfModel | undefined> {
  const parsed = parseHubRef(text);
  const hub = useHub.getState();
  if (!parsed) {
    useHub.setState({ error: `"${text}" is not a Hub model: write org/name, org/name@revision or paste the model's URL` });
    return undefined;
  }
  const ref = { repo: parsed.repo, ...(revision?.trim() ? { revision: revision.trim() } : parsed.revision ? { revision: parsed.revision } : {}) };
  useHub.setState({ adding: formatHubRef(ref), error: null });
  try {
    await pushSession();
    await pushed;
    const m = await resolveHubModel(ref, { endpoint: hub.endpoint, ...(token ? { token } : {}) });
    const taken = useStudio.getState().models.map((x) => x.ref);
    const name = as ?? uniqueName(formatHubRef(ref), taken);
    const origin = { endpoint: m.endpoint, repo: m.repo, commit: m.commit };
    const [added] = await addModels(
      [
        {
          ref: name,
          name: m.repo,
          origin: 'hub',
          hub: { ...origin, revision: m.revision },
          files: m.files.map((f) => ({ path: f.path, size: f.size, hub: origin })),
        },
      ],
    );
    void refreshCacheUsage();
    return added;
  } catch (e) {
    const msg = e instanceof StudioError ? e.message : e instanceof Error ? e.message : String(e);
    useHub.setState({ error: msg });
    return undefined;
  } finally {
    useHub.setState({ adding: null });
  }
}

/** The pinned reference a share link carries for a Hub model: org/name@<commit>. */
export function pinnedRef(m: ShelfModel): string | undefined {
  return m.hub ? `${m.hub.repo}@${m.hub.commit}` : undefined;
}


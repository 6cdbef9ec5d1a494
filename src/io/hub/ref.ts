// Hub model references: "org/name", "org/name@revision" (mergekit's spelling) and Hub URLs
// (https://huggingface.co/org/name, …/tree/<rev>, …/blob/<rev>/<file>, …/resolve/<rev>/<file>).
// Pure: no I/O. Whether a reference is a local path first is the caller's business (the CLI tries
// the file system before the Hub, as mergekit does).
import { ModelError } from '../../errors';

/** The public Hub: the default endpoint when HF_ENDPOINT (CLI) or the studio's setting names none. */
export const DEFAULT_HUB_ENDPOINT = 'https://huggingface.co';

export interface HubRef {
  /** "org/name" */
  repo: string;
  /** A branch, tag or commit sha; absent: the default branch. */
  revision?: string;
  /** The origin of a URL reference (e.g. https://huggingface.co), when the reference was a URL. */
  origin?: string;
}

/** One segment of a repo id: letters, digits, "-", "_", "."; not starting or ending with "-" / ".", no "--" / "..". */
const SEGMENT = /^(?![-.])(?!.*(--|\.\.))[A-Za-z0-9_.-]{1,96}(?<![-.])$/;

/** A Hub commit id (what a pinned reference carries). */
export const COMMIT_SHA = /^[0-9a-f]{40}$/;

function validRevision(rev: string): boolean {
  return rev.length > 0 && rev.length <= 256 && !/[\s\\~^:?*[\]]/.test(rev) && !rev.includes('..') && !rev.startsWith('/') && !rev.endsWith('/');
}

function repoOf(org: string, name: string): string | undefined {
  return SEGMENT.test(org) && SEGMENT.test(name) ? `${org}/${name}` : undefined;
}

/**
 * Parses a Hub reference; undefined when `text` is not one (a local path such as "./x", "/abs",
 * "~/x", a single word, a LoRA "model+adapter" reference, or a URL of another kind of repo).
 */
export function parseHubRef(text: string): HubRef | undefined {
  const t = text.trim();
  if (/^https?:\/\//i.test(t)) return parseHubUrl(t);
  if (t.includes('+') || t.startsWith('.') || t.startsWith('/') || t.startsWith('~')) return undefined;
  const at = t.indexOf('@');
  const id = at < 0 ? t : t.slice(0, at);
  const revision = at < 0 ? undefined : t.slice(at + 1);
  const parts = id.split('/');
  if (parts.length !== 2) return undefined;
  const repo = repoOf(parts[0], parts[1]);
  if (!repo) return undefined;
  if (revision !== undefined && !validRevision(revision)) return undefined;
  return revision === undefined ? { repo } : { repo, revision };
}

function parseHubUrl(text: string): HubRef | undefined {
  let u: URL;
  try {
    u = new URL(text);
  } catch {
    return undefined;
  }
  const parts = u.pathname.split('/').filter(Boolean).map((p) => decodeURIComponent(p));
  // datasets/…, spaces/…, api/…: not a model
  if (parts.length < 2 || ['datasets', 'spaces', 'api', 'collections', 'docs', 'buckets'].includes(parts[0])) return undefined;
  const repo = repoOf(parts[0], parts[1]);
  if (!repo) return undefined;
  const origin = u.origin;
  if (parts.length === 2) return { repo, origin };
  const kind = parts[2];
  if ((kind === 'tree' || kind === 'blob' || kind === 'resolve' || kind === 'commit') && parts.length >= 4) {
    // A revision with "/" (refs/pr/1) arrives encoded in one segment, or as refs/pr/<n>.
    let revision = parts[3];
    if (revision === 'refs' && parts[4] === 'pr' && parts[5]) revision = `refs/pr/${parts[5]}`;
    return validRevision(revision) ? { repo, revision, origin } : undefined;
  }
  return undefined;
}

/** Like parseHubRef, but throws a ModelError saying what a Hub reference looks like. */
export function parseHubRefOrThrow(text: string): HubRef {
  const r = parseHubRef(text);
  if (!r)
    throw new ModelError(
      `"${text}" is not a Hub model reference: write org/name, org/name@revision or a model URL such as https://huggingface.co/org/name/tree/main`,
      { model: text },
    );
  return r;
}

/** "org/name" or "org/name@revision": the form recipes and share links carry. */
export function formatHubRef(r: { repo: string; revision?: string }): string {
  return r.revision ? `${r.repo}@${r.revision}` : r.repo;
}

/** The model's page on a Hub (for links in the UI and messages). */
export function hubModelUrl(endpoint: string, r: { repo: string; revision?: string }): string {
  const base = `${endpoint.replace(/\/+$/, '')}/${r.repo}`;
  return r.revision ? `${base}/tree/${encodeURIComponent(r.revision)}` : base;
}

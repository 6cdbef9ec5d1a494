// Model references → local folders or Hub repos, for the headless CLI (Node only).
// A reference is used as the recipe writes it ("org/name", "org/name@rev", "./x", "/abs/x"). A local
// folder wins (mergekit's order); a reference that names none and reads as a Hub reference is
// resolved on the Hub (cli/hub.ts) when the command has Hub access, pinned to a commit.
import { readdir, stat } from 'node:fs/promises';
import { homedir } from 'node:os';
import { basename, isAbsolute, join, resolve } from 'node:path';
import { ModelError, StudioError } from '../errors';
import type { HubModel } from '../io/hub/resolve';
import { parseHubRef } from '../io/hub/ref';
import { NodeFileSource } from '../io/node-source';
import type { ByteSource } from '../io/types';
import type { Recipe, TokenSource } from '../recipe/types';

/** Every model reference a recipe uses, in first-appearance order, without duplicates. */
export function recipeModelRefs(recipe: Recipe): string[] {
  const refs: string[] = [];
  const add = (r: unknown) => {
    if (typeof r === 'string' && r && !refs.includes(r)) refs.push(r);
  };
  for (const m of recipe.models ?? []) add(m.model);
  for (const s of recipe.slices ?? []) {
    for (const src of s.sources) add(src.model);
    add(s.base_model);
  }
  add(recipe.base_model);
  const tokenizerRef = (s: unknown) => {
    if (typeof s === 'string' && s !== 'union' && s !== 'base') add(s);
  };
  tokenizerRef(recipe.tokenizer_source);
  tokenizerRef(recipe.tokenizer?.source);
  for (const t of Object.values(recipe.tokenizer?.tokens ?? {})) {
    const src: TokenSource | undefined = t?.source;
    if (typeof src === 'string') add(src);
    else if (src && src.kind === 'model_token') add(src.model);
  }
  return refs;
}

export interface ResolvedModel {
  ref: string;
  /** The local folder (absent for a Hub model). */
  dir?: string;
  /** The Hub model at its pinned commit (absent for a local folder). */
  hub?: HubModel;
  /** abs: the file on disk (local); source: where its bytes come from (Hub). */
  files: { path: string; size: number; abs?: string; source?: ByteSource }[];
}

/** A short name for the model's folder (the local folder's name, or the repo's). */
export function modelName(m: ResolvedModel): string {
  return m.dir ? basename(m.dir) : (m.hub?.repo.split('/').pop() ?? m.ref);
}

/** The model's files as byte sources (Node files, or the Hub sources). */
export async function openResolvedFiles(m: ResolvedModel): Promise<Map<string, ByteSource>> {
  const files = new Map<string, ByteSource>();
  for (const f of m.files) files.set(f.path, f.source ?? (await NodeFileSource.open(f.path, f.abs!)));
  return files;
}

async function isDir(p: string): Promise<boolean> {
  try {
    return (await stat(p)).isDirectory();
  } catch {
    return false;
  }
}

/** Which files of a model folder the engine may need (mergekit downloads *.json, tokenizer.model, weights). */
export function isModelFile(name: string): boolean {
  return /\.(safetensors|json|model|txt|tiktoken|jinja)$/i.test(name) && !name.startsWith('.');
}

/** The local folder a reference names, or undefined (no error). */
export async function findModelDir(ref: string, modelsDir: string): Promise<string | undefined> {
  return resolveModelDir(ref, modelsDir).catch(() => undefined);
}

/**
 * Resolves a reference: a local folder when there is one, else (with `hub`) a Hub repo. Throws
 * ModelError naming the reference (and the paths tried, or the Hub's answer).
 */
export async function resolveModelRef(
  ref: string,
  modelsDir: string,
  hub?: (ref: string) => Promise<ResolvedModel>,
  env: NodeJS.ProcessEnv = process.env,
): Promise<ResolvedModel> {
  const offline = /^(1|true|yes|on)$/i.test(env.HF_HUB_OFFLINE ?? '');
  if (!hub || offline || !parseHubRef(ref) || (await findModelDir(ref, modelsDir))) return resolveModel(ref, modelsDir);
  try {
    return await hub(ref);
  } catch (e) {
    if (!(e instanceof StudioError) || e.code === 'cancelled') throw e;
    // say both: what the Hub answered, and where on disk it was looked for
    const local = await resolveModel(ref, modelsDir).then(
      () => undefined,
      (le: unknown) => (le instanceof Error ? le.message : String(le)),
    );
    throw new ModelError(`${e.message}${local ? ` (and locally: ${local.replace(/^model "[^"]*" /, '')})` : ''}`, { ...e.details, model: ref });
  }
}

/** Resolves one reference to a folder; throws ModelError naming the reference and every path tried. */
export async function resolveModelDir(ref: string, modelsDir: string): Promise<string> {
  const base = (p: string) => (p.startsWith('~/') ? join(homedir(), p.slice(2)) : isAbsolute(p) ? p : resolve(modelsDir, p));
  const tried: string[] = [];
  const full = base(ref);
  tried.push(full);
  if (await isDir(full)) return full;
  const at = ref.lastIndexOf('@');
  if (at > 0 && !ref.slice(at).includes('/')) {
    const stripped = base(ref.slice(0, at));
    tried.push(stripped);
    if (await isDir(stripped)) return stripped;
  }
  const hints: string[] = [];
  if (ref.includes('+')) hints.push('LoRA references ("model+lora") are not supported: merge the adapter into the model first');
  if (!isAbsolute(ref) && /^[\w.-]+\/[\w.-]+(@.*)?$/.test(ref) && !parseHubRef(ref))
    hints.push('it is not a Hub reference either (org/name or org/name@revision)');
  throw new ModelError(
    `model "${ref}" not found: no folder at ${tried.join(' or ')}${hints.length ? ` (${hints.join('; ')})` : ''}. Use --models-dir to say where models live.`,
    { model: ref, file: full },
  );
}

export async function resolveModel(ref: string, modelsDir: string): Promise<ResolvedModel> {
  const dir = await resolveModelDir(ref, modelsDir);
  const files: ResolvedModel['files'] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    if (!(e.isFile() || e.isSymbolicLink()) || !isModelFile(e.name)) continue;
    const abs = join(dir, e.name);
    try {
      const st = await stat(abs);
      if (st.isFile()) files.push({ path: e.name, size: st.size, abs });
    } catch {
      /* dangling symlink */
    }
  }
  files.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  if (!files.some((f) => f.path.endsWith('.safetensors'))) {
    const hasBin = (await readdir(dir)).some((n) => /\.(bin|pt|pth)$/.test(n));
    throw new ModelError(
      `model "${ref}" (${dir}) has no .safetensors files${hasBin ? '; it holds PyTorch .bin weights, which this engine cannot read — convert them to safetensors first' : ''}`,
      { model: ref, file: dir },
    );
  }
  return { ref, dir, files };
}

// Model references → local folders or Hub repos, for the headless CLI (Node only).
// A reference is used as the recipe writes it ("org/name", "org/name@rev", "./x", "/abs/x"). A local
// folder wins (mergekit's order); a reference that names none and reads as a Hub reference is
// resolved on the Hub (cli/hub.ts) when the command has Hub access, pinned to a commit.
// "model+adapter" resolves both sides the same way (the adapter holds a PEFT LoRA adapter).
import { readdir, stat } from 'node:fs/promises';
import { homedir } from 'node:os';
import { basename, isAbsolute, join, resolve } from 'node:path';
import { ModelError, StudioError } from '../errors';
import { ADAPTER_CONFIG, ADAPTER_WEIGHTS, openAdapted } from '../formats/lora';
import type { ModelInfo } from '../formats/model-info';
import type { HubModel } from '../io/hub/resolve';
import { parseHubRef } from '../io/hub/ref';
import { NodeFileSource } from '../io/node-source';
import type { ByteSource, ModelSpec } from '../io/types';
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

export interface ResolvedFolder {
  ref: string;
  /** The local folder (absent for a Hub model). */
  dir?: string;
  /** The Hub model at its pinned commit (absent for a local folder). */
  hub?: HubModel;
  /** abs: the file on disk (local); source: where its bytes come from (Hub). */
  files: { path: string; size: number; abs?: string; source?: ByteSource }[];
}

/** A recipe reference's folder; for "model+adapter", `dir`/`files` are the model's and `adapter` the adapter's. */
export interface ResolvedModel extends ResolvedFolder {
  adapter?: ResolvedFolder;
}

/** A short name for the model's folder (the local folder's name, or the repo's). */
export function modelName(m: ResolvedFolder): string {
  return m.dir ? basename(m.dir) : (m.hub?.repo.split('/').pop() ?? m.ref);
}

/** The folder's files as byte sources (Node files, or the Hub sources). */
export async function openResolvedFiles(m: ResolvedFolder): Promise<Map<string, ByteSource>> {
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

/** Resolves a Hub reference; `role` says which side of "model+adapter" it is (which files its opening reads). */
type HubResolver = (ref: string, role: 'model' | 'adapter') => Promise<ResolvedFolder>;

/**
 * Resolves a recipe reference: each side of "model+adapter" a local folder when there is one, else
 * (with `hub`) a Hub repo. Throws ModelError naming the reference (and the paths tried, or the
 * Hub's answer).
 */
export async function resolveModelRef(ref: string, modelsDir: string, hub?: HubResolver, env: NodeJS.ProcessEnv = process.env): Promise<ResolvedModel> {
  const plus = ref.indexOf('+');
  if (plus < 0) return resolveOneRef(ref, modelsDir, 'model', hub, env);
  const model = await resolveOneRef(ref.slice(0, plus), modelsDir, 'model', hub, env);
  const adapter = await resolveOneRef(ref.slice(plus + 1), modelsDir, 'adapter', hub, env);
  return { ...model, ref, adapter };
}

async function resolveOneRef(ref: string, modelsDir: string, kind: 'model' | 'adapter', hub: HubResolver | undefined, env: NodeJS.ProcessEnv): Promise<ResolvedFolder> {
  const offline = /^(1|true|yes|on)$/i.test(env.HF_HUB_OFFLINE ?? '');
  if (!hub || offline || !parseHubRef(ref) || (await findModelDir(ref, modelsDir))) return resolveFolder(ref, modelsDir, kind);
  let found: ResolvedFolder;
  try {
    found = await hub(ref, kind);
  } catch (e) {
    if (!(e instanceof StudioError) || e.code === 'cancelled') throw e;
    // say both: what the Hub answered, and where on disk it was looked for
    const local = await resolveModelDir(ref, modelsDir).then(
      () => undefined,
      (le: unknown) => (le instanceof Error ? le.message : String(le)),
    );
    throw new ModelError(`${e.message}${local ? ` (and locally: ${local.replace(/^model "[^"]*" /, '')})` : ''}`, { ...e.details, model: ref });
  }
  return kind === 'adapter' ? adapterFiles(found, found.hub ? `${found.hub.repo} on the Hub` : ref, false) : found;
}

/** An adapter folder's two PEFT files (its own checks — config keys, tensors, shapes — run when opened, formats/lora.ts). */
function adapterFiles(folder: ResolvedFolder, where: string, hasBin: boolean): ResolvedFolder {
  const names = folder.files.map((f) => f.path);
  if (!names.includes(ADAPTER_CONFIG) || !names.includes(ADAPTER_WEIGHTS)) {
    hasBin ||= names.includes('adapter_model.bin');
    throw new ModelError(
      `adapter "${folder.ref}" (${where}) is not a PEFT adapter folder: it needs ${ADAPTER_CONFIG} and ${ADAPTER_WEIGHTS}${!names.includes(ADAPTER_CONFIG) && names.includes('config.json') ? ' (it holds config.json: a full model, not an adapter)' : ''}${hasBin ? '; adapter_model.bin (PyTorch pickle) cannot be read — re-save it with safe_serialization=True' : ''}`,
      { model: folder.ref, file: folder.dir ?? where },
    );
  }
  return { ...folder, files: folder.files.filter((f) => f.path === ADAPTER_CONFIG || f.path === ADAPTER_WEIGHTS) };
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
  if (!isAbsolute(ref) && /^[\w.-]+\/[\w.-]+(@.*)?$/.test(ref) && !parseHubRef(ref))
    hints.push('it is not a Hub reference either (org/name or org/name@revision)');
  throw new ModelError(
    `model "${ref}" not found: no folder at ${tried.join(' or ')}${hints.length ? ` (${hints.join('; ')})` : ''}. Use --models-dir to say where models live.`,
    { model: ref, file: full },
  );
}

/**
 * Resolves a recipe reference to its folder(s). "model+adapter" resolves both sides with the same
 * resolver as any model (so an adapter ref resolves wherever a model ref would): the model must
 * hold safetensors weights, the adapter adapter_config.json + adapter_model.safetensors.
 */
export async function resolveModel(ref: string, modelsDir: string): Promise<ResolvedModel> {
  const plus = ref.indexOf('+');
  if (plus < 0) return resolveFolder(ref, modelsDir, 'model');
  const model = await resolveFolder(ref.slice(0, plus), modelsDir, 'model');
  const adapter = await resolveFolder(ref.slice(plus + 1), modelsDir, 'adapter');
  return { ...model, ref, adapter };
}

async function resolveFolder(ref: string, modelsDir: string, kind: 'model' | 'adapter'): Promise<ResolvedFolder> {
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
  if (kind === 'adapter') return adapterFiles({ ref, dir, files }, dir, (await readdir(dir)).includes('adapter_model.bin'));
  if (!files.some((f) => f.path.endsWith('.safetensors'))) {
    const hasBin = (await readdir(dir)).some((n) => /\.(bin|pt|pth)$/.test(n));
    throw new ModelError(
      `model "${ref}" (${dir}) has no .safetensors files${hasBin ? '; it holds PyTorch .bin weights, which this engine cannot read — convert them to safetensors first' : ''}`,
      { model: ref, file: dir },
    );
  }
  return { ref, dir, files };
}

/** Opens a resolved reference's headers in Node (the adapter, if any, checked and applied). */
export async function openResolved(m: ResolvedModel): Promise<ModelInfo> {
  return openAdapted(m.ref, modelName(m), await openResolvedFiles(m), m.adapter && (await openResolvedFiles(m.adapter)));
}

/** The path under which the CLI server serves a resolved reference's adapter files (`<i>/+adapter/<path>`). */
export const ADAPTER_URL_DIR = '+adapter';

/** The ModelSpec the engine gets for resolved reference i, its files served at `${modelsUrl}/i/…`. */
export function modelSpecOf(m: ResolvedModel, i: number, modelsUrl: string): ModelSpec {
  const url = (p: string) => `${modelsUrl}/${i}/${encodeURIComponent(p)}`;
  return {
    ref: m.ref,
    files: m.files.map((f) => ({ path: f.path, size: f.size, url: url(f.path) })),
    ...(m.adapter ? { adapter: { ref: m.adapter.ref, files: m.adapter.files.map((f) => ({ path: f.path, size: f.size, url: `${modelsUrl}/${i}/${ADAPTER_URL_DIR}/${encodeURIComponent(f.path)}` })) } } : {}),
  };
}

// Model references → local folders, for the headless CLI (Node only).
// A reference is used as the recipe writes it ("org/name", "org/name@rev", "./x", "/abs/x");
// only local folders are supported (no Hub downloads: the CLI runs offline). "model+adapter" resolves
// both sides the same way (the adapter folder holds a PEFT LoRA adapter).
import { readdir, stat } from 'node:fs/promises';
import { homedir } from 'node:os';
import { basename, isAbsolute, join, resolve } from 'node:path';
import { ModelError } from '../errors';
import { ADAPTER_CONFIG, ADAPTER_WEIGHTS, openAdapted } from '../formats/lora';
import type { ModelInfo } from '../formats/model-info';
import type { ByteSource, ModelSpec } from '../io/types';
import { NodeFileSource } from '../io/node-source';
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
  dir: string;
  files: { path: string; size: number; abs: string }[];
}

/** A recipe reference's folder; for "model+adapter", `dir`/`files` are the model's and `adapter` the adapter's. */
export interface ResolvedModel extends ResolvedFolder {
  adapter?: ResolvedFolder;
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
  if (!isAbsolute(ref) && /^[\w.-]+\/[\w.-]+(@.*)?$/.test(ref))
    hints.push(`the CLI works offline; download it first, e.g. \`huggingface-cli download ${ref.split('@')[0]} --local-dir ${base(ref.split('@')[0])}\``);
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
  if (kind === 'adapter') {
    // the adapter's own checks (config keys, tensors, shapes) run when it is opened (formats/lora.ts)
    const names = files.map((f) => f.path);
    if (!names.includes(ADAPTER_CONFIG) || !names.includes(ADAPTER_WEIGHTS)) {
      const hasBin = (await readdir(dir)).includes('adapter_model.bin');
      throw new ModelError(
        `adapter "${ref}" (${dir}) is not a PEFT adapter folder: it needs ${ADAPTER_CONFIG} and ${ADAPTER_WEIGHTS}${!names.includes(ADAPTER_CONFIG) && names.includes('config.json') ? ' (it holds config.json: a full model, not an adapter)' : ''}${hasBin ? '; adapter_model.bin (PyTorch pickle) cannot be read — re-save it with safe_serialization=True' : ''}`,
        { model: ref, file: dir },
      );
    }
    return { ref, dir, files: files.filter((f) => f.path === ADAPTER_CONFIG || f.path === ADAPTER_WEIGHTS) };
  }
  if (!files.some((f) => f.path.endsWith('.safetensors'))) {
    const hasBin = (await readdir(dir)).some((n) => /\.(bin|pt|pth)$/.test(n));
    throw new ModelError(
      `model "${ref}" (${dir}) has no .safetensors files${hasBin ? '; it holds PyTorch .bin weights, which this engine cannot read — convert them to safetensors first' : ''}`,
      { model: ref, file: dir },
    );
  }
  return { ref, dir, files };
}

/** Node sources of a resolved folder's files. */
async function sourcesOf(m: ResolvedFolder): Promise<Map<string, ByteSource>> {
  const files = new Map<string, ByteSource>();
  for (const f of m.files) files.set(f.path, await NodeFileSource.open(f.path, f.abs));
  return files;
}

/** Opens a resolved reference's headers in Node (the adapter, if any, checked and applied). */
export async function openResolved(m: ResolvedModel): Promise<ModelInfo> {
  return openAdapted(m.ref, basename(m.dir), await sourcesOf(m), m.adapter && (await sourcesOf(m.adapter)));
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

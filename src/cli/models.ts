// Model references → local folders, for the headless CLI (Node only).
// A reference is used as the recipe writes it ("org/name", "org/name@rev", "./x", "/abs/x");
// only local folders are supported (no Hub downloads: the CLI runs offline).
import { readdir, stat } from 'node:fs/promises';
import { homedir } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';
import { ModelError } from '../errors';
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
  dir: string;
  files: { path: string; size: number; abs: string }[];
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
  if (ref.includes('+')) hints.push('LoRA references ("model+lora") are not supported: merge the adapter into the model first');
  if (!isAbsolute(ref) && /^[\w.-]+\/[\w.-]+(@.*)?$/.test(ref))
    hints.push(`the CLI works offline; download it first, e.g. \`huggingface-cli download ${ref.split('@')[0]} --local-dir ${base(ref.split('@')[0])}\``);
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

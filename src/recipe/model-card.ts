// README.md of a merged model: Hugging Face front matter, the models, the method and the exact
// mergekit YAML that reproduces the merge. Pure: no DOM, no node: imports.

import { recipeToMergekitYaml } from './mergekit-yaml';
import { getMethod } from '../methods/specs';
import type { ModelInfo } from '../formats/model-info';
import type { Recipe } from './types';
import { encodeShare, SHARE_PARAM, type ModelIdentity } from './share-url';

/** Every model the recipe references, in order of first appearance (base first). */
export function recipeModels(recipe: Recipe): string[] {
  const out: string[] = [];
  const add = (m: string | undefined) => {
    if (m !== undefined && !out.includes(m)) out.push(m);
  };
  add(recipe.base_model);
  for (const m of recipe.models ?? []) add(m.model);
  for (const s of recipe.slices ?? []) {
    add(s.base_model);
    for (const src of s.sources) add(src.model);
  }
  return out;
}

/** A Hugging Face Hub id ("org/name", revision dropped), or undefined for local paths. */
function hubId(ref: string): string | undefined {
  const id = ref.split('@')[0];
  return /^[A-Za-z0-9][\w.-]*\/[\w.-]+$/.test(id) && !id.startsWith('.') ? id : undefined;
}

function methodLine(recipe: Recipe): string {
  try {
    const m = getMethod(recipe.merge_method);
    return m.reference ? `[${m.label}](${m.reference})` : m.label;
  } catch {
    return recipe.merge_method;
  }
}

/** What the card says besides the recipe: where the merge ran and how to reopen it. */
export interface ModelCardOptions {
  /** The engine that produced the weights (MergeBackend.description: "CPU engine: 2 worker threads, wasm SIMD"). */
  backend?: string;
  /** The studio's address; the card links to it with the recipe in a "#share=" fragment. */
  studioUrl?: string;
  /** Identities for the share link (the studio's shelf knows fingerprints); default: from `models`. */
  identities?: ModelIdentity[];
  /** The Hub the model links point to (HF_ENDPOINT); default the public Hub. */
  hubUrl?: string;
  /** The output's config.json: `library_name: transformers` only when it is a transformers config. */
  config?: Record<string, unknown>;
}

export const PUBLIC_HUB_URL = 'https://huggingface.co';
/** Where `npm start` serves the studio; the CLI's default for the card's share link (`--studio-url`). */
export const DEFAULT_STUDIO_URL = 'http://localhost:5173/';
/** The tags every merged model's card carries (`merge` is what the Hub's model tree reads). */
export const CARD_TAGS = ['merge', 'mergekit', 'merge-studio'] as const;

/** A share-link identity from an opened model's headers alone: no fingerprint (empty = unknown); the CLI and the studio pass real ones (formats/fingerprint.ts). */
export function identityFromInfo(ref: string, info: ModelInfo | undefined): ModelIdentity {
  if (!info) return { ref, name: ref, tensors: 0, bytes: 0, hash: '' };
  const shards = new Set([...info.tensors.values()].map((t) => t.source));
  return { ref, name: info.name, tensors: info.tensors.size, bytes: [...shards].reduce((a, s) => a + s.size, 0), hash: '' };
}

/** The studio link that reopens `recipe` ("<studio>#share=<code>"). */
export function shareLink(studioUrl: string, recipe: Recipe, identities: ModelIdentity[]): string {
  return `${studioUrl.split('#')[0]}#${SHARE_PARAM}=${encodeShare(recipe, identities)}`;
}

/**
 * The output folder's README.md, and the one a Hub publish pushes (the same bytes: the publisher
 * uploads the folder as written). Front matter: `base_model` lists every input that is a Hub id
 * (local paths cannot be linked, and the Hub rejects ids it cannot parse), `base_model_relation:
 * merge` so the Hub's model tree shows the model as a merge of them, and the tags. Never a token:
 * nothing here takes one.
 */
export function modelCard(recipe: Recipe, models?: Map<string, ModelInfo>, opts: ModelCardOptions = {}): string {
  const refs = recipeModels(recipe);
  const hub = [...new Set(refs.map(hubId).filter((x): x is string => x !== undefined))];
  const hubUrl = (opts.hubUrl ?? PUBLIC_HUB_URL).replace(/\/+$/, '');
  const cfg = opts.config;
  const transformers = cfg === undefined || typeof cfg.model_type === 'string' || Array.isArray(cfg.architectures);
  const lines: string[] = ['---'];
  if (hub.length) {
    lines.push('base_model:');
    for (const h of hub) lines.push(`- ${h}`);
    lines.push('base_model_relation: merge');
  }
  if (transformers) lines.push('library_name: transformers');
  lines.push('tags:', ...CARD_TAGS.map((t) => `- ${t}`), '---', '', '# Merged model', '');
  lines.push(`This model is a merge of ${refs.length} model${refs.length === 1 ? '' : 's'} made with ${methodLine(recipe)} (\`merge_method: ${recipe.merge_method}\`) in Merge Studio, a WebGPU merge studio that follows [mergekit](https://github.com/arcee-ai/mergekit)'s semantics.`, '');
  lines.push('## Models', '');
  const bases = new Set([recipe.base_model, ...(recipe.slices ?? []).map((s) => s.base_model)].filter((x) => x !== undefined));
  for (const ref of refs) {
    const name = models?.get(ref)?.name;
    const id = hubId(ref);
    const shown = id ? `[${ref}](${hubUrl}/${id})` : `\`${ref}\``;
    const extra = [bases.has(ref) ? 'base model' : undefined, name && name !== ref && !ref.endsWith(name) ? name : undefined].filter(Boolean);
    lines.push(`- ${shown}${extra.length ? ` (${extra.join(', ')})` : ''}`);
  }
  lines.push('', '## Configuration', '', 'The following YAML reproduces this merge with mergekit (`mergekit-yaml config.yml ./output`); it is also in this folder as `mergekit_config.yml`:', '');
  lines.push('```yaml', recipeToMergekitYaml(recipe).trimEnd(), '```', '');
  if (opts.studioUrl) {
    const link = shareLink(opts.studioUrl, recipe, opts.identities ?? refs.map((r) => identityFromInfo(r, models?.get(r))));
    lines.push('## Open in Merge Studio', '', `[This recipe in Merge Studio](${link}): the link carries the recipe and the inputs' sizes, never weights or local paths.`, '');
  }
  if (opts.backend) lines.push('## How it was made', '', `The weights were computed by Merge Studio's engine: ${opts.backend}.`, '');
  return lines.join('\n');
}

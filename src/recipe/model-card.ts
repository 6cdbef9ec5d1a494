// README.md of a merged model: Hugging Face front matter, the models, the method and the exact
// mergekit YAML that reproduces the merge. Pure: no DOM, no node: imports.

import { recipeToMergekitYaml } from './mergekit-yaml';
import { getMethod } from '../methods/specs';
import type { ModelInfo } from '../formats/model-info';
import type { Recipe } from './types';

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

/** The output folder's README.md. */
export function modelCard(recipe: Recipe, models?: Map<string, ModelInfo>): string {
  const refs = recipeModels(recipe);
  const hub = refs.map(hubId).filter((x): x is string => x !== undefined);
  const lines: string[] = ['---'];
  if (hub.length) {
    lines.push('base_model:');
    for (const h of hub) lines.push(`- ${h}`);
  }
  lines.push('library_name: transformers', 'tags:', '- mergekit', '- merge', '---', '', '# Merged model', '');
  lines.push(`This model was merged with ${methodLine(recipe)} (\`merge_method: ${recipe.merge_method}\`) in a WebGPU merge studio that follows [mergekit](https://github.com/arcee-ai/mergekit)'s semantics.`, '');
  lines.push('## Models', '');
  const bases = new Set([recipe.base_model, ...(recipe.slices ?? []).map((s) => s.base_model)].filter((x) => x !== undefined));
  for (const ref of refs) {
    const name = models?.get(ref)?.name;
    const id = hubId(ref);
    const shown = id ? `[${ref}](https://huggingface.co/${id})` : `\`${ref}\``;
    const extra = [bases.has(ref) ? 'base model' : undefined, name && name !== ref && !ref.endsWith(name) ? name : undefined].filter(Boolean);
    lines.push(`- ${shown}${extra.length ? ` (${extra.join(', ')})` : ''}`);
  }
  lines.push('', '## Configuration', '', 'The following YAML reproduces this merge with mergekit (`mergekit-yaml config.yml ./output`):', '');
  lines.push('```yaml', recipeToMergekitYaml(recipe).trimEnd(), '```', '');
  return lines.join('\n');
}

// The pure half of the CABS export (merge/cabs-export.ts): whether positions can overlap, and the
// mergekit recipe over the exported folders. No GPU imports: usable from Node (CLI, unit tests).
import type { PlanEntry } from '../recipe/plan-types';
import type { Params, Recipe } from '../recipe/types';
import { cabsModel, topkQuota } from '../methods/cabs/spec';

/** Whether no tensor of the plan can keep a position in two task vectors. */
export function cabsOverlapFree(entries: PlanEntry[]): boolean {
  for (const e of entries) {
    if (e.method !== 'cabs') continue;
    const m = typeof e.params.block_size === 'number' ? e.params.block_size : 0;
    const n = e.shape.reduce((a, b) => a * b, 1);
    const ms = e.inputs.map((inp, i) => ({ inp, i })).filter((x) => !x.inp.isBase).map((x) => cabsModel(x.i, x.inp.params, m));
    const total = m > 0 ? ms.reduce((a, md) => a + md.n, 0) : ms.reduce((a, md) => a + topkQuota(md.density, n), 0);
    if (total > (m > 0 ? m : n)) return false;
  }
  return true;
}

function pick(p: Params | undefined, keys: string[]): Params | undefined {
  if (!p) return undefined;
  const out: Params = {};
  for (const k of keys) if (Object.prototype.hasOwnProperty.call(p, k)) out[k] = p[k];
  return Object.keys(out).length ? out : undefined;
}

/** The mergekit recipe over the exported folders. */
export function cabsExportRecipe(recipe: Recipe, folders: Record<string, string>, method: 'task_arithmetic' | 'ties'): Recipe {
  const parameters: Params = { ...(pick(recipe.parameters, ['weight', 'lambda']) ?? {}), normalize: false };
  const out: Recipe = {
    merge_method: method,
    base_model: recipe.base_model,
    models: recipe.models!.filter((m) => m.model !== recipe.base_model).map((m) => {
      const p = pick(m.parameters, ['weight']);
      return p ? { model: `./${folders[m.model]}`, parameters: p } : { model: `./${folders[m.model]}` };
    }),
    parameters,
  };
  for (const k of ['dtype', 'out_dtype', 'tokenizer_source', 'tokenizer', 'chat_template'] as const) if (recipe[k] !== undefined) (out as unknown as Record<string, unknown>)[k] = recipe[k];
  return out;
}

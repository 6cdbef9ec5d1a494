// The output's tokenizer files. With a tokenizer setting they are written from the merged
// vocabulary (Plan.vocab): tokenizer.json with the merged added tokens, tokenizer_config.json with
// its added_tokens_decoder and the chat template, special_tokens_map.json — as transformers'
// save_pretrained lays them out. Without one, the tokenizer model's files are copied
// (tokenizer_config.json / chat_template.jinja rewritten when the recipe sets a chat template).
// Used by the merge (merge/run.ts) and by evaluation, which tokenizes with what a merge would write.
import type { ModelInfo } from '../formats/model-info';
import type { ByteSource } from '../io/types';
import type { Plan } from '../recipe/plan-types';
import type { Recipe } from '../recipe/types';
import { resolveChatTemplate, templateOf } from '../recipe/chat-templates';
import { specialTokensMapText, tokenizerConfigText, tokenizerJsonText } from '../formats/tokenizer';
import { ModelError } from '../errors';

const TOKENIZER_FILES = ['tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json', 'tokenizer.model', 'vocab.json', 'merges.txt', 'added_tokens.json', 'chat_template.jinja'];

export interface TokenizerFile {
  name: string;
  bytes: Uint8Array;
}

/** Each model's chat template (tokenizer_config.json's, or its chat_template.jinja), in recipe order. */
async function modelTemplates(recipe: Recipe, models: Map<string, ModelInfo>): Promise<(string | undefined)[]> {
  const refs = [
    ...new Set([
      ...(recipe.base_model !== undefined ? [recipe.base_model] : []),
      ...(recipe.models ?? []).map((m) => m.model),
      ...(recipe.slices ?? []).flatMap((s) => s.sources.map((x) => x.model)),
    ]),
  ];
  const out: (string | undefined)[] = [];
  for (const ref of refs) {
    const info = models.get(ref);
    const cfg = info?.files.get('tokenizer_config.json');
    const jinja = info?.files.get('chat_template.jinja');
    let parsed: Record<string, unknown> | undefined;
    try {
      parsed = cfg ? (JSON.parse(await cfg.text()) as Record<string, unknown>) : undefined;
    } catch {
      parsed = undefined; // mergekit: "Unable to load tokenizer" — the model votes for nothing
    }
    out.push(templateOf(parsed, jinja ? await jinja.text() : undefined));
  }
  return out;
}

async function jsonFile(model: ModelInfo | undefined, name: string): Promise<Record<string, unknown> | undefined> {
  const src = model?.files.get(name);
  if (!src) return undefined;
  try {
    return JSON.parse(await src.text()) as Record<string, unknown>;
  } catch (e) {
    throw new ModelError(`${model!.name}/${name} is not valid JSON (${e instanceof Error ? e.message : String(e)})`, { file: `${model!.name}/${name}` });
  }
}

/**
 * The input files tokenizerFiles() will read (each whole), without reading them: a Hub merge
 * fetches them ahead (they are read last, when the output is finished).
 */
export function tokenizerFileSources(plan: Plan, recipe: Recipe, models: Map<string, ModelInfo>): ByteSource[] {
  const out = new Set<ByteSource>();
  const add = (m: ModelInfo | undefined, names: string[]) => {
    for (const n of names) {
      const src = m?.files.get(n);
      if (src) out.add(src);
    }
  };
  if (recipe.chat_template === 'auto')
    for (const ref of new Set([...(recipe.base_model !== undefined ? [recipe.base_model] : []), ...(recipe.models ?? []).map((m) => m.model), ...(recipe.slices ?? []).flatMap((s) => s.sources.map((x) => x.model))]))
      add(models.get(ref), ['tokenizer_config.json', 'chat_template.jinja']);
  // a recipe's own chat template replaces the model's chat_template.jinja, which is then not read
  const names = (list: string[]) => (recipe.chat_template === undefined || recipe.chat_template === 'auto' ? list : list.filter((n) => n !== 'chat_template.jinja'));
  if (plan.vocab) add(models.get(plan.vocab.sourceModel), names(['tokenizer_config.json', 'chat_template.jinja', 'special_tokens_map.json']));
  else if (plan.tokenizerFrom) add(models.get(plan.tokenizerFrom), names(TOKENIZER_FILES));
  return [...out];
}

/** The tokenizer files of a merge's output folder (none when no model supplies a tokenizer). */
export async function tokenizerFiles(plan: Plan, recipe: Recipe, models: Map<string, ModelInfo>, signal?: AbortSignal): Promise<TokenizerFile[]> {
  const enc = (t: string) => new TextEncoder().encode(t);
  const chat = resolveChatTemplate(recipe.chat_template, recipe.chat_template === 'auto' ? await modelTemplates(recipe, models) : []);
  if (plan.vocab) {
    const src = models.get(plan.vocab.sourceModel);
    const cfg = await jsonFile(src, 'tokenizer_config.json');
    const ownJinja = src?.files.get('chat_template.jinja');
    return [
      { name: 'tokenizer.json', bytes: enc(tokenizerJsonText(plan.vocab.template, plan.vocab.added)) },
      { name: 'tokenizer_config.json', bytes: enc(tokenizerConfigText(cfg, plan.vocab.added, chat ?? (ownJinja ? await ownJinja.text() : undefined))) },
      { name: 'special_tokens_map.json', bytes: enc(specialTokensMapText(await jsonFile(src, 'special_tokens_map.json'), cfg)) },
    ];
  }
  const model = plan.tokenizerFrom ? models.get(plan.tokenizerFrom) : undefined;
  if (!model) return [];
  const out: TokenizerFile[] = [];
  for (const name of TOKENIZER_FILES) {
    const src = model.files.get(name);
    if (!src) continue;
    let bytes: Uint8Array;
    if (name === 'tokenizer_config.json' && chat !== undefined) {
      const cfg = JSON.parse(await src.text()) as Record<string, unknown>;
      cfg.chat_template = chat;
      bytes = enc(JSON.stringify(cfg, null, 2) + '\n');
    } else if (name === 'chat_template.jinja' && chat !== undefined) {
      bytes = enc(chat); // transformers prefers this file over tokenizer_config.json's template
    } else {
      bytes = await src.read(0, src.size, signal);
    }
    out.push({ name, bytes });
  }
  return out;
}

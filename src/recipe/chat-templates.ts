// Chat templates for the recipe's `chat_template:` key, as mergekit's merge.py _set_chat_template
// resolves it: "auto" = the template most of the input models have (first seen wins a tie), a
// bundled name (chatml, llama3, alpaca, mistral, exaone), or the Jinja text itself (at least 20
// characters with a "{"). The bundled templates are written here; they render what mergekit's
// mergekit/_data/chat_templates files render under transformers' Jinja settings (trim_blocks,
// lstrip_blocks), checked on sample conversations — except exaone, whose file renders with stray
// indentation there: this one writes the EXAONE turns without it.
import { RecipeError } from '../errors';

export const CHAT_TEMPLATES: Readonly<Record<string, string>> = {
  chatml:
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}{% endfor %}" +
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}",
  llama3:
    "{% for message in messages %}{% if loop.first %}{{ bos_token }}{% endif %}" +
    "{{ '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n' + (message['content'] | trim) + '<|eot_id|>\\n' }}{% endfor %}" +
    "{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{% endif %}",
  alpaca:
    "{% set system = messages | selectattr('role', 'equalto', 'system') | list %}" +
    "{{ (system | last).content | trim if system else '' }}{{ '\\n\\n' }}" +
    "{% set heads = {'user': '### Instruction:', 'assistant': '### Response:', 'user_context': '### Input:'} %}" +
    "{% for message in messages %}{% if message['role'] in heads %}" +
    "{{ heads[message['role']] + '\\n' + (message['content'] | trim) }}{% if not loop.last %}{{ '\\n\\n' }}{% endif %}" +
    '{% endif %}{% endfor %}' +
    "{% if add_generation_prompt and messages[-1]['role'] != 'assistant' %}{{ '### Response:\\n' }}{% endif %}",
  mistral:
    "{% if messages[0]['role'] == 'system' %}{% set system_message = messages[0]['content'] %}{% set turns = messages[1:] %}{% else %}{% set turns = messages %}{% endif %}" +
    '{{ bos_token }}{% for message in turns %}' +
    "{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}{{ raise_exception('After the optional system message, conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}" +
    "{% if message['role'] == 'user' %}{{ ' [INST] ' + (system_message + '\\n\\n' if loop.first and system_message is defined else '') + message['content'] + ' [/INST]' }}" +
    "{% elif message['role'] == 'assistant' %}{{ ' ' + message['content'] + eos_token }}" +
    "{% else %}{{ raise_exception('Only user and assistant roles are supported, with the exception of an initial optional system message!') }}{% endif %}" +
    '{% endfor %}',
  exaone:
    "{% for message in messages %}{% if loop.first and message['role'] != 'system' %}{{ '[|system|][|endofturn|]\\n' }}{% endif %}" +
    "{{ '[|' + message['role'] + '|]' + message['content'] }}{% if message['role'] == 'user' %}{{ '\\n' }}{% else %}{{ '[|endofturn|]\\n' }}{% endif %}" +
    "{% endfor %}{% if add_generation_prompt %}{{ '[|assistant|]' }}{% endif %}",
};

/** A model's chat template as transformers reads it (a list of named templates → "default"). */
export function templateOf(tokenizerConfig: Record<string, unknown> | undefined, jinjaFile?: string): string | undefined {
  if (jinjaFile !== undefined) return jinjaFile;
  const t = tokenizerConfig?.chat_template;
  if (typeof t === 'string') return t;
  if (Array.isArray(t)) {
    const d = t.find((x) => x && typeof x === 'object' && (x as { name?: unknown }).name === 'default') as { template?: unknown } | undefined;
    return typeof d?.template === 'string' ? d.template : undefined;
  }
  return undefined;
}

/** Checks the recipe's chat_template before anything is merged (mergekit fails on it only after the merge). */
export function checkChatTemplate(setting: string | undefined): void {
  if (setting === undefined || setting === 'auto' || Object.prototype.hasOwnProperty.call(CHAT_TEMPLATES, setting)) return;
  if (setting.length < 20 || !setting.includes('{'))
    throw new RecipeError(
      `chat_template "${setting}" is neither "auto", a bundled template (${Object.keys(CHAT_TEMPLATES).join(', ')}) nor Jinja template text (at least 20 characters with a "{")`,
      { key: 'chat_template' },
    );
}

/**
 * The output's chat template: undefined = leave the tokenizer's own. `modelTemplates`: each input
 * model's template (undefined where it has none), in the recipe's model order.
 */
export function resolveChatTemplate(setting: string | undefined, modelTemplates: readonly (string | undefined)[]): string | undefined {
  if (setting === undefined) return undefined;
  checkChatTemplate(setting);
  if (setting === 'auto') {
    const counts = new Map<string, number>();
    for (const t of modelTemplates) if (t) counts.set(t.trim(), (counts.get(t.trim()) ?? 0) + 1);
    let best: string | undefined;
    let n = 0;
    for (const [t, c] of counts)
      if (c > n) {
        best = t;
        n = c;
      }
    return best;
  }
  return Object.prototype.hasOwnProperty.call(CHAT_TEMPLATES, setting) ? CHAT_TEMPLATES[setting] : setting;
}

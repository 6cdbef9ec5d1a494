// Tokenizer merges end to end on the CPU engine: generated models whose tokenizers overlap partly
// (tests/fixtures/vocab-models.ts), merged with tokenizer_source union / a tokenizer: block; the
// written embedding and lm_head rows are checked token by token against mergekit's rules
// (tests/fixtures/vocab-expect.ts), and the written tokenizer loads and round-trips text.
import { describe, expect, test } from 'vitest';
import { Tokenizer } from '@huggingface/tokenizers';
import { loadModels, runMerge } from '../../src/merge/run';
import { planTarget } from '../../src/eval/target-plan';
import { loadTokenizer } from '../../src/eval/tokenizer';
import { readTokenizerTexts } from '../../src/recipe/plan';
import { CpuBackend } from '../../src/backends/cpu/backend';
import type { Recipe } from '../../src/recipe/types';
import { BASE_TOKENS, CHAT_ADDED, vocabFamily } from '../fixtures/vocab-models';
import { linearOf, permuted, readTensors, type Fill } from '../fixtures/vocab-expect';
import { ModelError, RecipeError } from '../../src/errors';

const H = 8;
const text = (b: Uint8Array) => new TextDecoder().decode(b);

function close(got: Float32Array, want: Float32Array, what: string) {
  expect(got.length, what).toBe(want.length);
  let worst = 0;
  for (let i = 0; i < got.length; i++) worst = Math.max(worst, Math.abs(got[i] - want[i]));
  expect(worst, what).toBeLessThan(1e-6);
}

describe('tokenizer merges on the CPU engine', () => {
  test('union: rows permuted and filled (tied lm_head in one model), tokenizer files, chat_template auto', async () => {
    const f = vocabFamily({ hidden: H, otherTied: true });
    const recipe: Recipe = {
      merge_method: 'linear',
      base_model: 'base',
      models: [{ model: 'base', parameters: { weight: 1 } }, { model: 'chat', parameters: { weight: 2 } }, { model: 'other', parameters: { weight: 3 } }],
      tokenizer_source: 'union',
      chat_template: 'auto',
    };
    const r = await runMerge({ recipe, models: [f.base.spec, f.chat.spec, f.other.spec], output: { kind: 'memory' } }, new CpuBackend({ threads: 0 }));
    const files = r.memoryFiles!;
    // union: base's 15 tokens, other's own words fox and owl as added tokens, then chat's added tokens
    const tokens = [...BASE_TOKENS, 'fox', 'owl', ...CHAT_ADDED];
    const fill = (t: string): Fill => (t === 'fox' || t === 'owl' ? { from: 'other', token: t } : { from: 'chat', token: t });
    const tensors = await readTensors(files['model.safetensors']);
    const models = { base: f.base, chat: f.chat, other: f.other };
    for (const name of ['model.embed_tokens.weight', 'lm_head.weight']) {
      const got = tensors.get(name)!;
      expect(got.shape).toEqual([tokens.length, H]);
      close(got.values, linearOf(permuted(models, name, tokens, tokens.length, H, fill), { base: 1, chat: 2, other: 3 }), name);
    }
    expect(JSON.parse(text(files['config.json'])).vocab_size).toBe(19);
    const tj = JSON.parse(text(files['tokenizer.json']));
    const tc = JSON.parse(text(files['tokenizer_config.json']));
    expect(tc.chat_template).toBe('{{ "chatml" }}{% for m in messages %}{% endfor %}'); // chat and other agree
    expect(Object.keys(tc.added_tokens_decoder)).toEqual(['0', '1', '2', '15', '16', '17', '18']);
    expect(JSON.parse(text(files['special_tokens_map.json']))).toEqual({ bos_token: '<s>', eos_token: '</s>', unk_token: '<unk>' });
    const tk = new Tokenizer(tj, tc);
    const ids = tk.encode('<|im_start|> the fox sat on a owl <|im_end|>', { add_special_tokens: false }).ids;
    expect(ids).toEqual([17, 3, 15, 5, 6, 7, 16, 18]);
    expect(tk.decode(ids, { skip_special_tokens: false })).toBe('<|im_start|> the fox sat on a owl <|im_end|>');
  });

  test('tokenizer: base source, tokens rules (model_token, forced model, zero), pad_to_multiple_of', async () => {
    const f = vocabFamily({ hidden: H });
    const recipe: Recipe = {
      merge_method: 'linear',
      models: [{ model: 'base', parameters: { weight: 1 } }, { model: 'chat', parameters: { weight: 1 } }, { model: 'other', parameters: { weight: 2 } }],
      tokenizer: {
        source: 'base',
        pad_to_multiple_of: 6,
        tokens: {
          '<|assistant|>': { source: { kind: 'model_token', model: 'chat', token: '<|im_start|>' } },
          the: { source: 'other', force: true },
          '<|nothing|>': { source: { kind: 'zero' } },
        },
      },
    };
    const r = await runMerge({ recipe, models: [f.base.spec, f.chat.spec, f.other.spec], output: { kind: 'memory' } }, new CpuBackend({ threads: 0 }));
    const tokens = [...BASE_TOKENS, '<|assistant|>', '<|nothing|>'];
    const fill = (t: string): Fill => (t === '<|assistant|>' ? { from: 'chat', token: '<|im_start|>' } : t === 'the' ? { from: 'other', token: 'the' } : 'zero');
    const tensors = await readTensors(r.memoryFiles!['model.safetensors']);
    for (const name of ['model.embed_tokens.weight', 'lm_head.weight']) {
      const got = tensors.get(name)!;
      expect(got.shape).toEqual([18, H]); // 17 tokens padded to a multiple of 6
      close(got.values, linearOf(permuted({ base: f.base, chat: f.chat, other: f.other }, name, tokens, 18, H, fill, ['the']), { base: 1, chat: 1, other: 2 }), name);
    }
    expect(JSON.parse(text(r.memoryFiles!['config.json'])).vocab_size).toBe(18);
  });

  test('all embeddings tied: no lm_head is written; a model without tokenizer files is assumed to have the base vocabulary', async () => {
    const f = vocabFamily({ hidden: H, allTied: true });
    const bare = { ...f.chat.spec, ref: 'bare', files: f.chat.spec.files.filter((x) => !x.path.startsWith('tokenizer') && x.path !== 'special_tokens_map.json') };
    const recipe: Recipe = {
      merge_method: 'linear',
      models: [{ model: 'base', parameters: { weight: 1 } }, { model: 'bare', parameters: { weight: 1 } }, { model: 'other', parameters: { weight: 1 } }],
      tokenizer_source: 'union',
    };
    const r = await runMerge({ recipe, models: [f.base.spec, bare, f.other.spec], output: { kind: 'memory' } }, new CpuBackend({ threads: 0 }));
    const tensors = await readTensors(r.memoryFiles!['model.safetensors']);
    expect(tensors.has('lm_head.weight')).toBe(false);
    expect(r.warnings).toContain('tokenizer_source: model bare has no tokenizer files; assumed to have the same vocabulary as base (as mergekit does)');
    // bare holds base's 15 tokens at base's ids (its chat rows are beyond the vocabulary); fox and owl come from other
    const tokens = [...BASE_TOKENS, 'fox', 'owl'];
    const bareAsBase = { ...f.chat, vocab: f.base.vocab };
    const want = linearOf(permuted({ base: f.base, bare: bareAsBase, other: f.other }, 'model.embed_tokens.weight', tokens, tokens.length, H, (t) => ({ from: 'other', token: t })), { base: 1, bare: 1, other: 1 });
    close(tensors.get('model.embed_tokens.weight')!.values, want, 'embed_tokens');
  });

  test('evaluating a tokenizer merge tokenizes with the tokenizer the merge writes', async () => {
    const f = vocabFamily({ hidden: H });
    const models = await loadModels([f.base.spec, f.chat.spec, f.other.spec]);
    const recipe: Recipe = { merge_method: 'linear', models: [{ model: 'base', parameters: { weight: 1 } }, { model: 'chat', parameters: { weight: 1 } }], tokenizer_source: 'union' };
    const t = await planTarget({ kind: 'recipe', recipe }, models, () => readTokenizerTexts(models));
    const tj = JSON.parse(await t.tokenizerModel.files.get('tokenizer.json')!.text());
    expect(tj.added_tokens.map((a: { id: number; content: string }) => [a.id, a.content]).slice(-2)).toEqual([
      [15, '<|im_start|>'],
      [16, '<|im_end|>'],
    ]);
    expect(t.config.vocab_size).toBe(17);
    expect(t.tokenizerModel.config.vocab_size).toBe(17); // what the evaluator checks token ids against
    expect(t.tokenizerModel.ref).toMatch(/^base#vocab-[0-9a-f]+$/); // not the base's own (tokenizers are cached by reference)
    // the evaluator's tokenizer loads it, checked against the merged vocab_size
    const m = t.tokenizerModel;
    const tok = loadTokenizer({
      tokenizerJson: await m.files.get('tokenizer.json')!.text(),
      tokenizerConfig: await m.files.get('tokenizer_config.json')!.text(),
      file: `${m.name}/tokenizer.json`,
      vocabSize: m.config.vocab_size as number,
    });
    expect(tok.encode('<|im_start|> the cat <|im_end|>', { addSpecialTokens: false })).toEqual([15, 3, 4, 16]);
    // the base model itself is untouched
    expect(await models.get('base')!.files.get('tokenizer.json')!.text()).not.toContain('im_start');
  });

  test('bad input is named before any tensor is read', async () => {
    const f = vocabFamily({ hidden: H });
    const unigram = { ...f.other.spec, ref: 'uni', files: f.other.spec.files.map((x) => (x.path === 'tokenizer.json' ? { ...x, blob: new Blob([JSON.stringify({ model: { type: 'Unigram', vocab: [['<unk>', 0], ['▁the', -1]] }, added_tokens: [] })]) } : x)) };
    unigram.files = unigram.files.map((x) => ({ ...x, size: x.blob!.size }));
    const base: Recipe = { merge_method: 'linear', models: [{ model: 'base', parameters: { weight: 1 } }, { model: 'uni', parameters: { weight: 1 } }], tokenizer_source: 'union' };
    const cpu = new CpuBackend({ threads: 0 });
    let read = 0;
    const counting = { kind: 'cpu' as const, description: 'x', mergeTensors: async () => void read++, entryMasks: async () => void read++, decodedInput: async () => (read++, new Float32Array(0)) };
    await expect(runMerge({ recipe: base, models: [f.base.spec, unigram], output: { kind: 'memory' } }, counting)).rejects.toThrow(ModelError);
    await expect(runMerge({ recipe: base, models: [f.base.spec, unigram], output: { kind: 'memory' } }, cpu)).rejects.toThrow(/uni\/tokenizer\.json is a Unigram tokenizer but base\/tokenizer\.json is WordLevel/);
    const rule: Recipe = { ...base, models: [{ model: 'base', parameters: { weight: 1 } }, { model: 'chat', parameters: { weight: 1 } }], tokenizer: { tokens: { x: { source: { kind: 'model_token', model: 'ghost', token: 'x' } } } } };
    await expect(runMerge({ recipe: rule, models: [f.base.spec, f.chat.spec], output: { kind: 'memory' } }, counting)).rejects.toThrow(RecipeError);
    const far: Recipe = { ...rule, tokenizer: { tokens: { x: { source: { kind: 'model_token', model: 'chat', token_id: 99 } } } } };
    await expect(runMerge({ recipe: far, models: [f.base.spec, f.chat.spec], output: { kind: 'memory' } }, counting)).rejects.toThrow(
      /model\.embed_tokens\.weight: the fill of token "x" is row 99 of model chat, outside its 18 rows/,
    );
    expect(read).toBe(0);
  });
});

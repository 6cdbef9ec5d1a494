// The headless merge command on models whose tokenizers differ (tests/fixtures/vocab-models.ts):
// a union merge with a tokens rule, padding and a bundled chat template on the CPU engine and on
// WebGPU writes the same bytes, and the folder's tokenizer loads and round-trips text; a tokenizer
// that cannot be built fails before any output exists, naming the file.
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Tokenizer } from '@huggingface/tokenizers';
import { vocabFamily } from '../tests/fixtures/vocab-models';
import { CHAT_TEMPLATES } from '../src/recipe/chat-templates';
import { leftovers, runCli } from './support';

let tmp: string;

beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'vocab-cli-'));
  const f = vocabFamily({ dtype: 'BF16', hidden: 64, otherTied: true });
  for (const m of [f.base, f.chat, f.other]) {
    await mkdir(join(tmp, m.spec.ref), { recursive: true });
    for (const file of m.spec.files) await writeFile(join(tmp, m.spec.ref, file.path), new Uint8Array(await file.blob!.arrayBuffer()));
  }
  // the other model's tokenizer as a Unigram one: no vocabulary maps between it and the base
  await mkdir(join(tmp, 'uni'), { recursive: true });
  for (const file of f.other.spec.files) await writeFile(join(tmp, 'uni', file.path), new Uint8Array(await file.blob!.arrayBuffer()));
  await writeFile(join(tmp, 'uni', 'tokenizer.json'), JSON.stringify({ model: { type: 'Unigram', unk_id: 0, vocab: [['<unk>', 0], ['▁the', -1]] }, added_tokens: [] }));
}, 60_000);

afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

describe('merge CLI: tokenizer merges', () => {
  it('union + tokens + padding + chat_template: chatml — the same bytes on both engines; the tokenizer round-trips', async () => {
    const yml = join(tmp, 'union.yml');
    await writeFile(
      yml,
      [
        'merge_method: task_arithmetic',
        'base_model: base',
        'models:',
        '  - model: chat',
        '    parameters: {weight: 0.6}',
        '  - model: other',
        '    parameters: {weight: 0.4}',
        'tokenizer:',
        '  source: union',
        '  pad_to_multiple_of: 8',
        '  tokens:',
        '    "<|assistant|>": {source: {kind: model_token, model: chat, token: "<|im_start|>"}}',
        'chat_template: chatml',
        '',
      ].join('\n'),
    );
    const outs: string[] = [];
    for (const backend of ['cpu', 'webgpu']) {
      const out = join(tmp, `out-${backend}`);
      const r = await runCli([yml, '--out', out, '--backend', backend, '--chunk-elements', '4096']);
      expect(r.code, r.stderr).toBe(0);
      outs.push(out);
    }
    const [a, b] = await Promise.all(outs.map((o) => readFile(join(o, 'model.safetensors'))));
    expect(Buffer.compare(a, b)).toBe(0);
    const cfg = JSON.parse(await readFile(join(outs[0], 'config.json'), 'utf8'));
    expect(cfg.vocab_size).toBe(24); // 20 tokens padded to a multiple of 8
    const tj = JSON.parse(await readFile(join(outs[0], 'tokenizer.json'), 'utf8'));
    const tc = JSON.parse(await readFile(join(outs[0], 'tokenizer_config.json'), 'utf8'));
    expect(tc.chat_template).toBe(CHAT_TEMPLATES.chatml);
    const tk = new Tokenizer(tj, tc);
    const enc = tk.encode('<|im_start|> the owl <|assistant|> ran <|im_end|>', { add_special_tokens: false });
    expect(enc.ids).toEqual([17, 3, 16, 19, 10, 18]);
    expect(tk.decode(enc.ids, { skip_special_tokens: false })).toBe('<|im_start|> the owl <|assistant|> ran <|im_end|>');
  }, 240_000);

  it('a tokenizer that cannot be built fails before any output, naming the file', async () => {
    const yml = join(tmp, 'bad.yml');
    await writeFile(yml, 'merge_method: linear\nmodels:\n  - model: base\n    parameters: {weight: 1}\n  - model: uni\n    parameters: {weight: 1}\ntokenizer_source: union\n');
    const out = join(tmp, 'out-bad');
    const r = await runCli([yml, '--out', out, '--backend', 'cpu']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/uni\/tokenizer\.json is a Unigram tokenizer but base\/tokenizer\.json is WordLevel/);
    expect(await leftovers(out)).toEqual([]);
  }, 60_000);
});

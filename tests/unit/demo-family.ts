// A committed demo family (public/demo, public/demo-lang) read through the studio's own code: a
// model's config, F32 weights and tokenizer, an eval split, and greedy exact match scored with the
// CPU reference forward pass — shared by the two families' tests.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'vitest';
import { parseArch, type LlamaArch } from '../../src/eval/arch.ts';
import { parseEvalSet, type ExactItem } from '../../src/eval/evalset.ts';
import { referenceForward } from '../../src/eval/reference.ts';
import { loadTokenizer, type EvalTokenizer } from '../../src/eval/tokenizer.ts';
import { parseSafetensorsHeader } from '../../src/formats/safetensors.ts';

export interface DemoModel {
  arch: LlamaArch;
  weights: Map<string, Float32Array>;
  tok: EvalTokenizer;
}

/** The model folder `name` of the demo folder `demo`; every tensor must be F32. */
export async function loadDemoModel(demo: string, name: string): Promise<DemoModel> {
  const dir = join(demo, name);
  const configText = readFileSync(join(dir, 'config.json'), 'utf8');
  const arch = parseArch(configText, `${name}/config.json`);
  const config = JSON.parse(configText) as { vocab_size: number; eos_token_id: number; bos_token_id: number };
  const bytes = new Uint8Array(readFileSync(join(dir, 'model.safetensors')));
  const header = await parseSafetensorsHeader(`${name}/model.safetensors`, bytes.length, async (o, n) => bytes.subarray(o, o + n));
  const weights = new Map<string, Float32Array>();
  for (const t of header.tensors) {
    expect(t.dtype).toBe('F32');
    weights.set(t.name, new Float32Array(bytes.slice(header.dataStart + t.begin, header.dataStart + t.end).buffer));
  }
  const tok = loadTokenizer({
    tokenizerJson: readFileSync(join(dir, 'tokenizer.json'), 'utf8'),
    tokenizerConfig: readFileSync(join(dir, 'tokenizer_config.json'), 'utf8'),
    file: `${name}/tokenizer.json`,
    vocabSize: config.vocab_size,
    eosTokenId: config.eos_token_id,
    bosTokenId: config.bos_token_id,
  });
  return { arch, weights, tok };
}

/** evals/<task>.<split>.jsonl of the demo folder, which must be an exact-match set. */
export function loadDemoSplit(demo: string, task: string, split: string): ExactItem[] {
  const file = `${task}.${split}.jsonl`;
  const set = parseEvalSet(file, readFileSync(join(demo, 'evals', file), 'utf8'));
  expect(set.kind).toBe('exact');
  return set.items as ExactItem[];
}

/**
 * Greedy exact match, teacher-forced: greedy decoding yields answer + </s> exactly when the
 * argmax at each answer position (and after it) is the next token of answer + </s>.
 */
export function exactMatch(m: DemoModel, items: ExactItem[]): number {
  const V = m.arch.vocabSize;
  const eos = m.tok.eosIds[0];
  let correct = 0;
  for (const it of items) {
    const prompt = m.tok.encode(it.prompt, { addSpecialTokens: true });
    const target = [...m.tok.encode(it.answer, { addSpecialTokens: false }), eos];
    const ids = [...prompt, ...target.slice(0, -1)];
    const logits = referenceForward(m.arch, (n) => m.weights.get(n), [ids]);
    let ok = true;
    target.forEach((want, k) => {
      const row = logits.subarray((prompt.length - 1 + k) * V, (prompt.length + k) * V);
      let best = 0;
      for (let v = 1; v < V; v++) if (row[v] > row[best]) best = v;
      if (best !== want) ok = false;
    });
    if (ok) correct++;
  }
  return correct / items.length;
}

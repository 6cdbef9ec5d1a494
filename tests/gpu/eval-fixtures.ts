// Tiny Llama checkpoints as in-memory model folders (Blobs) for GPU tests of evaluation and
// evolution, plus the CPU twin behind the LanguageModel seam.
import { parseArch, type Hop, type LlamaArch } from '../../src/eval/arch';
import { buildGraph } from '../../src/eval/graph';
import { referenceForward, scoreLogits } from '../../src/eval/reference';
import type { LanguageModel, TokenScores } from '../../src/eval/lm';
import type { ModelSpec } from '../../src/io/types';
import { charTokenizerJson, charVocabSize, BASE_CONFIG } from '../unit/eval-helpers';
import { randn } from './support';

export const VOCAB = charVocabSize({ unk: true });

export function config(): Record<string, unknown> {
  return {
    architectures: ['LlamaForCausalLM'], model_type: 'llama', vocab_size: VOCAB, hidden_size: 32, intermediate_size: 48,
    num_hidden_layers: 2, num_attention_heads: 4, num_key_value_heads: 2, rms_norm_eps: 1e-5, rope_theta: 10000,
    max_position_embeddings: 64, tie_word_embeddings: false, hidden_act: 'silu', bos_token_id: 1, eos_token_id: 2, torch_dtype: 'float32',
  };
}

export function weightsFor(arch: LlamaArch, seed: number, base?: Map<string, Float32Array>, scale = 0.05): Map<string, Float32Array> {
  const out = new Map<string, Float32Array>();
  let s = seed;
  for (const w of buildGraph(arch).weightInputs) {
    const n = w.shape.reduce((a, b) => a * b, 1);
    let v: Float32Array;
    if (base) {
      const d = randn(n, s++, scale);
      v = base.get(w.name)!.map((x, i) => x + d[i]);
    } else if (w.name.endsWith('norm.weight')) v = randn(n, s++, 0.1).map((x) => 1 + x);
    else if (w.name === 'model.embed_tokens.weight') v = randn(n, s++, 1);
    else v = randn(n, s++, 1.5 / Math.sqrt(w.shape[1]));
    out.set(w.name, v);
  }
  return out;
}

export function modelFiles(ref: string, arch: LlamaArch, weights: Map<string, Float32Array>): ModelSpec {
  const shapes = new Map(buildGraph(arch).weightInputs.map((w) => [w.name, w.shape]));
  const header: Record<string, unknown> = {};
  let off = 0;
  for (const [name, v] of weights) {
    header[name] = { dtype: 'F32', shape: shapes.get(name), data_offsets: [off, off + v.byteLength] };
    off += v.byteLength;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (json.length % 8)) % 8);
  const len = new Uint8Array(8);
  new DataView(len.buffer).setUint32(0, json.length, true);
  const st = new Blob([len, new TextEncoder().encode(json), ...[...weights.values()].map((v) => new Uint8Array(v.buffer as ArrayBuffer, v.byteOffset, v.byteLength))]);
  const text = (s: string) => new Blob([s]);
  const files = [
    { path: 'config.json', blob: text(JSON.stringify(config())) },
    { path: 'model.safetensors', blob: st },
    { path: 'tokenizer.json', blob: text(JSON.stringify(charTokenizerJson({ unk: true }))) },
    { path: 'tokenizer_config.json', blob: text(JSON.stringify(BASE_CONFIG)) },
  ];
  return { ref, files: files.map((f) => ({ path: f.path, size: f.blob.size, blob: f.blob })) };
}

/** The CPU twin behind the LanguageModel seam (one sequence at a time, no padding tricks). */
export class ReferenceLm implements LanguageModel {
  readonly vocabSize: number;
  constructor(private arch: LlamaArch, private w: Map<string, Float32Array>, private hops?: Hop[]) {
    this.vocabSize = arch.vocabSize;
  }
  private logits(ids: number[]): Float32Array {
    return referenceForward(this.arch, (n) => this.w.get(n), [ids], { hops: this.hops });
  }
  async score(seqs: Int32Array[]): Promise<TokenScores[]> {
    return seqs.map((s) => {
      const ids = Array.from(s);
      const { targetLogprobs, argmax } = scoreLogits(this.logits(ids), this.vocabSize, [[...ids.slice(1), 0]]);
      return { logprobs: targetLogprobs.slice(0, ids.length - 1), argmax: Int32Array.from(argmax.slice(0, ids.length - 1)) };
    });
  }
  async generate(prompts: Int32Array[], maxNew: number, stop: number[]): Promise<Int32Array[]> {
    return prompts.map((p) => {
      const ids = Array.from(p);
      const out: number[] = [];
      for (let i = 0; i < maxNew; i++) {
        const lg = this.logits(ids);
        const last = lg.subarray((ids.length - 1) * this.vocabSize, ids.length * this.vocabSize);
        let best = 0;
        for (let k = 1; k < last.length; k++) if (last[k] > last[best]) best = k;
        if (stop.includes(best)) break;
        out.push(best);
        ids.push(best);
      }
      return Int32Array.from(out);
    });
  }
}

export const arch = parseArch(config(), 'config.json');
export const base = weightsFor(arch, 11);
export const expertA = weightsFor(arch, 101, base);
export const expertB = weightsFor(arch, 201, base);
export const models = [modelFiles('base', arch, base), modelFiles('a', arch, expertA), modelFiles('b', arch, expertB)];


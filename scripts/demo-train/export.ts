// Writes a trained demo model in Hugging Face layout: config.json, model.safetensors (F32, HF
// tensor names, header laid out by the studio's own writer), tokenizer.json, tokenizer_config.json.
import { createHash } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { buildSafetensorsHeader, parseSafetensorsHeader } from '../../src/formats/safetensors';
import { tensorShapes, type LlamaConfig } from './model';
import { BOS_ID, EOS_ID, PAD_ID, VOCAB, tokenizerConfigJson, tokenizerJson } from './tokenizer';

export function hfConfig(c: LlamaConfig): object {
  return {
    architectures: ['LlamaForCausalLM'],
    model_type: 'llama',
    hidden_size: c.hidden,
    intermediate_size: c.intermediate,
    num_hidden_layers: c.layers,
    num_attention_heads: c.heads,
    num_key_value_heads: c.kvHeads,
    head_dim: c.hidden / c.heads,
    vocab_size: c.vocab,
    max_position_embeddings: c.maxPositions,
    rms_norm_eps: c.eps,
    rope_theta: c.ropeTheta,
    rope_scaling: null,
    hidden_act: 'silu',
    attention_bias: false,
    mlp_bias: false,
    initializer_range: 0.02,
    bos_token_id: BOS_ID,
    eos_token_id: EOS_ID,
    pad_token_id: PAD_ID,
    tie_word_embeddings: false,
    torch_dtype: 'float32',
    use_cache: true,
  };
}

/** The safetensors bytes for these values (little-endian F32, tensors in HF order). */
export function safetensorsBytes(c: LlamaConfig, values: Map<string, Float32Array>): Uint8Array {
  const shapes = tensorShapes(c);
  const layout = buildSafetensorsHeader(
    shapes.map(([name, shape]) => ({ name, dtype: 'F32' as const, shape })),
    { format: 'pt' },
  );
  const out = new Uint8Array(layout.bytes.length + layout.dataBytes);
  out.set(layout.bytes, 0);
  const view = new DataView(out.buffer);
  for (const { name, begin, end } of layout.offsets) {
    const v = values.get(name);
    if (!v || v.length * 4 !== end - begin) throw new Error(`tensor ${name}: expected ${(end - begin) / 4} values, found ${v?.length ?? 0}`);
    let pos = layout.bytes.length + begin;
    for (let i = 0; i < v.length; i++, pos += 4) view.setFloat32(pos, v[i], true);
  }
  return out;
}

export function sha256(bytes: Uint8Array | string): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** Writes the four files; returns the safetensors SHA-256 and the folder's total size. */
export async function writeModel(dir: string, c: LlamaConfig, values: Map<string, Float32Array>, vocab: readonly string[] = VOCAB): Promise<{ sha256: string; bytes: number }> {
  await mkdir(dir, { recursive: true });
  const st = safetensorsBytes(c, values);
  const files: [string, string | Uint8Array][] = [
    ['config.json', JSON.stringify(hfConfig(c), null, 2) + '\n'],
    ['model.safetensors', st],
    ['tokenizer.json', JSON.stringify(tokenizerJson(vocab), null, 2) + '\n'],
    ['tokenizer_config.json', JSON.stringify(tokenizerConfigJson(c.maxPositions), null, 2) + '\n'],
  ];
  let bytes = 0;
  for (const [name, data] of files) {
    await writeFile(join(dir, name), data);
    bytes += typeof data === 'string' ? Buffer.byteLength(data) : data.length;
  }
  return { sha256: sha256(st), bytes };
}

/** The F32 values of a checkpoint this script wrote (to fine-tune again from a committed base). */
export async function readModelValues(path: string, c: LlamaConfig): Promise<Map<string, Float32Array>> {
  const bytes = new Uint8Array(await readFile(path));
  const header = await parseSafetensorsHeader(path, bytes.length, async (off, len) => bytes.subarray(off, off + len));
  const out = new Map<string, Float32Array>();
  for (const [name, shape] of tensorShapes(c)) {
    const e = header.tensors.find((t) => t.name === name);
    const n = shape.reduce((a, b) => a * b, 1);
    if (!e || e.dtype !== 'F32' || e.end - e.begin !== n * 4) throw new Error(`${path}: tensor ${name} is missing or not F32 [${shape}]`);
    out.set(name, new Float32Array(bytes.slice(header.dataStart + e.begin, header.dataStart + e.end).buffer));
  }
  return out;
}

// Opens a model folder (a map of path → ByteSource): config.json, the safetensors headers (single
// file, several files, or sharded with model.safetensors.index.json) and the other files. Reads
// headers only, never tensor data. Pure: the sources decide where bytes come from.

import { ModelError } from '../errors';
import type { ByteSource } from '../io/types';
import type { ModelInfo, TensorInfo } from './model-info';
import { SHARD_INDEX_FILE, parseSafetensorsHeader, parseShardIndex, type SafetensorsHeader } from './safetensors';

const CONFIG_FILE = 'config.json';

/** Weight files and checkpoint indexes: never copied along with the tokenizer files. */
const WEIGHT_FILE = /\.(safetensors|bin|pt|pth|ckpt|gguf|h5|msgpack|onnx|onnx_data)$|\.index\.json$/i;

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

/**
 * Reads a model's headers. `files` maps paths inside the model folder to sources.
 * Unsupported dtypes are not rejected here (a model may hold e.g. I64 buffers); the merge checks
 * mergeability for the tensors it uses.
 */
export async function openModel(
  ref: string,
  name: string,
  files: Map<string, ByteSource>,
  signal?: AbortSignal,
): Promise<ModelInfo> {
  const label = (path: string): string => (ref ? `${ref.replace(/\/+$/, '')}/${path}` : path);

  // config.json
  let config: Record<string, unknown> = {};
  const configSource = files.get(CONFIG_FILE);
  if (configSource) {
    const text = await configSource.text();
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (e) {
      throw new ModelError(`${label(CONFIG_FILE)} is not valid JSON (${e instanceof Error ? e.message : String(e)})`, {
        model: ref,
        file: CONFIG_FILE,
      });
    }
    if (!isPlainObject(parsed)) {
      throw new ModelError(`${label(CONFIG_FILE)} must be a JSON object`, { model: ref, file: CONFIG_FILE });
    }
    config = parsed;
  }

  const other = new Map<string, ByteSource>();
  for (const [path, src] of files) {
    if (path !== CONFIG_FILE && !WEIGHT_FILE.test(path)) other.set(path, src);
  }

  const readHeader = (path: string, src: ByteSource): Promise<SafetensorsHeader> =>
    parseSafetensorsHeader(label(path), src.size, (offset, length) => src.read(offset, length, signal));

  const found = new Map<string, TensorInfo>();
  const foundIn = new Map<string, string>();
  const add = (path: string, src: ByteSource, header: SafetensorsHeader): void => {
    for (const t of header.tensors) {
      found.set(t.name, {
        name: t.name,
        dtype: t.dtype,
        shape: t.shape,
        source: src,
        byteOffset: header.dataStart + t.begin,
        byteLength: t.end - t.begin,
      });
      foundIn.set(t.name, path);
    }
  };

  const indexSource = files.get(SHARD_INDEX_FILE);
  if (indexSource) {
    const index = parseShardIndex(label(SHARD_INDEX_FILE), await indexSource.text());
    // Shards in order of first mention, with how many tensors each should hold.
    const shardTensors = new Map<string, string[]>();
    for (const [tensor, shard] of index.weightMap) {
      const list = shardTensors.get(shard);
      if (list) list.push(tensor);
      else shardTensors.set(shard, [tensor]);
    }
    for (const [shard, tensors] of shardTensors) {
      if (!files.has(shard)) {
        throw new ModelError(
          `${ref}: ${SHARD_INDEX_FILE} puts ${plural(tensors.length, 'tensor')} (e.g. "${tensors[0]}") in shard "${shard}", but the model folder has no such file`,
          { model: ref, file: shard, tensor: tensors[0] },
        );
      }
    }
    const shards = [...shardTensors.keys()];
    const headers = await Promise.all(shards.map((s) => readHeader(s, files.get(s)!)));
    shards.forEach((shard, i) => {
      const header = headers[i];
      for (const t of header.tensors) {
        const listed = index.weightMap.get(t.name);
        if (listed === undefined) {
          throw new ModelError(`${label(shard)}: tensor "${t.name}" is in this shard but not listed in ${SHARD_INDEX_FILE}`, {
            model: ref,
            file: shard,
            tensor: t.name,
          });
        }
        if (listed !== shard) {
          throw new ModelError(`${label(shard)}: tensor "${t.name}" is in this shard, but ${SHARD_INDEX_FILE} says it is in "${listed}"`, {
            model: ref,
            file: shard,
            tensor: t.name,
          });
        }
      }
      add(shard, files.get(shard)!, header);
    });
    for (const [tensor, shard] of index.weightMap) {
      if (!found.has(tensor)) {
        throw new ModelError(`${label(shard)}: ${SHARD_INDEX_FILE} says tensor "${tensor}" is in this shard, but the shard's header does not contain it`, {
          model: ref,
          file: shard,
          tensor,
        });
      }
    }
  } else {
    const weightFiles = [...files.keys()].filter((p) => !p.includes('/') && p.toLowerCase().endsWith('.safetensors')).sort();
    if (weightFiles.length === 0) throw noWeights(ref, [...files.keys()]);
    const headers = await Promise.all(weightFiles.map((p) => readHeader(p, files.get(p)!)));
    weightFiles.forEach((path, i) => {
      for (const t of headers[i].tensors) {
        const first = foundIn.get(t.name);
        if (first !== undefined) {
          throw new ModelError(
            `${ref}: tensor "${t.name}" is in both "${first}" and "${path}"; without ${SHARD_INDEX_FILE} every tensor must be in exactly one .safetensors file (remove the extra file)`,
            { model: ref, file: path, tensor: t.name },
          );
        }
        foundIn.set(t.name, path);
      }
      add(path, files.get(path)!, headers[i]);
    });
  }

  const tensors = new Map<string, TensorInfo>();
  for (const n of [...found.keys()].sort()) tensors.set(n, found.get(n)!);

  return { ref, name, config, tensors, files: other, numLayers: inferNumLayers(config, tensors.keys()) };
}

function noWeights(ref: string, paths: string[]): ModelError {
  const bins = paths.filter((p) => /\.(bin|pt|pth|ckpt)$/i.test(p));
  const ggufs = paths.filter((p) => /\.gguf$/i.test(p));
  let msg = `no .safetensors files in ${ref}`;
  if (bins.length > 0) {
    msg +=
      ` (found ${bins.slice(0, 3).join(', ')}${bins.length > 3 ? ', …' : ''}); PyTorch .bin checkpoints are not supported.` +
      ' Convert them to safetensors first, e.g. in Python: AutoModelForCausalLM.from_pretrained(dir).save_pretrained(out, safe_serialization=True),' +
      ' or with the Hugging Face "safetensors/convert" Space';
  } else if (ggufs.length > 0) {
    msg += ` (found ${ggufs[0]}); GGUF files are not supported — use the original safetensors checkpoint`;
  } else {
    msg += `; the folder has ${paths.length === 0 ? 'no files' : paths.slice(0, 5).join(', ') + (paths.length > 5 ? ', …' : '')}. A model folder needs model.safetensors (or sharded model-0000X-of-0000N.safetensors with ${SHARD_INDEX_FILE}). PyTorch .bin checkpoints are not supported`;
  }
  return new ModelError(msg, { model: ref });
}

/**
 * config.num_hidden_layers when it is a number; else 1 + the largest N in `.layers.N.`; else the
 * mergekit fallback (1 + the largest N in any `.N.`); else 0.
 */
export function inferNumLayers(config: Record<string, unknown>, names: Iterable<string>): number {
  const n = config.num_hidden_layers;
  if (typeof n === 'number' && Number.isInteger(n) && n >= 0) return n;
  let layers = -1;
  let generic = -1;
  for (const name of names) {
    const m = /(?:^|\.)layers\.(\d+)\./.exec(name);
    if (m) layers = Math.max(layers, Number(m[1]));
    for (const g of name.matchAll(/\.(\d+)(?=\.)/g)) generic = Math.max(generic, Number(g[1]));
  }
  if (layers >= 0) return layers + 1;
  if (generic >= 0) return generic + 1;
  return 0;
}

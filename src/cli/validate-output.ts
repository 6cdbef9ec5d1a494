// Re-reads a finished output folder before it is published: every safetensors header must parse
// and account for its file's exact size, a shard index must match its shards, and the tensor
// count must be what the engine wrote. A folder that fails is never renamed into place.
import { basename } from 'node:path';
import { openModel } from '../formats/model';
import { nodeModelFiles } from '../io/node-source';
import { StudioError } from '../errors';

export async function validateOutputFolder(dir: string): Promise<{ tensors: number }> {
  const files = await nodeModelFiles(dir);
  try {
    const model = await openModel('output', basename(dir), files);
    if (model.tensors.size === 0) throw new Error('it holds no tensors');
    return { tensors: model.tensors.size };
  } catch (e) {
    const why = e instanceof StudioError || e instanceof Error ? e.message : String(e);
    throw new Error(`the merged output failed validation when re-read (${why}); nothing was published`);
  }
}

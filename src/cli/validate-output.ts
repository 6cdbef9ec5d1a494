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

/** A CABS export: every subfolder is a checkpoint (validated as above), plus mergekit_config.yml. */
export async function validateExportFolder(dir: string): Promise<{ tensors: number }> {
  const { readdir } = await import('node:fs/promises');
  const { join } = await import('node:path');
  const entries = await readdir(dir, { withFileTypes: true });
  if (!entries.some((e) => e.isFile() && e.name === 'mergekit_config.yml'))
    throw new Error('the CABS export has no mergekit_config.yml; nothing was published');
  let tensors = 0;
  for (const e of entries) if (e.isDirectory()) tensors += (await validateOutputFolder(join(dir, e.name))).tensors;
  if (tensors === 0) throw new Error('the CABS export holds no checkpoints; nothing was published');
  return { tensors };
}

// Output file names: every sink (HTTP, OPFS, directory, memory) and the CLI server accept only
// plain relative names, so no sink can be talked into writing outside its output folder.
import { IoError } from '../errors';

/**
 * Checks an output path ("model-00001-of-00002.safetensors", "sub/dir/file.json") and returns its
 * segments. Rejects absolute paths, "." / ".." segments, empty segments, backslashes, drive
 * letters and control characters.
 */
export function outputPathSegments(path: string): string[] {
  const bad = (why: string) => new IoError(`Output path "${path}" is not allowed: ${why}`, { file: path });
  if (typeof path !== 'string' || path.length === 0) throw bad('it is empty');
  if (path.length > 1024) throw bad('it is longer than 1024 characters');
  if (path.startsWith('/')) throw bad('it must be relative (no leading "/")');
  if (path.includes('\\')) throw bad('use "/" as the separator, not "\\"');
  if (/^[a-zA-Z]:/.test(path)) throw bad('it must be relative (no drive letter)');
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(path)) throw bad('it contains control characters');
  const segs = path.split('/');
  for (const s of segs) {
    if (s === '') throw bad('it has an empty segment ("//" or a trailing "/")');
    if (s === '.' || s === '..') throw bad('"." and ".." segments are not allowed');
  }
  return segs;
}

export function isValidOutputPath(path: string): boolean {
  try {
    outputPathSegments(path);
    return true;
  } catch {
    return false;
  }
}

import { describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildSafetensorsHeader } from '../../src/formats/safetensors';
import { validateOutputFolder } from '../../src/cli/validate-output';

function folderWith(bytes: Uint8Array): string {
  const dir = mkdtempSync(join(tmpdir(), 'validate-'));
  writeFileSync(join(dir, 'model.safetensors'), bytes);
  writeFileSync(join(dir, 'config.json'), '{}');
  return dir;
}

describe('validateOutputFolder', () => {
  const layout = buildSafetensorsHeader([{ name: 'a', dtype: 'F32', shape: [2, 3] }], { format: 'pt' });
  const whole = new Uint8Array(layout.bytes.length + layout.dataBytes);
  whole.set(layout.bytes);

  it('accepts a complete file and counts its tensors', async () => {
    const dir = folderWith(whole);
    await expect(validateOutputFolder(dir)).resolves.toEqual({ tensors: 1 });
    rmSync(dir, { recursive: true });
  });

  it('refuses a truncated shard, naming the file', async () => {
    const dir = folderWith(whole.subarray(0, whole.length - 4));
    await expect(validateOutputFolder(dir)).rejects.toThrow(/model\.safetensors.*nothing was published/s);
    rmSync(dir, { recursive: true });
  });

  it('refuses a folder with no weights', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'validate-'));
    writeFileSync(join(dir, 'config.json'), '{}');
    await expect(validateOutputFolder(dir)).rejects.toThrow(/failed validation/);
    rmSync(dir, { recursive: true });
  });
});

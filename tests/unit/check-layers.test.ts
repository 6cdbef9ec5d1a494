// The layer checker (scripts/check-layers.ts) on the real tree and on small fixture trees: it must
// name the file and the import of every upward, sealed-room or cyclic import (between rooms or files).
import { describe, expect, it } from 'vitest';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { checkLayers, type Layer } from '../../scripts/check-layers';

function tree(files: Record<string, string>): string {
  const root = mkdtempSync(join(tmpdir(), 'layers-'));
  for (const [p, text] of Object.entries(files)) {
    mkdirSync(dirname(join(root, p)), { recursive: true });
    writeFileSync(join(root, p), text);
  }
  return root;
}

const LAYERS: Layer[] = [
  { name: 'low', files: ['src/low/**'] },
  { name: 'mid', files: ['src/mid/**'] },
  { name: 'side', files: ['src/side/**'], sealed: true },
  { name: 'top', files: ['src/top/**'] },
];

describe('check-layers', () => {
  it('finds no violation in this repository', () => {
    const r = checkLayers(resolve(__dirname, '../..'));
    expect(r.violations).toEqual([]);
    expect(r.files).toBeGreaterThan(100);
  });

  it('names the file, line and import of an upward import', () => {
    const root = tree({
      'src/low/a.ts': "export const a = 1;\nimport type { B } from '../mid/b';\n",
      'src/mid/b.ts': "import { a } from '../low/a';\nexport type B = typeof a;\n",
      'src/top/c.ts': "import { a } from '../low/a.ts';\nimport type { B } from '../mid/b';\nexport const c: B = a;\n",
    });
    try {
      const { violations } = checkLayers(root, LAYERS);
      const upward = violations.filter((v) => v.message.includes('higher room'));
      expect(upward).toEqual([{ file: 'src/low/a.ts', line: 2, spec: '../mid/b', message: expect.stringContaining('low imports mid (src/mid/b.ts)') }]);
      // the same import closes a low ⇄ mid circle, reported on both of its arrows
      expect(violations.filter((v) => v.message.includes('cycle between rooms')).map((v) => v.file).sort()).toEqual(['src/low/a.ts', 'src/mid/b.ts']);
      expect(violations.filter((v) => v.message.includes('cycle between files')).map((v) => v.message)).toEqual([
        'import cycle between files: src/low/a.ts:2 → src/mid/b.ts, src/mid/b.ts:1 → src/low/a.ts',
      ]);
    } finally {
      rmSync(root, { recursive: true });
    }
  });

  it('refuses a cycle between files of one room', () => {
    const root = tree({
      'src/mid/x.ts': "import type { Y } from './y';\nexport type X = Y[];\n",
      'src/mid/y.ts': "import type { X } from './x.ts';\nexport type Y = { x?: X };\n",
    });
    try {
      expect(checkLayers(root, LAYERS).violations.map((v) => v.message)).toEqual(['import cycle between files: src/mid/x.ts:1 → src/mid/y.ts, src/mid/y.ts:1 → src/mid/x.ts']);
    } finally {
      rmSync(root, { recursive: true });
    }
  });

  it('refuses imports of a sealed room, files in no room, UI packages in the engine and Node-only files in browser code', () => {
    const root = tree({
      'src/side/s.ts': "import { a } from '../low/a';\nexport const s = a;\n",
      'src/low/a.ts': "import { useState } from 'react';\nexport const a = useState;\n",
      'src/top/t.ts': "export { s } from '../side/s';\nconst w = new Worker(new URL('../side/s.ts', import.meta.url));\n",
      'src/stray.ts': 'export {};\n',
      'src/mid/node-files.ts': "import { readFile } from 'node:fs/promises';\nexport const read = readFile;\n",
      'src/top/uses-node.ts': "import { read } from '../mid/node-files';\nexport const r = read;\n",
    });
    try {
      const msgs = checkLayers(root, LAYERS).violations.map((v) => `${v.file}:${v.line} ${v.message}`);
      expect(msgs).toEqual(
        expect.arrayContaining([
          expect.stringMatching(/^src\/top\/t\.ts:1 imports side .*nothing may import/),
          expect.stringMatching(/^src\/top\/t\.ts:2 imports side /),
          expect.stringMatching(/^src\/low\/a\.ts:1 low may not import React/),
          expect.stringMatching(/^src\/stray\.ts:1 belongs to no room/),
          expect.stringMatching(/^src\/top\/uses-node\.ts:1 imports the Node-only src\/mid\/node-files\.ts/),
        ]),
      );
      // node: modules are fine inside a node-*.ts file
      expect(msgs.filter((m) => m.startsWith('src/mid/node-files.ts'))).toEqual([]);
    } finally {
      rmSync(root, { recursive: true });
    }
  });
});

// The layer rule of ARCHITECTURE.md, checked: every file under src/ belongs to one room, rooms are
// ranked low → high, and a file may import only from its own room or a lower one (never a sealed
// room such as cli/). Also forbids import cycles (between rooms, and between files), and keeps UI
// packages out of the engine and Node-only code (node: modules, node-*.ts files) out of anything a
// browser loads. `npm test` runs it first (`npm run lint:layers`, about a second); it prints every
// offending file, line and import, and exits 1.
//
// Imports counted: static and dynamic imports, `import type`, `export … from`, and
// `new URL('./x.ts', import.meta.url)` (how a worker is started). Type-only imports count too:
// a type is as much a dependency on the room that defines it as a value is.

import { readFileSync, readdirSync, statSync, existsSync } from 'node:fs';
import { dirname, join, normalize, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

export interface Layer {
  name: string;
  /** Globs relative to the repository root (`*` within a path segment, `**` across segments). */
  files: string[];
  /** Nothing outside the room may import it (cli/: an entry point beside worker/). */
  sealed?: boolean;
}

/**
 * Lowest first. A file belongs to the FIRST layer with a matching glob, so a more specific room may
 * be listed before a broader one that would also match it.
 */
export const LAYERS: Layer[] = [
  { name: 'errors', files: ['src/errors.ts'] },
  { name: 'io', files: ['src/io/**'] },
  { name: 'formats', files: ['src/formats/**'] },
  // A method's spec is the vocabulary of a recipe (the planner, the YAML reader and the editor look
  // parameters up in it), so the spec half of methods/ sits below recipe/; the implementations run
  // plans, so they sit above it. The spec half never reaches GPU code: Node tools import it.
  { name: 'method specs', files: ['src/methods/spec.ts', 'src/methods/specs.ts', 'src/methods/*/spec.ts', 'src/methods/shared/checks.ts', 'src/methods/shared/params.ts'] },
  { name: 'recipe', files: ['src/recipe/**'] },
  // WebGPU primitives the method kernels are composed of: device, kernel registry, buffers, typed
  // kernel wrappers, and one tensor's chunked job (gpu/tensor-job.ts).
  { name: 'gpu', files: ['src/gpu/**'] },
  { name: 'methods', files: ['src/methods/**'] },
  // The backend door (types.ts) and its WebGPU and CPU engines: a plan entry in, output bytes out.
  { name: 'backends', files: ['src/backends/**'] },
  // merge/ and eval/ are peers in intent; eval reuses merge's model loading and diagnostics
  // (a candidate is merged as a merge is), so eval sits just above merge and merge never imports eval.
  { name: 'merge', files: ['src/merge/**'] },
  { name: 'eval', files: ['src/eval/**'] },
  { name: 'evolve', files: ['src/evolve/**'] },
  { name: 'worker', files: ['src/worker/**'] },
  { name: 'cli', files: ['src/cli/**', 'src/browser.ts'], sealed: true },
  { name: 'store', files: ['src/store/**'] },
  { name: 'ui', files: ['src/ui/**', 'src/main.tsx'] },
];

/**
 * Node-only files (named node-*.ts: Node file sources, the CPU engine's worker-thread pool). Only
 * cli/ and other Node-only files may import them, so no browser bundle reaches `node:` modules.
 */
export const NODE_ONLY = ['src/**/node-*.ts'];

/** Packages only some rooms (layer names) or files (globs) may import. */
export const PACKAGES: { match: RegExp; what: string; allowedIn: string[] }[] = [
  { match: /^(react|react-dom|recharts)(\/|$)/, what: 'React', allowedIn: ['ui'] },
  { match: /^zustand(\/|$)/, what: 'zustand', allowedIn: ['store', 'ui'] },
  { match: /^(node:|playwright|playwright-core|ws$)/, what: 'a Node-only module', allowedIn: ['cli', ...NODE_ONLY] },
];

export interface Violation {
  file: string;
  line: number;
  spec: string;
  message: string;
}

function globToRegExp(glob: string): RegExp {
  let re = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i];
    if (c === '*' && glob[i + 1] === '*') {
      re += '.*';
      i++;
      if (glob[i + 1] === '/') i++;
    } else if (c === '*') re += '[^/]*';
    else re += c.replace(/[.+?^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}

function listFiles(dir: string, root: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...listFiles(p, root));
    else if (/\.(ts|tsx|mts)$/.test(name)) out.push(relative(root, p).split('\\').join('/'));
  }
  return out;
}

const EXTENSIONS = ['', '.ts', '.tsx', '.mts', '/index.ts', '/index.tsx'];

function resolveImport(root: string, from: string, spec: string): string | undefined {
  const bare = spec.split('?')[0];
  const base = normalize(join(dirname(from), bare)).split('\\').join('/');
  for (const e of EXTENSIONS) {
    const p = base + e;
    if (existsSync(join(root, p)) && statSync(join(root, p)).isFile()) return p;
  }
  return undefined;
}

interface Import {
  spec: string;
  line: number;
}

function importsOf(text: string): Import[] {
  const info = ts.preProcessFile(text, true, true);
  const lineOf = (pos: number) => text.slice(0, pos).split('\n').length;
  const out: Import[] = info.importedFiles.map((f) => ({ spec: f.fileName, line: lineOf(f.pos) }));
  for (const m of text.matchAll(/new\s+URL\(\s*(['"])(\.{1,2}\/[^'"]+)\1\s*,\s*import\.meta\.url/g)) out.push({ spec: m[2], line: lineOf(m.index ?? 0) });
  return out;
}

/** Strongly connected components with more than one node (Tarjan), in a stable order. */
function strongComponents<T>(edges: Map<T, Map<T, unknown>>): T[][] {
  const index = new Map<T, number>();
  const low = new Map<T, number>();
  const stack: T[] = [];
  const onStack = new Set<T>();
  const out: T[][] = [];
  let counter = 0;
  const visit = (v: T): void => {
    index.set(v, counter);
    low.set(v, counter++);
    stack.push(v);
    onStack.add(v);
    for (const w of edges.get(v)?.keys() ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) === index.get(v)) {
      const comp: T[] = [];
      let w: T;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        comp.push(w);
      } while (w !== v);
      if (comp.length > 1) out.push(comp.reverse());
    }
  };
  for (const v of edges.keys()) if (!index.has(v)) visit(v);
  return out;
}

export function checkLayers(root: string, layers: Layer[] = LAYERS): { violations: Violation[]; files: number; edges: number } {
  const matchers = layers.map((l) => l.files.map(globToRegExp));
  const layerOf = (file: string): number => matchers.findIndex((ms) => ms.some((m) => m.test(file)));
  const nodeMatchers = NODE_ONLY.map(globToRegExp);
  const nodeOnly = (file: string): boolean => nodeMatchers.some((m) => m.test(file));
  const allowedNames = (i: number) => layers.slice(0, i).filter((l) => !l.sealed).map((l) => l.name);
  const violations: Violation[] = [];
  const files = listFiles(join(root, 'src'), root);
  // room graph: from → to → one example import
  const roomEdges = new Map<number, Map<number, Violation>>();
  const fileEdges = new Map<string, Map<string, Violation>>();
  let edges = 0;

  for (const file of files) {
    const from = layerOf(file);
    if (from < 0) {
      violations.push({ file, line: 1, spec: '', message: `belongs to no room: add it to LAYERS in scripts/check-layers.ts` });
      continue;
    }
    const text = readFileSync(join(root, file), 'utf8');
    for (const imp of importsOf(text)) {
      if (!imp.spec.startsWith('.')) {
        for (const p of PACKAGES) {
          if (!p.match.test(imp.spec)) continue;
          const ok = p.allowedIn.some((a) => a === layers[from].name || globToRegExp(a).test(file));
          if (!ok)
            violations.push({ file, line: imp.line, spec: imp.spec, message: `${layers[from].name} may not import ${p.what} ('${imp.spec}'); only ${p.allowedIn.join(', ')} may` });
        }
        continue;
      }
      const target = resolveImport(root, file, imp.spec);
      if (!target || !target.startsWith('src/')) continue; // shaders, public data: not code rooms
      const out = fileEdges.get(file) ?? new Map<string, Violation>();
      if (!out.has(target)) out.set(target, { file, line: imp.line, spec: imp.spec, message: '' });
      fileEdges.set(file, out);
      if (nodeOnly(target) && !nodeOnly(file) && layers[from].name !== 'cli')
        violations.push({ file, line: imp.line, spec: imp.spec, message: `imports the Node-only ${target}; only cli/ and other node-*.ts files may` });
      const to = layerOf(target);
      if (to < 0 || to === from) continue;
      edges++;
      const v: Violation = { file, line: imp.line, spec: imp.spec, message: '' };
      const m = roomEdges.get(from) ?? new Map<number, Violation>();
      if (!m.has(to)) m.set(to, v);
      roomEdges.set(from, m);
      if (layers[to].sealed)
        violations.push({ ...v, message: `imports ${layers[to].name} (${target}), which nothing may import` });
      else if (to > from)
        violations.push({
          ...v,
          message: `${layers[from].name} imports ${layers[to].name} (${target}), a higher room; ${layers[from].name} may import only: ${allowedNames(from).join(', ') || 'nothing'}`,
        });
    }
  }

  // Cycles between rooms. The rank rule already excludes them; this names the circle should the
  // room list ever be edited into allowing one.
  for (const comp of strongComponents(roomEdges)) {
    const inComp = new Set(comp);
    for (const a of comp)
      for (const [b, ex] of roomEdges.get(a) ?? [])
        if (inComp.has(b)) violations.push({ ...ex, message: `is part of an import cycle between rooms ${comp.map((c) => layers[c].name).join(' ⇄ ')} (${layers[a].name} → ${layers[b].name})` });
  }
  // Cycles between files, inside a room too: a circle makes every file in it load (and change) with
  // every other, which is how the old 18-file circle through worker/api.ts grew.
  for (const comp of strongComponents(fileEdges)) {
    const inComp = new Set(comp);
    const arrows = comp.flatMap((a) => [...(fileEdges.get(a) ?? [])].filter(([b]) => inComp.has(b)).map(([b, ex]) => `${a}:${ex.line} → ${b}`));
    violations.push({ file: comp[0], line: 1, spec: '', message: `import cycle between files: ${arrows.join(', ')}` });
  }

  return { violations, files: files.length, edges };
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
  const { violations, files, edges } = checkLayers(root);
  if (violations.length) {
    console.error(`layer rule (ARCHITECTURE.md "Rooms and arrows"): ${violations.length} violation${violations.length === 1 ? '' : 's'}`);
    for (const v of violations) console.error(`  ${v.file}:${v.line}  ${v.spec ? `'${v.spec}': ` : ''}${v.message}`);
    process.exit(1);
  }
  console.log(`layers ok: ${files} files, ${edges} imports between rooms, order ${LAYERS.map((l) => l.name).join(' < ')}`);
}

// Dropped or picked files → model folders. A model is a folder holding .safetensors files (or a
// shard index, or config.json); loose files form one model when they are one shard set (an index, or
// "<name>-0000i-of-0000N.safetensors"), else one model per .safetensors file. Pure.

export interface PickedFile {
  /** Path relative to what was dropped or picked, e.g. "llama/model.safetensors" or "model.safetensors". */
  path: string;
  file: Blob;
}

export interface FileGroup {
  name: string;
  /** Files with paths inside the model folder. */
  files: PickedFile[];
}

export interface Grouping {
  groups: FileGroup[];
  /** Paths not part of any model (README in a parent folder, subfolders, hidden files). */
  ignored: string[];
}

const WEIGHTS = /\.safetensors$/i;
const INDEX = /\.safetensors\.index\.json$/i;
const SHARD = /^(.*)-(\d{5})-of-(\d{5})\.safetensors$/i;

function dirOf(p: string): string {
  const i = p.lastIndexOf('/');
  return i < 0 ? '' : p.slice(0, i);
}
function baseName(p: string): string {
  return p.slice(p.lastIndexOf('/') + 1);
}
function normalise(p: string): string {
  return p.replace(/\\/g, '/').replace(/^(\.\/|\/)+/, '');
}

export function groupFiles(picked: PickedFile[]): Grouping {
  const files = picked.map((f) => ({ ...f, path: normalise(f.path) }));
  const ignored: string[] = [];
  const visible = files.filter((f) => {
    const hidden = f.path.split('/').some((s) => s.startsWith('.'));
    if (hidden) ignored.push(f.path);
    return !hidden;
  });
  const modelDirs = new Set<string>();
  for (const f of visible) {
    const b = baseName(f.path);
    if (WEIGHTS.test(b) || INDEX.test(b) || b === 'config.json') modelDirs.add(dirOf(f.path));
  }
  const groups: FileGroup[] = [];
  const used = new Set<PickedFile>();
  for (const dir of [...modelDirs].sort()) {
    if (dir === '') continue;
    const members = visible.filter((f) => dirOf(f.path) === dir);
    for (const m of members) used.add(m);
    groups.push({ name: baseName(dir), files: members.map((m) => ({ path: baseName(m.path), file: m.file })) });
  }
  if (modelDirs.has('')) {
    const loose = visible.filter((f) => dirOf(f.path) === '');
    const weights = loose.filter((f) => WEIGHTS.test(f.path));
    const others = loose.filter((f) => !WEIGHTS.test(f.path));
    const hasIndex = loose.some((f) => INDEX.test(f.path));
    const sets = new Map<string, PickedFile[]>();
    for (const w of weights) {
      const m = SHARD.exec(w.path);
      const key = hasIndex ? '' : m ? `${m[1]}\0${m[3]}` : `\0${w.path}`;
      const list = sets.get(key);
      if (list) list.push(w);
      else sets.set(key, [w]);
    }
    const stem = (p: string) => p.replace(SHARD, '$1').replace(WEIGHTS, '');
    if (sets.size <= 1) {
      const members = [...weights, ...others];
      const first = weights[0]?.path;
      const name = first ? stem(first) : 'model';
      for (const m of members) used.add(m);
      groups.push({ name: name || 'model', files: members });
    } else {
      for (const members of sets.values()) {
        for (const m of members) used.add(m);
        groups.push({ name: stem(members[0].path), files: members });
      }
    }
  }
  for (const f of visible) if (!used.has(f)) ignored.push(f.path);
  return { groups, ignored };
}

/** `name`, or `name-2`, `name-3`… whichever is not taken. */
export function uniqueName(name: string, taken: Iterable<string>): string {
  const set = new Set(taken);
  if (!set.has(name)) return name;
  for (let i = 2; ; i++) if (!set.has(`${name}-${i}`)) return `${name}-${i}`;
}

/** A file group that is a PEFT adapter (adapter_config.json), not a model. */
export function isAdapterGroup(g: FileGroup): boolean {
  return g.files.some((f) => f.path === 'adapter_config.json');
}

/**
 * Dropped files as one PEFT adapter folder: the folder holding adapter_config.json (its name, or
 * "adapter" for loose files) with that folder's files; undefined when no adapter_config.json was
 * dropped or when several were.
 */
export function adapterFromPicked(picked: PickedFile[]): FileGroup | undefined {
  const files = picked.map((f) => ({ ...f, path: normalise(f.path) })).filter((f) => !f.path.split('/').some((s) => s.startsWith('.')));
  const configs = files.filter((f) => baseName(f.path) === 'adapter_config.json');
  if (configs.length !== 1) return undefined;
  const dir = dirOf(configs[0].path);
  const members = files.filter((f) => dirOf(f.path) === dir);
  return { name: dir ? baseName(dir) : 'adapter', files: members.map((m) => ({ path: baseName(m.path), file: m.file })) };
}

// `npm run merge -- … --push-to-hub org/name`: the CLI's side of publishing (merge/publish.ts does
// the Hub work). The committed output folder is read back as lazy file Blobs (no copy in memory),
// pushed in one commit, with an upload progress line on stderr.
import { openAsBlob } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import type { PublishFile, PublishProgress } from '../merge/publish';
import { formatBytes } from './progress';

/** Every file under `dir` (relative "/" paths, sorted), as Blobs read from disk on demand. */
export async function folderFiles(dir: string): Promise<PublishFile[]> {
  const out: PublishFile[] = [];
  const walk = async (d: string) => {
    for (const e of await readdir(d, { withFileTypes: true })) {
      const abs = join(d, e.name);
      if (e.isDirectory()) await walk(abs);
      else if (e.isFile()) out.push({ path: relative(dir, abs).split(sep).join('/'), content: await openAsBlob(abs) });
    }
  };
  await walk(dir);
  return out.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

/** "upload: 12.3 MB / 40.0 MB (31%)  3.2 MB/s  model.safetensors". */
export function publishLine(p: PublishProgress, elapsedMs: number): string {
  const pct = (x: number) => (p.bytesTotal > 0 ? Math.floor((100 * x) / p.bytesTotal) : 100);
  switch (p.phase) {
    case 'checking':
      return 'hub: checking the token…';
    case 'creating':
      return 'hub: creating the repository (if missing)…';
    case 'preparing':
      return 'hub: preparing the upload…';
    case 'hashing':
      return `hub: hashing ${formatBytes(p.bytesHashed)} / ${formatBytes(p.bytesTotal)} (${pct(p.bytesHashed)}%)${p.file ? `  ${p.file}` : ''}`;
    case 'uploading': {
      const rate = elapsedMs > 0 ? (p.bytesUploaded / elapsedMs) * 1000 : 0;
      return `hub: uploaded ${formatBytes(p.bytesUploaded)} / ${formatBytes(p.bytesTotal)} (${pct(p.bytesUploaded)}%)  ${formatBytes(rate)}/s${p.file ? `  ${p.file}` : ''}`;
    }
    case 'committing':
      return `hub: committing ${p.filesTotal} files…`;
    case 'done':
      return '';
  }
}

/** Upload progress on stderr: \r-rewritten on a TTY, one line per phase (and per 10 %) otherwise. */
export class PublishPrinter {
  private readonly t0 = Date.now();
  private last = 0;
  private lastKey = '';
  private shown = false;

  constructor(private readonly out: NodeJS.WriteStream) {}

  update(p: PublishProgress): void {
    const line = publishLine(p, Date.now() - this.t0);
    if (!line) return;
    const now = Date.now();
    if (this.out.isTTY) {
      if (now - this.last < 250 && p.phase === this.lastKey) return;
      this.last = now;
      this.lastKey = p.phase;
      this.out.write(`\r${line.slice(0, (this.out.columns || 120) - 2)}\x1b[K`);
      this.shown = true;
    } else {
      const bytes = p.phase === 'hashing' ? p.bytesHashed : p.bytesUploaded;
      const key = `${p.phase}:${p.bytesTotal > 0 ? Math.floor((10 * bytes) / p.bytesTotal) : 0}`;
      if (key === this.lastKey) return;
      this.lastKey = key;
      this.out.write(line + '\n');
    }
  }

  finish(): void {
    if (this.shown && this.out.isTTY) this.out.write('\n');
    this.shown = false;
  }
}

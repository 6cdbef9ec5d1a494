// `npm run merge -- … --push-to-hub org/name`: the CLI's side of publishing (merge/publish.ts does
// the Hub work). The committed output folder is read back as lazy file Blobs (no copy in memory),
// pushed in one commit, with an upload progress line on stderr.
// Run directly, it is `npm run publish:hub -- <folder> --push-to-hub org/name [...]`: publishes a merge
// output folder that exists already (an upload that failed, or a merge made earlier).
// Exit codes: 0 published, 1 not published (the message says why), 2 bad arguments, 130 interrupted.
import { openAsBlob } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { join, relative, resolve, sep } from 'node:path';
import { pathToFileURL } from 'node:url';
import { publishToHub, type PublishFile, type PublishProgress } from '../merge/publish';
import { repoIdProblem } from '../merge/hub-names';
import { StudioError } from '../errors';
import { parseOrExit, UsageError, walkArgs } from './args';
import { formatBytes } from './progress';
import { validateOutputFolder } from './validate-output';

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

export const PUBLISH_USAGE = `usage: npm run publish:hub -- <folder> --push-to-hub <org/name> [options]

Publishes a merge's output folder (what npm run merge wrote) to a Hugging Face Hub model repo in
one commit: created PRIVATE if missing; nothing is committed if the upload fails. The Hub is
HF_ENDPOINT (default https://huggingface.co). To merge and publish at once: npm run merge -- …
--push-to-hub <org/name>.

options:
  --push-to-hub <org/name>  the repository (required)
  --public                  create the repo public instead of private
  --token <hf_…>            access token with the write role (default: $HF_TOKEN)
  --commit-message <m>      the commit's title
  --help, -h                show this help
`;

export interface PublishCliOptions {
  folder: string;
  repo: string;
  public: boolean;
  token?: string;
  commitMessage?: string;
}

export function parsePublishArgs(argv: readonly string[]): PublishCliOptions | 'help' {
  const o: Partial<PublishCliOptions> = { public: false };
  const positional = walkArgs(argv, ({ flag: a, value }) => {
    if (a === '-h' || a === '--help') return 'help';
    else if (a === '--push-to-hub') o.repo = value().trim();
    else if (a === '--public') o.public = true;
    else if (a === '--token') o.token = value();
    else if (a === '--commit-message') o.commitMessage = value();
    else return false;
    return true;
  });
  if (positional === 'help') return 'help';
  if (positional.length !== 1) throw new UsageError(positional.length ? `expected one folder, got ${positional.length}: ${positional.join(' ')}` : 'missing the output folder to publish');
  if (!o.repo) throw new UsageError('missing --push-to-hub <org/name>');
  const problem = repoIdProblem(o.repo);
  if (problem) throw new UsageError(`--push-to-hub: ${problem}`);
  return { ...o, folder: positional[0], repo: o.repo } as PublishCliOptions;
}

/** Runs `npm run publish:hub`; resolves to the exit code. Never throws. */
export async function publishMain(argv: readonly string[], io: { stdout: NodeJS.WriteStream; stderr: NodeJS.WriteStream } = { stdout: process.stdout, stderr: process.stderr }): Promise<number> {
  const parsed = parseOrExit(() => parsePublishArgs(argv), PUBLISH_USAGE, io);
  if (typeof parsed === 'number') return parsed;
  const err = (s: string) => io.stderr.write(s + '\n');
  const dir = resolve(parsed.folder);
  const token = parsed.token ?? process.env.HF_TOKEN ?? '';
  const abort = new AbortController();
  const onSigint = () => abort.abort();
  process.on('SIGINT', onSigint);
  process.on('SIGTERM', onSigint);
  const printer = new PublishPrinter(io.stderr);
  try {
    if (!(await stat(dir).then((s) => s.isDirectory(), () => false))) throw new Error(`${dir} is not a folder`);
    if (!token) throw new Error(`publishing to ${parsed.repo} needs a Hugging Face access token with the write role: set HF_TOKEN or pass --token`);
    // the folder must be a complete model (every safetensors header accounts for its file)
    await validateOutputFolder(dir).catch((e: Error) => {
      throw new Error(`${dir}: ${e.message.replace('the merged output', 'the folder')}`);
    });
    const res = await publishToHub(
      { repo: parsed.repo, token, files: await folderFiles(dir), hubUrl: process.env.HF_ENDPOINT || undefined, private: !parsed.public, ...(parsed.commitMessage ? { commitMessage: parsed.commitMessage } : {}) },
      { signal: abort.signal, onProgress: (p) => printer.update(p) },
    );
    printer.finish();
    io.stdout.write(`published ${res.url} (${res.created ? `new ${res.private ? 'private' : 'public'} repo` : 'existing repo'}): ${res.files} files, ${formatBytes(res.bytes)}, commit ${res.commit.oid.slice(0, 12)}\n`);
    return 0;
  } catch (e) {
    printer.finish();
    if (e instanceof StudioError && e.code === 'cancelled') return 130;
    err(`error: ${e instanceof Error ? e.message : String(e)}`);
    return 1;
  } finally {
    process.off('SIGINT', onSigint);
    process.off('SIGTERM', onSigint);
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  publishMain(process.argv.slice(2)).then((code) => process.exit(code));
}

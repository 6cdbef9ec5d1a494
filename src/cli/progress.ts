// The CLI's progress line on stderr: "[ 12/291 tensors]  812.0 MB / 14.5 GB  96.3 MB/s  name".
// Throttled to ~4 updates per second; \r-rewritten on a TTY, one line per update otherwise.
import type { MergeProgress } from '../worker/api';

/** Decimal units, like mergekit and disk vendors: 812.0 MB, 14.5 GB. */
export function formatBytes(n: number): string {
  if (!Number.isFinite(n)) return '? B';
  if (n < 1000) return `${Math.round(n)} B`;
  if (n < 1e6) return `${(n / 1e3).toFixed(1)} kB`;
  if (n < 1e9) return `${(n / 1e6).toFixed(1)} MB`;
  return `${(n / 1e9).toFixed(1)} GB`;
}

export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  const s = Math.round(ms / 1000);
  return `${Math.floor(s / 60)} min ${String(s % 60).padStart(2, '0')} s`;
}

export function progressLine(p: MergeProgress): string {
  switch (p.stage) {
    case 'reading-headers':
      return 'reading model headers…';
    case 'planning':
      return 'planning…';
    case 'done':
      return '';
    case 'finalizing':
      return `finalizing (${formatBytes(p.bytesWritten)} written)…`;
    default: {
      const w = String(p.tensorsTotal).length;
      const rate = p.elapsedMs > 0 ? (p.bytesRead / p.elapsedMs) * 1000 : 0;
      return (
        `[${String(p.tensorsDone).padStart(w)}/${p.tensorsTotal} tensors]  ` +
        `${formatBytes(p.bytesRead)} / ${formatBytes(p.bytesTotal)}  ${formatBytes(rate)}/s` +
        (p.currentTensor && p.stage === 'merging' ? `  ${p.currentTensor}` : '')
      );
    }
  }
}

export class ProgressPrinter {
  private last = 0;
  private lastStage = '';
  private latest: MergeProgress | undefined;
  private shown = false;

  /** Appended to the merging line (the Hub's network rate, bytes left, ETA). */
  extra: ((p: MergeProgress) => string) | undefined;

  constructor(
    private readonly out: NodeJS.WriteStream = process.stderr,
    private readonly intervalMs = 250,
  ) {}

  private get tty(): boolean {
    return !!this.out.isTTY;
  }

  update(p: MergeProgress): void {
    this.latest = p;
    const now = Date.now();
    if (p.stage === this.lastStage && now - this.last < this.intervalMs) return;
    this.render(p);
    this.last = now;
    this.lastStage = p.stage;
  }

  private render(p: MergeProgress) {
    let line = progressLine(p);
    if (!line) return;
    const more = (p.stage === 'merging' || p.stage === 'reading-headers') && this.extra ? this.extra(p) : '';
    if (more) line = p.stage === 'merging' ? line.replace(/(MB\/s|kB\/s|GB\/s| B\/s)/, `$1  [${more}]`) : `${line}  [${more}]`;
    if (this.tty) {
      const cols = this.out.columns || 120;
      if (line.length > cols - 1) line = line.slice(0, cols - 2) + '…';
      this.out.write(`\r${line}\x1b[K`);
    } else this.out.write(line + '\n');
    this.shown = true;
  }

  /** Prints the latest state (if it was throttled away) and ends the \r line. */
  finish(): void {
    if (this.latest && this.latest.stage !== this.lastStage) this.render(this.latest);
    if (this.shown && this.tty) this.out.write('\n');
    this.shown = false;
  }

  /** Writes a message on its own line without garbling the progress line. */
  message(text: string): void {
    if (this.shown && this.tty) this.out.write('\r\x1b[K');
    this.out.write(text + '\n');
    if (this.shown && this.tty && this.latest) this.render(this.latest);
  }
}

// Files from a drop or a file input, with their paths inside what was dropped. Each browser offers
// a different door, and synthetic drops (tests) only the last one, so all three are tried per item:
//   1. DataTransferItem.getAsFileSystemHandle() (Chromium): files and whole folders;
//   2. DataTransferItem.webkitGetAsEntry() (every engine): files and folders, read in batches;
//   3. DataTransferItem.getAsFile() / DataTransfer.files: files only.
// Everything is requested synchronously inside the drop event (the DataTransfer dies after it).
import type { PickedFile } from '../store/grouping';

type HandleItem = DataTransferItem & { getAsFileSystemHandle?: () => Promise<FileSystemHandle | null> };
type IterableDir = FileSystemDirectoryHandle & { entries(): AsyncIterable<[string, FileSystemHandle]> };

interface Pending {
  handle: Promise<FileSystemHandle | null> | null;
  entry: FileSystemEntry | null;
  file: File | null;
}

/** Call inside the drop handler; the returned promise resolves after the event. */
export function filesFromDrop(dt: DataTransfer): Promise<PickedFile[]> {
  const pending: Pending[] = [];
  const items = dt.items ? [...dt.items].filter((i) => i.kind === 'file') : [];
  for (const item of items) {
    let handle: Promise<FileSystemHandle | null> | null = null;
    try {
      handle = (item as HandleItem).getAsFileSystemHandle?.() ?? null;
    } catch {
      handle = null;
    }
    let entry: FileSystemEntry | null = null;
    try {
      entry = item.webkitGetAsEntry?.() ?? null;
    } catch {
      entry = null;
    }
    pending.push({ handle, entry, file: item.getAsFile() });
  }
  const loose = items.length === 0 ? [...(dt.files ?? [])] : [];
  return (async () => {
    const out: PickedFile[] = loose.map((f) => ({ path: f.webkitRelativePath || f.name, file: f }));
    for (const p of pending) {
      const h = p.handle ? await p.handle.catch(() => null) : null;
      if (h) {
        await walkHandle(h, '', out);
        continue;
      }
      if (p.entry) {
        await walkEntry(p.entry, out);
        continue;
      }
      if (p.file) out.push({ path: p.file.webkitRelativePath || p.file.name, file: p.file });
    }
    return out;
  })();
}

async function walkHandle(h: FileSystemHandle, prefix: string, out: PickedFile[]): Promise<void> {
  const path = prefix ? `${prefix}/${h.name}` : h.name;
  if (h.kind === 'file') {
    out.push({ path, file: await (h as FileSystemFileHandle).getFile() });
    return;
  }
  for await (const [, child] of (h as IterableDir).entries()) await walkHandle(child, path, out);
}

async function walkEntry(e: FileSystemEntry, out: PickedFile[]): Promise<void> {
  const path = e.fullPath.replace(/^\/+/, '') || e.name;
  if (e.isFile) {
    const file = await new Promise<File>((ok, fail) => (e as FileSystemFileEntry).file(ok, fail));
    out.push({ path, file });
    return;
  }
  const reader = (e as FileSystemDirectoryEntry).createReader();
  // readEntries returns at most ~100 entries per call: read until an empty batch.
  for (;;) {
    const batch = await new Promise<FileSystemEntry[]>((ok, fail) => reader.readEntries(ok, fail));
    if (batch.length === 0) break;
    for (const child of batch) await walkEntry(child, out);
  }
}

/** Files chosen in an <input type=file> (with webkitdirectory, paths include the folder). */
export function filesFromInput(input: HTMLInputElement): PickedFile[] {
  return [...(input.files ?? [])].map((f) => ({ path: f.webkitRelativePath || f.name, file: f }));
}

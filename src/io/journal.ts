// Small records the studio keeps in IndexedDB for the user (eval files, by name), written so that a
// reload or a closed tab right after the user's action can never lose them, and so that the UI can
// say "saved" only when it is true.
//
// The race this closes: an IndexedDB write is asynchronous (open the database, then a transaction
// that commits later). A page that lists the user's file at once and writes it in the background
// can be reloaded in between; the reload aborts the transaction and the file is gone, although the
// list showed it. So every write goes through a **write-ahead journal** in localStorage:
//
//   1. put/remove writes the operation synchronously to localStorage (one key per record,
//      `merge-studio-journal/<store>/<key>`, tagged with a random token) — in the same task as the
//      list update, so no reload can come between them;
//   2. then the IndexedDB transaction runs (writes of one store are queued, so they commit in the
//      order they were made); only its `oncomplete` resolves `done`, which is when the UI may say
//      "saved", and the journal entry is cleared — if it still holds this operation's token (a newer
//      put or remove of the same key replaced it and stays until its own write completes);
//   3. the next load replays whatever the journal still holds into IndexedDB, in one transaction
//      that also reads every record back (`load()`), so a reloaded page lists exactly what the user
//      last saw. A journaled remove is replayed as a delete, so a removed file does not come back.
//
// When localStorage cannot hold an operation (quota, storage disabled, or larger than `maxChars`,
// so that big files never crowd out the recipe's own localStorage), the key's older journal entry
// is dropped (it must not be replayed over the newer write) and the page asks the browser to
// confirm leaving (`beforeunload`) until the IndexedDB write has completed.
import { idbTransaction, type StoreName } from './idb';
import { holdUnload } from './unload-guard';

export type JournalOp<V> = { kind: 'put'; key: string; value: V; token: string } | { kind: 'delete'; key: string; token: string };

/** Where the operations end up (IndexedDB; a fake in unit tests). */
export interface JournalBackend<V> {
  /**
   * Applies `ops` in order in one transaction (skipping those `current` rejects, checked as they are
   * issued), then with `readAll` reads every record; resolves when the transaction has completed.
   */
  commit(ops: JournalOp<V>[], o: { readAll?: boolean; current?: (op: JournalOp<V>) => boolean }): Promise<V[] | undefined>;
}

/** The part of localStorage the journal uses. */
export type JournalStorage = Pick<Storage, 'getItem' | 'setItem' | 'removeItem' | 'key' | 'length'>;

export interface JournalWrite {
  /** The operation is in the journal: a reload from now on replays it. */
  held: boolean;
  /** Resolves when the backend transaction has completed; rejects with its error. */
  done: Promise<void>;
}

const PREFIX = 'merge-studio-journal/';

function randomToken(): string {
  return typeof crypto !== 'undefined' && typeof crypto.randomUUID === 'function' ? crypto.randomUUID() : `${Date.now().toString(36)}-${Math.random().toString(36).slice(2)}`;
}

function defaultStorage(): JournalStorage | undefined {
  try {
    return typeof localStorage === 'undefined' ? undefined : localStorage;
  } catch {
    return undefined; // storage disabled: reading the property throws
  }
}

export class JournaledStore<V> {
  private readonly prefix: string;
  private tail: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly o: {
      /** Journal namespace (the object store's name). */
      name: string;
      keyOf: (v: V) => string;
      backend: JournalBackend<V>;
      storage?: () => JournalStorage | undefined;
      /** Called while an operation the journal could not hold is in flight; returns its release. */
      hold?: () => () => void;
      /**
       * Larger operations (JSON characters) are not journaled, so that a big file cannot fill the
       * origin's localStorage quota that the recipe and settings share (default 1M: ~2 MB).
       */
      maxChars?: number;
    },
  ) {
    this.prefix = `${PREFIX}${o.name}/`;
  }

  put(value: V): JournalWrite {
    return this.write({ kind: 'put', key: this.o.keyOf(value), value, token: randomToken() });
  }

  remove(key: string): JournalWrite {
    return this.write({ kind: 'delete', key, token: randomToken() });
  }

  /**
   * For a page load: `pending` are the journal's puts (not yet known to be in the backend; list
   * them at once), `all` every record once the journal has been replayed into the backend.
   */
  load(): { pending: V[]; all: Promise<V[]> } {
    const ops = this.entries();
    const all = this.queue(async () => {
      const values = await this.o.backend.commit(ops, { readAll: true, current: (op) => this.tokenOf(op.key) === op.token });
      for (const op of ops) this.clear(op);
      return values ?? [];
    });
    return { pending: ops.flatMap((op) => (op.kind === 'put' ? [op.value] : [])), all };
  }

  /** Operations the journal holds (for tests and diagnostics). */
  entries(): JournalOp<V>[] {
    const st = this.storage();
    if (!st) return [];
    const out: JournalOp<V>[] = [];
    for (let i = 0; i < st.length; i++) {
      const k = st.key(i);
      if (!k?.startsWith(this.prefix)) continue;
      const op = this.read(k);
      if (op) out.push(op);
    }
    return out.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }

  private write(op: JournalOp<V>): JournalWrite {
    const held = this.journal(op);
    const release = held ? undefined : (this.o.hold ?? holdUnload)();
    const done = this.queue(() => this.o.backend.commit([op], {})).then(
      () => {
        this.clear(op);
        release?.();
      },
      (e: unknown) => {
        // Left in the journal: the next load tries again.
        release?.();
        throw e;
      },
    );
    return { held, done };
  }

  /** Writes `op` to the journal; false when it cannot (and then no older entry for its key is left). */
  private journal(op: JournalOp<V>): boolean {
    const st = this.storage();
    if (!st) return false;
    const k = this.keyFor(op.key);
    try {
      const text = JSON.stringify(op);
      if (text.length > (this.o.maxChars ?? 1_000_000)) throw new RangeError('too large for the journal');
      st.setItem(k, text);
      return true;
    } catch {
      try {
        st.removeItem(k);
      } catch {
        /* nothing more can be done */
      }
      return false;
    }
  }

  private clear(op: JournalOp<V>): void {
    if (this.tokenOf(op.key) !== op.token) return;
    try {
      this.storage()?.removeItem(this.keyFor(op.key));
    } catch {
      /* storage went away: the entry is replayed (idempotently) next time */
    }
  }

  private tokenOf(key: string): string | undefined {
    return this.read(this.keyFor(key))?.token;
  }

  private read(storageKey: string): JournalOp<V> | undefined {
    try {
      const raw = this.storage()?.getItem(storageKey);
      const op = raw ? (JSON.parse(raw) as JournalOp<V>) : undefined;
      return op && typeof op.key === 'string' && typeof op.token === 'string' && (op.kind === 'delete' || (op.kind === 'put' && op.value !== undefined)) ? op : undefined;
    } catch {
      return undefined;
    }
  }

  private keyFor(key: string): string {
    return this.prefix + encodeURIComponent(key);
  }

  private storage(): JournalStorage | undefined {
    return (this.o.storage ?? defaultStorage)();
  }

  /** Backend transactions of this store run one at a time, in the order they were asked for. */
  private queue<T>(run: () => Promise<T>): Promise<T> {
    const next = this.tail.then(run, run);
    this.tail = next.catch(() => undefined);
    return next;
  }
}

/** The IndexedDB backend for a store whose records carry their key (keyPath). */
export function idbBackend<V>(store: StoreName, what: string): JournalBackend<V> {
  return {
    commit: (ops, o) =>
      idbTransaction(
        store,
        ops.length ? 'readwrite' : 'readonly',
        (s) => {
          for (const op of ops) {
            if (o.current && !o.current(op)) continue; // another tab already wrote something newer
            if (op.kind === 'put') s.put(op.value);
            else s.delete(op.key);
          }
          const all = o.readAll ? (s.getAll() as IDBRequest<V[]>) : undefined;
          return () => all?.result;
        },
        what,
      ),
  };
}

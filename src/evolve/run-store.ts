// Evolution runs persisted in IndexedDB (available in the engine worker): one record per run,
// rewritten after every generation, so a reloaded page finds the run where it stopped.
import type { RunRecord } from './run';
import { IoError } from '../errors';

const DB = 'merge-studio';
const STORE = 'evolution-runs';

function open(): Promise<IDBDatabase> {
  return new Promise((resolve, reject) => {
    if (typeof indexedDB === 'undefined') return reject(new IoError('IndexedDB is not available here, so evolution runs cannot be saved'));
    const req = indexedDB.open(DB, 1);
    req.onupgradeneeded = () => {
      if (!req.result.objectStoreNames.contains(STORE)) req.result.createObjectStore(STORE, { keyPath: 'id' });
    };
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(new IoError(`IndexedDB: ${req.error?.message ?? 'cannot open the database'}`));
  });
}

async function tx<T>(mode: IDBTransactionMode, fn: (s: IDBObjectStore) => IDBRequest<T>): Promise<T> {
  const db = await open();
  try {
    return await new Promise<T>((resolve, reject) => {
      const t = db.transaction(STORE, mode);
      const req = fn(t.objectStore(STORE));
      t.oncomplete = () => resolve(req.result);
      t.onerror = () => reject(new IoError(`IndexedDB: ${t.error?.message ?? 'transaction failed'}`));
      t.onabort = () => reject(new IoError(`IndexedDB: ${t.error?.message ?? 'transaction aborted'}`));
    });
  } finally {
    db.close();
  }
}

export const runStore = {
  save(r: RunRecord): Promise<void> {
    return tx('readwrite', (s) => s.put(r)).then(() => undefined);
  },
  load(id: string): Promise<RunRecord | undefined> {
    return tx('readonly', (s) => s.get(id) as IDBRequest<RunRecord | undefined>);
  },
  list(): Promise<RunRecord[]> {
    return tx('readonly', (s) => s.getAll() as IDBRequest<RunRecord[]>);
  },
  remove(id: string): Promise<void> {
    return tx('readwrite', (s) => s.delete(id)).then(() => undefined);
  },
};

// The studio's one IndexedDB database. Every object store is created here, in one upgrade, so the
// page (saved eval sets) and the engine worker (evolution runs) never open it at different versions.
import { IoError } from '../errors';

const DB = 'merge-studio';
const VERSION = 2;
export type StoreName = 'evolution-runs' | 'eval-sets';
/** Key path of each store. */
const STORES: Record<StoreName, string> = { 'evolution-runs': 'id', 'eval-sets': 'name' };

function open(what: string): Promise<IDBDatabase> {
  return new Promise((resolve, reject) => {
    if (typeof indexedDB === 'undefined') return reject(new IoError(`IndexedDB is not available here, so ${what} cannot be saved`));
    const req = indexedDB.open(DB, VERSION);
    req.onupgradeneeded = () => {
      for (const [name, keyPath] of Object.entries(STORES)) {
        if (!req.result.objectStoreNames.contains(name)) req.result.createObjectStore(name, { keyPath });
      }
    };
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(new IoError(`IndexedDB: ${req.error?.message ?? 'cannot open the database'}`));
    // Another tab still holds the old version open: it must close before the upgrade can run.
    req.onblocked = () => reject(new IoError('IndexedDB: an older Merge Studio tab keeps the database open; close it and reload'));
  });
}

/** One request in its own transaction on `store`; resolves when the transaction commits. */
export async function idbRequest<T>(store: StoreName, mode: IDBTransactionMode, fn: (s: IDBObjectStore) => IDBRequest<T>, what: string): Promise<T> {
  const db = await open(what);
  // A newer tab upgrading the database asks this connection to go.
  db.onversionchange = () => db.close();
  try {
    return await new Promise<T>((resolve, reject) => {
      const t = db.transaction(store, mode);
      const req = fn(t.objectStore(store));
      t.oncomplete = () => resolve(req.result);
      t.onerror = () => reject(new IoError(`IndexedDB: ${t.error?.message ?? 'transaction failed'}`));
      t.onabort = () => reject(new IoError(`IndexedDB: ${t.error?.message ?? 'transaction aborted'}`));
    });
  } finally {
    db.close();
  }
}

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

/**
 * One transaction on `store`: `fn` issues its requests and returns a getter for the result, read
 * once the transaction has **completed** (`oncomplete`, i.e. committed), never on a request's
 * `onsuccess`, which fires while the transaction can still abort (a reload, a quota error).
 */
export async function idbTransaction<T>(store: StoreName, mode: IDBTransactionMode, fn: (s: IDBObjectStore) => () => T, what: string): Promise<T> {
  const db = await open(what);
  // A newer tab upgrading the database asks this connection to go.
  db.onversionchange = () => db.close();
  try {
    return await new Promise<T>((resolve, reject) => {
      const t = db.transaction(store, mode);
      t.onerror = () => reject(new IoError(`IndexedDB: ${t.error?.message ?? 'transaction failed'}`));
      t.onabort = () => reject(new IoError(`IndexedDB: ${t.error?.message ?? 'transaction aborted'}`));
      let result: () => T;
      try {
        result = fn(t.objectStore(store));
      } catch (e) {
        // A request that could not be issued (a bad key, say): none of the others may commit.
        t.abort();
        return reject(new IoError(`IndexedDB: ${e instanceof Error ? e.message : String(e)}`));
      }
      t.oncomplete = () => resolve(result());
    });
  } finally {
    db.close();
  }
}

/** One request in its own transaction on `store`; resolves when the transaction commits. */
export function idbRequest<T>(store: StoreName, mode: IDBTransactionMode, fn: (s: IDBObjectStore) => IDBRequest<T>, what: string): Promise<T> {
  return idbTransaction(
    store,
    mode,
    (s) => {
      const req = fn(s);
      return () => req.result;
    },
    what,
  );
}

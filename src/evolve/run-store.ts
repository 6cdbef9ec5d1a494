// Evolution runs persisted in IndexedDB (available in the engine worker): one record per run,
// rewritten after every generation, so a reloaded page finds the run where it stopped.
import type { RunRecord } from './run';
import { idbRequest } from '../io/idb';

const tx = <T>(mode: IDBTransactionMode, fn: (s: IDBObjectStore) => IDBRequest<T>): Promise<T> => idbRequest('evolution-runs', mode, fn, 'evolution runs');

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

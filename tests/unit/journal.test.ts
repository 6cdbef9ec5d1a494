// The write-ahead journal in front of IndexedDB (io/journal.ts): an operation is in localStorage
// before the call returns, leaves it only when its backend transaction has completed, is replayed
// by the next load (puts and removes alike), and a write the journal cannot hold keeps the page
// from unloading until it has completed.
import { describe, expect, test } from 'vitest';
import { JournaledStore, type JournalBackend, type JournalOp, type JournalStorage } from '../../src/io/journal';
import { holdUnload, unloadHolds } from '../../src/io/unload-guard';

interface Rec {
  name: string;
  text: string;
}

/** localStorage with an optional quota (characters of values). */
function fakeStorage(quota = Infinity): JournalStorage & { map: Map<string, string> } {
  const map = new Map<string, string>();
  return {
    map,
    get length() {
      return map.size;
    },
    key: (i) => [...map.keys()][i] ?? null,
    getItem: (k) => map.get(k) ?? null,
    setItem: (k, v) => {
      const used = [...map].reduce((n, [kk, vv]) => n + (kk === k ? 0 : vv.length), 0);
      if (used + v.length > quota) throw new DOMException('quota', 'QuotaExceededError');
      map.set(k, v);
    },
    removeItem: (k) => void map.delete(k),
  };
}

/** A backend whose transactions complete only when the test says so (or a reload drops them). */
function fakeBackend() {
  const db = new Map<string, Rec>();
  const inFlight: { ops: JournalOp<Rec>[]; complete: () => void; fail: (e: Error) => void }[] = [];
  const backend: JournalBackend<Rec> = {
    commit: (ops, o) =>
      new Promise((resolve, reject) => {
        inFlight.push({
          ops,
          complete: () => {
            for (const op of ops) {
              if (o.current && !o.current(op)) continue;
              if (op.kind === 'put') db.set(op.key, op.value);
              else db.delete(op.key);
            }
            resolve(o.readAll ? [...db.values()] : undefined);
          },
          fail: reject,
        });
      }),
  };
  return {
    db,
    backend,
    inFlight,
    /** Completes the oldest transaction and lets its callbacks run. */
    async completeNext() {
      await tick();
      inFlight.shift()!.complete();
      await tick();
    },
    async failNext(message: string) {
      await tick();
      inFlight.shift()!.fail(new Error(message));
      await tick();
    },
  };
}

const tick = () => new Promise((r) => setTimeout(r, 0));

function store(storage: JournalStorage, backend: JournalBackend<Rec>, hold?: () => () => void) {
  return new JournaledStore<Rec>({ name: 'eval-sets', keyOf: (r) => r.name, backend, storage: () => storage, hold });
}

describe('journaled store', () => {
  test('a put is journaled before it returns and cleared only when its transaction completes', async () => {
    const ls = fakeStorage();
    const b = fakeBackend();
    const s = store(ls, b.backend);
    const w = s.put({ name: 'a.jsonl', text: 'A' });
    expect(w.held).toBe(true);
    expect(s.entries()).toMatchObject([{ kind: 'put', key: 'a.jsonl', value: { text: 'A' } }]);
    let done = false;
    void w.done.then(() => (done = true));
    await tick();
    expect(done).toBe(false);
    expect(s.entries()).toHaveLength(1);
    await b.completeNext();
    expect(done).toBe(true);
    expect(s.entries()).toEqual([]);
    expect(b.db.get('a.jsonl')?.text).toBe('A');
  });

  test('a reload before the write completes: the next load lists it at once and replays it', async () => {
    const ls = fakeStorage();
    const first = fakeBackend();
    store(ls, first.backend).put({ name: 'a.jsonl', text: 'A' });
    // the page goes away: its transaction never completes
    const second = fakeBackend();
    const s = store(ls, second.backend);
    const { pending, all } = s.load();
    expect(pending).toEqual([{ name: 'a.jsonl', text: 'A' }]);
    await second.completeNext();
    expect(await all).toEqual([{ name: 'a.jsonl', text: 'A' }]);
    expect(s.entries()).toEqual([]);
  });

  test('a remove right before a reload is replayed: the record does not come back', async () => {
    const ls = fakeStorage();
    const b = fakeBackend();
    const s = store(ls, b.backend);
    s.put({ name: 'a.jsonl', text: 'A' });
    await b.completeNext();
    s.remove('a.jsonl'); // reload now
    const next = fakeBackend();
    next.db.set('a.jsonl', { name: 'a.jsonl', text: 'A' });
    const { pending, all } = store(ls, next.backend).load();
    expect(pending).toEqual([]);
    await next.completeNext();
    expect(await all).toEqual([]);
    expect(ls.map.size).toBe(0);
  });

  test('writes commit in order; an older completion does not clear a newer journal entry', async () => {
    const ls = fakeStorage();
    const b = fakeBackend();
    const s = store(ls, b.backend);
    s.put({ name: 'a.jsonl', text: 'v1' });
    s.put({ name: 'a.jsonl', text: 'v2' });
    await b.completeNext();
    expect(s.entries()).toMatchObject([{ value: { text: 'v2' } }]); // v2 still pending: kept
    await b.completeNext();
    expect(s.entries()).toEqual([]);
    expect(b.db.get('a.jsonl')?.text).toBe('v2');
  });

  test('a failed write stays in the journal and is tried again on the next load', async () => {
    const ls = fakeStorage();
    const b = fakeBackend();
    const w = store(ls, b.backend).put({ name: 'a.jsonl', text: 'A' });
    const failed = w.done.catch((e: Error) => e.message);
    await b.failNext('disk full');
    expect(await failed).toBe('disk full');
    const next = fakeBackend();
    const { pending, all } = store(ls, next.backend).load();
    expect(pending).toHaveLength(1);
    await next.completeNext();
    expect(await all).toHaveLength(1);
  });

  test('a replay does not apply an operation the journal no longer holds (another tab wrote a newer one)', async () => {
    const ls = fakeStorage();
    store(ls, fakeBackend().backend).put({ name: 'a.jsonl', text: 'old' });
    const b = fakeBackend();
    const { all } = store(ls, b.backend).load();
    // meanwhile another tab saves a newer version and its write completes
    const other = store(ls, b.backend);
    const w = other.put({ name: 'a.jsonl', text: 'new' });
    b.db.set('a.jsonl', { name: 'a.jsonl', text: 'new' });
    await b.completeNext(); // the replay: skipped, the journal holds the newer token
    expect((await all).map((r) => r.text)).toEqual(['new']);
    await b.completeNext();
    await w.done;
    expect(b.db.get('a.jsonl')?.text).toBe('new');
  });

  test('over quota: not held, the older entry is dropped, and the page is held until the write completes', async () => {
    const ls = fakeStorage(200);
    const b = fakeBackend();
    let holds = 0;
    const s = store(ls, b.backend, () => {
      holds++;
      return () => holds--;
    });
    expect(s.put({ name: 'a.jsonl', text: 'short' }).held).toBe(true);
    const big = s.put({ name: 'a.jsonl', text: 'x'.repeat(500) });
    expect(big.held).toBe(false);
    expect(s.entries()).toEqual([]); // the stale "short" must not be replayed over the newer write
    expect(holds).toBe(1);
    await b.completeNext();
    expect(holds).toBe(1);
    await b.completeNext();
    await big.done;
    expect(holds).toBe(0);
    expect(b.db.get('a.jsonl')?.text).toHaveLength(500);
  });

  test('an operation over maxChars is not journaled (localStorage is left to the recipe), but still written', async () => {
    const ls = fakeStorage();
    const b = fakeBackend();
    let holds = 0;
    const s = new JournaledStore<Rec>({ name: 'eval-sets', keyOf: (r) => r.name, backend: b.backend, storage: () => ls, maxChars: 150, hold: () => (holds++, () => holds--) });
    expect(s.put({ name: 'small.jsonl', text: 'x' }).held).toBe(true);
    const big = s.put({ name: 'big.jsonl', text: 'x'.repeat(200) });
    expect(big.held).toBe(false);
    expect(s.entries().map((e) => e.key)).toEqual(['small.jsonl']);
    expect(holds).toBe(1);
    await b.completeNext();
    await b.completeNext();
    await big.done;
    expect(holds).toBe(0);
    expect(b.db.get('big.jsonl')?.text).toHaveLength(200);
  });

  test('no localStorage at all: writes still go through, each held by the unload guard', async () => {
    const b = fakeBackend();
    let holds = 0;
    const s = new JournaledStore<Rec>({ name: 'eval-sets', keyOf: (r) => r.name, backend: b.backend, storage: () => undefined, hold: () => (holds++, () => holds--) });
    const w = s.put({ name: 'a.jsonl', text: 'A' });
    expect(w.held).toBe(false);
    expect(holds).toBe(1);
    await b.completeNext();
    await w.done;
    expect(holds).toBe(0);
  });
});

describe('unload guard', () => {
  test('a beforeunload listener is present exactly while something holds the page', () => {
    const listeners = new Set<EventListener>();
    const g = globalThis as unknown as Record<string, unknown>;
    g.addEventListener = (type: string, l: EventListener) => type === 'beforeunload' && listeners.add(l);
    g.removeEventListener = (type: string, l: EventListener) => type === 'beforeunload' && listeners.delete(l);
    try {
      const a = holdUnload();
      const b = holdUnload();
      expect(listeners.size).toBe(1);
      expect(unloadHolds()).toBe(2);
      const e = { defaultPrevented: false, returnValue: undefined as unknown, preventDefault() { this.defaultPrevented = true; } };
      [...listeners][0](e as unknown as Event);
      expect(e.defaultPrevented).toBe(true);
      a();
      a(); // a second release is a no-op
      expect(listeners.size).toBe(1);
      b();
      expect(listeners.size).toBe(0);
      expect(unloadHolds()).toBe(0);
    } finally {
      delete g.addEventListener;
      delete g.removeEventListener;
    }
  });
});

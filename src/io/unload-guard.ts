// Asks the browser to confirm leaving the page while something the user made exists nowhere but in
// memory (a write that neither the journal nor IndexedDB holds yet). The listener is added only
// while such a write is in flight, so an idle page keeps no `beforeunload` handler.

let holds = 0;

function onBeforeUnload(e: BeforeUnloadEvent): void {
  e.preventDefault();
  // Older Chromium and Safari show the prompt only when returnValue is set.
  e.returnValue = '';
}

/** Holds the page open (with the browser's "Leave site?" prompt) until the returned release is called. */
export function holdUnload(): () => void {
  const target = globalThis as unknown as Partial<Pick<Window, 'addEventListener' | 'removeEventListener'>>;
  if (typeof target.addEventListener !== 'function' || typeof target.removeEventListener !== 'function') return () => {};
  if (holds++ === 0) target.addEventListener('beforeunload', onBeforeUnload);
  let released = false;
  return () => {
    if (released) return;
    released = true;
    if (--holds === 0) target.removeEventListener!('beforeunload', onBeforeUnload);
  };
}

/** How many writes hold the page now (for tests). */
export const unloadHolds = (): number => holds;

// A thread's Hub session in the studio: the token (memory only: it arrives by postMessage from the
// page and is never stored by a worker) and the OPFS byte cache with the user's size limit. The
// engine and inspector workers call applyHubSession when the page's Hub settings change.
import { OpfsBlockStore } from './opfs-cache';
import { setHubThreadDefaults } from './source';

export interface HubSession {
  token?: string;
  /** Cache bound in bytes; 0 turns the cache off. */
  cacheBytes: number;
}

let store: OpfsBlockStore | undefined;

export async function applyHubSession(s: HubSession): Promise<void> {
  if (s.cacheBytes > 0) {
    if (store) await store.setLimit(s.cacheBytes);
    else store = await OpfsBlockStore.open(s.cacheBytes);
  } else store = undefined;
  setHubThreadDefaults({ ...(s.token ? { token: s.token } : {}), ...(store ? { cache: store } : {}) });
}

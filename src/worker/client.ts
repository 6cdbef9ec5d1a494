// Starts the engine worker and returns its typed API. Used by the studio and the headless CLI page.
import * as Comlink from 'comlink';
import type { EngineApi, MergeProgress } from './api';

export interface EngineHandle {
  api: Comlink.Remote<EngineApi>;
  /** Wraps a progress callback so it can cross into the worker. */
  progress(cb: (p: MergeProgress) => void): (p: MergeProgress) => void;
  terminate(): void;
}

export function startEngine(): EngineHandle {
  const worker = new Worker(new URL('./engine.worker.ts', import.meta.url), { type: 'module', name: 'merge-engine' });
  const api = Comlink.wrap<EngineApi>(worker);
  return {
    api,
    progress: (cb) => Comlink.proxy(cb),
    terminate: () => {
      api[Comlink.releaseProxy]();
      worker.terminate();
    },
  };
}

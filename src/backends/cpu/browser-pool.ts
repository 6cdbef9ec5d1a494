// The browser's side of the CPU engine: dedicated Web Workers (started from the engine worker),
// one per core but one left for the page.
import { CpuBackend, type PoolWorker } from './backend';
import type { CpuReply, CpuTask } from './task';

function spawnWebWorker(): PoolWorker {
  const w = new Worker(new URL('./cpu.worker.ts', import.meta.url), { type: 'module', name: 'cpu-engine' });
  return {
    post: (t: CpuTask) => w.postMessage(t),
    listen(onReply, onCrash) {
      w.onmessage = (ev: MessageEvent<CpuReply>) => onReply(ev.data);
      w.onerror = (ev) => {
        ev.preventDefault();
        onCrash(new Error(ev.message || 'the worker failed'));
      };
    },
    terminate: () => w.terminate(),
  };
}

export function browserCpuThreads(): number {
  const cores = typeof navigator !== 'undefined' && navigator.hardwareConcurrency ? navigator.hardwareConcurrency : 2;
  return Math.max(1, Math.min(8, cores - 1));
}

/** Budget: about a quarter of the device memory the browser reports (deviceMemory, GB), 1–2 GiB. */
export function browserCpuBackend(threads = browserCpuThreads()): CpuBackend {
  const gb = (navigator as Navigator & { deviceMemory?: number }).deviceMemory ?? 4;
  const budget = Math.min(2, Math.max(1, gb / 4)) * 1024 ** 3;
  return new CpuBackend({ threads, spawn: spawnWebWorker, memoryBudget: budget });
}

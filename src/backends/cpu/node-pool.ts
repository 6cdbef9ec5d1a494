// Node's side of the CPU engine: worker_threads, one per core by default, and the file-reading
// opener for this thread. Node only (the CLI, benchmarks, unit tests).
import { Worker } from 'node:worker_threads';
import { availableParallelism, totalmem } from 'node:os';
import { CpuBackend, type PoolWorker } from './backend';
import type { CpuReply, CpuTask } from './task';

function spawnNodeWorker(): PoolWorker {
  const w = new Worker(new URL('./node-worker-boot.mjs', import.meta.url));
  return {
    post: (t: CpuTask) => w.postMessage(t),
    listen(onReply, onCrash) {
      w.on('message', (r: CpuReply) => onReply(r));
      w.on('error', (e) => onCrash(e));
      w.on('exit', (code) => code !== 0 && onCrash(new Error(`the thread exited with code ${code}`)));
    },
    terminate: () => void w.terminate(),
  };
}

export function defaultCpuThreads(): number {
  return Math.max(1, availableParallelism());
}

/** A CPU backend on worker threads; memory budget: a quarter of the machine's memory, at most 4 GiB. */
export function nodeCpuBackend(threads = defaultCpuThreads(), memoryBudget = Math.min(4 * 1024 ** 3, totalmem() / 4)): CpuBackend {
  return new CpuBackend({ threads, spawn: spawnNodeWorker, memoryBudget });
}

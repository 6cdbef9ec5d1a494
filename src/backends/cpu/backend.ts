// The CPU engine behind the backend door. Tensors are merged on worker threads (Node
// worker_threads or Web Workers, whichever `spawn` makes), several at once, each in one thread, and
// handed to the writer strictly in plan order. How many run at once is bounded by the thread count
// and by a memory budget over the tensors in flight (their inputs while merging, their output until
// written), so peak memory follows the largest tensors, not the model size or count.
// With threads = 0 everything runs in the calling thread (tests, tiny merges).
import type { PlanEntry } from '../../recipe/plan-types';
import type { EntryMasks, MergeBackend, MergeTensorsOptions, PruneOptions, TensorWriter } from '../types';
import { cpuDecodedInput, cpuEntryMasks } from './prune';
import { itemSize, type Dtype } from '../../formats/dtype';
import { CancelledError, fromRecord, StudioError } from '../../errors';
import { elementCount } from './job';
import { tensorMemory } from './memory';
import { cpuKernels } from '../../methods/shared/cpu/simd';
import { cpuMergeTensor } from './tensor';
import { outOfMemory, toPortableEntry, type CpuReply, type CpuTask } from './task';

/** A worker thread as the pool sees it (Node's Worker and the DOM's Worker both adapt to this). */
export interface PoolWorker {
  post(task: CpuTask): void;
  /** Called once with the callbacks for every reply and for a crash of the thread. */
  listen(onReply: (r: CpuReply) => void, onCrash: (e: Error) => void): void;
  terminate(): void;
}

export interface CpuBackendOptions {
  /** Worker threads (0: run in the calling thread). */
  threads: number;
  spawn?: () => PoolWorker;
  /** Bytes the tensors in flight may hold together (default 2 GiB). A larger tensor runs alone. */
  memoryBudget?: number;
}

export class CpuBackend implements MergeBackend {
  readonly kind = 'cpu';
  private idle: PoolWorker[] = [];
  private all: PoolWorker[] = [];
  private pending = new Map<number, { resolve: (b: Uint8Array) => void; reject: (e: Error) => void; worker: PoolWorker; task: CpuTask }>();
  private queue: { task: CpuTask; resolve: (b: Uint8Array) => void; reject: (e: Error) => void }[] = [];
  private nextId = 1;

  constructor(readonly opts: CpuBackendOptions) {
    if (opts.threads > 0 && !opts.spawn) throw new Error('CpuBackend: threads > 0 needs a spawn function');
  }

  /** "CPU engine: 2 worker threads, wasm SIMD" — the threads, and which kernels they run (methods/shared/cpu/simd.ts). */
  get description(): string {
    const where = this.opts.threads > 0 ? `${this.opts.threads} worker thread${this.opts.threads === 1 ? '' : 's'}` : 'in this thread';
    return `CPU engine: ${where}, ${cpuKernels().kind === 'wasm-simd' ? 'wasm SIMD' : 'scalar JS'}`;
  }

  async mergeTensors(entries: readonly PlanEntry[], write: TensorWriter, o: MergeTensorsOptions = {}): Promise<void> {
    const { signal } = o;
    if (this.opts.threads <= 0) {
      for (const entry of entries) {
        if (signal?.aborted) throw new CancelledError();
        await cpuMergeTensor(entry, o, (c, bytes) => write.chunk(entry, c, bytes));
        await write.done(entry);
      }
      return;
    }
    const budget = this.opts.memoryBudget ?? 2 * 1024 ** 3;
    // how far past the tensor being written threads may work: bounded by the memory budget, so a
    // large tensor at the head of the queue does not leave the other threads idle
    const ahead = this.opts.threads * 32;
    const cost = entries.map(tensorMemory);
    const results: Promise<Uint8Array>[] = [];
    let held = 0;
    let next = 0;
    const onAbort = () => this.dispose();
    signal?.addEventListener('abort', onAbort);
    try {
      for (let i = 0; i < entries.length; i++) {
        // keep the threads busy: start later tensors while the budget allows (always the next one)
        while (next < entries.length && (next <= i || (next - i <= ahead && held + cost[next] <= budget))) {
          held += cost[next];
          const p = this.run({ id: this.nextId++, entry: toPortableEntry(entries[next]), chunkElements: o.chunkElements, ioOnly: o.ioOnly });
          p.catch(() => {}); // observed in order below
          results.push(p);
          next++;
        }
        if (signal?.aborted) throw new CancelledError();
        const bytes = await results[i];
        if (signal?.aborted) throw new CancelledError();
        await write.chunk(entries[i], { start: 0, count: elementCount(entries[i].shape) }, bytes);
        await write.done(entries[i]);
        held -= cost[i];
        results[i] = Promise.resolve(new Uint8Array(0)); // let the bytes go
      }
    } catch (e) {
      this.dispose(); // stop every thread still working for this merge
      throw signal?.aborted ? new CancelledError() : e;
    } finally {
      signal?.removeEventListener('abort', onAbort);
    }
  }

  /** The method's masks, computed in the calling thread (the same bits as the WebGPU engine's). */
  entryMasks(entry: PlanEntry, o?: PruneOptions): Promise<EntryMasks | undefined> {
    return cpuEntryMasks(entry, o);
  }

  decodedInput(entry: PlanEntry, i: number, o?: PruneOptions): Promise<Float32Array> {
    return cpuDecodedInput(entry, entry.inputs[i], o);
  }

  private run(task: CpuTask): Promise<Uint8Array> {
    return new Promise((resolve, reject) => {
      this.queue.push({ task, resolve, reject });
      this.pump();
    });
  }

  private pump(): void {
    while (this.queue.length) {
      let w = this.idle.pop();
      if (!w && this.all.length < this.opts.threads) w = this.spawn();
      if (!w) return;
      const { task, resolve, reject } = this.queue.shift()!;
      this.pending.set(task.id, { resolve, reject, worker: w, task });
      w.post(task);
    }
  }

  private spawn(): PoolWorker {
    const w = this.opts.spawn!();
    this.all.push(w);
    w.listen(
      (r) => {
        const p = this.pending.get(r.id);
        if (!p) return;
        this.pending.delete(r.id);
        this.idle.push(w);
        if (r.ok) p.resolve(r.bytes);
        else p.reject(fromRecord(r.error));
        this.pump();
      },
      (e) => {
        // a crashed thread (out of memory, a bug): fail its task with a message, never hang
        this.all = this.all.filter((x) => x !== w);
        this.idle = this.idle.filter((x) => x !== w);
        for (const [id, p] of this.pending)
          if (p.worker === w) {
            this.pending.delete(id);
            p.reject(e instanceof StudioError ? e : outOfMemory(p.task.entry, `the CPU engine thread merging it stopped: ${e.message}`));
          }
        this.pump();
      },
    );
    return w;
  }

  dispose(): void {
    for (const w of this.all) w.terminate();
    for (const [, p] of this.pending) p.reject(new CancelledError());
    for (const q of this.queue) q.reject(new CancelledError());
    this.all = [];
    this.idle = [];
    this.pending.clear();
    this.queue = [];
  }
}

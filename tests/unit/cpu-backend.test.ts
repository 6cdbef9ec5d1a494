// The CPU engine's thread pool: tensors come back in plan order whatever order the threads finish
// in, a failing tensor's typed error reaches the caller, and a thread that dies (out of memory)
// fails its tensor with a message naming the tensor and the memory it needs — never a hang.
import { describe, expect, test } from 'vitest';
import { CpuBackend, type PoolWorker } from '../../src/backends/cpu/backend';
import { outOfMemory, runCpuTask, type CpuReply, type CpuTask } from '../../src/backends/cpu/task';
import { MemorySource } from '../../src/io/sources';
import type { PlanEntry } from '../../src/recipe/plan-types';

function entry(name: string, n: number, value: number): PlanEntry {
  const data = new Float32Array(n).fill(value);
  return {
    name,
    shape: [n],
    method: 'linear',
    params: {},
    outDtype: 'F32',
    seed: 1,
    inputs: [{ model: 'm', isBase: false, params: { weight: 1 }, tensor: { name, dtype: 'F32', shape: [n], source: new MemorySource(`${name}.bin`, new Uint8Array(data.buffer)), byteOffset: 0, byteLength: n * 4 } }],
  };
}

/** In-process "threads" that answer after a delay (later tasks first) or crash on demand. */
function fakePool(o: { crashOn?: string } = {}) {
  return (): PoolWorker => {
    let reply: (r: CpuReply) => void = () => {};
    let crash: (e: Error) => void = () => {};
    return {
      post(t: CpuTask) {
        if (t.entry.name === o.crashOn) {
          setTimeout(() => crash(new Error('the thread exited with code 134')), 5);
          return;
        }
        const delay = t.entry.name === 'a' ? 30 : 1;
        void runCpuTask(t).then((r) => setTimeout(() => reply(r), delay));
      },
      listen(onReply, onCrash) {
        reply = onReply;
        crash = onCrash;
      },
      terminate() {},
    };
  };
}

describe('CpuBackend pool', () => {
  test('results are written in plan order even when a later tensor finishes first', async () => {
    const be = new CpuBackend({ threads: 2, spawn: fakePool() });
    const seen: string[] = [];
    const values: number[] = [];
    await be.mergeTensors([entry('a', 8, 1), entry('b', 8, 2), entry('c', 8, 3)], {
      async chunk(e, _c, bytes) {
        seen.push(e.name);
        values.push(new Float32Array(bytes.slice().buffer)[0]);
      },
      async done() {},
    });
    expect(seen).toEqual(['a', 'b', 'c']);
    expect(values).toEqual([1, 2, 3]);
    be.dispose();
  });

  test('a thread that dies fails its tensor with a resource error naming it and the memory it needs', async () => {
    const be = new CpuBackend({ threads: 2, spawn: fakePool({ crashOn: 'b' }) });
    const run = be.mergeTensors([entry('a', 8, 1), entry('b', 1000, 2)], { chunk: async () => {}, done: async () => {} });
    await expect(run).rejects.toMatchObject({ code: 'resource', details: { tensor: 'b' } });
    await expect(run).rejects.toThrow(/tensor "b" \[1000\] needs about 0\.00 GiB of memory on the CPU engine .*thread exited with code 134/);
  });

  test('the message of an allocation failure in a thread names the tensor and what it needs', () => {
    const e = { ...entry('model.embed_tokens.weight', 4, 1), shape: [151936, 896] };
    const err = outOfMemory(e, 'Array buffer allocation failed');
    expect(err.code).toBe('resource');
    expect(err.details.tensor).toBe('model.embed_tokens.weight');
    // one F32 input held as bytes past the decode budget (0.51 GiB) + a chunk + f32 and encoded output
    expect(err.message).toMatch(/^tensor "model\.embed_tokens\.weight" \[151936, 896\] needs about 1\.5\d GiB .*Array buffer allocation failed.*--threads/);
  });
});

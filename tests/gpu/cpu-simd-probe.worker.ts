// A Web Worker for tests/gpu/cpu-simd.test.ts: reports which kernels the CPU engine's code runs in a
// worker (the browser CPU engine's threads are such workers) and merges one entry there.
import { cpuKernels } from '../../src/methods/shared/cpu/simd';
import { cpuTensorBytes } from '../../src/backends/cpu/tensor';
import { fromPortableEntry, type PortableEntry } from '../../src/backends/cpu/task';

self.onmessage = async (ev: MessageEvent<PortableEntry>) => {
  const bytes = await cpuTensorBytes(fromPortableEntry(ev.data), {});
  (self as unknown as Worker).postMessage({ kernels: cpuKernels(), bytes }, [bytes.buffer as ArrayBuffer]);
};

// The CPU engine's worker thread in the browser (a dedicated worker started by the engine worker).
import { runCpuTask, type CpuTask } from './task';

self.onmessage = (ev: MessageEvent<CpuTask>) => {
  void runCpuTask(ev.data).then((r) => (self as unknown as Worker).postMessage(r, r.ok ? [r.bytes.buffer as ArrayBuffer] : []));
};

// The CPU engine's worker thread in Node (started by node-pool.ts through node-worker-boot.mjs).
import { parentPort } from 'node:worker_threads';
import { NodeFileSource } from '../../io/node-source';
import { openNodeHubSource } from '../../io/hub/node-thread';
import { setNodeFileOpener } from '../../io/portable';
import { runCpuTask, type CpuTask } from './task';

// local files, and Hub files read by this thread itself through the CLI's disk cache
setNodeFileOpener((p) => {
  if (p.kind === 'node-hub') return openNodeHubSource(p);
  if (p.kind !== 'node-file') throw new Error('not a node file');
  return NodeFileSource.fromPortable(p);
});

parentPort!.on('message', (t: CpuTask) => {
  void runCpuTask(t).then((r) => parentPort!.postMessage(r, r.ok ? [r.bytes.buffer as ArrayBuffer] : []));
});

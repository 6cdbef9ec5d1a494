// The merge command's CPU path: the CPU engine in Node, no browser. Files are read with positional
// reads by the worker threads and written into the same atomic output folder (OutputDir: a
// temporary name, validated, renamed when complete) as the WebGPU path's.
import type { MergeProgress, MergeRequest, MergeSummary } from '../worker/api';
import type { ModelInfo } from '../formats/model-info';
import type { FileWriter, OutputSink } from '../io/types';
import type { MergeBackend } from '../backends/types';
import { runMerge } from '../merge/run';
import type { OutputDir } from './output-dir';
import { existsSync, readdirSync } from 'node:fs';
import { platform } from 'node:os';

/** OutputDir as the engine's OutputSink. */
export function outputDirSink(dir: OutputDir): OutputSink {
  return {
    async create(path: string): Promise<FileWriter> {
      const id = await dir.openFile(path);
      let offset = 0;
      return {
        async write(bytes) {
          offset = await dir.writeBytes(id, offset, bytes);
        },
        async close() {
          await dir.closeFile(id);
        },
      };
    },
    commit: async () => void (await dir.commit()),
    abort: () => dir.abort(),
  };
}

export interface NodeMergeOptions {
  request: Omit<MergeRequest, 'models' | 'output'>;
  models: Map<string, ModelInfo>;
  output: OutputDir;
  backend: MergeBackend;
  signal: AbortSignal;
  onProgress: (p: MergeProgress) => void;
}

export function nodeMerge(o: NodeMergeOptions): Promise<MergeSummary> {
  // models are already open (Node file sources) and the sink is the output folder: the request's
  // own model list and output spec are not used on this path
  const req: MergeRequest = { ...o.request, models: [], output: { kind: 'memory' } };
  return runMerge(req, o.backend, { models: o.models, sink: outputDirSink(o.output), signal: o.signal, onProgress: o.onProgress });
}

/**
 * Whether this machine may have a hardware GPU that Chromium could use. On Linux a GPU shows up as
 * a DRM render node or an NVIDIA device file; without one, WebGPU can only be SwiftShader, so
 * `--backend auto` goes straight to the CPU engine without starting a browser. Elsewhere: maybe.
 */
export function mayHaveHardwareGpu(): boolean {
  if (platform() !== 'linux') return true;
  try {
    if (readdirSync('/dev/dri').some((n) => n.startsWith('renderD'))) return true;
  } catch {
    /* no /dev/dri */
  }
  return existsSync('/dev/nvidia0') || existsSync('/dev/dxg');
}

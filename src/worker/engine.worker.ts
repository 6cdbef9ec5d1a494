// The engine worker: owns the one GPUDevice and exposes the EngineApi over comlink. Thin on
// purpose — the logic lives in merge/ and gpu/, importable from tests.
import * as Comlink from 'comlink';
import type { CabsExportRequest, CabsExportResult, DiagnosticsReply, DiagnosticsRequest, EngineApi, MergeProgress, MergeRequest, MergeResult } from './api';
import { getGpu, gpuReport } from '../gpu/device';
import { loadModels, runMerge } from '../merge/run';
import { exportCabs } from '../merge/cabs-export';
import { MemorySink, sinkFor } from '../io/sinks';
import { toRecord } from '../errors';
import { DiagnosticsSession } from '../merge/diagnostics-session';

let current: AbortController | null = null;
const diagnosticsSession = new DiagnosticsSession();

const api: EngineApi = {
  async capabilities() {
    return gpuReport(await getGpu().catch(() => null));
  },
  async merge(req: MergeRequest, onProgress?: (p: MergeProgress) => void): Promise<MergeResult> {
    current?.abort();
    const ctl = new AbortController();
    current = ctl;
    try {
      const gpu = await getGpu();
      const summary = await runMerge(req, gpu, { signal: ctl.signal, onProgress });
      return { ok: true, summary: summary.memoryFiles ? Comlink.transfer(summary, Object.values(summary.memoryFiles).map((b) => b.buffer as ArrayBuffer)) : summary };
    } catch (e) {
      return { ok: false, error: toRecord(e) };
    } finally {
      if (current === ctl) current = null;
    }
  },
  cancel() {
    current?.abort();
  },
  diagnostics(req: DiagnosticsRequest): Promise<DiagnosticsReply> {
    return diagnosticsSession.run(getGpu, req);
  },
  async exportCabs(req: CabsExportRequest): Promise<CabsExportResult> {
    current?.abort();
    const ctl = new AbortController();
    current = ctl;
    try {
      const gpu = await getGpu();
      const models = await loadModels(req.models, ctl.signal);
      const sink = sinkFor(req.output);
      const s = await exportCabs(gpu, { recipe: req.recipe, models, sink, seed: req.seed, maxShardBytes: req.maxShardBytes, chunkElements: req.chunkElements, signal: ctl.signal });
      const memoryFiles = sink instanceof MemorySink ? sink.files : undefined;
      const summary = { ...s, memoryFiles };
      return { ok: true, summary: memoryFiles ? Comlink.transfer(summary, Object.values(memoryFiles).map((b) => b.buffer as ArrayBuffer)) : summary };
    } catch (e) {
      return { ok: false, error: toRecord(e) };
    } finally {
      if (current === ctl) current = null;
    }
  },
};

Comlink.expose(api);

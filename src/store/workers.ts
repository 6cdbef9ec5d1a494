// The two workers the studio talks to, started once and shared: the engine (owns the GPUDevice,
// runs merges) and the inspector (headers, planning, hashing). Not part of any store's state.
import * as Comlink from 'comlink';
import { startEngine, type EngineHandle } from '../worker/client';
import type { InspectorApi } from './inspector-api';

let engine: EngineHandle | null = null;
let inspector: Comlink.Remote<InspectorApi> | null = null;

export function getEngine(): EngineHandle {
  engine ??= startEngine();
  return engine;
}

export function getInspector(): Comlink.Remote<InspectorApi> {
  if (!inspector) {
    const w = new Worker(new URL('./inspector.worker.ts', import.meta.url), { type: 'module', name: 'inspector' });
    inspector = Comlink.wrap<InspectorApi>(w);
  }
  return inspector;
}

/** Wraps a callback so the inspector worker can call it. */
export const callback = <T extends (...a: never[]) => unknown>(f: T): T => Comlink.proxy(f);

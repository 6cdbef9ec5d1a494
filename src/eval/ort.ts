// The one door to onnxruntime-web. It imports `onnxruntime-web/webgpu` (the native C++ WebGPU
// EP): the default entry (JSEP) ignores a device passed in the EP options and silently returns
// zeros for inputs created on another device, so it must never be imported anywhere.
//
// The runtime's glue (.mjs) and binary (.wasm) are imported as asset URLs and handed to
// ort.env.wasm.wasmPaths, so Vite dev (where dependency pre-bundling moves the library and breaks
// its `new URL(…, import.meta.url)`), `vite build` and vitest's browser mode all load the same
// two files. The same asyncify build runs both the WebGPU and the wasm (CPU) EP.
import * as ort from 'onnxruntime-web/webgpu';
import ortWasmUrl from 'onnxruntime-web/ort-wasm-simd-threaded.asyncify.wasm?url';
import ortMjsUrl from 'onnxruntime-web/ort-wasm-simd-threaded.asyncify.mjs?url';

export { ort };

export interface OrtSetup {
  /** wasm threads for CPU kernels; only > 1 when the page is cross-origin isolated (default: ORT's choice). */
  numThreads?: number;
  logLevel?: 'verbose' | 'info' | 'warning' | 'error' | 'fatal';
}

let configured = false;

/** Points ORT at its runtime files once; later calls may change threads / log level until the first session. */
export function configureOrt(setup: OrtSetup = {}): void {
  if (!configured) {
    ort.env.wasm.wasmPaths = { wasm: new URL(ortWasmUrl, self.location.href), mjs: new URL(ortMjsUrl, self.location.href) };
    ort.env.wasm.proxy = false;
    ort.env.logLevel = 'warning';
    configured = true;
  }
  const isolated = typeof self !== 'undefined' && self.crossOriginIsolated === true;
  if (setup.numThreads !== undefined) ort.env.wasm.numThreads = isolated ? Math.max(1, Math.floor(setup.numThreads)) : 1;
  else if (!isolated) ort.env.wasm.numThreads = 1; // ORT would warn and fall back anyway
  if (setup.logLevel) ort.env.logLevel = setup.logLevel;
}

/** Where a session runs: on the engine's GPUDevice (so merged weight buffers are valid inputs) or on the CPU. */
export type SessionTarget = { ep: 'webgpu'; device: GPUDevice } | { ep: 'wasm' };

export interface SessionOptions {
  /** Keep outputs on the GPU ('gpu-buffer'); default 'cpu'. Per output name, or one for all. */
  outputLocation?: ort.Tensor.DataLocation | Record<string, ort.Tensor.DataLocation>;
  /** Fix symbolic dims (batch, sequence, …) for faster kernels / graph capture. */
  freeDimensionOverrides?: Record<string, number>;
  logLevel?: OrtSetup['logLevel'];
}

/**
 * Creates a session from ONNX bytes. WebGPU sessions share the caller's device
 * (`executionProviders: [{ name: 'webgpu', device }]`), so buffers created by the merge engine can be
 * fed with `ort.Tensor.fromGpuBuffer`. Creation and runs are queued one at a time (see `runSession`).
 */
export function createSession(bytes: Uint8Array, target: SessionTarget, opts: SessionOptions = {}): Promise<ort.InferenceSession> {
  configureOrt();
  const options: ort.InferenceSession.SessionOptions = {
    executionProviders: target.ep === 'webgpu' ? [{ name: 'webgpu', device: target.device }] : ['wasm'],
    graphOptimizationLevel: 'all',
  };
  if (opts.outputLocation) options.preferredOutputLocation = opts.outputLocation as ort.InferenceSession.SessionOptions['preferredOutputLocation'];
  if (opts.freeDimensionOverrides) options.freeDimensionOverrides = opts.freeDimensionOverrides;
  // 'error' by default: ORT warns on every session that shape ops run on the CPU, which is by design here.
  options.logSeverityLevel = ({ verbose: 0, info: 1, warning: 2, error: 3, fatal: 4 } as const)[opts.logLevel ?? 'error'];
  return exclusive(() => ort.InferenceSession.create(bytes, options));
}

/**
 * Runs a session. The asyncify runtime is one wasm instance shared by every session and cannot
 * interleave two calls ("Session already started" / corrupted state), so all creations and runs
 * go through one queue.
 */
export function runSession(session: ort.InferenceSession, feeds: Record<string, ort.Tensor>, fetches?: readonly string[]): Promise<ort.InferenceSession.ReturnType> {
  return exclusive(() => (fetches ? session.run(feeds, fetches) : session.run(feeds)));
}

let queue: Promise<unknown> = Promise.resolve();

function exclusive<T>(job: () => Promise<T>): Promise<T> {
  const next = queue.then(job, job);
  queue = next.catch(() => undefined);
  return next;
}

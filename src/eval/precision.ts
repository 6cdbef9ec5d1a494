// Which float type the evaluation graph computes in. f16 (weights, activations and KV cache in
// half precision; RMSNorm statistics, rotary angles, softmax and logits still f32 — graph.ts)
// halves the graph's weight reads and activation memory, and needs WGSL's `shader-f16` on the
// device ORT's WebGPU EP runs on. The merged weights stay f32 on the GPU (the merge kernels, the
// sparsity measures and the accuracy check read them); the f16 copies fed to the graph are encoded
// from them on the GPU (weights.ts), nothing is read back.
import type { GraphDtype } from './graph';
import { EvalError } from '../errors';

/** 'auto': f16 on a WebGPU device with shader-f16, f32 everywhere else. */
export type EvalPrecision = 'auto' | 'float32' | 'float16';

/**
 * The graph dtype for a backend and the device's features. The wasm backend always computes in f32
 * (its weights are f32 arrays and ORT's wasm f16 kernels bring no speed); WebGPU uses f16 when the
 * device has `shader-f16` ('auto') and refuses a forced 'float16' without it.
 */
export function graphDtypeFor(backend: 'webgpu' | 'wasm', deviceFeatures: readonly string[], want: EvalPrecision = 'auto'): GraphDtype {
  if (want === 'float32') return 'float32';
  const f16 = backend === 'webgpu' && deviceFeatures.includes('shader-f16');
  if (want === 'float16' && !f16)
    throw new EvalError(
      backend === 'webgpu'
        ? 'f16 evaluation needs a WebGPU device with the "shader-f16" feature, which this adapter does not offer; use precision "auto" or "float32"'
        : 'f16 evaluation runs on WebGPU only; the wasm backend evaluates in f32',
      { key: 'precision' },
    );
  return f16 ? 'float16' : 'float32';
}

// The evaluator's side of the backend door: where a target's merged weights live and how ORT is fed
// from them. Two engines, one surface, so EvalService never asks which it has:
//   WebGPU  — the merge kernels keep every tensor resident (resident.ts); ORT's WebGPU EP reads the
//             buffers directly (Tensor.fromGpuBuffer): zero weight readback;
//   CPU     — the CPU engine merges into Float32Arrays (cpu-weights.ts: each method's f32 replay
//             of its WebGPU passes, so the same values) and ORT runs its wasm EP.
import type { Gpu } from '../gpu/device';
import type { ModelInfo } from '../formats/model-info';
import { InputCache } from '../gpu/input-cache';
import { Batch, storage } from '../gpu/buffers';
import { decodeElements } from '../formats/dtype-codec';
import { encode16 } from '../gpu/ops';
import type { GraphDtype } from './graph';
import { graphDtypeFor, type EvalPrecision } from './precision';
import { EvalError } from '../errors';
import { ort, type SessionTarget } from './ort';
import { resolveTarget } from './target';
import { ResidentWeights } from './resident';
import { CpuInputCache, resolveTargetCpu, type CpuWeights } from './cpu-weights';
import { deltaStats, deltaStatsCpu, type DeltaStats } from './delta-stats';
import type { EvalTarget, ResolvedTarget } from './target-plan';

export type EvalBackend = 'webgpu' | 'wasm';

/** One target's f32 weights on an engine (values rounded through the recipe's output dtype). */
export interface EvalWeights {
  readonly backend: EvalBackend;
  names(): string[];
  /** Element count of a tensor, or undefined when the target has none of that name. */
  elements(name: string): number | undefined;
  /** Shape for messages. */
  shapeText(name: string): string;
  /**
   * The graph input for a tensor (its data stays where it is). 'float16' (WebGPU only): a half
   * copy encoded on the GPU from the f32 buffer, made once per tensor and freed with the weights.
   */
  feed(name: string, dims: number[], dtype?: GraphDtype): ort.Tensor;
  /** The values on the host (the accuracy check): GPU weights are read back and counted. */
  host(): Promise<{ values: Map<string, Float32Array>; bytesReadBack: number }>;
  dispose(): void;
}

export type ResolvedEvalWeights = ResolvedTarget<EvalWeights>;

export interface ResolveWeightsOptions {
  signal?: AbortSignal;
  tokenizerTexts: () => Promise<Map<string, string | undefined>>;
  store?: 'f32' | 'f16';
}

export interface WeightsEngine {
  readonly backend: EvalBackend;
  /** `store: 'f16'` (WebGPU; ignored on wasm): keep the merged tensors as f16 only, for an f16 graph that needs nothing else. */
  resolve(target: EvalTarget, models: Map<string, ModelInfo>, o: ResolveWeightsOptions): Promise<ResolvedEvalWeights>;
  /** The merged delta's sparsity against a base (and attraction toward `other`), on this engine. */
  deltaStats(merged: EvalWeights, base: EvalWeights, other?: EvalWeights): Promise<DeltaStats>;
  sessionTarget(): Promise<SessionTarget>;
  /** The dtype evaluation graphs compute in on this engine (precision.ts). */
  graphDtype(): Promise<GraphDtype>;
  /** Drops decoded inputs kept across candidates. */
  clear(): void;
}

export class GpuWeights implements EvalWeights {
  readonly backend = 'webgpu';
  private halves = new Map<string, GPUBuffer>();
  constructor(
    readonly resident: ResidentWeights,
    private gpu: Gpu,
  ) {}
  names(): string[] {
    return [...this.resident.tensors.keys()];
  }
  elements(name: string): number | undefined {
    return this.resident.get(name)?.shape.reduce((a, b) => a * b, 1);
  }
  shapeText(name: string): string {
    return `shape [${this.resident.get(name)?.shape.join(', ')}]`;
  }
  feed(name: string, dims: number[], dtype: GraphDtype = 'float32'): ort.Tensor {
    const t = this.resident.get(name)!;
    if (t.dtype === 'F16') {
      if (dtype !== 'float16') throw new EvalError(`internal error: tensor "${name}" is resident as f16 but the graph computes in f32`, { tensor: name });
      return ort.Tensor.fromGpuBuffer(t.buffer, { dataType: 'float16', dims });
    }
    if (dtype === 'float32') return ort.Tensor.fromGpuBuffer(t.buffer, { dataType: 'float32', dims });
    let half = this.halves.get(name);
    if (!half) {
      const n = t.shape.reduce((a, b) => a * b, 1);
      half = storage(this.gpu.device, Math.ceil(n / 2) * 4, `f16:${name}`);
      const b = new Batch(this.gpu.device);
      encode16(b, 'F16', t.buffer, half, n);
      // Queued before any session run that reads it (one device, one queue): no wait needed.
      void b.submit();
      this.halves.set(name, half);
    }
    return ort.Tensor.fromGpuBuffer(half, { dataType: 'float16', dims });
  }
  async host() {
    const values = new Map<string, Float32Array>();
    let bytesReadBack = 0;
    for (const [name, t] of this.resident.tensors) {
      const b = new Batch(this.gpu.device);
      const n = t.shape.reduce((a, x) => a * x, 1);
      const bytes = t.dtype === 'F16' ? Math.ceil(n / 2) * 4 : n * 4;
      b.read(t.buffer, bytes);
      const [raw] = await b.submit();
      values.set(name, t.dtype === 'F16' ? decodeElements(raw.subarray(0, n * 2), 'F16') : new Float32Array(raw.buffer, raw.byteOffset, n));
      bytesReadBack += bytes;
    }
    return { values, bytesReadBack };
  }
  dispose(): void {
    this.resident.dispose();
    for (const b of this.halves.values()) b.destroy();
    this.halves.clear();
  }
}

class CpuWeightsView implements EvalWeights {
  readonly backend = 'wasm';
  constructor(readonly values: CpuWeights) {}
  names(): string[] {
    return [...this.values.keys()];
  }
  elements(name: string): number | undefined {
    return this.values.get(name)?.length;
  }
  shapeText(name: string): string {
    return `${this.values.get(name)?.length} elements`;
  }
  feed(name: string, dims: number[], dtype: GraphDtype = 'float32'): ort.Tensor {
    if (dtype !== 'float32') throw new EvalError('internal error: the wasm backend feeds f32 weights only');
    return new ort.Tensor('float32', this.values.get(name)!, dims);
  }
  async host() {
    return { values: this.values, bytesReadBack: 0 };
  }
  dispose(): void {
    /* garbage-collected */
  }
}

export class GpuWeightsEngine implements WeightsEngine {
  readonly backend = 'webgpu';
  private cache = new InputCache(512 * 1024 * 1024);
  constructor(
    private getGpu: () => Promise<Gpu>,
    private precision: () => EvalPrecision = () => 'auto',
  ) {}

  async resolve(target: EvalTarget, models: Map<string, ModelInfo>, o: ResolveWeightsOptions): Promise<ResolvedEvalWeights> {
    const gpu = await this.getGpu();
    const r = await resolveTarget(gpu, target, models, { signal: o.signal, inputCache: this.cache, tokenizerTexts: o.tokenizerTexts, store: o.store });
    return { ...r, weights: new GpuWeights(r.weights, gpu) };
  }
  deltaStats(merged: EvalWeights, base: EvalWeights, other?: EvalWeights): Promise<DeltaStats> {
    return deltaStats(gpuOf(merged), gpuOf(base), other && gpuOf(other));
  }
  async sessionTarget(): Promise<SessionTarget> {
    return { ep: 'webgpu', device: (await this.getGpu()).device };
  }
  async graphDtype(): Promise<GraphDtype> {
    return graphDtypeFor('webgpu', [...(await this.getGpu()).device.features], this.precision());
  }
  clear(): void {
    this.cache.clear();
  }
}

export class CpuWeightsEngine implements WeightsEngine {
  readonly backend = 'wasm';
  private cache = new CpuInputCache(512 * 1024 * 1024);
  constructor(private precision: () => EvalPrecision = () => 'auto') {}

  async resolve(target: EvalTarget, models: Map<string, ModelInfo>, o: ResolveWeightsOptions): Promise<ResolvedEvalWeights> {
    const r = await resolveTargetCpu(target, models, { signal: o.signal, inputCache: this.cache, tokenizerTexts: o.tokenizerTexts });
    return { ...r, weights: new CpuWeightsView(r.weights) };
  }
  async deltaStats(merged: EvalWeights, base: EvalWeights, other?: EvalWeights): Promise<DeltaStats> {
    return deltaStatsCpu(cpuOf(merged), cpuOf(base), other && cpuOf(other));
  }
  async sessionTarget(): Promise<SessionTarget> {
    return { ep: 'wasm' };
  }
  async graphDtype(): Promise<GraphDtype> {
    return graphDtypeFor('wasm', [], this.precision());
  }
  clear(): void {
    this.cache.clear();
  }
}

function gpuOf(w: EvalWeights): ResidentWeights {
  if (!(w instanceof GpuWeights)) throw new EvalError('internal error: weights from another engine');
  for (const t of w.resident.tensors.values()) if (t.dtype === 'F16') throw new EvalError(`internal error: the sparsity measures need f32 weights, "${t.name}" is resident as f16`, { tensor: t.name });
  return w.resident;
}

function cpuOf(w: EvalWeights): CpuWeights {
  if (!(w instanceof CpuWeightsView)) throw new EvalError('internal error: weights from another engine');
  return w.values;
}

// The only place that requests the adapter and device. Asks for the adapter's own limits (the
// spec defaults are far smaller) and reports what it got, including software fallback.
import { GpuError } from '../errors';

/** What the studio's capability panel and the CLI's adapter line show (structured-cloneable). */
export interface GpuReport {
  available: boolean;
  vendor: string;
  architecture: string;
  description: string;
  isFallbackAdapter: boolean;
  features: string[];
  limits: { maxBufferSize: number; maxStorageBufferBindingSize: number; maxStorageBuffersPerShaderStage: number; maxComputeWorkgroupsPerDimension: number };
  /**
   * Which engine merges run on here (set by the engine worker): WebGPU on a hardware adapter, the
   * CPU engine otherwise (no WebGPU, no adapter, or only a software fallback adapter).
   */
  merge?: { engine: 'webgpu' | 'cpu'; description: string; reason?: string };
}

export interface Gpu {
  device: GPUDevice;
  adapterInfo: GPUAdapterInfo;
  isFallbackAdapter: boolean;
  features: string[];
  /** Largest f32 element count one storage binding may hold (capped at 256 MiB, ≤ 512 MiB buffers on SwiftShader). */
  maxBindingElements: number;
}

let pending: Promise<Gpu> | null = null;

export function getGpu(): Promise<Gpu> {
  pending ??= requestGpu().catch((e) => {
    pending = null;
    throw e;
  });
  return pending;
}

async function requestGpu(): Promise<Gpu> {
  if (typeof navigator === 'undefined' || !('gpu' in navigator) || !navigator.gpu)
    throw new GpuError('WebGPU is not available in this browser. Use a recent Chrome/Chromium/Edge (on Linux start it with --enable-unsafe-webgpu).');
  const adapter = await navigator.gpu.requestAdapter({ powerPreference: 'high-performance' });
  if (!adapter) throw new GpuError('No WebGPU adapter was found (navigator.gpu.requestAdapter returned null).');
  const l = adapter.limits;
  const requiredLimits: Record<string, number> = {
    maxBufferSize: l.maxBufferSize,
    maxStorageBufferBindingSize: l.maxStorageBufferBindingSize,
    maxStorageBuffersPerShaderStage: l.maxStorageBuffersPerShaderStage,
    maxComputeWorkgroupStorageSize: l.maxComputeWorkgroupStorageSize,
    maxComputeInvocationsPerWorkgroup: l.maxComputeInvocationsPerWorkgroup,
    maxComputeWorkgroupSizeX: l.maxComputeWorkgroupSizeX,
    // onnxruntime-web's WebGPU EP runs on this same device (src/eval/ort.ts) and asks for these at
    // the adapter maximum when it creates a device of its own.
    maxComputeWorkgroupSizeY: l.maxComputeWorkgroupSizeY,
    maxComputeWorkgroupSizeZ: l.maxComputeWorkgroupSizeZ,
    maxComputeWorkgroupsPerDimension: l.maxComputeWorkgroupsPerDimension,
  };
  const features: GPUFeatureName[] = [];
  for (const f of ['shader-f16', 'timestamp-query'] as GPUFeatureName[]) if (adapter.features.has(f)) features.push(f);
  const device = await adapter.requestDevice({ requiredLimits, requiredFeatures: features });
  device.addEventListener('uncapturederror', (ev) => {
    console.error('WebGPU uncaptured error:', (ev as GPUUncapturedErrorEvent).error.message);
  });
  const info = adapter.info;
  const isFallbackAdapter = (info as GPUAdapterInfo & { isFallbackAdapter?: boolean }).isFallbackAdapter ?? info.architecture === 'swiftshader';
  // SwiftShader advertises 1 GiB but fails above ~512 MiB; never bind more than 256 MiB at once.
  const bindBytes = Math.min(device.limits.maxStorageBufferBindingSize, device.limits.maxBufferSize, 256 * 1024 * 1024);
  return { device, adapterInfo: info, isFallbackAdapter, features: [...device.features] as string[], maxBindingElements: Math.floor(bindBytes / 4) };
}

export function gpuReport(gpu: Gpu | null): GpuReport {
  if (!gpu)
    return {
      available: false, vendor: '', architecture: '', description: '', isFallbackAdapter: false, features: [],
      limits: { maxBufferSize: 0, maxStorageBufferBindingSize: 0, maxStorageBuffersPerShaderStage: 0, maxComputeWorkgroupsPerDimension: 0 },
    };
  const l = gpu.device.limits;
  return {
    available: true,
    vendor: gpu.adapterInfo.vendor,
    architecture: gpu.adapterInfo.architecture,
    description: gpu.adapterInfo.description,
    isFallbackAdapter: gpu.isFallbackAdapter,
    features: gpu.features,
    limits: {
      maxBufferSize: l.maxBufferSize,
      maxStorageBufferBindingSize: l.maxStorageBufferBindingSize,
      maxStorageBuffersPerShaderStage: l.maxStorageBuffersPerShaderStage,
      maxComputeWorkgroupsPerDimension: l.maxComputeWorkgroupsPerDimension,
    },
  };
}

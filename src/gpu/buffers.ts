// Buffer helpers: storage buffers, uploads (padded to 4 bytes), readbacks, and a batch that records
// dispatches and frees its temporaries after submit. With a TrafficMeter, uploads, clears and
// readbacks count their bytes (kernels count theirs in dispatch).
import type { Recorder } from './kernels';
import type { TrafficMeter } from './traffic';

export const STORAGE = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;

export function storage(device: GPUDevice, bytes: number, label = 'storage'): GPUBuffer {
  return device.createBuffer({ label, size: Math.max(16, Math.ceil(bytes / 16) * 16), usage: STORAGE });
}

/** Uploads bytes (any length) into a new storage buffer, padding to a 4-byte multiple. */
export function uploadBytes(device: GPUDevice, bytes: Uint8Array, label = 'upload', traffic?: TrafficMeter): GPUBuffer {
  const buf = storage(device, bytes.byteLength, label);
  const aligned = bytes.byteLength & ~3;
  if (aligned > 0) device.queue.writeBuffer(buf, 0, bytes.buffer, bytes.byteOffset, aligned);
  if (aligned < bytes.byteLength) {
    const tail = new Uint8Array(4);
    tail.set(bytes.subarray(aligned));
    device.queue.writeBuffer(buf, aligned, tail);
  }
  traffic?.add('upload', Math.ceil(bytes.byteLength / 4) * 4);
  return buf;
}

export function uploadF32(device: GPUDevice, data: Float32Array, label = 'f32', traffic?: TrafficMeter): GPUBuffer {
  const buf = storage(device, data.byteLength, label);
  if (data.byteLength) device.queue.writeBuffer(buf, 0, data.buffer, data.byteOffset, data.byteLength);
  traffic?.add('upload', data.byteLength);
  return buf;
}

export function uploadU32(device: GPUDevice, data: Uint32Array, label = 'u32', traffic?: TrafficMeter): GPUBuffer {
  const buf = storage(device, data.byteLength, label);
  if (data.byteLength) device.queue.writeBuffer(buf, 0, data.buffer, data.byteOffset, data.byteLength);
  traffic?.add('upload', data.byteLength);
  return buf;
}

export class Batch implements Recorder {
  enc: GPUCommandEncoder;
  temps: GPUBuffer[] = [];
  private reads: { src: GPUBuffer; offset: number; bytes: number; staging: GPUBuffer }[] = [];
  constructor(
    readonly device: GPUDevice,
    readonly traffic?: TrafficMeter,
  ) {
    this.enc = device.createCommandEncoder();
  }
  /** Zero-fills a buffer range (multiple of 4 bytes). */
  clear(buf: GPUBuffer, offset = 0, size?: number): void {
    this.enc.clearBuffer(buf, offset, size);
    this.traffic?.add('clear', size ?? buf.size - offset);
  }
  /** Schedules a copy of [offset, offset+bytes) of `src` into a mappable buffer; returned by submit(). */
  read(src: GPUBuffer, bytes: number, offset = 0): number {
    const size = Math.max(4, Math.ceil(bytes / 4) * 4);
    const staging = this.device.createBuffer({ label: 'readback', size, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
    this.enc.copyBufferToBuffer(src, offset, staging, 0, size);
    this.traffic?.add('readback', size);
    this.reads.push({ src, offset, bytes, staging });
    return this.reads.length - 1;
  }
  /** Submits; resolves with the scheduled reads (exact byte lengths), after the GPU finished. */
  async submit(): Promise<Uint8Array[]> {
    this.device.queue.submit([this.enc.finish()]);
    for (const t of this.temps) t.destroy();
    this.temps = [];
    const out: Uint8Array[] = [];
    for (const r of this.reads) {
      await r.staging.mapAsync(GPUMapMode.READ);
      out.push(new Uint8Array(r.staging.getMappedRange(0, Math.max(4, Math.ceil(r.bytes / 4) * 4)).slice(0, r.bytes)));
      r.staging.unmap();
      r.staging.destroy();
    }
    this.reads = [];
    return out;
  }
}

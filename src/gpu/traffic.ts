// GPU memory traffic of a merge, counted without a GPU: every kernel dispatch adds the bytes its
// entry point declares it reads and writes (gpu/kernels.ts, over the range it touches, as a
// function of its uniforms), and every upload (queue.writeBuffer, uniform blocks included), clear
// and readback adds its size. On a real GPU a merge is bandwidth-bound, so its time follows
// traffic ÷ (input bytes + output bytes).

/** Where counted bytes came from: a kernel as "family.entry", or one of these transfers. */
export type TrafficPart = 'upload' | 'uniforms' | 'clear' | 'readback' | `${string}.${string}`;

/** A merge's GPU traffic (structured-cloneable: it travels in MergeSummary). */
export interface GpuTraffic {
  /** All bytes read and written: kernels, uploads (uniform blocks too), clears, readbacks. */
  bytes: number;
  /** Stored bytes of every input tensor read (each input once, in its stored dtype). */
  inputBytes: number;
  /** Encoded output bytes. */
  outputBytes: number;
  /** Kernel dispatches recorded. */
  dispatches: number;
  /** bytes by part: 'upload', 'uniforms', 'clear', 'readback', and per kernel "family.entry". */
  parts: Record<string, number>;
}

/** Host ⇄ device transfers among the parts (the rest is device memory traffic). */
export const HOST_PARTS: readonly TrafficPart[] = ['upload', 'uniforms', 'readback'];

export class TrafficMeter {
  bytes = 0;
  dispatches = 0;
  inputBytes = 0;
  outputBytes = 0;
  readonly parts = new Map<string, number>();

  add(part: TrafficPart, bytes: number): void {
    if (!(bytes > 0)) return;
    this.bytes += bytes;
    this.parts.set(part, (this.parts.get(part) ?? 0) + bytes);
  }

  summary(): GpuTraffic {
    return { bytes: this.bytes, inputBytes: this.inputBytes, outputBytes: this.outputBytes, dispatches: this.dispatches, parts: Object.fromEntries(this.parts) };
  }
}

/** traffic ÷ (input + output); with `deviceOnly`, host transfers (uploads, uniforms, readbacks) left out. */
export function trafficRatio(t: GpuTraffic, deviceOnly = false): number {
  const host = deviceOnly ? HOST_PARTS.reduce((a, p) => a + (t.parts[p] ?? 0), 0) : 0;
  const denom = t.inputBytes + t.outputBytes;
  return denom > 0 ? (t.bytes - host) / denom : 0;
}

// The CPU engine's WebAssembly SIMD kernels (shaders/cpu/*.wat, assembled into wasm-kernels.gen.ts
// by `npm run build:wasm`): one instance per thread — a Node worker thread, a Web Worker, or the
// calling thread of the evaluator's CPU weights — compiled on first use, its memory grown to the
// largest block layout asked for. When the engine cannot validate a SIMD module (an engine without
// 128-bit SIMD), or SIMD is turned off (MERGE_CPU_SIMD=0 in Node, setCpuSimd(false)), kernels fall
// back to their scalar JS twins, which give the same bytes.
import type { Dtype } from '../../../formats/dtype';
import { WSUM_WASM } from './wasm-kernels.gen';

/** A stored kind / rounding target as the kernels number them: F32 0, BF16 1, F16 2. */
export type KernelDtype = 0 | 1 | 2;

export function kernelDtype(d: Dtype): KernelDtype | undefined {
  return d === 'F32' ? 0 : d === 'BF16' ? 1 : d === 'F16' ? 2 : undefined;
}

/** The exports of shaders/cpu/wsum.wat (pointers are byte offsets into `memory`, 16-byte aligned). */
interface WsumExports {
  memory: WebAssembly.Memory;
  wsum(src: number, kind: KernelDtype, w: number, acc: number, n: number, first: number): void;
  decode(src: number, kind: KernelDtype, round: number, dst: number, n: number): void;
  finish(acc: number, divide: number, d: number, kind: KernelDtype, dst: number, n: number): void;
  tsum(x: number, b: number, s: number, w: number, acc: number, n: number, first: number): void;
  tfinish(acc: number, b: number, divide: number, d: number, scale: number, lambda: number, kind: KernelDtype, dst: number, n: number): void;
  gw(x: number, b: number, mask: number, s: number, w: number, out: number, n: number): void;
  gsum(w: number, acc: number, n: number, first: number): void;
  gagree(w: number, sum: number, mixed: number, div: number, wk: number, n: number, first: number): void;
  cfinish(mixed: number, div: number, b: number, normalize: number, scale: number, lambda: number, kind: KernelDtype, dst: number, n: number): void;
}

/** One thread's instance of the wsum kernels and a view of its memory. */
export class WsumKernels {
  private view: Uint8Array;

  constructor(private readonly x: WsumExports) {
    this.view = new Uint8Array(x.memory.buffer);
  }

  /** The memory's bytes (a fresh view after growth: take it after reserve()). */
  get bytes(): Uint8Array {
    if (this.view.byteLength !== this.x.memory.buffer.byteLength) this.view = new Uint8Array(this.x.memory.buffer);
    return this.view;
  }

  /** Grows the memory to at least `size` bytes. */
  reserve(size: number): void {
    const have = this.x.memory.buffer.byteLength;
    if (size > have) this.x.memory.grow(Math.ceil((size - have) / 65536));
  }

  /** acc[e] = (first ? 0 : acc[e]) + w·x[e], x decoded from `src` as `kind`; n rounded up to 4 lanes. */
  wsum(src: number, kind: KernelDtype, w: number, acc: number, n: number, first: boolean): void {
    this.x.wsum(src, kind, w, acc, n, first ? 1 : 0);
  }

  /** dst = f32 values of `src` (kind), rounded through `round` (0: none, else a KernelDtype ≠ F32). */
  decode(src: number, kind: KernelDtype, round: KernelDtype, dst: number, n: number): void {
    this.x.decode(src, kind, round, dst, n);
  }

  /** dst = encode(divide ? acc ÷ d : acc) as `kind`. */
  finish(acc: number, divide: boolean, d: number, kind: KernelDtype, dst: number, n: number): void {
    this.x.finish(acc, divide ? 1 : 0, d, kind, dst, n);
  }

  /** The apply-sweep kernels (called directly: their arguments are plain pointers and flags). */
  get gta(): GtaKernels {
    return this.x;
  }

  /** Task arithmetic: t = ((x − b)·s)·w over f32 values at x and b; acc = first ? t : t + acc (no 0 + t: −0 stays). */
  tsum(x: number, b: number, s: number, w: number, acc: number, n: number, first: boolean): void {
    this.x.tsum(x, b, s, w, acc, n, first ? 1 : 0);
  }

  /** dst = encode(b + (acc ÷ d when divide) × λ when scale) as `kind`. */
  tfinish(acc: number, b: number, divide: boolean, d: number, scale: boolean, lambda: number, kind: KernelDtype, dst: number, n: number): void {
    this.x.tfinish(acc, b, divide ? 1 : 0, d, scale ? 1 : 0, lambda, kind, dst, n);
  }
}

/** The exports for the generalized task arithmetic family's apply sweep (methods/gta/cpu.ts). */
export interface GtaKernels {
  /** W = fround(fround(d·s)·w), d = x − b where kept (mask: the block's keep words at that offset; 0: all kept), else +0. */
  gw(x: number, b: number, mask: number, s: number, w: number, out: number, n: number): void;
  /** acc = first ? W : W + acc. */
  gsum(w: number, acc: number, n: number, first: number): void;
  /** One model's sign election into mixed / div (gta.wgsl gta_agree). */
  gagree(w: number, sum: number, mixed: number, div: number, wk: number, n: number, first: number): void;
  /** dst = encode(b + (mixed ÷ (div = 0 ? 1 : div) when normalize) × λ when scale). */
  cfinish(mixed: number, div: number, b: number, normalize: number, scale: number, lambda: number, kind: KernelDtype, dst: number, n: number): void;
}

/** The smallest module using a 128-bit SIMD instruction: (func (result v128) (v128.const i32x4 0 0 0 0)). */
const SIMD_PROBE = new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123, 3, 2, 1, 0, 10, 22, 1, 20, 0, 253, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 11]);

export type CpuKernelKind = 'wasm-simd' | 'js';

let forced: boolean | undefined;
let state: { kind: CpuKernelKind; why: string; wsum?: WsumKernels } | undefined;

function base64Bytes(s: string): Uint8Array<ArrayBuffer> {
  const bin = atob(s);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

function envOff(): boolean {
  const env = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env;
  return env?.MERGE_CPU_SIMD === '0';
}

function load(): NonNullable<typeof state> {
  if (forced === false) return { kind: 'js', why: 'SIMD kernels turned off (setCpuSimd(false))' };
  if (forced === undefined && envOff()) return { kind: 'js', why: 'SIMD kernels turned off (MERGE_CPU_SIMD=0)' };
  if (typeof WebAssembly === 'undefined') return { kind: 'js', why: 'no WebAssembly in this thread' };
  if (!WebAssembly.validate(SIMD_PROBE)) return { kind: 'js', why: 'this engine does not support WebAssembly 128-bit SIMD' };
  try {
    // small (about 3 KB, under the 4 KB Chromium compiles synchronously on a page's main thread)
    const inst = new WebAssembly.Instance(new WebAssembly.Module(base64Bytes(WSUM_WASM)));
    return { kind: 'wasm-simd', why: 'WebAssembly 128-bit SIMD', wsum: new WsumKernels(inst.exports as unknown as WsumExports) };
  } catch (e) {
    return { kind: 'js', why: `the SIMD kernels failed to compile (${e instanceof Error ? e.message : String(e)})` };
  }
}

/** This thread's wsum kernels, or undefined when the scalar JS twin must run. */
export function wsumKernels(): WsumKernels | undefined {
  return (state ??= load()).wsum;
}

/** Which kernels the CPU engine runs in this thread, and why. */
export function cpuKernels(): { kind: CpuKernelKind; why: string } {
  const s = (state ??= load());
  return { kind: s.kind, why: s.why };
}

/** Forces the scalar JS kernels (false), or back to detection (undefined) — tests and benchmarks. */
export function setCpuSimd(on: boolean | undefined): void {
  forced = on;
  state = undefined;
}

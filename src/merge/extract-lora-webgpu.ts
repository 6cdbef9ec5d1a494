// The extraction's products on WebGPU: the lora_matmul kernel (gpu/ops-lora.ts), operands uploaded
// once per array (the delta is used by every product of its module), results read back as f32.
// The same bits as the CPU twin (cpuMatmul), so an extraction gives the same adapter on both engines.
import { Batch, storage, uploadBytes } from '../gpu/buffers';
import { loraMatmul } from '../gpu/ops-lora';
import type { MatmulEngine } from './extract-lora';

export function webgpuMatmul(device: GPUDevice): MatmulEngine {
  // the two most recently used operands stay on the device (the delta is in every product)
  const kept: { data: Float32Array; buf: GPUBuffer }[] = [];
  const bufferOf = (data: Float32Array): GPUBuffer => {
    const at = kept.findIndex((k) => k.data === data);
    if (at >= 0) {
      const [hit] = kept.splice(at, 1);
      kept.push(hit);
      return hit.buf;
    }
    const buf = uploadBytes(device, new Uint8Array(data.buffer, data.byteOffset, data.byteLength), 'extract.operand');
    kept.push({ data, buf });
    if (kept.length > 2) kept.shift()!.buf.destroy();
    return buf;
  };
  return {
    name: 'WebGPU',
    async product(L, R, rows, cols, inner) {
      const n = rows * cols;
      const b = new Batch(device);
      const out = storage(device, n * 4, 'extract.product');
      const lb = bufferOf(L.data);
      const rb = bufferOf(R.data);
      loraMatmul(b, { buf: lb, off: L.off, s0: L.s0, s1: L.s1 }, { buf: rb, off: R.off, s0: R.s0, s1: R.s1 }, out, { cols, inner, start: 0, n });
      b.read(out, n * 4);
      b.temps.push(out);
      const [bytes] = await b.submit();
      return new Float32Array(bytes.buffer, bytes.byteOffset, n);
    },
    dispose() {
      for (const k of kept.splice(0)) k.buf.destroy();
    },
  };
}

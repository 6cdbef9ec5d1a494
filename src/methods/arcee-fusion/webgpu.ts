import type { GpuMethod } from '../shared/webgpu/types';
import { fusionApply, importance, negativeBlocks, rowKl, type ImportanceForm } from '../../gpu/ops-fusion';
import { selectTopKs, type KeyBuffer } from '../shared/webgpu/select';
import { collectPartials, sum64, emitInput } from '../shared/webgpu/stats';
import type { Chunk, TensorJob } from '../../gpu/tensor-job';
import { fusionQuantileIndices, fusionRowLen, fusionThreshold, quantileSelection } from './fusion-math';

const f32 = (bits: number): number => new Float32Array(Uint32Array.of(bits >>> 0).buffer)[0];

/**
 * Arcee Fusion: importance = |x − base|·KL(softmax rows) (one workgroup per row, chunks hold whole
 * rows), exact quantiles over every element by the radix select on the importance bits (values below
 * zero, possible where KL rounds negative, are selected separately by magnitude), then
 * base + (x − base)·(importance ≥ threshold). Unlike mergekit, tensors above 1e6 elements are not
 * subsampled: the quantiles are exact.
 */
export const arceeFusionGpu: GpuMethod = {
  name: 'arcee_fusion',
  rowLen: ({ entry }) => fusionRowLen(entry),
  async run(job, emit) {
    const { inputs } = job.entry;
    const bi = inputs.findIndex((x) => x.isBase);
    const oi = inputs.findIndex((x) => !x.isBase);
    if (bi < 0 || oi < 0) {
      await emitInput(job, emit, 0);
      return;
    }
    const L = fusionRowLen(job.entry);
    const n = job.n;
    // the importance of the latest chunk, per form (all of a resident tensor's passes reuse it)
    const last = new Map<ImportanceForm, { chunk: number; buf: GPUBuffer }>();
    const imp = (form: ImportanceForm): KeyBuffer => async (c) => {
      const hit = last.get(form);
      if (hit && hit.chunk === c.index) return hit.buf;
      const f = await job.input(oi, c);
      const b = await job.input(bi, c);
      const kl = job.scratch('fusion.kl', Math.max(16, (c.count / L) * 4));
      const out = job.scratch(`fusion.${form}`);
      const batch = job.batch();
      rowKl(batch, f, b, c.count, L, kl);
      importance(batch, f, b, kl, c.count, L, out, form);
      await batch.submit();
      last.set(form, { chunk: c.index, buf: out });
      return out;
    };
    const idx = fusionQuantileIndices(n);
    let q: number[];
    if (idx[0] === 0) {
      // n ≤ 4: the minimum is needed; read the few values back and pick them directly
      const values = await readAll(job, imp('value'));
      const sorted = Float32Array.from(values).sort();
      q = idx.map((i) => sorted[i]);
    } else {
      const [neg] = await collectPartials(job, 1, (c) => Math.ceil(c.count / 1024), async (b, c, outs) => {
        negativeBlocks(b, await imp('value')(c), c.count, outs[0]);
      });
      const plans = idx.map((i) => quantileSelection(i, sum64(neg), n));
      const sels = await selectTopKs(job, bi, plans.map((p) => ({ xi: bi, k: p.k, keys: imp(p.form) })));
      q = sels.map((s, j) => plans[j].sign * f32(s.t));
    }
    const thr = fusionThreshold(q[0], q[1], q[2]);
    for (const c of job.chunks) {
      const f = await job.input(oi, c);
      const b = await job.input(bi, c);
      const v = await imp('value')(c);
      const out = job.scratch('out');
      const batch = job.batch();
      fusionApply(batch, f, b, v, c.count, thr, out);
      await batch.submit();
      await emit(c, out);
      job.endChunk();
    }
  },
};

async function readAll(job: TensorJob, key: (c: Chunk) => Promise<GPUBuffer>): Promise<Float32Array> {
  const out = new Float32Array(job.n);
  for (const c of job.chunks) {
    const buf = await key(c);
    const b = job.batch();
    b.read(buf, c.count * 4);
    const [bytes] = await b.submit();
    out.set(new Float32Array(bytes.buffer, bytes.byteOffset, c.count), c.start);
    job.endChunk();
  }
  return out;
}

/** The WebGPU implementation of this folder's spec (methods/webgpu.ts). */
export function webgpu(): GpuMethod {
  return arceeFusionGpu;
}

// Magnitude ranks of task vectors kept across calls (merge diagnostics): while sliders move, the
// task vectors do not change, only how many of their largest elements are kept. For a resident
// tensor, the rank of every element of |x − base| (descending, equal keys lowest index first — the
// rule of select.ts) is computed once; an exact top-k then is "rank < k", one cheap pass instead of
// a radix select (select.ts uses it when a job has a RankCache), and an n:m selection walks each
// block's elements in rank order (CABS).
// Keys are computed on the GPU (the bits select.ts ranks), read back and sorted on the CPU once.
import type { RankCacheLike, RankEntry, TensorJob } from './tensor-job';
import { inputCacheKey } from '../recipe/chunk-read';

export type { RankCacheLike, RankEntry };
import { storage, uploadU32 } from './buffers';
import { nmKeys } from './ops-magnitude';

/** Indices in descending key order, equal keys by lower index (stable LSD radix sort, 2 × 16 bits). */
export function descendingOrderOfKeys(keys: Uint32Array): Uint32Array {
  const n = keys.length;
  let src = new Uint32Array(n);
  for (let i = 0; i < n; i++) src[i] = i;
  let dst = new Uint32Array(n);
  const count = new Uint32Array(65536);
  for (const shift of [0, 16]) {
    count.fill(0);
    for (let i = 0; i < n; i++) count[~(keys[i] >>> shift) & 0xffff]++;
    let sum = 0;
    for (let b = 0; b < 65536; b++) {
      const c = count[b];
      count[b] = sum;
      sum += c;
    }
    for (let i = 0; i < n; i++) {
      const j = src[i];
      dst[count[~(keys[j] >>> shift) & 0xffff]++] = j;
    }
    [src, dst] = [dst, src];
  }
  return src;
}

/** Offsets within each n:m block (rows of rowLen cut into blocks of m), listed in global rank order. */
export function blockOffsetsInOrder(order: Uint32Array, rowLen: number, m: number): Uint32Array {
  const n = order.length;
  const nb = Math.ceil(rowLen / m);
  const fill = new Uint32Array(Math.ceil(n / rowLen) * nb);
  const out = new Uint32Array(n);
  for (let r = 0; r < n; r++) {
    const e = order[r];
    const row = Math.floor(e / rowLen);
    const col = e - row * rowLen;
    const j = Math.floor(col / m);
    const start = row * rowLen + j * m;
    out[start + fill[row * nb + j]++] = e - start;
  }
  return out;
}

export class RankCache implements RankCacheLike {
  private map = new Map<string, RankEntry>();
  bytes = 0;
  constructor(public budgetBytes: number) {}

  private key(job: TensorJob, xi: number, bi: number): string {
    const c = job.chunks[0];
    return `${inputCacheKey(job.entry.inputs[xi], c, job.entry.computeDtype)}||${inputCacheKey(job.entry.inputs[bi], c, job.entry.computeDtype)}`;
  }

  async ranks(job: TensorJob, xi: number, bi: number): Promise<RankEntry | undefined> {
    if (!job.resident || job.n === 0) return undefined;
    const key = this.key(job, xi, bi);
    const hit = this.map.get(key);
    if (hit) return hit;
    const n = job.n;
    if (this.bytes + n * 4 > this.budgetBytes) return undefined;
    const c = job.chunks[0];
    const keysBuf = storage(job.device, n * 4, 'rank.keys');
    const b = job.batch();
    nmKeys(b, { n, chunkStart: 0, bitBase: 0 }, await job.input(xi, c), await job.input(bi, c), undefined, keysBuf);
    b.read(keysBuf, n * 4);
    b.temps.push(keysBuf);
    const [bytes] = await b.submit();
    const keys = new Uint32Array(bytes.buffer, bytes.byteOffset, n);
    for (let i = 0; i < n; i++) keys[i] &= 0x7fffffff; // nm_keys marks every element free (bit 31)
    const order = descendingOrderOfKeys(keys);
    const rank = new Uint32Array(n);
    for (let r = 0; r < n; r++) rank[order[r]] = r;
    const entry: RankEntry = { ranks: uploadU32(job.device, rank, 'ranks', job.traffic), order, blocks: new Map() };
    this.map.set(key, entry);
    this.bytes += n * 4;
    return entry;
  }

  async blockOrder(job: TensorJob, xi: number, bi: number, rowLen: number, m: number): Promise<GPUBuffer | undefined> {
    const e = await this.ranks(job, xi, bi);
    if (!e) return undefined;
    const k = `${rowLen}:${m}`;
    const hit = e.blocks.get(k);
    if (hit) return hit;
    if (this.bytes + job.n * 4 > this.budgetBytes) return undefined;
    const buf = uploadU32(job.device, blockOffsetsInOrder(e.order, rowLen, m), 'block-order', job.traffic);
    e.blocks.set(k, buf);
    this.bytes += job.n * 4;
    return buf;
  }

  clear(): void {
    for (const e of this.map.values()) {
      e.ranks.destroy();
      for (const b of e.blocks.values()) b.destroy();
    }
    this.map.clear();
    this.bytes = 0;
  }
}

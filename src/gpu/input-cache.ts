// Decoded inputs kept resident on the GPU across calls (merge diagnostics refresh after every
// slider move: the models do not change, only parameters). A TensorJob given this cache looks a
// chunk of an input up before reading and decoding it, and hands freshly decoded chunks to the
// cache while they fit the byte budget (it never evicts: a refresh loop over the same tensors would
// only thrash). Keys name the file, the tensor's bytes, the crop, the compute dtype and the chunk,
// so a changed model file can never hit; the owner clears the cache when the model set changes.

export interface InputCacheLike {
  get(key: string): GPUBuffer | undefined;
  /** Adopts the buffer (the cache then owns and frees it) when it fits; false otherwise. */
  offer(key: string, buf: GPUBuffer, bytes: number): boolean;
}

export class InputCache implements InputCacheLike {
  private map = new Map<string, { buf: GPUBuffer; bytes: number }>();
  bytes = 0;
  hits = 0;
  misses = 0;
  constructor(public budgetBytes: number) {}

  get(key: string): GPUBuffer | undefined {
    const e = this.map.get(key);
    if (e) this.hits++;
    else this.misses++;
    return e?.buf;
  }

  offer(key: string, buf: GPUBuffer, bytes: number): boolean {
    if (this.map.has(key) || this.bytes + bytes > this.budgetBytes) return false;
    this.map.set(key, { buf, bytes });
    this.bytes += bytes;
    return true;
  }

  get size(): number {
    return this.map.size;
  }

  clear(): void {
    for (const e of this.map.values()) e.buf.destroy();
    this.map.clear();
    this.bytes = 0;
  }
}

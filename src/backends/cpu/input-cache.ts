// Decoded f32 inputs kept across calls on the CPU engine (the evaluator's candidates, the
// diagnostics refreshes): the base and experts do not change while a search runs or a slider
// moves. Same keys as the GPU InputCache (recipe/chunk-read.ts inputCacheKey); never evicts, so a
// refresh loop cannot thrash it: what does not fit the budget is simply not kept.

export class CpuInputCache {
  private map = new Map<string, Float32Array>();
  bytes = 0;
  constructor(public budgetBytes: number) {}

  get(key: string): Float32Array | undefined {
    return this.map.get(key);
  }

  offer(key: string, values: Float32Array): void {
    if (this.map.has(key) || this.bytes + values.byteLength > this.budgetBytes) return;
    this.map.set(key, values);
    this.bytes += values.byteLength;
  }

  get size(): number {
    return this.map.size;
  }

  clear(): void {
    this.map.clear();
    this.bytes = 0;
  }
}

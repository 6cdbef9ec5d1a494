// Which float type the evaluation graph computes in (src/eval/precision.ts): f16 exactly when a
// WebGPU device offers shader-f16 (the studio's default), f32 elsewhere; a forced f16 without the
// feature is refused. No hardware adapter with shader-f16 is available where these tests run, so
// the f16 graph itself is checked on the wasm EP (tests/gpu/eval-graph.test.ts) and the GPU-side
// f16 weight copies against the CPU codec (tests/gpu/eval-f16-feed.test.ts).
import { describe, expect, test } from 'vitest';
import { graphDtypeFor } from '../../src/eval/precision';
import { EvalError } from '../../src/errors';

describe('graphDtypeFor', () => {
  const hw = ['shader-f16', 'timestamp-query'];
  test("'auto': f16 on WebGPU with shader-f16, f32 without it and on wasm", () => {
    expect(graphDtypeFor('webgpu', hw)).toBe('float16');
    expect(graphDtypeFor('webgpu', hw, 'auto')).toBe('float16');
    expect(graphDtypeFor('webgpu', ['timestamp-query'])).toBe('float32');
    expect(graphDtypeFor('webgpu', [])).toBe('float32');
    expect(graphDtypeFor('wasm', hw)).toBe('float32');
  });
  test("'float32' always wins; 'float16' needs the feature and WebGPU", () => {
    expect(graphDtypeFor('webgpu', hw, 'float32')).toBe('float32');
    expect(graphDtypeFor('webgpu', hw, 'float16')).toBe('float16');
    expect(() => graphDtypeFor('webgpu', [], 'float16')).toThrow(EvalError);
    expect(() => graphDtypeFor('webgpu', [], 'float16')).toThrow(/"shader-f16"/);
    expect(() => graphDtypeFor('wasm', hw, 'float16')).toThrow(/WebGPU only/);
  });
});

// LoRA extraction (mergekit-extract-lora's job): from a fine-tune and its base, a rank-r PEFT
// adapter. Per linear module the delta D = W_ft − W_base (m × n) is factored by a randomized SVD
// (Halko, Martinsson & Tropp 2011) whose large products run on an engine (MatmulEngine: the
// lora_matmul kernel on WebGPU, or its CPU twin — same bits), and whose small steps run on the CPU
// in float64:
//   Y = D·Ω (Ω n × k Gaussian, k = r + oversampling), then q power iterations Y = D·(Dᵀ·Q)
//   with re-orthonormalisation between products; Q = orth(Y) (m × k);
//   Bᵀ = Dᵀ·Q (n × k) = Q₂R₂ (QR on the CPU);  R₂ᵀ (k × k) = Uᵣ Σ Vᵣᵀ (one-sided Jacobi SVD);
//   D ≈ (Q·Uᵣ) Σ (Q₂·Vᵣ)ᵀ, truncated to r.
// As mergekit (distribute_scale): lora_B = U·√Σ, lora_A = √Σ·Vᵀ, lora_alpha = r (scale 1).
// The retained energy Σᵢ<ᵣ σᵢ² / ‖D‖²_F is reported per module (‖D‖_F exact, in float64).
// Which tensors: 2-D ".weight" tensors outside the embeddings are decomposed; everything else
// (embeddings, lm_head, norms, biases) is saved whole in modules_to_save, as mergekit does by default.

import { ModelError, ShapeMismatchError } from '../errors';
import type { Dtype } from '../formats/dtype';
import { roundThrough } from '../formats/dtype-codec';
import type { ModelInfo, TensorInfo } from '../formats/model-info';
import { readLoraFactors } from '../recipe/chunk-read';
import type { PlanInput } from '../recipe/plan-types';
import { decodeInputChunk, loraMatmulCpu, type StridedArray } from '../methods/shared/cpu/lora';

/** A product C [rows × cols] = L·R over `inner` in f32, summed in k order (shaders/lora.wgsl). */
export interface MatmulEngine {
  readonly name: string;
  product(L: StridedArray, R: StridedArray, rows: number, cols: number, inner: number): Promise<Float32Array>;
  dispose?(): void;
}

/** The CPU twin of lora_matmul as a MatmulEngine. */
export const cpuMatmul: MatmulEngine = {
  name: 'CPU',
  async product(L, R, rows, cols, inner) {
    return loraMatmulCpu(L, R, { cols, inner, start: 0, n: rows * cols });
  },
};

export interface ExtractOptions {
  rank: number;
  /** Extra columns of the range finder (default 10). */
  oversample?: number;
  /** Power iterations (default 2). */
  powerIterations?: number;
  /** Seed of the Gaussian test matrices (default 0). */
  seed?: number;
}

export interface Decomposition {
  /** Rank kept: min(r, m, n). */
  rank: number;
  /** lora_A: rank × n. */
  a: Float32Array;
  /** lora_B: m × rank. */
  b: Float32Array;
  /** The k estimated singular values, descending. */
  singular: number[];
  /** ‖D‖²_F (float64). */
  total: number;
  /** Σᵢ<rank σᵢ² / ‖D‖²_F (1 for a zero delta). */
  retained: number;
}

/** A counter-based Gaussian stream (xorshift-multiply hash + Box–Muller), reproducible per (seed, name). */
function gaussian(seed: number, name: string, n: number): Float32Array {
  let h = 0x9e3779b9 ^ seed;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193);
  const u = (i: number): number => {
    let x = (h ^ Math.imul(i + 1, 0x85ebca6b)) >>> 0;
    x = Math.imul(x ^ (x >>> 16), 0x7feb352d);
    x = Math.imul(x ^ (x >>> 15), 0x846ca68b);
    x = (x ^ (x >>> 16)) >>> 0;
    return (x + 0.5) / 4294967296;
  };
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.sqrt(-2 * Math.log(u(2 * i))) * Math.cos(2 * Math.PI * u(2 * i + 1));
  return out;
}

/**
 * Orthonormal columns spanning x's (rows × k, row-major), float64, modified Gram–Schmidt applied
 * twice; a column that is (numerically) in the span of the earlier ones is replaced by a fixed
 * vector orthogonal to them, so Q always has k orthonormal columns. Returns Q and R (k × k, Q·R = x).
 */
export function orthonormalize(x: ArrayLike<number>, rows: number, k: number): { q: Float64Array; r: Float64Array } {
  const q = Float64Array.from(x as ArrayLike<number>);
  const r = new Float64Array(k * k);
  let scale = 0;
  for (let i = 0; i < q.length; i++) scale = Math.max(scale, Math.abs(q[i]));
  for (let j = 0; j < k; j++) {
    for (let pass = 0; pass < 2; pass++)
      for (let p = 0; p < j; p++) {
        let d = 0;
        for (let i = 0; i < rows; i++) d += q[i * k + p] * q[i * k + j];
        r[p * k + j] += d;
        for (let i = 0; i < rows; i++) q[i * k + j] -= d * q[i * k + p];
      }
    let norm = 0;
    for (let i = 0; i < rows; i++) norm += q[i * k + j] ** 2;
    norm = Math.sqrt(norm);
    if (!(norm > 1e-10 * Math.max(scale, 1e-300) * Math.sqrt(rows))) {
      // dependent column: complete the basis with a fixed vector orthogonalised against the others
      r[j * k + j] = 0;
      for (let attempt = 0; ; attempt++) {
        const g = gaussian(attempt, `complete:${j}`, rows);
        for (let i = 0; i < rows; i++) q[i * k + j] = g[i];
        for (let pass = 0; pass < 2; pass++)
          for (let p = 0; p < j; p++) {
            let d = 0;
            for (let i = 0; i < rows; i++) d += q[i * k + p] * q[i * k + j];
            for (let i = 0; i < rows; i++) q[i * k + j] -= d * q[i * k + p];
          }
        let n2 = 0;
        for (let i = 0; i < rows; i++) n2 += q[i * k + j] ** 2;
        if (n2 > 1e-6 || attempt > 8) {
          const s = 1 / Math.sqrt(n2);
          for (let i = 0; i < rows; i++) q[i * k + j] *= s;
          break;
        }
      }
      continue;
    }
    r[j * k + j] = norm;
    for (let i = 0; i < rows; i++) q[i * k + j] /= norm;
  }
  return { q, r };
}

/** One-sided Jacobi SVD of a k × k matrix (row-major, float64): M = U·diag(s)·Vᵀ, s descending. */
export function jacobiSvd(m: ArrayLike<number>, k: number): { u: Float64Array; s: Float64Array; v: Float64Array } {
  const a = Float64Array.from(m as ArrayLike<number>);
  const v = new Float64Array(k * k);
  for (let i = 0; i < k; i++) v[i * k + i] = 1;
  for (let sweep = 0; sweep < 60; sweep++) {
    let rotated = false;
    for (let p = 0; p < k - 1; p++)
      for (let q = p + 1; q < k; q++) {
        let alpha = 0;
        let beta = 0;
        let gamma = 0;
        for (let i = 0; i < k; i++) {
          const x = a[i * k + p];
          const y = a[i * k + q];
          alpha += x * x;
          beta += y * y;
          gamma += x * y;
        }
        if (gamma === 0 || Math.abs(gamma) <= 1e-15 * Math.sqrt(alpha * beta)) continue;
        rotated = true;
        const zeta = (beta - alpha) / (2 * gamma);
        const t = (zeta >= 0 ? 1 : -1) / (Math.abs(zeta) + Math.sqrt(1 + zeta * zeta));
        const c = 1 / Math.sqrt(1 + t * t);
        const s = c * t;
        for (let i = 0; i < k; i++) {
          const x = a[i * k + p];
          const y = a[i * k + q];
          a[i * k + p] = c * x - s * y;
          a[i * k + q] = s * x + c * y;
          const vx = v[i * k + p];
          const vy = v[i * k + q];
          v[i * k + p] = c * vx - s * vy;
          v[i * k + q] = s * vx + c * vy;
        }
      }
    if (!rotated) break;
  }
  const norms = Array.from({ length: k }, (_, j) => {
    let n = 0;
    for (let i = 0; i < k; i++) n += a[i * k + j] ** 2;
    return Math.sqrt(n);
  });
  const order = norms.map((_, j) => j).sort((x, y) => norms[y] - norms[x] || x - y);
  const u = new Float64Array(k * k);
  const vs = new Float64Array(k * k);
  const s = new Float64Array(k);
  order.forEach((j, c) => {
    s[c] = norms[j];
    for (let i = 0; i < k; i++) {
      u[i * k + c] = norms[j] > 0 ? a[i * k + j] / norms[j] : i === c ? 1 : 0;
      vs[i * k + c] = v[i * k + j];
    }
  });
  return { u, s, v: vs };
}

/** Rank-r factors of D (m × n, row-major f32) by randomized SVD, products on `engine`. */
export async function decomposeDelta(d: Float32Array, m: number, n: number, name: string, o: ExtractOptions, engine: MatmulEngine): Promise<Decomposition> {
  const rank = Math.min(o.rank, m, n);
  const k = Math.min(rank + (o.oversample ?? 10), m, n);
  let total = 0;
  for (let i = 0; i < d.length; i++) total += d[i] * d[i];
  const D = { data: d, s0: n, s1: 1 }; // D(i, j)
  const Dt = { data: d, s0: 1, s1: n }; // Dᵀ(j, i)
  const cols = (x: Float32Array | Float64Array) => ({ data: x instanceof Float32Array ? x : Float32Array.from(x), s0: k, s1: 1 });
  let y = await engine.product(D, cols(gaussian(o.seed ?? 0, name, n * k)), m, k, n);
  for (let it = 0; it < (o.powerIterations ?? 2); it++) {
    const qy = orthonormalize(y, m, k).q;
    const z = await engine.product(Dt, cols(qy), n, k, m);
    y = await engine.product(D, cols(orthonormalize(z, n, k).q), m, k, n);
  }
  const q = orthonormalize(y, m, k).q; // m × k
  const bt = await engine.product(Dt, cols(q), n, k, m); // n × k = (QᵀD)ᵀ
  const { q: q2, r: r2 } = orthonormalize(bt, n, k); // Bᵀ = Q₂R₂
  const r2t = new Float64Array(k * k);
  for (let i = 0; i < k; i++) for (let j = 0; j < k; j++) r2t[i * k + j] = r2[j * k + i];
  const { u: ur, s, v: vr } = jacobiSvd(r2t, k); // R₂ᵀ = Uᵣ Σ Vᵣᵀ  ⇒  QᵀD = Uᵣ Σ (Q₂Vᵣ)ᵀ
  const a = new Float32Array(rank * n);
  const b = new Float32Array(m * rank);
  for (let c = 0; c < rank; c++) {
    const root = Math.sqrt(s[c]);
    for (let i = 0; i < m; i++) {
      let acc = 0;
      for (let t = 0; t < k; t++) acc += q[i * k + t] * ur[t * k + c];
      b[i * rank + c] = acc * root;
    }
    for (let j = 0; j < n; j++) {
      let acc = 0;
      for (let t = 0; t < k; t++) acc += q2[j * k + t] * vr[t * k + c];
      a[c * n + j] = acc * root;
    }
  }
  let kept = 0;
  for (let c = 0; c < rank; c++) kept += s[c] * s[c];
  return { rank, a, b, singular: Array.from(s), total, retained: total > 0 ? Math.min(1, kept / total) : 1 };
}

/** Embedding-like tensors, saved whole (mergekit's default without --embed-lora). */
const EMBEDDING = /(^|\.)(embed_tokens|embed_in|embed_out|wte|wpe|word_embeddings|lm_head|output)\.weight$/;

export interface ExtractionPlan {
  /** Linear modules to decompose: module path, base and fine-tune tensors ([m, n]). */
  modules: { module: string; base: TensorInfo; tuned: TensorInfo; rank: number }[];
  /** Tensors saved whole (modules_to_save): name → the fine-tune's tensor. */
  whole: { name: string; tensor: TensorInfo }[];
  /** modules_to_save as PEFT lists them (last name components). */
  modulesToSave: string[];
}

/**
 * Which tensors become LoRA modules and which are saved whole; fails (before reading any data)
 * naming the tensor when the fine-tune has one the base lacks or a linear weight of another shape.
 */
export function planExtraction(tuned: ModelInfo, base: ModelInfo, rank: number): ExtractionPlan {
  const modules: ExtractionPlan['modules'] = [];
  const whole: ExtractionPlan['whole'] = [];
  const save = new Set<string>();
  const isLinear = (name: string, t: TensorInfo | undefined) => !!t && t.shape.length === 2 && name.endsWith('.weight') && !EMBEDDING.test(name);
  for (const [name, t] of tuned.tensors) {
    const b = base.tensors.get(name);
    const linear = isLinear(name, t);
    if (linear) {
      if (!b) throw new ModelError(`${tuned.ref}: tensor "${name}" is not in the base ${base.ref}; is ${base.ref} the model ${tuned.ref} was fine-tuned from?`, { model: base.ref, tensor: name });
      if (b.shape.join() !== t.shape.join())
        throw new ShapeMismatchError(name, `[${t.shape.join(', ')}] in ${tuned.ref} but [${b.shape.join(', ')}] in the base ${base.ref}; is ${base.ref} the model ${tuned.ref} was fine-tuned from?`, base.ref);
      const module = name.slice(0, -'.weight'.length);
      modules.push({ module, base: b, tuned: t, rank: Math.min(rank, t.shape[0], t.shape[1]) });
    } else {
      whole.push({ name, tensor: t });
      // a linear module's bias is saved whole beside its LoRA factors (PEFT's bias), not as a module to save
      const owner = name.replace(/\.[^.]+$/, '');
      if (isLinear(`${owner}.weight`, tuned.tensors.get(`${owner}.weight`))) continue;
      const parts = name.split('.');
      save.add(parts.length > 1 ? parts[parts.length - 2] : parts[0]);
    }
  }
  return { modules, whole, modulesToSave: [...save].sort() };
}

/** A tensor's values as f32 (with its own LoRA update added when the model is "model+adapter"). */
export async function readTensorValues(t: TensorInfo, signal?: AbortSignal): Promise<Float32Array> {
  const bytes = await t.source.read(t.byteOffset, t.byteLength, signal);
  const inp: PlanInput = { model: '', tensor: t, isBase: false, params: {} };
  return decodeInputChunk(inp, { start: 0, count: t.shape.reduce((a, b) => a * b, 1) }, bytes, undefined, () => readLoraFactors(t.lora!, signal));
}

/** D = W_ft − W_base in f32. */
export function deltaOf(tuned: Float32Array, base: Float32Array): Float32Array {
  const d = new Float32Array(tuned.length);
  for (let i = 0; i < d.length; i++) d[i] = tuned[i] - base[i];
  return d;
}

/** The factors as stored: the fine-tune's dtype, as mergekit writes them. */
export function storedFactor(values: Float32Array, dtype: Dtype): Float32Array {
  return dtype === 'F32' ? values : roundThrough(values, dtype);
}

/** adapter_config.json as mergekit-extract-lora writes it (lora_alpha = r: scale 1), plus PEFT's bias. */
export function extractedConfig(baseRef: string, ranks: Map<string, number>, modulesToSave: string[]): Record<string, unknown> {
  const max = Math.max(0, ...ranks.values());
  const different: Record<string, number> = {};
  for (const [m, r] of ranks) if (r !== max) different[m] = r;
  return {
    base_model_name_or_path: baseRef,
    peft_type: 'LORA',
    use_rslora: false,
    target_modules: [...new Set([...ranks.keys()].map((m) => m.split('.').pop()!))].sort(),
    modules_to_save: modulesToSave,
    task_type: 'CAUSAL_LM',
    r: max,
    lora_alpha: max,
    rank_pattern: different,
    alpha_pattern: different,
    lora_dropout: 0,
    fan_in_fan_out: false,
    bias: 'none',
    inference_mode: true,
  };
}

// Kernel registry: each WGSL family (one file in shaders/) is compiled once per device with the
// shared prelude, with an explicit bind group layout declared here, so every entry point of a family
// binds the same slots. Unused slots get a per-slot dummy buffer. Uniforms are passed by name and
// packed by the WGSL struct's own field names and types (gpu/wgsl-layout.ts); every entry point
// declares the bytes it reads and writes, which dispatch counts into a TrafficMeter (gpu/traffic.ts).
import prelude from '../../shaders/prelude.wgsl?raw';
import codec from '../../shaders/codec.wgsl?raw';
import encode from '../../shaders/encode.wgsl?raw';
import elementwise from '../../shaders/elementwise.wgsl?raw';
import reduce from '../../shaders/reduce.wgsl?raw';
import select from '../../shaders/select.wgsl?raw';
import gta from '../../shaders/gta.wgsl?raw';
import gtafused from '../../shaders/gtafused.wgsl?raw';
import wsum from '../../shaders/wsum.wgsl?raw';
import prune from '../../shaders/prune.wgsl?raw';
import combine from '../../shaders/combine.wgsl?raw';
import stack from '../../shaders/stack.wgsl?raw';
import fusion from '../../shaders/fusion.wgsl?raw';
import magnitude from '../../shaders/magnitude.wgsl?raw';
import cabs from '../../shaders/cabs.wgsl?raw';
import diagnostics from '../../shaders/diagnostics.wgsl?raw';
import delta from '../../shaders/delta.wgsl?raw';
import gather from '../../shaders/gather.wgsl?raw';
import lora from '../../shaders/lora.wgsl?raw';
import { GpuError } from '../errors';
import { packUniforms, parseWgslLayout, type Uniforms, type WgslLayout } from './wgsl-layout';
import type { TrafficMeter, TrafficPart } from './traffic';

export type { Uniforms };

type Slot = 'uniform' | 'read' | 'storage';

/** The range of one binding an entry point reads (r) and writes (w) in a dispatch, in bytes. */
export interface Access {
  r?: number;
  w?: number;
  /** Reads of the range are repeated this many times (a row swept once per step; default 1). */
  sweeps?: number;
}

/**
 * What one dispatch of an entry point reads and writes, by binding name (as named in its WGSL),
 * over the range it touches, from its uniforms (every field, padding 0) and the number of
 * workgroups. Data-dependent accesses count as always taken (an upper bound); a binding swept
 * several times by one dispatch (row_kl, row_topk) counts every sweep.
 */
export type TrafficFn = (P: Readonly<Record<string, number>>, groups: number) => Partial<Record<string, Access>>;

interface Family {
  source: string;
  /** Binding 0 is always the uniform block; the rest in order (checked against the WGSL). */
  slots: Slot[];
  /** One per entry point of the WGSL (checked): its memory traffic. */
  traffic: Record<string, TrafficFn>;
}

const f32s = (n: number) => 4 * n;
/** 16-bit elements, two per u32 word. */
const halves = (n: number) => 4 * Math.ceil(n / 2);
/** The u32 words holding bits [first, first + n) of a bitmask. */
const bitWords = (first: number, n: number) => (n > 0 ? 4 * (Math.floor((first + n - 1) / 32) - Math.floor(first / 32) + 1) : 0);
/** One f32 / u32 per block of `size` elements. */
const perBlock = (n: number, size: number) => 4 * Math.ceil(n / size);
const on = (flags: number, bit: number) => (flags & bit) !== 0;
/** Written, and read first unless `init` (accumulators). */
const acc = (bytes: number, init: boolean): Access => ({ r: init ? 0 : bytes, w: bytes });
const rmw = (bytes: number): Access => ({ r: bytes, w: bytes });

const decoded = (P: Readonly<Record<string, number>>, srcBytes: number) => ({ src_words: { r: srcBytes }, dst_f32: { w: f32s(P.n) } });
const gtaIn = (P: Readonly<Record<string, number>>) => ({ x: { r: f32s(P.n) }, base: { r: f32s(P.n) }, mask: { r: on(P.flags, 1) ? bitWords(32 * P.mask_word_offset, P.n) : 0 } });
const stackTv = (P: Readonly<Record<string, number>>) => ({ x: { r: f32s(P.n) }, base: { r: f32s(P.n) }, mask: { r: on(P.flags, 1) ? bitWords(32 * P.mask_word_offset, P.n) : 0 } });
const magKey = (P: Readonly<Record<string, number>>, sweeps = 1) => ({ x: { r: f32s(P.n), sweeps }, base: { r: on(P.flags, 1) ? f32s(P.n) : 0, sweeps } });
/** Stored words of dtype code dt (0 f32, 1 f16, 2 bf16; wsum.wgsl, gtafused.wgsl). */
const storedBytes = (dt: number, n: number) => (dt === 0 ? f32s(n) : halves(n));
const wsumIn = (P: Readonly<Record<string, number>>, j: number): Access => ({ r: j < P.count ? storedBytes((P.dtypes >> (2 * j)) & 3, P.n) : 0 });
// select.wgsl's key: x, and base when flags & 1, stored words of dtypes' codes
const selKey = (P: Readonly<Record<string, number>>) => ({ x: { r: storedBytes(P.dtypes & 3, P.n) }, base: { r: on(P.flags, 1) ? storedBytes((P.dtypes >> 2) & 3, P.n) : 0 } });
// reduce.wgsl's a' / b' (base read when flags & 1 or flags & 2), stored words of dtypes' codes
const redIn = (P: Readonly<Record<string, number>>) => ({
  a: { r: storedBytes(P.dtypes & 3, P.n) },
  b: { r: storedBytes((P.dtypes >> 2) & 3, P.n) },
  base: { r: on(P.flags, 3) ? storedBytes((P.dtypes >> 4) & 3, P.n) : 0 },
});
const fusedMask = (P: Readonly<Record<string, number>>, k: number): Access => ({ r: k < P.count && on(P.flags, 1 << k) ? bitWords(32 * P.mask_word_offset, P.n) : 0 });
/** select.wgsl's collect: the (key, index) pairs appended to a list and its counter(s) (read, incremented). */
const collected = (P: Readonly<Record<string, number>>, keys: number, counters = 1): Access => (on(P.flags, 4) ? { r: 4 * counters, w: 4 * (2 * keys + counters) } : {});
/** gta_fused's reads (up to three task vectors, the base, their masks) and its output. */
const gtaFusedTraffic = (P: Readonly<Record<string, number>>, out: Access): Record<string, Access> => ({
  in0: wsumIn(P, 0),
  in1: wsumIn(P, 1),
  in2: wsumIn(P, 2),
  base: { r: storedBytes((P.dtypes >> 6) & 3, P.n) },
  mask0: fusedMask(P, 0),
  mask1: fusedMask(P, 1),
  mask2: fusedMask(P, 2),
  out,
});
const pruneRows = (P: Readonly<Record<string, number>>) => P.rows * P.pad;

export const FAMILIES = {
  gather: {
    source: gather,
    slots: ['uniform', 'read', 'read', 'read', 'storage'],
    traffic: {
      // every stored word and row selector of the chunk, the fill rows, the decoded output
      gather_fill: (P) => ({
        src_words: { r: storedBytes(P.dtype, P.n) },
        row_sel: { r: 4 * Math.ceil((P.col0 + P.n) / P.cols) },
        fill: { r: f32s(P.fill_rows * P.cols) },
        dst_f32: { w: f32s(P.n) },
      }),
    },
  },
  codec: {
    source: codec,
    slots: ['uniform', 'read', 'storage'],
    traffic: {
      decode_f32: (P) => decoded(P, f32s(P.n)),
      decode_bf16: (P) => decoded(P, halves(P.n)),
      decode_f16: (P) => decoded(P, halves(P.n)),
    },
  },
  encode: {
    source: encode,
    slots: ['uniform', 'read', 'storage'],
    traffic: {
      encode_bf16: (P) => ({ src_f32: { r: f32s(P.n) }, dst_words: { w: halves(P.n) } }),
      encode_f16: (P) => ({ src_f32: { r: f32s(P.n) }, dst_words: { w: halves(P.n) } }),
    },
  },
  elementwise: {
    source: elementwise,
    slots: ['uniform', 'read', 'read', 'storage'],
    traffic: {
      axpy: (P) => ({ coef: { r: P.row_len ? perBlock(P.n, P.row_len) : 4 }, x: { r: f32s(P.n) }, acc: acc(f32s(P.n), P.init === 1) }),
      divide: (P) => ({ acc: rmw(f32s(P.n)) }),
    },
  },
  reduce: {
    source: reduce,
    slots: ['uniform', 'read', 'read', 'read', 'read', 'storage', 'storage'],
    traffic: {
      dot_blocks: (P) => ({ ...redIn(P), out0: { w: perBlock(P.n, 1024) } }),
      l1_blocks: (P) => ({
        a: { r: storedBytes(P.dtypes & 3, P.n) },
        base: { r: storedBytes((P.dtypes >> 4) & 3, P.n) },
        mask: { r: on(P.flags, 4) ? bitWords(32 * P.mask_word_offset, P.n) : 0 },
        out0: { w: perBlock(P.n, 1024) },
        out1: { w: perBlock(P.n, 1024) },
      }),
      dot_rows: (P) => ({ ...redIn(P), out0: { w: perBlock(P.n, P.row_len) } }),
    },
  },
  select: {
    source: select,
    slots: ['uniform', 'read', 'read', 'storage', 'storage', 'storage', 'storage', 'read', 'storage'],
    traffic: {
      // per workgroup, the nonzero local bins are added to the 2048-bin window: at most min(2048, n) bins;
      // collecting (flags & 4) adds the list's counter and the keys it receives
      hist: (P) => ({ ...selKey(P), bins: rmw(4 * Math.min(2048, P.n)), list: collected(P, P.list_count) }),
      // two requests, one base: both windows (bins[bin_offset2 ..] follows the first)
      hist2: (P) => ({ ...selKey(P), x2: { r: storedBytes((P.dtypes >> 4) & 3, P.n) }, bins: rmw(2 * 4 * Math.min(2048, P.n)), list: collected(P, P.list_count + P.list_count2, 2) }),
      // compacting (flags & 4): the bucket's list_count2 pairs and their counter written at list_offset2
      hist_list: (P) => ({ list: on(P.flags, 4) ? { r: 8 * P.n + 4, w: 4 * (2 * P.list_count2 + 1) } : { r: 8 * P.n }, bins: rmw(4 * Math.min(2048, P.n)) }),
      hist_index: (P) => ({ list: { r: 8 * P.n }, bins: rmw(4 * Math.min(2048, P.n)) }),
      tie_count: (P) => ({ ...selKey(P), ties1: { w: perBlock(P.n, 4096) }, ties2: { w: perBlock(P.n, 4096) } }),
      make_mask: (P) => ({
        ...selKey(P),
        ties1: { r: P.mode1 === 2 ? perBlock(P.n, 4096) + 4 : 0 },
        ties2: { r: P.mode2 === 2 ? perBlock(P.n, 4096) + 4 : 0 },
        mask: { w: bitWords(0, P.n) },
      }),
    },
  },
  gta: {
    source: gta,
    slots: ['uniform', 'read', 'read', 'read', 'storage', 'storage', 'storage'],
    traffic: {
      gta_sum: (P) => ({ ...gtaIn(P), sum_s: acc(f32s(P.n), on(P.flags, 2)) }),
      gta_agree: (P) => ({ ...gtaIn(P), sum_s: { r: f32s(P.n) }, mixed: acc(f32s(P.n), on(P.flags, 2)), divs: acc(f32s(P.n), on(P.flags, 2)) }),
      gta_finish: (P) => ({
        base: { r: f32s(P.n) },
        mixed: { r: f32s(P.n) },
        divs: { r: on(P.flags, 4) && on(P.flags, 8) ? f32s(P.n) : 0 },
        sum_s: { w: f32s(P.n) },
      }),
    },
  },
  gtafused: {
    source: gtafused,
    slots: ['uniform', 'read', 'read', 'read', 'read', 'read', 'read', 'read', 'storage'],
    traffic: {
      gta_fused: (P) => gtaFusedTraffic(P, { w: f32s(P.n) }),
      gta_fused_encode: (P) => gtaFusedTraffic(P, { w: halves(P.n) }),
    },
  },
  wsum: {
    source: wsum,
    slots: ['uniform', 'read', 'read', 'read', 'read', 'read', 'storage', 'storage'],
    traffic: {
      wsum: (P) => ({ in0: wsumIn(P, 0), in1: wsumIn(P, 1), in2: wsumIn(P, 2), in3: wsumIn(P, 3), coef: { r: 4 * P.count }, acc: acc(f32s(P.n), on(P.flags, 1)) }),
      wsum_encode: (P) => ({
        in0: wsumIn(P, 0),
        in1: wsumIn(P, 1),
        in2: wsumIn(P, 2),
        in3: wsumIn(P, 3),
        coef: { r: 4 * P.count },
        acc: { r: on(P.flags, 1) ? 0 : f32s(P.n) },
        encoded: { w: halves(P.n) },
      }),
    },
  },
  prune: {
    source: prune,
    slots: ['uniform', 'read', 'read', 'storage', 'storage', 'storage', 'storage', 'storage'],
    traffic: {
      rand_mask: (P) => ({ mask: { w: bitWords(0, P.n) } }),
      mag_load: (P) => ({
        x: { r: storedBytes(P.dtypes & 3, P.rows * P.row_len) },
        base: { r: on(P.flags, 1) ? storedBytes((P.dtypes >> 2) & 3, P.rows * P.row_len) : 0 },
        keys: { w: f32s(pruneRows(P)) },
        idx: { w: f32s(pruneRows(P)) },
      }),
      mag_sort_local: (P) => ({ keys: rmw(f32s(pruneRows(P))), idx: rmw(f32s(pruneRows(P))) }),
      mag_sort_global: (P) => ({ keys: rmw(f32s(pruneRows(P))), idx: rmw(f32s(pruneRows(P))) }),
      mag_mask: (P) => ({ idx: { r: f32s(P.rows * P.row_len) }, mask: rmw(bitWords(P.row0 * P.row_len, P.rows * P.row_len)) }),
      // one pass per row group: the inputs once, the mask bits, and with flags & 4 the row sums
      mag_rank_local: (P) => ({
        x: { r: storedBytes(P.dtypes & 3, P.rows * P.row_len) },
        base: { r: on(P.flags, 1) ? storedBytes((P.dtypes >> 2) & 3, P.rows * P.row_len) : 0 },
        mask: rmw(bitWords(P.row0 * P.row_len, P.rows * P.row_len)),
        out0: { w: on(P.flags, 4) ? 4 * P.rows : 0 },
        out1: { w: on(P.flags, 4) ? 4 * P.rows : 0 },
      }),
      l1_rows: (P) => ({
        x: { r: storedBytes(P.dtypes & 3, P.n) },
        base: { r: on(P.flags, 1) ? storedBytes((P.dtypes >> 2) & 3, P.n) : 0 },
        mask: { r: bitWords(0, P.n) },
        out0: { w: perBlock(P.n, P.row_len) },
        out1: { w: perBlock(P.n, P.row_len) },
      }),
    },
  },
  combine: {
    source: combine,
    slots: ['uniform', 'read', 'read', 'read', 'read', 'storage', 'storage', 'storage'],
    traffic: {
      delta_axpy: (P) => {
        const mode = (P.flags >> 8) & 3;
        return {
          a: { r: f32s(P.n) },
          base: { r: on(P.flags, 1) || (on(P.flags, 2) && on(P.flags, 4)) ? f32s(P.n) : 0 },
          coef: { r: mode === 1 ? perBlock(P.n, P.row_len) : mode === 2 ? 4 * Math.min(P.n, P.row_len) : 4 },
          out0: acc(f32s(P.n), on(P.flags, 2)),
        };
      },
      nearswap: (P) => ({ a: { r: f32s(P.n) }, base: { r: f32s(P.n) }, out0: { w: f32s(P.n) } }),
      col_dots: (P) => {
        const outs = f32s(Math.ceil(P.n / P.row_len / 256) * P.row_len);
        return { a: { r: f32s(P.n) }, b: { r: f32s(P.n) }, base: { r: on(P.flags, 1) ? f32s(P.n) : 0 }, out0: { w: outs }, out1: { w: outs }, out2: { w: outs } };
      },
    },
  },
  stack: {
    source: stack,
    slots: ['uniform', 'read', 'read', 'read', 'storage', 'storage', 'storage'],
    traffic: {
      tv_sum: (P) => ({ ...stackTv(P), acc0: acc(f32s(P.n), on(P.flags, 2)) }),
      tv_sqdev: (P) => ({ ...stackTv(P), acc0: { r: f32s(P.n) }, acc1: acc(f32s(P.n), on(P.flags, 2)) }),
      sce_agree: (P) => ({ ...stackTv(P), acc0: { r: f32s(P.n) }, acc1: acc(f32s(P.n), on(P.flags, 2)), acc2: acc(f32s(P.n), on(P.flags, 2)) }),
      sce_finish: (P) => ({ base: { r: f32s(P.n) }, acc1: { r: f32s(P.n) }, acc2: { r: f32s(P.n) }, acc0: { w: f32s(P.n) } }),
      ram_count: (P) => ({ ...stackTv(P), acc0: acc(f32s(P.n), on(P.flags, 2)) }),
      ram_acc: (P) => ({ ...stackTv(P), acc0: { r: f32s(P.n) }, acc1: acc(f32s(P.n), on(P.flags, 2)) }),
      sq_blocks: (P) => ({ ...stackTv(P), acc1: { w: perBlock(P.n, 1024) } }),
      nz_blocks: (P) => ({ x: { r: f32s(P.n) }, acc1: { w: perBlock(P.n, 1024) } }),
      ram_blocks: (P) => ({ ...stackTv(P), acc0: { r: f32s(P.n) }, acc1: { w: perBlock(P.n, 1024) }, acc2: { w: perBlock(P.n, 1024) } }),
    },
  },
  fusion: {
    source: fusion,
    slots: ['uniform', 'read', 'read', 'read', 'storage'],
    traffic: {
      // three sweeps over each row: maxima, softmax denominators, KL
      row_kl: (P) => ({ f: { r: f32s(P.n), sweeps: 3 }, b: { r: f32s(P.n), sweeps: 3 }, out: { w: perBlock(P.n, P.row_len) } }),
      importance: (P) => ({ f: { r: f32s(P.n) }, b: { r: f32s(P.n) }, aux: { r: perBlock(P.n, P.row_len) }, out: { w: f32s(P.n) } }),
      neg_blocks: (P) => ({ aux: { r: f32s(P.n) }, out: { w: perBlock(P.n, 1024) } }),
      fusion_apply: (P) => ({ f: { r: f32s(P.n) }, b: { r: f32s(P.n) }, aux: { r: f32s(P.n) }, out: { w: f32s(P.n) } }),
    },
  },
  magnitude: {
    source: magnitude,
    slots: ['uniform', 'read', 'read', 'read', 'storage', 'storage'],
    traffic: {
      nm_keys: (P) => ({ ...magKey(P), used: { r: on(P.flags, 2) ? bitWords(P.bit_base, P.n) : 0 }, keys: { w: f32s(P.n) } }),
      nm_mask: (P) => ({ keys: { r: f32s(P.n) }, mask: rmw(bitWords(P.bit_base, P.n)) }),
      // three radix passes and the final pass each sweep the row
      row_topk: (P) => ({ ...magKey(P, 4), mask: rmw(bitWords(P.bit_base, P.n)) }),
      free_keys: (P) => ({ ...magKey(P), used: { r: on(P.flags, 2) ? bitWords(P.bit_base, P.n) : 0 }, keys: { w: f32s(P.n) } }),
      mask_or: (P) => ({ used: { r: f32s(P.words) }, mask: rmw(f32s(P.words)) }),
      rank_mask: (P) => ({ keys: { r: f32s(P.n) }, mask: { w: bitWords(0, P.n) } }),
      block_walk: (P) => ({ keys: { r: f32s(P.n) }, used: { r: on(P.flags, 2) ? bitWords(P.bit_base, P.n) : 0 }, mask: rmw(bitWords(P.bit_base, P.n)) }),
    },
  },
  cabs: {
    source: cabs,
    slots: ['uniform', 'read', 'read', 'read', 'storage', 'storage'],
    traffic: {
      cabs_sum: (P) => ({ x: { r: f32s(P.n) }, base: { r: f32s(P.n) }, mask: { r: on(P.flags, 2) ? bitWords(P.bit_base, P.n) : 0 }, sum_s: acc(f32s(P.n), on(P.flags, 1)) }),
      cabs_agree: (P) => ({
        x: { r: f32s(P.n) },
        base: { r: f32s(P.n) },
        mask: { r: on(P.flags, 2) ? bitWords(P.bit_base, P.n) : 0 },
        sum_s: { r: f32s(P.n) },
        mixed: acc(f32s(P.n), on(P.flags, 1)),
      }),
      cabs_finish: (P) => ({ base: { r: f32s(P.n) }, mixed: { r: f32s(P.n) }, sum_s: { w: f32s(P.n) } }),
    },
  },
  diagnostics: {
    source: diagnostics,
    slots: ['uniform', 'read', 'read', 'read', 'storage', 'storage', 'storage'],
    traffic: {
      diag_model: (P) => ({
        x: { r: f32s(P.n) },
        base: { r: f32s(P.n) },
        mask: { r: on(P.flags, 2) ? bitWords(P.bit_base, P.n) : 0 },
        planes: rmw(2 * f32s(P.words)),
        counters: rmw(8),
        partials: { w: 3 * f32s(P.strips) },
      }),
      diag_combine: (P) => ({ planes: { r: 2 * P.models * f32s(P.words) }, counters: rmw(4 * (3 + (P.models * (P.models - 1)) / 2)) }),
    },
  },
  delta: {
    source: delta,
    slots: ['uniform', 'read', 'read', 'read', 'storage'],
    traffic: {
      delta_counts: (P) => ({ merged: { r: f32s(P.n) }, base: { r: f32s(P.n) }, other: { r: P.has_other === 1 ? f32s(P.n) : 0 }, counters: rmw(8) }),
    },
  },
  lora: {
    source: lora,
    slots: ['uniform', 'read', 'read', 'read', 'storage'],
    traffic: {
      // L's rows of the chunk are read once per tile column, R once per tile row
      lora_matmul: (P) => {
        const rows = P.n > 0 ? Math.floor((P.start + P.n - 1) / P.cols) - P.row0 + 1 : 0;
        return {
          x: { r: on(P.flags, 1) ? storedBytes(P.dt, P.n) : 0 },
          lhs: { r: f32s(rows * P.inner), sweeps: P.tiles_x },
          rhs: { r: f32s(P.inner * P.cols), sweeps: Math.ceil(rows / 16) },
          out: { w: f32s(P.n) },
        };
      },
    },
  },
} satisfies Record<string, Family>;

export type FamilyName = keyof typeof FAMILIES;

/** A family's WGSL layout, checked against its declared slots and traffic (read once per family). */
const layouts = new Map<FamilyName, WgslLayout>();

export function familyLayout(name: FamilyName): WgslLayout {
  let l = layouts.get(name);
  if (!l) {
    const f: Family = FAMILIES[name];
    l = parseWgslLayout(name, f.source);
    const kinds = l.storage.map((b) => (b.access === 'read' ? 'read' : 'storage'));
    if (kinds.join() !== f.slots.slice(1).join()) throw new GpuError(`${name}: declared slots [${f.slots.slice(1).join(', ')}] differ from the WGSL bindings [${kinds.join(', ')}]`);
    const declared = Object.keys(f.traffic);
    const missing = l.entryPoints.filter((e) => !declared.includes(e));
    const extra = declared.filter((e) => !l!.entryPoints.includes(e));
    if (missing.length || extra.length)
      throw new GpuError(`${name}: traffic declarations ${missing.length ? `missing for ${missing.join(', ')}` : ''}${missing.length && extra.length ? '; ' : ''}${extra.length ? `for unknown entry points ${extra.join(', ')}` : ''}`);
    layouts.set(name, l);
  }
  return l;
}

interface Compiled {
  layout: GPUBindGroupLayout;
  pipelines: Map<string, GPUComputePipeline>;
  module: GPUShaderModule;
}

const compiled = new WeakMap<GPUDevice, Map<FamilyName, Compiled>>();
const dummies = new WeakMap<GPUDevice, GPUBuffer[]>();

function family(device: GPUDevice, name: FamilyName): Compiled {
  let byDevice = compiled.get(device);
  if (!byDevice) compiled.set(device, (byDevice = new Map()));
  let c = byDevice.get(name);
  if (!c) {
    const f: Family = FAMILIES[name];
    familyLayout(name);
    const module = device.createShaderModule({ label: name, code: prelude + '\n' + f.source });
    const layout = device.createBindGroupLayout({
      label: name,
      entries: f.slots.map((s, i) => ({
        binding: i,
        visibility: GPUShaderStage.COMPUTE,
        buffer: { type: s === 'uniform' ? 'uniform' : s === 'read' ? 'read-only-storage' : 'storage' },
      })),
    });
    c = { layout, pipelines: new Map(), module };
    byDevice.set(name, c);
  }
  return c;
}

function pipeline(device: GPUDevice, name: FamilyName, entry: string): { p: GPUComputePipeline; layout: GPUBindGroupLayout } {
  const c = family(device, name);
  let p = c.pipelines.get(entry);
  if (!p) {
    p = device.createComputePipeline({
      label: `${name}.${entry}`,
      layout: device.createPipelineLayout({ bindGroupLayouts: [c.layout] }),
      compute: { module: c.module, entryPoint: entry },
    });
    c.pipelines.set(entry, p);
  }
  return { p, layout: c.layout };
}

function dummy(device: GPUDevice, slot: number): GPUBuffer {
  let list = dummies.get(device);
  if (!list) dummies.set(device, (list = []));
  while (list.length <= slot)
    list.push(device.createBuffer({ label: `dummy${list.length}`, size: 256, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.UNIFORM }));
  return list[slot];
}

/** A 2-D workgroup grid [x, y]: x ≤ 65535, y as needed (shaders/prelude.wgsl flat_index). */
export type Workgroups = readonly [number, number];

/**
 * The grid for ceil(n / perGroup) workgroups: n elements (or threads, rows, blocks…) at perGroup
 * per workgroup; the default is one element per thread of a 256-thread workgroup.
 */
export function workgroups(n: number, perGroup = 256): Workgroups {
  const groups = Math.ceil(n / perGroup);
  if (!(groups > 0)) return [0, 0];
  const x = Math.min(groups, 65535);
  return [x, Math.ceil(groups / x)];
}

/** Where dispatches are recorded: an encoder, the temporary buffers to free after submit, and a traffic meter. */
export interface Recorder {
  device: GPUDevice;
  enc: GPUCommandEncoder;
  temps: GPUBuffer[];
  /** Counts what the recorded work reads and writes (gpu/traffic.ts), when set. */
  traffic?: TrafficMeter;
}

/**
 * Records one dispatch of `family.entry` into `rec.enc`. `uniforms` are the fields of the WGSL
 * uniform struct by name (padding fields left out; see packUniforms). `buffers[i]` binds slot i+1
 * (slot 0 is the uniform block); undefined slots get a dummy buffer. With a traffic meter, the
 * entry point's declared traffic is counted (and checked against the bound buffers' sizes).
 */
export function dispatch(rec: Recorder, name: FamilyName, entry: string, uniforms: Uniforms, buffers: (GPUBuffer | undefined)[], wg: Workgroups): void {
  const kernel = `${name}.${entry}`;
  const l = familyLayout(name);
  const data = packUniforms(kernel, l.uniforms, uniforms);
  const [x, y] = wg;
  if (!(x * y > 0)) return;
  const { device, enc } = rec;
  const f: Family = FAMILIES[name];
  const { p, layout } = pipeline(device, name, entry);
  // declarations are checked on every dispatch (so every GPU test checks them), counted with a meter
  const bytes = declaredBytes(kernel, f.traffic[entry], l, uniforms, buffers, x * y);
  if (rec.traffic) {
    rec.traffic.dispatches++;
    rec.traffic.add(kernel as TrafficPart, bytes);
    rec.traffic.add('uniforms', l.uniforms.bytes);
  }
  const ubuf = device.createBuffer({ label: `${kernel}.uniforms`, size: l.uniforms.bytes, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST });
  device.queue.writeBuffer(ubuf, 0, data);
  rec.temps.push(ubuf);
  const entries: GPUBindGroupEntry[] = [{ binding: 0, resource: { buffer: ubuf } }];
  for (let i = 1; i < f.slots.length; i++) entries.push({ binding: i, resource: { buffer: buffers[i - 1] ?? dummy(device, i) } });
  const bg = device.createBindGroup({ label: kernel, layout, entries });
  const pass = enc.beginComputePass({ label: kernel });
  pass.setPipeline(p);
  pass.setBindGroup(0, bg);
  pass.dispatchWorkgroups(x, y);
  pass.end();
}

/**
 * One dispatch's declared traffic: per distinct buffer, the largest declared read plus the largest
 * declared write (two bindings of one buffer touch the same bytes). Throws when a declaration
 * names a binding the entry point does not have, writes a read-only one, or covers more bytes
 * than the bound buffer holds (or any of an unbound slot's).
 */
function declaredBytes(kernel: string, fn: TrafficFn | undefined, l: WgslLayout, uniforms: Uniforms, buffers: (GPUBuffer | undefined)[], groups: number): number {
  if (!fn) throw new GpuError(`${kernel}: no such entry point`);
  const P: Record<string, number> = {};
  for (const fl of l.uniforms.fields) P[fl.name] = fl.padding ? 0 : uniforms[fl.name];
  const declared = fn(P, groups);
  const perBuffer = new Map<GPUBuffer, { r: number; w: number }>();
  for (const [bname, a] of Object.entries(declared)) {
    if (!a) continue;
    const b = l.storage.find((s) => s.name === bname);
    if (!b) throw new GpuError(`${kernel}: traffic declared for "${bname}", which is not one of its bindings`);
    const r = a.r ?? 0;
    const w = a.w ?? 0;
    if (!(r >= 0 && w >= 0)) throw new GpuError(`${kernel}: traffic of ${bname} is not a byte count (r ${r}, w ${w})`);
    if (r === 0 && w === 0) continue;
    if (w > 0 && b.access === 'read') throw new GpuError(`${kernel}: traffic declares writes to read-only binding ${bname}`);
    const buf = buffers[b.index - 1];
    if (!buf) throw new GpuError(`${kernel}: traffic declared for binding ${bname}, which is not bound in this dispatch`);
    if (r > buf.size || w > buf.size) throw new GpuError(`${kernel}: traffic declares ${Math.max(r, w)} bytes of ${bname}, a buffer of ${buf.size} bytes`);
    const t = perBuffer.get(buf) ?? { r: 0, w: 0 };
    perBuffer.set(buf, { r: Math.max(t.r, r * (a.sweeps ?? 1)), w: Math.max(t.w, w) });
  }
  let bytes = 0;
  for (const t of perBuffer.values()) bytes += t.r + t.w;
  return bytes;
}

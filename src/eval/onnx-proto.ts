// A minimal protobuf encoder for the parts of onnx.proto the evaluation graphs use: ModelProto,
// GraphProto, NodeProto, AttributeProto, TensorProto (raw_data only) and ValueInfoProto with tensor
// types. Hand-written because the graphs are small and a protobuf library would be the only
// dependency; field numbers are those of onnx/onnx.proto (IR version 8).

export type OnnxDtype = 'float32' | 'float16' | 'int64' | 'int32' | 'bool';

/** TensorProto.DataType values. */
const DATA_TYPE: Record<OnnxDtype, number> = { float32: 1, int32: 6, int64: 7, bool: 9, float16: 10 };

export function onnxDataType(dtype: OnnxDtype): number {
  return DATA_TYPE[dtype];
}

export interface TensorInit {
  name: string;
  dtype: OnnxDtype;
  dims: number[];
  /** Little-endian element bytes (float16 as IEEE half bits, bool as one byte each). */
  data: Float32Array | Uint16Array | BigInt64Array | Int32Array | Uint8Array;
}

export type AttrValue =
  | { i: number }
  | { f: number }
  | { ints: number[] }
  | { floats: number[] }
  | { s: string }
  | { t: TensorInit };

export interface NodeDef {
  op: string;
  inputs: string[];
  outputs: string[];
  name?: string;
  domain?: string;
  attrs?: Record<string, AttrValue>;
}

/** A graph input or output; string dims are symbolic (dim_param). */
export interface ValueInfo {
  name: string;
  dtype: OnnxDtype;
  shape: (number | string)[];
}

export interface GraphDef {
  name: string;
  nodes: NodeDef[];
  initializers: TensorInit[];
  inputs: ValueInfo[];
  outputs: ValueInfo[];
}

export interface ModelDef {
  irVersion: number;
  opset: { domain: string; version: number }[];
  producerName: string;
  graph: GraphDef;
}

/** Appends protobuf fields to a growable byte buffer. */
class Writer {
  private buf = new Uint8Array(256);
  private len = 0;

  private ensure(n: number): void {
    if (this.len + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.len + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.len));
    this.buf = next;
  }

  byte(b: number): void {
    this.ensure(1);
    this.buf[this.len++] = b;
  }

  /** Base-128 varint. Negative values are 64-bit two's complement (10 bytes), as protobuf int64. */
  varint(v: number): void {
    if (!Number.isSafeInteger(v)) throw new Error(`protobuf varint: ${v} is not a safe integer`);
    if (v < 0) {
      let x = BigInt.asUintN(64, BigInt(v));
      while (x >= 0x80n) {
        this.byte(Number(x & 0x7fn) | 0x80);
        x >>= 7n;
      }
      this.byte(Number(x));
      return;
    }
    while (v >= 0x80) {
      this.byte((v % 0x80) | 0x80);
      v = Math.floor(v / 0x80);
    }
    this.byte(v);
  }

  tag(field: number, wire: number): void {
    this.varint(field * 8 + wire);
  }

  int(field: number, v: number): void {
    this.tag(field, 0);
    this.varint(v);
  }

  float(field: number, v: number): void {
    this.tag(field, 5);
    this.ensure(4);
    new DataView(this.buf.buffer, this.buf.byteOffset + this.len, 4).setFloat32(0, v, true);
    this.len += 4;
  }

  bytes(field: number, b: Uint8Array): void {
    this.tag(field, 2);
    this.varint(b.length);
    this.ensure(b.length);
    this.buf.set(b, this.len);
    this.len += b.length;
  }

  string(field: number, s: string): void {
    this.bytes(field, new TextEncoder().encode(s));
  }

  message(field: number, build: (w: Writer) => void): void {
    const inner = new Writer();
    build(inner);
    this.bytes(field, inner.finish());
  }

  packedInts(field: number, values: number[]): void {
    const inner = new Writer();
    for (const v of values) inner.varint(v);
    this.bytes(field, inner.finish());
  }

  finish(): Uint8Array {
    return this.buf.slice(0, this.len);
  }
}

function writeTensor(w: Writer, t: TensorInit): void {
  for (const d of t.dims) w.int(1, d); // dims
  w.int(2, DATA_TYPE[t.dtype]); // data_type
  w.string(8, t.name); // name
  w.bytes(9, new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength)); // raw_data
}

// AttributeProto.AttributeType
const ATTR_FLOAT = 1, ATTR_INT = 2, ATTR_STRING = 3, ATTR_TENSOR = 4, ATTR_FLOATS = 6, ATTR_INTS = 7;

function writeAttr(w: Writer, name: string, a: AttrValue): void {
  w.string(1, name);
  if ('i' in a) {
    w.int(3, a.i);
    w.int(20, ATTR_INT);
  } else if ('f' in a) {
    w.float(2, a.f);
    w.int(20, ATTR_FLOAT);
  } else if ('ints' in a) {
    for (const v of a.ints) w.int(8, v);
    w.int(20, ATTR_INTS);
  } else if ('floats' in a) {
    for (const v of a.floats) w.float(7, v);
    w.int(20, ATTR_FLOATS);
  } else if ('s' in a) {
    w.string(4, a.s);
    w.int(20, ATTR_STRING);
  } else {
    w.message(5, (m) => writeTensor(m, a.t));
    w.int(20, ATTR_TENSOR);
  }
}

function writeNode(w: Writer, n: NodeDef): void {
  for (const i of n.inputs) w.string(1, i);
  for (const o of n.outputs) w.string(2, o);
  if (n.name) w.string(3, n.name);
  w.string(4, n.op);
  for (const [k, v] of Object.entries(n.attrs ?? {})) w.message(5, (m) => writeAttr(m, k, v));
  if (n.domain) w.string(7, n.domain);
}

function writeValueInfo(w: Writer, v: ValueInfo): void {
  w.string(1, v.name);
  w.message(2, (type) =>
    type.message(1, (tensor) => {
      tensor.int(1, DATA_TYPE[v.dtype]); // elem_type
      tensor.message(2, (shape) => {
        for (const d of v.shape)
          shape.message(1, (dim) => {
            if (typeof d === 'number') dim.int(1, d); // dim_value
            else dim.string(2, d); // dim_param
          });
      });
    }),
  );
}

function writeGraph(w: Writer, g: GraphDef): void {
  for (const n of g.nodes) w.message(1, (m) => writeNode(m, n));
  w.string(2, g.name);
  for (const t of g.initializers) w.message(5, (m) => writeTensor(m, t));
  for (const v of g.inputs) w.message(11, (m) => writeValueInfo(m, v));
  for (const v of g.outputs) w.message(12, (m) => writeValueInfo(m, v));
}

/** Serialises a model to ONNX protobuf bytes. */
export function encodeModel(m: ModelDef): Uint8Array {
  const w = new Writer();
  w.int(1, m.irVersion);
  w.string(2, m.producerName);
  w.message(7, (g) => writeGraph(g, m.graph));
  for (const o of m.opset)
    w.message(8, (os) => {
      if (o.domain) os.string(1, o.domain);
      os.int(2, o.version);
    });
  return w.finish();
}

/** IEEE binary16 bits of a number, rounded to nearest even (overflow → ±inf, NaN kept). */
export function toHalfBits(x: number): number {
  const f32 = new Float32Array([x]);
  const u = new Uint32Array(f32.buffer)[0];
  const sign = (u >>> 16) & 0x8000;
  const exp = (u >>> 23) & 0xff;
  const mant = u & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    const m = mant | 0x800000;
    const shift = 14 - e;
    let half = m >>> shift;
    const rem = m & ((1 << shift) - 1);
    const mid = 1 << (shift - 1);
    if (rem > mid || (rem === mid && (half & 1))) half++;
    return sign | half;
  }
  let half = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && (half & 1))) half++;
  return sign | half;
}

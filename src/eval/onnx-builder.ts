// A small helper for writing ONNX graphs node by node: fresh tensor names, one call per op, and
// constants (shapes, axes, scalars) as cached initializers so each distinct value appears once.
import { toHalfBits, type AttrValue, type NodeDef, type OnnxDtype, type TensorInit } from './onnx-proto';

export class OnnxBuilder {
  readonly nodes: NodeDef[] = [];
  readonly initializers: TensorInit[] = [];
  private count = 0;
  private readonly consts = new Map<string, string>();

  /** Adds a node; returns its output names (fresh ones unless given). */
  nodeN(op: string, inputs: string[], attrs: Record<string, AttrValue> = {}, outputs: number | string[] = 1): string[] {
    const outs = typeof outputs === 'number' ? Array.from({ length: outputs }, () => `${op}_${this.count++}`) : outputs;
    this.nodes.push({ op, inputs, outputs: outs, name: `${op}_n${this.nodes.length}`, attrs });
    return outs;
  }

  /** Adds a single-output node; `out` names its output (e.g. a graph output), else a fresh name. */
  op(op: string, inputs: string[], attrs: Record<string, AttrValue> = {}, out?: string): string {
    return this.nodeN(op, inputs, attrs, out ? [out] : 1)[0];
  }

  /** A constant tensor (dims [] = scalar), shared by every use of the same dtype, dims and values. */
  constant(dtype: 'int64' | 'float32' | 'float16', values: ArrayLike<number>, dims: number[] = [values.length]): string {
    const list = Array.from(values);
    const key = `${dtype}|${dims.join(',')}|${list.join(',')}`;
    const hit = this.consts.get(key);
    if (hit) return hit;
    const name = `const_${this.consts.size}`;
    let data: TensorInit['data'];
    if (dtype === 'int64') data = BigInt64Array.from(list, (v) => BigInt(v));
    else if (dtype === 'float16') data = Uint16Array.from(list, toHalfBits);
    else data = Float32Array.from(list);
    this.initializers.push({ name, dtype, dims, data });
    this.consts.set(key, name);
    return name;
  }

  i64(values: number[], dims?: number[]): string {
    return this.constant('int64', values, dims);
  }

  /** An int64 scalar (rank 0), as Range, Gather indices and comparisons want. */
  i64s(v: number): string {
    return this.constant('int64', [v], []);
  }
}

// mergekit YAML ⇄ Recipe. The full mergekit-yaml schema (mergekit config.py, tokenizer/config.py),
// validated strictly: an unknown key, a wrong type or a parameter the method does not declare is a
// RecipeError naming the key path and its line. Valid mergekit options this engine cannot run
// (modules:, multi-document mergekit-multi files) are UnsupportedErrors. LoRA references read as
// "model+adapter" strings, both forms ("X+Y" and {model: X, lora: Y}), and are written back as "X+Y".
// Pure: no DOM, no node: imports.
//
// YAML is read with the YAML 1.1 schema, as PyYAML (mergekit) reads it: `yes`/`on` are booleans,
// and written so that PyYAML reads back exactly the same values.

import {
  Document,
  isAlias,
  isMap,
  isPair,
  isScalar,
  isSeq,
  LineCounter,
  parseAllDocuments,
  visit,
  type Node as YNode,
  type Pair,
  type Scalar as YScalar,
} from 'yaml';
import { RecipeError, UnsupportedError } from '../errors';
import { getMethod } from '../methods/specs';
import type { MethodSpec, ParamSpec } from '../methods/spec';
import type {
  FilteredValue,
  InputModel,
  ModelRef,
  OutputSlice,
  Params,
  Recipe,
  Scalar,
  Setting,
  SliceSource,
  TokenizerConfig,
  TokenSource,
  ValueOrGradient,
} from './types';
import type { TorchDtypeName } from '../formats/dtype';

const TOP_KEYS = [
  'merge_method',
  'base_model',
  'models',
  'slices',
  'modules',
  'parameters',
  'dtype',
  'out_dtype',
  'tokenizer_source',
  'tokenizer',
  'chat_template',
  'random_seed',
];
const MODEL_KEYS = ['model', 'parameters'];
const SLICE_KEYS = ['sources', 'base_model', 'parameters', 'residual_weight'];
const SOURCE_KEYS = ['model', 'layer_range', 'parameters'];
const REF_KEYS = ['model', 'lora', 'override_architecture'];
const PATH_KEYS = ['path', 'revision'];
const TOKENIZER_KEYS = ['source', 'tokens', 'pad_to_multiple_of'];
const TOKEN_KEYS = ['source', 'force'];
const MODEL_TOKEN_KEYS = ['kind', 'model', 'token', 'token_id'];
const CONDITIONAL_KEYS = ['filter', 'value'];
const DTYPES: readonly TorchDtypeName[] = ['float32', 'float16', 'bfloat16'];
/** mergekit's named chat templates (chat_template: auto picks the most common among the inputs). */
export const CHAT_TEMPLATE_NAMES = ['auto', 'alpaca', 'chatml', 'llama3', 'mistral', 'exaone'];
/** The comment recipeToMergekitYaml writes for the seed extension; read back by the parser. */
const SEED_COMMENT = /^[ \t]*random_seed:[ \t]*(\d+)\b/m;

interface Entry {
  key: YNode;
  value: YNode | null;
}

/** Reads one parsed document, tracking lines for messages. */
class Reader {
  constructor(
    private readonly lc: LineCounter,
    private readonly doc: Document.Parsed,
    private readonly file: string,
  ) {}

  line(node: YNode | null | undefined): number | undefined {
    const r = node?.range;
    if (!r) return undefined;
    return Math.max(1, this.lc.linePos(r[0]).line);
  }

  fail(message: string, node: YNode | null | undefined, key?: string): never {
    throw new RecipeError(message, { line: this.line(node), key, file: this.file });
  }

  unsupported(message: string, node: YNode | null | undefined, key?: string): never {
    const line = this.line(node);
    throw new UnsupportedError(line !== undefined ? `line ${line}: ${message}` : message, { line, key, file: this.file });
  }

  deref(node: unknown): YNode | null {
    if (node === null || node === undefined) return null;
    if (isAlias(node)) {
      const target = node.resolve(this.doc);
      if (!target) this.fail(`unresolved alias *${node.source}`, node as YNode);
      return this.deref(target);
    }
    return node as YNode;
  }

  isNull(node: YNode | null): boolean {
    return node === null || (isScalar(node) && node.value === null);
  }

  kind(node: YNode | null): string {
    if (this.isNull(node)) return 'nothing';
    if (isMap(node)) return 'a mapping';
    if (isSeq(node)) return 'a list';
    if (isScalar(node)) {
      const v = node.value;
      if (typeof v === 'string') return `the string ${JSON.stringify(v)}`;
      if (typeof v === 'number') return `the number ${v}`;
      if (typeof v === 'boolean') return `${v}`;
    }
    return 'an unexpected value';
  }

  /** A mapping's entries, rejecting keys outside `allowed`. `<<` merge keys are expanded. */
  map(node: YNode | null, path: string, allowed: readonly string[], what = 'a mapping'): Map<string, Entry> {
    if (!isMap(node)) this.fail(`${label(path)} must be ${what}, got ${this.kind(node)}`, node, path);
    const out = new Map<string, Entry>();
    const merged: Pair[] = [];
    for (const item of node.items) {
      const pair = item as Pair;
      const keyNode = this.deref(pair.key);
      const k = isScalar(keyNode) ? keyNode.value : undefined;
      if (typeof k === 'symbol') {
        // a `<<` merge key (YAML 1.1, as PyYAML reads it)
        merged.push(pair);
        continue;
      }
      if (typeof k !== 'string' || !keyNode) {
        this.fail(`${label(path)}: keys must be plain names, got ${this.kind(keyNode)}`, keyNode ?? node, path);
      }
      if (!allowed.includes(k)) {
        const where = path === '' ? 'at the top level' : `in ${path}`;
        this.fail(`unknown key "${k}" ${where}; allowed keys: ${allowed.join(', ')}`, keyNode, join(path, k));
      }
      out.set(k, { key: keyNode, value: this.deref(pair.value) });
    }
    for (const pair of merged) {
      const src = this.deref(pair.value);
      const sources = isSeq(src) ? src.items.map((x) => this.deref(x)) : [src];
      for (const s of sources) {
        for (const [k, e] of this.map(s, path, allowed, what)) if (!out.has(k)) out.set(k, e);
      }
    }
    return out;
  }

  seq(node: YNode | null, path: string, what = 'a list'): YNode[] {
    if (!isSeq(node)) this.fail(`${label(path)} must be ${what}, got ${this.kind(node)}`, node, path);
    return node.items.map((x) => this.deref(x) as YNode);
  }

  str(node: YNode | null, path: string, what = 'a string'): string {
    if (!isScalar(node) || typeof node.value !== 'string') this.fail(`${label(path)} must be ${what}, got ${this.kind(node)}`, node, path);
    return node.value;
  }

  num(node: YNode | null, path: string, what = 'a number'): number {
    if (!isScalar(node) || typeof node.value !== 'number' || !Number.isFinite(node.value))
      this.fail(`${label(path)} must be ${what}, got ${this.kind(node)}`, node, path);
    return node.value;
  }

  int(node: YNode | null, path: string, min: number, what = `an integer ≥ ${min}`): number {
    const v = this.num(node, path, what);
    if (!Number.isInteger(v) || v < min) this.fail(`${label(path)} must be ${what}, got ${v}`, node, path);
    return v;
  }

  bool(node: YNode | null, path: string): boolean {
    if (!isScalar(node) || typeof node.value !== 'boolean') this.fail(`${label(path)} must be true or false, got ${this.kind(node)}`, node, path);
    return node.value;
  }

  // ---- model references -------------------------------------------------------------------

  /** A ModelRef: "org/name", "org/name@rev", a path, or {model, lora?, override_architecture?}. */
  modelRef(node: YNode | null, path: string): ModelRef {
    if (isMap(node)) {
      const e = this.map(node, path, REF_KEYS, 'a model reference');
      const arch = e.get('override_architecture');
      if (arch && !this.isNull(arch.value)) this.str(arch.value, join(path, 'override_architecture'));
      const m = e.get('model');
      if (!m) this.fail(`${label(path)} is missing the key "model"`, node, path);
      const model = this.modelPath(m.value, join(path, 'model'));
      if (model.includes('+')) this.fail(`${label(join(path, 'model'))}: "${model}" must not contain "+"; give the adapter as "lora"`, m.value, join(path, 'model'));
      const lora = e.get('lora');
      if (!lora || this.isNull(lora.value)) return model;
      // {model: X, lora: Y} is mergekit's ModelReference written out; it reads as "X+Y"
      const adapter = this.modelPath(lora.value, join(path, 'lora'));
      if (adapter.includes('+')) this.fail(`${label(join(path, 'lora'))}: "${adapter}" must not contain "+"`, lora.value, join(path, 'lora'));
      return `${model}+${adapter}`;
    }
    const s = this.refString(node, path);
    // "model+adapter" (mergekit's ModelReference string form): exactly one "+", both sides non-empty
    const parts = s.split('+');
    if (parts.length > 2) this.fail(`${label(path)}: invalid model reference "${s}" (more than one "+"; the form is "model+adapter")`, node, path);
    if (parts.length === 2) {
      if (!parts[0].trim() || !parts[1].trim()) this.fail(`${label(path)}: invalid model reference "${s}" (the form is "model+adapter", both non-empty)`, node, path);
      for (const p of parts) if (p.split('@').length > 2) this.fail(`${label(path)}: invalid model reference "${s}" (more than one "@" in "${p}")`, node, path);
    }
    return s;
  }

  private modelPath(node: YNode | null, path: string): ModelRef {
    if (isMap(node)) {
      const e = this.map(node, path, PATH_KEYS, 'a model path');
      const p = e.get('path');
      if (!p) this.fail(`${label(path)} is missing the key "path"`, node, path);
      const base = this.refString(p.value, join(path, 'path'));
      if (base.includes('@')) this.fail(`${label(join(path, 'path'))} must not contain "@"; give the revision separately`, p.value, join(path, 'path'));
      const rev = e.get('revision');
      if (rev && !this.isNull(rev.value)) return `${base}@${this.str(rev.value, join(path, 'revision'))}`;
      return base;
    }
    return this.refString(node, path);
  }

  private refString(node: YNode | null, path: string): ModelRef {
    const s = this.str(node, path, 'a model reference (a string such as "org/name")');
    if (s.trim() === '') this.fail(`${label(path)} must not be empty`, node, path);
    if (!s.includes('+') && s.split('@').length > 2) this.fail(`${label(path)}: invalid model reference "${s}" (more than one "@")`, node, path);
    return s;
  }

  // ---- parameters ---------------------------------------------------------------------------

  params(node: YNode | null, path: string, method: MethodSpec): Params | undefined {
    if (this.isNull(node)) return undefined;
    if (!isMap(node)) this.fail(`${label(path)} must be a mapping of parameter names to values, got ${this.kind(node)}`, node, path);
    const names = method.params.map((p) => p.name);
    const out: Params = {};
    for (const [k, e] of this.map(node, path, names.length ? names : ['(none)'])) {
      const spec = method.params.find((p) => p.name === k);
      if (!spec) continue; // unreachable: map() rejected it
      out[k] = this.setting(e.value, join(path, k), spec);
    }
    return out;
  }

  /** Overrides map()'s generic unknown-key message with the method's parameter list. */
  checkParamNames(node: YNode | null, path: string, method: MethodSpec): void {
    if (!isMap(node)) return;
    for (const item of node.items) {
      const keyNode = this.deref((item as Pair).key);
      const k = isScalar(keyNode) ? keyNode.value : undefined;
      if (typeof k !== 'string') continue;
      if (!method.params.some((p) => p.name === k)) {
        const list = method.params.length
          ? `${method.name} parameters: ${method.params.map((p) => `${p.name} (${p.scope === 'global' ? 'global' : 'per model'})`).join(', ')}`
          : `${method.name} takes no parameters`;
        this.fail(`unknown parameter "${k}" in ${path} for merge_method ${method.name}; ${list}`, keyNode, join(path, k));
      }
    }
  }

  setting(node: YNode | null, path: string, spec: ParamSpec): Setting {
    if (isMap(node)) return [this.conditional(node, path, spec)];
    if (isSeq(node)) {
      const items = this.seq(node, path);
      if (items.length === 0) this.fail(`${label(path)} must not be an empty list`, node, path);
      if (items.every((x) => isMap(x))) return items.map((x, i) => this.conditional(x, `${path}[${i}]`, spec));
      return this.gradient(node, path, spec);
    }
    return this.scalar(node, path, spec);
  }

  private conditional(node: YNode, path: string, spec: ParamSpec): FilteredValue {
    const e = this.map(node, path, CONDITIONAL_KEYS, 'a {filter, value} mapping');
    const v = e.get('value');
    if (!v) this.fail(`${label(path)} is missing the key "value"`, node, path);
    const out: FilteredValue = { value: isSeq(v.value) ? this.gradient(v.value, join(path, 'value'), spec) : this.scalar(v.value, join(path, 'value'), spec) };
    const f = e.get('filter');
    if (f && !this.isNull(f.value)) out.filter = this.str(f.value, join(path, 'filter'), 'a string (a substring of tensor names)');
    return { ...(out.filter !== undefined ? { filter: out.filter } : {}), value: out.value };
  }

  private gradient(node: YNode | null, path: string, spec: ParamSpec): Scalar[] {
    const items = this.seq(node, path);
    if (items.length === 0) this.fail(`${label(path)} must not be an empty list`, node, path);
    return items.map((x, i) => this.scalar(x, `${path}[${i}]`, spec, true));
  }

  private scalar(node: YNode | null, path: string, spec: ParamSpec, inList = false): Scalar {
    const expected =
      spec.type === 'number'
        ? inList
          ? 'a number'
          : 'a number, a list of numbers (gradient) or a list of {filter, value}'
        : inList
          ? 'true/false'
          : 'true/false or a list of {filter, value}';
    if (!isScalar(node) || node.value === null) this.fail(`${label(path)} must be ${expected}, got ${this.kind(node)}`, node, path);
    const v = node.value;
    if (spec.type === 'number') {
      if (typeof v === 'number' && Number.isFinite(v)) return v;
    } else if (typeof v === 'boolean' || (typeof v === 'number' && Number.isFinite(v))) {
      return v;
    }
    return this.fail(`${label(path)} must be ${expected}, got ${this.kind(node)}`, node, path);
  }

  // ---- tokenizer -----------------------------------------------------------------------------

  tokenizerSource(node: YNode | null, path: string): 'union' | 'base' | ModelRef {
    if (isScalar(node) && (node.value === 'union' || node.value === 'base')) return node.value;
    return this.modelRef(node, path);
  }

  tokenizer(node: YNode | null, path: string): TokenizerConfig {
    const e = this.map(node, path, TOKENIZER_KEYS);
    const out: TokenizerConfig = {};
    const src = e.get('source');
    if (src && !this.isNull(src.value)) out.source = this.tokenizerSource(src.value, join(path, 'source'));
    const tokens = e.get('tokens');
    if (tokens && !this.isNull(tokens.value)) {
      const tpath = join(path, 'tokens');
      if (!isMap(tokens.value)) this.fail(`${label(tpath)} must be a mapping of tokens to {source, force}, got ${this.kind(tokens.value)}`, tokens.value, tpath);
      const tk: NonNullable<TokenizerConfig['tokens']> = {};
      for (const item of tokens.value.items) {
        const pair = item as Pair;
        const keyNode = this.deref(pair.key);
        if (!isScalar(keyNode) || keyNode.value === null) this.fail(`${label(tpath)}: token keys must be strings`, keyNode ?? tokens.value, tpath);
        const tok = String(keyNode.value);
        const p = `${tpath}[${JSON.stringify(tok)}]`;
        const te = this.map(this.deref(pair.value), p, TOKEN_KEYS);
        const cfg: { source?: TokenSource; force?: boolean } = {};
        const s = te.get('source');
        if (s && !this.isNull(s.value)) cfg.source = this.tokenSource(s.value, join(p, 'source'));
        const f = te.get('force');
        if (f && !this.isNull(f.value)) cfg.force = this.bool(f.value, join(p, 'force'));
        tk[tok] = cfg;
      }
      out.tokens = tk;
    }
    const pad = e.get('pad_to_multiple_of');
    if (pad && !this.isNull(pad.value)) out.pad_to_multiple_of = this.int(pad.value, join(path, 'pad_to_multiple_of'), 1);
    return out;
  }

  private tokenSource(node: YNode | null, path: string): TokenSource {
    if (isMap(node) && node.items.some((p) => isPair(p) && isScalar(p.key) && p.key.value === 'kind')) {
      const e = this.map(node, path, MODEL_TOKEN_KEYS, 'a token source');
      const kind = this.str(e.get('kind')!.value, join(path, 'kind'));
      if (kind === 'zero') {
        if (e.size > 1) this.fail(`${label(path)}: {kind: zero} takes no other keys`, node, path);
        return { kind: 'zero' };
      }
      if (kind !== 'model_token') this.fail(`${label(join(path, 'kind'))} must be "model_token" or "zero", got "${kind}"`, e.get('kind')!.value, join(path, 'kind'));
      const m = e.get('model');
      if (!m) this.fail(`${label(path)} is missing the key "model"`, node, path);
      const out: { kind: 'model_token'; model: ModelRef; token?: string; token_id?: number } = {
        kind: 'model_token',
        model: this.modelRef(m.value, join(path, 'model')),
      };
      const tok = e.get('token');
      if (tok && !this.isNull(tok.value)) out.token = this.str(tok.value, join(path, 'token'));
      const id = e.get('token_id');
      if (id && !this.isNull(id.value)) out.token_id = this.int(id.value, join(path, 'token_id'), 0);
      return out;
    }
    return this.modelRef(node, path);
  }
}

function join(path: string, key: string): string {
  return path === '' ? key : `${path}.${key}`;
}
function label(path: string): string {
  return path === '' ? 'the document' : path;
}

/**
 * Parses and validates a mergekit YAML config into a Recipe. Object model references are
 * normalised to strings ("path@revision"); a lone {filter, value} becomes a one-entry list.
 * The extension `random_seed` is read from a top-level key or from a `# random_seed: N` comment.
 */
export function parseMergekitYaml(text: string, fileName = 'config.yml'): Recipe {
  const lc = new LineCounter();
  const docs = parseAllDocuments(text, { lineCounter: lc, schema: 'yaml-1.1', merge: true, uniqueKeys: true });
  if (!Array.isArray(docs)) {
    // An empty stream gives an EmptyStream object.
    throw new RecipeError(`${fileName} is empty; expected a mergekit config with at least merge_method`, { file: fileName, line: 1 });
  }
  for (const d of docs) {
    const err = d.errors[0];
    if (err) {
      const line = err.linePos?.[0]?.line;
      const msg = err.message.split('\n')[0].replace(/ at line \d+, column \d+:?$/, '');
      throw new RecipeError(`YAML syntax error in ${fileName}: ${msg}`, { file: fileName, line });
    }
  }
  const nonEmpty = docs.filter((d) => d.contents !== null && !(isScalar(d.contents) && d.contents.value === null));
  if (nonEmpty.length > 1) {
    const second = nonEmpty[1];
    const line = second.range ? Math.max(1, lc.linePos(second.range[0]).line) : undefined;
    throw new UnsupportedError(
      `${line !== undefined ? `line ${line}: ` : ''}${fileName} holds ${nonEmpty.length} YAML documents separated by "---" (a mergekit-multi config); multi-stage merges are not supported, run each stage as its own config`,
      { file: fileName, line },
    );
  }
  if (nonEmpty.length === 0) throw new RecipeError(`${fileName} is empty; expected a mergekit config with at least merge_method`, { file: fileName, line: 1 });
  const doc = nonEmpty[0];
  const r: Reader = new Reader(lc, doc, fileName);
  const root = r.deref(doc.contents);
  const top = r.map(root, '', TOP_KEYS, 'a mapping (a mergekit config)');
  const val = (k: string): YNode | null => {
    const e = top.get(k);
    return e && !r.isNull(e.value) ? e.value : null;
  };
  const keyNode = (k: string): YNode | null => top.get(k)?.key ?? null;

  // merge_method first: the method decides which parameters exist.
  const mm = val('merge_method');
  if (mm === null) r.fail(`missing required key "merge_method"`, keyNode('merge_method') ?? root, 'merge_method');
  const methodName = r.str(mm, 'merge_method', 'a method name');
  let method: MethodSpec;
  try {
    method = getMethod(methodName);
  } catch (e) {
    if (e instanceof RecipeError) r.fail(e.message, mm, 'merge_method');
    throw e;
  }

  if (top.has('modules'))
    r.unsupported(`modules (multi-module architectures) are not supported; use models: or slices:`, keyNode('modules'), 'modules');

  const params = (node: YNode | null, path: string): Params | undefined => {
    r.checkParamNames(node, path, method);
    return r.params(node, path, method);
  };

  const recipe: Recipe = { merge_method: methodName };
  const base = val('base_model');
  if (base !== null) recipe.base_model = r.modelRef(base, 'base_model');

  const models = val('models');
  const slices = val('slices');
  if (models !== null && slices !== null)
    r.fail(`give exactly one of "models" and "slices", not both`, keyNode('slices'), 'slices');
  if (models === null && slices === null)
    r.fail(`missing "models" or "slices": a config lists the models to merge (models:) or the output slices (slices:)`, root, 'models');

  if (models !== null) {
    const items = r.seq(models, 'models', 'a list of {model, parameters}');
    if (items.length === 0) r.fail(`models must list at least one model`, models, 'models');
    recipe.models = items.map((item, i): InputModel => {
      const path = `models[${i}]`;
      const e = r.map(item, path, MODEL_KEYS, 'a mapping {model, parameters}');
      const m = e.get('model');
      if (!m || r.isNull(m.value)) r.fail(`${path} is missing the key "model"`, m?.key ?? item, path);
      const out: InputModel = { model: r.modelRef(m.value, `${path}.model`) };
      const p = e.get('parameters');
      if (p) {
        const ps = params(p.value, `${path}.parameters`);
        if (ps) out.parameters = ps;
      }
      return out;
    });
  } else {
    const items = r.seq(slices, 'slices', 'a list of {sources, ...}');
    if (items.length === 0) r.fail(`slices must list at least one slice`, slices, 'slices');
    recipe.slices = items.map((item, i): OutputSlice => {
      const path = `slices[${i}]`;
      const e = r.map(item, path, SLICE_KEYS, 'a mapping {sources, base_model?, parameters?}');
      const s = e.get('sources');
      if (!s || r.isNull(s.value)) r.fail(`${path} is missing the key "sources"`, s?.key ?? item, path);
      const srcItems = r.seq(s.value, `${path}.sources`, 'a list of {model, layer_range, parameters}');
      if (srcItems.length === 0) r.fail(`${path}.sources must list at least one source`, s.value, `${path}.sources`);
      const out: OutputSlice = {
        sources: srcItems.map((si, j): SliceSource => {
          const sp = `${path}.sources[${j}]`;
          const se = r.map(si, sp, SOURCE_KEYS, 'a mapping {model, layer_range, parameters}');
          const m = se.get('model');
          if (!m || r.isNull(m.value)) r.fail(`${sp} is missing the key "model"`, m?.key ?? si, sp);
          const src: SliceSource = { model: r.modelRef(m.value, `${sp}.model`) };
          const lr = se.get('layer_range');
          if (!lr || r.isNull(lr.value)) r.fail(`${sp} is missing the key "layer_range" ([start, end) of the source's layers)`, lr?.key ?? si, sp);
          const lp = `${sp}.layer_range`;
          const range = r.seq(lr.value, lp, 'a list [start, end]');
          if (range.length !== 2) r.fail(`${lp} must be [start, end], got ${range.length} values`, lr.value, lp);
          const a = r.int(range[0], `${lp}[0]`, 0, 'a layer index (integer ≥ 0)');
          const b = r.int(range[1], `${lp}[1]`, 0, 'a layer index (integer ≥ 0)');
          if (b < a) r.fail(`${lp} is [${a}, ${b}]: the end must not be before the start (the range is [start, end), end exclusive)`, lr.value, lp);
          src.layer_range = [a, b];
          const p = se.get('parameters');
          if (p) {
            const ps = params(p.value, `${sp}.parameters`);
            if (ps) src.parameters = ps;
          }
          return src;
        }),
      };
      const sb = e.get('base_model');
      if (sb && !r.isNull(sb.value)) out.base_model = r.modelRef(sb.value, `${path}.base_model`);
      const p = e.get('parameters');
      if (p) {
        const ps = params(p.value, `${path}.parameters`);
        if (ps) out.parameters = ps;
      }
      const rw = e.get('residual_weight');
      if (rw && !r.isNull(rw.value)) out.residual_weight = r.num(rw.value, `${path}.residual_weight`);
      return out;
    });
  }

  const tp = top.get('parameters');
  if (tp) {
    const ps = params(tp.value, 'parameters');
    if (ps) recipe.parameters = ps;
  }

  for (const k of ['dtype', 'out_dtype'] as const) {
    const n = val(k);
    if (n === null) continue;
    const raw = r.str(n, k, 'a dtype name (float32, float16 or bfloat16)');
    const name = raw.startsWith('torch.') ? raw.slice(6) : raw;
    if (!(DTYPES as readonly string[]).includes(name))
      r.fail(`${k} "${raw}" is not supported; use float32, float16 or bfloat16`, n, k);
    recipe[k] = name as TorchDtypeName;
  }

  const ts = val('tokenizer_source');
  const tk = val('tokenizer');
  if (ts !== null && tk !== null) r.fail(`give either tokenizer_source or tokenizer, not both`, keyNode('tokenizer'), 'tokenizer');
  if (ts !== null) recipe.tokenizer_source = r.tokenizerSource(ts, 'tokenizer_source');
  if (tk !== null) recipe.tokenizer = r.tokenizer(tk, 'tokenizer');

  const ct = val('chat_template');
  if (ct !== null) {
    const s = r.str(ct, 'chat_template', 'a template name or a Jinja template string');
    if (!CHAT_TEMPLATE_NAMES.includes(s) && !(s.length >= 20 && s.includes('{')))
      r.fail(`chat_template "${s}" is neither a known template (${CHAT_TEMPLATE_NAMES.join(', ')}) nor a Jinja template`, ct, 'chat_template');
    recipe.chat_template = s;
  }

  const seed = val('random_seed');
  if (seed !== null) {
    const n = r.int(seed, 'random_seed', 0, 'a non-negative integer');
    recipe.random_seed = n;
  } else {
    const m = SEED_COMMENT.exec(`${doc.commentBefore ?? ''}\n${doc.comment ?? ''}`);
    if (m && Number(m[1]) <= Number.MAX_SAFE_INTEGER) recipe.random_seed = Number(m[1]);
  }

  validateBase(recipe, method, r, top, keyNode);
  return recipe;
}

function validateBase(
  recipe: Recipe,
  method: MethodSpec,
  r: Reader,
  top: Map<string, Entry>,
  keyNode: (k: string) => YNode | null,
): void {
  const needsBase = method.base === 'required' || method.base === 'slerp';
  const where = (k: string): YNode | null => top.get(k)?.value ?? keyNode(k);
  if (recipe.models) {
    if (needsBase && !recipe.base_model)
      r.fail(`merge_method ${method.name} needs a base_model${method.base === 'slerp' ? ' (slerp interpolates from the base, t = 0, to the other model, t = 1)' : ''}`, where('merge_method'), 'base_model');
    // A base not listed under models: is appended by mergekit (with no parameters): nothing to check.
    return;
  }
  const slices = recipe.slices ?? [];
  if (needsBase && !recipe.base_model) {
    const missing = slices.findIndex((s) => !s.base_model);
    if (missing >= 0)
      r.fail(`merge_method ${method.name} needs a base_model (top-level, or in every slice); slices[${missing}] has none`, where('merge_method'), 'base_model');
  }
  if (recipe.base_model) {
    const b = recipe.base_model;
    if (!slices.some((s) => s.sources.some((src) => src.model === b)))
      r.fail(`base model ${b} is not in any slice; add it as a source of the slices it should be the base of`, where('base_model'), 'base_model');
  }
}

// ---------------------------------------------------------------------------------------------
// Writing

/** Numbers as PyYAML (YAML 1.1) reads them back: exponent forms need a "." and a signed exponent. */
function formatNumber(v: number): string {
  if (Number.isNaN(v)) return '.nan';
  if (!Number.isFinite(v)) return v < 0 ? '-.inf' : '.inf';
  const s = String(v);
  const i = s.indexOf('e');
  if (i < 0) return s;
  let mant = s.slice(0, i);
  let exp = s.slice(i + 1);
  if (!mant.includes('.')) mant += '.0';
  if (!/^[-+]/.test(exp)) exp = `+${exp}`;
  return `${mant}e${exp}`;
}

const expNumberTag = {
  identify: (v: unknown) => typeof v === 'number' && /e/.test(String(v)),
  default: true,
  tag: 'tag:yaml.org,2002:float',
  test: /^\b$/,
  resolve: (s: string) => Number(s),
  stringify: (node: { value: unknown }) => formatNumber(node.value as number),
};

function settingOut(s: Setting): unknown {
  if (!Array.isArray(s)) return s;
  if (s.some((x) => typeof x === 'object' && x !== null)) {
    return (s as FilteredValue[]).map((c) => (c.filter !== undefined ? { filter: c.filter, value: c.value } : { value: c.value }));
  }
  return [...(s as Scalar[])];
}

function paramsOut(p: Params | undefined): Record<string, unknown> | undefined {
  if (!p) return undefined;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(p)) out[k] = settingOut(v as Setting);
  return out;
}

function put(o: Record<string, unknown>, k: string, v: unknown): void {
  if (v !== undefined) o[k] = v;
}

function tokenizerOut(t: TokenizerConfig): Record<string, unknown> {
  const o: Record<string, unknown> = {};
  put(o, 'source', t.source);
  if (t.tokens) {
    const tk: Record<string, unknown> = {};
    for (const [tok, cfg] of Object.entries(t.tokens)) {
      const c: Record<string, unknown> = {};
      const src = cfg.source;
      if (src !== undefined) {
        if (typeof src === 'string') c.source = src;
        else if (src.kind === 'zero') c.source = { kind: 'zero' };
        else {
          const m: Record<string, unknown> = { kind: 'model_token', model: src.model };
          put(m, 'token', src.token);
          put(m, 'token_id', src.token_id);
          c.source = m;
        }
      }
      put(c, 'force', cfg.force);
      tk[tok] = c;
    }
    o.tokens = tk;
  }
  put(o, 'pad_to_multiple_of', t.pad_to_multiple_of);
  return o;
}

/**
 * A mergekit YAML config for the recipe, in the key order of mergekit's docs. Extension keys are not
 * mergekit YAML: random_seed is written as a trailing `# random_seed: N` comment (mergekit takes it as
 * --random-seed), which parseMergekitYaml reads back, so parse(stringify(r)) equals r.
 */
export function recipeToMergekitYaml(recipe: Recipe): string {
  const o: Record<string, unknown> = {};
  o.merge_method = recipe.merge_method;
  put(o, 'base_model', recipe.base_model);
  if (recipe.models) {
    o.models = recipe.models.map((m) => {
      const e: Record<string, unknown> = { model: m.model };
      put(e, 'parameters', paramsOut(m.parameters));
      return e;
    });
  }
  if (recipe.slices) {
    o.slices = recipe.slices.map((s) => {
      const e: Record<string, unknown> = {
        sources: s.sources.map((src) => {
          const se: Record<string, unknown> = { model: src.model };
          put(se, 'layer_range', src.layer_range ? [...src.layer_range] : undefined);
          put(se, 'parameters', paramsOut(src.parameters));
          return se;
        }),
      };
      put(e, 'base_model', s.base_model);
      put(e, 'parameters', paramsOut(s.parameters));
      put(e, 'residual_weight', s.residual_weight);
      return e;
    });
  }
  put(o, 'parameters', paramsOut(recipe.parameters));
  put(o, 'dtype', recipe.dtype);
  put(o, 'out_dtype', recipe.out_dtype);
  put(o, 'tokenizer_source', recipe.tokenizer_source);
  if (recipe.tokenizer) o.tokenizer = tokenizerOut(recipe.tokenizer);
  put(o, 'chat_template', recipe.chat_template);

  const doc = new Document(o, { schema: 'yaml-1.1', customTags: (tags) => [expNumberTag, ...tags] });
  visit(doc, {
    Seq(_, n) {
      // Lists of scalars (layer_range, gradients) in flow style, as mergekit writes them.
      if (n.items.length > 0 && n.items.every((x) => isScalar(x))) n.flow = true;
    },
    Map(_, n) {
      // {filter, value} conditionals and model-token sources on one line.
      const keys = n.items.map((p) => (isScalar(p.key) ? (p.key as YScalar).value : undefined));
      if (keys.includes('value') && keys.every((k) => k === 'filter' || k === 'value')) n.flow = true;
    },
  });
  if (recipe.random_seed !== undefined) {
    doc.comment = ` random_seed: ${recipe.random_seed} (pass --random-seed ${recipe.random_seed} to mergekit)`;
  }
  return doc.toString({ flowCollectionPadding: false, lineWidth: 0 });
}

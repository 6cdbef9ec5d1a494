// The committed demo models (public/demo, written by `npm run demo:train`) checked through the
// studio's own code: the config parses as a Llama architecture, the safetensors header validates
// and holds every weight the graph needs, the tokenizer loads and round-trips, the eval splits
// parse and are disjoint, and the CPU reference forward pass confirms that each expert solves its
// own task and not the other one (so training and evaluation agree on model semantics), and that
// the experts were trained in disjoint slots, so that task arithmetic keeps both skills.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { graphWeights } from '../../src/eval/arch.ts';
import type { ExactItem } from '../../src/eval/evalset.ts';
import { exactMatch, loadDemoModel, loadDemoSplit, type DemoModel as Model } from './demo-family.ts';

const DEMO = join(__dirname, '..', '..', 'public', 'demo');
const MODELS = ['demo-base', 'demo-add', 'demo-rev'] as const;
const TASKS = ['addition', 'reversal'] as const;
/** Test items scored per (model, task): enough to separate ~95% from ~5%, fast in plain JS. */
const N = 40;

const loadModel = (name: string): Promise<Model> => loadDemoModel(DEMO, name);
const loadSplit = (task: string, split: string): ExactItem[] => loadDemoSplit(DEMO, task, split);

describe('demo models in public/demo', async () => {
  const models = Object.fromEntries(await Promise.all(MODELS.map(async (n) => [n, await loadModel(n)] as const))) as Record<(typeof MODELS)[number], Model>;
  const splits = Object.fromEntries(TASKS.map((t) => [t, { train: loadSplit(t, 'train'), search: loadSplit(t, 'search'), test: loadSplit(t, 'test') }])) as Record<(typeof TASKS)[number], Record<'train' | 'search' | 'test', ExactItem[]>>;

  it('share one architecture and hold exactly the weights the graph needs', () => {
    for (const name of MODELS) {
      const { arch, weights } = models[name];
      expect(arch).toEqual(models['demo-base'].arch);
      const specs = graphWeights(arch);
      expect([...weights.keys()].sort()).toEqual(specs.map((s) => s.name).sort());
      for (const s of specs) expect(weights.get(s.name)?.length).toBe(s.shape.reduce((a, b) => a * b, 1));
    }
  });

  it('experts differ from the base (they are fine-tunes, not copies)', () => {
    const base = models['demo-base'].weights;
    for (const name of ['demo-add', 'demo-rev'] as const) {
      const q = models[name].weights.get('model.layers.0.self_attn.q_proj.weight') as Float32Array;
      const b = base.get('model.layers.0.self_attn.q_proj.weight') as Float32Array;
      expect(q.some((x, i) => x !== b[i])).toBe(true);
    }
  });

  it('experts change disjoint parameters, which the base leaves silent (demo:train slots)', () => {
    const base = models['demo-base'].weights;
    let changedAdd = 0;
    let changedRev = 0;
    for (const [name, b] of base) {
      const a = models['demo-add'].weights.get(name) as Float32Array;
      const r = models['demo-rev'].weights.get(name) as Float32Array;
      for (let i = 0; i < b.length; i++) {
        const da = a[i] !== b[i];
        const dr = r[i] !== b[i];
        if (da && dr) throw new Error(`${name}[${i}] is changed by both experts`);
        if (da) changedAdd++;
        if (dr) changedRev++;
        // An expert's output column starts at zero in the base: the base does not use that slot.
        if ((da || dr) && (name.endsWith('o_proj.weight') || name.endsWith('down_proj.weight'))) expect(Math.abs(b[i])).toBe(0);
      }
    }
    expect(changedAdd).toBeGreaterThan(10_000);
    expect(changedRev).toBeGreaterThan(10_000);
  });

  it('tokenize one id per character, with <s> first, and decode back exactly', () => {
    const { tok } = models['demo-base'];
    expect(tok.bosId).toBe(1);
    expect(tok.eosIds).toContain(2);
    for (const task of TASKS) {
      for (const it of [...splits[task].search, ...splits[task].test]) {
        const text = it.prompt + it.answer;
        const ids = tok.encode(text, { addSpecialTokens: true });
        expect(ids.length).toBe(text.length + 1);
        expect(ids[0]).toBe(1);
        expect(tok.decode(ids, { skipSpecialTokens: true })).toBe(text);
      }
    }
  });

  it('have disjoint train / search / test splits of the documented sizes', () => {
    for (const task of TASKS) {
      const s = splits[task];
      expect([s.search.length, s.test.length]).toEqual([200, 200]);
      expect(s.train.length).toBeGreaterThan(1000);
      const prompts = [...s.train, ...s.search, ...s.test].map((it) => it.prompt);
      expect(new Set(prompts).size).toBe(prompts.length);
    }
  });

  it('each expert solves its own task and not the other; the base solves neither (CPU reference)', () => {
    const acc = (m: (typeof MODELS)[number], t: (typeof TASKS)[number]) => exactMatch(models[m], splits[t].test.slice(0, N));
    expect(acc('demo-add', 'addition')).toBeGreaterThanOrEqual(0.85);
    expect(acc('demo-rev', 'reversal')).toBeGreaterThanOrEqual(0.85);
    expect(acc('demo-add', 'reversal')).toBeLessThanOrEqual(0.15);
    expect(acc('demo-rev', 'addition')).toBeLessThanOrEqual(0.15);
    expect(acc('demo-base', 'addition')).toBeLessThanOrEqual(0.15);
    expect(acc('demo-base', 'reversal')).toBeLessThanOrEqual(0.15);
  }, 60_000);

  it('task arithmetic at weight 1 keeps both skills: its mean beats each expert (CPU reference)', () => {
    const merged = new Map<string, Float32Array>();
    for (const [name, b] of models['demo-base'].weights) {
      const a = models['demo-add'].weights.get(name) as Float32Array;
      const r = models['demo-rev'].weights.get(name) as Float32Array;
      merged.set(name, b.map((x, i) => x + (a[i] - x) + (r[i] - x)));
    }
    const mergedModel: Model = { ...models['demo-base'], weights: merged };
    const mean = (m: Model) => (exactMatch(m, splits.addition.test.slice(0, N)) + exactMatch(m, splits.reversal.test.slice(0, N))) / 2;
    const best = Math.max(mean(models['demo-add']), mean(models['demo-rev']));
    expect(mean(mergedModel)).toBeGreaterThan(best + 0.15);
  }, 60_000);
});

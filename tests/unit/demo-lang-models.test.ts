// The second demo family (public/demo-lang, written by `npm run demo:train`) checked through the
// studio's own code: one architecture, the tokenizer reads and writes Devanagari numerals one id per
// character, the manifest lists the target's splits (search evolved on, test held out) and the
// experts' own tasks, and the CPU reference forward pass confirms the experiment's shape — each
// expert is better than the base at its own task, no source model solves the target, both experts
// changed every kind of weight (real fine-tunes, overlapping task vectors), and a merge weighted by
// layer does solve target items (14 of 40 against 1 for uniform weights): the family composes.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { graphWeights } from '../../src/eval/arch.ts';
import type { ExactItem } from '../../src/eval/evalset.ts';
import { exactMatch, loadDemoModel, loadDemoSplit, type DemoModel as Model } from './demo-family.ts';

const DEMO = join(__dirname, '..', '..', 'public', 'demo-lang');
const manifest = JSON.parse(readFileSync(join(DEMO, 'manifest.json'), 'utf8')) as {
  target: string;
  models: { name: string }[];
  evals: { name: string; split: string; task: string; role: string }[];
};
const [BASE, L, M] = manifest.models.map((m) => m.name);
const TASKS = { target: manifest.target, L: 'numerals', M: 'reversal' };
/** Test items scored per (model, task) in plain JS. */
const N = 40;

const loadModel = (name: string): Promise<Model> => loadDemoModel(DEMO, name);
const loadSplit = (task: string, split: string): ExactItem[] => loadDemoSplit(DEMO, task, split);

describe('the Devanagari demo family in public/demo-lang', async () => {
  const models = Object.fromEntries(await Promise.all([BASE, L, M].map(async (n) => [n, await loadModel(n)] as const))) as Record<string, Model>;
  const test = { target: loadSplit(TASKS.target, 'test'), L: loadSplit(TASKS.L, 'test'), M: loadSplit(TASKS.M, 'test') };

  it('lists a base and two experts, and the target split roles the Evolution tab starts with', () => {
    expect(manifest.models).toHaveLength(3);
    const role = (task: string, split: string) => manifest.evals.find((e) => e.task === task && e.split === split)?.role;
    expect(role(TASKS.target, 'search')).toBe('search');
    expect(role(TASKS.target, 'test')).toBe('heldout');
    for (const t of [TASKS.L, TASKS.M]) for (const s of ['search', 'test']) expect(role(t, s)).toBe('off');
    expect(manifest.evals.every((e) => e.split !== 'train')).toBe(true);
  });

  it('share one architecture and hold exactly the weights the graph needs', () => {
    for (const name of [BASE, L, M]) {
      const { arch, weights } = models[name];
      expect(arch).toEqual(models[BASE].arch);
      const specs = graphWeights(arch);
      expect([...weights.keys()].sort()).toEqual(specs.map((s) => s.name).sort());
    }
  });

  it('tokenize Devanagari numerals one id per character and decode back exactly', () => {
    const { tok } = models[BASE];
    for (const it of [...test.target, ...test.L].slice(0, 100)) {
      const text = it.prompt + it.answer;
      const ids = tok.encode(text, { addSpecialTokens: true });
      expect(ids.length).toBe([...text].length + 1);
      expect(tok.decode(ids, { skipSpecialTokens: true })).toBe(text);
    }
    for (const it of test.target) {
      expect(it.prompt).toMatch(/^rev:[०-९]{3,6}=$/);
      expect(it.answer).toBe([...it.prompt.slice(4, -1)].reverse().join(''));
    }
  });

  it('held-out splits are disjoint from the search splits', () => {
    for (const task of Object.values(TASKS)) {
      const s = new Set(loadSplit(task, 'search').map((it) => it.prompt));
      expect(loadSplit(task, 'test').some((it) => s.has(it.prompt))).toBe(false);
    }
  });

  it('experts fine-tuned every kind of weight (their task vectors overlap)', () => {
    const base = models[BASE].weights;
    let both = 0;
    for (const [name, b] of base) {
      const l = models[L].weights.get(name) as Float32Array;
      const m = models[M].weights.get(name) as Float32Array;
      let changedL = 0;
      let changedM = 0;
      for (let i = 0; i < b.length; i++) {
        if (l[i] !== b[i]) changedL++;
        if (m[i] !== b[i]) changedM++;
        if (l[i] !== b[i] && m[i] !== b[i]) both++;
      }
      expect(changedL, `${L} changed ${name}`).toBeGreaterThan(0);
      expect(changedM, `${M} changed ${name}`).toBeGreaterThan(0);
    }
    expect(both).toBeGreaterThan(100_000);
  });

  it('each expert beats the base at its own task; no source model solves the target (CPU reference)', () => {
    const acc = (m: string, items: ExactItem[]) => exactMatch(models[m], items.slice(0, N));
    expect(acc(L, test.L)).toBeGreaterThanOrEqual(acc(BASE, test.L) + 0.3);
    expect(acc(M, test.M)).toBeGreaterThanOrEqual(0.85);
    expect(acc(M, test.M)).toBeGreaterThanOrEqual(acc(BASE, test.M) + 0.5);
    for (const m of [BASE, L, M]) expect(acc(m, test.target), `${m} on ${TASKS.target}`).toBeLessThanOrEqual(0.2);
  }, 60_000);

  it('composes per layer: task arithmetic weighted by layer solves target items that no source model and no uniform weighting does', () => {
    // λ per layer (embeddings with layer 0, final norm and lm_head with layer 3): the recipe
    // TRAINING.md lists, in the Evolution tab's grouping
    const lambdas = { L: [1, 0, 0, 2], M: [1, 1.25, 1.25, 1] };
    const layers = models[BASE].arch.numLayers;
    const group = (name: string): number => {
      const m = /layers\.(\d+)\./.exec(name);
      return m ? Number(m[1]) : name.includes('embed') ? 0 : layers - 1;
    };
    const merged = (lam: (g: number) => [number, number]): Model => {
      const weights = new Map<string, Float32Array>();
      for (const [name, b] of models[BASE].weights) {
        const [a, c] = lam(group(name));
        const l = models[L].weights.get(name) as Float32Array;
        const m = models[M].weights.get(name) as Float32Array;
        weights.set(name, b.map((x, i) => x + a * (l[i] - x) + c * (m[i] - x)));
      }
      return { ...models[BASE], weights };
    };
    const items = test.target.slice(0, N);
    const perLayer = exactMatch(merged((g) => [lambdas.L[g], lambdas.M[g]]), items);
    const uniform = exactMatch(merged(() => [1, 1]), items);
    expect(perLayer, 'per-layer task arithmetic on the target').toBeGreaterThanOrEqual(0.15);
    expect(perLayer).toBeGreaterThanOrEqual(uniform + 0.1);
    for (const m of [BASE, L, M]) expect(perLayer).toBeGreaterThanOrEqual(exactMatch(models[m], items) + 0.1);
  }, 60_000);
});

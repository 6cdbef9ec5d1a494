// End-to-end tests of `npm run eval` on the trained demo models (public/demo): per-set metrics and
// per-item results in --out, a mergekit config merged on the GPU without writing anything, and
// clear errors with non-zero exits for bad input.
import { mkdtemp, readFile, rm, writeFile, mkdir, copyFile, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO, runCli, type CliRun } from './support';

const DEMO = join(REPO, 'public/demo');
const EVALS = join(DEMO, 'evals');
let tmp: string;

const evalCli = (args: string[]) => runCli(args, { script: 'src/cli/eval.ts' });
const show = (r: CliRun) => `exit ${r.code}\n--- stderr ---\n${r.stderr}\n--- stdout ---\n${r.stdout}`;

beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'eval-cli-'));
});
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

describe('npm run eval', () => {
  it('scores an expert: per-set metrics and per-item results; it is good at its own task only', async () => {
    const out = join(tmp, 'add.json');
    const r = await evalCli([join(DEMO, 'demo-add'), join(EVALS, 'addition.test.jsonl'), join(EVALS, 'reversal.test.jsonl'), '--limit', '24', '--out', out]);
    expect(r.code, show(r)).toBe(0);
    expect(r.stdout).toMatch(/addition\.test\.jsonl\s+exact\s+24\s+accuracy/);
    expect(r.stdout).toMatch(/weights read back 0 B/);
    const doc = JSON.parse(await readFile(out, 'utf8'));
    const [add, rev] = doc.sets;
    expect(add.items).toHaveLength(24);
    const it0 = add.items[0];
    for (const k of ['prompt', 'completion', 'extracted', 'answer', 'correct', 'logLik']) expect(it0, k).toHaveProperty(k);
    // the expert is trained for addition and was never trained for reversal
    expect(add.accuracy).toBeGreaterThanOrEqual(0.6);
    expect(rev.accuracy).toBeLessThan(add.accuracy - 0.4);
    // the reported accuracy is the share of items marked correct
    expect(add.items.filter((i: { correct: boolean }) => i.correct).length / 24).toBeCloseTo(add.accuracy, 12);
  });

  it('merges a mergekit config on the GPU (writing nothing) and scores it teacher-forced', async () => {
    const yml = join(tmp, 'ta.yml');
    await writeFile(yml, 'merge_method: task_arithmetic\nbase_model: demo-base\nmodels:\n  - model: demo-add\n    parameters: {weight: 1.0}\n  - model: demo-rev\n    parameters: {weight: 1.0}\ndtype: float32\n');
    const before = await readdir(tmp);
    const r = await evalCli([yml, join(EVALS, 'addition.test.jsonl'), join(EVALS, 'reversal.test.jsonl'), '--models-dir', DEMO, '--limit', '16', '--mode', 'teacher-forced']);
    expect(r.code, show(r)).toBe(0);
    expect(r.stderr).toMatch(/task_arithmetic merge, not written/);
    expect(r.stdout).toMatch(/reversal\.test\.jsonl\s+exact\s+16/);
    expect(await readdir(tmp)).toEqual(before);
    // auto on a software adapter: WebAssembly; --backend webgpu forces WebGPU, with the same scores
    expect(r.stderr).toMatch(/^backend: WebAssembly, weights merged on the CPU \(auto; .*software fallback/m);
    const g = await evalCli([yml, join(EVALS, 'addition.test.jsonl'), join(EVALS, 'reversal.test.jsonl'), '--models-dir', DEMO, '--limit', '16', '--mode', 'teacher-forced', '--backend', 'webgpu']);
    expect(g.code, show(g)).toBe(0);
    expect(g.stderr).toMatch(/^backend: WebGPU \(--backend webgpu\)/m);
    const scores = (out: string) => out.split('\n').filter((l) => /accuracy/.test(l));
    expect(scores(g.stdout)).toEqual(scores(r.stdout));
  });

  it('bad input: malformed JSONL line, unsupported architecture, missing files, bad arguments', async () => {
    const bad = join(tmp, 'bad.jsonl');
    await writeFile(bad, '{"prompt": "1+1=", "answer": "2"}\n{"prompt": "2+2=", "answer": \n');
    let r = await evalCli([join(DEMO, 'demo-add'), bad]);
    expect(r.code, show(r)).toBe(1);
    expect(r.stderr).toMatch(/bad\.jsonl, line 2/);

    const gpt = join(tmp, 'gpt');
    await mkdir(gpt);
    for (const f of await readdir(join(DEMO, 'demo-add'))) await copyFile(join(DEMO, 'demo-add', f), join(gpt, f));
    const cfg = JSON.parse(await readFile(join(gpt, 'config.json'), 'utf8'));
    await writeFile(join(gpt, 'config.json'), JSON.stringify({ ...cfg, architectures: ['GPT2LMHeadModel'], model_type: 'gpt2' }));
    r = await evalCli([gpt, join(EVALS, 'addition.test.jsonl')]);
    expect(r.code, show(r)).toBe(1);
    expect(r.stderr).toMatch(/gpt\/config\.json: architecture "GPT2LMHeadModel" cannot be evaluated/);

    await writeFile(join(gpt, 'config.json'), JSON.stringify({ ...cfg, vocab_size: 8 }));
    r = await evalCli([gpt, join(EVALS, 'addition.test.jsonl')]);
    expect(r.code, show(r)).toBe(1);
    expect(r.stderr).toMatch(/tokenizer\.json.*vocab_size/);

    r = await evalCli([join(DEMO, 'demo-add'), join(tmp, 'nope.jsonl')]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/nope\.jsonl: no such file/);

    r = await evalCli([join(DEMO, 'demo-add')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/missing the eval sets/);
  });
});

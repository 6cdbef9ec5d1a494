// `npm run bench:evolve` refuses bad input before any work (no browser, no merge): a budget of zero,
// a target task without its splits, an expert without its own task. Fast: the checks run on the
// manifest alone.
import { afterAll, expect, test } from 'vitest';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO, runCli } from './support';

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

/** A copy of public/demo-lang's manifest (and eval sets), edited. */
function demoWith(edit: (m: Record<string, unknown>) => void): string {
  const dir = mkdtempSync(join(tmpdir(), 'bench-input-'));
  dirs.push(dir);
  cpSync(join(REPO, 'public', 'demo-lang', 'evals'), join(dir, 'evals'), { recursive: true });
  const m = JSON.parse(readFileSync(join(REPO, 'public', 'demo-lang', 'manifest.json'), 'utf8')) as Record<string, unknown>;
  edit(m);
  writeFileSync(join(dir, 'manifest.json'), JSON.stringify(m));
  return dir;
}

const bench = (env: NodeJS.ProcessEnv) => runCli([], { script: 'src/cli/bench-evolve.ts', env, timeoutMs: 60_000 });

test('a zero budget is refused before any work', async () => {
  const r = await bench({ BENCH_GENERATIONS: '0' });
  expect(r.code).toBe(1);
  expect(r.stderr).toMatch(/error: the budget must be at least 1 generation .*BENCH_GENERATIONS 0/);
  expect(r.stdout).not.toContain('| candidate |');
}, 60_000);

test('a target task missing from the eval sets, or an expert without its task, is refused', async () => {
  const noTarget = demoWith((m) => (m.target = 'hindi_addition'));
  const r1 = await bench({ BENCH_DEMO: noTarget });
  expect(r1.code).toBe(1);
  expect(r1.stderr).toMatch(/the target task "hindi_addition" has no search split among its eval sets/);
  const noTask = demoWith((m) => {
    const models = m.models as { task?: string }[];
    delete models[2].task;
  });
  const r2 = await bench({ BENCH_DEMO: noTask });
  expect(r2.code).toBe(1);
  expect(r2.stderr).toMatch(/expert lang-reverse names no task with a test split/);
}, 60_000);

// `npm run merge -- … --push-to-hub org/name` against the fake Hub (tests/fake-hub/write.ts), as a
// child process on tiny generated checkpoints: the pushed files are the local output byte for byte,
// in one private commit, with the card's metadata; the token appears nowhere in the pushed files or
// the command's output; a bad token / a namespace without rights fail before the merge (no output
// folder); an upload cut every time fails naming the file and leaves no commit (the local folder
// stays). Both engines publish: the CPU engine in Node and WebGPU in headless Chromium.
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { createHash } from 'node:crypto';
import { decodeShare } from '../src/recipe/share-url';
import { parseMergekitYaml } from '../src/recipe/mergekit-yaml';
import { writeTinyLlama } from '../tests/fixtures/checkpoints';
import { emptyStore, startWriteHub, type WriteHub } from '../tests/fake-hub/write';
import { folderFiles } from '../src/cli/publish';
import { leftovers, REPO, runCli, type CliRun } from './support';

const TOKEN = 'hf_E2eWriteToken0123456789abcdefXYZ';
const SHAPE = { layers: 2, hidden: 32, intermediate: 48, vocab: 64 } as const;

let tmp: string;
let models: string;
let yml: string;
let hub: WriteHub;

const YAML = `merge_method: ties
base_model: org/base
models:
  - model: org/base
  - model: org/ft-a
    parameters: {weight: 0.6, density: 0.5}
  - model: team/ft-b
    parameters: {weight: 0.4, density: 0.5}
dtype: float32
`;

function describeRun(r: CliRun): string {
  return `exit ${r.code}${r.signal ? ` (signal ${r.signal})` : ''}\n--- stderr ---\n${r.stderr}\n--- stdout ---\n${r.stdout}`;
}

const run = (args: string[], env: Record<string, string> = {}) => runCli([yml, ...args], { env: { HF_ENDPOINT: hub.url, HF_TOKEN: TOKEN, ...env } });

/** The pushed head equals the local folder: same paths (plus the repo's .gitattributes), same bytes. */
async function expectPushedEqualsLocal(repoId: string, out: string) {
  const repo = hub.store.repos.get(repoId)!;
  const head = repo.commits.at(-1)!;
  const local = await folderFiles(out);
  expect([...head.files.keys()].filter((p) => p !== '.gitattributes').sort()).toEqual(local.map((f) => f.path));
  for (const f of local) expect(Buffer.from(head.files.get(f.path)!).equals(Buffer.from(await f.content.arrayBuffer())), f.path).toBe(true);
  for (const [path, bytes] of head.files) expect(Buffer.from(bytes).includes(TOKEN), `token in ${path}`).toBe(false);
  return head;
}

beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'publish-cli-'));
  models = join(tmp, 'models');
  await mkdir(models, { recursive: true });
  await writeTinyLlama(join(models, 'org/base'), { ...SHAPE, seed: 1, dtype: 'F32' });
  await writeTinyLlama(join(models, 'org/ft-a'), { ...SHAPE, seed: 2, dtype: 'F32', perturbFrom: { seed: 1, scale: 0.02 } });
  await writeTinyLlama(join(models, 'team/ft-b'), { ...SHAPE, seed: 3, dtype: 'F32', perturbFrom: { seed: 1, scale: 0.02 } });
  yml = join(models, 'ties.yml');
  await writeFile(yml, YAML);
  const store = emptyStore();
  store.tokens.set(TOKEN, { name: 'alice', orgs: ['lab'], role: 'write' });
  hub = await startWriteHub(store);
}, 120_000);

afterAll(async () => {
  await hub?.close();
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

describe('merge CLI --push-to-hub', () => {
  it('CPU engine: publishes the output folder as one private commit equal to the local files', async () => {
    const out = join(tmp, 'out-cpu');
    const r = await run(['--out', out, '--backend', 'cpu', '--push-to-hub', 'lab/merged-cpu', '--studio-url', 'https://studio.example/']);
    expect(r.code, describeRun(r)).toBe(0);
    const repo = hub.store.repos.get('lab/merged-cpu')!;
    expect(repo.private).toBe(true);
    expect(repo.commits.length).toBe(2); // the repo's initial commit + ours
    const head = await expectPushedEqualsLocal('lab/merged-cpu', out);
    expect([...head.lfs]).toEqual(['model.safetensors']);
    for (const f of ['model.safetensors', 'config.json', 'mergekit_config.yml', 'README.md', 'tokenizer.json', 'tokenizer_config.json']) expect(head.files.has(f), f).toBe(true);
    const card = new TextDecoder().decode(head.files.get('README.md'));
    const fm = parseYaml(/^---\n([\s\S]*?)\n---\n/.exec(card)![1]) as Record<string, unknown>;
    expect(fm).toMatchObject({ base_model: ['org/base', 'org/ft-a', 'team/ft-b'], base_model_relation: 'merge', library_name: 'transformers', tags: ['merge', 'mergekit', 'merge-studio'] });
    const code = /\(https:\/\/studio\.example\/#share=([A-Za-z0-9_-]+)\)/.exec(card);
    expect(code, card).not.toBeNull();
    // the link reopens the recipe and names each input with the studio's fingerprint (for files
    // this small: SHA-256 of the whole safetensors file), so the studio can check dropped folders
    const shared = decodeShare(code![1]);
    expect(shared.ok && shared.payload.recipe).toEqual(parseMergekitYaml(YAML));
    if (shared.ok)
      for (const [ref, id] of [['org/base', shared.payload.models[0]], ['org/ft-a', shared.payload.models[1]], ['team/ft-b', shared.payload.models[2]]] as const) {
        const bytes = await readFile(join(models, ref, 'model.safetensors'));
        expect(id).toMatchObject({ ref, name: ref.split('/')[1], bytes: bytes.byteLength, hash: createHash('sha256').update(bytes).digest('hex') });
        expect(id.tensors).toBeGreaterThan(10);
      }
    expect(card).toContain('CPU engine');
    expect(card).toContain(`[org/ft-a](${hub.url}/org/ft-a)`); // model links follow HF_ENDPOINT
    // progress on stderr, the result on stdout, the token in neither
    expect(r.stderr).toMatch(/hub: will publish to lab\/merged-cpu .* as alice \(private if created\)/);
    expect(r.stderr).toMatch(/hub: committing 6 files/);
    expect(r.stdout).toMatch(new RegExp(`published ${hub.url}/lab/merged-cpu \\(new private repo\\): 6 files`));
    expect(r.stdout + r.stderr).not.toContain(TOKEN);
    // the token went to the Hub only; the weights to the storage origin without it
    const put = hub.log.find((x) => x.method === 'PUT' && x.path.startsWith('/lfs-storage/'));
    expect(put?.origin).toBe(hub.storageUrl);
    for (const x of hub.log) expect(x.authorization === undefined || x.origin === hub.url, `${x.method} ${x.origin}${x.path}`).toBe(true);
  });

  it('WebGPU engine: --public, --token and --commit-message', async () => {
    const out = join(tmp, 'out-gpu');
    const r = await run(['--out', out, '--backend', 'webgpu', '--push-to-hub', 'alice/merged-gpu', '--public', '--token', TOKEN, '--commit-message', 'TIES merge of three'], { HF_TOKEN: '' });
    expect(r.code, describeRun(r)).toBe(0);
    const repo = hub.store.repos.get('alice/merged-gpu')!;
    expect(repo.private).toBe(false);
    expect(repo.commits.map((c) => c.title)).toEqual(['initial commit', 'TIES merge of three']);
    const head = await expectPushedEqualsLocal('alice/merged-gpu', out);
    expect(new TextDecoder().decode(head.files.get('README.md'))).toContain('WebGPU');
    expect(r.stdout + r.stderr).not.toContain(TOKEN);
  });

  it('a token the Hub rejects (401) or a namespace without rights (403): exit 1 before the merge, no output', async () => {
    const out401 = join(tmp, 'out-401');
    const a = await run(['--out', out401, '--backend', 'cpu', '--push-to-hub', 'alice/never'], { HF_TOKEN: 'hf_NotAValidTokenAtAll000000000' });
    expect(a.code, describeRun(a)).toBe(1);
    expect(a.stderr).toMatch(/^error: .*alice\/never.*401/m);
    expect(a.stderr).not.toContain('hf_NotAValidTokenAtAll000000000');
    expect(await leftovers(out401)).toEqual([]);
    const out403 = join(tmp, 'out-403');
    const b = await run(['--out', out403, '--backend', 'cpu', '--push-to-hub', 'someone-else/model']);
    expect(b.code, describeRun(b)).toBe(1);
    expect(b.stderr).toMatch(/^error: .*someone-else\/model.*403/m);
    expect(await leftovers(out403)).toEqual([]);
    const noToken = await run(['--out', out403, '--backend', 'cpu', '--push-to-hub', 'alice/x'], { HF_TOKEN: '' });
    expect(noToken.code, describeRun(noToken)).toBe(1);
    expect(noToken.stderr).toMatch(/HF_TOKEN/);
    expect(hub.store.repos.has('alice/never') || hub.store.repos.has('someone-else/model') || hub.store.repos.has('alice/x')).toBe(false);
  });

  it('an upload cut every time: exit 1 naming the repo and the file, no new commit, the local folder kept', async () => {
    const out = join(tmp, 'out-cut');
    hub.store.lfs.clear(); // the same merge's weights were stored by the first test: LFS would skip them
    hub.opts.cutUploads = { remaining: 1000 };
    try {
      const r = await run(['--out', out, '--backend', 'cpu', '--push-to-hub', 'alice/cut']);
      expect(r.code, describeRun(r)).toBe(1);
      expect(r.stderr).toMatch(/^error: publishing to alice\/cut failed while uploading the large files \(uploading model\.safetensors\): the network failed 5 times/m);
      expect(r.stderr).toMatch(/the merged model is complete in .*out-cut; to retry the upload alone: npm run publish:hub -- .*out-cut --push-to-hub alice\/cut/);
      const repo = hub.store.repos.get('alice/cut')!;
      expect(repo.commits.map((c) => c.title)).toEqual(['initial commit']);
      expect((await readFile(join(out, 'README.md'), 'utf8')).length).toBeGreaterThan(0);
    } finally {
      hub.opts.cutUploads = undefined;
    }
    // the retry the message suggests: npm run publish:hub on the folder, no merge
    const retry = await runCli([out, '--push-to-hub', 'alice/cut', '--commit-message', 'Retry'], { script: 'src/cli/publish.ts', env: { HF_ENDPOINT: hub.url, HF_TOKEN: TOKEN } });
    expect(retry.code, describeRun(retry)).toBe(0);
    expect(retry.stdout).toMatch(/published .*\/alice\/cut \(existing repo\): 6 files/);
    expect(hub.store.repos.get('alice/cut')!.commits.map((c) => c.title)).toEqual(['initial commit', 'Retry']);
    await expectPushedEqualsLocal('alice/cut', out);
    // a folder that is not a complete model is refused before any upload
    await writeFile(join(out, 'model.safetensors'), 'not a safetensors file');
    const bad = await runCli([out, '--push-to-hub', 'alice/cut'], { script: 'src/cli/publish.ts', env: { HF_ENDPOINT: hub.url, HF_TOKEN: TOKEN } });
    expect(bad.code, describeRun(bad)).toBe(1);
    expect(bad.stderr).toMatch(/^error: .*model\.safetensors/m);
    expect(hub.store.repos.get('alice/cut')!.commits.length).toBe(2);
  });

  it('interrupted (SIGINT) while the weights upload: exit 130 and no commit', async () => {
    const out = join(tmp, 'out-int');
    hub.store.lfs.clear();
    hub.log.length = 0; // wait for this run's upload, not an earlier test's
    hub.opts.stallUploads = true;
    try {
      const child = spawn(join(REPO, 'node_modules/.bin/tsx'), ['src/cli/merge.ts', yml, '--out', out, '--backend', 'cpu', '--push-to-hub', 'alice/interrupted'], {
        cwd: REPO,
        env: { ...process.env, HF_ENDPOINT: hub.url, HF_TOKEN: TOKEN },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stderr = '';
      child.stderr.on('data', (d) => (stderr += d));
      const until = Date.now() + 120_000;
      while (!hub.log.some((x) => x.method === 'PUT') && Date.now() < until) await new Promise((ok) => setTimeout(ok, 100));
      expect(hub.log.some((x) => x.method === 'PUT'), stderr).toBe(true);
      child.kill('SIGINT');
      const code = await new Promise<number | null>((ok) => child.on('close', (c) => ok(c)));
      expect(code, stderr).toBe(130);
      expect(hub.store.repos.get('alice/interrupted')!.commits.map((c) => c.title)).toEqual(['initial commit']);
      expect(hub.log.some((x) => x.path === '/api/models/alice/interrupted/commit/main')).toBe(false);
    } finally {
      hub.opts.stallUploads = false;
    }
  });

  it('usage error: a bad repo id exits 2 with the usage (the other argument errors: tests/unit/cli-args.test.ts)', async () => {
    for (const args of [['--out', 'x', '--push-to-hub', 'no-namespace']]) {
      const r = await run(args);
      expect(r.code, `${args.join(' ')}\n${describeRun(r)}`).toBe(2);
      expect(r.stderr).toContain('usage: npm run merge');
    }
  });
});

// `npm run merge` on a YAML of org/name references served by the fake Hub (tests/fake-hub): the
// output is byte-identical to the same merge from local folders — on the CPU engine and through
// the page (WebGPU) — also when the Hub answers 429, 5xx and cuts connections mid-body; a second
// run reads from the cache; bad input (missing repo, gated without a token, a bad revision, only
// .bin weights, a network gone past the retry budget) fails with a message naming the repo and
// leaves no output folder; the token never reaches the CDN origin and is never printed.
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { writeTinyLlama } from '../tests/fixtures/checkpoints';
import { startFakeHub, type FakeHub } from '../tests/fake-hub/server';
import { leftovers, runCli, type CliRun } from './support';

const SHAPE = { layers: 2, hidden: 32, intermediate: 48, vocab: 40 } as const;
const TOKEN = 'hf_e2eSecretToken42';

let tmp: string;
let local: string;
let hub: FakeHub;
let yamlHub: string;
let yamlLocal: string;

function show(r: CliRun): string {
  return `exit ${r.code}\n--- stderr ---\n${r.stderr}\n--- stdout ---\n${r.stdout}`;
}

/**
 * A folder's files by name. Two lines of the model card are left out of the comparison: the share
 * link (for Hub inputs it names each model's repo and pinned commit, so the studio can fetch them,
 * which a merge of local folders cannot) and the engine that ran (CPU or WebGPU); everything else in
 * the card, and every other file, must be identical.
 */
async function folderBytes(dir: string): Promise<Record<string, Buffer>> {
  const out: Record<string, Buffer> = {};
  for (const n of (await readdir(dir)).sort()) {
    const bytes = await readFile(join(dir, n));
    out[n] = n === 'README.md' ? Buffer.from(bytes.toString('utf8').replace(/#share=[^)\s]+/g, '#share=…').replace(/Merge Studio's engine: .*/g, "Merge Studio's engine: …")) : bytes;
  }
  return out;
}

const env = () => ({ HF_ENDPOINT: hub.url, HF_TOKEN: TOKEN, HF_HOME: join(tmp, 'hf-home'), HF_HUB_OFFLINE: '' });

beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'hub-cli-'));
  local = join(tmp, 'local');
  // shards for the base: several files read by range
  await writeTinyLlama(join(local, 'org/base'), { ...SHAPE, seed: 1, dtype: 'BF16', shardBytes: 12_000 });
  await writeTinyLlama(join(local, 'org/ft-a'), { ...SHAPE, seed: 2, dtype: 'BF16', perturbFrom: { seed: 1, scale: 0.05 } });
  await writeTinyLlama(join(local, 'gated/ft-b'), { ...SHAPE, seed: 3, dtype: 'BF16', perturbFrom: { seed: 1, scale: 0.05 } });
  hub = await startFakeHub({ tokens: [TOKEN] });
  await hub.store.commitFolder('org/base', join(local, 'org/base'));
  await hub.store.commitFolder('org/ft-a', join(local, 'org/ft-a'));
  await hub.store.commitFolder('gated/ft-b', join(local, 'gated/ft-b'), { gated: true });
  hub.store.commit('org/pickled', { 'config.json': '{}', 'pytorch_model.bin': new Uint8Array(64) });
  const yaml = (refs: [string, string, string]) => `merge_method: ties
base_model: ${refs[0]}
models:
  - model: ${refs[1]}
    parameters: { weight: 0.6, density: 0.5 }
  - model: ${refs[2]}
    parameters: { weight: 0.4, density: 0.7 }
parameters: { normalize: true }
dtype: bfloat16
`;
  // the same references: locally they resolve to folders (local paths win), from hub/ to the Hub
  await mkdir(join(tmp, 'hub'));
  yamlHub = join(tmp, 'hub', 'merge.yml');
  yamlLocal = join(local, 'merge.yml');
  await writeFile(yamlHub, yaml(['org/base', 'org/ft-a', 'gated/ft-b']));
  await writeFile(yamlLocal, yaml(['org/base', 'org/ft-a', 'gated/ft-b']));
});

afterAll(async () => {
  await hub?.close();
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

beforeEach(() => {
  hub.log.length = 0;
  hub.faults.length = 0;
});

describe('npm run merge with Hub references', () => {
  let expected: Record<string, Buffer>;
  let localRun: Promise<void> | undefined;
  /** The same merge from the local folders (once). */
  const expectLocal = () =>
    (localRun ??= (async () => {
      const outLocal = join(tmp, 'out-local');
      const r0 = await runCli([yamlLocal, '--out', outLocal, '--backend', 'cpu'], { env: env() });
      expect(r0.code, show(r0)).toBe(0);
      expect(hub.log.length).toBe(0); // local folders win
      expected = await folderBytes(outLocal);
    })());

  it('merges byte-identically to the local merge, reading by range, token only on the Hub origin', async () => {
    await expectLocal();

    const out = join(tmp, 'out-hub');
    const r = await runCli([yamlHub, '--out', out, '--backend', 'cpu', '--cache-dir', join(tmp, 'cache'), '--verbose'], { env: env() });
    expect(r.code, show(r)).toBe(0);
    expect(await folderBytes(out)).toEqual(expected);
    // the CPU engine's threads read the Hub files themselves: no model file went through the CLI's
    // localhost server (its --verbose request log; the WebGPU run below shows it is kept)
    expect(r.stderr).not.toMatch(/server: GET \/models\//);
    expect(r.stderr).toMatch(/hub: org\/base: org\/base@main → commit [0-9a-f]{12} on http:\/\/127\.0\.0\.1:\d+ \(\d+ files/);
    expect(r.stdout).toMatch(/hub: [\d.]+ kB from the network, [\d.]+ kB from the cache/);
    // weights came by Range from the CDN origin, which never saw the token; nothing printed it
    const cdn = hub.log.filter((x) => x.origin === 'cdn');
    expect(cdn.length).toBeGreaterThan(0);
    expect(cdn.every((x) => x.range && x.authorization === undefined)).toBe(true);
    expect(hub.log.some((x) => x.origin === 'hub' && x.authorization === `Bearer ${TOKEN}`)).toBe(true);
    expect(r.stdout + r.stderr).not.toContain(TOKEN);
    // every read was at the pinned commit
    const shas = new Set(['org/base', 'org/ft-a', 'gated/ft-b'].map((id) => hub.store.get(id)!.refs.get('main')!));
    for (const x of hub.log.filter((l) => l.url.includes('/resolve/'))) expect([...shas].some((s) => x.url.includes(`/resolve/${s}/`)), x.url).toBe(true);

    // again: from the cache
    hub.log.length = 0;
    const out2 = join(tmp, 'out-hub2');
    const r2 = await runCli([yamlHub, '--out', out2, '--backend', 'cpu', '--cache-dir', join(tmp, 'cache')], { env: env() });
    expect(r2.code, show(r2)).toBe(0);
    expect(await folderBytes(out2)).toEqual(expected);
    expect(r2.stdout).toMatch(/0 B from the network, [\d.]+ kB from the cache \(100\.0 % cached\)/);
    expect(hub.log.filter((x) => x.origin === 'cdn').length).toBe(0);
  });

  it('gives identical bytes when the Hub answers 429, 5xx and cuts bodies', async () => {
    hub.faults.push(
      { kind: 'status', status: 429, retryAfter: 0.05, rangeOnly: true },
      { origin: 'cdn', kind: 'cut', afterBytes: 3000, times: 3 },
      { kind: 'status', status: 503, rangeOnly: true, times: 2 },
      { origin: 'hub', path: '/api/models/', kind: 'status', status: 500 },
    );
    await expectLocal();
    const out = join(tmp, 'out-faults');
    const r = await runCli([yamlHub, '--out', out, '--backend', 'cpu', '--no-cache'], { env: env() });
    expect(r.code, show(r)).toBe(0);
    expect(await folderBytes(out)).toEqual(expected);
    expect(hub.faults).toEqual([]); // every fault was hit
    expect(r.stderr).toMatch(/warning: .*cut after/);
    expect(r.stdout).toMatch(/\d+ retries; no cache/);
  });

  it('merges through the page (WebGPU) from the Hub to the same bytes', async () => {
    await expectLocal();
    const out = join(tmp, 'out-webgpu');
    hub.faults.push({ origin: 'cdn', kind: 'cut', afterBytes: 2000 });
    const r = await runCli([yamlHub, '--out', out, '--backend', 'webgpu', '--cache-dir', join(tmp, 'cache-gpu'), '--verbose'], { env: env() });
    expect(r.code, show(r)).toBe(0);
    expect(await folderBytes(out)).toEqual(expected);
    // the page reads Hub files through the CLI's server (cache, retries and counters in the CLI process)
    expect(r.stderr).toMatch(/server: GET \/models\/\d+\/model[-\w]*\.safetensors bytes=/);
    expect(r.stdout + r.stderr).not.toContain(TOKEN);
  });

  const bad: [string, string, (y: string) => string, RegExp, Record<string, string>?][] = [
    ['a repo that does not exist', 'missing', (y) => y.replace('org/ft-a', 'org/nothing-here'), /model "org\/nothing-here" not found on http:\/\/127\.0\.0\.1/],
    ['a gated repo without a token', 'gated', (y) => y, /model "gated\/ft-b" is gated on .*needs a token/, { HF_TOKEN: '' }],
    ['a revision that does not exist', 'rev', (y) => y.replace('org/ft-a', 'org/ft-a@v9'), /model "org\/ft-a@v9": .*has no revision "v9"/],
    ['a repo with only .bin weights', 'bin', (y) => y.replace('org/ft-a', 'org/pickled'), /model "org\/pickled" has only PyTorch pickle weights \(pytorch_model\.bin\): refused/],
  ];
  for (const [what, name, edit, message, extraEnv] of bad)
    it(`refuses ${what}, leaving no output folder`, async () => {
      const y = join(tmp, 'hub', `${name}.yml`);
      await writeFile(y, edit(await readFile(yamlHub, 'utf8')));
      const out = join(tmp, `out-bad-${name}`);
      const r = await runCli([y, '--out', out, '--backend', 'cpu', '--no-cache'], { env: { ...env(), ...extraEnv } });
      expect(r.code, show(r)).toBe(1);
      expect(r.stderr).toMatch(message);
      expect(await leftovers(out)).toEqual([]);
    });

  it('fails with the repo and file named when the network is gone past the retry budget, leaving no output folder', async () => {
    hub.faults.push({ origin: 'cdn', kind: 'reset', times: Infinity });
    const out = join(tmp, 'out-gone');
    const r = await runCli([yamlHub, '--out', out, '--backend', 'cpu', '--no-cache', '--retries', '2'], { env: env() });
    hub.faults.length = 0;
    expect(r.code, show(r)).toBe(1);
    expect(r.stderr).toMatch(/error: (org\/base|org\/ft-a|gated\/ft-b)@[0-9a-f]{7}: model[-\d\w]*\.safetensors: reading bytes .* gave up after 3 failed attempts/);
    expect(await leftovers(out)).toEqual([]);
  });
});

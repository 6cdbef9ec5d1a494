// Publishing to the Hub (merge/publish.ts) against the fake Hub's write API (tests/fake-hub/write.ts):
// one commit with every file, private by default, LFS for the weights, the token only on the Hub's
// origin and never in a message, clear errors for a bad token / no rights, retries of transient
// failures, and a failed upload that leaves the repository without a new commit.
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { publishToHub, redactToken, repoIdProblem, tokenProblem, type PublishFile, type PublishProgress } from '../../src/merge/publish';
import { PublishError } from '../../src/errors';
import { emptyStore, startWriteHub, type WriteHub } from '../fake-hub/write';

const TOKEN = 'hf_TestTokenWithWriteRights0123456789';
const READ_TOKEN = 'hf_ReadOnlyToken000000000000000000';
const STRANGER = 'hf_StrangerTokenNotKnownToTheHub00000';

let hub: WriteHub;

let weightSeed = 0;
/** The files of a small output folder; every call's weights differ (LFS objects are stored once). */
function files(seed = ++weightSeed): PublishFile[] {
  const weights = new Uint8Array(300_000);
  for (let i = 0; i < weights.length; i++) weights[i] = ((i + seed * 7919) * 2654435761) >>> 24;
  return [
    { path: 'model.safetensors', content: new Blob([weights]) },
    { path: 'config.json', content: new Blob(['{"model_type":"llama"}\n']) },
    { path: 'README.md', content: new Blob(['---\ntags:\n- merge\n---\n# Merged model\n']) },
  ];
}

async function bytesOf(f: PublishFile): Promise<Uint8Array> {
  return new Uint8Array(await f.content.arrayBuffer());
}

const fast = { retry: { baseDelayMs: 5, maxDelayMs: 20 } };

beforeAll(async () => {
  const store = emptyStore();
  store.tokens.set(TOKEN, { name: 'alice', orgs: ['team'], role: 'write' });
  store.tokens.set(READ_TOKEN, { name: 'alice', orgs: ['team'], role: 'read' });
  hub = await startWriteHub(store);
});
afterAll(() => hub.close());
afterEach(() => {
  hub.opts.cutUploads = undefined;
  hub.opts.failWhoami = undefined;
  hub.opts.busyCommits = undefined;
  hub.opts.multipartChunk = undefined;
  hub.opts.cutCommits = undefined;
  hub.log.length = 0;
});

describe('publishToHub', () => {
  test('creates a private repo and pushes every file in one commit; the token goes only to the Hub', async () => {
    const fs = files();
    const seen: PublishProgress[] = [];
    const res = await publishToHub({ repo: 'alice/merged-1', files: fs, token: TOKEN, hubUrl: hub.url, commitMessage: 'First merge' }, { ...fast, onProgress: (p) => seen.push(p) });
    expect(res).toMatchObject({ repo: 'alice/merged-1', created: true, private: true, files: 3, url: `${hub.url}/alice/merged-1` });
    const repo = hub.store.repos.get('alice/merged-1')!;
    expect(repo.private).toBe(true);
    expect(repo.commits.map((c) => c.title)).toEqual(['initial commit', 'First merge']);
    const head = repo.commits[1];
    expect(res.commit.oid).toBe(head.oid);
    for (const f of fs) expect(head.files.get(f.path), f.path).toEqual(await bytesOf(f));
    expect([...head.lfs]).toEqual(['model.safetensors']);
    // the weights went to the storage origin without the token; every Hub request carried it
    const puts = hub.log.filter((r) => r.method === 'PUT');
    expect(puts.length).toBe(1);
    expect(puts[0].origin).toBe(hub.storageUrl);
    expect(puts[0].authorization).toBeUndefined();
    for (const r of hub.log.filter((x) => x.origin === hub.url)) expect(r.authorization, r.path).toBe(`Bearer ${TOKEN}`);
    for (const r of hub.log.filter((x) => x.origin !== hub.url)) expect(r.authorization, r.path).toBeUndefined();
    // progress: phases in order, ending with every byte accounted for
    const phases = [...new Set(seen.map((p) => p.phase))];
    expect(phases[0]).toBe('checking');
    expect(phases.at(-1)).toBe('done');
    expect(phases.indexOf('creating')).toBeLessThan(phases.indexOf('committing'));
    expect(seen.at(-1)!.bytesUploaded).toBe(fs.reduce((a, f) => a + f.content.size, 0));
  });

  test('--public creates a public repo; an existing repo is committed to as it is', async () => {
    const a = await publishToHub({ repo: 'team/shared', files: files(), token: TOKEN, hubUrl: hub.url, private: false }, fast);
    expect(a.created).toBe(true);
    expect(hub.store.repos.get('team/shared')!.private).toBe(false);
    const changed = files(weightSeed).map((f) => (f.path === 'README.md' ? { ...f, content: new Blob(['# second\n']) } : f));
    const b = await publishToHub({ repo: 'team/shared', files: changed, token: TOKEN, hubUrl: hub.url }, fast);
    expect(b.created).toBe(false);
    expect(b.private).toBeUndefined();
    const repo = hub.store.repos.get('team/shared')!;
    expect(repo.private).toBe(false);
    expect(repo.commits.length).toBe(3);
    expect(new TextDecoder().decode(repo.commits[2].files.get('README.md'))).toBe('# second\n');
    // the weights were already stored: not uploaded twice
    expect(hub.log.filter((r) => r.method === 'PUT').length).toBe(1);
  });

  test('a token the Hub does not know: 401, named repo, nothing created, token not in the message', async () => {
    const err = await publishToHub({ repo: 'alice/never', files: files(), token: STRANGER, hubUrl: hub.url }, fast).catch((e) => e);
    expect(err).toBeInstanceOf(PublishError);
    expect(err.message).toMatch(/alice\/never/);
    expect(err.message).toMatch(/401/);
    expect(err.message).not.toContain(STRANGER);
    expect(hub.store.repos.has('alice/never')).toBe(false);
  });

  test('no rights to the namespace: 403 before anything is created; a read token is refused', async () => {
    const err = await publishToHub({ repo: 'other-org/model', files: files(), token: TOKEN, hubUrl: hub.url }, fast).catch((e) => e);
    expect(err).toBeInstanceOf(PublishError);
    expect(err.message).toMatch(/other-org\/model.*403|403.*other-org/s);
    expect(hub.store.repos.has('other-org/model')).toBe(false);
    const ro = await publishToHub({ repo: 'alice/ro', files: files(), token: READ_TOKEN, hubUrl: hub.url }, fast).catch((e) => e);
    expect(ro.message).toMatch(/alice\/ro.*read-only/);
    expect(hub.store.repos.has('alice/ro')).toBe(false);
  });

  test('an upload cut mid-body every time: a clear error naming the file, and no new commit', async () => {
    await publishToHub({ repo: 'alice/cut', files: files().slice(1), token: TOKEN, hubUrl: hub.url }, fast); // repo exists, 2 commits
    const before = hub.store.repos.get('alice/cut')!.commits.length;
    hub.opts.cutUploads = { remaining: 100 };
    const err = await publishToHub({ repo: 'alice/cut', files: files(), token: TOKEN, hubUrl: hub.url }, { retry: { retries: 2, baseDelayMs: 5 } }).catch((e) => e);
    expect(err).toBeInstanceOf(PublishError);
    expect(err.message).toMatch(/alice\/cut/);
    expect(err.message).toMatch(/model\.safetensors/);
    expect(err.message).toMatch(/network failed 3 times/);
    expect(err.message).toMatch(/nothing was committed/);
    expect(hub.store.repos.get('alice/cut')!.commits.length).toBe(before);
    expect(hub.log.filter((r) => r.path.includes('/commit/')).length).toBe(1); // only the first publish's
  });

  test('transient failures are retried: a cut upload and a 503 from whoami', async () => {
    hub.opts.cutUploads = { remaining: 1 };
    hub.opts.failWhoami = { remaining: 2 };
    const res = await publishToHub({ repo: 'alice/retried', files: files(), token: TOKEN, hubUrl: hub.url }, fast);
    expect(res.created).toBe(true);
    expect(hub.store.repos.get('alice/retried')!.commits.length).toBe(2);
    expect(hub.log.filter((r) => r.method === 'PUT').length).toBe(2);
    expect(hub.log.filter((r) => r.path === '/api/whoami-v2').length).toBe(3);
  });

  test('the commit: retried after a 503 (not applied); a connection lost during it is reported, never replayed', async () => {
    hub.opts.busyCommits = { remaining: 1 };
    const ok = await publishToHub({ repo: 'alice/busy', files: files(), token: TOKEN, hubUrl: hub.url }, fast);
    expect(hub.store.repos.get('alice/busy')!.commits.at(-1)!.oid).toBe(ok.commit.oid);
    expect(hub.log.filter((r) => r.path.endsWith('/commit/main')).length).toBe(2);
    hub.log.length = 0;
    hub.opts.cutCommits = { remaining: 1 };
    const err = await publishToHub({ repo: 'alice/busy', files: files(), token: TOKEN, hubUrl: hub.url }, fast).catch((e) => e);
    expect(err).toBeInstanceOf(PublishError);
    expect(err.message).toMatch(/alice\/busy.*connection was lost while the Hub was committing.*may or may not.*\/alice\/busy\/commits\/main/s);
    expect(hub.log.filter((r) => r.path.endsWith('/commit/main')).length).toBe(1);
    expect(hub.store.repos.get('alice/busy')!.commits.length).toBe(2);
  });

  test('large files go in parts (the multipart transfer), a cut part is retried, the storage never sees the token', async () => {
    hub.opts.multipartChunk = 64 * 1024; // the 300 kB weights: 5 parts
    hub.opts.cutUploads = { remaining: 1 };
    const fs = files();
    const res = await publishToHub({ repo: 'alice/parts', files: fs, token: TOKEN, hubUrl: hub.url }, fast);
    expect(res.created).toBe(true);
    const head = hub.store.repos.get('alice/parts')!.commits.at(-1)!;
    expect(head.files.get('model.safetensors')).toEqual(await bytesOf(fs[0]));
    const parts = hub.log.filter((r) => r.path.startsWith('/lfs-part/'));
    expect(parts.length).toBe(6); // 5 parts + the retry of the cut one
    expect(hub.log.filter((r) => r.path.startsWith('/lfs-complete/')).length).toBe(1);
    for (const r of hub.log.filter((x) => x.origin === hub.storageUrl)) expect(r.authorization, r.path).toBeUndefined();
  });

  test('an unreachable Hub: the network error names the repo, after the retries', async () => {
    const err = await publishToHub({ repo: 'alice/x', files: files(), token: TOKEN, hubUrl: 'http://127.0.0.1:9' }, { retry: { retries: 1, baseDelayMs: 5 } }).catch((e) => e);
    expect(err).toBeInstanceOf(PublishError);
    expect(err.message).toMatch(/alice\/x.*checking the token.*network failed 2 times/s);
    expect(err.message).not.toContain(TOKEN);
  });

  test('an abort stops the publish with CancelledError and no commit', async () => {
    const ac = new AbortController();
    const p = publishToHub({ repo: 'alice/aborted', files: files(), token: TOKEN, hubUrl: hub.url }, { signal: ac.signal, onProgress: (e) => e.phase === 'creating' && ac.abort() });
    await expect(p).rejects.toMatchObject({ code: 'cancelled' });
    const repo = hub.store.repos.get('alice/aborted');
    expect(repo ? repo.commits.length : 1).toBe(1);
  });

  test('bad input is refused before any request', async () => {
    for (const [repo, token, re] of [
      ['no-slash', TOKEN, /namespace\/name/],
      ['a/b/c', TOKEN, /namespace\/name/],
      ['alice/bad name', TOKEN, /letters, digits/],
      ['alice/-x', TOKEN, /start and end/],
      ['alice/x', '', /no Hugging Face access token/],
      ['alice/x', 'not-a-token', /hf_/],
    ] as const) {
      const err = await publishToHub({ repo, files: files(), token, hubUrl: hub.url }).catch((e) => e);
      expect(err, repo).toBeInstanceOf(PublishError);
      expect(err.message, repo).toMatch(re);
    }
    const dup = await publishToHub({ repo: 'alice/x', files: [...files(), files()[0]], token: TOKEN, hubUrl: hub.url }).catch((e) => e);
    expect(dup.message).toMatch(/listed twice/);
    expect(hub.log).toEqual([]);
  });
});

test('repo id and token checks, and redaction', () => {
  expect(repoIdProblem('org/model-7B.v2_x')).toBeUndefined();
  expect(repoIdProblem('org/a--b')).toMatch(/--/);
  expect(repoIdProblem('org/' + 'x'.repeat(97))).toMatch(/96/);
  expect(repoIdProblem('org/x.git')).toMatch(/\.git/);
  expect(tokenProblem(undefined)).toMatch(/no Hugging Face access token/);
  expect(tokenProblem('hf_abc')).toBeUndefined();
  expect(redactToken(`oops ${TOKEN} and ${TOKEN}`, TOKEN)).toBe('oops hf_*** and hf_***');
});

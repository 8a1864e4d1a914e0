/**
 * Crash safety (issue 11): the compiled `amsd serve` is killed with SIGKILL at random moments, while
 * writers create and revoke API keys and make (refused, audited) secret reads, and sometimes while it
 * is still starting. After every kill it must start again, and then:
 * - every write it acknowledged (a 2xx, or a refusal, which is answered only once audited) is there:
 *   the key in amsd.json, its revocation, the audit event of each acknowledged read;
 * - `amsd audit verify` passes (its code in this process after each restart, the compiled CLI at the end);
 * - no temporary copy of a data file is left.
 * Needs `npm run build` first. Ends with a table of its figures. The moments come from a seeded
 * generator: set CRASH_SEED to replay a run.
 */
import t from 'tap';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { runAuditVerify } from '../../daemon/audit/verify-command.js';
import { packageRoot } from '../../daemon/package-root.js';
import { tempDir } from '../helpers.js';

const CLI = join(packageRoot, 'dist', 'daemon', 'cli.js');
const KILLS = 24;
const WRITERS = 6;
const START_TIMEOUT_MS = 20_000;
const seed = Number(process.env.CRASH_SEED ?? Date.now() % 1_000_000);

/** mulberry32: small, seedable, good enough to pick moments. */
function generator(state: number) {
  return () => {
    state = (state + 0x6d2b79f5) | 0;
    let x = Math.imul(state ^ (state >>> 15), 1 | state);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}
const random = generator(seed);
const between = (low: number, high: number) => Math.floor(low + random() * (high - low));

interface Daemon {
  child: ChildProcess;
  exit: Promise<unknown>;
  stdout: () => string;
  stderr: () => string;
}

function spawnDaemon(dataDir: string): Daemon {
  const child = spawn(process.execPath, [CLI, 'serve', '--port', '0', '--data-dir', dataDir, '--log-level', 'info'], {
    env: { ...process.env, AMS_MASTER_KEY_FILE: '' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (chunk) => (stdout += chunk));
  child.stderr!.on('data', (chunk) => (stderr += chunk));
  return { child, exit: once(child, 'exit'), stdout: () => stdout, stderr: () => stderr };
}

/** Resolves with the address once the daemon listens; rejects if it exits first. */
async function listening(daemon: Daemon): Promise<string> {
  const deadline = Date.now() + START_TIMEOUT_MS;
  while (Date.now() < deadline) {
    const found = /Server listening at (http:\/\/127\.0\.0\.1:\d+)/.exec(daemon.stdout());
    if (found) return found[1]!;
    if (daemon.child.exitCode !== null) throw new Error(`amsd exited ${daemon.child.exitCode} at start: ${daemon.stderr()}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  throw new Error(`amsd did not listen within ${START_TIMEOUT_MS} ms: ${daemon.stderr()}`);
}

async function kill(daemon: Daemon) {
  if (daemon.child.exitCode === null && daemon.child.signalCode === null) {
    daemon.child.kill('SIGKILL');
    await daemon.exit;
  }
}

function runCli(args: string[]): Promise<{ code: number | null; stdout: string }> {
  const child = spawn(process.execPath, [CLI, ...args], { env: { ...process.env, AMS_MASTER_KEY_FILE: '' }, stdio: ['ignore', 'pipe', 'inherit'] });
  let stdout = '';
  child.stdout.on('data', (chunk) => (stdout += chunk));
  return once(child, 'exit').then(([code]) => ({ code: code as number | null, stdout }));
}

/** Temporary files of the data files and the trail (`.amsd.json.<pid>.tmp`, `.queue.json.<pid>.tmp`, `audit.jsonl.pruning`). */
async function tempFiles(dataDir: string): Promise<string[]> {
  const names = [...(await readdir(dataDir)), ...(await readdir(join(dataDir, 'audit'))).map((name) => `audit/${name}`)];
  return names.filter((name) => /\.tmp$|\.pruning$/.test(name));
}

/** What the daemon acknowledged, to look for after the restart. */
const acknowledged = {
  created: new Map<string, string>(), // key id → name
  revoked: new Set<string>(),
  reads: new Set<string>(), // request ids of audited refusals
};

/** Writes as fast as the daemon answers, until it dies. Records only what it acknowledged. */
async function writer(url: string, adminKey: string, label: string): Promise<void> {
  const headers = { authorization: `Bearer ${adminKey}`, 'content-type': 'application/json' };
  for (let n = 0; ; n++) {
    try {
      const choice = random();
      if (choice < 0.55) {
        const name = `${label}-${n}`;
        const response = await fetch(`${url}/v1/api-keys`, { method: 'POST', headers, body: JSON.stringify({ name, role: 'user' }) });
        if (response.status === 201) acknowledged.created.set(((await response.json()) as { id: string }).id, name);
      } else if (choice < 0.7) {
        const candidates = [...acknowledged.created.keys()].filter((id) => !acknowledged.revoked.has(id));
        const id = candidates[Math.floor(random() * candidates.length)];
        if (!id) continue;
        const response = await fetch(`${url}/v1/api-keys/${id}`, { method: 'DELETE', headers: { authorization: headers.authorization } });
        if (response.ok) acknowledged.revoked.add(id);
      } else {
        // No tenant is configured: a refusal, answered only once its audit event is on disk.
        const requestId = `crash-${label}-${n}`;
        const response = await fetch(`${url}/v1/secrets/local-admin-password`, {
          method: 'POST',
          headers: { ...headers, 'x-request-id': requestId },
          body: JSON.stringify({ computerName: `PC-${n}`, reason: 'crash test' }),
        });
        await response.arrayBuffer();
        if (response.status >= 400 && response.status < 500) acknowledged.reads.add(requestId);
      }
    } catch {
      return; // the daemon is gone
    }
  }
}

interface Check {
  lost: string[];
  verified: boolean;
  temps: string[];
}

/** After a restart, before any request: what survived, whether the trail verifies, and leftovers. */
async function check(dataDir: string): Promise<Check> {
  const temps = await tempFiles(dataDir);
  const state = JSON.parse(await readFile(join(dataDir, 'amsd.json'), 'utf8')) as { apiKeys: { id: string; name: string; revokedAt?: string }[] };
  const keys = new Map(state.apiKeys.map((key) => [key.id, key]));
  const trail = (await readFile(join(dataDir, 'audit', 'audit.jsonl'), 'utf8')).split('\n').filter(Boolean).map((line) => JSON.parse(line) as { type: string; requestId?: string; target?: { id: string } });
  const audited = new Set(trail.filter((event) => event.type === 'secret.read').map((event) => event.requestId));
  const createdEvents = new Set(trail.filter((event) => event.type === 'apiKey.created').map((event) => event.target?.id));
  const lost: string[] = [];
  for (const [id, name] of acknowledged.created) {
    if (keys.get(id)?.name !== name) lost.push(`key ${name} (${id})`);
    if (!createdEvents.has(id)) lost.push(`apiKey.created event of ${name}`);
  }
  for (const id of acknowledged.revoked) if (!keys.get(id)?.revokedAt) lost.push(`revocation of ${id}`);
  for (const requestId of acknowledged.reads) if (!audited.has(requestId)) lost.push(`audit event of read ${requestId}`);
  // The command's own code, in this process: spawning the CLI each time would double the test's length. The end runs the CLI.
  let report = '';
  const out = new Writable({ write: (chunk, _encoding, done) => ((report += String(chunk)), done()) });
  const code = await runAuditVerify(dataDir, out);
  if (code !== 0) t.comment(report);
  return { lost, verified: code === 0, temps };
}

t.test(`kill -9 at random moments under concurrent writes, ${KILLS} times (seed ${seed})`, async (t) => {
  const dataDir = join(await tempDir(t, 'amsd-crash-'), 'data');
  let current: Daemon | undefined;
  t.teardown(() => current && kill(current));

  // First start: it writes the bootstrap admin key the writers use.
  current = spawnDaemon(dataDir);
  await listening(current);
  const adminKey = (await readFile(join(dataDir, 'bootstrap-admin.key'), 'utf8')).trim();

  const figures = { kills: 0, killedWhileStarting: 0, lost: 0, verifyPassed: 0, verifyFailed: 0, tempFilesLeft: 0, restartsRefused: 0 };
  while (figures.kills < KILLS) {
    const url = await listening(current);
    const writers = Array.from({ length: WRITERS }, (_, i) => writer(url, adminKey, `k${figures.kills}w${i}`));
    await new Promise((resolve) => setTimeout(resolve, between(30, 600)));
    await kill(current);
    figures.kills++;
    await Promise.all(writers);

    // Now and then, a kill during start-up too: opening the store and the trail, moving an unfinished line aside.
    if (figures.kills < KILLS && random() < 0.25) {
      current = spawnDaemon(dataDir);
      await new Promise((resolve) => setTimeout(resolve, between(0, 300)));
      await kill(current);
      figures.kills++;
      figures.killedWhileStarting++;
    }

    current = spawnDaemon(dataDir);
    try {
      await listening(current);
    } catch (error) {
      figures.restartsRefused++;
      t.fail(`after kill ${figures.kills}, amsd did not start again: ${(error as Error).message}`);
      break;
    }
    const result = await check(dataDir);
    figures.lost += result.lost.length;
    figures.tempFilesLeft += result.temps.length;
    figures[result.verified ? 'verifyPassed' : 'verifyFailed']++;
    t.same(result.lost, [], `kill ${figures.kills}: no acknowledged write lost`);
    t.ok(result.verified, `kill ${figures.kills}: amsd audit verify passes`);
    t.same(result.temps, [], `kill ${figures.kills}: no temporary files left`);
  }
  const evidenceFiles = (await readdir(join(dataDir, 'audit'))).filter((name) => name.endsWith('.unfinished')).length;
  current.child.kill('SIGTERM');
  await current.exit;
  const final = await runCli(['audit', 'verify', '--data-dir', dataDir]);
  t.equal(final.code, 0, 'the trail verifies after a clean stop');

  const writes = acknowledged.created.size + acknowledged.revoked.size + acknowledged.reads.size;
  t.ok(figures.kills >= 20, `${figures.kills} kills`);
  t.ok(writes > figures.kills * 5, `${writes} acknowledged writes`);
  const table = [
    ['kills (while starting)', `${figures.kills} (${figures.killedWhileStarting})`],
    ['acknowledged writes', `${writes} (${acknowledged.created.size} keys created, ${acknowledged.revoked.size} revoked, ${acknowledged.reads.size} audited reads)`],
    ['lost', String(figures.lost)],
    ['verify passed / failed', `${figures.verifyPassed} / ${figures.verifyFailed}`],
    ['restarts refused', String(figures.restartsRefused)],
    ['temp files left', String(figures.tempFilesLeft)],
    ['unfinished lines kept as evidence', String(evidenceFiles)],
    ['seed', String(seed)],
  ];
  const width = Math.max(...table.map(([name]) => name!.length));
  t.comment(['crash safety', ...table.map(([name, value]) => `  ${name!.padEnd(width)}  ${value}`)].join('\n'));
});

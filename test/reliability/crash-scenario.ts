/**
 * Crash safety (issue 11), the scenario both crash tests run: the compiled `amsd serve` is killed with
 * SIGKILL at random moments, while writers create and revoke API keys and make (refused, audited)
 * secret reads, and sometimes while it is still starting. After every kill it must start again, and then:
 * - every write it acknowledged (a 2xx, or a refusal, which is answered only once audited) is there,
 *   where the state is kept as the kill left it (amsd.json and its change journal, or the PostgreSQL
 *   database) and after the restart: the key, its revocation, the audit event of each (retention is
 *   on, so events may later be pruned, only from the start);
 * - `amsd audit verify` passes (its code in this process after each restart, the compiled CLI at the end);
 * - no temporary copy of a data file is left.
 * crash.test.ts runs it on the embedded store, crash-postgres.test.ts with `serve --database` on a
 * durable PostgreSQL cluster (a `CrashTarget` says where the state is). Needs `npm run build` first.
 * Ends with a table of its figures. The moments come from a seeded generator: set CRASH_SEED to replay a run.
 */
import type { Test } from 'tap';
import { recordFigures } from './figures.js';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { runAuditVerify } from '../../daemon/audit/verify-command.js';
import { packageRoot } from '../../openapi/package-root.js';
import { storedState, tempDir } from '../helpers.js';

/** Where the daemon under test keeps its state: the embedded store (the data directory) or a database. */
export interface CrashTarget {
  /** Names the figures (and the test). */
  name: string;
  /** More arguments for `amsd serve` (`--database URL`). */
  serveArgs: string[];
  /** The API keys as stored now, by id, as the kill left them. */
  storedApiKeys(dataDir: string): Promise<Map<string, { name: string; revokedAt?: string }>>;
  /** The complete events of the audit trail, oldest first. */
  trailEvents(dataDir: string): Promise<TrailEvent[]>;
  /** `amsd audit verify`'s code run in this process (0: verified), its report written to `out`. */
  verify(dataDir: string, out: Writable): Promise<number>;
  /** The arguments of `amsd audit verify` for the compiled CLI. */
  verifyArgs(dataDir: string): string[];
}

/** The embedded store: amsd.json with its change journal applied (a torn last journal line is ignored, as at start). */
export const embeddedTarget: CrashTarget = {
  name: 'crash safety',
  serveArgs: [],
  storedApiKeys: async (dataDir) => new Map((await storedState(dataDir)).apiKeys.map((key) => [key.id, key])),
  trailEvents: trailFileEvents,
  verify: runAuditVerify,
  verifyArgs: (dataDir) => ['audit', 'verify', '--data-dir', dataDir],
};

const CLI = join(packageRoot, 'dist', 'daemon', 'cli.js');
const KILLS = 24;
const WRITERS = 6;
/** auditMaxEvents: small, so that retention prunes at most starts. */
const KEEP_EVENTS = 150;
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

function spawnDaemon(dataDir: string, serveArgs: readonly string[]): Daemon {
  const child = spawn(process.execPath, [CLI, 'serve', '--port', '0', '--data-dir', dataDir, '--log-level', 'info', ...serveArgs], {
    env: { ...process.env, AMS_MASTER_KEY_FILE: '' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk) => (stdout += chunk));
  child.stderr.on('data', (chunk) => (stderr += chunk));
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

/**
 * Temporary files left by a killed process: `.amsd.json.<pid>.tmp` (and the queue's) of another pid
 * than the running daemon's, and `audit.jsonl.pruning`. The running daemon may be pruning (retention
 * runs at start) or writing its own temporary file right now: its pid's are not leftovers, and a
 * pruning file must be gone once its pruning is over (the wait is bounded; a leftover one would have
 * been removed when the trail was opened).
 */
async function leftoverTempFiles(dataDir: string, runningPid: number): Promise<string[]> {
  const list = async () => [...(await readdir(dataDir)), ...(await readdir(join(dataDir, 'audit'))).map((name) => `audit/${name}`)];
  // One listing decides: a pruning that starts between two listings must not turn the second into a leftover.
  let names = await list();
  for (let tries = 0; tries < 250 && names.some((name) => name.endsWith('.pruning')); tries++) {
    await new Promise((resolve) => setTimeout(resolve, 20));
    names = await list();
  }
  return names.filter((name) => name.endsWith('.pruning') || (/\.(\d+)\.tmp$/.exec(name) && !name.endsWith(`.${runningPid}.tmp`)));
}

/** What the daemon acknowledged: since the start (`all`), and since the last restart (`round`, whose events are looked for in the trail). */
interface Acknowledged {
  created: Map<string, string>; // key id → name
  revoked: Set<string>;
  reads: Set<string>; // request ids of audited refusals
}
const none = (): Acknowledged => ({ created: new Map(), revoked: new Set(), reads: new Set() });
let all = none();
let round = none();

/** Writes as fast as the daemon answers, until it dies. Records only what it acknowledged. */
async function writer(url: string, adminKey: string, label: string): Promise<void> {
  const headers = { authorization: `Bearer ${adminKey}`, 'content-type': 'application/json' };
  for (let n = 0; ; n++) {
    try {
      const choice = random();
      if (choice < 0.55) {
        const name = `${label}-${n}`;
        const response = await fetch(`${url}/v1/api-keys`, { method: 'POST', headers, body: JSON.stringify({ name, role: 'user' }) });
        if (response.status !== 201) continue;
        const { id } = (await response.json()) as { id: string };
        for (const acknowledged of [all, round]) acknowledged.created.set(id, name);
      } else if (choice < 0.7) {
        const candidates = [...all.created.keys()].filter((id) => !all.revoked.has(id));
        const id = candidates[Math.floor(random() * candidates.length)];
        if (!id) continue;
        const asked = new Date().toISOString();
        const response = await fetch(`${url}/v1/api-keys/${id}`, { method: 'DELETE', headers: { authorization: headers.authorization } });
        if (response.ok) {
          // Revoked before it was asked: a revocation made in an earlier round whose answer the kill cut off. Its
          // event came with it, rounds ago, and retention may have pruned it since; what this answer acknowledges is the state.
          const earlier = ((await response.json()) as { revokedAt: string }).revokedAt < asked;
          for (const acknowledged of earlier ? [all] : [all, round]) acknowledged.revoked.add(id);
        }
      } else {
        // No tenant is configured: a refusal, answered only once its audit event is on disk.
        const requestId = `crash-${label}-${n}`;
        const response = await fetch(`${url}/v1/secrets/local-admin-password`, {
          method: 'POST',
          headers: { ...headers, 'x-request-id': requestId },
          body: JSON.stringify({ computerName: `PC-${n}`, reason: 'crash test' }),
        });
        await response.arrayBuffer();
        if (response.status >= 400 && response.status < 500) for (const acknowledged of [all, round]) acknowledged.reads.add(requestId);
      }
    } catch {
      return; // the daemon is gone
    }
  }
}

export interface TrailEvent {
  seq: number;
  type: string;
  requestId?: string;
  target?: { id: string };
}

/** The complete lines of the trail (a kill may leave an unfinished last one, which start moves aside). */
export async function trailFileEvents(dataDir: string): Promise<TrailEvent[]> {
  const text = await readFile(join(dataDir, 'audit', 'audit.jsonl'), 'utf8');
  return text.split('\n').slice(0, -1).map((line) => JSON.parse(line) as TrailEvent);
}

/** Where each event this round acknowledged is in the trail: `event` keys like `apiKey.created <id>`. */
function roundEvents(): string[] {
  return [
    ...[...round.created.keys()].map((id) => `apiKey.created ${id}`),
    ...[...round.revoked].map((id) => `apiKey.revoked ${id}`),
    ...[...round.reads].map((requestId) => `secret.read ${requestId}`),
  ];
}
const eventKey = (event: TrailEvent) => `${event.type} ${event.type === 'secret.read' ? event.requestId : event.target?.id}`;

/**
 * Right after a kill, the files as the kill left them: every key, revocation and event acknowledged
 * must be there. Returns what is missing, and where this round's events are (by seq).
 */
async function checkAfterKill(dataDir: string, target: CrashTarget): Promise<{ lost: string[]; seqs: Map<string, number> }> {
  const keys = await target.storedApiKeys(dataDir);
  const lost: string[] = [];
  for (const [id, name] of all.created) if (keys.get(id)?.name !== name) lost.push(`key ${name} (${id})`);
  for (const id of all.revoked) if (!keys.get(id)?.revokedAt) lost.push(`revocation of ${id}`);
  const seqs = new Map((await target.trailEvents(dataDir)).map((event) => [eventKey(event), event.seq]));
  for (const wanted of roundEvents()) if (!seqs.has(wanted)) lost.push(`audit event ${wanted}`);
  return { lost, seqs };
}

/**
 * After the restart, before any request: the trail still holds this round's events (unless retention,
 * which runs at start, pruned them: they were before its first seq), it verifies, and no temporary
 * file is left.
 */
async function checkAfterRestart(t: Test, target: CrashTarget, dataDir: string, runningPid: number, seqs: Map<string, number>): Promise<{ lost: string[]; verified: boolean; temps: string[]; pruned: number }> {
  const temps = await leftoverTempFiles(dataDir, runningPid);
  const events = await target.trailEvents(dataDir);
  const present = new Set(events.map(eventKey));
  const firstSeq = events[0]?.seq ?? 1;
  const lost: string[] = [];
  let pruned = 0;
  for (const wanted of roundEvents()) {
    if (present.has(wanted)) continue;
    if ((seqs.get(wanted) ?? Infinity) < firstSeq) pruned++;
    else lost.push(`audit event ${wanted}, after the restart`);
  }
  // The command's own code, in this process: spawning the CLI each time would double the test's length. The end runs the CLI.
  let report = '';
  const out = new Writable({ write: (chunk, _encoding, done) => ((report += String(chunk)), done()) });
  const code = await target.verify(dataDir, out);
  if (code !== 0) t.comment(report);
  return { lost, verified: code === 0, temps, pruned };
}

/** The scenario, on `target`: a subtest of `t`, with `options` (a skip) for it. */
export function crashScenario(t: Test, target: CrashTarget, options: { skip?: string | false } = {}): void {
  t.test(`kill -9 at random moments under concurrent writes, ${KILLS} times (seed ${seed})`, options, (t) => runScenario(t, target));
}

async function runScenario(t: Test, target: CrashTarget): Promise<void> {
  all = none();
  const dataDir = join(await tempDir(t, 'amsd-crash-'), 'data');
  let current: Daemon | undefined;
  t.teardown(() => current && kill(current));

  // First start: it writes the bootstrap admin key the writers use.
  current = spawnDaemon(dataDir, target.serveArgs);
  await listening(current);
  const adminKey = (await readFile(join(dataDir, 'bootstrap-admin.key'), 'utf8')).trim();

  // Retention on: every start prunes the trail down to its newest events, rewriting the file (a temporary file and a rename) while writes come.
  const settings = await fetch(`${await listening(current)}/v1/service-config`, {
    method: 'PATCH',
    headers: { authorization: `Bearer ${adminKey}`, 'content-type': 'application/json' },
    body: JSON.stringify({ auditMaxEvents: KEEP_EVENTS }),
  });
  t.equal(settings.status, 200, 'audit retention set');

  const figures = { kills: 0, killedWhileStarting: 0, lost: 0, pruned: 0, verifyPassed: 0, verifyFailed: 0, tempFilesLeft: 0, restartsRefused: 0 };
  while (figures.kills < KILLS) {
    round = none();
    const url = await listening(current);
    const writers = Array.from({ length: WRITERS }, (_, i) => writer(url, adminKey, `k${figures.kills}w${i}`));
    await new Promise((resolve) => setTimeout(resolve, between(30, 600)));
    await kill(current);
    figures.kills++;
    await Promise.all(writers);
    const afterKill = await checkAfterKill(dataDir, target);

    // Now and then, a kill during start-up too: opening the store and the trail, moving an unfinished line aside, pruning.
    if (figures.kills < KILLS && random() < 0.25) {
      current = spawnDaemon(dataDir, target.serveArgs);
      await new Promise((resolve) => setTimeout(resolve, between(0, 300)));
      await kill(current);
      figures.kills++;
      figures.killedWhileStarting++;
    }

    current = spawnDaemon(dataDir, target.serveArgs);
    try {
      await listening(current);
    } catch (error) {
      figures.restartsRefused++;
      t.fail(`after kill ${figures.kills}, amsd did not start again: ${(error as Error).message}`);
      break;
    }
    const afterRestart = await checkAfterRestart(t, target, dataDir, current.child.pid!, afterKill.seqs);
    const lost = [...afterKill.lost, ...afterRestart.lost];
    figures.lost += lost.length;
    figures.pruned += afterRestart.pruned;
    figures.tempFilesLeft += afterRestart.temps.length;
    figures[afterRestart.verified ? 'verifyPassed' : 'verifyFailed']++;
    t.same(lost, [], `kill ${figures.kills}: no acknowledged write lost`);
    t.ok(afterRestart.verified, `kill ${figures.kills}: amsd audit verify passes`);
    t.same(afterRestart.temps, [], `kill ${figures.kills}: no temporary files left`);
  }
  const kept = await target.trailEvents(dataDir);
  const evidenceFiles = (await readdir(join(dataDir, 'audit'))).filter((name) => name.endsWith('.unfinished')).length;
  current.child.kill('SIGTERM');
  await current.exit;
  const final = await runCli(target.verifyArgs(dataDir));
  t.equal(final.code, 0, 'the trail verifies after a clean stop');

  const writes = all.created.size + all.revoked.size + all.reads.size;
  t.ok(figures.kills >= 20, `${figures.kills} kills`);
  t.ok(writes > figures.kills * 5, `${writes} acknowledged writes`);
  const table = [
    ['kills (while starting)', `${figures.kills} (${figures.killedWhileStarting})`],
    ['acknowledged writes', `${writes} (${all.created.size} keys created, ${all.revoked.size} revoked, ${all.reads.size} audited reads)`],
    ['lost', String(figures.lost)],
    ['events later removed by retention', `${figures.pruned} of those acknowledged in the same round; the trail kept events ${kept[0]?.seq} to ${kept.at(-1)?.seq}`],
    ['verify passed / failed', `${figures.verifyPassed} / ${figures.verifyFailed}`],
    ['restarts refused', String(figures.restartsRefused)],
    ['temp files left', String(figures.tempFilesLeft)],
    ['unfinished lines kept as evidence', String(evidenceFiles)],
    ['seed', String(seed)],
  ];
  const width = Math.max(...table.map(([name]) => name!.length));
  t.comment([target.name, ...table.map(([name, value]) => `  ${name!.padEnd(width)}  ${value}`)].join('\n'));
  await recordFigures(target.name, { kills: figures.kills, 'acknowledged writes': writes, 'lost writes': figures.lost, 'verify failed': figures.verifyFailed, 'temp files left': figures.tempFilesLeft });
}

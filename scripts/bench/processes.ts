/**
 * What the benchmark starts outside itself: temporary data directories and `amsd serve` processes.
 * Everything is registered when made and removed by `cleanUp()` (also on Ctrl+C), so no run leaves a
 * daemon or a directory behind. CPU time and memory of a child are read from /proc (Linux).
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { request } from 'undici';
import { since } from './stats.js';

/** The built CLI, next to this file's own build: dist/scripts/bench/ → dist/daemon/cli.js. */
export const CLI = fileURLToPath(new URL('../../daemon/cli.js', import.meta.url));
const BARE_PROXY = fileURLToPath(new URL('./bare-proxy.js', import.meta.url));

const dirs = new Set<string>();
const children = new Set<ChildProcess>();

/** A new empty directory under the system's temp directory, removed by cleanUp(). */
export function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), `amsd-bench-${prefix}-`));
  dirs.add(dir);
  return dir;
}

export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
  dirs.delete(dir);
}

/** Kills every child still running and removes every temp directory. Synchronous: it also runs on exit. */
export function cleanUp(): void {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  children.clear();
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  dirs.clear();
}
/** Makes cleanUp() run however the benchmark ends: normally, on an error, or on Ctrl+C. */
export function cleanUpOnExit(): void {
  process.on('exit', cleanUp);
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      cleanUp();
      process.exit(130);
    });
  }
}

/** A free TCP port on loopback (asked of the OS, then released for the child to take). */
export async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  server.close();
  await once(server, 'close');
  return port;
}

let serveNodeArgs: readonly string[] = [];
/** Node options for every `amsd serve` started from now on (`--serve-node-args`: a profiler). */
export function setServeNodeArgs(args: readonly string[]): void {
  serveNodeArgs = [...args];
}

function track(child: ChildProcess): ChildProcess {
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

export interface ServeProcess {
  pid: number;
  url: string;
  dataDir: string;
  /** From spawn to the first 200 from /v1/health, in ms. */
  startupMs: number;
  /** The bootstrap admin key of its data directory (or of the database's first daemon). */
  adminKey: string;
  /** Everything it wrote to stderr so far (the banner, errors). */
  stderr: () => string;
  /** SIGTERM, and waits for it to exit (it finishes requests in flight and flushes its state). */
  stop(): Promise<void>;
}

/**
 * Spawns `node dist/daemon/cli.js serve` on `dataDir` and waits for its first healthy answer. Its log
 * (JSON lines on stdout, at the default level) goes to /dev/null: written, as in production, not kept.
 */
export interface ServeOptions {
  caFile?: string;
  timeoutMs?: number;
  /** `--database`: the state in PostgreSQL, with the master key file every daemon on it shares, and the admin key its first daemon wrote. */
  database?: { url: string; masterKeyFile: string; adminKey: string };
}

export async function startServe(dataDir: string, options: ServeOptions = {}): Promise<ServeProcess> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const database = options.database;
  const args = [...serveNodeArgs, CLI, 'serve', '--port', String(port), '--data-dir', dataDir, ...(options.caFile ? ['--ca-file', options.caFile] : []), ...(database ? ['--database', database.url] : [])];
  const started = performance.now();
  // The daemon's own settings only: no AMS_* of the shell running the benchmark (a master key file elsewhere).
  const env: NodeJS.ProcessEnv = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('AMS_')));
  if (database) env.AMS_MASTER_KEY_FILE = database.masterKeyFile;
  const child = track(spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'pipe'], env }));
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const exited = once(child, 'exit');
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    await exited;
  };
  const deadline = started + (options.timeoutMs ?? 60_000);
  try {
    for (;;) {
      if (child.exitCode !== null || child.signalCode !== null) throw new Error(`amsd serve exited (${child.exitCode ?? child.signalCode}) before answering: ${stderr.trim()}`);
      if (performance.now() > deadline) throw new Error(`amsd serve did not answer /v1/health within ${options.timeoutMs ?? 60_000} ms: ${stderr.trim()}`);
      if (await healthy(url)) break;
      // Connection refused comes back at once; a short pause keeps the poll from competing for the CPU.
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  } catch (error) {
    child.kill('SIGKILL');
    throw error;
  }
  const startupMs = since(started);
  const adminKey = database?.adminKey ?? readFileSync(join(dataDir, 'bootstrap-admin.key'), 'utf8').trim();
  return { pid: child.pid!, url, dataDir, startupMs, adminKey, stderr: () => stderr, stop };
}

async function healthy(url: string): Promise<boolean> {
  try {
    const response = await request(`${url}/v1/health`, { headersTimeout: 5_000, bodyTimeout: 5_000 });
    await response.body.dump();
    return response.statusCode === 200;
  } catch {
    return false;
  }
}

/** The reference for start-up: a bare `node -e` to its first line on stdout, in ms. */
export async function bareNodeStartupMs(): Promise<number> {
  const started = performance.now();
  const child = track(spawn(process.execPath, ['-e', 'console.log("ready")'], { stdio: ['ignore', 'pipe', 'ignore'] }));
  await once(child.stdout!, 'data');
  const ms = since(started);
  await once(child, 'exit');
  return ms;
}

/** A bare Node process that stays up, for the memory reference; stop it with the returned function. */
export async function bareNodeIdle(): Promise<{ pid: number; stop: () => Promise<void> }> {
  const child = track(spawn(process.execPath, ['-e', 'console.log("ready"); setInterval(() => {}, 1 << 30)'], { stdio: ['ignore', 'pipe', 'ignore'] }));
  await once(child.stdout!, 'data');
  const exited = once(child, 'exit');
  return {
    pid: child.pid!,
    stop: async () => {
      child.kill('SIGTERM');
      await exited;
    },
  };
}

/** The bare proxy of bare-proxy.ts on a free port, once it listens; stop it with the returned function. */
export async function startBareProxy(secretUrl: string, token: string, caFile: string): Promise<{ pid: number; url: string; stop: () => Promise<void> }> {
  const port = await freePort();
  const child = track(spawn(process.execPath, [BARE_PROXY, secretUrl, token, caFile, String(port)], { stdio: ['ignore', 'pipe', 'pipe'] }));
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const exited = once(child, 'exit');
  const ready = once(child.stdout!, 'data');
  const first = await Promise.race([ready.then(() => 'ready' as const), exited.then(() => 'exited' as const)]);
  if (first === 'exited') throw new Error(`the bare proxy exited before listening: ${stderr.trim()}`);
  return {
    pid: child.pid!,
    url: `http://127.0.0.1:${port}`,
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      await exited;
    },
  };
}

let clockTicks: number | undefined;
/** CPU time (user + system, all threads) the process has used, in ms, from /proc/<pid>/stat. */
export function processCpuMs(pid: number): number {
  clockTicks ??= Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name (which may hold spaces) in parentheses: state is field 3, utime 14, stime 15.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / clockTicks;
}

/** Resident memory of the process, in MB (VmRSS of /proc/<pid>/status). */
export function residentMb(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = Number(/^VmRSS:\s+(\d+) kB/m.exec(status)?.[1]);
  return kb / 1024;
}

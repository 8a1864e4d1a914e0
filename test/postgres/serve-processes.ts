/**
 * Real `amsd serve --database` processes (the compiled CLI) for the tests of several daemons on one
 * PostgreSQL database: each with its own data directory, all with the same master key file. The first
 * on a database writes the bootstrap admin key to its data directory; the others are called with it.
 * Needs `npm run build` first (npm test does it).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Test } from 'tap';
import { packageRoot } from '../../openapi/package-root.js';
import { tempDir } from '../helpers.js';

export const CLI = join(packageRoot, 'dist', 'daemon', 'cli.js');
const START_TIMEOUT_MS = 30_000;

export interface ServeProcess {
  child: ChildProcess;
  url: string;
  dataDir: string;
  stdout(): string;
  stderr(): string;
  /** SIGKILL, and waits for the exit. */
  kill(): Promise<void>;
  /** SIGTERM, and waits for the exit; its code. */
  stop(): Promise<number | null>;
}

export interface ServeOptions {
  databaseUrl: string;
  masterKeyFile: string;
  /** A data directory (a fresh one by default; give the same one to restart a daemon). */
  dataDir?: string;
  caFile?: string;
  /** 0 (a free port) by default. */
  port?: number;
  /** More arguments for `amsd serve` (`--tls-cert`, `--tls-key`). */
  extraArgs?: string[];
}

export async function masterKeyFile(t: Test): Promise<string> {
  const file = join(await tempDir(t), 'master.key');
  await writeFile(file, randomBytes(32).toString('base64') + '\n', { mode: 0o600 });
  return file;
}

/** Starts `amsd serve --database` and resolves once it listens (or rejects with what it said). Killed at the test's end. */
export async function startServe(t: Test, options: ServeOptions): Promise<ServeProcess> {
  const dataDir = options.dataDir ?? join(await tempDir(t), 'data');
  const args = [CLI, 'serve', '--port', String(options.port ?? 0), '--data-dir', dataDir, '--database', options.databaseUrl, '--log-level', 'info', ...(options.caFile ? ['--ca-file', options.caFile] : []), ...(options.extraArgs ?? [])];
  // Only the settings given here: no AMS_* of the shell running the tests.
  const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('AMS_')));
  const child = spawn(process.execPath, args, { env: { ...env, AMS_MASTER_KEY_FILE: options.masterKeyFile }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const exited = once(child, 'exit').then(([code]) => code as number | null);
  const running = () => child.exitCode === null && child.signalCode === null;
  t.teardown(async () => {
    if (running()) {
      child.kill('SIGKILL');
      await exited;
    }
  });
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => done(new Error(`amsd serve did not listen within ${START_TIMEOUT_MS} ms: ${stderr}`)), START_TIMEOUT_MS);
    const look = () => {
      const found = /Server listening at (https?:\/\/127\.0\.0\.1:\d+)/.exec(stdout);
      if (found) done(undefined, found[1]);
    };
    const onExit = (code: number | null) => done(new Error(`amsd serve exited (${code}) before listening: ${stderr}`));
    function done(error?: Error, address?: string) {
      clearTimeout(timer);
      child.stdout.off('data', look);
      child.off('exit', onExit);
      if (error) {
        child.kill('SIGKILL');
        reject(error);
      } else resolve(address!);
    }
    child.stdout.on('data', look);
    child.once('exit', onExit);
    look();
  });
  return {
    child,
    url,
    dataDir,
    stdout: () => stdout,
    stderr: () => stderr,
    async kill() {
      if (running()) child.kill('SIGKILL');
      await exited;
    },
    async stop() {
      if (running()) child.kill('SIGTERM');
      return exited;
    },
  };
}

export interface Fleet {
  databaseUrl: string;
  masterKeyFile: string;
  adminKey: string;
  daemons: ServeProcess[];
}

/** `count` daemons on one new database: the first alone (it migrates and writes the admin key), then the others at once. */
export async function startFleet(t: Test, databaseUrl: string, count: number, options: { caFile?: string; extraArgs?: string[] } = {}): Promise<Fleet> {
  const keyFile = await masterKeyFile(t);
  const common = { databaseUrl, masterKeyFile: keyFile, ...(options.caFile ? { caFile: options.caFile } : {}), ...(options.extraArgs ? { extraArgs: options.extraArgs } : {}) };
  const first = await startServe(t, common);
  const adminKey = (await readFile(join(first.dataDir, 'bootstrap-admin.key'), 'utf8')).trim();
  const others = await Promise.all(Array.from({ length: count - 1 }, () => startServe(t, common)));
  return { databaseUrl, masterKeyFile: keyFile, adminKey, daemons: [first, ...others] };
}

export interface Answer {
  status: number;
  body: any;
}

/** One API call with a bearer key; throws only when the daemon cannot be reached. */
export async function call(baseUrl: string, key: string, method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<Answer> {
  const response = await fetch(baseUrl + path, {
    method,
    headers: { authorization: `Bearer ${key}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    signal: AbortSignal.timeout(10_000),
  });
  const text = await response.text();
  let parsed: unknown = text;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    // not JSON: kept as text
  }
  return { status: response.status, body: parsed };
}

/** Calls `attempt` until it returns a value other than undefined, every `everyMs`, failing after `withinMs`. */
export async function pollUntil<T>(what: string, withinMs: number, attempt: () => Promise<T | undefined>, everyMs = 20): Promise<T> {
  const deadline = Date.now() + withinMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await attempt();
      if (value !== undefined) return value;
    } catch (error) {
      last = error;
    }
    if (Date.now() >= deadline) throw new Error(`${what}: not within ${withinMs} ms${last ? ` (last error: ${(last as Error).message})` : ''}`);
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
}

/**
 * A throwaway PostgreSQL cluster, for the tests that need a real one and for the bench: initdb into a
 * fresh temporary directory, `pg_ctl start` on 127.0.0.1 and a free port, its unix socket in that
 * directory; `stop()` stops it and removes the directory (also done, synchronously, if the process
 * exits first). The server refuses to run as root: as root, initdb and pg_ctl run as the `postgres`
 * user, on a directory that user owns. The binaries are Debian's postgresql package
 * (scripts/install-postgresql.sh); `postgresMissing` says why there are none.
 *
 * `durable: false` (the default) runs the cluster with fsync, synchronous commits and full page writes
 * off: cheaper, for what depends on none of them. `durable: true` keeps PostgreSQL's defaults (crash
 * tests, the bench's write figures).
 */
import { execFile, execFileSync } from 'node:child_process';
import { chownSync, existsSync, readdirSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';

const run = promisify(execFile);

/** initdb, pg_ctl and postgres of the newest PostgreSQL installed, or undefined. */
function findBinaries(): string | undefined {
  const root = '/usr/lib/postgresql';
  if (!existsSync(root)) return undefined;
  const versions = readdirSync(root)
    .filter((v) => existsSync(join(root, v, 'bin', 'initdb')) && existsSync(join(root, v, 'bin', 'pg_ctl')))
    .sort((a, b) => Number(b) - Number(a));
  return versions[0] && join(root, versions[0], 'bin');
}

export const postgresBin = process.env.AMS_TEST_POSTGRES_BIN ?? findBinaries();

/** Why no cluster can be started here, or undefined when one can. */
export const postgresMissing = postgresBin && existsSync(join(postgresBin, 'initdb'))
  ? undefined
  : 'PostgreSQL is missing (no /usr/lib/postgresql/<version>/bin/initdb): run scripts/install-postgresql.sh';

export interface PostgresCluster {
  port: number;
  /** The cluster's directory (its data, socket and server.log). */
  dir: string;
  /** A new, empty database; its URL (user postgres, no password: the cluster trusts loopback). */
  createDatabase(): Promise<string>;
  /** Stops the server (fast: connections are cut) and starts it again on the same port. */
  restart(): Promise<void>;
  /** Stops the server (fast: connections are cut); `startServer` brings it back on the same port. */
  stopServer(): Promise<void>;
  startServer(): Promise<void>;
  /** Runs one statement on a database as the superuser, on a connection of its own. */
  query<R extends pg.QueryResultRow = pg.QueryResultRow>(databaseUrl: string, sql: string, params?: unknown[]): Promise<pg.QueryResult<R>>;
  /** Stops the server at once and removes its directory. */
  stop(): Promise<void>;
}

export interface ClusterOptions {
  /** Keep fsync and synchronous commits on (crash tests, write figures). */
  durable?: boolean;
  /** shared_buffers (default 16MB: tap runs several files at once, each with a cluster of its own). */
  sharedBuffers?: string;
}

/** Bounds every wait on the server: start, stop, a statement. */
const WAIT_SECONDS = 30;

export async function startPostgresCluster(options: ClusterOptions = {}): Promise<PostgresCluster> {
  if (!postgresBin || postgresMissing) throw new Error(postgresMissing);
  const bin = postgresBin;
  const dir = await mkdtemp(join(tmpdir(), 'amsd-pg-'));
  const asPostgres = process.getuid?.() === 0;
  // The server refuses to run as root: the postgres user owns the directory and runs the binaries.
  if (asPostgres) {
    const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim());
    const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim());
    chownSync(dir, uid, gid);
  }
  const data = join(dir, 'data');
  const as = (binary: string, args: string[]) =>
    asPostgres ? run('runuser', ['-u', 'postgres', '--', join(bin, binary), ...args], { timeout: WAIT_SECONDS * 1000 }) : run(join(bin, binary), args, { timeout: WAIT_SECONDS * 1000 });
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    process.off('exit', stopAtExit);
    // Immediate: the cluster is thrown away, nothing needs a clean checkpoint.
    await as('pg_ctl', ['-D', data, '-m', 'immediate', '-w', '-t', String(WAIT_SECONDS), 'stop']).catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  };
  // A process that dies without calling stop must not leave a server running.
  const stopAtExit = () => {
    try {
      execFileSync(asPostgres ? 'runuser' : join(bin, 'pg_ctl'), [...(asPostgres ? ['-u', 'postgres', '--', join(bin, 'pg_ctl')] : []), '-D', data, '-m', 'immediate', 'stop'], { stdio: 'ignore', timeout: 10_000 });
    } catch {
      // already stopped
    }
  };
  process.on('exit', stopAtExit);

  try {
    // --no-sync even when durable: it only skips syncing initdb's own files once at the end, which
    // matters for a machine that loses power during initdb; the server's own fsync is what durable keeps.
    await as('initdb', ['-D', data, '-U', 'postgres', '-A', 'trust', '-E', 'UTF8', '--locale=C', '--no-sync']);
    const settings = ['-c', 'listen_addresses=127.0.0.1', '-k', dir, '-c', 'max_connections=50', '-c', `shared_buffers=${options.sharedBuffers ?? '16MB'}`];
    if (!options.durable) settings.push('-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off');
    // A free port can be taken between the check and the start: try a few.
    let port = 0;
    for (let attempt = 1; ; attempt++) {
      port = await freePort();
      try {
        await as('pg_ctl', ['-D', data, '-l', join(dir, 'server.log'), '-w', '-t', String(WAIT_SECONDS), '-o', [...settings, '-p', String(port)].join(' '), 'start']);
        break;
      } catch (error) {
        if (attempt >= 3) {
          const log = await readFile(join(dir, 'server.log'), 'utf8').catch(() => '');
          throw new Error(`PostgreSQL did not start in ${dir}: ${(error as Error).message}\n${log}`, { cause: error });
        }
      }
    }
    let databases = 0;
    const url = (database: string) => `postgres://postgres@127.0.0.1:${port}/${database}`;
    const query = async <R extends pg.QueryResultRow>(databaseUrl: string, sql: string, params: unknown[] = []) => {
      const client = new pg.Client({ connectionString: databaseUrl, connectionTimeoutMillis: WAIT_SECONDS * 1000, statement_timeout: WAIT_SECONDS * 1000 });
      client.on('error', () => undefined); // a backend someone terminates; the query's own promise says so
      await client.connect();
      try {
        return await client.query<R>(sql, params);
      } finally {
        await client.end().catch(() => undefined);
      }
    };
    return {
      port,
      dir,
      query,
      stop,
      async stopServer() {
        await as('pg_ctl', ['-D', data, '-m', 'fast', '-w', '-t', String(WAIT_SECONDS), 'stop']);
      },
      async startServer() {
        await as('pg_ctl', ['-D', data, '-l', join(dir, 'server.log'), '-w', '-t', String(WAIT_SECONDS), '-o', [...settings, '-p', String(port)].join(' '), 'start']);
      },
      async restart() {
        // Without -o, pg_ctl restart starts with the options of the last start (postmaster.opts): the same port.
        await as('pg_ctl', ['-D', data, '-l', join(dir, 'server.log'), '-m', 'fast', '-w', '-t', String(WAIT_SECONDS), 'restart']);
      },
      async createDatabase() {
        const name = `amsd_test_${++databases}`;
        await query(url('postgres'), `CREATE DATABASE ${name}`);
        return url(name);
      },
    };
  } catch (error) {
    await stop();
    throw error;
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

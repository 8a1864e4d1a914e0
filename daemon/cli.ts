#!/usr/bin/env node
/**
 * `amsd`: the only place that reads the environment, listens, and handles signals.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Command, InvalidArgumentError, Option } from 'commander';
import { userInfo } from 'node:os';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { defaultDataDir, defaultDemoDataDir } from './config.js';
import { BOOTSTRAP_KEY_FILE, openDaemon } from './daemon.js';
import { checkCanListen, listenFailure } from './listen-check.js';
import { LOG_LEVELS, createLogger, type LogLevel } from './logging.js';
import { packageVersion } from '../openapi/package-root.js';

function parsePort(value: string): number {
  const port = Number(value);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new InvalidArgumentError('a port is a whole number from 0 to 65535.');
  return port;
}

interface ServeOptions {
  host: string;
  port: number;
  dataDir: string;
  tlsCert?: string;
  tlsKey?: string;
  caFile?: string;
  database?: string;
  logLevel: LogLevel;
}

async function serve(options: ServeOptions) {
  if (Boolean(options.tlsCert) !== Boolean(options.tlsKey)) {
    fail('--tls-cert and --tls-key go together: give both, or neither for plain HTTP on loopback.');
  }
  const https = options.tlsCert && options.tlsKey ? { cert: readFileSync(options.tlsCert), key: readFileSync(options.tlsKey) } : undefined;
  const logger = createLogger(options.logLevel);
  let database: string | undefined;
  if (options.database) {
    const { checkDatabaseUrl, redactDatabaseUrl } = await import('./store/postgres/database-url.js');
    try {
      checkDatabaseUrl(options.database);
    } catch (error) {
      fail(`--database: ${(error as Error).message}`);
    }
    database = redactDatabaseUrl(options.database);
  }

  let daemon;
  try {
    await checkCanListen(options.host, options.port); // before the data directory gets a key it would not serve
    daemon = await openDaemon({
      dataDir: options.dataDir,
      logger,
      ...(process.env.AMS_MASTER_KEY_FILE ? { masterKeyFile: process.env.AMS_MASTER_KEY_FILE } : {}),
      ...(process.env.AMS_PWSH ? { pwshPath: process.env.AMS_PWSH } : {}),
      ...(options.caFile ? { caFile: options.caFile } : {}),
      ...(options.database ? { databaseUrl: options.database } : {}),
      ...(https ? { https } : {}),
    });
  } catch (error) {
    fail((error as Error).message);
  }
  const { app } = daemon;
  stopOnSignals(app, logger);

  let address: string;
  try {
    address = await app.listen({ host: options.host, port: options.port });
  } catch (error) {
    await app.close().catch(() => undefined);
    fail(listenFailure(options.host, options.port, error));
  }
  // Said on every start while the file is there: the first start's banner may be long gone.
  const keyFile = join(options.dataDir, BOOTSTRAP_KEY_FILE);
  const banner = [
    `amsd ${packageVersion} is serving at ${address}`,
    `  Swagger UI:   ${address}/docs`,
    `  Data dir:     ${options.dataDir}`,
    database ? `  Database:     ${database} (the state: API keys, tenants, rules, channels, settings; and the audit trail, one chain for every daemon on it)` : undefined,
    daemon.bootstrapKeyFile
      ? `  Admin key:    written to ${daemon.bootstrapKeyFile} (first start; keep it safe, then delete the file)`
      : existsSync(keyFile)
        ? `  Admin key:    in ${keyFile} (written on the first start; keep it safe, then delete the file)`
        : undefined,
  ].filter(Boolean);
  process.stderr.write(banner.join('\n') + '\n');
}

/**
 * SIGINT/SIGTERM close the app: no new requests, those in flight finish, the store is flushed and the
 * lock released, then exit 0. A second signal, or 10 s without finishing, exits 1 at once.
 */
function stopOnSignals(app: FastifyInstance, logger: Logger) {
  let closing = false;
  const shutdown = (signal: string) => {
    if (closing) {
      logger.warn({ signal }, 'second signal: exiting without waiting for requests in flight');
      process.exit(1);
    }
    closing = true;
    logger.info({ signal }, 'stopping: no new requests; finishing those in flight');
    const force = setTimeout(() => {
      logger.error('requests in flight did not finish within 10 s; exiting anyway');
      process.exit(1);
    }, 10_000);
    force.unref();
    app.close().then(
      () => {
        logger.info('stopped');
        process.exit(0);
      },
      (error: unknown) => {
        logger.error({ err: error }, 'error while stopping');
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', () => shutdown('SIGINT'));
  process.on('SIGTERM', () => shutdown('SIGTERM'));
}

interface DemoCommandOptions {
  host: string;
  port: number;
  dataDir: string;
  logLevel: LogLevel;
}

async function demo(options: DemoCommandOptions) {
  // Loaded only for `amsd demo`: the simulated tenant (node-forge, jose, its directory) is no part of `serve`.
  const { demoInstructions, startDemo } = await import('./demo.js');
  const logger = createLogger(options.logLevel);
  let started;
  try {
    started = await startDemo({ ...options, logger });
  } catch (error) {
    fail((error as Error).message);
  }
  stopOnSignals(started.app, logger);
  process.stderr.write(demoInstructions(started.info) + '\n');
}

function fail(message: string): never {
  process.stderr.write(`amsd: ${message}\n`);
  process.exit(1);
}

export function buildCli(): Command {
  const program = new Command('amsd')
    .description('Access Manager daemon: rule-governed, audited reads of Windows LAPS passwords and BitLocker keys held by Entra ID.')
    .version(packageVersion, '-v, --version', 'print the version')
    .showHelpAfterError('(run amsd --help for the commands and their options)');

  program
    .command('serve')
    .description('Run the daemon until SIGINT or SIGTERM; then it finishes the requests in flight and exits 0.')
    .addOption(new Option('--host <address>', 'address to listen on; keep the loopback default unless TLS is on and a firewall guards the port').default('127.0.0.1'))
    .addOption(new Option('--port <number>', 'TCP port (0 picks a free one)').default(5800).argParser(parsePort))
    .addOption(
      new Option('--data-dir <dir>', 'where the state, the master key and the lock live').default(
        defaultDataDir(),
        '$AMS_DATA_DIR, else a per-user data directory',
      ),
    )
    .addOption(new Option('--tls-cert <file>', 'PEM certificate (chain) to serve HTTPS with; needs --tls-key'))
    .addOption(new Option('--tls-key <file>', 'PEM private key of --tls-cert'))
    .addOption(new Option('--ca-file <file>', 'PEM of an extra CA to trust for Entra ID and Graph, besides the system roots').env('AMS_CA_FILE'))
    .addOption(
      new Option('--database <url>', 'keep the state in this PostgreSQL database, shared with the other daemons on it (postgres://user:password@host:5432/name; never printed with its password)').env(
        'AMS_DATABASE_URL',
      ),
    )
    .addOption(new Option('--log-level <level>', 'how much to log (JSON lines on standard output)').choices(LOG_LEVELS).default('info'))
    .addHelpText(
      'after',
      [
        '',
        'Environment:',
        '  AMS_DATA_DIR          default for --data-dir',
        '  AMS_CA_FILE           default for --ca-file',
        '  AMS_DATABASE_URL      default for --database',
        '  AMS_MASTER_KEY_FILE   file holding the 32-byte key that seals secrets at rest (default: <data-dir>/master.key, created on first start)',
        '  AMS_PWSH              the pwsh that runs PowerShell notification channels (default: pwsh on the PATH)',
        '',
        'On the first start of an empty data directory, an admin API key is written to <data-dir>/bootstrap-admin.key.',
      ].join('\n'),
    )
    .action(serve);

  program
    .command('demo')
    .description('Run the daemon against a simulated Entra tenant (no internet, no real tenant), configured with a tenant, an admin key and a user key; <data-dir>/demo.json says where everything is.')
    .addOption(new Option('--host <address>', 'address to listen on').default('127.0.0.1'))
    .addOption(new Option('--port <number>', 'TCP port (0 picks a free one)').default(5800).argParser(parsePort))
    .addOption(new Option('--data-dir <dir>', 'the demo\'s data directory, reused by the next run').default(defaultDemoDataDir()))
    .addOption(new Option('--log-level <level>', 'how much to log (JSON lines on standard output)').choices(LOG_LEVELS).default('warn'))
    .action(demo);

  const audit = program.command('audit').description('Work with the audit trail of a data directory (verify also the one every daemon on a PostgreSQL database shares).');
  const dataDirOption = (what: string) =>
    new Option('--data-dir <dir>', `the data directory whose audit trail (<data-dir>/audit/audit.jsonl) to ${what}`).default(
      defaultDataDir(),
      '$AMS_DATA_DIR, else a per-user data directory',
    );
  const masterKeyFile = () => (process.env.AMS_MASTER_KEY_FILE ? { masterKeyFile: process.env.AMS_MASTER_KEY_FILE } : {});
  const operator = () => {
    try {
      return userInfo().username;
    } catch {
      return `uid ${process.getuid?.() ?? 'unknown'}`;
    }
  };
  audit
    .command('verify')
    .description(
      'Check the whole audit trail (start re-hashes only the events from the last checkpoint on): every event unchanged and keyed, none removed or reordered, the trail the one amsd.json names and ' +
        'reaching its last checkpoint. Exits 0 if so, 1 if it is broken, missing or would be refused. Only reads; safe while amsd serves.',
    )
    .addOption(dataDirOption('check'))
    .addOption(
      new Option('--database <url>', 'check instead the trail every daemon on this PostgreSQL database shares (the table audit_events), end to end; the master key is still $AMS_MASTER_KEY_FILE, else <data-dir>/master.key (never printed with its password)').env('AMS_DATABASE_URL'),
    )
    .addHelpText(
      'after',
      [
        '',
        'The chain is keyed with a key derived from the master key ($AMS_MASTER_KEY_FILE, else <data-dir>/master.key), which verify needs too:',
        'without it, no one can recompute a link. amsd.json records the trail\'s id and, every few seconds and at shutdown, a checkpoint of its head,',
        'so a trail cut at its end back past the checkpoint is caught; events after the last checkpoint are not covered.',
        'With --database, the trail\'s id and checkpoint are in the database\'s state, and the head row must be at the last event.',
      ].join('\n'),
    )
    .action(async (options: { dataDir: string; database?: string }) => {
      if (options.database) {
        const { runAuditVerifyDatabase } = await import('./audit/postgres-verify.js');
        process.exitCode = await runAuditVerifyDatabase(options.database, process.stdout, { dataDir: options.dataDir, ...masterKeyFile() });
        return;
      }
      const { runAuditVerify } = await import('./audit/verify-command.js');
      process.exitCode = await runAuditVerify(options.dataDir, process.stdout, masterKeyFile());
    });
  audit
    .command('reset')
    .description(
      'Archive the audit trail (renamed next to it, never deleted) and start a new one, whose first event (audit.reset) records the archive and what checking it found. ' +
        'The only way to start a new trail in a data directory that has one; amsd must be stopped.',
    )
    .addOption(dataDirOption('archive and start anew'))
    .requiredOption('--confirm', 'required: you mean it')
    .addOption(new Option('--reason <text>', 'why, for the audit.reset event'))
    .action(async (options: { dataDir: string; reason?: string }) => {
      const { runAuditReset } = await import('./audit/trail-commands.js');
      process.exitCode = await runAuditReset({ dataDir: options.dataDir, operator: operator(), out: process.stdout, ...masterKeyFile(), ...(options.reason ? { reason: options.reason } : {}) });
    });
  audit
    .command('rekey')
    .description(
      'Key the audit trail of a data directory last served by an amsd from before keyed trails: appends an audit.rekeyed event that continues the old chain ' +
        'and records its head, and names the trail in amsd.json. amsd refuses to start on such a directory until this is done; amsd must be stopped.',
    )
    .addOption(dataDirOption('key'))
    .addOption(new Option('--reason <text>', 'why, for the audit.rekeyed event'))
    .action(async (options: { dataDir: string; reason?: string }) => {
      const { runAuditRekey } = await import('./audit/trail-commands.js');
      process.exitCode = await runAuditRekey({ dataDir: options.dataDir, operator: operator(), out: process.stdout, ...masterKeyFile(), ...(options.reason ? { reason: options.reason } : {}) });
    });

  const db = program.command('db').description('Work with the PostgreSQL database several daemons share (see the README\'s PostgreSQL section).');
  db.command('migrate')
    .description(
      'Bring the database\'s schema to the version this amsd knows, in one transaction (two daemons or commands at once never both apply a step), and say what was applied. ' +
        'A database of a newer schema is refused, naming both versions. Safe to run again: a current database is left as it is.',
    )
    .addOption(new Option('--database <url>', 'the database, as postgres://user:password@host:5432/name (never printed with its password)').env('AMS_DATABASE_URL').makeOptionMandatory())
    .action(async (options: { database: string }) => {
      const { runDbMigrate } = await import('./store/postgres/migrate-command.js');
      process.exitCode = await runDbMigrate(options.database, process.stdout, process.stderr);
    });

  db.command('import')
    .description(
      'Copy a data directory\'s state (API keys, tenants, rules, channels, settings; secrets stay sealed, and the master key must open them) and its audit trail ' +
        '(verified first, in full; refused if it does not verify) into an EMPTY database, in one transaction: all or nothing. amsd must be stopped on the data directory, which is left as it is.',
    )
    .addOption(new Option('--data-dir <dir>', 'the data directory to copy').default(defaultDataDir(), '$AMS_DATA_DIR, else a per-user data directory'))
    .addOption(new Option('--database <url>', 'the database, as postgres://user:password@host:5432/name (never printed with its password)').env('AMS_DATABASE_URL').makeOptionMandatory())
    .action(async (options: { dataDir: string; database: string }) => {
      const { runDbImport } = await import('./db-import.js');
      process.exitCode = await runDbImport({ dataDir: options.dataDir, url: options.database, out: process.stdout, ...masterKeyFile() });
    });

  // The PowerShell module generator (psmodule/generator), loaded only when asked for.
  program
    .command('generate-module')
    .description('Write the AccessManager PowerShell module generated from an API contract: this amsd\'s own, a spec file, or a running daemon\'s /openapi.json.')
    .requiredOption('--out <dir>', 'the module folder to write (name it AccessManager to import the module by name); a folder holding another generated module is replaced')
    .addOption(new Option('--spec <file|url>', 'the contract: a YAML or JSON file, or a URL such as https://amsd.contoso.com:5800/openapi.json (a bare server address gets /openapi.json)'))
    .action(async (options: { out: string; spec?: string }) => {
      const { generateModule } = await import('../psmodule/generator/index.js');
      try {
        const { outDir, files, warnings } = await generateModule({ outDir: options.out, ...(options.spec ? { spec: options.spec } : {}) });
        for (const warning of warnings) process.stderr.write(`amsd: warning: ${warning}\n`);
        process.stdout.write(`Wrote the AccessManager module (${files.length} files) to ${outDir}\nImport it with: Import-Module ${outDir}\n`);
      } catch (error) {
        fail((error as Error).message);
      }
    });

  return program;
}

await buildCli().parseAsync(process.argv);

/**
 * `amsd db import --data-dir DIR --database URL`: moves a data directory served by the embedded store
 * onto PostgreSQL. It copies the state (read through the embedded store's loader, so every record is
 * checked as at start; secrets stay sealed, under the same master key, which must open every one of
 * them), the audit trail (verified first, in full: a trail that does not verify is refused) and the
 * password rotation jobs, into a database that holds no state, no audit event and no job, in ONE
 * transaction: all or nothing. The trail keeps
 * its id, seqs and hashes, so `amsd serve --database` goes on with the same chain.
 *
 * The data directory is locked meanwhile (its daemon must be stopped) and left as it was.
 */
import { open, stat } from 'node:fs/promises';
import { join } from 'node:path';
import pg from 'pg';
import { auditLogPath } from './audit/audit-log.js';
import { readLines, verifyAuditLog, type AuditVerifyResult } from './audit/chain.js';
import type { AuditEvent } from './audit/events.js';
import { insertEvents, readHead } from './audit/postgres-trail.js';
import { bindTrail, trailRecord } from './audit/trail.js';
import { sealingContext } from './directory/tenant-service.js';
import { channelSealingContext } from './notifications/channel-sealing.js';
import { openJsonFileStore } from './store/json-file-store.js';
import { FileRotationJobStore, rotationJobsFilePath } from './rotation/file-jobs.js';
import { insertRotationJobs } from './rotation/postgres-jobs.js';
import type { RotationJob } from './rotation/rotation-jobs.js';
import { lockDataDir } from './store/lock.js';
import { checkDatabaseUrl, redactDatabaseUrl, redactPassword } from './store/postgres/database-url.js';
import { checkMasterKey } from './store/postgres/master-key-check.js';
import { ROW_TABLES, migrate } from './store/postgres/migrations.js';
import { jsonbProblem, readRevision, writeChange } from './store/postgres/state-tables.js';
import { createSealer, loadMasterKey, type Sealer } from './store/sealing.js';
import { STATE_FILE } from './store/state.js';
import { ROW_COLLECTIONS, rowKey, type Operation, type StateView } from './store/store.js';

export interface DbImportOptions {
  dataDir: string;
  url: string;
  /** `$AMS_MASTER_KEY_FILE`; without it, `<data-dir>/master.key`. */
  masterKeyFile?: string;
  out: NodeJS.WritableStream;
}

/** A reason to copy nothing: printed, exit code 1. */
class ImportRefused extends Error {}

/** Every sealed value of the state, with the context it was sealed under and what it is, for the message. */
function sealedValues(state: StateView): { what: string; sealed: string; context: string }[] {
  const values: { what: string; sealed: string; context: string }[] = [];
  for (const tenant of state.tenants) {
    const credential = tenant.credential;
    if (credential.type === 'secret') values.push({ what: `the client secret of tenant ${tenant.tenantId}`, sealed: credential.sealedClientSecret, context: sealingContext(tenant.tenantId, 'clientSecret') });
    else values.push({ what: `the private key of tenant ${tenant.tenantId}`, sealed: credential.sealedPrivateKeyPem, context: sealingContext(tenant.tenantId, 'privateKeyPem') });
  }
  for (const channel of state.channels) {
    const add = (field: Parameters<typeof channelSealingContext>[1], sealed: string | undefined) =>
      sealed !== undefined && values.push({ what: `the ${field} of notification channel ${channel.id}`, sealed, context: channelSealingContext(channel.id, field) });
    if (channel.kind === 'webhook') {
      add('url', channel.sealedUrl);
      add('signingSecret', channel.sealedSigningSecret);
      for (const header of channel.headers) add(`header:${header.name.toLowerCase()}`, header.sealedValue);
    } else if (channel.kind === 'smtp') {
      add('password', channel.sealedPassword);
    }
  }
  return values;
}

function checkSecretsOpen(state: StateView, sealer: Sealer, keyFile: string): void {
  for (const { what, sealed, context } of sealedValues(state)) {
    try {
      sealer.unseal(sealed, context);
    } catch {
      throw new ImportRefused(`the master key ${keyFile} does not open ${what}: it is not the key this data directory was written with. Nothing was copied.`);
    }
  }
}

/** The state as the operations of one change: every row put, the settings and the trail's record set. */
function stateOperations(state: StateView, auditTrail: unknown): { ops: Operation[]; valueTexts: string[] } {
  const ops: Operation[] = [];
  const valueTexts: string[] = [];
  const add = (op: Operation, value: unknown, at: string) => {
    const problem = jsonbProblem(value, at);
    if (problem) throw new ImportRefused(`${problem}. Nothing was copied.`);
    ops.push(op);
    valueTexts.push(JSON.stringify(value));
  };
  for (const collection of ROW_COLLECTIONS) {
    for (const row of state[collection]) {
      const key = rowKey(collection, row);
      add({ op: 'put', collection, key, value: row } as Operation, row, `/${collection}/${key}`);
    }
  }
  add({ op: 'set', collection: 'settings', value: state.settings } as Operation, state.settings, '/settings');
  add({ op: 'set', collection: 'auditTrail', value: auditTrail } as Operation, auditTrail, '/auditTrail');
  return { ops, valueTexts };
}

/** Why the database is not empty, or undefined when it holds no state and no audit event. */
async function whyNotEmpty(client: pg.ClientBase): Promise<string | undefined> {
  const revision = await readRevision(client, true);
  const head = await readHead(client, true);
  const counts: string[] = [];
  for (const collection of ROW_COLLECTIONS) {
    const { rows } = await client.query<{ n: string }>(`SELECT count(*) AS n FROM ${ROW_TABLES[collection]}`);
    if (Number(rows[0]!.n) > 0) counts.push(`${rows[0]!.n} ${collection}`);
  }
  const events = Number((await client.query<{ n: string }>('SELECT count(*) AS n FROM audit_events')).rows[0]!.n);
  if (events > 0 || head.seq > 0) counts.push(`audit events up to seq ${head.seq}`);
  const jobs = Number((await client.query<{ n: string }>('SELECT count(*) AS n FROM rotation_jobs')).rows[0]!.n);
  if (jobs > 0) counts.push(`${jobs} password rotations`);
  if (revision > 0 && counts.length === 0) counts.push(`${revision} changes of the state`);
  return counts.length === 0 ? undefined : counts.join(', ');
}

/** The data directory's password rotation jobs (checked as at start), or undefined when it has no jobs file. */
async function rotationJobsOf(dataDir: string): Promise<RotationJob[] | undefined> {
  const file = rotationJobsFilePath(dataDir);
  if (!(await stat(file).catch(() => undefined))) return undefined;
  const jobs = await FileRotationJobStore.open({ file });
  return jobs.list({ limit: Number.POSITIVE_INFINITY });
}

/** Copies the trail's complete lines into audit_events, checking they are the chain that was verified. */
async function copyTrail(client: pg.ClientBase, file: string, verified: Extract<AuditVerifyResult, { ok: true }>): Promise<number> {
  const handle = await open(file, 'r');
  let copied = 0;
  let last: AuditEvent | undefined;
  try {
    let batch: { event: AuditEvent; text: string }[] = [];
    for await (const line of readLines(handle)) {
      if (!line.terminated) break; // never acknowledged (verify said so): not part of the trail
      const event = JSON.parse(line.text) as AuditEvent;
      if (last && event.seq !== last.seq + 1) throw new Error(`the audit trail ${file} changed while it was copied (seq ${event.seq} after ${last.seq})`);
      batch.push({ event, text: line.text });
      last = event;
      copied++;
      if (batch.length === 1000) {
        await insertEvents(client, batch);
        batch = [];
      }
    }
    await insertEvents(client, batch);
  } finally {
    await handle.close();
  }
  const seq = last?.seq ?? 0;
  if (seq !== verified.events || (last && last.hash !== verified.lastHash)) throw new Error(`the audit trail ${file} changed while it was copied`);
  if (last) await client.query('UPDATE audit_head SET seq = $1, hash = $2', [last.seq, last.hash]);
  return copied;
}

/** Exit code 0 when everything was copied, 1 when nothing was (the message says why). */
export async function runDbImport(options: DbImportOptions): Promise<number> {
  const { dataDir, url, out } = options;
  const stateFile = join(dataDir, STATE_FILE);
  const file = auditLogPath(dataDir);
  let database: string;
  try {
    checkDatabaseUrl(url);
    database = redactDatabaseUrl(url);
    await stat(stateFile).catch(() => {
      throw new ImportRefused(`there is no data file ${stateFile}: nothing to import.`);
    });
    const lock = await lockDataDir(dataDir);
    try {
      const masterKey = await loadMasterKey(dataDir, options.masterKeyFile, { create: false });
      const { store } = await openJsonFileStore(stateFile);
      try {
        const state = store.state;
        checkSecretsOpen(state, createSealer(masterKey.key), masterKey.file);
        const bound = await bindTrail(file, stateFile, state.auditTrail, masterKey.key);
        if ('problem' in bound) throw new ImportRefused(`the audit trail ${file} cannot be used: ${bound.problem}. ${bound.advice} Nothing was copied.`);
        const verified = await verifyAuditLog(file, bound.key, { checkpoint: bound.checkpoint });
        if (!verified.ok) {
          const { line, seq, detail } = verified.firstBroken;
          throw new ImportRefused(`the audit trail ${file} does not verify: broken at line ${line}${seq === undefined ? '' : ` (seq ${seq})`}: ${detail}. Nothing was copied; \`amsd audit verify --data-dir ${dataDir}\` says more.`);
        }
        const record = trailRecord(masterKey.key, { seq: verified.events, hash: verified.lastHash }, bound.key.trailId, state.auditTrail!.createdAt);
        const rotations = await rotationJobsOf(dataDir);
        const { ops, valueTexts } = stateOperations(state, record);

        const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 10_000, application_name: 'amsd db import' });
        client.on('error', () => undefined); // a connection lost mid-way fails the query, which says so
        await client.connect();
        try {
          // The schema in its own transaction (as `amsd db migrate`); everything else in one.
          await migrate(client, database);
          await client.query('BEGIN');
          let copied: number;
          try {
            const notEmpty = await whyNotEmpty(client);
            if (notEmpty) throw new ImportRefused(`the database ${database} is not empty (it holds ${notEmpty}): db import only fills an empty database. Nothing was copied.`);
            await checkMasterKey(client, createSealer(masterKey.key), database, masterKey.file);
            await writeChange(client, 1, ops, valueTexts);
            copied = await copyTrail(client, file, verified);
            if (rotations) await insertRotationJobs(client, rotations);
            await client.query('COMMIT');
          } catch (error) {
            await client.query('ROLLBACK').catch(() => undefined);
            throw error;
          }
          const count = (c: (typeof ROW_COLLECTIONS)[number]) => `${state[c].length} ${c}`;
          out.write(
            `imported ${stateFile} and its audit trail into ${database}, in one transaction:\n` +
              `  state: ${ROW_COLLECTIONS.map(count).join(', ')}, the settings\n` +
              `  audit trail ${bound.key.trailId}: ${copied} events${copied > 0 ? ` (seq ${verified.firstSeq ?? 1} to ${verified.events}), verified before and copied as they are` : ''}\n` +
              (rotations ? `  password rotations: ${rotations.length} (${rotations.filter((j) => j.status === 'pending').length} pending, run by the daemons on the database from now on)\n` : '') +
              (verified.unfinishedLastLine ? `  not copied: line ${verified.unfinishedLastLine.line} of the trail, an unfinished write never acknowledged\n` : '') +
              `  the data directory ${dataDir} is unchanged; serve with --database from now on (and the same master key)\n`,
          );
        } finally {
          await client.end().catch(() => undefined);
        }
      } finally {
        await store.close();
      }
    } finally {
      await lock.release();
    }
    return 0;
  } catch (error) {
    const message = redactPassword((error as Error).message, url);
    out.write(error instanceof ImportRefused ? `amsd db import refused: ${message}\n` : `amsd db import failed, nothing was copied: ${message}\n`);
    return 1;
  }
}

/**
 * `amsd audit verify --database URL`: checks the shared trail in PostgreSQL end to end, as
 * `amsd audit verify` checks a file (verify-command.ts): every event re-hashed under the keyed chain
 * and linked to the one before, none missing or reordered, a pruned start accounted for, the trail the
 * one the state's `auditTrail` document names, reaching its checkpoint, and the head row at the last
 * event. One row is one line of the file. Only reads, in one snapshot: safe while daemons append.
 */
import pg from 'pg';
import { checkDatabaseUrl, redactDatabaseUrl, redactPassword } from '../store/postgres/database-url.js';
import { currentVersion } from '../store/postgres/migrations.js';
import { inSnapshot } from '../store/postgres/connections.js';
import type { AuditTrailRecord } from '../store/records.js';
import { loadMasterKey } from '../store/sealing.js';
import { verifyChain, type AuditVerifyResult, type ChainKey, type Checkpoint } from './chain.js';
import { readHead } from './postgres-trail.js';
import { trailRecordKey } from './trail.js';

/** Rows read per query while verifying. */
const VERIFY_BATCH = 5000;

/** The events in seq order as the lines of a file: number, text, length; all terminated. */
async function* eventRows(client: pg.ClientBase): AsyncGenerator<{ number: number; text: string; length: number; terminated: true }> {
  let number = 0;
  for (let after = -1; ; ) {
    const { rows } = await client.query<{ seq: string; event: string }>('SELECT seq, event FROM audit_events WHERE seq > $1 ORDER BY seq LIMIT $2', [after, VERIFY_BATCH]);
    for (const row of rows) yield { number: ++number, text: row.event, length: Buffer.byteLength(row.event), terminated: true };
    if (rows.length < VERIFY_BATCH) return;
    after = Number(rows.at(-1)!.seq);
  }
}

/**
 * Checks the chain in the database (call inside a snapshot): the keyed chain as in a file, then that
 * the head row is the last event, since appends link to it.
 */
export async function verifyDatabaseChain(client: pg.ClientBase, key: ChainKey, checkpoint?: Checkpoint): Promise<AuditVerifyResult> {
  const result = await verifyChain(eventRows(client), key, checkpoint ? { checkpoint } : {});
  if (!result.ok) return result;
  const head = await readHead(client);
  if (head.seq !== result.events || head.hash !== result.lastHash) {
    return {
      ok: false,
      events: result.events,
      firstBroken: {
        line: result.events - (result.firstSeq ?? 1) + 2,
        reason: 'cut-at-end',
        detail: `the head row says seq ${head.seq}, but the last event is seq ${result.events}${head.seq === result.events ? ' with another hash' : ''} — events were removed from the end, or the head was changed`,
      },
    };
  }
  return result;
}

export interface DatabaseVerifyOptions {
  /** `$AMS_MASTER_KEY_FILE`; without it, `<data-dir>/master.key`. */
  masterKeyFile?: string;
  dataDir: string;
}

/** Exit code 0 when the trail is intact, 1 when it is broken, missing, refused or unreadable (as for a file). */
export async function runAuditVerifyDatabase(url: string, out: NodeJS.WritableStream, options: DatabaseVerifyOptions): Promise<number> {
  let database = '(a database URL that cannot be parsed)';
  const refused = (problem: string, advice: string) => {
    out.write(`audit trail REFUSED: ${problem}\n  database: ${database}\n  ${advice}\n`);
    return 1;
  };
  let result: AuditVerifyResult;
  let record: AuditTrailRecord;
  try {
    checkDatabaseUrl(url);
    database = redactDatabaseUrl(url);
    const masterKey = await loadMasterKey(options.dataDir, options.masterKeyFile, { create: false });
    const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 10_000, application_name: 'amsd audit verify' });
    client.on('error', () => undefined); // a connection lost mid-way fails the query, which says so
    await client.connect();
    try {
      type Checked = { problem: string; advice: string } | { record: AuditTrailRecord; result: AuditVerifyResult };
      const checked = await inSnapshot(client, async (): Promise<Checked> => {
        if ((await currentVersion(client)) < 2) return { problem: 'the database holds no audit trail (its schema is older than version 2: no daemon served on it yet)', advice: '`amsd db migrate --database URL` creates the schema.' };
        const { rows } = await client.query<{ value: AuditTrailRecord | null }>("SELECT value FROM documents WHERE name = 'auditTrail'");
        const named = rows[0]?.value ?? undefined;
        if (!named) {
          const head = await readHead(client);
          return head.seq > 0
            ? { problem: `the state names no audit trail, yet the database holds events up to seq ${head.seq}: the auditTrail document was removed`, advice: 'Restore the database from a backup.' }
            : { problem: 'the state names no audit trail yet and it holds no event: no daemon served on this database yet', advice: 'amsd serve --database names a new trail at its first start.' };
        }
        const key = trailRecordKey(named, masterKey.key);
        if (!key) {
          return {
            problem: `the auditTrail document (trail ${named.id}) does not carry a valid MAC: it was changed by someone without the master key, or this is not the master key the database was written with`,
            advice: 'Check $AMS_MASTER_KEY_FILE (every daemon on the database uses the same master key).',
          };
        }
        return { record: named, result: await verifyDatabaseChain(client, key, named.checkpoint) };
      });
      if ('problem' in checked) return refused(checked.problem, checked.advice);
      ({ record, result } = checked);
    } finally {
      await client.end().catch(() => undefined);
    }
  } catch (error) {
    out.write(`cannot read the audit trail in the database ${database}: ${redactPassword((error as Error).message, url)}\n`);
    return 1;
  }
  if (!result.ok) {
    const { line, seq, detail } = result.firstBroken;
    out.write(`audit trail BROKEN at row ${line}${seq === undefined ? '' : ` (seq ${seq})`}: ${detail}\n  ${result.events} events before it are intact\n  database: ${database}\n`);
    return 1;
  }
  const firstSeq = result.firstSeq ?? 1;
  out.write(
    [
      firstSeq > 1
        ? `audit trail OK: events ${firstSeq} to ${result.events}, keyed chain intact (events before ${firstSeq} were removed by retention, as an audit.pruned event records)`
        : `audit trail OK: ${result.events} events, keyed chain intact`,
      `  database: ${database} (table audit_events, shared by every daemon on it)`,
      `  trail: ${record.id} (named in the database's auditTrail document)`,
      `  checkpoint: seq ${record.checkpoint.seq} at ${record.checkpoint.time}, reached`,
      `  last hash: ${result.lastHash}${result.lastTime ? ` (${result.lastTime})` : ''}`,
    ].join('\n') + '\n',
  );
  return 0;
}

/**
 * The audit trail in PostgreSQL (`--database`): ONE keyed hash chain that every daemon on the
 * database appends to, in the append-only table `audit_events` (schema version 2, migrations.ts).
 * Events are sealed exactly as in the file trail (chain.ts: same fields, canonical form, chain key
 * from the master key and the trail's id), so the same checker verifies both.
 *
 * - An append takes the head row (`audit_head`) FOR UPDATE inside the transaction that inserts its
 *   events, and links to the head it read there: two daemons appending at once are serialised by the
 *   row lock, so the chain never forks. It resolves only once the transaction has committed: a secret
 *   leaves only after its event is durable.
 * - Group commit as the file trail does: appends of one turn of the event loop share one transaction.
 * - A batch that cannot commit rolls back whole and rejects every append in it (AuditWriteError: 503,
 *   the secret kept); nothing of it stays, and the next batch links to the head as it is.
 * - The trail's id and checkpoint are the `auditTrail` document of the shared state (trail.ts); at
 *   start the chain is checked from the checkpoint to the head; `amsd audit verify --database` checks
 *   it all (postgres-verify.ts).
 */
import type pg from 'pg';
import { AuditWriteError, UnavailableError } from '../common/errors.js';
import { afterWhatGoesOutNext } from '../common/turns.js';
import { DATABASE_RETRY_SECONDS, isConnectionFailure } from '../store/postgres/reachability.js';
import { SerialQueue } from '../common/serial.js';
import { inSnapshot, inTransaction, rollback, withClient } from '../store/postgres/connections.js';
import type { Store } from '../store/store.js';
import { plainEventContent } from './audit-log.js';
import type { AuditTrail, TrailHead } from './audit-trail.js';
import { GENESIS_HASH, hashEvent, sealEvent, type ChainKey, type Checkpoint } from './chain.js';
import { parseAuditQuery, type AuditPage, type AuditQuery, type ParsedQuery } from './event-index.js';
import type { AuditEvent, AuditEventInput } from './events.js';
import { AuditTrailError, newTrailRecord, trailRecordKey } from './trail.js';

/** How the trail is named in messages. */
export const databaseTrailName = (database: string) => `in the database ${database}`;

/** Rows per INSERT statement (8 parameters a row, well below PostgreSQL's 65,535). */
const INSERT_ROWS = 1000;

const lowered = (values: unknown[]) => values.filter((v): v is string => typeof v === 'string').map((v) => v.toLowerCase());
const textOf = (value: unknown) => (typeof value === 'string' ? value : null);

/** The columns the queries filter on, as the file trail's index takes them from an event (event-index.ts). */
function eventRow(event: AuditEvent, text: string): unknown[] {
  const loose = event as unknown as Record<string, unknown>;
  const actor = (loose.actor ?? {}) as Record<string, unknown>;
  const device = (loose.device ?? {}) as Record<string, unknown>;
  const outcome = (loose.outcome ?? {}) as Record<string, unknown>;
  const time = typeof loose.time === 'string' ? Date.parse(loose.time) : NaN;
  return [
    event.seq,
    Number.isNaN(time) ? null : time,
    textOf(loose.type),
    textOf(loose.accessType),
    textOf(outcome.code),
    lowered([actor.id, actor.principalId, actor.displayName, actor.userPrincipalName]),
    lowered([device.deviceName, device.deviceId, device.objectId, device.query]),
    text,
  ];
}

/** Inserts events (each with its JSON text as hashed), in statements of INSERT_ROWS rows. */
export async function insertEvents(client: pg.ClientBase, events: readonly { event: AuditEvent; text: string }[]): Promise<void> {
  for (let from = 0; from < events.length; from += INSERT_ROWS) {
    const chunk = events.slice(from, from + INSERT_ROWS);
    const params: unknown[] = [];
    const values = chunk.map(({ event, text }) => {
      const row = eventRow(event, text);
      const first = params.length;
      params.push(...row);
      return `($${first + 1}, $${first + 2}, $${first + 3}, $${first + 4}, $${first + 5}, $${first + 6}::text[], $${first + 7}::text[], $${first + 8})`;
    });
    await client.query(`INSERT INTO audit_events (seq, time_ms, type, access_type, outcome_code, actor_ids, device_ids, event) VALUES ${values.join(', ')}`, params);
  }
}

export async function readHead(client: pg.ClientBase, forUpdate = false): Promise<TrailHead> {
  const { rows } = await client.query<{ seq: string; hash: string }>(`SELECT seq, hash FROM audit_head${forUpdate ? ' FOR UPDATE' : ''}`);
  return { seq: Number(rows[0]!.seq), hash: rows[0]!.hash };
}

/** The WHERE clause and parameters of a parsed query, each filter on a column an index covers. */
export function whereClause(query: ParsedQuery): { where: string; params: unknown[] } {
  const params: unknown[] = [query.belowSeq];
  const clauses = ['seq < $1'];
  const add = (sql: string, value: unknown) => {
    params.push(value);
    clauses.push(sql.replace('?', `$${params.length}`));
  };
  if (query.from !== -Infinity) add('time_ms >= ?', query.from);
  if (query.to !== Infinity) add('time_ms < ?', query.to);
  if (query.type !== undefined) add('type = ?', query.type);
  if (query.accessType !== undefined) add('access_type = ?', query.accessType);
  if (query.outcome === 'success') clauses.push("outcome_code = 'Success'");
  else if (query.outcome === 'failure') clauses.push("outcome_code <> 'Success'"); // NULL (no outcome) never matches, as in the file trail
  else if (query.outcome !== undefined) add('outcome_code = ?', query.outcome);
  if (query.user !== undefined) add('actor_ids @> ARRAY[?]::text[]', query.user);
  if (query.device !== undefined) add('device_ids @> ARRAY[?]::text[]', query.device);
  return { where: clauses.join(' AND '), params };
}

/** The statement of one page: newest first, one more than asked for (it tells whether there is a next page). */
export function pageQuery(parsed: ParsedQuery): { text: string; values: unknown[] } {
  const { where, params } = whereClause(parsed);
  params.push(parsed.top + 1);
  return { text: `SELECT event FROM audit_events WHERE ${where} ORDER BY seq DESC LIMIT $${params.length}`, values: params };
}

interface PendingAppend {
  content: AuditEventInput;
  resolve: (event: AuditEvent) => void;
  reject: (error: unknown) => void;
}

const SYSTEM_ACTOR = { kind: 'system', id: 'amsd', displayName: 'amsd', role: 'admin' } as const;

export class PostgresAuditTrail implements AuditTrail {
  readonly #pending: PendingAppend[] = [];
  #writing = false;
  #drained: Promise<void> = Promise.resolve();
  #closed = false;
  #commitListener: ((head: TrailHead) => void) | undefined;
  readonly #pruning = new SerialQueue();

  /** Use `openPostgresAuditTrail`. */
  constructor(
    private readonly pool: pg.Pool,
    readonly key: ChainKey,
    /** The URL without its password, for messages. */
    readonly database: string,
    private lastHead: TrailHead,
  ) {}

  /** The newest head this daemon committed or found at start (others' appends since are not known until then). */
  get head(): TrailHead {
    return this.lastHead;
  }

  onCommit(listener: (head: TrailHead) => void): void {
    this.#commitListener = listener;
  }

  append(input: AuditEventInput): Promise<AuditEvent> {
    if (this.#closed) return Promise.reject(new AuditWriteError(databaseTrailName(this.database), 'the audit trail is closed', { store: 'database' }));
    let content: AuditEventInput;
    try {
      content = plainEventContent(input);
    } catch (error) {
      // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors -- rejects with what the check threw, unchanged
      return Promise.reject(error);
    }
    return new Promise((resolve, reject) => {
      this.#pending.push({ content, resolve, reject });
      if (!this.#writing) this.#drained = this.#drain();
    });
  }

  async #drain(): Promise<void> {
    this.#writing = true;
    try {
      // As the file trail: the appends of one turn share a transaction, and what the caller starts next
      // (the secret's Graph request) goes out first.
      await afterWhatGoesOutNext();
      while (this.#pending.length > 0) await this.#commit(this.#pending.splice(0));
    } finally {
      this.#writing = false;
    }
  }

  /** One transaction for the batch: the head row locked, the events linked to it, the head moved. Never throws. */
  async #commit(batch: PendingAppend[]): Promise<void> {
    let events: AuditEvent[];
    try {
      events = await inTransaction(this.pool, (client) => this.#appendLocked(client, batch.map((append) => append.content)));
    } catch (error) {
      const failure = new AuditWriteError(databaseTrailName(this.database), (error as Error).message, { cause: error, store: 'database' });
      for (const append of batch) append.reject(failure);
      return;
    }
    const last = events.at(-1)!;
    this.#committed({ seq: last.seq, hash: last.hash });
    batch.forEach((append, i) => append.resolve(events[i]!));
  }

  /** Inside a transaction: links `contents` to the head (taken FOR UPDATE), inserts them, moves the head. */
  async #appendLocked(client: pg.ClientBase, contents: AuditEventInput[]): Promise<AuditEvent[]> {
    const head = await readHead(client, true);
    let { seq, hash } = head;
    const sealed = contents.map((content) => {
      const event = sealEvent(content, ++seq, hash, this.key);
      hash = event.hash;
      return { event, text: JSON.stringify(event) };
    });
    await insertEvents(client, sealed);
    await client.query('UPDATE audit_head SET seq = $1, hash = $2', [seq, hash]);
    return sealed.map((s) => s.event);
  }

  /** After a commit: the head moves on (never back: another daemon's query may have seen further) and the listener hears it. */
  #committed(head: TrailHead): void {
    if (head.seq > this.lastHead.seq) this.lastHead = head;
    this.#commitListener?.(this.lastHead);
  }

  async query(query: AuditQuery = {}): Promise<AuditPage> {
    if (this.#closed) throw new Error('The audit log is closed');
    try {
      return await withClient(this.pool, (client) =>
        inSnapshot(client, async () => {
          // The database's head, not this daemon's: a cursor another daemon gave out is one of this trail's too.
          const head = await readHead(client);
          const parsed = parseAuditQuery(query, head.seq);
          const { rows } = await client.query<{ event: string }>(pageQuery(parsed));
          const events = rows.slice(0, parsed.top).map((row) => JSON.parse(row.event) as AuditEvent);
          return { events, ...(rows.length > parsed.top ? { nextCursor: String(events.at(-1)!.seq) } : {}) };
        }),
      );
    } catch (error) {
      // The database is down: a 503 that says so, as for the state and the queue, not a 500.
      if (!isConnectionFailure(error)) throw error;
      throw new UnavailableError(
        'database-unreachable',
        'The database cannot be reached, so the audit trail cannot be shown. Try again in a few seconds; if it lasts, an administrator must check the database server and the network to it.',
        DATABASE_RETRY_SECONDS,
        { cause: error },
      );
    }
  }

  /**
   * Retention, in ONE transaction under the head lock: the audit.pruned event (naming the last event
   * removed and its hash) is appended, then the older events are deleted, as the file trail does, so
   * the trail still verifies. Two daemons pruning at once take turns, the second finding less to do.
   */
  prune(options: { olderThan?: Date; keepLast?: number }): Promise<{ removed: number }> {
    // One at a time from this daemon (others wait on the head row); close waits for the one in flight.
    return this.#pruning.run(() => this.#prune(options));
  }

  async #prune(options: { olderThan?: Date; keepLast?: number }): Promise<{ removed: number }> {
    if (this.#closed) throw new Error('The audit log is closed');
    let head: TrailHead | undefined;
    const removed = await withClient(this.pool, async (client) => {
      await client.query('BEGIN');
      try {
        const current = await readHead(client, true);
        const { rows } = await client.query<{ first: string | null; at: string | null }>(
          'SELECT (SELECT min(seq) FROM audit_events) AS first, (SELECT min(seq) FROM audit_events WHERE time_ms >= $1) AS at',
          [options.olderThan?.getTime() ?? 0],
        );
        const first = Number(rows[0]!.first ?? current.seq + 1);
        let keepFrom = first;
        if (options.keepLast !== undefined) keepFrom = Math.max(keepFrom, current.seq - options.keepLast + 1);
        if (options.olderThan) keepFrom = Math.max(keepFrom, rows[0]!.at === null ? current.seq + 1 : Number(rows[0]!.at));
        keepFrom = Math.min(keepFrom, current.seq); // the newest event stays (the audit.pruned one follows it)
        if (keepFrom <= first) {
          await client.query('ROLLBACK');
          return 0;
        }
        const lastRemoved = await client.query<{ event: string }>('SELECT event FROM audit_events WHERE seq = $1', [keepFrom - 1]);
        const [pruned] = await this.#appendLocked(client, [
          plainEventContent({
            type: 'audit.pruned',
            actor: SYSTEM_ACTOR,
            pruned: {
              throughSeq: keepFrom - 1,
              lastHash: (JSON.parse(lastRemoved.rows[0]!.event) as AuditEvent).hash,
              events: keepFrom - first,
              ...(options.olderThan ? { olderThan: options.olderThan.toISOString() } : {}),
              ...(options.keepLast !== undefined ? { keepLast: options.keepLast } : {}),
            },
          }),
        ]);
        await client.query("SET LOCAL amsd.audit_pruning = 'on'");
        await client.query('DELETE FROM audit_events WHERE seq < $1', [keepFrom]);
        await client.query('COMMIT');
        head = { seq: pruned!.seq, hash: pruned!.hash };
        return keepFrom - first;
      } catch (error) {
        await rollback(client);
        throw error;
      }
    });
    if (head) this.#committed(head);
    return { removed };
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#pruning.idle();
    await this.#drained;
  }
}

export interface OpenPostgresAuditTrailOptions {
  /** The daemon's connections (PostgresStore.pool): the trail does not close them. */
  pool: pg.Pool;
  /** The shared state: its `auditTrail` document names the trail and holds its checkpoint. */
  store: Store;
  masterKey: Buffer;
  /** The URL without its password. */
  database: string;
}

/**
 * Opens the shared trail: names a new one in the state if none is named yet (the first daemon on the
 * database; two at once agree, since the change runs again on the other's state), checks the record's
 * MAC, then the chain from the checkpoint to the head. Refuses (AuditTrailError) whatever does not hold.
 */
export async function openPostgresAuditTrail(options: OpenPostgresAuditTrailOptions): Promise<PostgresAuditTrail> {
  const { pool, store, masterKey, database } = options;
  const name = databaseTrailName(database);
  const verify = `\`amsd audit verify --database URL\` checks every event.`;
  if (!store.state.auditTrail) {
    const head = await withClient(pool, (client) => readHead(client));
    if (head.seq > 0) {
      throw new AuditTrailError(name, `the state names no audit trail, yet the database holds events up to seq ${head.seq}: the auditTrail document was removed`, `Restore the database from a backup. ${verify}`);
    }
    await store.mutate((draft) => {
      if (!draft.document('auditTrail')) draft.set('auditTrail', newTrailRecord(masterKey));
    });
  }
  const record = store.state.auditTrail!;
  const key = trailRecordKey(record, masterKey);
  if (!key) {
    throw new AuditTrailError(
      name,
      `the auditTrail document (trail ${record.id}) does not carry a valid MAC: it was changed by someone without the master key, or this is not the master key the database was written with`,
      `Check AMS_MASTER_KEY_FILE. ${verify}`,
    );
  }
  const head = await withClient(pool, (client) => inSnapshot(client, () => checkFromCheckpoint(client, key, record.checkpoint)));
  if ('problem' in head) throw new AuditTrailError(name, head.problem, `Keep the database as evidence (restore it from a backup if you have one). ${verify}`);
  return new PostgresAuditTrail(pool, key, database, head);
}

/**
 * Start's check, as the file trail's: the events before the checkpoint were checked when it was
 * written; the checkpoint's event must still carry its hash, and every event after it up to the head
 * row is re-hashed and must link to the one before.
 */
async function checkFromCheckpoint(client: pg.ClientBase, key: ChainKey, checkpoint: Checkpoint): Promise<TrailHead | { problem: string }> {
  const head = await readHead(client);
  const at = checkpoint.time ? ` at ${checkpoint.time}` : '';
  if (head.seq < checkpoint.seq) return { problem: `cut at its end — the head is seq ${head.seq}, but the checkpoint${at} says seq ${checkpoint.seq} was written` };
  let last: TrailHead | undefined;
  for (let from = Math.max(checkpoint.seq, 1); ; ) {
    const { rows } = await client.query<{ seq: string; event: string }>('SELECT seq, event FROM audit_events WHERE seq >= $1 ORDER BY seq LIMIT 1000', [from]);
    for (const row of rows) {
      const event = JSON.parse(row.event) as AuditEvent;
      const seq = Number(row.seq);
      const broken = (detail: string) => ({ problem: `broken at seq ${seq}: ${detail}` });
      if (event.seq !== seq) return broken(`the row holds the event of seq ${event.seq}`);
      if (hashEvent(event, key) !== event.hash) return broken('hash mismatch — the event was changed after it was written (or under another master key)');
      if (last && seq !== last.seq + 1) return broken(`expected seq ${last.seq + 1} — events before it are missing`);
      if (last && event.prevHash !== last.hash) return broken("prevHash is not the previous event's hash");
      if (!last && seq === checkpoint.seq && event.hash !== checkpoint.hash) return broken(`not the event the checkpoint${at} names — the trail was replaced`);
      last = { seq, hash: event.hash };
    }
    if (rows.length < 1000) break;
    from = last!.seq + 1;
  }
  const end = last ?? { seq: 0, hash: GENESIS_HASH };
  if (end.seq !== head.seq || end.hash !== head.hash) {
    return { problem: `the head row says seq ${head.seq}, but the last event is seq ${end.seq}${end.seq === head.seq ? ' with another hash' : ''}: events were removed or the head was changed` };
  }
  return head;
}

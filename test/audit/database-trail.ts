/**
 * The audit trail in PostgreSQL for tests: opened on a database as a daemon opens it (a PostgreSQL
 * store, then the trail named in its state), or seeded with chosen events under the tests' trail id,
 * so the same events can be asked of both trails.
 */
import { openPostgresAuditTrail, insertEvents, type PostgresAuditTrail } from '../../daemon/audit/postgres-trail.js';
import { trailRecord } from '../../daemon/audit/trail.js';
import type { AuditEvent } from '../../daemon/audit/events.js';
import { inTransaction } from '../../daemon/store/postgres/connections.js';
import { openPostgresStore, type PostgresStore } from '../../daemon/store/postgres/postgres-store.js';
import type { TestContext } from '../helpers.js';
import { testKey, testMasterKey } from './sample-events.js';

export interface OpenedDatabaseTrail {
  store: PostgresStore;
  trail: PostgresAuditTrail;
  /** Closes the trail, then the store (also done at teardown). */
  close(): Promise<void>;
}

/** A store and the trail on `url`, as a daemon opens them; closed at teardown. */
export async function openDatabaseTrail(t: TestContext, url: string, masterKey: Buffer = testMasterKey): Promise<OpenedDatabaseTrail> {
  const { store } = await openPostgresStore({ url, masterKey, pollMs: 50 });
  let trail: PostgresAuditTrail;
  try {
    trail = await openPostgresAuditTrail({ pool: store.pool, store, masterKey, database: store.database });
  } catch (error) {
    await store.close();
    throw error;
  }
  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    await trail.close();
    await store.close();
  };
  t.teardown(close);
  return { store, trail, close };
}

/**
 * Seeds an empty database with `events` (sealed under the tests' key, as `writeChain` writes them
 * to a file), named in the state as the tests' trail with its head as checkpoint; then opens it.
 */
export async function seededDatabaseTrail(t: TestContext, url: string, events: readonly AuditEvent[]): Promise<OpenedDatabaseTrail> {
  const { store } = await openPostgresStore({ url, masterKey: testMasterKey, pollMs: 50 });
  try {
    const last = events.at(-1);
    await inTransaction(store.pool, async (client) => {
      await insertEvents(client, events.map((event) => ({ event, text: JSON.stringify(event) })));
      if (last) await client.query('UPDATE audit_head SET seq = $1, hash = $2', [last.seq, last.hash]);
    });
    await store.mutate((draft) => draft.set('auditTrail', trailRecord(testMasterKey, last ?? { seq: 0, hash: '0'.repeat(64) }, testKey.trailId)));
  } finally {
    await store.close();
  }
  return openDatabaseTrail(t, url);
}

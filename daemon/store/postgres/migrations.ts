/**
 * The database's schema, as ordered steps: step N takes a database from schema version N-1 to N, and
 * `schema_version` records each step applied. `migrate` applies the missing steps in ONE transaction
 * under a transaction-level advisory lock, so two daemons starting at once never both apply a step
 * (the second waits, then finds nothing to do); a failed step leaves the database as it was. A
 * database whose schema is newer than this build knows is refused, naming both versions.
 */
import type pg from 'pg';
import { ROW_COLLECTIONS, DOCUMENT_NAMES, type RowCollection } from '../store.js';

/** The table of each row collection. */
export const ROW_TABLES = { apiKeys: 'api_keys', tenants: 'tenants', rules: 'rules', channels: 'channels' } as const satisfies Record<RowCollection, string>;

/** pg_advisory_xact_lock's key for schema changes (any fixed number no other part of amsd uses). */
export const MIGRATION_LOCK_KEY = 4_262_019_015;

export interface Migration {
  version: number;
  description: string;
  sql: string;
}

const rowTable = (table: string) => `
  CREATE TABLE ${table} (
    key text PRIMARY KEY,
    value jsonb NOT NULL,
    -- the store's revision of the change that last wrote the row
    version bigint NOT NULL,
    -- rows are read in the order they were first added, as the embedded store keeps them
    position bigint GENERATED ALWAYS AS IDENTITY
  );`;

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    description: 'the state: a table per row collection, the documents, the revision, collection versions, the change log and the master key check',
    sql: `
      ${Object.values(ROW_TABLES).map(rowTable).join('\n')}
      CREATE TABLE documents (name text PRIMARY KEY, value jsonb, version bigint NOT NULL);
      INSERT INTO documents (name, value, version) VALUES ('settings', '{}', 0), ('auditTrail', NULL, 0);
      -- one row: how many changes the state holds; every change takes it FOR UPDATE
      CREATE TABLE revision (only_row boolean PRIMARY KEY DEFAULT true CHECK (only_row), revision bigint NOT NULL);
      INSERT INTO revision (revision) VALUES (0);
      CREATE TABLE collection_versions (collection text PRIMARY KEY, version bigint NOT NULL);
      INSERT INTO collection_versions (collection, version) VALUES ${[...ROW_COLLECTIONS, ...DOCUMENT_NAMES].map((c) => `('${c}', 0)`).join(', ')};
      -- what each change wrote ({collection: [keys]}), so another daemon fetches only that; the oldest are pruned
      CREATE TABLE changes (revision bigint PRIMARY KEY, collections jsonb NOT NULL, made_at timestamptz NOT NULL DEFAULT now());
      -- a value sealed under the master key at the first start: a daemon with another key refuses to start
      CREATE TABLE master_key_check (only_row boolean PRIMARY KEY DEFAULT true CHECK (only_row), sealed text NOT NULL, created_at timestamptz NOT NULL DEFAULT now());
    `,
  },
  {
    version: 2,
    description: 'the audit trail: one keyed hash chain shared by every daemon, append-only, its head row and the indexes of its queries',
    sql: `
      -- one row per event; event is its JSON text byte for byte as written (not jsonb, which would
      -- reorder its keys and refuse the NUL character in a string); the other columns are what queries filter on
      CREATE TABLE audit_events (
        seq bigint PRIMARY KEY,
        -- Date.parse of the event's time (NULL when it does not parse: no time filter matches it)
        time_ms bigint,
        type text,
        access_type text,
        outcome_code text,
        -- the actor's id, principal id, display name and UPN, lowercased (the user filter)
        actor_ids text[] NOT NULL,
        -- the device's name, deviceId, object id and what was typed for one not found, lowercased
        device_ids text[] NOT NULL,
        event text NOT NULL
      );
      -- every query pages newest first by seq (the primary key); each filter has an index of its own
      CREATE INDEX audit_events_time ON audit_events (time_ms, seq);
      CREATE INDEX audit_events_type ON audit_events (type, seq);
      CREATE INDEX audit_events_access_type ON audit_events (access_type, seq);
      CREATE INDEX audit_events_outcome ON audit_events (outcome_code, seq);
      CREATE INDEX audit_events_actor ON audit_events USING gin (actor_ids);
      CREATE INDEX audit_events_device ON audit_events USING gin (device_ids);
      -- one row: the last event (seq 0 and 64 zeros when there is none). An append takes it FOR UPDATE,
      -- which serialises the chain: two daemons appending at once link one after the other, never fork
      CREATE TABLE audit_head (only_row boolean PRIMARY KEY DEFAULT true CHECK (only_row), seq bigint NOT NULL, hash text NOT NULL);
      INSERT INTO audit_head (seq, hash) VALUES (0, '${'0'.repeat(64)}');
      -- append-only: an event is never changed, and removed only by retention, which says so for its
      -- transaction (SET LOCAL amsd.audit_pruning = 'on') after appending the chained audit.pruned event.
      -- A guard against mistakes, not against an owner of the database: that is the keyed chain's job.
      CREATE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF TG_OP = 'DELETE' AND current_setting('amsd.audit_pruning', true) = 'on' THEN RETURN OLD; END IF;
        RAISE EXCEPTION 'audit_events is append-only: % refused (only audit retention removes events)', TG_OP;
      END $$;
      CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events FOR EACH ROW EXECUTE FUNCTION audit_events_append_only();
      CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events FOR EACH STATEMENT EXECUTE FUNCTION audit_events_append_only();
    `,
  },
  {
    version: 3,
    description: 'the notification queue (deliveries claimed with a lease, failed deliveries) and the shared rate-limit counters',
    sql: `
      -- a delivery still to be made; a daemon claims it (claimed_by, claimed_until) before making it, and
      -- one whose claim expired (the daemon died) is claimed again by any daemon
      CREATE TABLE notification_deliveries (
        id text PRIMARY KEY,
        channel_id text NOT NULL,
        event jsonb NOT NULL,
        extra jsonb,
        attempts integer NOT NULL DEFAULT 0,
        created_at timestamptz NOT NULL,
        next_attempt_at timestamptz NOT NULL,
        last_attempt_at timestamptz,
        last_error text,
        claimed_by text,
        claimed_until timestamptz
      );
      CREATE INDEX notification_deliveries_due ON notification_deliveries (next_attempt_at);
      -- deliveries that finally failed; reported (on the audit trail) once, under a claim of its own
      CREATE TABLE notification_failures (
        id text PRIMARY KEY,
        channel_id text NOT NULL,
        channel_name text,
        event jsonb NOT NULL,
        extra jsonb,
        attempts integer NOT NULL,
        created_at timestamptz NOT NULL,
        failed_at timestamptz NOT NULL,
        last_error text NOT NULL,
        reported_at timestamptz,
        report_claimed_until timestamptz
      );
      CREATE INDEX notification_failures_failed_at ON notification_failures (failed_at);
      -- reads counted per key (scope user or ip) and fixed window; windows over a day old are pruned
      CREATE TABLE rate_counts (
        scope text NOT NULL,
        key text NOT NULL,
        window_name text NOT NULL,
        window_start timestamptz NOT NULL,
        count integer NOT NULL,
        PRIMARY KEY (scope, key, window_name, window_start)
      );
      CREATE INDEX rate_counts_window_start ON rate_counts (window_start);
    `,
  },
  {
    version: 4,
    description: 'the password rotation jobs: at most one pending per device, claimed with a lease',
    sql: `
      -- job is the whole job as amsd reads it back; the other columns are copies of what queries
      -- filter and sort on, written with it
      CREATE TABLE rotation_jobs (
        id text PRIMARY KEY,
        tenant_id text NOT NULL,
        -- lower-case, as is device_name_lower (so that a filter on the name ignores case)
        device_id text NOT NULL,
        device_name_lower text NOT NULL,
        status text NOT NULL CHECK (status IN ('pending', 'done', 'failed')),
        due_at timestamptz NOT NULL,
        created_at timestamptz NOT NULL,
        -- when a finished job finished (completedAt, else its last due time); NULL while pending
        finished_at timestamptz,
        reported_at timestamptz,
        -- a claim: no other claim takes the job before this time
        lease_until timestamptz,
        job jsonb NOT NULL,
        CHECK ((status = 'pending') = (finished_at IS NULL))
      );
      -- two daemons scheduling the same device at once make one job: the second moves its due time
      CREATE UNIQUE INDEX rotation_jobs_one_pending ON rotation_jobs (tenant_id, device_id) WHERE status = 'pending';
      CREATE INDEX rotation_jobs_due ON rotation_jobs (due_at) WHERE status = 'pending';
      CREATE INDEX rotation_jobs_created ON rotation_jobs (created_at DESC);
      CREATE INDEX rotation_jobs_device_name ON rotation_jobs (device_name_lower, created_at DESC);
      CREATE INDEX rotation_jobs_device_id ON rotation_jobs (device_id, created_at DESC);
      CREATE INDEX rotation_jobs_status ON rotation_jobs (status, created_at DESC);
      CREATE INDEX rotation_jobs_finished ON rotation_jobs (finished_at DESC) WHERE status <> 'pending';
      CREATE INDEX rotation_jobs_unreported ON rotation_jobs (finished_at) WHERE status = 'failed' AND reported_at IS NULL;
    `,
  },
];

export const LATEST_SCHEMA_VERSION = MIGRATIONS.at(-1)!.version;

/** The database holds a schema this amsd does not know: written by a newer amsd. */
export class SchemaTooNewError extends Error {
  constructor(readonly database: string, readonly found: number) {
    super(
      `The database ${database} has schema version ${found}, newer than this amsd knows (versions 1 to ${LATEST_SCHEMA_VERSION}): ` +
        'it was migrated by a newer amsd. Run that version (or a later one), or restore the database from a backup taken before that migration.',
    );
    this.name = 'SchemaTooNewError';
  }
}

export interface MigrationResult {
  /** The version before, 0 for an empty database. */
  from: number;
  to: number;
  applied: readonly Migration[];
}

const CREATE_SCHEMA_VERSION = `
  CREATE TABLE IF NOT EXISTS schema_version (
    version integer PRIMARY KEY,
    description text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
  )`;

/**
 * Applies the missing steps, in one transaction on `client` (which must not be in one), under the
 * advisory lock. `database` names the database in messages (its URL without the password).
 */
export async function migrate(client: pg.ClientBase, database: string, migrations: readonly Migration[] = MIGRATIONS): Promise<MigrationResult> {
  await client.query('BEGIN');
  try {
    await client.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK_KEY]);
    await client.query(CREATE_SCHEMA_VERSION);
    const from = await currentVersion(client);
    const latest = migrations.at(-1)?.version ?? 0;
    if (from > latest) throw new SchemaTooNewError(database, from);
    const applied = migrations.filter((m) => m.version > from);
    for (const step of applied) {
      await client.query(step.sql);
      await client.query('INSERT INTO schema_version (version, description) VALUES ($1, $2)', [step.version, step.description]);
    }
    await client.query('COMMIT');
    return { from, to: Math.max(from, latest), applied };
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  }
}

/** The schema version a database holds (0: none yet). */
export async function currentVersion(client: pg.ClientBase): Promise<number> {
  const table = await client.query<{ exists: boolean }>("SELECT to_regclass('schema_version') IS NOT NULL AS exists");
  if (!table.rows[0]?.exists) return 0;
  const result = await client.query<{ version: number | null }>('SELECT max(version) AS version FROM schema_version');
  return result.rows[0]?.version ?? 0;
}

/** What `amsd db migrate` prints. */
export function describeMigration(database: string, result: MigrationResult): string {
  if (result.applied.length === 0) return `The database ${database} is at schema version ${result.to}, the latest this amsd knows: nothing to do.\n`;
  const steps = result.applied.map((m) => `  ${m.version}: ${m.description}\n`).join('');
  return `Migrated the database ${database} from schema version ${result.from} to ${result.to}:\n${steps}`;
}

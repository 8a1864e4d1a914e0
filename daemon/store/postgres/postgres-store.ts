/**
 * The state in PostgreSQL, shared by every daemon on one database (store.ts's row-based backend): a
 * table per row collection (key, JSONB value, the revision that wrote it), the documents, one
 * revision row, each collection's version and a log of what each change wrote (migrations.ts).
 *
 * Reads are synchronous, from a replica in memory (replica.ts). A change runs on a draft of the
 * replica; then, in ONE transaction, the revision row is taken FOR UPDATE, and if another daemon
 * moved it first, what it changed is read and applied (and announced) and the change runs again on
 * the fresh state, so a change made through one daemon and one made through another both land. Its
 * rows, the versions, the log entry and the revision are written, a NOTIFY goes out with the commit,
 * and only then is the replica changed and the subscribers told. Other daemons catch up on the
 * notification, on a poll of the revision (the truth), and read everything afresh after their
 * listening connection comes back (change-watcher.ts). Values are checked exactly as the embedded
 * store checks them (StateCheckError), and for what jsonb cannot hold; secrets are sealed already
 * in the records, as in the embedded store.
 */
import pg from 'pg';
import { SerialQueue } from '../../common/serial.js';
import { StateCheckError } from '../record-checks.js';
import { createSealer } from '../sealing.js';
import type { CollectionName, CommittedChange, DeepReadonly, Draft, Operation, RowCollection, Rows, StateView, Store } from '../store.js';
import type { StoreDraft } from '../draft.js';
import { ChangeWatcher } from './change-watcher.js';
import { redactDatabaseUrl } from './database-url.js';
import { checkMasterKey } from './master-key-check.js';
import { migrate, type MigrationResult } from './migrations.js';
import { Replica } from './replica.js';
import { jsonbProblem, readChangesSince, readRevision, readState, writeChange } from './state-tables.js';
import { inSnapshot, redactedError, rollback, withClient } from './connections.js';
import { DatabaseReachability } from './reachability.js';

export interface OpenPostgresStoreOptions {
  /** A postgres:// URL (checked with checkDatabaseUrl); never shown with its password. */
  url: string;
  /** The master key: the database's check value must open under it (master-key-check.ts). */
  masterKey: Buffer;
  /** Named in the refusal when the key does not match. */
  masterKeyFile?: string;
  /** How often the revision is asked even without a notification (default 1000 ms). */
  pollMs?: number;
  /** Waits before reconnecting the listening connection (default 100 ms, doubling to 5 s). */
  reconnectMs?: { first: number; max: number };
  /** The connections' application_name, as pg_stat_activity shows them (default amsd; the listening one adds " listen"). */
  applicationName?: string;
  /** Connections for changes and catching up (default 4). */
  poolSize?: number;
  /** A subscriber threw, catching up failed, or the listening connection dropped: the store goes on. */
  onError?: (error: unknown) => void;
}

export interface OpenedPostgresStore {
  store: PostgresStore;
  /** What opening applied to the schema. */
  migration: MigrationResult;
  /** True when this start stored the master key's check value (the database's first start). */
  firstStart: boolean;
}

/** Connects, migrates the schema, checks the master key, starts listening, then reads the state. */
export async function openPostgresStore(options: OpenPostgresStoreOptions): Promise<OpenedPostgresStore> {
  const database = redactDatabaseUrl(options.url);
  const applicationName = options.applicationName ?? 'amsd';
  const pool = new pg.Pool({ connectionString: options.url, application_name: applicationName, max: options.poolSize ?? 4, connectionTimeoutMillis: 10_000, idleTimeoutMillis: 30_000 });
  // An idle connection that drops is replaced by the next checkout: said, never a crash.
  pool.on('error', (error) => options.onError?.(redactedError(error, options.url)));
  let watcher: ChangeWatcher | undefined;
  try {
    const { migration, firstStart } = await withClient(pool, async (client) => {
      const migration = await migrate(client, database);
      const { stored } = await checkMasterKey(client, createSealer(options.masterKey), database, options.masterKeyFile);
      return { migration, firstStart: stored };
    });
    let store: PostgresStore | undefined;
    // Listening before the state is read: a change committed after the read is always heard of.
    watcher = await ChangeWatcher.start({
      url: options.url,
      applicationName: `${applicationName} listen`,
      pollMs: options.pollMs ?? 1000,
      ...(options.reconnectMs ? { reconnectMs: options.reconnectMs } : {}),
      onHint: (revision) => store?.catchUp(revision),
      onPoll: () => store?.catchUp(),
      onReconnected: () => store?.reload(),
      onError: (error) => {
        options.onError?.(redactedError(error, options.url));
        // The listening connection dropped (or could not be made again): does the database still answer?
        void store?.ping();
      },
    });
    const loaded = await withClient(pool, (client) => inSnapshot(client, () => readState(client, database)));
    store = new PostgresStore(pool, watcher, new Replica(loaded, (error) => options.onError?.(error)), database, options, new DatabaseReachability(database));
    return { store, migration, firstStart };
  } catch (error) {
    await watcher?.close();
    await pool.end().catch(() => undefined);
    throw redactedError(error, options.url);
  }
}

export class PostgresStore implements Store {
  readonly #queue = new SerialQueue();
  #closed = false;
  /** A catch-up is queued already: hints and polls meanwhile need not queue another. */
  #catchUpQueued = false;
  /** Catching up failed last time: said once, not every poll, until it works again. */
  #failing = false;

  constructor(
    /** The daemon's connections to the database, for what else it keeps there (connections.ts runs work on them). */
    readonly pool: pg.Pool,
    private readonly watcher: ChangeWatcher,
    private readonly replica: Replica,
    /** The URL without its password, for messages. */
    readonly database: string,
    private readonly options: OpenPostgresStoreOptions,
    /** Whether the database can be reached (reachability.ts): every query of the store tells it. */
    readonly reachability: DatabaseReachability,
  ) {}

  get state(): StateView {
    return this.replica.view;
  }

  get revision(): number {
    return this.replica.revision;
  }

  /** Whether the connection that hears other daemons' changes is up. */
  get listening(): boolean {
    return this.watcher.listening;
  }

  version(collection: CollectionName): number {
    return this.replica.versions[collection];
  }

  get<C extends RowCollection>(collection: C, key: string): DeepReadonly<Rows[C]> | undefined {
    return this.replica.rows[collection].get(key);
  }

  subscribe(listener: (change: CommittedChange) => void): () => void {
    return this.replica.subscribe(listener);
  }

  mutate<T>(change: (draft: Draft) => T, beforeCommit?: (result: T) => Promise<void>): Promise<T> {
    if (this.#closed) return Promise.reject(new Error('The store is closed'));
    return this.#queue.run(async () => {
      // First on the replica as it is: a change that throws or writes a bad value costs no round trip.
      let result!: T;
      let planned = checkedOperations(this.replica.draft(), change, (r) => (result = r));
      if (planned.ops.length === 0) {
        if (beforeCommit) await beforeCommit(result);
        return result;
      }
      return this.#tracked(() => withClient(this.pool, async (client) => {
        await client.query('BEGIN');
        try {
          const head = await readRevision(client, true);
          if (head !== this.replica.revision) {
            // Another daemon changed the state first: apply that, then make the change on it.
            await this.#applyChangesUpTo(client, head);
            planned = checkedOperations(this.replica.draft(), change, (r) => (result = r));
          }
          if (beforeCommit) await beforeCommit(result);
          if (planned.ops.length === 0) {
            await client.query('ROLLBACK');
            return result;
          }
          const revision = head + 1;
          await writeChange(client, revision, planned.ops, planned.valueTexts);
          await client.query('COMMIT');
          this.replica.apply(revision, localUpdates(planned.ops), new Map(planned.ops.map((op) => [op.collection, revision])));
          return result;
        } catch (error) {
          await rollback(client);
          throw redactedError(error, this.options.url);
        }
      }));
    });
  }

  /**
   * Runs a change's round trips, noting how they went; one that failed for want of a connection is
   * refused as unavailable (503, fail closed), not as an unexpected failure.
   */
  async #tracked<T>(work: () => Promise<T>): Promise<T> {
    try {
      return await this.reachability.track(work);
    } catch (error) {
      const redacted = redactedError(error, this.options.url);
      throw this.reachability.noteFailure(redacted) ? this.reachability.changeRefusal(redacted) : redacted;
    }
  }

  /**
   * Catches up with the database if it is ahead (of `revision`, when a notification names one):
   * queued behind the changes in progress, at most one waiting at a time.
   */
  catchUp(revision?: number): void {
    if (this.#closed || this.#catchUpQueued || (revision !== undefined && revision <= this.replica.revision)) return;
    this.#catchUpQueued = true;
    this.#queue
      .run(async () => {
        this.#catchUpQueued = false;
        await this.reachability.track(() => withClient(this.pool, async (client) => {
          const head = await readRevision(client);
          if (head === this.replica.revision) return;
          await inSnapshot(client, async () => this.#applyChangesUpTo(client, await readRevision(client)));
        }));
      })
      .then(
        () => (this.#failing = false),
        (error: unknown) => this.#reportCatchUpFailure(error),
      );
  }

  /** Reads the whole state afresh (after the listening connection came back) and announces what moved. */
  reload(): void {
    if (this.#closed) return;
    this.#queue
      .run(() => this.reachability.track(() => withClient(this.pool, (client) => inSnapshot(client, async () => this.replica.replace(await readState(client, this.database))))))
      .then(
        () => (this.#failing = false),
        (error: unknown) => this.#reportCatchUpFailure(error),
      );
  }

  /** Whether the database answers a query within `timeoutMs` (the health answer), noted in `reachability`. Never throws. */
  async ping(timeoutMs = 2000): Promise<boolean> {
    if (this.#closed) return false;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), timeoutMs)));
    const query = withClient(this.pool, async (client) => (await client.query('SELECT 1')).rowCount === 1).catch(() => false);
    try {
      const answered = await Promise.race([query, timeout]);
      if (answered) this.reachability.noteSuccess();
      else this.reachability.noteFailure(new Error('Connection terminated: no answer to a ping within ' + timeoutMs + ' ms'));
      return answered;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Waits for the changes and catch-ups queued so far (tests, close). */
  idle(): Promise<void> {
    return this.#queue.idle();
  }

  #reportCatchUpFailure(error: unknown): void {
    if (this.#failing) return;
    this.#failing = true;
    this.options.onError?.(redactedError(error, this.options.url));
  }

  /** Applies what changed up to `head`: from the change log, or the whole state when the log no longer reaches back. */
  async #applyChangesUpTo(client: pg.ClientBase, head: number): Promise<void> {
    const changes = await readChangesSince(client, this.database, this.replica.revision, head);
    if (changes) this.replica.apply(changes.revision, changes.updates, changes.versions);
    else this.replica.replace(await readState(client, this.database));
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.watcher.close();
    await this.#queue.idle();
    await this.pool.end();
  }
}

/**
 * Runs the change on a fresh draft and checks its operations as the embedded store does, and for
 * what jsonb cannot hold; `keep` receives the change's result.
 */
function checkedOperations<T>(draft: StoreDraft, change: (draft: Draft) => T, keep: (result: T) => void): { ops: Operation[]; valueTexts: (string | undefined)[] } {
  keep(change(draft));
  const { ops, valueTexts } = draft.operations();
  for (const op of ops) {
    if (op.op === 'delete') continue;
    const problem = jsonbProblem(op.value, op.op === 'put' ? `/${op.collection}/${op.key}` : `/${op.collection}`);
    if (problem) throw new StateCheckError(problem);
  }
  return { ops, valueTexts };
}

function localUpdates(ops: readonly Operation[]) {
  return ops.map((op) => (op.op === 'set' ? { collection: op.collection, value: op.value } : { collection: op.collection, key: op.key, value: op.op === 'put' ? op.value : undefined }));
}

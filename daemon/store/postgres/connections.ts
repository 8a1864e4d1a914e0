/**
 * Work on pooled PostgreSQL connections, for the store and whatever else a daemon keeps in the
 * database: a connection that fails while in use is closed rather than reused, transactions roll back
 * on any failure, and no error carries the URL's password.
 */
import type pg from 'pg';
import { redactPassword } from './database-url.js';

/**
 * Runs `work` on a pooled connection. A connection that failed while in use (the server went away,
 * or a ROLLBACK could not be sent) is closed rather than given back to the pool.
 */
export async function withClient<T>(pool: pg.Pool, work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  let failure: Error | undefined;
  // The pool listens for errors only on idle connections: one in use that drops must not crash the process.
  const onError = (error: Error) => (failure = error);
  client.on('error', onError);
  try {
    return await work(client);
  } finally {
    client.off('error', onError);
    client.release(failure ?? (broken.has(client) ? new Error('a ROLLBACK failed') : undefined));
  }
}

/** Connections whose ROLLBACK failed: in an unknown state. */
const broken = new WeakSet<pg.ClientBase>();

export async function rollback(client: pg.ClientBase): Promise<void> {
  await client.query('ROLLBACK').catch(() => broken.add(client));
}

/** Runs `work` in a read-only transaction that sees one snapshot of the database. */
export async function inSnapshot<T>(client: pg.ClientBase, work: () => Promise<T>): Promise<T> {
  await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
  try {
    const result = await work();
    await client.query('COMMIT');
    return result;
  } catch (error) {
    await rollback(client);
    throw error;
  }
}

/** The same error with the URL's password taken out of its message and its stack (which repeats the message). */
export function redactedError(error: unknown, url: string): unknown {
  if (error instanceof Error) {
    error.message = redactPassword(error.message, url);
    if (error.stack) error.stack = redactPassword(error.stack, url);
  }
  return error;
}

/** Runs `work` in a transaction on a pooled connection: committed when it resolves, rolled back when it throws. */
export async function inTransaction<T>(pool: pg.Pool, work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  return withClient(pool, async (client) => {
    await client.query('BEGIN');
    try {
      const result = await work(client);
      await client.query('COMMIT');
      return result;
    } catch (error) {
      await rollback(client);
      throw error;
    }
  });
}

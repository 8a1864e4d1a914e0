/**
 * `amsd db migrate`: brings a database's schema to the version this amsd knows, and says what it
 * applied (or that there was nothing to do). Safe while daemons run on the database: the steps are
 * applied in one transaction under an advisory lock, as each daemon's start applies them.
 */
import pg from 'pg';
import { checkDatabaseUrl, redactDatabaseUrl, redactPassword } from './database-url.js';
import { describeMigration, migrate } from './migrations.js';

/** Exit code 0 when the schema is current, 1 when it could not be made so (the message says why). */
export async function runDbMigrate(url: string, out: NodeJS.WritableStream, err: NodeJS.WritableStream): Promise<number> {
  let database = '(a database URL that cannot be parsed)';
  try {
    checkDatabaseUrl(url);
    database = redactDatabaseUrl(url);
    const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 10_000 });
    client.on('error', () => undefined); // a connection lost mid-way fails the query below, which says so
    await client.connect();
    try {
      out.write(describeMigration(database, await migrate(client, database)));
    } finally {
      await client.end().catch(() => undefined);
    }
    return 0;
  } catch (error) {
    err.write(`amsd: the database ${database} could not be migrated: ${redactPassword((error as Error).message, url)}\n`);
    return 1;
  }
}

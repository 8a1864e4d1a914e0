/**
 * Every daemon on one database must seal and open secrets with the same master key: a secret sealed
 * by one would not open on another. The first daemon to start on a database stores a value sealed
 * under its key; every later start opens it, and a daemon with another key refuses to start.
 */
import type pg from 'pg';
import type { Sealer } from '../sealing.js';

const CHECK_CONTEXT = 'amsd:database:master-key-check';
const CHECK_TEXT = 'amsd master key check';

export class MasterKeyMismatchError extends Error {
  constructor(database: string, keyFile: string | undefined) {
    super(
      `The master key${keyFile ? ` (${keyFile})` : ''} is not the one the database ${database} was first used with: ` +
        'the secrets it holds are sealed under another key. Every daemon on one database needs the same master key: ' +
        'give this one the others\' key file (AMS_MASTER_KEY_FILE).',
    );
    this.name = 'MasterKeyMismatchError';
  }
}

/** Stores the check value if there is none yet, then checks it opens under this key. */
export async function checkMasterKey(client: pg.ClientBase, sealer: Sealer, database: string, keyFile?: string): Promise<{ stored: boolean }> {
  const inserted = await client.query('INSERT INTO master_key_check (sealed) VALUES ($1) ON CONFLICT (only_row) DO NOTHING', [sealer.seal(CHECK_TEXT, CHECK_CONTEXT)]);
  const { rows } = await client.query<{ sealed: string }>('SELECT sealed FROM master_key_check');
  let opened: string | undefined;
  try {
    opened = sealer.unseal(rows[0]!.sealed, CHECK_CONTEXT);
  } catch {
    opened = undefined;
  }
  if (opened !== CHECK_TEXT) throw new MasterKeyMismatchError(database, keyFile);
  return { stored: inserted.rowCount === 1 };
}

/**
 * Crash safety on PostgreSQL (issue 15): the scenario of crash-scenario.ts, kill -9 of
 * `amsd serve --database` under concurrent writes, on a DURABLE throwaway cluster (fsync and
 * synchronous commits on): every acknowledged key and revocation is in the api_keys table as the kill
 * left it and after the restart, and every acknowledged event in the shared trail (the table
 * audit_events), which `amsd audit verify --database` finds intact. Fails in CI if PostgreSQL cannot
 * start; skipped, loudly, elsewhere.
 */
import t from 'tap';
import { runAuditVerifyDatabase } from '../../daemon/audit/postgres-verify.js';
import { needsPostgres, postgresClusterFor } from '../store/postgres/cluster.js';
import { crashScenario, embeddedTarget, type CrashTarget, type TrailEvent } from './crash-scenario.js';

const postgres = postgresClusterFor(t, { durable: true });
const skip = needsPostgres(t);

let databaseUrl: string | undefined;
const target: CrashTarget = {
  ...embeddedTarget,
  name: 'crash safety (PostgreSQL)',
  get serveArgs() {
    return ['--database', databaseUrl!];
  },
  async storedApiKeys() {
    const cluster = await postgres.cluster();
    const rows = await cluster.query<{ key: string; value: { name: string; revokedAt?: string } }>(databaseUrl!, 'SELECT key, value FROM api_keys');
    return new Map(rows.rows.map((row) => [row.key, row.value]));
  },
  async trailEvents() {
    const cluster = await postgres.cluster();
    const rows = await cluster.query<{ event: string }>(databaseUrl!, 'SELECT event FROM audit_events ORDER BY seq');
    return rows.rows.map((row) => JSON.parse(row.event) as TrailEvent);
  },
  verify: (dataDir, out) => runAuditVerifyDatabase(databaseUrl!, out, { dataDir }),
  verifyArgs: (dataDir) => ['audit', 'verify', '--data-dir', dataDir, '--database', databaseUrl!],
};

t.before(async () => {
  if (!skip.skip) databaseUrl = await postgres.database();
});
crashScenario(t, target, skip);

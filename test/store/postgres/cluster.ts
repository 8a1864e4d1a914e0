/**
 * A throwaway PostgreSQL for the tests that need a real one: ONE cluster per test file
 * (scripts/postgres-cluster.ts, the same the bench starts), started by the first test that asks for a
 * database and stopped and removed when the file's tests end. Each test gets a database of its own.
 *
 * Without the binaries (scripts/install-postgresql.sh installs Debian's postgresql package), a test
 * that needs them fails in CI (`$CI` set) and is skipped, loudly, elsewhere: `needsPostgres`.
 *
 * `durable: false` (the default) runs the cluster with fsync, synchronous commits and full page writes
 * off: cheaper, and nothing a test checks depends on them. A test that kills the server or the machine's
 * idea of it (crash tests) asks for `durable: true`, which keeps PostgreSQL's defaults.
 */
import type { Test } from 'tap';
import { postgresMissing, startPostgresCluster, type ClusterOptions, type PostgresCluster } from '../../../scripts/postgres-cluster.js';

export { postgresBin, postgresMissing, type ClusterOptions, type PostgresCluster } from '../../../scripts/postgres-cluster.js';

/**
 * Options for a test that needs PostgreSQL: `t.test(name, needsPostgres(t), ...)`. Without PostgreSQL,
 * the file fails in CI, and elsewhere says loudly that its tests are skipped.
 */
export function needsPostgres(root: Test): { skip: string | false } {
  if (postgresMissing && !warned) {
    warned = true;
    if (process.env.CI) root.fail(postgresMissing);
    else console.error(`\n*** ${postgresMissing}. The PostgreSQL tests are SKIPPED. ***\n`);
  }
  return { skip: postgresMissing ?? false };
}
let warned = false;

/**
 * The file's cluster, started when the first database is asked for and stopped in the root test's
 * teardown. Call it once per file, at the top, with the file's root `t`.
 */
export function postgresClusterFor(root: Test, options: ClusterOptions = {}): { database(): Promise<string>; cluster(): Promise<PostgresCluster> } {
  let started: Promise<PostgresCluster> | undefined;
  const cluster = () =>
    (started ??= startPostgresCluster(options).then((c) => {
      root.teardown(() => c.stop());
      return c;
    }));
  return { cluster, database: async () => (await cluster()).createDatabase() };
}

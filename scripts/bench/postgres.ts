/**
 * The PostgreSQL figures (issue 15), on a throwaway DURABLE cluster (scripts/postgres-cluster.ts: fsync
 * and synchronous commits on) started for the run, with `amsd serve --database` daemons sharing one
 * master key file:
 * - `pgRuleWriteMs10k` / `pgRuleWriteMs100k`: p50 of one rule write through the API (a create, then an
 *   update of the rule just created, as store-writes.ts writes them) on a database of 10,000 and of
 *   100,000 rules, in interleaved rounds; beside them the embedded store's figure at 10,000 when the
 *   writes group ran in the same run.
 * - `twoDaemonReadsRatio`: reads/s of two daemons on one database (the load generator's 16 callers
 *   take turns between them) over reads/s of one of them alone, same database, same callers, no added
 *   Graph latency, in alternating blocks.
 * - `pgPropagationMs`: how long a rule made through one daemon takes to be in force on the other (from
 *   the 201 to the first listing of it on the other, asked every 2 ms), the slowest of the rounds: the
 *   README's "within a second", which no test times.
 *
 * Seeding is fast where that changes nothing measured: 1,000 rules are made through the daemon's own
 * entry points (seed.ts: the tenant, settings, a user key, the read rule, filler rules by CSV import),
 * then copies of the filler rules with new ids are inserted by one SQL statement, up to 10,000; the
 * 100,000-rule database is a copy of that one (CREATE DATABASE ... TEMPLATE) with 90,000 more. Each
 * insert moves the revision on without a change log entry (a daemon behind would read the whole state
 * afresh); the daemons start after it and load the rules as they would any. Without PostgreSQL the
 * group says why and measures nothing.
 */
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { postgresMissing, startPostgresCluster, type PostgresCluster } from '../postgres-cluster.js';
import { labOn, type Lab, type Stage } from './lab.js';
import { processCpuMs, startServe, tempDir } from './processes.js';
import type { GroupResult, Measured } from './report.js';
import { seedReadingDataDir } from './seed.js';
import { closedLoop, interleave, median, percentile } from './stats.js';
import { ruleWriter } from './store-writes.js';

export { postgresMissing };

/** Rules made through the API (an import, as an administrator would); the rest are copies of them. */
const SEEDED_RULES = 1_000;
const RULES_SMALL = 10_000;
const RULES_LARGE = 100_000;

export async function runPostgres(stage: Stage, quick: boolean, embedded10k?: Measured, say: (message: string) => void = () => {}): Promise<GroupResult> {
  const t0 = performance.now();
  const progress = (message: string) => say(`${message} (at ${((performance.now() - t0) / 1000).toFixed(1)} s)`);
  const cluster = await startPostgresCluster({ durable: true, sharedBuffers: '128MB' });
  const labs: Lab[] = [];
  try {
    const masterKeyFile = join(tempDir('pg-key'), 'master.key');
    writeFileSync(masterKeyFile, randomBytes(32).toString('base64') + '\n', { mode: 0o600 });
    progress(`seeding a PostgreSQL database with ${SEEDED_RULES.toLocaleString('en')} rules through the API, copied to ${RULES_SMALL.toLocaleString('en')}...`);
    const small = await cluster.createDatabase();
    const { userKey, adminKey } = await seedReadingDataDir(join(tempDir('pg-seed'), 'data'), {
      tenant: stage.tenant,
      caFile: stage.caFile,
      userId: stage.userId,
      readDeviceId: stage.device.deviceId,
      fillerRules: SEEDED_RULES - 1,
      database: { url: small, masterKeyFile },
    });
    await addRuleCopies(cluster, small, RULES_SMALL - SEEDED_RULES);
    const serve = async (url: string) => {
      const process = await startServe(join(tempDir('pg-lab'), 'data'), { caFile: stage.caFile, database: { url, masterKeyFile, adminKey } });
      const lab = labOn(stage, process, userKey);
      labs.push(lab);
      return lab;
    };
    progress(`starting two daemons on it, and copying it into a database of ${RULES_LARGE.toLocaleString('en')} rules...`);
    const large = `${small}_large`;
    // A template must have no connections: copied before the daemons connect to it.
    await cluster.query(small.replace(/\/[^/]+$/, '/postgres'), `CREATE DATABASE ${new URL(large).pathname.slice(1)} TEMPLATE ${new URL(small).pathname.slice(1)}`);
    const [[a, b]] = await Promise.all([Promise.all([serve(small), serve(small)]), addRuleCopies(cluster, large, RULES_LARGE - RULES_SMALL)]);
    progress('starting a daemon on the large one...');
    const big = await serve(large);
    const counts = await Promise.all([small, large].map(async (url) => Number((await cluster.query<{ n: string }>(url, 'SELECT count(*) AS n FROM rules')).rows[0]!.n)));
    if (counts[0] !== RULES_SMALL || counts[1] !== RULES_LARGE) throw new Error(`the databases hold ${counts.join(' and ')} rules, not ${RULES_SMALL} and ${RULES_LARGE}`);
    const sampleId = (await cluster.query<{ key: string }>(large, `SELECT key FROM rules WHERE value->>'description' LIKE '%(copy %' ORDER BY position DESC LIMIT 1`)).rows[0]!.key;
    // The large daemon loaded the inserted rules as its own: one of them is there through the API.
    const sample = await big.admin('GET', `/v1/computer-authorization-rules?id=${sampleId}`);
    if (sample.status !== 200) throw new Error(`the daemon on ${RULES_LARGE} rules does not hold an inserted one: ${sample.status} ${JSON.stringify(sample.body)}`);
    progress('a rule through one daemon, seen on the other...');
    const propagation = await measurePropagation(stage, a, b, quick);
    progress('reads, one daemon and two...');
    const reads = await measureTwoDaemonReads(stage, a, b, quick);
    progress('rule writes at 10,000 and 100,000 rules...');
    const writes = await measureWrites(stage, a, big, quick, embedded10k);
    return { figures: { ...writes.figures, ...reads.figures, ...propagation.figures }, raw: { ...writes.raw, ...reads.raw, ...propagation.raw } };
  } finally {
    await Promise.all(labs.map((lab) => lab.close()));
    await cluster.stop();
  }
}

/**
 * Adds `more` rules to the database's own: copies of its filler rules with new ids, in one statement,
 * and moves the revision on with no change log entry, so that a daemon behind it reads everything afresh.
 */
async function addRuleCopies(cluster: PostgresCluster, url: string, more: number): Promise<void> {
  await cluster.query(
    url,
    `WITH copies AS (
       SELECT gen_random_uuid()::text AS id, r.value, r.version, (r.value->>'description') || ' (copy ' || g || ')' AS description
       FROM rules r CROSS JOIN generate_series(1, ceil($1::numeric / (SELECT count(*) FROM rules WHERE value->>'description' LIKE 'bench filler %'))::int) AS g
       WHERE r.value->>'description' LIKE 'bench filler %'
       ORDER BY g, r.position
       LIMIT $1
     ), inserted AS (
       INSERT INTO rules (key, value, version)
       SELECT id, jsonb_set(jsonb_set(value, '{id}', to_jsonb(id)), '{description}', to_jsonb(description)), version FROM copies
       RETURNING 1
     ), moved AS (
       UPDATE revision SET revision = revision + 1 RETURNING revision
     )
     UPDATE collection_versions SET version = (SELECT revision FROM moved) WHERE collection = 'rules' AND (SELECT count(*) FROM inserted) = $1`,
    [more],
  );
}

/** Rules made through `a`, each looked for on `b` until it is there: from A's 201 to B's first listing of it. */
async function measurePropagation(stage: Stage, a: Lab, b: Lab, quick: boolean): Promise<GroupResult> {
  const device = stage.tenant.directory.devices.find((d) => d.deviceId !== stage.device.deviceId)!;
  const times: number[] = [];
  for (let i = 0; i < (quick ? 10 : 30); i++) {
    const body = { description: `bench propagation ${i}`, tenantId: stage.tenant.tenantId, deviceId: device.deviceId, notes: 'Written by the amsd benchmark.' };
    const made = await a.admin('POST', '/v1/computer-authorization-rules', body);
    if (made.status !== 201) throw new Error(`creating a rule answered ${made.status}: ${JSON.stringify(made.body)}`);
    const at = performance.now();
    const id = made.body.id as string;
    for (;;) {
      const seen = await b.admin('GET', `/v1/computer-authorization-rules?id=${id}`);
      if (seen.status === 200 && (seen.body.items as { id: string }[]).some((r) => r.id === id)) break;
      if (performance.now() - at > 30_000) throw new Error(`a rule made through one daemon was not on the other within 30 s`);
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
    times.push(performance.now() - at);
    await a.admin('DELETE', `/v1/computer-authorization-rules/${id}`);
  }
  const slowest = Math.max(...times);
  return {
    figures: { pgPropagationMs: { value: slowest, reference: `p50 ${median(times).toFixed(0)} ms over ${times.length} rules (LISTEN/NOTIFY; the poll every 1 s is the fallback)` } },
    raw: { pgPropagationP50Ms: median(times) },
  };
}

async function measureTwoDaemonReads(stage: Stage, a: Lab, b: Lab, quick: boolean): Promise<GroupResult> {
  stage.setGraphLatency(0);
  let turn = 0;
  const either = () => (turn++ % 2 === 0 ? a.read() : b.read());
  await closedLoop(either, { concurrency: 16, count: 200 }); // warm: caches, connections
  const durationMs = quick ? 1_500 : 5_000;
  const totals = { oneReads: 0, oneMs: 0, oneCpuMs: 0, twoReads: 0, twoMs: 0, twoCpuMs: 0 };
  const cpu = () => processCpuMs(a.serve.pid) + processCpuMs(b.serve.pid);
  await interleave(quick ? 2 : 4, {
    one: async () => {
      const before = cpu();
      const run = await closedLoop(a.read, { concurrency: 16, durationMs });
      totals.oneCpuMs += cpu() - before;
      totals.oneReads += run.latencies.length;
      totals.oneMs += run.elapsedMs;
    },
    two: async () => {
      const before = cpu();
      const run = await closedLoop(either, { concurrency: 16, durationMs });
      totals.twoCpuMs += cpu() - before;
      totals.twoReads += run.latencies.length;
      totals.twoMs += run.elapsedMs;
    },
  });
  const oneRate = (totals.oneReads * 1000) / totals.oneMs;
  const twoRate = (totals.twoReads * 1000) / totals.twoMs;
  return {
    figures: {
      twoDaemonReadsRatio: {
        value: twoRate / oneRate,
        reference: `${twoRate.toFixed(0)} vs one daemon ${oneRate.toFixed(0)} reads/s, 16 callers, ${RULES_SMALL.toLocaleString('en')} rules; CPU per read ${(totals.twoCpuMs / totals.twoReads).toFixed(2)} vs ${(totals.oneCpuMs / totals.oneReads).toFixed(2)} ms`,
      },
    },
    raw: { pgReadsPerSecondOneDaemon: oneRate, pgReadsPerSecondTwoDaemons: twoRate, pgCpuMsPerReadOneDaemon: totals.oneCpuMs / totals.oneReads, pgCpuMsPerReadTwoDaemons: totals.twoCpuMs / totals.twoReads },
  };
}

async function measureWrites(stage: Stage, small: Lab, large: Lab, quick: boolean, embedded10k?: Measured): Promise<GroupResult> {
  stage.setGraphLatency(0);
  const writeSmall = ruleWriter(stage, small, 'pg10k');
  const writeLarge = ruleWriter(stage, large, 'pg100k');
  for (let i = 0; i < 2; i++) await Promise.all([writeSmall(), writeLarge()]); // warm: the device cache, the connections
  const writes = { small: [] as number[], large: [] as number[] };
  const perRound = quick ? 4 : 10;
  await interleave(quick ? 3 : 5, {
    small: async () => {
      for (let i = 0; i < perRound; i++) writes.small.push((await writeSmall()).ms);
    },
    large: async () => {
      for (let i = 0; i < perRound; i++) writes.large.push((await writeLarge()).ms);
    },
  });
  const [small50, large50] = [median(writes.small), median(writes.large)];
  const embedded = embedded10k ? `embedded store ${embedded10k.value.toFixed(1)} ms (writes group, same run)` : 'embedded store not measured (run the writes group too)';
  return {
    figures: {
      pgRuleWriteMs10k: { value: small50, reference: `${embedded}; p99 ${percentile(writes.small, 99).toFixed(0)} ms` },
      pgRuleWriteMs100k: { value: large50, reference: `10,000 rules: ${small50.toFixed(1)} ms; p99 ${percentile(writes.large, 99).toFixed(0)} ms` },
    },
    raw: { pgRuleWriteP99Ms10k: percentile(writes.small, 99), pgRuleWriteP99Ms100k: percentile(writes.large, 99) },
  };
}

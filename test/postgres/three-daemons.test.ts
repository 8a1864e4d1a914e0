/**
 * Three real `amsd serve --database` processes on one PostgreSQL database (issue 15):
 * - a rule made through A is enforced by B and C without a restart: a password read by the user it
 *   allows, refused by both before, is answered by both once A's change reached them (how soon, a
 *   second at most, is measured by `npm run bench`: pgPropagationMs; no test times anything);
 * - `kill -9` of one daemon while rules are written through all three: every write acknowledged (201)
 *   by any of them is on the survivors and, once restarted, on the killed one (and in the table), and
 *   the survivors answer every read and write throughout.
 */
import t, { type Test } from 'tap';
import { simulatedTenantFor } from '../helpers.js';
import { needsPostgres, postgresClusterFor } from '../store/postgres/cluster.js';
import { call, pollUntil, startFleet, startServe, type Fleet, type ServeProcess } from './serve-processes.js';

const postgres = postgresClusterFor(t);
const LAPS = '/v1/secrets/local-admin-password';
/**
 * A bound against a hang while a change travels to the other daemons, not a measurement: on a loaded
 * CI machine it can take longer than the second the bench holds it to (pgPropagationMs).
 */
const PROPAGATION_MS = 10_000;

/** Three daemons on a new database, the simulated tenant registered through the first. */
async function threeDaemons(t: Test) {
  const { tenant, caFile } = await simulatedTenantFor(t, { devices: 10 });
  const fleet = await startFleet(t, await postgres.database(), 3, { caFile });
  const [a] = fleet.daemons as [ServeProcess, ServeProcess, ServeProcess];
  const registered = await call(a.url, fleet.adminKey, 'POST', '/v1/tenants', {
    tenantId: tenant.tenantId,
    displayName: 'Simulated',
    clientId: tenant.app.clientId,
    clientSecret: tenant.app.clientSecret,
    authorityHost: tenant.authorityHost,
    graphEndpoint: tenant.graphEndpoint,
  });
  t.equal(registered.status, 201, `the tenant is registered through A${registered.status === 201 ? '' : `: ${JSON.stringify(registered.body)}`}`);
  return { tenant, fleet };
}

t.test('a rule made through A is enforced by B and C, without a restart', needsPostgres(t), async (t) => {
  const { tenant, fleet } = await threeDaemons(t);
  const [a, b, c] = fleet.daemons as [ServeProcess, ServeProcess, ServeProcess];
  const user = tenant.directory.users[0]!;
  const device = tenant.directory.devices[0]!; // PC-0001: has a LAPS password
  const created = await call(a.url, fleet.adminKey, 'POST', '/v1/api-keys', { name: 'helpdesk', role: 'user', tenantId: tenant.tenantId, principalId: user.id });
  t.equal(created.status, 201, 'a user key acting as the helpdesk user, made through A');
  const userKey = created.body.key as string;
  const read = (daemon: ServeProcess) => call(daemon.url, userKey, 'POST', LAPS, { computerName: device.displayName, reason: 'issue 15' });

  // Before the rule: B and C know the key (once its change reached them) and refuse the read.
  for (const [name, daemon] of [['B', b], ['C', c]] as const) {
    const refused = await pollUntil(`${name} knows the user key`, PROPAGATION_MS * 5, async () => {
      const answer = await read(daemon);
      return answer.status === 401 ? undefined : answer;
    });
    t.match(refused, { status: 403, body: { code: 'NoMatchingRuleForComputer' } }, `${name} refuses the read: no rule yet`);
  }

  const rule = await call(a.url, fleet.adminKey, 'POST', '/v1/computer-authorization-rules', { description: 'Helpdesk, tenant-wide', tenantId: tenant.tenantId, principalsAllowedLaps: [user.userPrincipalName] });
  t.equal(rule.status, 201, `the rule is made through A${rule.status === 201 ? '' : `: ${JSON.stringify(rule.body)}`}`);
  const madeAt = Date.now();
  const expected = device.laps!.expected[0]!;
  const granted = await Promise.all(
    [b, c].map((daemon) =>
      pollUntil('the read is granted', PROPAGATION_MS - (Date.now() - madeAt), async () => {
        const answer = await read(daemon);
        return answer.status === 200 ? answer : undefined;
      }),
    ),
  );
  for (const [index, answer] of granted.entries()) {
    t.match(answer.body, { deviceName: device.displayName, password: expected.password }, `${'BC'[index]} answers the read by A's rule`);
  }
  t.equal((await read(a)).status, 200, 'and so does A');
});

interface Tally {
  /** Rule ids the daemon answered 201 for. */
  acknowledged: string[];
  /** Answers other than 2xx, and calls that failed, while the daemon was meant to be up. */
  failures: string[];
  reads: number;
}

/** Writes rules through `daemon` (and reads the list between writes) until `stop()` or until it cannot be reached. */
function writeAndRead(fleet: Fleet, daemon: ServeProcess, tenantId: string, label: string, tally: Tally, expectUp: () => boolean, stop: () => boolean): Promise<void> {
  return (async () => {
    for (let n = 0; !stop(); n++) {
      try {
        const written = await call(daemon.url, fleet.adminKey, 'POST', '/v1/computer-authorization-rules', { description: `${label} ${n}`, tenantId });
        if (written.status === 201) tally.acknowledged.push(written.body.id as string);
        else if (expectUp()) tally.failures.push(`write ${label} ${n}: ${written.status} ${JSON.stringify(written.body)}`);
        const listed = await call(daemon.url, fleet.adminKey, 'GET', `/v1/computer-authorization-rules?tenantId=${tenantId}`);
        if (listed.status === 200) tally.reads++;
        else if (expectUp()) tally.failures.push(`read ${label} ${n}: ${listed.status}`);
      } catch (error) {
        if (expectUp()) tally.failures.push(`${label} ${n}: ${(error as Error).message}`);
        return; // the daemon is gone
      }
    }
  })();
}

const ids = async (daemon: ServeProcess, fleet: Fleet, tenantId: string) => {
  const listed = await call(daemon.url, fleet.adminKey, 'GET', `/v1/computer-authorization-rules?tenantId=${tenantId}`);
  if (listed.status !== 200) throw new Error(`listing the rules answered ${listed.status}`);
  return new Set((listed.body.items as { id: string }[]).map((rule) => rule.id));
};
const missingFrom = (have: Set<string>, wanted: readonly string[]) => wanted.filter((id) => !have.has(id));

t.test('kill -9 of one daemon under rule writes through all three: nothing acknowledged is lost, the others keep serving', needsPostgres(t), async (t) => {
  const { tenant, fleet } = await threeDaemons(t);
  const [a, b, c] = fleet.daemons as [ServeProcess, ServeProcess, ServeProcess];
  const tallies = new Map<ServeProcess, Tally>(fleet.daemons.map((d) => [d, { acknowledged: [], failures: [], reads: 0 }]));
  let bKilled = false;
  let stopping = false;
  const writers = fleet.daemons.flatMap((daemon, index) =>
    [0, 1].map((w) => writeAndRead(fleet, daemon, tenant.tenantId, `d${'abc'[index]}w${w}`, tallies.get(daemon)!, () => daemon !== b || !bKilled, () => stopping)),
  );
  const count = (daemon: ServeProcess) => tallies.get(daemon)!.acknowledged.length;
  try {
    // Under way on all three, then B dies mid-stream (its writers have requests in flight).
    await pollUntil('every daemon acknowledged 10 writes', 30_000, async () => (fleet.daemons.every((d) => count(d) >= 10) ? true : undefined));
    bKilled = true;
    await b.kill();
    const [aAt, cAt] = [count(a), count(c)];
    await pollUntil('A and C acknowledged 20 more writes each after the kill', 30_000, async () => (count(a) >= aAt + 20 && count(c) >= cAt + 20 ? true : undefined));
  } finally {
    stopping = true;
    await Promise.all(writers);
  }
  const acknowledged = [...tallies.values()].flatMap((tally) => tally.acknowledged);
  t.ok(count(b) >= 10, `B acknowledged ${count(b)} writes before it was killed`);
  for (const [name, daemon] of [['A', a], ['C', c]] as const) {
    t.same(tallies.get(daemon)!.failures, [], `${name} answered every read and write, before and after the kill (${count(daemon)} writes, ${tallies.get(daemon)!.reads} reads)`);
  }

  for (const [name, daemon] of [['A', a], ['C', c]] as const) {
    // The other survivor's last writes reach it: polled, with a bound.
    const missing = await pollUntil(`${name} holds every acknowledged rule`, PROPAGATION_MS * 2, async () => {
      const left = missingFrom(await ids(daemon, fleet, tenant.tenantId), acknowledged);
      return left.length === 0 ? left : undefined;
    }).catch(async () => missingFrom(await ids(daemon, fleet, tenant.tenantId), acknowledged));
    t.same(missing, [], `${name} holds all ${acknowledged.length} acknowledged rules`);
  }
  const cluster = await postgres.cluster();
  const stored = new Set((await cluster.query<{ key: string }>(fleet.databaseUrl, 'SELECT key FROM rules')).rows.map((r) => r.key));
  t.same(missingFrom(stored, acknowledged), [], 'and so does the rules table');

  const restarted = await startServe(t, { databaseUrl: fleet.databaseUrl, masterKeyFile: fleet.masterKeyFile, dataDir: b.dataDir });
  t.same(missingFrom(await ids(restarted, fleet, tenant.tenantId), acknowledged), [], 'B, restarted on its data directory, holds every acknowledged rule, its own included');
  const after = await call(restarted.url, fleet.adminKey, 'POST', '/v1/computer-authorization-rules', { description: 'after the restart', tenantId: tenant.tenantId });
  t.equal(after.status, 201, 'and takes writes again');
});

/**
 * The benchmark's own logic, without timing anything: its command line, the JSON line and the table,
 * the count of sequential round trips, and the data it seeds (rules the daemon's CSV import reads, an
 * audit trail `amsd audit verify` accepts).
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import t from 'tap';
import { parseRuleCsv } from '../../daemon/access/rule-csv.js';
import { auditLogPath } from '../../daemon/audit/audit-log.js';
import { runAuditVerify } from '../../daemon/audit/verify-command.js';
import { generateDirectory } from '../../daemon/simulated-tenant/directory-data.js';
import { parseArgs } from '../../scripts/bench/args.js';
import { FIGURE_NAMES, jsonLine, meets, mergeResults, parseJsonLine, table, type GroupResult } from '../../scripts/bench/report.js';
import { fillerRuleCsv, seedAuditTrail, seedReadingDataDir } from '../../scripts/bench/seed.js';
import { percentile, sequentialRoundTrips } from '../../scripts/bench/stats.js';
import { simulatedTenantFor, startTestDaemon, tempDir } from '../helpers.js';

t.test('the command line: --quick, --only with known groups, --serve-node-args; anything else is refused', async (t) => {
  t.same(parseArgs([]), { quick: false, groups: ['evaluation', 'startup', 'reads', 'writes', 'postgres'], serveNodeArgs: [] });
  t.same(parseArgs(['--only', 'postgres']).groups, ['postgres']);
  t.same(parseArgs(['--quick', '--only', 'reads,writes']), { quick: true, groups: ['reads', 'writes'], serveNodeArgs: [] });
  t.same(parseArgs(['--serve-node-args', ' --cpu-prof  --cpu-prof-dir=/tmp/p ']).serveNodeArgs, ['--cpu-prof', '--cpu-prof-dir=/tmp/p']);
  t.same(parseArgs(['--serve-node-args=--cpu-prof']).serveNodeArgs, ['--cpu-prof']);
  t.throws(() => parseArgs(['--serve-node-args']), /--serve-node-args takes node options/);
  t.same(parseArgs(['--only=startup']).groups, ['startup']);
  t.throws(() => parseArgs(['--only', 'memroy']), /not memroy/);
  t.throws(() => parseArgs(['--only']), /--only takes groups/);
  t.throws(() => parseArgs(['--fast']), /unknown argument --fast/);
});

t.test('the JSON line holds every figure, null when not measured, and reads back', async (t) => {
  const reads: GroupResult = { figures: { latencyRatio20msC1: { value: 1.234567, reference: 'direct 21 ms' } }, raw: { readP50Ms20msC1: 25.91234 } };
  const evaluation: GroupResult = { figures: { evalP99Us: { value: 12.5, reference: '100 rules: 9 µs' } }, raw: {} };
  const line = jsonLine(mergeResults([reads, evaluation]), { quick: true });
  t.notOk(line.includes('\n'), 'one line');
  const parsed = parseJsonLine(line);
  t.same(Object.keys(parsed).slice(0, FIGURE_NAMES.length), [...FIGURE_NAMES], 'every figure, in order, first');
  t.equal(parsed.latencyRatio20msC1, 1.235, 'four significant digits');
  t.equal(parsed.evalP99Us, 12.5);
  t.equal(parsed.startupMs, null, 'a figure not measured is null, not left out');
  t.equal(parsed.readP50Ms20msC1, 25.91, 'raw values beside the figures');
  t.equal(parsed.quick, true);
  t.equal(parseJsonLine(jsonLine({ figures: { cpuMsPerRead: { value: Number.NaN, reference: '' } }, raw: {} }, {})).cpuMsPerRead, null, 'NaN is not a number JSON can hold');

  t.throws(() => parseJsonLine(JSON.stringify({ ...Object.fromEntries(FIGURE_NAMES.map((n) => [n, null])), startupMs: '12' })), /startupMs is "12"/);
  t.throws(() => parseJsonLine('{"startupMs": 1}'), /warmGraphCallsPerRead is undefined/, 'a figure left out');
  t.throws(() => mergeResults([reads, reads]), /measured twice/);
  t.throws(() => mergeResults([{ figures: {}, raw: { startupMs: 1 } }]), /under a figure's name/);
});

t.test('targets, and the table that shows them', async (t) => {
  t.ok(meets('warmGraphCallsPerRead', 1));
  t.notOk(meets('warmGraphCallsPerRead', 1.05));
  t.ok(meets('coldRoundTripsByName', 3));
  t.notOk(meets('startupMs', 500), '< 500 is strict');
  t.ok(meets('throughputRatio0ms', 0.4));
  const text = table({ figures: { startupMs: { value: 612.4, reference: 'bare node 40 ms' }, evalP99Us: { value: 9, reference: 'x' } }, raw: {} });
  const lines = text.split('\n');
  t.equal(lines.length, 2 + FIGURE_NAMES.length, 'a header, a rule, a row per figure');
  t.match(lines.find((l) => l.startsWith('start-up to first healthy answer, fresh'))!, /\b612\s+bare node 40 ms\s+< 500\s+NO$/);
  t.match(lines.find((l) => l.startsWith('evaluation p99'))!, /yes$/);
  t.match(lines.find((l) => l.startsWith('Graph calls per warm read'))!, /n\/a\s+not measured\s+= 1\s+-$/);
});

t.test('sequential round trips: overlapping calls count once', async (t) => {
  t.equal(sequentialRoundTrips([]), 0);
  // Device lookup and caller's groups together, then the device's groups, then the secret.
  const parallel = [
    { at: 0, endedAt: 21 },
    { at: 1, endedAt: 22 },
    { at: 22, endedAt: 43 },
    { at: 44, endedAt: 65 },
  ];
  t.equal(sequentialRoundTrips(parallel), 3);
  t.equal(sequentialRoundTrips([{ at: 0, endedAt: 21 }, { at: 21, endedAt: 42 }, { at: 42, endedAt: 63 }, { at: 63, endedAt: 84 }]), 4, 'one after another');
  t.equal(sequentialRoundTrips([{ at: 44, endedAt: 65 }, ...parallel.slice(0, 3)]), 3, 'in any order');
  t.equal(sequentialRoundTrips([{ at: 0 }, { at: 5, endedAt: 10 }]), 1, 'a call that never answered does not chain');
});

t.test('percentiles are nearest-rank', async (t) => {
  const hundred = Array.from({ length: 100 }, (_, i) => 100 - i);
  t.equal(percentile(hundred, 50), 50);
  t.equal(percentile(hundred, 99), 99);
  t.equal(percentile([7], 99), 7);
  t.ok(Number.isNaN(percentile([], 50)));
});

t.test("the filler rules are rows the daemon's CSV import accepts, none targeting the device read", async (t) => {
  const directory = generateDirectory({ devices: 10, seed: 3 });
  const tenant = { tenantId: '8f4a2c1e-5b7d-4e3f-9a6c-2d1b0e7f3a59', directory };
  const excluded = directory.devices[2]!.deviceId;
  const csv = fillerRuleCsv(tenant, 40, 25, excluded);
  const { rows, errors } = await parseRuleCsv(csv);
  t.same(errors, []);
  t.equal(rows.length, 25);
  t.same(rows[0]!.input.description, 'bench filler 40');
  t.notOk(rows.some((r) => r.input.deviceId === excluded));
  t.ok(rows.every((r) => r.input.tenantId === tenant.tenantId && r.input.deviceId && (r.input.notes?.length ?? 0) > 400 && !r.input.principalsAllowedLaps));
});

t.test('the seeded audit trail is one amsd audit verify accepts', async (t) => {
  const dataDir = join(await tempDir(t), 'data');
  await seedAuditTrail(dataDir, 30);
  let report = '';
  const out = new Writable({ write: (chunk, _encoding, done) => ((report += String(chunk)), done()) });
  t.equal(await runAuditVerify(dataDir, out), 0, report);
  const events = (await readFile(auditLogPath(dataDir), 'utf8')).trim().split('\n').map((line) => JSON.parse(line));
  t.equal(events.filter((e) => e.type === 'secret.read').length, 30);
});

t.test('a data directory seeded for reads lets its user key read the workstation the bench reads', async (t) => {
  const { tenant, caFile } = await simulatedTenantFor(t, { devices: 30 });
  const helpdesk = tenant.directory.users[0]!;
  const workstations = tenant.directory.groups.find((g) => g.displayName === 'Workstations-Site-A')!;
  const device = tenant.directory.devices.find((d) => workstations.members.includes(d.id) && d.laps && d.trustType === 'AzureAd' && tenant.directory.devices.filter((o) => o.displayName === d.displayName).length === 1)!;
  const dataDir = join(await tempDir(t), 'data');
  const { userKey } = await seedReadingDataDir(dataDir, { tenant, caFile, userId: helpdesk.id, readDeviceId: device.deviceId, fillerRules: 5 });

  const daemon = await startTestDaemon(t, dataDir, { caFile });
  t.equal((await daemon.call({ url: '/v1/computer-authorization-rules' })).json().items.length, 1 + 5, 'the rule that grants, and the filler');
  const read = await daemon.call({ method: 'POST', url: '/v1/secrets/local-admin-password', key: userKey, body: { computerName: device.displayName } });
  t.equal(read.statusCode, 200, `the user key reads the password${read.statusCode === 200 ? '' : `: ${read.body}`}`);
  t.equal(read.json().password, device.laps!.expected[0]!.password);
  const settings = (await daemon.call({ url: '/v1/service-config' })).json();
  t.match(settings, { userRateLimitPerMinute: 100_000, ipRateLimitPerMinute: 100_000, deviceCacheSeconds: 3600, groupCacheSeconds: 86_400 });
});

/**
 * Import-AmsComputerAuthorizationRule: the documented sample imports into the simulated tenant; one
 * bad row imports nothing and is named by its line; dryRun shows without creating.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import t from 'tap';
import { packageRoot } from '../../openapi/package-root.js';
import { assertMatchesSpec, registerTenant, simulatedTenantFor, startTestDaemon, type TestContext } from '../helpers.js';

const IMPORT = '/v1/computer-authorization-rules/import';

async function setUp(t: TestContext) {
  const { tenant, caFile } = await simulatedTenantFor(t, { devices: 20 });
  const daemon = await startTestDaemon(t, undefined, { caFile });
  await registerTenant(t, daemon, tenant);
  const importCsv = async (csv: string, dryRun?: boolean) => {
    const res = await daemon.call({ method: 'POST', url: IMPORT, body: { csv, ...(dryRun === undefined ? {} : { dryRun }) } });
    assertMatchesSpec(t, res, 'importComputerAuthorizationRules');
    return res;
  };
  const ruleCount = async () => (await daemon.call({ url: '/v1/computer-authorization-rules' })).json().items.length;
  return { tenant, daemon, importCsv, ruleCount };
}

t.test('the documented sample imports as it is: every row a rule, names resolved, each audited', async (t) => {
  const { tenant, daemon, importCsv, ruleCount } = await setUp(t);
  const sample = await readFile(join(packageRoot, 'docs', 'rules-import-sample.csv'), 'utf8');

  const preview = await importCsv(sample, true);
  t.equal(preview.statusCode, 200, preview.body);
  t.equal(preview.json().dryRun, true);
  t.equal(preview.json().items.length, 4, 'dryRun shows the four rules');
  t.equal(await ruleCount(), 0, 'and creates none');

  const res = await importCsv(sample);
  t.equal(res.statusCode, 200, res.body);
  const rules = res.json().items;
  t.equal(await ruleCount(), 4);
  const group = (name: string) => tenant.directory.groups.find((g) => g.displayName === name)!.id;
  t.match(rules[0], { description: 'Helpdesk: workstation passwords', groupId: group('All-Workstations'), principalsAllowedLaps: [{ id: group('AMS-Helpdesk') }], notes: 'Imported from Access Manager' });
  t.match(rules[2], { targetType: 'tenant', userRequestReasonRequirement: 'Required', notes: 'Keys only with a reason; see "Recovery" runbook' });
  t.match(rules[3], { targetType: 'device', deviceId: tenant.directory.devices[1]!.deviceId, ruleExpiryDate: '2027-04-01T00:00:00.000Z' });
  t.same(rules[3].principalsAllowedLaps.map((p: { displayName: string }) => p.displayName), ['user07@contoso.example', 'user08@contoso.example'], 'a semicolon list');
  const events = (await daemon.call({ url: '/v1/audit-events?type=rule.created' })).json().items;
  t.equal(events.length, 4, 'one audit event per rule');
});

t.test('one bad row imports nothing, and every mistake is named with its line', async (t) => {
  const { tenant, importCsv, ruleCount } = await setUp(t);
  const id = tenant.tenantId;
  const csv = [
    'description,TENANTID,GroupId,PrincipalsAllowedLaps,UserRequestReasonRequirement,Disabled',
    `Fine,${id},All-Workstations,AMS-Helpdesk,Optional,false`,
    `"Multi-line
note",${id},,AMS-Helpdesk,Sometimes,maybe`,
    `Typo,${id},All-Workstatons,AMS-Helpdesk;nobody@contoso.example,,`,
  ].join('\r\n');
  const res = await importCsv(csv);
  t.equal(res.statusCode, 400);
  const messages = res.json().errors.map((e: { message: string }) => e.message);
  t.ok(messages.some((m: string) => /^line 3: UserRequestReasonRequirement must be equal to one of the allowed values \(Hidden, Optional, Required\)/.test(m)), 'an unknown reason requirement, on the line where its row starts');
  t.ok(messages.some((m: string) => /^line 3: Disabled must be boolean/.test(m)));
  t.ok(messages.some((m: string) => /^line 5: no group is named 'All-Workstatons'/.test(m)), 'an unknown target group');
  t.ok(messages.some((m: string) => /^line 5: 'nobody@contoso.example': no user/.test(m)), 'an unknown principal in a list');
  t.same(messages.map((m: string) => Number(/^line (\d+)/.exec(m)?.[1])), [...messages.map((m: string) => Number(/^line (\d+)/.exec(m)?.[1]))].sort(), 'in file order');
  t.equal(await ruleCount(), 0, 'the good row was not imported either');

  const header = await importCsv('Description,Tenant,Colour\nx,y,z');
  t.equal(header.statusCode, 400);
  t.match(header.json().errors, [{ message: /line 1: unknown column 'Tenant'/ }, { message: /unknown column 'Colour'/ }, { message: /the column TenantId is required/ }]);
  t.equal((await importCsv('Description,TenantId\n"unclosed,x')).statusCode, 400, 'broken CSV');
});

t.test('importing the same file twice creates nothing the second time; each repeat is named with its line', async (t) => {
  const { importCsv, ruleCount, daemon } = await setUp(t);
  const sample = await readFile(join(packageRoot, 'docs', 'rules-import-sample.csv'), 'utf8');
  t.equal((await importCsv(sample)).statusCode, 200);
  const again = await importCsv(sample);
  t.equal(again.statusCode, 200, again.body);
  t.same(again.json().items, [], 'nothing created');
  t.equal(again.json().skipped.length, 4, 'every row reported');
  t.match(again.json().skipped[0], { line: 2, description: 'Helpdesk: workstation passwords', existingRuleId: /^[0-9a-f-]{36}$/ });
  t.equal(await ruleCount(), 4);

  const forced = await daemon.call({ method: 'POST', url: IMPORT, body: { csv: sample, allowDuplicates: true } });
  t.equal(forced.statusCode, 200, forced.body);
  t.equal(forced.json().items.length, 4, 'allowDuplicates creates them anyway');
  t.equal(await ruleCount(), 8);
});

t.test('the export is what the import reads back: the same rules, all skipped as existing', async (t) => {
  const { importCsv, daemon } = await setUp(t);
  const sample = await readFile(join(packageRoot, 'docs', 'rules-import-sample.csv'), 'utf8');
  await importCsv(sample);
  for (const delimiter of [',', ';', '\t']) {
    const exported = await daemon.call({ url: `/v1/computer-authorization-rules/export?delimiter=${encodeURIComponent(delimiter)}` });
    assertMatchesSpec(t, exported, 'exportComputerAuthorizationRules');
    t.equal(exported.json().count, 4);
    const csv: string = exported.json().csv;
    t.ok(csv.startsWith(`Description${delimiter}TenantId${delimiter}`), `header separated by ${JSON.stringify(delimiter)}`);
    const back = await importCsv(csv, true);
    t.equal(back.statusCode, 200, back.body);
    t.equal(back.json().skipped.length, 4, `read back: every rule the same (${JSON.stringify(delimiter)})`);
  }
  const exported = (await daemon.call({ url: '/v1/computer-authorization-rules/export' })).json().csv as string;
  const copy = await daemon.call({ method: 'POST', url: IMPORT, body: { csv: exported, dryRun: true, allowDuplicates: true } });
  const before = (await daemon.call({ url: '/v1/computer-authorization-rules' })).json().items;
  const strip = (rules: Record<string, unknown>[]) => rules.map(({ id, createdAt, createdBy, modifiedAt, modifiedBy, ...rest }) => rest);
  t.same(strip(copy.json().items), strip(before), 'the rules it recreates are the rules exported');
});

t.test('a semicolon-separated file is read as one; an explicit delimiter wins', async (t) => {
  const { importCsv, daemon, tenant } = await setUp(t);
  const csv = `Description;TenantId;PrincipalsAllowedLaps\r\n"Helpdesk; all";${tenant.tenantId};AMS-Helpdesk;AMS-Admins\r\n`;
  const res = await importCsv(csv, true);
  t.equal(res.statusCode, 400, 'the list cell must be quoted when semicolons separate the fields');
  const quoted = `Description;TenantId;PrincipalsAllowedLaps\r\n"Helpdesk; all";${tenant.tenantId};"AMS-Helpdesk;AMS-Admins"\r\n`;
  const ok = await importCsv(quoted, true);
  t.equal(ok.statusCode, 200, ok.body);
  t.equal(ok.json().items[0].description, 'Helpdesk; all');
  t.equal(ok.json().items[0].principalsAllowedLaps.length, 2);
  const wrong = await daemon.call({ method: 'POST', url: IMPORT, body: { csv: quoted, dryRun: true, delimiter: ',' } });
  t.equal(wrong.statusCode, 400, 'told a comma, the header is one unknown column');
});

t.test('names many rows share are asked of Graph once each; a bad one is still named on every line that has it', async (t) => {
  const { tenant, importCsv } = await setUp(t);
  const id = tenant.tenantId;
  const users = tenant.directory.users.slice(0, 3).map((u) => u.userPrincipalName);
  const rows = Array.from({ length: 30 }, (_, i) => `Rule ${i},${id},All-Workstations,AMS-Helpdesk;${users[i % 3]}`);
  tenant.resetCalls();
  const res = await importCsv(['Description,TenantId,GroupId,PrincipalsAllowedLaps', ...rows].join('\n'), true);
  t.equal(res.statusCode, 200, res.body);
  t.equal(res.json().items.length, 30, 'every row a rule');
  t.same(res.json().items.map((rule: { description: string }) => rule.description), rows.map((_, i) => `Rule ${i}`), 'in file order');
  t.ok(res.json().items.every((rule: { principalsAllowedLaps: { displayName: string }[] }, i: number) => rule.principalsAllowedLaps[1]?.displayName === users[i % 3]), 'each with its own principals');
  const lookups = tenant.calls.filter((c) => c.path.startsWith('/v1.0/'));
  t.equal(lookups.filter((c) => c.path === '/v1.0/groups').length, 2, 'one lookup for the target group, one for the principal group');
  t.equal(lookups.filter((c) => c.path.startsWith('/v1.0/users/')).length, 3, 'one per distinct user');

  const bad = await importCsv(['Description,TenantId,GroupId,PrincipalsAllowedLaps', ...[2, 3, 4].map((n) => `Bad ${n},${id},No-Such-Group,nobody@contoso.example`)].join('\n'), true);
  t.equal(bad.statusCode, 400);
  const messages = bad.json().errors.map((e: { message: string }) => e.message);
  for (const line of [2, 3, 4]) {
    t.ok(messages.some((m: string) => m.startsWith(`line ${line}: no group is named 'No-Such-Group'`)), `line ${line}: the unknown group`);
    t.ok(messages.some((m: string) => m.startsWith(`line ${line}: 'nobody@contoso.example': no user`)), `line ${line}: the unknown user`);
  }
  t.equal(messages.length, 6, 'and nothing else');
});

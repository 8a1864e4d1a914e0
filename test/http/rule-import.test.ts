/**
 * Import-AmsComputerAuthorizationRule: the documented sample imports into the simulated tenant; one
 * bad row imports nothing and is named by its line; dryRun shows without creating.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import t from 'tap';
import { packageRoot } from '../../daemon/package-root.js';
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

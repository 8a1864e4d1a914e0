/**
 * Notification channels end to end: created and audited without their secrets, told of reads the rules
 * name them for (signed webhooks a receiver can verify), a mandatory channel that cannot be told
 * refusing the read, and queued deliveries that survive a restart.
 */
import t from 'tap';
import { loadSpec, resolveRef, type JsonSchema } from '../../openapi/contract.js';
import { verifyWebhookSignature } from '../../daemon/notifications/deliver.js';
import { startReceiver, type Receiver } from '../notifications/fixtures.js';
import { assertMatchesSpec, createKey, createRule, registerTenant, simulatedTenantFor, startTestDaemon, type TestContext, type TestDaemon } from '../helpers.js';

const CHANNELS = '/v1/notification-channels';
const LAPS = '/v1/secrets/local-admin-password';
const SIGNING_SECRET = 'whsec-only-the-receiver-knows';
const HEADER_VALUE = 'Bearer receiver-token-7781';

async function setUp(t: TestContext, daemonOptions: Parameters<typeof startTestDaemon>[2] = {}, dataDir?: string) {
  const { tenant, caFile } = await simulatedTenantFor(t, { devices: 20 });
  const daemon = await startTestDaemon(t, dataDir, { caFile, ...daemonOptions, testing: { notificationBackoffMs: [50], ...daemonOptions.testing } });
  await registerTenant(t, daemon, tenant);
  const helpdesk = await createKey(t, daemon, { name: 'helpdesk', role: 'user', tenantId: tenant.tenantId, principalId: tenant.directory.users[0]!.id });
  const device = tenant.directory.devices[0]!;
  const read = (computerName = device.displayName) => daemon.call({ method: 'POST', url: LAPS, key: helpdesk, body: { computerName } });
  return { tenant, caFile, daemon, helpdesk, device, read };
}

async function webhook(t: TestContext, daemon: TestDaemon, receiver: Receiver, name: string, extra: Record<string, unknown> = {}) {
  const res = await daemon.call({
    method: 'POST',
    url: CHANNELS,
    body: {
      name,
      kind: 'webhook',
      url: `${receiver.url}/hook`,
      headers: { Authorization: HEADER_VALUE },
      signingSecret: SIGNING_SECRET,
      bodyTemplate: '{"text": "{{Username}} read {{AccessType}} of {{ComputerName}}: {{Code}}"}',
      ...extra,
    },
  });
  assertMatchesSpec(t, res, 'createNotificationChannel');
  t.equal(res.statusCode, 201, res.body);
  return res.json();
}

/** Waits (at most 10 s) until the receiver has `count` requests. */
function received(receiver: Receiver, count: number) {
  return receiver.untilRequests(count);
}

t.test('a channel is created, shown and audited without its URL, header values or signing secret', async (t) => {
  const { daemon } = await setUp(t);
  const receiver = await startReceiver(t);
  const channel = await webhook(t, daemon, receiver, 'SOC webhook');
  t.match(channel, { name: 'SOC webhook', kind: 'webhook', headerNames: ['Authorization'], hasSigningSecret: true, urlOrigin: receiver.url });
  const listed = await daemon.call({ url: `${CHANNELS}?id=${encodeURIComponent('soc WEBHOOK')}` });
  assertMatchesSpec(t, listed, 'listNotificationChannels');
  t.equal(listed.json().items[0].id, channel.id, 'found by name, whatever the case');
  const everything = JSON.stringify([listed.json(), (await daemon.call({ url: '/v1/audit-events' })).json(), daemon.store.state]);
  for (const secret of [SIGNING_SECRET, HEADER_VALUE, `${receiver.url}/hook`]) t.notOk(everything.includes(secret), `${secret} is nowhere in views, audit or state`);
  t.match((await daemon.call({ url: '/v1/audit-events?type=channel.created' })).json().items[0], { eventId: 2141, target: { id: channel.id } });

  const test = await daemon.call({ method: 'POST', url: `${CHANNELS}/${channel.id}/test` });
  assertMatchesSpec(t, test, 'testNotificationChannel');
  t.match(test.json(), { succeeded: true });
  const [sample] = await received(receiver, 1);
  t.equal(sample!.headers.authorization, HEADER_VALUE, 'the header value arrives');
  t.ok(
    verifyWebhookSignature(SIGNING_SECRET, { timestamp: String(sample!.headers['x-ams-timestamp']), signature: String(sample!.headers['x-ams-signature']), body: sample!.body }),
    'the receiver can verify the signature',
  );

  const bad = await daemon.call({ method: 'POST', url: CHANNELS, body: { name: 'Bad', kind: 'webhook', url: 'http://example.com/hook', bodyTemplate: '{"x": "{{Nope}}"}' } });
  t.equal(bad.statusCode, 400);
  t.same(bad.json().errors.map((e: { path: string }) => e.path).sort(), ['body/bodyTemplate', 'body/url']);
});

t.test('the channel list gives one channel by name, as its summary says', async (t) => {
  const daemon = await startTestDaemon(t);
  const receiver = await startReceiver(t);
  const soc = await webhook(t, daemon, receiver, 'SOC webhook');
  await webhook(t, daemon, receiver, 'Helpdesk webhook');
  const byName = await daemon.call({ url: `${CHANNELS}?name=${encodeURIComponent('soc webhook')}` });
  assertMatchesSpec(t, byName, 'listNotificationChannels');
  t.equal(byName.statusCode, 200, byName.body);
  t.same(byName.json().items.map((c: { id: string }) => c.id), [soc.id], 'the one channel of that name, whatever the case');
  const none = await daemon.call({ url: `${CHANNELS}?name=Pager` });
  assertMatchesSpec(t, none, 'listNotificationChannels');
  t.equal(none.statusCode, 404);
  t.match(none.json().detail, /No notification channel is named 'Pager'/);
  const both = await daemon.call({ url: `${CHANNELS}?name=Pager&id=${soc.id}` });
  t.equal(both.statusCode, 400);
  t.same(both.json().errors, [{ path: 'query/name', message: 'give id or name, not both' }]);
});

/** Each size limit the contract sets on a channel schema: the field too large by one, and where the 400 must point. */
function oversizedFields(schemaName: string): { path: string; field: string; value: unknown }[] {
  const spec = loadSpec();
  const properties = resolveRef<JsonSchema>(spec, { $ref: `#/components/schemas/${schemaName}` }).properties as Record<string, JsonSchema>;
  const cases: { path: string; field: string; value: unknown }[] = [];
  for (const [field, schema] of Object.entries(properties)) {
    const add = (path: string, value: unknown) => cases.push({ path: `body/${path}`, field, value });
    const over = (limit: unknown) => Number(limit) + 1;
    if (schema.maxLength !== undefined) add(field, 'x'.repeat(over(schema.maxLength)));
    if (schema.maxItems !== undefined) add(field, Array.from({ length: over(schema.maxItems) }, (_, i) => `r${i}@example.com`));
    const items = schema.items as JsonSchema | undefined;
    if (items?.maxLength !== undefined) add(`${field}/0`, ['x'.repeat(over(items.maxLength))]);
    if (schema.maxProperties !== undefined) add(field, Object.fromEntries(Array.from({ length: over(schema.maxProperties) }, (_, i) => [`X-Header-${i}`, 'v'])));
    const values = schema.additionalProperties as JsonSchema | undefined;
    if (values?.maxLength !== undefined) add(`${field}/X-Long`, { 'X-Long': 'x'.repeat(over(values.maxLength)) });
  }
  return cases;
}

t.test("every size limit of the contract is a 400 naming the field, on creation and on update", async (t) => {
  const daemon = await startTestDaemon(t);
  const KIND_OF: Record<string, 'webhook' | 'smtp' | 'powershell'> = {
    host: 'smtp', port: 'smtp', tls: 'smtp', username: 'smtp', password: 'smtp', from: 'smtp', to: 'smtp', subjectTemplate: 'smtp', htmlTemplate: 'smtp',
    scriptPath: 'powershell',
  };
  const valid = {
    webhook: { name: 'Hook', kind: 'webhook', url: 'https://hooks.example.com/x' },
    smtp: { name: 'Mail', kind: 'smtp', host: 'smtp.example.com', from: 'amsd@example.com', to: ['soc@example.com'] },
    powershell: { name: 'Script', kind: 'powershell', scriptPath: '/opt/amsd/notify.ps1' },
  };
  const ids: Record<string, string> = {};
  for (const [kind, body] of Object.entries(valid)) {
    const created = await daemon.call({ method: 'POST', url: CHANNELS, body });
    t.equal(created.statusCode, 201, created.body);
    ids[kind] = created.json().id;
  }
  const refused = async (what: string, path: string, request: Parameters<TestDaemon['call']>[0]) => {
    const res = await daemon.call(request);
    t.equal(res.statusCode, 400, `${what}: ${path} too large is refused`);
    t.match(res.headers['content-type'], /^application\/problem\+json/);
    const problem = res.json();
    t.ok(problem.errors?.some((e: { path: string }) => e.path === path), `${what}: the error names ${path}`, { errors: problem.errors });
    t.match(problem.detail, path, `${what}: the detail names ${path}`);
  };

  const creation = oversizedFields('NewNotificationChannel');
  const update = oversizedFields('NotificationChannelUpdate');
  // The limits amsd once restated in code, each still enforced: now by the contract alone.
  const expected = ['name', 'description', 'url', 'headers', 'headers/X-Long', 'signingSecret', 'bodyTemplate', 'password', 'username', 'from', 'to', 'to/0', 'subjectTemplate', 'htmlTemplate', 'scriptPath'].map((f) => `body/${f}`);
  for (const cases of [creation, update]) for (const path of expected) t.ok(cases.some((c) => c.path === path), `the contract limits ${path}`);

  for (const { path, field, value } of creation) {
    const kind = KIND_OF[field] ?? 'webhook';
    await refused('creation', path, { method: 'POST', url: CHANNELS, body: { ...valid[kind], name: `Too large ${path}`, [field]: value } });
  }
  for (const { path, field, value } of update) {
    await refused('update', path, { method: 'PATCH', url: `${CHANNELS}/${ids[KIND_OF[field] ?? 'webhook']}`, body: { [field]: value } });
  }
  t.same((await daemon.call({ url: CHANNELS })).json().items.map((c: { name: string }) => c.name).sort(), ['Hook', 'Mail', 'Script'], 'nothing was created or renamed');
});

t.test("rules name channels: successes and refusals are told, signed, after the audit event", async (t) => {
  const { tenant, daemon, device, read } = await setUp(t);
  const receiver = await startReceiver(t);
  const soc = await webhook(t, daemon, receiver, 'SOC');
  await createRule(t, daemon, {
    description: 'Workstations',
    tenantId: tenant.tenantId,
    groupId: 'All-Workstations',
    principalsAllowedLaps: ['AMS-Helpdesk'],
    notificationChannelsSuccess: ['soc'],
    notificationChannelsFailure: [soc.id],
  });
  t.equal((await read()).statusCode, 200);
  const [success] = await received(receiver, 1);
  // Username is the user the key acts as, not the key's name.
  t.same(JSON.parse(success!.body), { text: `${tenant.directory.users[0]!.userPrincipalName} read LocalAdminPassword of ${device.displayName}: Success` });
  t.ok(verifyWebhookSignature(SIGNING_SECRET, { timestamp: String(success!.headers['x-ams-timestamp']), signature: String(success!.headers['x-ams-signature']), body: success!.body }));

  const history = await daemon.call({ method: 'POST', url: '/v1/secrets/local-admin-password-history', key: (await createKey(t, daemon, { name: 'h2', role: 'user', tenantId: tenant.tenantId, principalId: tenant.directory.users[1]!.id })), body: { computerName: device.displayName } });
  t.equal(history.statusCode, 403);
  const requests = await received(receiver, 2);
  t.match(JSON.parse(requests[1]!.body).text, /LocalAdminPasswordHistory .*: NoMatchingRuleForUser/, 'a refusal reaches the failure channel');

  const inUse = await daemon.call({ method: 'DELETE', url: `${CHANNELS}/${soc.id}` });
  t.equal(inUse.statusCode, 409, 'a channel a rule names cannot be removed');
  t.match(inUse.json().detail, /rule 'Workstations'/);
});

t.test('a mandatory channel that cannot be told refuses the read, audited; others never do', async (t) => {
  const { tenant, daemon, device, read } = await setUp(t);
  const receiver = await startReceiver(t, () => 500);
  await webhook(t, daemon, receiver, 'Must know', { mandatory: true });
  await webhook(t, daemon, receiver, 'Nice to know');
  await createRule(t, daemon, { description: 'Workstations', tenantId: tenant.tenantId, groupId: 'All-Workstations', principalsAllowedLaps: ['AMS-Helpdesk'], notificationChannelsSuccess: ['Nice to know'] });
  t.equal((await read()).statusCode, 200, 'an optional channel that fails does not stop the read');

  await daemon.call({ method: 'PATCH', url: '/v1/service-config', body: { globalChannelsSuccess: ['Must know'] } });
  const refused = await read();
  t.equal(refused.statusCode, 503);
  t.match(refused.json(), { code: 'NotificationFailed', detail: /'Must know' must be told of every read/ });
  t.notOk(refused.body.includes(device.laps!.expected[0]!.password), 'no password in the answer');
  const event = (await daemon.call({ url: '/v1/audit-events?type=secret.read&top=1' })).json().items[0];
  t.match(event, { eventId: 4036, outcome: { code: 'NotificationFailed', message: /Mandatory notification failed: .*Must know.*500/ } });

  receiver.respond = () => 204;
  t.equal((await read()).statusCode, 200, 'once the channel answers, reads go through');
});

t.test('queued deliveries survive a restart and are delivered', async (t) => {
  // The retry is due 4 s after the first attempt: after the restart below, not before it.
  const { tenant, caFile, daemon, read } = await setUp(t, { testing: { notificationBackoffMs: [4000] } });
  const receiver = await startReceiver(t, () => 503);
  await webhook(t, daemon, receiver, 'Flaky');
  await createRule(t, daemon, { description: 'Workstations', tenantId: tenant.tenantId, groupId: 'All-Workstations', principalsAllowedLaps: ['AMS-Helpdesk'], notificationChannelsSuccess: ['Flaky'] });
  t.equal((await read()).statusCode, 200);
  await received(receiver, 1);
  // The receiver has answered; the queue records the attempt just after. Wait for that, bounded.
  const list = () => daemon.call({ url: '/v1/notification-deliveries?status=pending' });
  for (let i = 0; i < 100 && (await list()).json().items[0]?.attempts !== 1; i++) await new Promise((r) => setTimeout(r, 20));
  const pending = await list();
  assertMatchesSpec(t, pending, 'listNotificationDeliveries');
  t.match(pending.json().items, [{ channelName: 'Flaky', status: 'pending', attempts: 1, code: 'Success', lastError: /503/ }], 'waiting for its next attempt');

  await daemon.app.close();
  t.equal(receiver.requests.length, 1, 'the first daemon stopped before the retry was due');
  receiver.respond = () => 204;
  const again = await startTestDaemon(t, daemon.dataDir, { caFile });
  const requests = await received(receiver, 2);
  t.equal(requests.length, 2, 'delivered by the restarted daemon');
  t.equal(requests[0]!.headers['x-ams-delivery-id'], requests[1]!.headers['x-ams-delivery-id'], 'the same delivery id, so a receiver can drop duplicates');
  for (let i = 0; i < 50 && (await again.call({ url: '/v1/notification-deliveries' })).json().items.length > 0; i++) await new Promise((r) => setTimeout(r, 50));
  t.same((await again.call({ url: '/v1/notification-deliveries' })).json().items, [], 'nothing pending');
});

t.test('a delivery that finally fails is listed and put on the audit trail, never dropped', async (t) => {
  const { tenant, daemon, read } = await setUp(t, { testing: { notificationBackoffMs: [10] } });
  const receiver = await startReceiver(t, () => 500);
  const channel = await webhook(t, daemon, receiver, 'Broken');
  await createRule(t, daemon, { description: 'Workstations', tenantId: tenant.tenantId, groupId: 'All-Workstations', principalsAllowedLaps: ['AMS-Helpdesk'], notificationChannelsSuccess: ['Broken'] });
  t.equal((await read()).statusCode, 200);
  let failed: Record<string, unknown>[] = [];
  for (let i = 0; i < 100 && failed.length === 0; i++) {
    await new Promise((r) => setTimeout(r, 50));
    failed = (await daemon.call({ url: '/v1/notification-deliveries?status=failed' })).json().items;
  }
  t.match(failed, [{ channelId: channel.id, status: 'failed', attempts: 8, lastError: /500/ }], 'after every attempt, listed as failed');
  t.equal(receiver.requests.length, 8);
  let audited: Record<string, any>[] = [];
  for (let i = 0; i < 40 && audited.length === 0; i++) {
    audited = (await daemon.call({ url: '/v1/audit-events?type=notification.failed' })).json().items;
    if (audited.length === 0) await new Promise((r) => setTimeout(r, 50));
  }
  t.match(audited[0], { eventId: 4041, actor: { kind: 'system' }, target: { id: channel.id } });
});

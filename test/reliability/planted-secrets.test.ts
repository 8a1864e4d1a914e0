/**
 * Planted secrets: a tenant's client secret and later its certificate key, a webhook channel's URL path
 * and query, header values and signing secret, an SMTP password, admin and user API keys, an Entra
 * token, a key pasted into a URL, the master key, and every LAPS password and BitLocker key of the
 * simulated directory. The daemon then does its work (reads, notifications, a webhook receiver whose
 * error page echoes what it got, a restart), and every place a secret must not be is searched: each log
 * line, each file of the data directory (master.key and bootstrap-admin.key excepted: they are the keys
 * themselves), each answer of every GET operation of the contract (every page, every enum filter), the
 * answers of the changes made, and what the notifications carried out. A key may appear only in the
 * answer that created it, the password and the recovery key only in the answer that read them.
 */
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { join, relative } from 'node:path';
import type { LightMyRequestResponse } from 'fastify';
import { SMTPServer } from 'smtp-server';
import t from 'tap';
import { recordFigures } from './figures.js';
import { listOperations, loadSpec, type JsonSchema } from '../../openapi/contract.js';
import { startReceiver } from '../notifications/fixtures.js';
import { createRule, registerTenant, simulatedTenantFor, startTestDaemon, type TestContext, type TestDaemon } from '../helpers.js';

const AUDIENCE = 'api://amsd-planted';
const NOT_SEARCHED = new Set(['master.key', 'bootstrap-admin.key']);
const tag = () => randomBytes(6).toString('hex');

interface Secret {
  name: string;
  value: string;
  /** Labels of the answers allowed to carry it (the one that created or read it). */
  earnedBy?: string;
}

interface Place {
  kind: 'log line' | 'data file' | 'answer' | 'notification sent';
  label: string;
  text: string;
}

/** The forms a secret could take where it leaks: as is, base64 (UTF-8 and, for passwords, UTF-16LE as Graph sends them), percent-encoded. */
function formsOf(secret: string): string[] {
  const forms = new Set([secret, Buffer.from(secret).toString('base64'), Buffer.from(secret).toString('base64url'), encodeURIComponent(secret), Buffer.from(secret, 'utf16le').toString('base64')]);
  return [...forms].filter((form) => form.length >= 8);
}

/** A PEM's base64 lines, each long enough to stand for the whole. */
function pemPieces(pem: string): string[] {
  return pem.split('\n').filter((line) => /^[A-Za-z0-9+/=]{40,}$/.test(line.trim())).map((line) => line.trim());
}

async function startMailServer(t: TestContext, credentials: { username: string; password: string }) {
  const mails: string[] = [];
  const server = new SMTPServer({
    secure: false,
    disabledCommands: ['STARTTLS'],
    allowInsecureAuth: true,
    logger: false,
    onAuth(auth, _session, callback) {
      if (auth.username === credentials.username && auth.password === credentials.password) return callback(null, { user: auth.username });
      callback(new Error('Invalid username or password'));
    },
    onData(stream, _session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        mails.push(Buffer.concat(chunks).toString('utf8'));
        callback();
      });
    },
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return { port: (server.server.address() as AddressInfo).port, mails };
}

async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true, recursive: true });
  return entries.filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name));
}

/** Polls (bounded) until `done` holds; the queue has no event to wait on from outside. */
async function until(what: string, done: () => Promise<boolean>) {
  for (let i = 0; i < 200; i++) {
    if (await done()) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`timed out waiting until ${what}`);
}

/** Every GET operation of the contract, every page, once unfiltered and once per value of each enum filter. */
async function answersOfEveryGet(t: TestContext, daemon: TestDaemon, given: Record<string, Record<string, string>>): Promise<Place[]> {
  const places: Place[] = [];
  for (const operation of listOperations(loadSpec()).filter((op) => op.method === 'get')) {
    const properties = (operation.schema.querystring?.properties ?? {}) as Record<string, JsonSchema>;
    const queries: Record<string, string>[] = [{}];
    for (const [name, schema] of Object.entries(properties)) {
      const values = (schema.enum ?? (schema.allOf as JsonSchema[] | undefined)?.[0]?.enum) as unknown[] | undefined;
      for (const value of values ?? []) queries.push({ [name]: String(value) });
    }
    const requiredHere = given[operation.operationId] ?? {};
    const limit: Record<string, string> = typeof properties.limit?.maximum === 'number' ? { limit: String(properties.limit.maximum) } : {};
    for (const query of queries) {
      let cursor: string | undefined;
      for (let page = 0; page < 100; page++) {
        const params: Record<string, string> = { ...requiredHere, ...limit, ...query, ...(cursor ? { cursor } : {}) };
        const search = new URLSearchParams(params).toString();
        const url = search ? `${operation.path}?${search}` : operation.path;
        const res = await daemon.call({ url });
        t.ok(res.statusCode < 300, `GET ${url}: ${res.statusCode === 200 ? 'ok' : res.body.slice(0, 300)}`);
        places.push({ kind: 'answer', label: `GET ${url}`, text: res.body });
        cursor = res.headers['content-type']?.toString().includes('json') ? res.json<{ nextCursor?: string }>().nextCursor : undefined;
        if (!cursor) break;
      }
    }
  }
  return places;
}

t.test('planted secrets appear nowhere but in the one answer that earned them', async (t) => {
  const { tenant, caFile } = await simulatedTenantFor(t, { devices: 5 });
  const daemon = await startTestDaemon(t, undefined, { caFile, testing: { notificationBackoffMs: [20] } });
  const answers: Place[] = [];
  /** An admin call whose answer is searched too, under `label`. */
  const call = async (label: string, options: Parameters<TestDaemon['call']>[0]) => {
    const res = await daemon.call(options);
    answers.push({ kind: 'answer', label, text: res.body });
    return res;
  };
  const expect = (res: LightMyRequestResponse, status: number, what: string) => t.equal(res.statusCode, status, `${what}: ${res.statusCode === status ? 'ok' : res.body.slice(0, 400)}`);

  // The tenant, with the simulated app's client secret; user sign-in on, so that a token can be planted.
  await registerTenant(t, daemon, tenant);
  const helpdeskGroup = tenant.directory.groups.find((g) => g.displayName === 'AMS-Helpdesk')!;
  expect(await call('PATCH tenant (sign-in)', { method: 'PATCH', url: `/v1/tenants/${tenant.tenantId}`, body: { userSignInAudiences: [AUDIENCE], userSignInClientId: tenant.app.clientId } }), 200, 'sign-in configured');

  // A webhook whose URL path and query, header values and signing secret are secrets, at a receiver whose
  // 404 page echoes the request line and headers (as default error pages and debugging proxies do).
  const hook = { path: `hooks/PATHSECRET${tag()}`, query: `QUERYSECRET${tag()}`, apiKey: `HEADERSECRET${tag()}`, bearer: `AUTHSECRET${tag()}`, signing: `SIGNINGSECRET${tag()}` };
  const receiver = await startReceiver(t, (request, response) => {
    response.statusCode = 404;
    response.setHeader('content-type', 'text/plain');
    response.end(`Cannot ${request.method} ${request.url}\n${JSON.stringify(request.headers)}`);
  });
  const webhook = await call('POST channel (webhook)', {
    method: 'POST',
    url: '/v1/notification-channels',
    body: { name: 'SOC hook', kind: 'webhook', url: `${receiver.url}/${hook.path}?sig=${hook.query}`, headers: { 'X-Api-Key': hook.apiKey, Authorization: `Bearer ${hook.bearer}` }, signingSecret: hook.signing },
  });
  expect(webhook, 201, 'webhook channel created');
  const smtpPassword = `SMTPPASSWORD${tag()}`;
  const mail = await startMailServer(t, { username: 'amsd', password: smtpPassword });
  const smtp = await call('POST channel (smtp)', {
    method: 'POST',
    url: '/v1/notification-channels',
    body: { name: 'SOC mail', kind: 'smtp', host: '127.0.0.1', port: mail.port, tls: 'none', username: 'amsd', password: smtpPassword, from: 'amsd@contoso.example', to: ['soc@contoso.example'] },
  });
  expect(smtp, 201, 'SMTP channel created');
  // The same secrets in requests that are refused: the refusal must not repeat them.
  const refusedUrl = `URLSECRET${tag()}`;
  const refusedHeader = `REFUSEDHEADER${tag()}`;
  const refusedChannel = await call('POST channel (refused)', {
    method: 'POST',
    url: '/v1/notification-channels',
    body: { name: 'Refused hook', kind: 'webhook', url: `http://receiver.example/hooks/${refusedUrl}?token=${refusedUrl}`, headers: { 'X-Api-Key': refusedHeader, 'Content-Type': refusedHeader } },
  });
  expect(refusedChannel, 400, 'a plain-http webhook off loopback (and a header amsd sets) is refused');
  // An SMTP server that refuses the password it is given.
  const refusedPassword = `WRONGPASSWORD${tag()}`;
  const wrongMail = await call('POST channel (smtp, wrong password)', {
    method: 'POST',
    url: '/v1/notification-channels',
    body: { name: 'Wrong mail', kind: 'smtp', host: '127.0.0.1', port: mail.port, tls: 'none', username: 'amsd', password: refusedPassword, from: 'amsd@contoso.example', to: ['soc@contoso.example'] },
  });
  expect(wrongMail, 201, 'SMTP channel with a wrong password created');
  const wrongMailTest = await call('POST channel test (smtp, wrong password)', { method: 'POST', url: `/v1/notification-channels/${wrongMail.json().id}/test` });
  t.match(wrongMailTest.json(), { succeeded: false, error: /./ }, 'the mail server refuses the wrong password, and the answer says why');
  const webhookTest = await call('POST channel test (webhook)', { method: 'POST', url: `/v1/notification-channels/${webhook.json().id}/test` });
  t.match(webhookTest.json(), { succeeded: false, error: /404/ }, 'the webhook test fails with the echoing 404 page');
  const smtpTest = await call('POST channel test (smtp)', { method: 'POST', url: `/v1/notification-channels/${smtp.json().id}/test` });
  t.match(smtpTest.json(), { succeeded: true }, 'the SMTP channel delivers');

  // New header value and signing secret: the change is audited, the old and the new values are not.
  const rotated = { apiKey: `ROTATEDHEADER${tag()}`, signing: `ROTATEDSIGNING${tag()}` };
  expect(
    await call('PATCH channel (webhook)', { method: 'PATCH', url: `/v1/notification-channels/${webhook.json().id}`, body: { headers: { 'X-Api-Key': rotated.apiKey, Authorization: `Bearer ${hook.bearer}` }, signingSecret: rotated.signing } }),
    200,
    'webhook channel credentials changed',
  );
  // Refusals are told too, on the global channels.
  expect(await call('PATCH service-config', { method: 'PATCH', url: '/v1/service-config', body: { globalChannelsFailure: ['SOC hook', 'SOC mail'] } }), 200, 'global failure channels set');

  // Keys: each appears in the answer that created it, and nowhere else.
  const user = tenant.directory.users[0]!; // in AMS-Helpdesk
  const adminKeyAnswer = await call('POST api-key (admin)', { method: 'POST', url: '/v1/api-keys', body: { name: 'second admin', role: 'admin' } });
  const userKeyAnswer = await call('POST api-key (user)', { method: 'POST', url: '/v1/api-keys', body: { name: 'helpdesk', role: 'user', tenantId: tenant.tenantId, principalId: user.id } });
  expect(adminKeyAnswer, 201, 'admin key created');
  expect(userKeyAnswer, 201, 'user key created');
  const userKey: string = userKeyAnswer.json().key;

  await createRule(t, daemon, {
    description: 'Helpdesk: every device',
    tenantId: tenant.tenantId,
    principalsAllowedLaps: [helpdeskGroup.displayName],
    principalsAllowedBitLocker: [helpdeskGroup.displayName],
    notificationChannelsSuccess: ['SOC hook', 'SOC mail'],
  });

  // The reads: one password, one device's recovery keys.
  const device = tenant.directory.devices.find((d) => d.laps && d.bitlockerKeys.length > 0)!;
  const password = await call('POST read password', { method: 'POST', url: '/v1/secrets/local-admin-password', key: userKey, body: { computerName: device.displayName } });
  expect(password, 200, 'password read');
  t.equal(password.json().password, device.laps!.expected[0]!.password, 'the password read is the current one');
  const recovery = await call('POST read recovery keys', { method: 'POST', url: '/v1/secrets/bitlocker-recovery-keys', key: userKey, body: { computerName: device.displayName } });
  expect(recovery, 200, 'recovery keys read');

  // A refused read (the admin key acts as no user: no rule matches), told to the global channels; and a
  // read refused because a mandatory channel (the echoing webhook) cannot be told.
  expect(await call('POST read password (refused)', { method: 'POST', url: '/v1/secrets/local-admin-password', body: { computerName: device.displayName } }), 403, 'a read no rule allows');
  expect(await call('PATCH channel (mandatory)', { method: 'PATCH', url: `/v1/notification-channels/${webhook.json().id}`, body: { mandatory: true } }), 200, 'the webhook is now mandatory');
  expect(await call('POST read password (mandatory channel fails)', { method: 'POST', url: '/v1/secrets/local-admin-password', key: userKey, body: { computerName: device.displayName } }), 503, 'the read is refused: its mandatory channel cannot be told');

  // An Entra token and a key where keys do not go: presented, never kept.
  const token = await tenant.issueUserToken({ oid: user.id, audience: AUDIENCE, groups: [helpdeskGroup.id] });
  expect(await call('GET /v1/me (token)', { url: '/v1/me', key: token }), 200, 'the Entra token is accepted');
  const pastedKey: string = adminKeyAnswer.json().key;
  expect(await call('GET /v1/me?apiKey=<key>', { url: `/v1/me?apiKey=${pastedKey}`, key: null }), 401, 'a key in the URL is no credential');
  // Keys and tokens pasted where an id goes (Remove-AmsApiKey given the key it means to revoke) or under a
  // query name that does not say "key". These answers go back only to their sender (a problem's `instance`
  // repeats the path), so they are not searched; the log lines about them are.
  const pastedInPath = `ams_${randomBytes(32).toString('base64url')}`;
  const pastedToken = await tenant.issueUserToken({ oid: user.id, audience: AUDIENCE });
  for (const [method, url] of [
    ['DELETE', `/v1/api-keys/${pastedInPath}`],
    ['DELETE', `/v1/api-keys/${encodeURIComponent(`Bearer ${pastedInPath}`)}`],
    ['POST', `/v1/tenants/${pastedToken}/test`],
    ['GET', `/v1/devices?q=${pastedToken}`],
    ['GET', `/v1/devices?filter=${encodeURIComponent(`Bearer ${pastedInPath}`)}`],
  ] as const) {
    const res = await daemon.call({ method, url });
    t.ok(res.statusCode >= 400 && res.statusCode < 500, `${method} with a pasted credential in the URL is refused: ${res.statusCode}`);
  }
  const wrongKey = `ams_${randomBytes(32).toString('base64url')}`;
  expect(await call('GET /v1/me (unknown key)', { url: '/v1/me', key: wrongKey }), 401, 'an unknown key is refused');

  // A wrong client secret, tested (Entra refuses it), and a private key that does not match the certificate.
  const wrongClientSecret = `WRONGCLIENTSECRET${tag()}`;
  expect(await call('PATCH tenant (wrong secret)', { method: 'PATCH', url: `/v1/tenants/${tenant.tenantId}`, body: { clientSecret: wrongClientSecret } }), 200, 'the tenant gets a wrong secret');
  const failedTest = await call('POST tenant test (wrong secret)', { method: 'POST', url: `/v1/tenants/${tenant.tenantId}/test` });
  expect(failedTest, 200, 'tenant tested');
  t.match(failedTest.json(), { succeeded: false }, 'the wrong secret fails the sign-in check');
  const strangerKey = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  expect(
    await call('PATCH tenant (mismatched key)', { method: 'PATCH', url: `/v1/tenants/${tenant.tenantId}`, body: { certificatePem: tenant.app.certificate.certificatePem, privateKeyPem: strangerKey } }),
    400,
    'a private key that is not the certificate\'s is refused',
  );

  // The certificate replaces the client secret; both stay secrets.
  const { certificatePem, privateKeyPem } = tenant.app.certificate;
  expect(await call('PATCH tenant (certificate)', { method: 'PATCH', url: `/v1/tenants/${tenant.tenantId}`, body: { certificatePem, privateKeyPem } }), 200, 'the tenant now signs in with its certificate');
  expect(await call('POST tenant test', { method: 'POST', url: `/v1/tenants/${tenant.tenantId}/test` }), 200, 'tenant tested');

  // The deliveries: the echoing webhook fails for good (a 404 is not retried), the mail goes out.
  await until('the webhook deliveries failed and the mail went', async () => {
    const failed = (await daemon.call({ url: '/v1/notification-deliveries?status=failed' })).json().items as { channelName: string }[];
    const pending = (await daemon.call({ url: '/v1/notification-deliveries?status=pending' })).json().items as unknown[];
    // Two granted reads and one refusal told (the mandatory attempt is made at once, not queued); mail: the test, those three.
    return pending.length === 0 && failed.filter((d) => d.channelName === 'SOC hook').length >= 3 && mail.mails.length >= 4;
  });
  t.ok(receiver.requests.length >= 3, 'the webhook receiver was called by the test and for both reads');
  t.match(receiver.requests[0]!.url, hook.query, 'the receiver got the secret URL (and echoed it)');

  // The one GET that needs query values: what a user may do on a device.
  const required = { getEffectiveAccess: { user: user.userPrincipalName, computerName: device.displayName } };
  const beforeRestart = await answersOfEveryGet(t, daemon, required);
  await daemon.app.close();
  // The restart reads everything back (and logs what it does) on the same data directory.
  const again = await startTestDaemon(t, daemon.dataDir, { caFile });
  const afterRestart = await answersOfEveryGet(t, again, required);

  const masterKey = await readFile(join(daemon.dataDir, 'master.key'));
  const secrets: Secret[] = [
    { name: 'tenant client secret', value: tenant.app.clientSecret },
    ...pemPieces(privateKeyPem).map((value, i) => ({ name: `tenant private key, line ${i + 1}`, value })),
    { name: 'wrong client secret', value: wrongClientSecret },
    ...pemPieces(strangerKey).map((value, i) => ({ name: `refused private key, line ${i + 1}`, value })),
    { name: 'refused webhook URL secret', value: refusedUrl },
    { name: 'refused webhook header value', value: refusedHeader },
    { name: 'refused SMTP password', value: refusedPassword },
    { name: 'webhook URL path', value: hook.path },
    { name: 'webhook URL query value', value: hook.query },
    { name: 'webhook header value (X-Api-Key)', value: hook.apiKey },
    { name: 'webhook header value (Authorization)', value: hook.bearer },
    { name: 'webhook signing secret', value: hook.signing },
    { name: 'webhook header value (X-Api-Key), rotated', value: rotated.apiKey },
    { name: 'webhook signing secret, rotated', value: rotated.signing },
    { name: 'SMTP password', value: smtpPassword },
    { name: 'bootstrap admin key', value: daemon.adminKey },
    { name: 'admin API key', value: pastedKey, earnedBy: 'POST api-key (admin)' },
    { name: 'user API key', value: userKey, earnedBy: 'POST api-key (user)' },
    { name: 'unknown API key presented', value: wrongKey },
    { name: 'key pasted into a URL path', value: pastedInPath },
    { name: 'Entra token pasted into a URL', value: pastedToken },
    { name: 'Entra access token', value: token },
    { name: 'Entra token signature', value: token.split('.')[2]! },
    { name: 'master key (hex)', value: masterKey.length === 32 ? masterKey.toString('hex') : masterKey.toString('utf8').trim() },
    { name: 'master key (base64)', value: masterKey.length === 32 ? masterKey.toString('base64') : Buffer.from(masterKey.toString('utf8').trim()).toString('base64') },
  ];
  // Every password and recovery key of the directory: only the two read may appear, each in its answer.
  for (const d of tenant.directory.devices) {
    for (const [i, p] of (d.laps?.expected ?? []).entries()) {
      const read = d === device && i === 0;
      secrets.push({ name: `LAPS password ${d.displayName} #${i}${read ? ' (read)' : ''}`, value: p.password, ...(read ? { earnedBy: 'POST read password' } : {}) });
    }
    for (const key of d.bitlockerKeys) {
      const read = d === device;
      secrets.push({ name: `recovery key ${d.displayName} ${key.id.slice(0, 8)}${read ? ' (read)' : ''}`, value: key.key, ...(read ? { earnedBy: 'POST read recovery keys' } : {}) });
    }
  }
  t.ok(recovery.body.includes(device.bitlockerKeys[0]!.key) && password.body.includes(device.laps!.expected[0]!.password), 'control: the earning answers do carry their secrets');

  const places: Place[] = [
    ...[...daemon.logLines, ...again.logLines].map((text, i) => ({ kind: 'log line' as const, label: `log line ${i + 1}: ${text.slice(0, 160)}`, text })),
    ...(await Promise.all(
      (await filesUnder(daemon.dataDir))
        .filter((file) => !NOT_SEARCHED.has(relative(daemon.dataDir, file)))
        .map(async (file) => ({ kind: 'data file' as const, label: relative(daemon.dataDir, file), text: (await readFile(file)).toString('latin1') })),
    )),
    ...answers,
    ...beforeRestart,
    ...afterRestart.map((p) => ({ ...p, label: `${p.label} (after restart)` })),
    // What went out: the receivers may have the channel's own credentials, but no password or key read.
    ...receiver.requests.map((r, i) => ({ kind: 'notification sent' as const, label: `webhook request ${i + 1}`, text: r.body })),
    ...mail.mails.map((text, i) => ({ kind: 'notification sent' as const, label: `mail ${i + 1}`, text })),
  ];
  t.ok(places.some((p) => p.label === 'amsd.json') && places.some((p) => p.label.startsWith('audit/')) && places.some((p) => p.label === 'notifications/queue.json'), 'the state, the audit trail and the queue are among the files searched');

  const leaks: { secret: string; place: string; form: string }[] = [];
  for (const secret of secrets) {
    const forms = formsOf(secret.value);
    for (const place of places) {
      if (secret.earnedBy && place.label === secret.earnedBy) continue;
      // The receivers legitimately get their own channel's URL and headers; only read secrets count there.
      if (place.kind === 'notification sent' && !secret.name.startsWith('LAPS') && !secret.name.startsWith('recovery')) continue;
      const form = forms.find((f) => place.text.includes(f));
      if (form) leaks.push({ secret: secret.name, place: `${place.kind}: ${place.label}`, form: form === secret.value ? 'in clear' : `encoded as ${form.slice(0, 12)}…` });
    }
  }
  t.same(leaks, [], 'no planted secret anywhere it must not be');

  const count = (kind: Place['kind']) => places.filter((p) => p.kind === kind).length;
  const rows: [string, number][] = [
    ['secrets planted', secrets.length],
    ['  earned by one answer', secrets.filter((s) => s.earnedBy).length],
    ['places searched', places.length],
    ['  log lines', count('log line')],
    ['  data files', count('data file')],
    ['  answers', count('answer')],
    ['  notifications sent', count('notification sent')],
    ['leaks', leaks.length],
  ];
  const width = Math.max(...rows.map(([label]) => label.length));
  t.comment(['planted secrets', ...rows.map(([label, n]) => `${label.padEnd(width)}  ${String(n).padStart(6)}`)].join('\n'));
  await recordFigures('planted secrets', { 'secrets planted': secrets.length, 'places searched': places.length, leaks: leaks.length });
});

/**
 * Channel validation and views: every bad field named, secrets sealed at rest and never shown.
 */
import t from 'tap';
import { createAjv } from '../../daemon/common/ajv.js';
import type { FieldError } from '../../daemon/http/problem.js';
import { loadSpec, toJsonSchema } from '../../openapi/contract.js';
import { channelRecordSchema } from '../../daemon/store/channel-record-schema.js';
import type { ChannelUpdate } from '../../daemon/notifications/channel-contract.js';
import { enabledChannels, findChannel, resolveChannelRefs } from '../../daemon/notifications/channel-references.js';
import { channelSealingContext } from '../../daemon/notifications/channel-sealing.js';
import { applyChannelUpdate } from '../../daemon/notifications/channel-update.js';
import { toChannelView } from '../../daemon/notifications/channel-view.js';
import { validateNewChannel } from '../../daemon/notifications/new-channel.js';
import type { ChannelRecord, SmtpChannelRecord, WebhookChannelRecord } from '../../daemon/store/records.js';
import { channel, newChannel, sealer, type ChannelInput } from './fixtures.js';

const ajv = createAjv({ allErrors: true, strict: true });
const validateRecord = ajv.compile(channelRecordSchema);

const context = (existing: ChannelRecord[] = []) => ({ sealer, existing, author: 'alice@contoso.example', now: new Date('2026-05-01T09:00:00.000Z') });

function errorsOf(input: ChannelInput, existing: ChannelRecord[] = []): FieldError[] {
  const result = validateNewChannel(newChannel(input), context(existing));
  if (!result.errors) throw new Error(`expected errors, got a record for ${input.name}`);
  return result.errors;
}

function updateErrors(record: ChannelRecord, update: ChannelUpdate, existing: ChannelRecord[] = [record]): FieldError[] {
  const result = applyChannelUpdate(record, update, context(existing));
  if (!result.errors) throw new Error('expected errors, got a record');
  return result.errors;
}

/** The paths of the errors, with a message matching each. */
function paths(errors: FieldError[]): Record<string, string> {
  return Object.fromEntries(errors.map((e) => [e.path, e.message]));
}

// Distinctive values that must never be seen in a view, or in clear in a stored record.
const PLANTED = {
  urlPath: '/services/T0PLANTED/B0PLANTED/urlsecretXYZ123',
  headerValue: 'Bearer planted-header-value-7f3a',
  signingSecret: 'planted-signing-secret-9c2e',
  password: 'planted-smtp-password-41d8',
};

const webhookInput: ChannelInput = {
  name: 'SOC Teams',
  kind: 'webhook',
  url: `https://hooks.example.com${PLANTED.urlPath}?token=abc`,
  headers: { Authorization: PLANTED.headerValue, 'X-Team': 'soc' },
  signingSecret: PLANTED.signingSecret,
  mandatory: true,
};

const smtpInput: ChannelInput = {
  name: 'Helpdesk mail',
  kind: 'smtp',
  host: 'smtp.contoso.example',
  username: 'amsd@contoso.example',
  password: PLANTED.password,
  from: 'AMS <amsd@contoso.example>',
  to: ['helpdesk@contoso.example', 'soc@contoso.example'],
};

t.test('a webhook channel: defaults filled, secrets sealed per channel and field', async (t) => {
  const result = validateNewChannel(newChannel(webhookInput), context());
  t.notOk(result.errors, JSON.stringify(result.errors));
  const record = result.record as WebhookChannelRecord;
  t.match(record, {
    name: 'SOC Teams',
    kind: 'webhook',
    enabled: true,
    mandatory: true,
    urlOrigin: 'https://hooks.example.com',
    method: 'POST',
    contentType: 'application/json',
    bodyTemplate: /"eventId": \{\{EventId\}\}/,
    createdAt: '2026-05-01T09:00:00.000Z',
    createdBy: 'alice@contoso.example',
  });
  t.same(validateRecord(record) ? [] : validateRecord.errors, [], 'the record matches the stored schema');
  const stored = JSON.stringify(record);
  for (const [what, value] of Object.entries(PLANTED)) t.notMatch(stored, value, `the ${what} is not in clear at rest`);
  t.equal(sealer.unseal(record.sealedUrl, channelSealingContext(record.id, 'url')), webhookInput.url);
  t.equal(sealer.unseal(record.headers[0]!.sealedValue, channelSealingContext(record.id, 'header:authorization')), PLANTED.headerValue);
  t.equal(sealer.unseal(record.sealedSigningSecret!, channelSealingContext(record.id, 'signingSecret')), PLANTED.signingSecret);
  t.throws(() => sealer.unseal(record.sealedSigningSecret!, channelSealingContext(record.id, 'url')), 'a sealed value does not open as another field');
  const other = channel({ ...webhookInput, name: 'Other' });
  t.throws(() => sealer.unseal(record.sealedUrl, channelSealingContext(other.id, 'url')), 'nor as another channel');
});

t.test('views show names and flags, never a secret', async (t) => {
  const webhook = channel(webhookInput);
  const mail = channel(smtpInput);
  const script = channel({ name: 'Log script', kind: 'powershell', scriptPath: '/opt/amsd/notify.ps1' });
  const views = [webhook, mail, script].map(toChannelView);
  t.match(views[0], { urlOrigin: 'https://hooks.example.com', headerNames: ['Authorization', 'X-Team'], hasSigningSecret: true });
  t.match(views[1], { host: 'smtp.contoso.example', port: 587, tls: 'starttls', username: 'amsd@contoso.example', hasPassword: true, to: ['helpdesk@contoso.example', 'soc@contoso.example'] });
  t.match(views[2], { kind: 'powershell', scriptPath: '/opt/amsd/notify.ps1' });
  const shown = JSON.stringify(views);
  for (const [what, value] of Object.entries(PLANTED)) t.notMatch(shown, value, `no ${what} in a view`);
  t.notMatch(shown, /sealed|v1\./, 'no sealed value either');
  t.notMatch(shown, 'T0PLANTED', 'no part of the URL path');
  for (const view of views) t.notOk('url' in view || 'password' in view || 'signingSecret' in view || 'headers' in view);

  const updated = applyChannelUpdate(webhook, { headers: { 'X-Api-Key': 'planted-new-header-value' } }, context([webhook]));
  t.notMatch(JSON.stringify(toChannelView(updated.record!)), 'planted-new-header-value');
});

t.test('a webhook: every bad field is named', async (t) => {
  const errors = paths(
    errorsOf({
      name: '  ',
      kind: 'webhook',
      url: 'http://hooks.example.com/x',
      method: 'GET' as 'POST',
      contentType: 'json',
      headers: { 'X-Token': 'a', 'x-token': 'b', 'Content-Type': 'text/plain', 'Bad Name': 'c', 'X-Multi': 'one\r\nInjected: yes', 'X-Ams-Signature': 'forged' },
      bodyTemplate: '{"who": "{{Nobody}}"}',
      signingSecret: '',
      host: 'smtp.example.com',
    }),
  );
  t.match(errors, {
    'body/name': /more than spaces/,
    'body/url': /plain http is allowed only to a loopback address/,
    'body/method': /POST, PUT/,
    'body/contentType': /media type/,
    'body/headers/x-token': /same header as 'X-Token'/,
    'body/headers/Content-Type': /contentType/,
    'body/headers/Bad Name': /not a valid header name/,
    'body/headers/X-Multi': /one line/,
    'body/headers/X-Ams-Signature': /set by amsd/,
    'body/bodyTemplate': /\{\{Nobody\}\} is not a known variable/,
    'body/signingSecret': /must not be empty/,
    'body/host': /applies to smtp channels only/,
  });
  t.match(paths(errorsOf({ name: 'a', kind: 'webhook', url: 'ftp://example.com/' })), { 'body/url': /https URL/ });
  t.match(paths(errorsOf({ name: 'a', kind: 'webhook', url: 'https://user:pw@example.com/' })), { 'body/url': /credentials/ });
  t.match(paths(errorsOf({ name: 'a', kind: 'webhook', url: 'not a url' })), { 'body/url': /absolute URL/ });
  t.match(paths(errorsOf({ name: 'a', kind: 'webhook' })), { 'body/url': /required/ });
  t.match(paths(errorsOf({ name: 'a', kind: 'webhook', url: 'https://example.com/', bodyTemplate: '{"a": "{{Reason}}",}' })), { 'body/bodyTemplate': /valid JSON/ });
  t.match(paths(errorsOf({ name: 'a', kind: 'webhook', url: 'https://example.com/', bodyTemplate: '{"a": {{Reason}}}' })), { 'body/bodyTemplate': /inside a JSON string/ });
  t.match(paths(errorsOf({ name: 'a', kind: 'nope' as 'webhook' })), { 'body/kind': /webhook, smtp, powershell/ });

  for (const url of ['http://127.0.0.1:8080/hook', 'http://localhost/hook', 'http://[::1]:9000/']) {
    t.ok(validateNewChannel(newChannel({ name: 'local', kind: 'webhook', url }), context()).record, `${url} is allowed (loopback)`);
  }
});

t.test('names: unique whatever their case, and never shaped like an id', async (t) => {
  const existing = [channel(webhookInput)];
  t.match(paths(errorsOf({ ...smtpInput, name: 'soc teams' }, existing)), { 'body/name': /already the name of channel/ });
  t.match(paths(errorsOf({ ...smtpInput, name: '8f0d3c2e-5b7a-4a51-9a0e-0c1d2e3f4a5b' })), { 'body/name': /GUID/ });
  t.equal(findChannel(existing, 'SOC TEAMS')?.id, existing[0]!.id);
  t.equal(findChannel(existing, existing[0]!.id.toUpperCase())?.id, existing[0]!.id);
  const errors: FieldError[] = [];
  t.same(resolveChannelRefs(existing, ['soc teams', existing[0]!.id, 'Nope'], 'body/notificationChannelsSuccess', errors), [existing[0]!.id]);
  t.match(paths(errors), { 'body/notificationChannelsSuccess/2': /no notification channel 'Nope'/ });
  const mail = channel(smtpInput);
  const off = { ...channel({ ...smtpInput, name: 'off' }), enabled: false };
  t.same(enabledChannels([existing[0]!, mail, off], [mail.id, off.id, 'gone', existing[0]!.id, mail.id]).map((c) => c.id), [mail.id, existing[0]!.id], 'each enabled channel once, in order');
});

t.test('SMTP: missing and bad fields named, credentials guarded', async (t) => {
  t.match(paths(errorsOf({ name: 'mail', kind: 'smtp' })), {
    'body/host': /required/,
    'body/from': /required/,
    'body/to': /at least one recipient/,
  });
  t.match(
    paths(
      errorsOf({
        name: 'mail',
        kind: 'smtp',
        host: 'smtp server',
        port: 70000,
        tls: 'ssl' as 'tls',
        from: 'not-an-address',
        to: ['ok@example.com', 'bad address', 'x@example.com\r\nBcc: evil@example.com'],
        subjectTemplate: 'Hi {{Nobody}}\nBcc: evil@example.com',
        htmlTemplate: '<p>{{Name}}</p>',
        url: 'https://example.com',
      }),
    ),
    {
      'body/host': /host name or IP address/,
      'body/port': /1 to 65535/,
      'body/tls': /none, starttls, tls/,
      'body/from': /mail address/,
      'body/to/1': /mail address/,
      'body/to/2': /mail address/,
      'body/subjectTemplate': /Nobody|one line/,
      'body/htmlTemplate': /ambiguous/,
      'body/url': /applies to webhook channels only/,
    },
  );
  t.match(paths(errorsOf({ ...smtpInput, username: undefined })), { 'body/password': /needs a username/ });
  t.match(paths(errorsOf({ ...smtpInput, password: undefined })), { 'body/password': /required with a username/ });
  t.match(paths(errorsOf({ ...smtpInput, tls: 'none' })), { 'body/tls': /clear text/ });
  t.ok(validateNewChannel(newChannel({ ...smtpInput, host: '127.0.0.1', tls: 'none' }), context()).record, 'clear text to a loopback relay is allowed');
  const implicit = channel({ ...smtpInput, tls: 'tls' }) as SmtpChannelRecord;
  t.equal(implicit.port, 465, 'the port follows the TLS mode');
  t.same(validateRecord(implicit) ? [] : validateRecord.errors, []);
});

t.test('PowerShell: an absolute path to a .ps1', async (t) => {
  t.match(paths(errorsOf({ name: 'ps', kind: 'powershell', scriptPath: 'notify.ps1' })), { 'body/scriptPath': /absolute path/ });
  t.match(paths(errorsOf({ name: 'ps', kind: 'powershell', scriptPath: '/opt/notify.sh' })), { 'body/scriptPath': /\.ps1/ });
  t.match(paths(errorsOf({ name: 'ps', kind: 'powershell' })), { 'body/scriptPath': /required/ });
  t.match(paths(errorsOf({ name: 'ps', kind: 'powershell', scriptPath: '/opt/notify.ps1', headers: {} })), { 'body/headers': /webhook channels only/ });
  t.same(validateRecord(channel({ name: 'ps', kind: 'powershell', scriptPath: '/opt/notify.ps1' })) ? [] : validateRecord.errors, []);
});

t.test('updates: only what is given changes, checked like a creation', async (t) => {
  const webhook = channel(webhookInput) as WebhookChannelRecord;
  const other = channel({ ...smtpInput, name: 'Other' });
  const result = applyChannelUpdate(
    webhook,
    { url: 'https://hooks.example.net/new', headers: {}, signingSecret: null, enabled: false, description: 'moved' },
    { ...context([webhook, other]), now: new Date('2026-05-02T00:00:00.000Z') },
  );
  const updated = result.record as WebhookChannelRecord;
  t.match(updated, { urlOrigin: 'https://hooks.example.net', headers: [], enabled: false, description: 'moved', mandatory: true, modifiedAt: '2026-05-02T00:00:00.000Z', modifiedBy: 'alice@contoso.example' });
  t.notOk('sealedSigningSecret' in updated, 'the signing secret is removed');
  t.equal(sealer.unseal(updated.sealedUrl, channelSealingContext(webhook.id, 'url')), 'https://hooks.example.net/new');
  t.equal(updated.bodyTemplate, webhook.bodyTemplate);
  t.same(validateRecord(updated) ? [] : validateRecord.errors, []);
  t.notOk('modifiedAt' in webhook, 'the record given is not changed');

  t.match(paths(updateErrors(webhook, { kind: 'smtp', name: 'other', url: 'http://example.com', host: 'x' }, [webhook, other])), {
    'body/kind': /cannot be changed/,
    'body/name': /already the name/,
    'body/url': /loopback/,
    'body/host': /smtp channels only/,
  });
  t.ok(applyChannelUpdate(webhook, { name: 'soc TEAMS' }, context([webhook])).record, 'a channel may keep its own name in another case');

  const mail = channel(smtpInput) as SmtpChannelRecord;
  const noAuth = applyChannelUpdate(mail, { username: null }, context([mail])).record as SmtpChannelRecord;
  t.notOk(noAuth.username ?? noAuth.sealedPassword, 'removing the username removes the password');
  t.match(paths(updateErrors(mail, { password: null })), { 'body/password': /required with a username/ });
  t.match(paths(updateErrors(mail, { tls: 'none' })), { 'body/tls': /clear text/ });
  t.match(paths(updateErrors(mail, { to: [] })), { 'body/to': /at least one/ });
  const moved = applyChannelUpdate(mail, { tls: 'tls' }, context([mail])).record as SmtpChannelRecord;
  t.equal(moved.port, 465, 'a default port follows a new TLS mode');
  const kept = applyChannelUpdate({ ...mail, port: 2525 }, { tls: 'tls' }, context([mail])).record as SmtpChannelRecord;
  t.equal(kept.port, 2525, 'a chosen port stays');
  const newPassword = applyChannelUpdate(mail, { password: 'another-secret' }, context([mail])).record as SmtpChannelRecord;
  t.equal(sealer.unseal(newPassword.sealedPassword!, channelSealingContext(mail.id, 'password')), 'another-secret');
});

t.test('the stored schema refuses a record with a secret in clear', async (t) => {
  const record = channel(webhookInput) as WebhookChannelRecord;
  t.notOk(validateRecord({ ...record, url: 'https://hooks.example.com/secret' }), 'no url field beside the sealed one');
  t.notOk(validateRecord({ ...record, sealedSigningSecret: 'plain' }), 'sealed fields hold sealed values');
  t.notOk(validateRecord({ ...channel(smtpInput), password: 'plain' }));
});

t.test('the API schemas accept what the channel functions take and give', async (t) => {
  const spec = loadSpec();
  const contract = createAjv({ allErrors: true, strict: true });
  const check = (name: string) => contract.compile(toJsonSchema(spec, { $ref: `#/components/schemas/${name}` }));
  const [create, update, view] = [check('NewNotificationChannel'), check('NotificationChannelUpdate'), check('NotificationChannel')];
  const script: ChannelInput = { name: 'Log script', kind: 'powershell', scriptPath: '/opt/amsd/notify.ps1', description: 'log', enabled: false, mandatory: true };
  for (const input of [webhookInput, smtpInput, script]) {
    t.same(create(input) ? [] : create.errors, [], `NewNotificationChannel accepts the ${input.kind} input`);
    t.same(view(toChannelView(channel(input))) ? [] : view.errors, [], `NotificationChannel accepts the ${input.kind} view`);
  }
  for (const change of [{ signingSecret: null, headers: {}, description: null }, { username: null }, { password: 'x', tls: 'tls', to: ['a@example.com'] }]) {
    t.same(update(change) ? [] : update.errors, [], `NotificationChannelUpdate accepts ${JSON.stringify(change)}`);
  }
  t.notOk(create({ ...webhookInput, unknownField: 1 }), 'unknown fields are refused by the schema');
});

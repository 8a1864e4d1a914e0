/**
 * Mail deliveries, received by a local SMTP server (smtp-server on 127.0.0.1, port 0, no TLS).
 */
import t, { type Test } from 'tap';
import type { AddressInfo } from 'node:net';
import { SMTPServer } from 'smtp-server';
import { deliver } from '../../daemon/notifications/deliver.js';
import { channel, closedPort, event, sealer } from './fixtures.js';

interface Received {
  from: string;
  to: string[];
  user: unknown;
  raw: string;
}

interface MailServer {
  port: number;
  messages: Received[];
  authAttempts: { username: string | undefined; password: string | undefined }[];
}

async function startMailServer(
  t: Test,
  options: { credentials?: { username: string; password: string }; rejectRecipient?: { code: number; message: string } } = {},
): Promise<MailServer> {
  const state: MailServer = { port: 0, messages: [], authAttempts: [] };
  const server = new SMTPServer({
    secure: false,
    disabledCommands: ['STARTTLS'],
    authOptional: !options.credentials,
    allowInsecureAuth: true,
    logger: false,
    closeTimeout: 1000,
    onAuth(auth, _session, callback) {
      state.authAttempts.push({ username: auth.username, password: auth.password ?? undefined });
      const expected = options.credentials;
      if (expected && auth.username === expected.username && auth.password === expected.password) return callback(null, { user: auth.username });
      callback(new Error('Invalid username or password'));
    },
    onRcptTo(_address, _session, callback) {
      if (!options.rejectRecipient) return callback();
      callback(Object.assign(new Error(options.rejectRecipient.message), { responseCode: options.rejectRecipient.code }));
    },
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        state.messages.push({
          from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
          to: session.envelope.rcptTo.map((r) => r.address),
          user: session.user,
          raw: Buffer.concat(chunks).toString('utf8'),
        });
        callback();
      });
    },
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  state.port = (server.server.address() as AddressInfo).port;
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return state;
}

/** The headers (unfolded) and the body (quoted-printable decoded) of a raw message. */
function parseMail(raw: string): { headers: Record<string, string>; body: string } {
  const split = raw.indexOf('\r\n\r\n');
  const headerText = raw.slice(0, split).replace(/\r\n(?=[ \t])/g, '');
  const headers: Record<string, string> = {};
  for (const line of headerText.split('\r\n')) {
    const colon = line.indexOf(':');
    headers[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim();
  }
  for (const [name, value] of Object.entries(headers)) headers[name] = decodeWords(value);
  let body = raw.slice(split + 4);
  if (/quoted-printable/i.test(headers['content-transfer-encoding'] ?? '')) {
    body = Buffer.from(body.replace(/=\r\n/g, '').replace(/=([0-9A-F]{2})/g, (_, hex: string) => String.fromCharCode(parseInt(hex, 16))), 'latin1').toString('utf8');
  } else if (/base64/i.test(headers['content-transfer-encoding'] ?? '')) {
    body = Buffer.from(body, 'base64').toString('utf8');
  }
  return { headers, body };
}

/** RFC 2047 encoded words (=?UTF-8?Q?...?= and =?UTF-8?B?...?=), as nodemailer writes a subject that needs them. */
function decodeWords(value: string): string {
  return value.replace(/\?=\s+=\?/g, '?==?').replace(/=\?UTF-8\?([QB])\?([^?]*)\?=/gi, (_, encoding: string, text: string) =>
    encoding.toUpperCase() === 'B'
      ? Buffer.from(text, 'base64').toString('utf8')
      : Buffer.from(text.replace(/_/g, ' ').replace(/=([0-9A-F]{2})/gi, (_m, hex: string) => String.fromCharCode(parseInt(hex, 16))), 'latin1').toString('utf8'),
  );
}

const mailInput = (port: number) => ({
  name: 'mail',
  kind: 'smtp' as const,
  host: '127.0.0.1',
  port,
  tls: 'none' as const,
  from: 'AMS Notifications <amsd@contoso.example>',
  to: ['helpdesk@contoso.example', 'soc@contoso.example'],
  subjectTemplate: 'amsd {{Code}} for {{ComputerName}}: {{Reason}}',
  htmlTemplate: '<p>{{DisplayName}} read {{AccessType}} of <b>{{ComputerName}}</b></p><p title="{{Reason}}">{{Reason}}</p>',
});

t.test('a mail arrives with its sender, recipients, subject and escaped HTML', async (t) => {
  const server = await startMailServer(t);
  const result = await deliver(channel(mailInput(server.port)), event(), { sealer });
  t.same(result, { ok: true });
  t.equal(server.messages.length, 1);
  const message = server.messages[0]!;
  t.equal(message.from, 'amsd@contoso.example');
  t.same(message.to, ['helpdesk@contoso.example', 'soc@contoso.example'], 'the envelope has exactly the configured recipients');
  const { headers, body } = parseMail(message.raw);
  t.equal(headers.from, 'AMS Notifications <amsd@contoso.example>');
  t.equal(headers.to, 'helpdesk@contoso.example, soc@contoso.example');
  t.notOk(headers.bcc, 'a value cannot add a header');
  t.match(headers.subject, 'amsd Success for PC-"007"\\</script>: He said "stop" \\ C:\\Temp Bcc: evil@example.com');
  t.match(headers['content-type'], /^text\/html/);
  t.match(body, '<p>Alice Admin read LocalAdminPassword of <b>PC-&quot;007&quot;\\&lt;/script&gt;</b></p>');
  t.match(body, 'title="He said &quot;stop&quot;');
  t.notMatch(body, /<script>/, 'the requester\'s markup is inert');
});

t.test('credentials: signed in when set, refused credentials are a final failure', async (t) => {
  const server = await startMailServer(t, { credentials: { username: 'amsd-relay', password: 'relay-password-5e1f' } });
  const good = channel({ ...mailInput(server.port), username: 'amsd-relay', password: 'relay-password-5e1f' });
  t.same(await deliver(good, event(), { sealer }), { ok: true });
  t.equal(server.messages[0]?.user, 'amsd-relay', 'the mail was sent signed in');

  const bad = channel({ ...mailInput(server.port), name: 'bad', username: 'amsd-relay', password: 'wrong-password-77aa' });
  const result = await deliver(bad, event(), { sealer });
  t.match(result, { ok: false, retryable: false, error: /127\.0\.0\.1:\d+|Invalid login|535/ });
  t.notMatch(JSON.stringify(result), 'wrong-password-77aa', 'the password is not in the error');
  t.equal(server.messages.length, 1, 'nothing more was delivered');

  const anonymous = channel({ ...mailInput(server.port), name: 'anonymous' });
  t.match(await deliver(anonymous, event(), { sealer }), { ok: false }, 'a server that requires sign-in refuses a channel without credentials');
});

t.test('starttls is required when asked for: no credentials cross in clear', async (t) => {
  const server = await startMailServer(t, { credentials: { username: 'amsd-relay', password: 'relay-password-5e1f' } });
  const strict = channel({ ...mailInput(server.port), tls: 'starttls', username: 'amsd-relay', password: 'relay-password-5e1f' });
  const result = await deliver(strict, event(), { sealer, timeoutMs: 3000 });
  t.match(result, { ok: false, error: /STARTTLS/ });
  t.same(server.authAttempts, [], 'the server never saw the credentials');
  t.equal(server.messages.length, 0);
});

t.test('SMTP replies decide whether to retry', async (t) => {
  const permanent = await startMailServer(t, { rejectRecipient: { code: 550, message: 'No such mailbox' } });
  t.match(await deliver(channel(mailInput(permanent.port)), event(), { sealer }), { ok: false, retryable: false, error: /550|No such mailbox/ });
  const transient = await startMailServer(t, { rejectRecipient: { code: 451, message: 'Try again later' } });
  t.match(await deliver(channel(mailInput(transient.port)), event(), { sealer }), { ok: false, retryable: true, error: /451|Try again later/ });
  t.match(await deliver(channel(mailInput(await closedPort())), event(), { sealer }), { ok: false, retryable: true, error: /ECONNREFUSED|connect/i });
});

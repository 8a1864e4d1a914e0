/**
 * The redaction of a channel's own secrets from delivery errors, by kind and encoding (issue 11, item 7).
 */
import t from 'tap';
import { REDACTED, channelSecrets, redactSecrets } from '../../daemon/notifications/deliver.js';
import { channel, sealer } from './fixtures.js';

t.test('webhook secrets are redacted raw, percent-encoded, decoded, JSON- and HTML-escaped', async (t) => {
  const record = channel({
    name: 'w',
    kind: 'webhook',
    url: 'https://hooks.example/services/T0AAAA/B0BBBB/secret-path-token?key=query-secret-value',
    headers: { Authorization: 'Bearer header-token-value' },
    signingSecret: 'signing-secret-value',
  });
  const secrets = channelSecrets(record, sealer);
  const echoed = [
    'Cannot POST /services/T0AAAA/B0BBBB/secret-path-token?key=query-secret-value',
    '%2Fservices%2FT0AAAA%2FB0BBBB%2Fsecret-path-token',
    'token: header-token-value',
    '{"authorization":"Bearer header-token-value"}',
    '&lt;signing-secret-value&gt;',
  ].join(' | ');
  const redacted = redactSecrets(echoed, secrets);
  for (const secret of ['secret-path-token', 'query-secret-value', 'header-token-value', 'signing-secret-value', 'T0AAAA/B0BBBB']) t.notOk(redacted.includes(secret), `no ${secret}`);
  t.match(redacted, `Cannot POST ${REDACTED}`, 'what the receiver said is kept around the secrets');
  t.equal(redactSecrets('https://hooks.example answered 500', secrets), 'https://hooks.example answered 500', 'the origin, which views show, is kept');
});

t.test('an SMTP password is redacted, also as AUTH PLAIN sends it', async (t) => {
  const record = channel({ name: 's', kind: 'smtp', host: 'mail.example', port: 587, username: 'amsd', password: 'smtp-password-123', from: 'a@example.com', to: ['b@example.com'] });
  const plain = Buffer.from('\u0000amsd\u0000smtp-password-123').toString('base64');
  const redacted = redactSecrets(`535 rejected AUTH PLAIN ${plain} for smtp-password-123`, channelSecrets(record, sealer));
  t.notOk(redacted.includes(plain));
  t.notOk(redacted.includes('smtp-password-123'));
});

/**
 * App tokens through real MSAL against the simulated tenant's token endpoint: throttling and outages
 * are retried below MSAL (so MSAL never replays a failure), a failure names the host and the cause,
 * a forced refresh gets a new token.
 */
import t from 'tap';
import { GraphError } from '../../daemon/directory/graph-client.js';
import { createTokenProvider } from '../../daemon/directory/token-provider.js';
import { tenantFor, type Harness } from '../simulated-tenant/fixtures/harness.js';

function provider({ tenant, dispatcher }: Harness, clientSecret = tenant.app.clientSecret) {
  return createTokenProvider({
    tenantId: tenant.tenantId,
    clientId: tenant.app.clientId,
    credential: { type: 'secret', clientSecret },
    authorityHost: tenant.authorityHost,
    graphResource: 'https://graph.microsoft.com',
    dispatcher,
    retry: { backoffBaseMs: 20, backoffMaxMs: 100 },
  });
}

const tokenPath = (h: Harness) => `/${h.tenant.tenantId}/oauth2/v2.0/token`;

t.test('one 429 and one 503 from the token endpoint are retried: the token is had', async (t) => {
  const h = await tenantFor(t);
  h.tenant.faults.inject(tokenPath(h), { kind: 'throttle', retryAfter: 0.1 }).inject(tokenPath(h), { kind: 'unavailable' });
  const token = await provider(h).getToken();
  t.match(token, /^ey/);
  t.same(h.tenant.calls.filter((c) => c.path === tokenPath(h)).map((c) => c.status), [429, 503, 200]);
});

t.test('a token endpoint that stays unavailable: a throttled failure naming the host; then no call until Retry-After', async (t) => {
  const h = await tenantFor(t);
  h.tenant.faults.inject(tokenPath(h), { kind: 'unavailable', retryAfter: 0.05, times: 10 });
  const tokens = provider(h);
  const error = await tokens.getToken().catch((e: unknown) => e);
  t.type(error, GraphError);
  t.match(error, { kind: 'throttled', details: { status: 503, code: 'serviceNotAvailable' } });
  const host = new URL(h.tenant.authorityHost).host;
  t.ok((error as Error).message.startsWith(`Entra ID's token endpoint (${host}) answered 503`), (error as Error).message);
  t.notMatch((error as Error).message, /object Object/);
  t.equal(h.tenant.callCount(tokenPath(h)), 4, 'four attempts, no more');

  h.tenant.faults.clear();
  h.tenant.faults.inject(tokenPath(h), { kind: 'throttle', retryAfter: 30, times: 1 });
  const throttled = provider(h);
  t.match(await throttled.getToken().catch((e: unknown) => e), { kind: 'throttled', details: { retryAfterSeconds: 30 } });
  const calls = h.tenant.callCount(tokenPath(h));
  t.match(await throttled.getToken().catch((e: unknown) => e), { kind: 'throttled' }, 'asked again within Retry-After');
  t.equal(h.tenant.callCount(tokenPath(h)), calls, 'the token endpoint is not asked again before its Retry-After');
});

t.test('a refused credential is a failure that names the host and quotes Entra', async (t) => {
  const h = await tenantFor(t);
  const error = await provider(h, 'wrong').getToken().catch((e: unknown) => e);
  t.type(error, GraphError);
  t.match(error, { kind: 'failed', details: { code: 'invalid_client' } });
  t.match((error as Error).message, /^Entra ID \(127\.0\.0\.1:\d+\) refused the app's token request \(invalid_client\): .*AADSTS7000215/);
  t.notMatch((error as Error).message, /wrong/, 'the secret is not echoed');
  t.equal(h.tenant.callCount(tokenPath(h)), 1, 'a refusal is final: not retried');
});

t.test('forceRefresh asks the token endpoint past the cache', async (t) => {
  const h = await tenantFor(t);
  const tokens = provider(h);
  const first = await tokens.getToken();
  t.equal(await tokens.getToken(), first, 'served from the cache');
  t.equal(h.tenant.callCount(tokenPath(h)), 1);
  const fresh = await tokens.getToken({ forceRefresh: true });
  t.not(fresh, first);
  t.equal(h.tenant.callCount(tokenPath(h)), 2);
  t.equal(await tokens.getToken(), fresh, 'the fresh token replaced the old one in the cache');

  const concurrent = await Promise.all([1, 2, 3].map(() => tokens.getToken({ forceRefresh: true })));
  t.equal(new Set(concurrent).size, 1, 'refreshes asked for at once share one token request');
  t.equal(h.tenant.callCount(tokenPath(h)), 3);
});

/**
 * App tokens through real MSAL against the simulated tenant's token endpoint: throttling and outages
 * are retried below MSAL (so MSAL never replays a failure), a failure names the host and the cause,
 * a forced refresh gets a new token.
 */
import { ConfidentialClientApplication } from '@azure/msal-node';
import t from 'tap';
import { GraphClient } from '../../daemon/directory/graph-client.js';
import { GraphError } from '../../daemon/directory/graph-client.js';
import { createTokenProvider } from '../../daemon/directory/token-provider.js';
import { tenantFor, type Harness } from '../simulated-tenant/fixtures/harness.js';

function provider({ tenant, dispatcher }: Harness, clientSecret = tenant.app.clientSecret, now?: () => number) {
  return createTokenProvider({
    ...(now ? { now } : {}),
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

/** A clock for the token provider that only moves when told (the tenant's tokens carry real-time expiries). */
function fakeClock() {
  let at = Date.now();
  return { now: () => at, set: (ms: number) => void (at = ms) };
}
const expiryOf = (token: string) => (JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()) as { exp: number }).exp * 1000;

t.test('the token is held: many Graph calls, one token request; a 401 for a revoked token drops it', async (t) => {
  const h = await tenantFor(t);
  const tokens = provider(h, undefined, fakeClock().now);
  // MSAL's own cache lookup costs ~140 µs a time: the held token is to spare even that.
  let askedOfMsal = 0;
  // eslint-disable-next-line @typescript-eslint/unbound-method -- wrapped below and called with its own `this`
  const acquire = ConfidentialClientApplication.prototype.acquireTokenByClientCredential;
  ConfidentialClientApplication.prototype.acquireTokenByClientCredential = function (this: ConfidentialClientApplication, ...args) {
    askedOfMsal++;
    return acquire.apply(this, args);
  };
  t.teardown(() => {
    ConfidentialClientApplication.prototype.acquireTokenByClientCredential = acquire;
  });
  const graph = new GraphClient({ endpoint: h.tenant.graphEndpoint, dispatcher: h.dispatcher, getToken: (request) => tokens.getToken(request) });
  for (let i = 0; i < 20; i++) await graph.call('/v1.0/devices?$top=1');
  t.equal(h.tenant.callCount('/v1.0/devices'), 20, 'twenty Graph calls');
  t.equal(h.tenant.callCount(tokenPath(h)), 1, 'one token request for all of them');
  t.equal(askedOfMsal, 1, 'and MSAL was asked once, not per call');

  h.tenant.revokeAppTokens();
  await graph.call('/v1.0/devices?$top=1');
  t.equal(h.tenant.callCount(tokenPath(h)), 2, 'the revoked token was dropped and replaced once');
  await graph.call('/v1.0/devices?$top=1');
  t.equal(h.tenant.callCount(tokenPath(h)), 2, 'and its replacement is held in turn');
});

t.test('near its expiry the token is renewed ahead; past it callers wait for the new one', async (t) => {
  const h = await tenantFor(t);
  const clock = fakeClock();
  const tokens = provider(h, undefined, clock.now);
  const first = await tokens.getToken();
  const expiresAt = expiryOf(first);

  clock.set(expiresAt - 10 * 60_000);
  t.equal(await tokens.getToken(), first, 'ten minutes before its expiry: still the held token');
  t.equal(h.tenant.callCount(tokenPath(h)), 1, 'without a token request');

  clock.set(expiresAt - 4 * 60_000);
  t.equal(await tokens.getToken(), first, 'four minutes before: the held token still serves, and a renewal starts');
  t.equal(await tokens.getToken(), first, 'a second caller meanwhile gets the held token too');
  // A forced refresh joins the renewal in flight rather than asking again: it waits for its token.
  const second = await tokens.getToken({ forceRefresh: true });
  t.not(second, first, 'the renewal brought a new token');
  t.equal(h.tenant.callCount(tokenPath(h)), 2, 'one token request for the renewal');
  t.equal(await tokens.getToken(), second, 'which is held from then on');
  t.equal(h.tenant.callCount(tokenPath(h)), 2);

  clock.set(expiryOf(second) - 10_000);
  const third = await tokens.getToken();
  t.not(third, second, 'ten seconds before its expiry a token is not handed out: a new one is fetched');
  t.equal(h.tenant.callCount(tokenPath(h)), 3);
});

t.test('callers who meet an expired token together share one token request', async (t) => {
  const h = await tenantFor(t);
  const clock = fakeClock();
  const tokens = provider(h, undefined, clock.now);
  const first = await tokens.getToken();
  clock.set(expiryOf(first) + 1000);
  const all = await Promise.all(Array.from({ length: 10 }, () => tokens.getToken()));
  t.equal(new Set(all).size, 1, 'all ten got the same token');
  t.not(all[0], first, 'a new one');
  t.equal(h.tenant.callCount(tokenPath(h)), 2, 'from one token request');

  clock.set(expiryOf(all[0]!) - 4 * 60_000);
  const during = await Promise.all(Array.from({ length: 10 }, () => tokens.getToken()));
  t.same(new Set(during), new Set([all[0]]), 'in the renewal window everyone gets the held token at once');
  await tokens.getToken({ forceRefresh: true }); // shares the renewal already in flight
  t.equal(h.tenant.callCount(tokenPath(h)), 3, 'one renewal for ten callers and a forced refresh');
});

/**
 * The Graph client against a scripted Graph on loopback: retries that honour Retry-After, a deadline
 * no wait outlasts, bounded attempts, paging, request ids, and failures turned into clear errors.
 */
import t, { type Test } from 'tap';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { Agent } from 'undici';
import { deadlineIn } from '../../daemon/directory/deadline.js';
import { claimsChallenge, GraphClient, GraphError, parseRetryAfter, readableMessage, type TokenRequestOptions } from '../../daemon/directory/graph-client.js';

type Script = (req: IncomingMessage, res: ServerResponse, call: number) => void;

/** A Graph stand-in that answers each call with `script` and records what it was sent. */
async function fakeGraph(t: Test, script: Script) {
  const seen: { url: string; headers: IncomingMessage['headers']; at: number; body: string }[] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      seen.push({ url: req.url ?? '', headers: req.headers, at: Date.now(), body });
      script(req, res, seen.length);
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const dispatcher = new Agent({ keepAliveTimeout: 1000 });
  t.teardown(async () => {
    server.closeAllConnections();
    server.close();
    await dispatcher.close();
  });
  const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const client = (options: Partial<ConstructorParameters<typeof GraphClient>[0]> = {}) =>
    new GraphClient({ endpoint, dispatcher, getToken: async () => 'token-1', backoffBaseMs: 20, backoffMaxMs: 100, ...options });
  return { endpoint, seen, client };
}

const json = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify(body));
};

t.test('sends the token, client identity and a fresh client-request-id per call', async (t) => {
  const graph = await fakeGraph(t, (_req, res) => json(res, 200, { ok: true }, { 'request-id': 'graph-req-1' }));
  const client = graph.client({ clientName: 'amsd', clientVersion: '9.9.9' });
  t.same(await client.call('/v1.0/devices'), { ok: true });
  await client.call('/v1.0/devices');
  const [first, second] = graph.seen;
  t.equal(first!.headers.authorization, 'Bearer token-1');
  t.equal(first!.headers['ocp-client-name'], 'amsd');
  t.equal(first!.headers['ocp-client-version'], '9.9.9');
  t.equal(first!.headers['user-agent'], 'amsd/9.9.9');
  t.match(first!.headers['client-request-id'], /^[0-9a-f-]{36}$/);
  t.not(first!.headers['client-request-id'], second!.headers['client-request-id']);
});

t.test('429 with a fractional Retry-After is waited out, then the call succeeds', async (t) => {
  const graph = await fakeGraph(t, (_req, res, call) =>
    call < 3 ? json(res, 429, { error: { code: 'TooManyRequests' } }, { 'retry-after': '0.15' }) : json(res, 200, { value: 1 }),
  );
  t.same(await graph.client().call('/v1.0/x'), { value: 1 });
  t.equal(graph.seen.length, 3);
  for (let i = 1; i < graph.seen.length; i++) {
    t.ok(graph.seen[i]!.at - graph.seen[i - 1]!.at >= 145, `retry ${i} waited at least Retry-After`);
  }
  t.equal(new Set(graph.seen.map((s) => s.headers['client-request-id'])).size, 1, 'retries of one call keep its client-request-id');
});

t.test('503 and 504 without Retry-After back off, never retrying at once', async (t) => {
  const graph = await fakeGraph(t, (_req, res, call) => (call === 1 ? json(res, 503, {}) : call === 2 ? json(res, 504, {}) : json(res, 200, { done: true })));
  // Steps of 60 then 120 ms (the cap is above both); each wait is half its step plus up to half again.
  t.same(await graph.client({ backoffBaseMs: 60, backoffMaxMs: 1_000 }).call('/v1.0/x'), { done: true });
  t.ok(graph.seen[1]!.at - graph.seen[0]!.at >= 29, 'the first wait is at least half of the first step');
  t.ok(graph.seen[2]!.at - graph.seen[1]!.at >= 59, 'the second wait is at least half of a doubled step');
});

t.test('throttling that outlasts the deadline fails at once with the Retry-After to pass on', async (t) => {
  const graph = await fakeGraph(t, (_req, res) => json(res, 429, { error: { code: 'TooManyRequests', innerError: { 'request-id': 'r-429' } } }, { 'retry-after': '30' }));
  const started = Date.now();
  const error = await graph.client({ deadlineMs: 2_000 }).call('/v1.0/x').catch((e: unknown) => e);
  t.ok(Date.now() - started < 1_000, 'does not sleep into a wait it cannot finish');
  t.type(error, GraphError);
  t.match(error, { kind: 'throttled', details: { status: 429, retryAfterSeconds: 30, requestId: 'r-429', code: 'TooManyRequests' } });
  t.equal(graph.seen.length, 1);
});

t.test('a 429 storm is bounded by the number of attempts', async (t) => {
  const graph = await fakeGraph(t, (_req, res) => json(res, 429, {}, { 'retry-after': '0.01' }));
  const error = await graph.client({ maxAttempts: 4 }).call('/v1.0/x').catch((e: unknown) => e);
  t.match(error, { kind: 'throttled' });
  t.equal(graph.seen.length, 4);
});

t.test('a per-call maxAttempts of 1 hands the first 429 back at once, with its Retry-After', async (t) => {
  const graph = await fakeGraph(t, (_req, res, call) => (call <= 2 ? json(res, 429, { error: { code: 'TooManyRequests' } }, { 'retry-after': '0.05' }) : json(res, 200, { ok: true })));
  const client = graph.client();
  const error = await client.call('/v1.0/x', { method: 'POST', maxAttempts: 1 }).catch((e: unknown) => e);
  t.match(error, { kind: 'throttled', details: { status: 429, retryAfterSeconds: 1 } });
  t.equal(graph.seen.length, 1, 'not retried inside the call');
  t.same(await client.call('/v1.0/x'), { ok: true }, "other calls keep the client's own maxAttempts: the second 429 is waited out");
  t.equal(graph.seen.length, 3);
});

t.test("Intune's JSON text inside Graph's error message is read down to its Message", async (t) => {
  const intune = JSON.stringify({ _version: 3, Message: 'Application is not authorized to perform this operation. Application must have one of the following scopes: X.All - Operation ID (for customer support): 00000000-0000-0000-0000-000000000000 - Activity ID: a - Url: https://fef.example/x', CustomApiErrorPhrase: '', RetryAfter: null }, null, 2);
  const graph = await fakeGraph(t, (_req, res) => json(res, 403, { error: { code: 'Forbidden', message: intune } }));
  const error = (await graph.client().call('/beta/x', { method: 'POST', permission: 'X.All' }).catch((e: unknown) => e)) as GraphError;
  t.match(error, { kind: 'forbidden', details: { code: 'Forbidden', permission: 'X.All' } });
  t.equal(error.message, 'Microsoft Graph refused the call (403: Application is not authorized to perform this operation. Application must have one of the following scopes: X.All); the app registration needs the application permission X.All, admin-consented.');
  t.equal(readableMessage('{"not": "intune"}'), '{"not": "intune"}', 'other JSON is left as it is');
  t.equal(readableMessage('{broken'), '{broken');
  t.equal(readableMessage('Insufficient privileges to complete the operation.'), 'Insufficient privileges to complete the operation.');
});

t.test('a Graph that does not answer times out at the deadline', async (t) => {
  const graph = await fakeGraph(t, () => undefined /* never answers */);
  const started = Date.now();
  const error = await graph.client({ deadlineMs: 300 }).call('/v1.0/x').catch((e: unknown) => e);
  const took = Date.now() - started;
  t.match(error, { kind: 'timeout' });
  t.ok(took >= 280 && took < 2_000, `gave up at the deadline (${took} ms)`);
});

t.test('an answer whose body stops halfway times out at the deadline too', async (t) => {
  const graph = await fakeGraph(t, (_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.write('{"value": ['); // and nothing more
  });
  const started = Date.now();
  const error = await graph.client({ deadlineMs: 300 }).call('/v1.0/x').catch((e: unknown) => e);
  const took = Date.now() - started;
  t.match(error, { kind: 'timeout' });
  t.ok(took >= 280 && took < 2_000, `gave up at the deadline (${took} ms)`);
});

t.test('403 names the missing permission; 404, other errors and bad JSON are reported with request ids', async (t) => {
  const graph = await fakeGraph(t, (req, res) => {
    if (req.url === '/v1.0/forbidden') return json(res, 403, { error: { code: 'Authorization_RequestDenied', message: 'Insufficient privileges' } }, { 'request-id': 'r-403' });
    if (req.url === '/v1.0/missing') return json(res, 404, { error: { code: 'Request_ResourceNotFound', message: 'gone' } });
    if (req.url === '/v1.0/broken') return json(res, 500, { error: { code: 'InternalServerError', message: 'boom' } }, { 'request-id': 'r-500' });
    res.writeHead(200, { 'content-type': 'application/json', 'request-id': 'r-bad' });
    res.end('{"value": [');
  });
  const client = graph.client();
  const forbidden = await client.call('/v1.0/forbidden', { permission: 'DeviceLocalCredential.Read.All' }).catch((e: unknown) => e);
  t.match(forbidden, { kind: 'forbidden', details: { status: 403, requestId: 'r-403', permission: 'DeviceLocalCredential.Read.All' } });
  t.match((forbidden as Error).message, /needs the application permission DeviceLocalCredential\.Read\.All/);
  t.match(await client.call('/v1.0/missing').catch((e: unknown) => e), { kind: 'notFound', details: { code: 'Request_ResourceNotFound' } });
  t.match(await client.call('/v1.0/broken').catch((e: unknown) => e), { kind: 'failed', details: { status: 500, requestId: 'r-500' } });
  t.match(await client.call('/v1.0/bad-json').catch((e: unknown) => e), { kind: 'failed', message: /not JSON \(request-id r-bad\)/ });
  t.equal(graph.seen.length, 4, 'none of these is retried');
});

t.test('an unreachable Graph is a clear failure', async (t) => {
  const dispatcher = new Agent();
  t.teardown(() => dispatcher.close());
  const client = new GraphClient({ endpoint: 'http://127.0.0.1:9', dispatcher, getToken: async () => 't', backoffBaseMs: 10 });
  t.match(await client.call('/v1.0/x').catch((e: unknown) => e), { kind: 'failed', message: /could not be reached/ });
});

t.test('collections are followed through @odata.nextLink, POST bodies are JSON', async (t) => {
  const graph = await fakeGraph(t, (req, res) => {
    if (req.method === 'POST') return json(res, 200, { value: ['g1'] });
    const page = Number(new URL(req.url!, 'http://x').searchParams.get('page') ?? 1);
    json(res, 200, { value: [`d${page}a`, `d${page}b`], ...(page < 3 ? { '@odata.nextLink': `${graph.endpoint}/v1.0/devices?page=${page + 1}` } : {}) });
  });
  const client = graph.client();
  t.same(await client.all('/v1.0/devices'), ['d1a', 'd1b', 'd2a', 'd2b', 'd3a', 'd3b']);
  const groups = await client.call('/v1.0/devices/o1/checkMemberGroups', { method: 'POST', body: { groupIds: ['g1', 'g2'] } });
  t.same(groups, { value: ['g1'] });
  const post = graph.seen.at(-1)!;
  t.equal(post.headers['content-type'], 'application/json');
  t.same(JSON.parse(post.body), { groupIds: ['g1', 'g2'] });
});

t.test('Retry-After parsing', async (t) => {
  const now = Date.parse('2026-11-23T10:00:00Z');
  t.equal(parseRetryAfter('2', now), 2000);
  t.equal(parseRetryAfter('2.128', now), 2128);
  t.equal(parseRetryAfter('Mon, 23 Nov 2026 10:00:05 GMT', now), 5000);
  t.equal(parseRetryAfter('Mon, 23 Nov 2026 09:59:00 GMT', now), 0, 'a date in the past means now');
  t.equal(parseRetryAfter(undefined, now), undefined);
  t.equal(parseRetryAfter('soon', now), undefined);
});

t.test('a connection reset on a GET is retried, a bounded number of times; a POST that may write is not', async (t) => {
  let resets = 1;
  const graph = await fakeGraph(t, (req, res) => {
    if (resets-- > 0) return req.socket.destroy();
    json(res, 200, { ok: true });
  });
  t.same(await graph.client().call('/v1.0/devices'), { ok: true }, 'one reset, then the answer');
  t.equal(graph.seen.length, 2);
  t.equal(new Set(graph.seen.map((s) => s.headers['client-request-id'])).size, 1, 'the retry is the same call');

  resets = 100;
  const error = await graph.client().call('/v1.0/devices').catch((e: unknown) => e);
  t.match(error, { kind: 'failed', message: /could not be reached/ });
  t.equal(graph.seen.length, 2 + 3, 'one try and two retries, no more');

  const before = graph.seen.length;
  t.match(await graph.client().call('/v1.0/x', { method: 'POST', body: {} }).catch((e: unknown) => e), { kind: 'failed' });
  t.equal(graph.seen.length, before + 1, 'a POST is not retried unless it says it only reads');
  await graph.client().call('/v1.0/users/u/getMemberGroups', { method: 'POST', body: {}, idempotent: true }).catch(() => undefined);
  t.equal(graph.seen.length, before + 1 + 3, 'a reading POST is retried');
});

t.test('a reset connection whose retry then runs into the deadline is reported as the reset (502), not a timeout', async (t) => {
  // What a loaded machine makes of a Graph that keeps resetting: the retry after the backoff is cut off
  // by the deadline. The fault the admin must look at is the reset.
  const graph = await fakeGraph(t, (req, _res, call) => {
    if (call === 1) req.socket.destroy();
    // and the retry is never answered
  });
  const error = await graph.client({ deadlineMs: 300 }).call('/v1.0/devices').catch((e: unknown) => e);
  t.match(error, { kind: 'failed', message: /could not be reached \(.+\) and then did not answer in time/ });
  t.equal(graph.seen.length, 2, 'the reset was retried');
});

t.test('a token Graph rejects (401 InvalidAuthenticationToken) is replaced once by a fresh one', async (t) => {
  const rejected = new Set(['token-1']);
  const graph = await fakeGraph(t, (req, res) =>
    rejected.has(String(req.headers.authorization).slice('Bearer '.length))
      ? json(res, 401, { error: { code: 'InvalidAuthenticationToken', message: 'Access token has been revoked.' } }, { 'www-authenticate': 'Bearer realm=""' })
      : json(res, 200, { ok: true }),
  );
  const asked: (TokenRequestOptions | undefined)[] = [];
  let issued = 1;
  const getToken = async (options?: TokenRequestOptions) => {
    asked.push(options);
    if (options?.forceRefresh) issued++;
    return `token-${issued}`;
  };
  const client = graph.client({ getToken });
  t.same(await client.call('/v1.0/devices'), { ok: true });
  t.same(asked, [undefined, { forceRefresh: true }], 'the second token was asked for past the cache');
  t.same(graph.seen.map((s) => s.headers.authorization), ['Bearer token-1', 'Bearer token-2']);

  rejected.add('token-2').add('token-3');
  const error = await client.call('/v1.0/devices').catch((e: unknown) => e);
  t.match(error, { kind: 'failed', details: { status: 401, code: 'InvalidAuthenticationToken' } }, 'a fresh token rejected too is an error, not a loop');
  t.equal(graph.seen.length, 4);
});

t.test("a claims challenge's claims are passed to the token request", async (t) => {
  const claims = JSON.stringify({ access_token: { nbf: { essential: true, value: '1700000000' } } });
  const challenge = `Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize", error="insufficient_claims", claims="${Buffer.from(claims).toString('base64')}"`;
  const graph = await fakeGraph(t, (_req, res, call) =>
    call === 1 ? json(res, 401, { error: { code: 'InvalidAuthenticationToken', message: 'Continuous access evaluation resulted in challenge' } }, { 'www-authenticate': challenge }) : json(res, 200, { ok: 1 }),
  );
  const asked: (TokenRequestOptions | undefined)[] = [];
  await graph.client({ getToken: async (options) => (asked.push(options), 'tok') }).call('/v1.0/x');
  t.same(asked[1], { forceRefresh: true, claims });
  t.equal(claimsChallenge('Bearer realm=""'), undefined);
  t.equal(claimsChallenge('Bearer claims="bm90IGpzb24="'), undefined, 'claims that are not JSON are ignored');
});

t.test("the request's budget cuts calls and Retry-After waits short", async (t) => {
  const graph = await fakeGraph(t, (req, res) => (req.url === '/v1.0/hang' ? undefined : json(res, 429, {}, { 'retry-after': '1' })));
  const client = graph.client({ deadlineMs: 20_000 });
  let started = Date.now();
  const hung = await client.call('/v1.0/hang', { deadline: deadlineIn(300, "the secret read's budget") }).catch((e: unknown) => e);
  const took = Date.now() - started;
  t.match(hung, { kind: 'timeout', message: /within the secret read's budget of 0\.3 s/ });
  t.ok(took >= 280 && took < 5_000, `a hang ends with the budget, not the call's 20 s (${took} ms)`);

  started = Date.now();
  const throttled = await client.call('/v1.0/x', { deadline: deadlineIn(500, "the secret read's budget") }).catch((e: unknown) => e);
  t.match(throttled, { kind: 'throttled', details: { retryAfterSeconds: 1 } }, 'a Retry-After past the budget is not waited for');
  t.ok(Date.now() - started < 900, 'it fails at once, without waiting the 1 s');
  t.equal(graph.seen.filter((s) => s.url === '/v1.0/x').length, 1);

  const spent = await client.call('/v1.0/x', { deadline: deadlineIn(1, 'the budget', Date.now() - 5) }).catch((e: unknown) => e);
  t.match(spent, { kind: 'timeout' }, 'a call started after the budget ran out fails without calling');
});

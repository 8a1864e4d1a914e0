import t from 'tap';
import { createServer } from 'node:http';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { Agent } from 'undici';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Test } from 'tap';
import { deadlineIn, type Deadline } from '../../daemon/directory/deadline.js';
import { TokenRequestFailed, UndiciNetworkClient } from '../../daemon/directory/msal-network.js';

t.test('MSAL requests go through our dispatcher with their headers and body, answers come back as MSAL expects', async (t) => {
  const seen: { method?: string; headers: Record<string, unknown>; body: string }[] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      seen.push({ method: req.method, headers: req.headers, body });
      if (req.url === '/text') {
        res.writeHead(400, { 'content-type': 'text/html' });
        return res.end('<html>bad gateway</html>');
      }
      res.writeHead(req.method === 'POST' ? 400 : 200, { 'content-type': 'application/json', 'X-Ms-Request-Id': 'abc' });
      res.end(JSON.stringify({ ok: req.method }));
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const dispatcher = new Agent();
  t.teardown(async () => {
    server.close();
    await dispatcher.close();
  });
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const client = new UndiciNetworkClient(dispatcher);

  const get = await client.sendGetRequestAsync<{ ok: string }>(`${base}/get`, { headers: { 'x-client-sku': 'msal.js.node' } });
  t.same(get, { status: 200, headers: get.headers, body: { ok: 'GET' } });
  t.equal(get.headers['x-ms-request-id'], 'abc', 'header names are lower-cased');
  t.equal(seen[0]!.headers['x-client-sku'], 'msal.js.node');

  const post = await client.sendPostRequestAsync<{ ok: string }>(`${base}/token`, {
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: 'grant_type=client_credentials&client_id=x',
  });
  t.equal(post.status, 400, 'error statuses are passed to MSAL, not thrown');
  t.equal(seen[1]!.body, 'grant_type=client_credentials&client_id=x');

  const text = await client.sendGetRequestAsync<{ error: string }>(`${base}/text`);
  t.equal(text.status, 400);
  t.equal(text.body.error, 'invalid_response', 'a non-JSON answer becomes an error body MSAL can report');
});

/** A token endpoint that answers the n-th request with `script`, and the client to reach it. */
async function tokenEndpoint(t: Test, script: (req: IncomingMessage, res: ServerResponse, call: number) => void) {
  const seen: number[] = [];
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      seen.push(Date.now());
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
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/tenant/oauth2/v2.0/token`;
  // MSAL hands each token request its correlation id; the budget is found by it.
  const budgets = new Map<string, Deadline>();
  const client = new UndiciNetworkClient(dispatcher, { backoffBaseMs: 20, backoffMaxMs: 100 }, (correlationId) => (correlationId ? budgets.get(correlationId) : undefined));
  const post = (deadline?: Deadline) => {
    if (deadline) budgets.set('corr-1', deadline);
    return client.sendPostRequestAsync<Record<string, unknown>>(url, { headers: { 'client-request-id': 'corr-1' }, body: 'grant_type=client_credentials', correlationId: 'corr-1' });
  };
  return { seen, post, host: new URL(url).host };
}

const reply = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify(body));
};
const TOKEN = { token_type: 'Bearer', expires_in: 3599, access_token: 'a.b.c' };

t.test('a 429 with Retry-After and a 503 from the token endpoint are waited out, MSAL sees only the token', async (t) => {
  const endpoint = await tokenEndpoint(t, (_req, res, call) =>
    call === 1 ? reply(res, 429, { error: 'temporarily_unavailable' }, { 'retry-after': '0.15' }) : call === 2 ? reply(res, 503, {}) : reply(res, 200, TOKEN),
  );
  const answer = await endpoint.post();
  t.equal(answer.status, 200);
  t.equal(answer.body.access_token, 'a.b.c');
  t.equal(endpoint.seen.length, 3);
  t.ok(endpoint.seen[1]! - endpoint.seen[0]! >= 145, 'Retry-After was honoured');
});

t.test('a token endpoint that stays unavailable fails with the host and the cause, never [object Object]', async (t) => {
  // Graph-shaped error bodies ({"error":{"code","message"}}) are what MSAL printed as [object Object].
  const endpoint = await tokenEndpoint(t, (_req, res) => reply(res, 503, { error: { code: 'serviceNotAvailable', message: 'The service is temporarily unavailable.' } }, { 'retry-after': '0.01', 'x-ms-request-id': 'r-1' }));
  const error = await endpoint.post().catch((e: unknown) => e);
  t.type(error, TokenRequestFailed);
  const failure = (error as TokenRequestFailed).failure;
  t.match(failure, { kind: 'throttled', details: { status: 503, code: 'serviceNotAvailable', requestId: 'r-1', clientRequestId: 'corr-1', retryAfterSeconds: 1 } });
  t.match(failure.message, new RegExp(`^Entra ID's token endpoint \\(${endpoint.host.replace(/\./g, '\\.')}\\) answered 503 serviceNotAvailable: The service is temporarily unavailable\\.`));
  t.notMatch(failure.message, /object Object/);
  t.equal(endpoint.seen.length, 4, 'bounded: four attempts');
});

t.test('a 500 is retried and then a 502-kind failure; a 400 goes to MSAL at once', async (t) => {
  const endpoint = await tokenEndpoint(t, (req, res, call) => (call <= 4 ? reply(res, 500, { error: 'server_error', error_description: 'AADSTS90033: A transient error has occurred.' }) : reply(res, 400, { error: 'invalid_request' })));
  const error = (await endpoint.post().catch((e: unknown) => e)) as TokenRequestFailed;
  t.match(error.failure, { kind: 'failed', details: { status: 500, code: 'server_error' }, message: /answered 500 server_error: AADSTS90033/ });
  const final = await endpoint.post();
  t.equal(final.status, 400, 'a final answer is MSAL’s to read');
  t.equal(endpoint.seen.length, 5);
});

t.test('a reset connection is retried; a hang ends with the budget of the request', async (t) => {
  let mode: 'reset-once' | 'hang' = 'reset-once';
  const endpoint = await tokenEndpoint(t, (req, res, call) => {
    if (mode === 'hang') return;
    if (call === 1) return req.socket.destroy();
    reply(res, 200, TOKEN);
  });
  t.equal((await endpoint.post()).status, 200);
  t.equal(endpoint.seen.length, 2);

  mode = 'hang';
  const started = Date.now();
  const error = (await endpoint.post(deadlineIn(400, "the secret read's budget")).catch((e: unknown) => e)) as TokenRequestFailed;
  const took = Date.now() - started;
  t.match(error.failure, { kind: 'timeout', message: /did not answer within the secret read's budget of 0\.4 s/ });
  t.ok(took >= 380 && took < 3_000, `within the budget (${took} ms)`);
});

t.test('a reset connection whose retry then runs into the budget is reported as the reset, not a timeout', async (t) => {
  // The fault matrix's persistent reset on a loaded machine: the last retry is cut off by the budget.
  const endpoint = await tokenEndpoint(t, (req, _res, call) => {
    if (call === 1) req.socket.destroy();
    // and the retry is never answered
  });
  const error = (await endpoint.post(deadlineIn(400, "the secret read's budget")).catch((e: unknown) => e)) as TokenRequestFailed;
  t.match(error.failure, { kind: 'failed', message: /could not be reached \(.+\) and then did not answer in time, 2 attempt\(s\)/ });
  t.equal(endpoint.seen.length, 2);
});

t.test('a Retry-After longer than the budget is not waited for', async (t) => {
  const endpoint = await tokenEndpoint(t, (_req, res) => reply(res, 429, { error: 'temporarily_unavailable' }, { 'retry-after': '30' }));
  const started = Date.now();
  const error = (await endpoint.post(deadlineIn(2_000, 'the budget')).catch((e: unknown) => e)) as TokenRequestFailed;
  t.ok(Date.now() - started < 1_000, 'fails at once');
  t.match(error.failure, { kind: 'throttled', details: { status: 429, retryAfterSeconds: 30 } });
  t.equal(endpoint.seen.length, 1);
});

t.test('a 200 whose body is not JSON is a broken answer, not a refusal', async (t) => {
  const endpoint = await tokenEndpoint(t, (_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end('{"token_type":"Be');
  });
  const error = (await endpoint.post().catch((e: unknown) => e)) as TokenRequestFailed;
  t.type(error, TokenRequestFailed);
  t.match(error.failure, { kind: 'failed', details: { status: 200 }, message: /answered 200 with a body that is not JSON/ });
});

t.test("a final error in Graph's shape reaches MSAL in OAuth's shape", async (t) => {
  const endpoint = await tokenEndpoint(t, (_req, res) => reply(res, 400, { error: { code: 'BadRequest', message: 'The request was refused by a gateway.' } }));
  const answer = await endpoint.post();
  t.equal(answer.status, 400);
  t.same(answer.body, { error: 'BadRequest', error_description: 'The request was refused by a gateway.' }, 'MSAL reads error and error_description; an object would be [object Object]');
});

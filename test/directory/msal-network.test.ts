import t from 'tap';
import { createServer } from 'node:http';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { Agent } from 'undici';
import { UndiciNetworkClient } from '../../daemon/directory/msal-network.js';

t.test('MSAL requests go through our dispatcher with their headers and body, answers come back as MSAL expects', async (t) => {
  const seen: { method?: string; headers: Record<string, unknown>; body: string }[] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      seen.push({ method: req.method, headers: req.headers, body });
      if (req.url === '/text') {
        res.writeHead(502, { 'content-type': 'text/html' });
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
  t.equal(text.status, 502);
  t.equal(text.body.error, 'invalid_response', 'a non-JSON answer becomes an error body MSAL can report');
});

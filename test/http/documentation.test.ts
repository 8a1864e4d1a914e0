/**
 * The published contract and its explorer: unauthenticated, the same document the daemon is built
 * from, and Swagger UI able to send a bearer token.
 */
import t from 'tap';
import { parse as parseYaml } from 'yaml';
import { listOperations, loadSpec } from '../../openapi/contract.js';
import { packageVersion } from '../../openapi/package-root.js';
import { assertMatchesSpec, startTestDaemon } from '../helpers.js';

t.test('health answers without a token, with the package version', async (t) => {
  const d = await startTestDaemon(t);
  const res = await d.call({ url: '/v1/health', key: null });
  t.equal(res.statusCode, 200);
  assertMatchesSpec(t, res, 'getHealth');
  t.same(res.json(), { status: 'ok', version: packageVersion });
});

t.test('/openapi.json and /openapi.yaml publish the contract as written', async (t) => {
  const d = await startTestDaemon(t);
  const json = await d.call({ url: '/openapi.json', key: null });
  t.equal(json.statusCode, 200);
  t.match(json.headers['content-type'], /^application\/json/);
  const published = json.json();
  t.same(published.paths, loadSpec().paths, 'every operation, with its x-ams-cmdlet');
  t.match(published.components.securitySchemes.bearerAuth, { type: 'http', scheme: 'bearer' });

  const yaml = await d.call({ url: '/openapi.yaml', key: null });
  t.equal(yaml.statusCode, 200);
  t.match(yaml.headers['content-type'], /^application\/yaml/);
  t.same(parseYaml(yaml.body), published, 'the YAML is the same document');
});

t.test('Swagger UI is served from the package, pointed at the contract', async (t) => {
  const d = await startTestDaemon(t);
  const page = await d.call({ url: '/docs/', key: null });
  t.equal(page.statusCode, 200);
  t.match(page.headers['content-type'], /text\/html/);
  t.match(page.body, /swagger-ui/);
  const init = await d.call({ url: '/docs/static/swagger-initializer.js', key: null });
  t.equal(init.statusCode, 200);
  const bundle = await d.call({ url: '/docs/static/swagger-ui-bundle.js', key: null });
  t.equal(bundle.statusCode, 200, 'the UI assets are local, nothing is fetched from a CDN');
  const spec = await d.call({ url: '/docs/json', key: null });
  t.same(spec.json().security, [{ bearerAuth: [] }], 'the UI sees the bearer scheme, so "Authorize" can set the token');
});

t.test('Swagger UI is amsd\'s: its title, no top bar, the published contract linked, each cmdlet and role shown', async (t) => {
  const d = await startTestDaemon(t);
  const page = await d.call({ url: '/docs/', key: null });
  t.match(page.body, /<title>amsd<\/title>/, 'the tab is titled amsd, not Swagger UI');
  const init = (await d.call({ url: '/docs/static/swagger-initializer.js', key: null })).body;
  t.match(init, /"layout":"BaseLayout"/, 'no top bar, so no fastify logo and no Explore box');
  t.match(init, /InfoUrl: .*url: '\/openapi\.json'/, 'the link under the title is /openapi.json');

  const shown = (await d.call({ url: '/docs/json', key: null })).json<ReturnType<typeof loadSpec>>();
  const written = loadSpec();
  for (const op of listOperations(written)) {
    const summary = shown.paths[op.path]![op.method]!.summary!;
    const role = op.adminOnly ? 'admin only' : op.authenticated ? 'admin or user' : 'no key needed';
    t.equal(summary, `${op.cmdlet} (${role}): ${op.definition.summary}`, `${op.operationId}: the summary names the cmdlet and who may call it`);
    t.match(shown.paths[op.path]![op.method]!.description, `**PowerShell:** \`${op.cmdlet}\``);
  }
  t.same((await d.call({ url: '/openapi.json', key: null })).json().paths, written.paths, '/openapi.json stays the contract as written');
});

t.test('Swagger UI\'s pages are answered as the daemon answers anything: its request id, its 404, HEAD like GET', async (t) => {
  const d = await startTestDaemon(t);
  const page = await d.call({ url: '/docs/', key: null, headers: { 'x-request-id': 'docs-1' } });
  t.equal(page.headers['x-request-id'], 'docs-1', 'the request id comes back, as on every answer');
  const missing = await d.call({ url: '/docs/no-such-page', key: null });
  t.equal(missing.statusCode, 404);
  t.match(missing.headers['content-type'], /^application\/problem\+json/, 'an unknown page is the daemon\'s own 404');
  const redirect = await d.call({ url: '/docs/static/index.html', key: null });
  t.equal(redirect.statusCode, 302);
  t.equal(redirect.headers.location, '/docs/');
  t.equal(redirect.headers['content-type'], undefined, 'a redirect has no body, so no type');
  const head = await d.call({ method: 'HEAD', url: '/docs/static/swagger-initializer.js', key: null });
  const get = await d.call({ url: '/docs/static/swagger-initializer.js', key: null });
  t.equal(head.statusCode, 200);
  t.equal(head.body, '', 'HEAD has no body');
  t.equal(head.headers['content-type'], get.headers['content-type'], 'and the GET\'s type');
  t.equal((await d.call({ method: 'POST', url: '/docs/json', key: null })).statusCode, 404, 'only GET and HEAD');
});

/**
 * The outbound HTTP stack: the extra CA (`--ca-file`) is trusted besides the system roots and only where
 * it is configured; its trust list is built once, not parsed again for every new TLS connection.
 */
import t from 'tap';
import tls from 'node:tls';
import { request } from 'undici';
import { createHttpStack } from '../../daemon/directory/http-stack.js';
import { simulatedTenantFor } from '../helpers.js';

t.test('with --ca-file the simulated tenant is trusted, and new connections reuse one trust list', async (t) => {
  const { tenant, caFile } = await simulatedTenantFor(t, { devices: 1 });
  const dispatcher = createHttpStack({ caFile });
  t.teardown(() => dispatcher.close());

  // tls.connect builds a context from its options (parsing every CA handed to it) unless given one.
  const contextsBuilt: tls.SecureContextOptions[] = [];
  const original = tls.createSecureContext;
  tls.createSecureContext = (options?: tls.SecureContextOptions) => {
    contextsBuilt.push(options ?? {});
    return original(options);
  };
  t.teardown(() => {
    tls.createSecureContext = original;
  });

  for (let i = 0; i < 3; i++) {
    // `reset` closes the connection after the answer: each request is a new TLS handshake.
    const response = await request(`${tenant.authorityHost}/`, { dispatcher, reset: true });
    await response.body.dump();
    t.ok(response.statusCode > 0, `request ${i + 1} got a TLS answer from the simulated tenant`);
  }
  t.same(contextsBuilt.filter((options) => options.ca), [], 'no CA list is parsed per connection');
});

t.test('without --ca-file only the system roots are trusted: the simulated tenant is refused', async (t) => {
  const { tenant } = await simulatedTenantFor(t, { devices: 1 });
  const dispatcher = createHttpStack();
  t.teardown(() => dispatcher.close());
  await t.rejects(request(`${tenant.authorityHost}/`, { dispatcher }), /certificate/i);
});

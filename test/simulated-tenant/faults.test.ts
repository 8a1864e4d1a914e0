/**
 * Injected faults, seen through the daemon's GraphClient: throttling and outages are retried and show in
 * the call log; hangs, resets and broken bodies become clear errors.
 */
import t from 'tap';
import { tenantFor } from './fixtures/harness.js';

const DEVICES = '/v1.0/devices';

t.test('a 429 with Retry-After is waited out and retried; the call count shows every attempt', async (t) => {
  const { tenant, graph } = await tenantFor(t);
  tenant.faults.inject(DEVICES, { kind: 'throttle', retryAfter: 0.2, times: 2 });
  const started = Date.now();
  const devices = await graph().all('/v1.0/devices?$top=999');
  t.equal(devices.length, tenant.directory.devices.length);
  t.ok(Date.now() - started >= 390, 'waited Retry-After twice');
  t.equal(tenant.callCount(DEVICES), 3);
  t.same(tenant.calls.filter((c) => c.path === DEVICES).map((c) => c.status), [429, 429, 200]);
  t.equal(new Set(tenant.calls.filter((c) => c.service === 'graph').map((c) => c.clientRequestId)).size, 1, 'retries keep one client-request-id');
  t.equal(tenant.faults.pending(), 0);
  tenant.resetCalls();
  t.equal(tenant.callCount(), 0);
});

t.test('a 503 without Retry-After and a 504 with one, then success; faults apply only under their prefix', async (t) => {
  const { tenant, graph } = await tenantFor(t);
  tenant.faults.inject('/v1.0/users', { kind: 'unavailable' });
  tenant.faults.inject(DEVICES, { kind: 'unavailable' }).inject(DEVICES, { kind: 'unavailable', status: 504, retryAfter: '0.05' });
  t.ok(await graph().call(`/v1.0/devices/${tenant.directory.devices[0]!.id}`));
  const graphCalls = tenant.calls.filter((c) => c.service === 'graph');
  t.same(graphCalls.map((c) => [c.status, c.fault]), [[503, 'unavailable'], [504, 'unavailable'], [200, undefined]]);
  t.ok(graphCalls[2]!.at - graphCalls[1]!.at >= 45, 'the 504 Retry-After was honoured');
  t.equal(tenant.faults.pending('/v1.0/users'), 1, 'the users fault is still armed');
});

t.test('a hang runs into the client deadline; a reset and a malformed body fail clearly', async (t) => {
  const { tenant, graph } = await tenantFor(t);
  tenant.faults.inject(DEVICES, { kind: 'hang' });
  const started = Date.now();
  t.match(await graph({ deadlineMs: 300 }).call(DEVICES).catch((e: unknown) => e), { kind: 'timeout' });
  t.ok(Date.now() - started < 2_000);

  tenant.faults.inject(DEVICES, { kind: 'reset' });
  t.ok(await graph().call(`${DEVICES}?$top=1`), 'one reset of a GET is retried');
  t.same(tenant.calls.filter((c) => c.path === DEVICES).slice(-2).map((c) => c.fault), ['reset', undefined]);

  tenant.faults.inject(DEVICES, { kind: 'reset', times: 3 });
  const reset = await graph().call(DEVICES).catch((e: unknown) => e);
  t.match(reset, { kind: 'failed', message: /could not be reached|broke off/ }, 'resets that go on fail clearly, after a bounded number of tries');
  t.comment(`reset seen as: ${(reset as Error).message}`);

  tenant.faults.inject(DEVICES, { kind: 'malformed' });
  t.match(await graph().call(DEVICES).catch((e: unknown) => e), { kind: 'failed', message: /not JSON \(request-id [0-9a-f-]{36}\)/ });
  t.equal(tenant.callCount(DEVICES), 1 + 2 + 3 + 1);
});

t.test('latency delays the answer; faults can target the token endpoint too', async (t) => {
  const { tenant, graph, tokenRequest, secretForm } = await tenantFor(t);
  tenant.faults.inject(DEVICES, { kind: 'latency', latencyMs: 250 });
  const started = Date.now();
  await graph().call(`${DEVICES}?$top=1`);
  t.ok(Date.now() - started >= 245);

  tenant.faults.inject(`/${tenant.tenantId}/oauth2`, { kind: 'throttle', retryAfter: 5 });
  const throttled = await tokenRequest(secretForm());
  t.equal(throttled.status, 429);
  t.equal((await tokenRequest(secretForm())).status, 200);
});

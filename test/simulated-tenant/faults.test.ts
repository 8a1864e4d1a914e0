/**
 * Injected faults, seen through the daemon's GraphClient: throttling and outages are retried and show in
 * the call log; hangs, resets and broken bodies become clear errors.
 */
import t from 'tap';
import { Faults } from '../../daemon/simulated-tenant/faults.js';
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

t.test('a standing latency applies to every request under its prefix until changed; the longest prefix wins', async (t) => {
  const faults = new Faults().setLatency('/v1.0', 20).setLatency('/v1.0/devices', 5);
  t.equal(faults.latencyFor('/v1.0/users/x'), 20);
  t.equal(faults.latencyFor('/v1.0/devices/x'), 5, 'the longer prefix');
  t.equal(faults.latencyFor('/tenant/oauth2/v2.0/token'), 0, 'not under any prefix');
  t.equal(faults.latencyFor('/v1.0/users/x'), 20, 'not consumed by use');
  faults.clear();
  t.equal(faults.latencyFor('/v1.0/users/x'), 20, 'clear() removes armed faults, not the standing latency');
  faults.setLatency('/v1.0', 0);
  t.equal(faults.latencyFor('/v1.0/users/x'), 0, '0 removes it');
  t.throws(() => faults.setLatency('/v1.0', -1), RangeError);
  t.throws(() => faults.setLatency('/v1.0', Number.NaN), RangeError);
});

t.test('the simulated tenant waits out the standing latency on each call, and records when each answer ended', async (t) => {
  const { tenant, graph } = await tenantFor(t);
  const client = graph();
  await client.call(`${DEVICES}?$top=1`); // the token, fetched before the latency applies
  tenant.resetCalls();
  tenant.faults.setLatency('/v1.0', 150);
  await client.call(`${DEVICES}?$top=1`);
  await client.call(`${DEVICES}?$top=1`);
  const calls = tenant.calls.filter((c) => c.service === 'graph');
  t.equal(calls.length, 2);
  for (const call of calls) t.ok(call.endedAt! - call.at >= 145, `answered after the latency (${call.endedAt! - call.at} ms)`);
  t.ok(calls[1]!.at >= calls[0]!.endedAt!, 'sequential calls: the second started after the first ended');
  tenant.faults.setLatency('/v1.0', 0);
  t.equal(tenant.faults.latencyFor(DEVICES), 0);
});

t.test('keepAliveTimeoutMs keeps idle connections open longer, and says so in Keep-Alive', async (t) => {
  const { raw } = await tenantFor(t, { keepAliveTimeoutMs: 120_000 });
  t.equal((await raw(`${DEVICES}?$top=1`)).headers['keep-alive'], 'timeout=120');
  const { raw: byDefault } = await tenantFor(t);
  t.equal((await byDefault(`${DEVICES}?$top=1`)).headers['keep-alive'], 'timeout=5', "Node's default otherwise");
});

/**
 * Get/Set-AmsServiceConfig: defaults shown, changes validated, applied at once, and audited.
 */
import t from 'tap';
import { auditLogPath } from '../../daemon/audit/audit-log.js';
import { verifyAuditLog } from '../../daemon/audit/chain.js';
import { SettingsService } from '../../daemon/settings/settings-service.js';
import { assertMatchesSpec, createKey, startTestDaemon } from '../helpers.js';

t.test('settings show their defaults and change without a restart, audited', async (t) => {
  const daemon = await startTestDaemon(t);
  const shown = await daemon.call({ url: '/v1/service-config' });
  assertMatchesSpec(t, shown, 'getServiceConfig');
  t.same(shown.json(), {
    userRateLimitPerMinute: 10,
    userRateLimitPerHour: 50,
    userRateLimitPerDay: 100,
    ipRateLimitPerMinute: 10,
    ipRateLimitPerHour: 50,
    ipRateLimitPerDay: 100,
    trustedProxies: [],
    deviceCacheSeconds: 60,
    groupCacheSeconds: 300,
    secretReadTimeoutSeconds: 30,
    globalChannelsSuccess: [],
    globalChannelsFailure: [],
    auditRetentionDays: 0,
    auditMaxEvents: 0,
  }, "Access Manager's rate limits, a minute for devices, five for groups, 30 s for a secret read, no global channels, audit kept forever");

  const changed = await daemon.call({ method: 'PATCH', url: '/v1/service-config', body: { userRateLimitPerDay: 500, trustedProxies: ['10.0.0.0/8', 'fd00::/8'] } });
  assertMatchesSpec(t, changed, 'updateServiceConfig');
  t.match(changed.json(), { userRateLimitPerDay: 500, userRateLimitPerMinute: 10, trustedProxies: ['10.0.0.0/8', 'fd00::/8'] });
  const event = (await daemon.call({ url: '/v1/audit-events?type=settings.updated' })).json().items[0];
  t.match(event, { eventId: 2133, before: { userRateLimitPerDay: 100 }, after: { userRateLimitPerDay: 500 } });

  await daemon.app.close();
  const again = await startTestDaemon(t, daemon.dataDir);
  t.equal((await again.call({ url: '/v1/service-config' })).json().userRateLimitPerDay, 500, 'kept across a restart');
});

t.test('bad settings are refused, naming each field, and change nothing', async (t) => {
  const daemon = await startTestDaemon(t);
  const res = await daemon.call({ method: 'PATCH', url: '/v1/service-config', body: { userRateLimitPerMinute: 60, trustedProxies: ['10.0.0.0/33', 'proxy.example'] } });
  t.equal(res.statusCode, 400);
  const paths = res.json().errors.map((e: { path: string }) => e.path);
  t.same(paths.sort(), ['body/trustedProxies/0', 'body/trustedProxies/1', 'body/userRateLimitPerHour'].sort());
  t.equal((await daemon.call({ method: 'PATCH', url: '/v1/service-config', body: { ipRateLimitPerDay: 0 } })).statusCode, 400);
  t.equal((await daemon.call({ method: 'PATCH', url: '/v1/service-config', body: {} })).statusCode, 400);
  t.equal((await daemon.call({ url: '/v1/service-config' })).json().userRateLimitPerMinute, 10, 'unchanged');

  const user = await createKey(t, daemon, { name: 'u', role: 'user' });
  t.equal((await daemon.call({ url: '/v1/service-config', key: user })).statusCode, 403);
});

t.test('audit retention prunes at once, and the trail still verifies', async (t) => {
  const daemon = await startTestDaemon(t);
  for (let i = 0; i < 6; i++) await daemon.call({ method: 'POST', url: '/v1/api-keys', body: { name: `k${i}`, role: 'user' } });
  const res = await daemon.call({ method: 'PATCH', url: '/v1/service-config', body: { auditMaxEvents: 3 } });
  t.equal(res.statusCode, 200);
  let events: { type: string; seq: number }[] = [];
  for (let i = 0; i < 50; i++) {
    events = (await daemon.call({ url: '/v1/audit-events?top=100' })).json().items;
    if (events.some((e) => e.type === 'audit.pruned')) break;
    await new Promise((r) => setTimeout(r, 20));
  }
  t.same(events.map((e) => e.type), ['audit.pruned', 'settings.updated', 'apiKey.created', 'apiKey.created'], 'the newest three kept, then the pruning itself');
  t.match(events[0], { pruned: { throughSeq: 4, events: 4, keepLast: 3 } }, 'the pruning event says what it removed');
  t.match(await verifyAuditLog(auditLogPath(daemon.dataDir), daemon.audit.key), { ok: true, firstSeq: 5 }, 'amsd audit verify still passes');
});

t.test('the settings in effect are one shared, frozen object until they change', async (t) => {
  const daemon = await startTestDaemon(t);
  const settings = new SettingsService(daemon.store);
  const first = settings.get();
  t.equal(settings.get(), first, 'asked again: the same object, not a copy per call');
  t.throws(() => ((first as { secretReadTimeoutSeconds: number }).secretReadTimeoutSeconds = 1), TypeError, 'no caller can change it for the others');
  t.throws(() => (first.trustedProxies).push('10.0.0.1'), TypeError);
  t.equal((await daemon.call({ method: 'PATCH', url: '/v1/service-config', body: { secretReadTimeoutSeconds: 12 } })).statusCode, 200);
  t.not(settings.get(), first);
  t.equal(settings.get().secretReadTimeoutSeconds, 12, 'a change is in effect at once');
});

t.test('a change to the settings made past the service (another daemon\'s, on a shared database) reaches what holds a setting', async (t) => {
  const daemon = await startTestDaemon(t);
  const settings = new SettingsService(daemon.store);
  const applied: number[] = [];
  settings.subscribe((current) => applied.push(current.userRateLimitPerMinute));
  // What a store announces for a change another daemon made: the same as for one made here.
  await daemon.store.mutate((draft) => draft.set('settings', { ...draft.document('settings'), userRateLimitPerMinute: 4 }));
  await daemon.store.mutate((draft) => draft.put('apiKeys', { ...draft.rows('apiKeys')[0]!, description: 'not a settings change' }));
  t.same(applied, [10, 4], 'applied at once when it changes, and only then');
});

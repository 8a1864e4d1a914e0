import t from 'tap';
import { RuleIndex, type AccessDecision } from '../../daemon/access/evaluation.js';
import {
  ACCESS_TYPES,
  PRINCIPAL_LISTS,
  targetKind,
  type AccessType,
  type DeviceIdentity,
  type PrincipalRef,
  type RulePrincipals,
  type RuleRecord,
} from '../../daemon/access/types.js';

const TENANT_A = 'aaaaaaaa-0000-4000-8000-000000000001';
const TENANT_B = 'bbbbbbbb-0000-4000-8000-000000000002';
const NOW = Date.parse('2025-06-01T12:00:00Z');

const ALICE = 'a11ce000-0000-4000-8000-000000000001';
const BOB = 'b0b00000-0000-4000-8000-000000000002';
const HELPDESK = '9e1bde5c-0000-4000-8000-000000000003';
const LAPTOPS = '1a970b50-0000-4000-8000-000000000004';
const SERVERS = '5e72e250-0000-4000-8000-000000000005';

const pc1: DeviceIdentity = { tenantId: TENANT_A, deviceId: 'dddddddd-0000-4000-8000-000000000001', objectId: 'o-pc1', deviceName: 'PC1' };
const pc2: DeviceIdentity = { tenantId: TENANT_A, deviceId: 'dddddddd-0000-4000-8000-000000000002', objectId: 'o-pc2', deviceName: 'PC2' };
const pcOfB: DeviceIdentity = { ...pc1, tenantId: TENANT_B, deviceName: 'PC1-in-B' };

const user = (id: string): PrincipalRef => ({ id, type: 'user', displayName: `user ${id.slice(0, 5)}` });
const group = (id: string): PrincipalRef => ({ id, type: 'group', displayName: `group ${id.slice(0, 5)}` });

const noPrincipals = (): RulePrincipals => ({
  principalsAllowedLaps: [],
  principalsDeniedLaps: [],
  principalsAllowedLapsHistory: [],
  principalsDeniedLapsHistory: [],
  principalsAllowedBitLocker: [],
  principalsDeniedBitLocker: [],
});

let created = 0;
function rule(id: string, fields: Partial<RuleRecord> = {}): RuleRecord {
  created++;
  return {
    id,
    description: `rule ${id}`,
    tenantId: TENANT_A,
    disabled: false,
    userRequestReasonRequirement: 'Optional',
    notificationChannelsSuccess: [],
    notificationChannelsFailure: [],
    createdAt: new Date(Date.parse('2024-01-01T00:00:00Z') + created * 1000).toISOString(),
    createdBy: 'admin',
    ...noPrincipals(),
    ...fields,
  };
}

function ask(
  index: RuleIndex,
  options: { device?: DeviceIdentity; groups?: string[]; caller?: string[]; accessType?: AccessType; now?: number } = {},
): AccessDecision {
  return index.evaluate({
    device: options.device ?? pc1,
    deviceGroupIds: new Set(options.groups ?? []),
    callerPrincipalIds: new Set(options.caller ?? [ALICE]),
    accessType: options.accessType ?? 'LocalAdminPassword',
    now: options.now ?? NOW,
  });
}

t.test('each target kind: tenant, group, device', async (t) => {
  const index = RuleIndex.build([
    rule('tenant', { principalsAllowedLaps: [user(ALICE)] }),
    rule('group', { groupId: LAPTOPS, principalsAllowedLaps: [user(BOB)] }),
    rule('device', { deviceId: pc1.deviceId.toUpperCase(), principalsAllowedBitLocker: [user(ALICE)] }),
  ]);

  t.same(ask(index, { device: pc2 }).matchingRules, ['tenant'], 'a tenant rule contains every device of its tenant');
  t.same(ask(index, { device: pc2, groups: [LAPTOPS] }).matchingRules, ['group', 'tenant'], 'a group rule contains the devices in its group');
  t.same(ask(index, { device: pc2, groups: [SERVERS] }).matchingRules, ['tenant'], 'and not the others');
  t.same(ask(index, { device: pc2, groups: [LAPTOPS.toUpperCase()] }).matchingRules, ['group', 'tenant'], 'group ids compare without case');
  t.same(ask(index).matchingRules, ['device', 'tenant'], 'a device rule contains its device, ids compared without case');
  t.same(ask(index, { device: { ...pc1, deviceId: pc1.deviceId.toUpperCase() } }).matchingRules, ['device', 'tenant'], 'whichever side is upper case');

  const bob = ask(index, { device: pc2, groups: [LAPTOPS], caller: [BOB] });
  t.equal(bob.code, 'Success');
  t.equal(bob.grantingRule?.id, 'group');
  t.equal(ask(index, { device: pc2, caller: [BOB] }).code, 'NoMatchingRuleForUser', 'not in the group: the group rule does not apply');
  t.equal(ask(index, { accessType: 'BitLockerRecoveryKey' }).grantingRule?.id, 'device');
  t.equal(ask(index, { device: pc2, accessType: 'BitLockerRecoveryKey' }).code, 'NoMatchingRuleForUser', 'the device rule is about PC1 only');
});

t.test('no rule for the computer, no rule for the user', async (t) => {
  const empty = ask(RuleIndex.build([]));
  t.equal(empty.code, 'NoMatchingRuleForComputer');
  t.equal(empty.allowed, false);
  t.same(empty.matchingRules, []);
  t.same(empty.failureChannels, []);

  const index = RuleIndex.build([
    rule('other-device', { deviceId: pc2.deviceId, principalsAllowedLaps: [user(ALICE)] }),
    rule('servers', { groupId: SERVERS, principalsAllowedLaps: [user(ALICE)] }),
  ]);
  t.equal(ask(index, { groups: [LAPTOPS] }).code, 'NoMatchingRuleForComputer', 'rules exist, none contains this device');

  const silent = RuleIndex.build([rule('bob-only', { principalsAllowedLaps: [user(BOB)], principalsDeniedBitLocker: [user(ALICE)] })]);
  const decision = ask(silent);
  t.equal(decision.code, 'NoMatchingRuleForUser', 'a rule contains the device but names the caller nowhere for this access type');
  t.equal(decision.allowed, false);
  t.same(decision.matchingRules, ['bob-only']);
  t.same(decision.denyingRules, []);
  t.equal(decision.grantingRule, undefined);
  t.equal(decision.reasonRequirement, 'Hidden');
});

t.test('the most specific granting rule decides whether a read of the current password rotates it, and after how long', async (t) => {
  const index = RuleIndex.build([
    rule('tenant-rotates-in-an-hour', { principalsAllowedLaps: [user(ALICE)], principalsAllowedLapsHistory: [user(ALICE)], rotateAfterReadMinutes: 60 }),
    rule('laptops-rotate-at-once', { groupId: LAPTOPS, principalsAllowedLaps: [user(ALICE)], rotateAfterReadMinutes: 0 }),
    rule('pc2-never', { deviceId: pc2.deviceId, principalsAllowedLaps: [user(ALICE)] }),
    rule('pc2-bob-rotates', { deviceId: pc2.deviceId, principalsAllowedLaps: [user(BOB)], rotateAfterReadMinutes: 5 }),
  ]);
  t.equal(ask(index).rotateAfterReadMinutes, 60, 'only the tenant rule grants it');
  t.equal(ask(index, { groups: [LAPTOPS] }).rotateAfterReadMinutes, 0, 'the group rule is more specific: 0 means at once');
  t.equal(ask(index, { device: pc2, groups: [LAPTOPS] }).rotateAfterReadMinutes, undefined, "the device rule grants without rotation: no rotation, whatever the others say");
  t.equal(ask(index, { device: pc2, caller: [BOB] }).rotateAfterReadMinutes, 5, "a rule that does not grant the caller does not decide");
  t.equal(ask(index, { accessType: 'LocalAdminPasswordHistory' }).rotateAfterReadMinutes, undefined, 'the history is of passwords no longer in use: no rotation');
  t.equal(ask(index, { caller: [HELPDESK] }).rotateAfterReadMinutes, undefined, 'nor for a refusal');
});

t.test('the rotation access type has its own lists; rules written before them grant and deny it nothing', async (t) => {
  const before = rule('before-rotation', { principalsAllowedLaps: [user(ALICE)] });
  delete (before as Partial<RuleRecord>).principalsAllowedLapsRotation;
  delete (before as Partial<RuleRecord>).principalsDeniedLapsRotation;
  const index = RuleIndex.build([before, rule('rotators', { deviceId: pc2.deviceId, principalsAllowedLapsRotation: [user(BOB)], principalsDeniedLapsRotation: [user(ALICE)] })]);
  t.equal(ask(index, { accessType: 'LocalAdminPasswordRotation' }).code, 'NoMatchingRuleForUser');
  t.equal(ask(index, { device: pc2, caller: [BOB], accessType: 'LocalAdminPasswordRotation' }).code, 'Success');
  t.equal(ask(index, { device: pc2, accessType: 'LocalAdminPasswordRotation' }).code, 'ExplicitlyDenied');
  t.equal(ask(index, { device: pc2, accessType: 'LocalAdminPassword' }).code, 'Success', 'the read is its own access type');
});

t.test('a deny in any matching rule wins over every allow', async (t) => {
  const index = RuleIndex.build([
    rule('device-allow', {
      deviceId: pc1.deviceId,
      principalsAllowedLaps: [user(ALICE)],
      userRequestReasonRequirement: 'Required',
      notificationChannelsSuccess: ['ok-device'],
      notificationChannelsFailure: ['fail-device'],
    }),
    rule('group-allow', { groupId: LAPTOPS, principalsAllowedLaps: [user(ALICE)], notificationChannelsFailure: ['fail-group'] }),
    rule('tenant-deny', { principalsDeniedLaps: [user(ALICE)], notificationChannelsFailure: ['fail-tenant', 'fail-device'] }),
  ]);
  const decision = ask(index, { groups: [LAPTOPS] });
  t.equal(decision.code, 'ExplicitlyDenied', 'a deny in the least specific rule beats an allow in the most specific');
  t.equal(decision.allowed, false);
  t.same(decision.denyingRules, ['tenant-deny']);
  t.equal(decision.grantingRule, undefined, 'no rule grants, so none supplies settings');
  t.equal(decision.reasonRequirement, 'Hidden');
  t.same(decision.successChannels, []);
  t.same(decision.failureChannels, ['fail-device', 'fail-group', 'fail-tenant'], 'failure channels of every matching rule, once each');

  const outside = ask(index, { device: pc2 });
  t.equal(outside.code, 'ExplicitlyDenied', 'the tenant deny applies to every device of the tenant');
  t.same(outside.failureChannels, ['fail-tenant', 'fail-device'], 'only the channels of the rules that contain this device');
});

t.test('a deny in a rule that also allows the caller is still a deny', async (t) => {
  const index = RuleIndex.build([rule('both', { principalsAllowedLaps: [user(ALICE)], principalsDeniedLaps: [group(HELPDESK)] })]);
  const decision = ask(index, { caller: [ALICE, HELPDESK] });
  t.equal(decision.code, 'ExplicitlyDenied');
  t.same(decision.explanation[0]?.allowedVia, [user(ALICE)]);
  t.same(decision.explanation[0]?.deniedVia, [group(HELPDESK)]);
  t.equal(decision.explanation[0]?.effect, 'deny');
});

t.test("a group the caller belongs to works like the caller's own id", async (t) => {
  const index = RuleIndex.build([
    rule('allow-helpdesk', { principalsAllowedLaps: [group(HELPDESK)], principalsAllowedBitLocker: [user(ALICE)] }),
    rule('deny-helpdesk', { deviceId: pc2.deviceId, principalsDeniedBitLocker: [group(HELPDESK)] }),
  ]);
  t.equal(ask(index, { caller: [ALICE] }).code, 'NoMatchingRuleForUser', 'Alice alone is not named');
  const viaGroup = ask(index, { caller: [ALICE, HELPDESK] });
  t.equal(viaGroup.code, 'Success', 'Alice with her group is allowed through it');
  t.same(viaGroup.explanation[0]?.allowedVia, [group(HELPDESK)]);

  t.equal(ask(index, { device: pc2, caller: [ALICE], accessType: 'BitLockerRecoveryKey' }).code, 'Success');
  const denied = ask(index, { device: pc2, caller: [ALICE, HELPDESK], accessType: 'BitLockerRecoveryKey' });
  t.equal(denied.code, 'ExplicitlyDenied', 'a deny through a group beats an allow of the user herself');
  t.same(denied.denyingRules, ['deny-helpdesk']);

  t.equal(ask(index, { caller: [ALICE, HELPDESK.toUpperCase()] }).code, 'Success', "the caller's ids compare without case");
});

t.test('disabled and expired rules are ignored; an expiry in the future is honoured', async (t) => {
  const hourAgo = new Date(NOW - 3_600_000).toISOString();
  const inAnHour = new Date(NOW + 3_600_000).toISOString();
  const index = RuleIndex.build([
    rule('disabled-deny', { disabled: true, principalsDeniedLaps: [user(ALICE)] }),
    rule('expired-deny', { ruleExpiryDate: hourAgo, principalsDeniedLaps: [user(ALICE)] }),
    rule('expired-allow', { deviceId: pc1.deviceId, ruleExpiryDate: hourAgo, principalsAllowedLaps: [user(ALICE)] }),
    rule('current-allow', { ruleExpiryDate: inAnHour, principalsAllowedLaps: [user(ALICE)] }),
    rule('disabled-allow', { deviceId: pc1.deviceId, disabled: true, principalsAllowedLaps: [user(ALICE)] }),
  ]);
  const decision = ask(index);
  t.equal(decision.code, 'Success');
  t.same(decision.matchingRules, ['current-allow'], 'only the active rule matches');
  t.equal(decision.grantingRule?.id, 'current-allow', 'the expired device rule does not grant');
  t.equal(index.size, 3, 'disabled rules are not even indexed');

  t.equal(ask(index, { now: NOW + 3_600_000 }).code, 'NoMatchingRuleForComputer', 'at its expiry a rule stops applying');
  t.equal(ask(index, { now: NOW + 3_599_999 }).code, 'Success', 'and applies until then');
  t.equal(ask(index, { now: NOW - 7_200_000 }).code, 'ExplicitlyDenied', 'before the others expired, their deny applied');
});

t.test('a rule whose expiry cannot be read keeps its denies and loses its allows', async (t) => {
  const index = RuleIndex.build([
    rule('broken-allow', { deviceId: pc1.deviceId, ruleExpiryDate: 'next tuesday', principalsAllowedLaps: [user(ALICE)] }),
    rule('broken-deny', { deviceId: pc2.deviceId, ruleExpiryDate: 'soon', principalsDeniedLaps: [user(ALICE)] }),
    rule('tenant-allow', { principalsAllowedLaps: [user(BOB)] }),
    rule('tenant-allow-alice-pc2', { deviceId: pc2.deviceId, principalsAllowedLaps: [user(ALICE)] }),
  ]);
  const decision = ask(index);
  t.equal(decision.code, 'NoMatchingRuleForUser');
  t.equal(decision.explanation[0]?.invalidExpiry, true);
  t.equal(decision.explanation[0]?.effect, 'none');
  t.same(decision.explanation[0]?.allowedVia, [user(ALICE)], 'the explanation still shows whom it names');
  t.equal(ask(index, { device: pc2 }).code, 'ExplicitlyDenied');
});

t.test('the granting rule is the most specific one, ties broken by age then id', async (t) => {
  const allowAlice = { principalsAllowedLaps: [user(ALICE)] };
  const rules = [
    rule('tenant', { ...allowAlice, userRequestReasonRequirement: 'Hidden' }),
    rule('group', { ...allowAlice, groupId: LAPTOPS, userRequestReasonRequirement: 'Optional' }),
    rule('device', { ...allowAlice, deviceId: pc1.deviceId, userRequestReasonRequirement: 'Required', notificationChannelsSuccess: ['s-device'] }),
    rule('device-silent', { deviceId: pc1.deviceId, principalsAllowedLaps: [user(BOB)] }),
  ];
  // Every order of input gives the same answer.
  for (const order of [rules, [...rules].reverse()]) {
    const index = RuleIndex.build(order);
    const decision = ask(index, { groups: [LAPTOPS] });
    t.equal(decision.grantingRule?.id, 'device', 'a device rule first');
    t.equal(decision.reasonRequirement, 'Required', "the granting rule's reason requirement");
    t.same(decision.successChannels, ['s-device'], "the granting rule's success channels");
    t.same(decision.matchingRules, ['device', 'device-silent', 'group', 'tenant'], 'most specific first');
    t.equal(ask(index, { device: pc2, groups: [LAPTOPS] }).grantingRule?.id, 'group', 'then a group rule');
    t.equal(ask(index, { device: pc2, groups: [LAPTOPS] }).reasonRequirement, 'Optional');
    t.equal(ask(index, { device: pc2 }).grantingRule?.id, 'tenant', 'then the tenant rule');
    t.equal(ask(index, { device: pc2 }).reasonRequirement, 'Hidden');
  }

  const older = rule('zzz', { groupId: SERVERS, ...allowAlice, createdAt: '2020-01-01T00:00:00Z' });
  const newer = rule('aaa', { groupId: LAPTOPS, ...allowAlice, createdAt: '2023-01-01T00:00:00Z' });
  const sameAgeB = rule('b-same', { groupId: LAPTOPS, ...allowAlice, createdAt: '2019-01-01T00:00:00Z' });
  const sameAgeA = rule('a-same', { groupId: SERVERS, ...allowAlice, createdAt: '2019-01-01T00:00:00Z' });
  t.equal(ask(RuleIndex.build([newer, older]), { groups: [LAPTOPS, SERVERS] }).grantingRule?.id, 'zzz', 'among equals, the oldest');
  t.equal(
    ask(RuleIndex.build([older, newer, sameAgeB, sameAgeA]), { groups: [SERVERS, LAPTOPS] }).grantingRule?.id,
    'a-same',
    'then the smallest id',
  );
});

t.test('failure channels come from every matching rule, success channels from the granting rule only', async (t) => {
  const index = RuleIndex.build([
    rule('device', { deviceId: pc1.deviceId, principalsAllowedLaps: [user(BOB)], notificationChannelsSuccess: ['s1'], notificationChannelsFailure: ['f1', 'f2'] }),
    rule('group', { groupId: LAPTOPS, principalsAllowedLaps: [user(ALICE)], notificationChannelsSuccess: ['s2'], notificationChannelsFailure: ['f2', 'f3'] }),
    rule('tenant', { notificationChannelsSuccess: ['s3'], notificationChannelsFailure: ['f4', 'f1'] }),
    rule('elsewhere', { deviceId: pc2.deviceId, notificationChannelsFailure: ['not-me'] }),
  ]);
  const decision = ask(index, { groups: [LAPTOPS] });
  t.equal(decision.code, 'Success');
  t.same(decision.successChannels, ['s2']);
  t.same(decision.failureChannels, ['f1', 'f2', 'f3', 'f4'], 'deduplicated, in matching-rule order, nothing from rules that do not contain the device');
  t.same(ask(index, { groups: [LAPTOPS], caller: [HELPDESK] }).failureChannels, ['f1', 'f2', 'f3', 'f4'], 'the same when refused');
});

t.test('access types are independent', async (t) => {
  const index = RuleIndex.build([
    rule('laps-only', { principalsAllowedLaps: [user(ALICE)], principalsDeniedLapsHistory: [user(BOB)] }),
    rule('bitlocker', { deviceId: pc1.deviceId, principalsAllowedBitLocker: [user(BOB)], principalsDeniedBitLocker: [group(HELPDESK)] }),
  ]);
  const alice = index.evaluateAll({ device: pc1, deviceGroupIds: new Set(), callerPrincipalIds: new Set([ALICE]), now: NOW });
  t.same(Object.keys(alice).sort(), [...ACCESS_TYPES].sort());
  t.equal(alice.LocalAdminPassword.code, 'Success', 'LAPS allowed');
  t.equal(alice.LocalAdminPasswordHistory.code, 'NoMatchingRuleForUser', 'does not allow history');
  t.equal(alice.BitLockerRecoveryKey.code, 'NoMatchingRuleForUser', 'nor BitLocker');
  for (const accessType of ACCESS_TYPES) {
    t.same(alice[accessType], ask(index, { accessType }), `evaluateAll agrees with evaluate for ${accessType}`);
    t.equal(alice[accessType].accessType, accessType);
  }

  const bob = index.evaluateAll({ device: pc1, deviceGroupIds: new Set(), callerPrincipalIds: new Set([BOB, HELPDESK]), now: NOW });
  t.equal(bob.LocalAdminPassword.code, 'NoMatchingRuleForUser');
  t.equal(bob.LocalAdminPasswordHistory.code, 'ExplicitlyDenied', 'a history deny says nothing of LAPS');
  t.equal(bob.BitLockerRecoveryKey.code, 'ExplicitlyDenied');
  t.same(
    bob.BitLockerRecoveryKey.explanation.map((e) => [e.ruleId, e.effect]),
    [
      ['bitlocker', 'deny'],
      ['laps-only', 'none'],
    ],
    'the explanation names each matching rule and what it says of the caller',
  );
});

t.test('tenants do not leak into each other', async (t) => {
  const index = RuleIndex.build([
    rule('a-tenant', { principalsAllowedLaps: [user(ALICE)] }),
    rule('a-group', { groupId: LAPTOPS, principalsAllowedLaps: [user(ALICE)] }),
    rule('a-device', { deviceId: pc1.deviceId, principalsAllowedLaps: [user(ALICE)] }),
    rule('b-deny', { tenantId: TENANT_B, principalsDeniedLaps: [user(ALICE)] }),
  ]);
  const inB = ask(index, { device: pcOfB, groups: [LAPTOPS] });
  t.equal(inB.code, 'ExplicitlyDenied', "only tenant B's rule applies to a device of B, even with the same device and group ids");
  t.same(inB.matchingRules, ['b-deny']);
  t.equal(ask(index, { groups: [LAPTOPS] }).code, 'Success', "B's deny does not reach A's devices");
  t.equal(ask(index, { device: { ...pc1, tenantId: TENANT_A.toUpperCase() } }).code, 'Success', 'tenant ids compare without case');
  t.equal(ask(index, { device: { ...pc1, tenantId: 'cccccccc-0000-4000-8000-000000000003' } }).code, 'NoMatchingRuleForComputer');
});

t.test('groupsToCheck lists the groups of active rules of that tenant only', async (t) => {
  const hourAgo = new Date(NOW - 3_600_000).toISOString();
  const inAnHour = new Date(NOW + 3_600_000).toISOString();
  const index = RuleIndex.build([
    rule('laptops', { groupId: LAPTOPS.toUpperCase() }),
    rule('servers-expired', { groupId: SERVERS, ruleExpiryDate: hourAgo }),
    rule('helpdesk-disabled', { groupId: HELPDESK, disabled: true }),
    rule('g4-expiring', { groupId: 'g4', ruleExpiryDate: inAnHour }),
    rule('g5-expired', { groupId: 'g5', ruleExpiryDate: hourAgo }),
    rule('g5-current', { groupId: 'g5' }),
    rule('tenant', {}),
    rule('device', { deviceId: pc1.deviceId }),
    rule('b-group', { tenantId: TENANT_B, groupId: 'only-in-b' }),
  ]);
  t.same(index.groupsToCheck(TENANT_A, NOW).sort(), ['g4', 'g5', LAPTOPS].sort(), 'lowercase ids, active rules, this tenant');
  t.same(index.groupsToCheck(TENANT_A, NOW + 3_600_000).sort(), ['g5', LAPTOPS].sort(), 'a group leaves the list when its last rule expires');
  t.same(index.groupsToCheck(TENANT_A, NOW - 7_200_000).sort(), ['g4', 'g5', LAPTOPS, SERVERS].sort());
  t.same(index.groupsToCheck(TENANT_B.toUpperCase(), NOW), ['only-in-b']);
  t.same(index.groupsToCheck('unknown-tenant', NOW), []);
});

t.test('an evaluation reads only the rules whose target contains the device', async (t) => {
  // Every rule is wrapped so that reading any of its fields after the build is recorded.
  let building = true;
  const touched = new Set<string>();
  const rules: RuleRecord[] = [];
  for (let i = 0; i < 10_000; i++) {
    const fields: Partial<RuleRecord> =
      i % 3 === 0 ? { groupId: `group-${i}` } : i % 3 === 1 ? { deviceId: `device-${i}` } : { tenantId: `tenant-${i}` };
    const record = rule(`r${i}`, { ...fields, principalsAllowedLaps: [user(ALICE)] });
    rules.push(
      new Proxy(record, {
        get(target, key, receiver) {
          if (!building) touched.add(target.id);
          return Reflect.get(target, key, receiver) as unknown;
        },
      }),
    );
  }
  rules.push(rule('mine-device', { deviceId: pc1.deviceId, principalsDeniedLaps: [user(ALICE)] }));
  rules.push(rule('mine-tenant', {}));
  const index = RuleIndex.build(rules);
  building = false;

  const decision = ask(index, { groups: ['group-3', 'group-9999', 'not-targeted'] });
  t.equal(decision.code, 'ExplicitlyDenied');
  t.same(decision.matchingRules, ['mine-device', 'r3', 'r9999', 'mine-tenant']);
  t.same([...touched].sort(), ['r3', 'r9999'], 'of the 10,000 other rules, only the two matching ones were read');
});

t.test('agrees with a linear scan on a seeded random rule set', async (t) => {
  // A small deterministic PRNG (mulberry32): the same rules on every run.
  let seed = 20250601;
  const random = () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let x = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
  const tenants = [TENANT_A, TENANT_B];
  const groups = ['g1', 'g2', 'g3', 'g4'];
  const devices = [pc1, pc2, pcOfB, { ...pc2, tenantId: 'cccccccc-0000-4000-8000-000000000003' }];
  const principals = [ALICE, BOB, HELPDESK, 'p4', 'p5'];
  const some = () => principals.filter(() => random() < 0.2).map(user);

  const rules: RuleRecord[] = [];
  for (let i = 0; i < 300; i++) {
    const kind = random();
    const fields: Partial<RuleRecord> = {
      tenantId: pick(tenants),
      ...(kind < 0.4 ? { groupId: pick(groups) } : kind < 0.7 ? { deviceId: pick(devices).deviceId } : {}),
      disabled: random() < 0.1,
      ...(random() < 0.2 ? { ruleExpiryDate: new Date(NOW + (random() - 0.5) * 7_200_000).toISOString() } : {}),
      userRequestReasonRequirement: pick(['Hidden', 'Optional', 'Required'] as const),
      notificationChannelsSuccess: [`s${i}`],
      notificationChannelsFailure: [pick(['f1', 'f2', 'f3'])],
      createdAt: new Date(NOW - Math.floor(random() * 1000) * 86_400_000).toISOString(),
    };
    // Every other rule as written before rotation: without the rotation lists (read as empty).
    const lists: RulePrincipals = i % 2 === 0 ? { ...noPrincipals(), principalsAllowedLapsRotation: [], principalsDeniedLapsRotation: [] } : noPrincipals();
    for (const key of Object.keys(lists) as (keyof RulePrincipals)[]) lists[key] = random() < 0.3 ? some() : [];
    rules.push(rule(`rule-${String(i).padStart(3, '0')}`, { ...fields, ...lists }));
  }
  const index = RuleIndex.build(rules);

  const naive = (device: DeviceIdentity, deviceGroups: Set<string>, caller: Set<string>, accessType: AccessType) => {
    const active = rules.filter((r) => !r.disabled && (r.ruleExpiryDate === undefined || Date.parse(r.ruleExpiryDate) > NOW));
    const matching = active.filter(
      (r) =>
        r.tenantId === device.tenantId &&
        (targetKind(r) === 'tenant' || (targetKind(r) === 'group' ? deviceGroups.has(r.groupId!) : r.deviceId === device.deviceId)),
    );
    const names = (r: RuleRecord, side: 'allowed' | 'denied') => (r[PRINCIPAL_LISTS[accessType][side]] ?? []).some((p) => caller.has(p.id));
    if (matching.length === 0) return { code: 'NoMatchingRuleForComputer', matching: [] as string[] };
    const ids = matching.map((r) => r.id).sort();
    if (matching.some((r) => names(r, 'denied'))) return { code: 'ExplicitlyDenied', matching: ids };
    const granting = matching
      .filter((r) => names(r, 'allowed'))
      .sort(
        (a, b) =>
          ['device', 'group', 'tenant'].indexOf(targetKind(a)) - ['device', 'group', 'tenant'].indexOf(targetKind(b)) ||
          Date.parse(a.createdAt) - Date.parse(b.createdAt) ||
          a.id.localeCompare(b.id),
      )[0];
    return granting ? { code: 'Success', matching: ids, granting: granting.id } : { code: 'NoMatchingRuleForUser', matching: ids };
  };

  const codes = new Set<string>();
  let compared = 0;
  for (const device of devices) {
    for (let g = 0; g < 16; g++) {
      const deviceGroups = new Set(groups.filter((_, i) => g & (1 << i)));
      for (let c = 0; c < 32; c++) {
        const caller = new Set(principals.filter((_, i) => c & (1 << i)));
        for (const accessType of ACCESS_TYPES) {
          const got = index.evaluate({ device, deviceGroupIds: deviceGroups, callerPrincipalIds: caller, accessType, now: NOW });
          const want = naive(device, deviceGroups, caller, accessType);
          codes.add(got.code);
          compared++;
          const same =
            got.code === want.code && [...got.matchingRules].sort().join() === want.matching.join() && got.grantingRule?.id === want.granting;
          if (!same) {
            t.fail('differs from the linear scan', { device: device.deviceName, deviceGroups: [...deviceGroups], caller: [...caller], accessType, got, want });
            return;
          }
        }
      }
    }
  }
  t.equal(compared, 4 * 16 * 32 * ACCESS_TYPES.length);
  t.same([...codes].sort(), ['ExplicitlyDenied', 'NoMatchingRuleForComputer', 'NoMatchingRuleForUser', 'Success'], 'every outcome was exercised');
});

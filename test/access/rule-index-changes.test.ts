/**
 * The rule index updated change by change (RuleIndex.withChanges) decides exactly as one built from
 * the resulting rules: random rule sets, random changes (add, replace, disable, retarget, remove),
 * every device, group and caller asked for every access type.
 */
import t from 'tap';
import fc from 'fast-check';
import { RuleIndex, type RuleChange } from '../../daemon/access/evaluation.js';
import { ACCESS_TYPES, type DeviceIdentity, type PrincipalRef, type RuleRecord } from '../../daemon/access/types.js';

const uuid = (prefix: string, n: number) => `${prefix}0000000-0000-4000-8000-${String(n).padStart(12, '0')}`;
const TENANTS = [uuid('a', 1), uuid('b', 2)];
const GROUPS = [1, 2, 3, 4].map((n) => uuid('c', n));
const DEVICES = [1, 2, 3].map((n) => uuid('d', n));
const PRINCIPALS = [1, 2, 3, 4, 5].map((n) => uuid('e', n));
const NOW = Date.parse('2026-06-01T00:00:00Z');
const RULE_IDS = [1, 2, 3, 4, 5, 6, 7, 8].map((n) => uuid('f', n));

const principal = fc.constantFrom(...PRINCIPALS).map((id): PrincipalRef => ({ id, type: 'group', displayName: id.slice(0, 4) }));
const list = fc.array(principal, { maxLength: 2 });
const ruleArb = (id: string) =>
  fc
    .record({
      tenantId: fc.constantFrom(...TENANTS),
      target: fc.oneof(fc.constant({}), fc.constantFrom(...GROUPS).map((groupId) => ({ groupId })), fc.constantFrom(...DEVICES).map((deviceId) => ({ deviceId }))),
      disabled: fc.boolean(),
      expiry: fc.constantFrom(undefined, '2026-01-01T00:00:00Z', '2027-01-01T00:00:00Z', 'not a date'),
      createdAt: fc.constantFrom('2025-01-01T00:00:00Z', '2025-02-01T00:00:00Z'),
      lists: fc.tuple(list, list, list, list, list, list),
      failure: fc.array(fc.constantFrom('ch1', 'ch2'), { maxLength: 1 }),
    })
    .map(({ tenantId, target, disabled, expiry, createdAt, lists, failure }): RuleRecord => ({
      id,
      description: `rule ${id.slice(-2)}`,
      tenantId,
      ...target,
      principalsAllowedLaps: lists[0],
      principalsDeniedLaps: lists[1],
      principalsAllowedLapsHistory: lists[2],
      principalsDeniedLapsHistory: lists[3],
      principalsAllowedBitLocker: lists[4],
      principalsDeniedBitLocker: lists[5],
      ...(expiry ? { ruleExpiryDate: expiry } : {}),
      disabled,
      userRequestReasonRequirement: 'Optional',
      notificationChannelsSuccess: [],
      notificationChannelsFailure: failure,
      createdAt,
      createdBy: 'test',
    }));

/** A change of one of the rule ids: its new content, or its removal. */
const changeArb = fc.constantFrom(...RULE_IDS).chain((id) => fc.option(ruleArb(id), { nil: undefined }).map((rule): RuleChange => ({ id, rule })));

/** Every decision the index can make over the small world, as one comparable value. */
function decisions(index: RuleIndex) {
  const out: unknown[] = [];
  for (const tenantId of TENANTS) {
    out.push(index.groupsToCheck(tenantId, NOW));
    for (const deviceId of DEVICES) {
      const device: DeviceIdentity = { tenantId, deviceId, objectId: 'o', deviceName: 'PC' };
      for (const groups of [[], [GROUPS[0]!], GROUPS]) {
        for (const caller of [[], [PRINCIPALS[0]!], PRINCIPALS.slice(1, 4)]) {
          const all = index.evaluateAll({ device, deviceGroupIds: new Set(groups), callerPrincipalIds: new Set(caller), now: NOW });
          out.push(ACCESS_TYPES.map((type) => ({ ...all[type], grantingRule: all[type].grantingRule?.id })));
        }
      }
    }
  }
  return { size: index.size, out };
}

t.test('an index updated change by change decides as one built from the resulting rules', async (t) => {
  fc.assert(
    fc.property(fc.array(fc.constantFrom(...RULE_IDS).chain(ruleArb), { maxLength: 6 }), fc.array(fc.array(changeArb, { minLength: 1, maxLength: 3 }), { maxLength: 5 }), (initial, batches) => {
      const rules = new Map(initial.map((rule) => [rule.id, rule]));
      let index = RuleIndex.build([...rules.values()]);
      for (const batch of batches) {
        const before = index;
        const beforeDecisions = decisions(before);
        index = index.withChanges(batch);
        for (const { id, rule } of batch) {
          if (rule) rules.set(id, rule);
          else rules.delete(id);
        }
        t.strictSame(decisions(index), decisions(RuleIndex.build([...rules.values()])));
        t.strictSame(decisions(before), beforeDecisions, 'the index it was made from decides as before');
      }
    }),
    { numRuns: 150, seed: 20261201 },
  );
});

t.test('a change touches only the rules it names', async (t) => {
  const base = (id: string, fields: Partial<RuleRecord>): RuleRecord => ({
    id,
    description: id,
    tenantId: TENANTS[0]!,
    principalsAllowedLaps: [{ id: PRINCIPALS[0]!, type: 'user', displayName: 'u' }],
    principalsDeniedLaps: [],
    principalsAllowedLapsHistory: [],
    principalsDeniedLapsHistory: [],
    principalsAllowedBitLocker: [],
    principalsDeniedBitLocker: [],
    disabled: false,
    userRequestReasonRequirement: 'Optional',
    notificationChannelsSuccess: [],
    notificationChannelsFailure: [],
    createdAt: '2025-01-01T00:00:00Z',
    createdBy: 'test',
    ...fields,
  });
  const index = RuleIndex.build([base(RULE_IDS[0]!, { groupId: GROUPS[0]! }), base(RULE_IDS[1]!, { groupId: GROUPS[1]! })]);
  const next = index.withChanges([{ id: RULE_IDS[0]!, rule: undefined }, { id: RULE_IDS[2]!, rule: base(RULE_IDS[2]!, { groupId: GROUPS[2]!, ruleExpiryDate: '2030-01-01T00:00:00Z' }) }]);
  t.equal(next.size, 2);
  t.same(next.groupsToCheck(TENANTS[0]!, NOW), [GROUPS[1]!, GROUPS[2]!], 'the never-expiring group first, then the one expiring in 2030');
  t.same(index.groupsToCheck(TENANTS[0]!, NOW), [GROUPS[0]!, GROUPS[1]!], 'the index it came from is unchanged');
});

/**
 * The evaluation engine: which rules contain a device, and what they say about a caller. Pure — no I/O,
 * time passed in — built once and then updated by each rule change (`withChanges`, touching only the
 * changed rules' tenants), so a request only touches the rules whose target contains the device,
 * whatever the number of rules.
 *
 * Semantics (Access Manager's): every active rule (enabled, not expired) whose target contains the device
 * matches; a deny for any of the caller's principals in any matching rule wins over every allow; no allow
 * means no access; the most specific granting rule (device, then group, then tenant) supplies the
 * settings; failure notifications go to the failure channels of every matching rule.
 *
 * Tenant, group, device and principal ids are compared without case. A rule whose expiry date cannot be
 * read is treated as possibly expired: its denies apply, its allows do not.
 */
import {
  ACCESS_TYPES,
  PRINCIPAL_LISTS,
  principalsIn,
  targetKind,
  type AccessType,
  type DeviceIdentity,
  type PrincipalRef,
  type ReasonRequirement,
  type ResultCode,
  type RuleRecord,
  type TargetKind,
} from './types.js';
import { CopyOnWriteMap } from './copy-on-write-map.js';

export type DecisionCode = Extract<ResultCode, 'Success' | 'NoMatchingRuleForComputer' | 'NoMatchingRuleForUser' | 'ExplicitlyDenied'>;

/** What one matching rule says about the caller, for one access type (Get-AmsEffectiveAccess). */
export interface RuleExplanation {
  ruleId: string;
  description: string;
  target: TargetKind;
  targetDisplayName?: string;
  /** `deny` when any of the caller's principals is in the deny list, even if another is in the allow list. */
  effect: 'allow' | 'deny' | 'none';
  /** The rule's allow entries that name the caller (the user or one of their groups), in the rule's order. */
  allowedVia: PrincipalRef[];
  /** The rule's deny entries that name the caller, in the rule's order. */
  deniedVia: PrincipalRef[];
  /** The rule's expiry date could not be read: its denies apply, its allows do not (fail closed). */
  invalidExpiry?: true;
}

export interface AccessDecision {
  accessType: AccessType;
  allowed: boolean;
  code: DecisionCode;
  /** Ids of the active rules whose target contains the device, most specific first. */
  matchingRules: string[];
  /** The rule that granted access and supplies the settings; only on `Success`. */
  grantingRule?: RuleRecord;
  /** Ids of the matching rules that deny the caller. */
  denyingRules: string[];
  /** The granting rule's; `Hidden` when refused. */
  reasonRequirement: ReasonRequirement;
  /** The granting rule's, for a granted read of the current LAPS password; absent: no rotation after the read. */
  rotateAfterReadMinutes?: number;
  /** The granting rule's success channels; empty when refused. */
  successChannels: string[];
  /** The failure channels of every matching rule, deduplicated, in matching-rule order. */
  failureChannels: string[];
  /** One entry per matching rule, in `matchingRules` order. */
  explanation: RuleExplanation[];
}

export interface EvaluationInput {
  device: DeviceIdentity;
  /** Which of the ids from `groupsToCheck` contain the device (transitively). */
  deviceGroupIds: ReadonlySet<string>;
  /** The user's object id and every group they are a transitive member of. */
  callerPrincipalIds: ReadonlySet<string>;
  accessType: AccessType;
  /** Milliseconds since the epoch. */
  now: number;
}

/** The six principal lists of a rule, in this order; list `2 * i` allows and `2 * i + 1` denies ACCESS_TYPES[i]. */
const LISTS = ACCESS_TYPES.flatMap((accessType) => [PRINCIPAL_LISTS[accessType].allowed, PRINCIPAL_LISTS[accessType].denied]);
const ACCESS_INDEX = Object.fromEntries(ACCESS_TYPES.map((accessType, i) => [accessType, i])) as Record<AccessType, number>;

interface IndexedRule {
  readonly rule: RuleRecord;
  readonly kind: TargetKind;
  /** 0 device, 1 group, 2 tenant: the first key of the order of matching rules (see `byPrecedence`). */
  readonly specificity: number;
  /**
   * `createdAt` in milliseconds, Infinity when unreadable (such a rule comes after the others of its kind).
   * Parsed on first use: only rules that match a device are ever ordered, and parsing every date would
   * be a good part of the build.
   */
  createdAtMs?: number;
  /** Milliseconds; Infinity when the rule does not expire. */
  readonly expiresAt: number;
  readonly invalidExpiry: boolean;
  /**
   * The principal lists as principal numbers, in one array (one allocation per rule, not a Set per list):
   * entries 0..6 are offsets — list `k` is `principals[principals[k]..principals[k + 1]]`, in the rule's
   * order — followed by the numbers.
   */
  readonly principals: readonly number[];
}

interface TenantIndex {
  /** Replaced, never changed, once an index is made: an index and the next one may share it. */
  tenantRules: IndexedRule[];
  readonly byGroup: CopyOnWriteMap<IndexedRule[]>;
  readonly byDevice: CopyOnWriteMap<IndexedRule[]>;
  /** Targeted groups ordered by the latest expiry among their rules, latest first (then by id). Replaced, never changed, as tenantRules. */
  groupsByExpiry: { groupId: string; expiresAt: number }[];
}

const SPECIFICITY: Record<TargetKind, number> = { device: 0, group: 1, tenant: 2 };

/** A rule that changed: its new content, or undefined when it was removed. */
export interface RuleChange {
  id: string;
  rule: RuleRecord | undefined;
}

export class RuleIndex {
  readonly #tenants: Map<string, TenantIndex>;
  /** Every principal named by a rule (lowercase id) → its number. Only grows: a number no rule uses decides nothing. */
  readonly #principalNumbers: Map<string, number>;
  /** Each indexed rule by id, with the tenant it is indexed under. */
  readonly #byId: CopyOnWriteMap<{ tenantId: string; indexed: IndexedRule }>;

  private constructor(tenants: Map<string, TenantIndex>, principalNumbers: Map<string, number>, byId: CopyOnWriteMap<{ tenantId: string; indexed: IndexedRule }>) {
    this.#tenants = tenants;
    this.#principalNumbers = principalNumbers;
    this.#byId = byId;
  }

  /** Enabled rules indexed (disabled rules are left out). */
  get size(): number {
    return this.#byId.size;
  }

  /**
   * Indexes the rules, in time linear in the rules and their principals. Principal ids are numbered
   * (few distinct principals are named by many rules), so a rule's lists are one array of small integers.
   */
  static build(rules: readonly RuleRecord[]): RuleIndex {
    const index = new RuleIndex(new Map(), new Map(), new CopyOnWriteMap());
    const tenantFor = (tenantId: string) => {
      let tenant = index.#tenants.get(tenantId);
      if (!tenant) index.#tenants.set(tenantId, (tenant = { tenantRules: [], byGroup: new CopyOnWriteMap(), byDevice: new CopyOnWriteMap(), groupsByExpiry: [] }));
      return tenant;
    };
    for (const rule of rules) if (!rule.disabled) index.#add(rule, tenantFor, false);
    for (const tenant of index.#tenants.values()) {
      for (const [groupId, groupRules] of tenant.byGroup) tenant.groupsByExpiry.push({ groupId, expiresAt: latestExpiry(groupRules) });
      tenant.groupsByExpiry.sort(byExpiry);
    }
    return index;
  }

  /**
   * A new index with `changes` applied, in time proportional to the changed rules' buckets (and to
   * the tenant's tenant-wide rules or targeted groups only when such a rule changes): the maps by
   * id, device and group are copy-on-write (only the shards a change writes are copied), the
   * tenant's arrays are replaced when changed, the other tenants are shared. This
   * index stays as it was, so a read that holds it decides on one rule set throughout. Decisions are
   * those of `build` over the new rules.
   */
  withChanges(changes: Iterable<RuleChange>): RuleIndex {
    const tenants = new Map(this.#tenants);
    const next = new RuleIndex(tenants, this.#principalNumbers, this.#byId.copy());
    const copied = new Set<string>();
    /** Touched groups per tenant, whose place in groupsByExpiry is recomputed at the end. */
    const touchedGroups = new Map<string, Set<string>>();
    const own = (tenantId: string): TenantIndex => {
      let tenant = tenants.get(tenantId);
      if (!copied.has(tenantId)) {
        copied.add(tenantId);
        tenant = tenant
          ? { tenantRules: tenant.tenantRules, byGroup: tenant.byGroup.copy(), byDevice: tenant.byDevice.copy(), groupsByExpiry: tenant.groupsByExpiry }
          : { tenantRules: [], byGroup: new CopyOnWriteMap(), byDevice: new CopyOnWriteMap(), groupsByExpiry: [] };
        tenants.set(tenantId, tenant);
      }
      return tenant!;
    };
    const touch = (tenantId: string, indexed: IndexedRule) => {
      if (indexed.kind !== 'group') return;
      let groups = touchedGroups.get(tenantId);
      if (!groups) touchedGroups.set(tenantId, (groups = new Set()));
      groups.add(indexed.rule.groupId!.toLowerCase());
    };
    for (const { id, rule } of changes) {
      const old = next.#byId.get(id);
      if (old) {
        const tenant = own(old.tenantId);
        removeFrom(tenant, old.indexed);
        next.#byId.delete(id);
        touch(old.tenantId, old.indexed);
      }
      if (rule && !rule.disabled) {
        const added = next.#add(rule, own, true);
        touch(added.tenantId, added.indexed);
      }
    }
    for (const [tenantId, groups] of touchedGroups) {
      const tenant = own(tenantId);
      tenant.groupsByExpiry = tenant.groupsByExpiry.filter((g) => !groups.has(g.groupId));
      for (const groupId of groups) {
        const groupRules = tenant.byGroup.get(groupId);
        if (!groupRules) continue;
        const entry = { groupId, expiresAt: latestExpiry(groupRules) };
        let lo = 0;
        let hi = tenant.groupsByExpiry.length;
        while (lo < hi) {
          const mid = (lo + hi) >>> 1;
          if (byExpiry(tenant.groupsByExpiry[mid]!, entry) < 0) lo = mid + 1;
          else hi = mid;
        }
        tenant.groupsByExpiry.splice(lo, 0, entry);
      }
    }
    return next;
  }

  /** Indexes one enabled rule; `copyBuckets` when the buckets may be shared with another index. */
  #add(rule: RuleRecord, tenantFor: (tenantId: string) => TenantIndex, copyBuckets: boolean): { tenantId: string; indexed: IndexedRule } {
    const kind = targetKind(rule);
    const expiry = rule.ruleExpiryDate === undefined || rule.ruleExpiryDate === '' ? Infinity : Date.parse(rule.ruleExpiryDate);
    const invalidExpiry = Number.isNaN(expiry);
    const indexed: IndexedRule = {
      rule,
      kind,
      specificity: SPECIFICITY[kind],
      expiresAt: invalidExpiry ? Infinity : expiry,
      invalidExpiry,
      principals: numberLists(rule, (id) => this.#numberOf(id)),
    };
    const tenantId = rule.tenantId.toLowerCase();
    const tenant = tenantFor(tenantId);
    if (kind === 'tenant') {
      if (copyBuckets) tenant.tenantRules = [...tenant.tenantRules, indexed];
      else tenant.tenantRules.push(indexed);
    }
    else push(kind === 'group' ? tenant.byGroup : tenant.byDevice, (kind === 'group' ? rule.groupId! : rule.deviceId!).toLowerCase(), indexed, copyBuckets);
    const entry = { tenantId, indexed };
    this.#byId.set(rule.id, entry);
    return entry;
  }

  #numberOf(id: string): number {
    // Ids from Entra are lowercase already: one lookup, and lowercasing only for the others.
    let n = this.#principalNumbers.get(id);
    if (n === undefined) {
      const lower = id.toLowerCase();
      n = this.#principalNumbers.get(lower);
      if (n === undefined) {
        n = this.#principalNumbers.size;
        this.#principalNumbers.set(lower, n);
      }
    }
    return n;
  }

  /**
   * The ids (lowercase) of the groups targeted by active rules of the tenant: the caller asks the
   * directory which of them contain the device and passes the answer to `evaluate`.
   */
  groupsToCheck(tenantId: string, now: number): string[] {
    const groups = this.#tenants.get(tenantId.toLowerCase())?.groupsByExpiry;
    if (!groups) return [];
    // Ordered by expiry, latest first: the active groups are a prefix; find its end by bisection.
    let lo = 0;
    let hi = groups.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (groups[mid]!.expiresAt > now) lo = mid + 1;
      else hi = mid;
    }
    return groups.slice(0, lo).map((g) => g.groupId);
  }

  /** The decision for one access type. */
  evaluate(input: EvaluationInput): AccessDecision {
    const matching = this.#matching(input.device, input.deviceGroupIds, input.now);
    return decide(matching, this.#callerNumbers(input.callerPrincipalIds), input.accessType);
  }

  /** The decision for every access type (effective access), sharing the rule lookup. */
  evaluateAll(input: Omit<EvaluationInput, 'accessType'>): Record<AccessType, AccessDecision> {
    const matching = this.#matching(input.device, input.deviceGroupIds, input.now);
    const caller = this.#callerNumbers(input.callerPrincipalIds);
    return Object.fromEntries(ACCESS_TYPES.map((accessType) => [accessType, decide(matching, caller, accessType)])) as Record<
      AccessType,
      AccessDecision
    >;
  }

  /** The numbers of the caller's principals that some rule names; the others cannot change a decision. */
  #callerNumbers(ids: ReadonlySet<string>): Set<number> {
    const numbers = new Set<number>();
    for (const id of ids) {
      let n = this.#principalNumbers.get(id);
      if (n === undefined) {
        const lower = id.toLowerCase();
        if (lower !== id) n = this.#principalNumbers.get(lower);
      }
      if (n !== undefined) numbers.add(n);
    }
    return numbers;
  }

  /** Active rules whose target contains the device, most specific first. Touches only those rules. */
  #matching(device: DeviceIdentity, deviceGroupIds: ReadonlySet<string>, now: number): IndexedRule[] {
    const tenant = this.#tenants.get(device.tenantId.toLowerCase());
    if (!tenant) return [];
    const found: IndexedRule[] = [];
    const add = (rules: readonly IndexedRule[] | undefined) => {
      if (rules) for (const r of rules) if (r.expiresAt > now) found.push(r);
    };
    add(tenant.byDevice.get(device.deviceId.toLowerCase()));
    const seenGroups = new Set<string>();
    for (const groupId of deviceGroupIds) {
      const key = groupId.toLowerCase();
      if (seenGroups.has(key)) continue;
      seenGroups.add(key);
      add(tenant.byGroup.get(key));
    }
    add(tenant.tenantRules);
    return found.sort(byPrecedence);
  }
}

/** Device rules, then group rules, then tenant rules; among equals the oldest, then the smallest id. */
function byPrecedence(a: IndexedRule, b: IndexedRule): number {
  return a.specificity - b.specificity || createdAtMs(a) - createdAtMs(b) || (a.rule.id < b.rule.id ? -1 : a.rule.id > b.rule.id ? 1 : 0);
}

function createdAtMs(r: IndexedRule): number {
  if (r.createdAtMs === undefined) {
    const ms = Date.parse(r.rule.createdAt);
    r.createdAtMs = Number.isNaN(ms) ? Infinity : ms;
  }
  return r.createdAtMs;
}

function decide(matching: readonly IndexedRule[], caller: ReadonlySet<number>, accessType: AccessType): AccessDecision {
  const allowList = 2 * ACCESS_INDEX[accessType];
  const explanation: RuleExplanation[] = [];
  const denyingRules: string[] = [];
  const failureChannels = new Set<string>();
  let granting: IndexedRule | undefined;

  for (const r of matching) {
    const allowedVia = namedIn(r, allowList, caller);
    const deniedVia = namedIn(r, allowList + 1, caller);
    // A rule whose expiry cannot be read may have expired: its denies still count, its allows do not.
    const effect = deniedVia.length > 0 ? 'deny' : allowedVia.length > 0 && !r.invalidExpiry ? 'allow' : 'none';
    if (effect === 'deny') denyingRules.push(r.rule.id);
    // `matching` is in precedence order, so the first granting rule is the most specific one.
    if (effect === 'allow' && !granting) granting = r;
    for (const channel of r.rule.notificationChannelsFailure) failureChannels.add(channel);
    explanation.push({
      ruleId: r.rule.id,
      description: r.rule.description,
      target: r.kind,
      ...(r.rule.targetDisplayName !== undefined ? { targetDisplayName: r.rule.targetDisplayName } : {}),
      effect,
      allowedVia,
      deniedVia,
      ...(r.invalidExpiry ? { invalidExpiry: true as const } : {}),
    });
  }

  const code: DecisionCode =
    matching.length === 0
      ? 'NoMatchingRuleForComputer'
      : denyingRules.length > 0
        ? 'ExplicitlyDenied'
        : granting
          ? 'Success'
          : 'NoMatchingRuleForUser';
  const allowed = code === 'Success';
  return {
    accessType,
    allowed,
    code,
    matchingRules: matching.map((r) => r.rule.id),
    ...(allowed && granting ? { grantingRule: granting.rule } : {}),
    denyingRules,
    reasonRequirement: allowed && granting ? granting.rule.userRequestReasonRequirement : 'Hidden',
    // Like the reason requirement, the most specific granting rule's word; only a read of the current password rotates it.
    ...(allowed && granting && accessType === 'LocalAdminPassword' && granting.rule.rotateAfterReadMinutes !== undefined
      ? { rotateAfterReadMinutes: granting.rule.rotateAfterReadMinutes }
      : {}),
    successChannels: allowed && granting ? [...granting.rule.notificationChannelsSuccess] : [],
    failureChannels: [...failureChannels],
    explanation,
  };
}

/** The entries of list `list` of the rule that name one of the caller's principals, in the rule's order. */
function namedIn(r: IndexedRule, list: number, caller: ReadonlySet<number>): PrincipalRef[] {
  const hits: PrincipalRef[] = [];
  if (caller.size === 0) return hits;
  const numbers = r.principals;
  const start = numbers[list]!;
  const end = numbers[list + 1]!;
  for (let i = start; i < end; i++) if (caller.has(numbers[i]!)) hits.push(principalsIn(r.rule, LISTS[list]!)[i - start]!);
  return hits;
}

function numberLists(rule: RuleRecord, numberOf: (id: string) => number): number[] {
  const numbers = new Array<number>(LISTS.length + 1).fill(0);
  LISTS.forEach((key, list) => {
    numbers[list] = numbers.length;
    for (const ref of principalsIn(rule, key)) numbers.push(numberOf(ref.id));
  });
  numbers[LISTS.length] = numbers.length;
  return numbers;
}

/** Adds to a bucket; as a new array when `copy` (the bucket may be shared with an earlier index). */
function push<V>(map: CopyOnWriteMap<V[]>, key: string, value: V, copy: boolean): void {
  const list = map.get(key);
  if (!list) map.set(key, [value]);
  else if (copy) map.set(key, [...list, value]);
  else list.push(value);
}

function latestExpiry(rules: readonly IndexedRule[]): number {
  return rules.reduce((latest, r) => Math.max(latest, r.expiresAt), -Infinity);
}

/** Latest expiry first, then by group id. */
function byExpiry(a: { groupId: string; expiresAt: number }, b: { groupId: string; expiresAt: number }): number {
  return b.expiresAt - a.expiresAt || (a.groupId < b.groupId ? -1 : a.groupId > b.groupId ? 1 : 0);
}

/** Takes an indexed rule out of its bucket (the bucket is copied: the index it came from may still be read). */
function removeFrom(tenant: TenantIndex, indexed: IndexedRule): void {
  if (indexed.kind === 'tenant') {
    tenant.tenantRules = tenant.tenantRules.filter((r) => r !== indexed);
    return;
  }
  const map = indexed.kind === 'group' ? tenant.byGroup : tenant.byDevice;
  const key = (indexed.kind === 'group' ? indexed.rule.groupId! : indexed.rule.deviceId!).toLowerCase();
  const rest = (map.get(key) ?? []).filter((r) => r !== indexed);
  if (rest.length > 0) map.set(key, rest);
  else map.delete(key);
}

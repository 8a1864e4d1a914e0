/**
 * Computer authorization rules: written by administrators with the names they know (UPNs, group
 * names, device names), stored with the ids Graph resolved them to, and compiled into the evaluation
 * index. Every change is audited before it is made.
 */
import { randomUUID } from 'node:crypto';
import type { components } from '../../openapi/ams.js';
import type { ChangeAuthor } from '../audit/change-author.js';
import { isDeviceLookupRefusal, type DeviceDirectory } from '../directory/devices.js';
import type { TenantService } from '../directory/tenant-service.js';
import { ConflictError, NotFoundError, ValidationError, type FieldError } from '../common/errors.js';
import { resolveChannelRefs } from '../notifications/channel-references.js';
import type { DeepReadonly, Store } from '../store/store.js';
import { UnresolvedName, type DirectoryNames } from './directory-names.js';
import { RuleIndex } from './evaluation.js';
import { NameLookups } from './name-lookups.js';
import { PRINCIPAL_LIST_NAMES, principalsIn, targetKind, type PrincipalRef, type RulePrincipals, type RuleRecord } from './types.js';

export type RuleView = components['schemas']['ComputerAuthorizationRule'];
export type NewRule = components['schemas']['NewComputerAuthorizationRule'];
export type RuleUpdate = components['schemas']['ComputerAuthorizationRuleUpdate'];

const LIST_NAMES = PRINCIPAL_LIST_NAMES;
type ListName = (typeof LIST_NAMES)[number];

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** Graph calls in flight at once while resolving the names of a rule, or of all rows of an import. */
const RESOLVE_CONCURRENCY = 8;
const SPECIFICITY = { device: 0, group: 1, tenant: 2 } as const;

function capitalised(name: ListName): Capitalize<ListName> {
  return (name[0]!.toUpperCase() + name.slice(1)) as Capitalize<ListName>;
}

export function isActive(rule: DeepReadonly<RuleRecord>, now = Date.now()): boolean {
  return !rule.disabled && !(rule.ruleExpiryDate && Date.parse(rule.ruleExpiryDate) <= now);
}

/**
 * What a rule says, as one string: its target, every principal list (as sets), its settings. Two rules
 * with the same content decide every request alike; their ids, authors and times do not count.
 */
function ruleContent(rule: DeepReadonly<RuleRecord>): string {
  const ids = (list: readonly { id: string }[]) => list.map((p) => p.id.toLowerCase()).sort();
  return JSON.stringify([
    rule.tenantId.toLowerCase(),
    rule.groupId?.toLowerCase() ?? null,
    rule.deviceId?.toLowerCase() ?? null,
    ...LIST_NAMES.map((name) => ids(principalsIn(rule, name))),
    rule.description,
    rule.ruleExpiryDate ?? null,
    rule.disabled,
    rule.notes ?? null,
    rule.userRequestReasonRequirement,
    rule.rotateAfterReadMinutes ?? null,
    [...rule.notificationChannelsSuccess].sort(),
    [...rule.notificationChannelsFailure].sort(),
  ]);
}

export function toRuleView(rule: DeepReadonly<RuleRecord>, now = Date.now()): RuleView {
  const lists = Object.fromEntries(LIST_NAMES.map((name) => [name, principalsIn(rule, name).map((p) => ({ ...p }))])) as unknown as Required<RulePrincipals>;
  return {
    id: rule.id,
    description: rule.description,
    tenantId: rule.tenantId,
    targetType: targetKind(rule),
    ...(rule.groupId ? { groupId: rule.groupId } : {}),
    ...(rule.deviceId ? { deviceId: rule.deviceId } : {}),
    ...(rule.targetDisplayName ? { targetDisplayName: rule.targetDisplayName } : {}),
    ...lists,
    ...(rule.ruleExpiryDate ? { ruleExpiryDate: rule.ruleExpiryDate } : {}),
    disabled: rule.disabled,
    active: isActive(rule, now),
    ...(rule.notes ? { notes: rule.notes } : {}),
    userRequestReasonRequirement: rule.userRequestReasonRequirement,
    ...(rule.rotateAfterReadMinutes !== undefined ? { rotateAfterReadMinutes: rule.rotateAfterReadMinutes } : {}),
    notificationChannelsSuccess: [...rule.notificationChannelsSuccess],
    notificationChannelsFailure: [...rule.notificationChannelsFailure],
    createdAt: rule.createdAt,
    createdBy: rule.createdBy,
    ...(rule.modifiedAt ? { modifiedAt: rule.modifiedAt } : {}),
    ...(rule.modifiedBy ? { modifiedBy: rule.modifiedBy } : {}),
  };
}

function ruleTarget(rule: { id: string; description: string }) {
  return { kind: 'rule', id: rule.id, displayName: rule.description };
}

function notFound(id: string): NotFoundError {
  return new NotFoundError('rule-not-found', `No computer authorization rule has the id ${id}. listComputerAuthorizationRules (GET /v1/computer-authorization-rules) lists them.`);
}

export class RuleService {
  #index: RuleIndex | undefined;

  constructor(
    private readonly store: Store,
    private readonly names: DirectoryNames,
    private readonly devices: DeviceDirectory,
    private readonly tenants: TenantService,
  ) {
    // Only a change of the rules touches the index, and only the rules it changed.
    store.subscribe((change) => {
      const rules = change.collections.get('rules');
      if (!rules || !this.#index) return;
      this.#index = this.#index.withChanges(rules.keys.map((id) => ({ id, rule: store.get('rules', id) as RuleRecord | undefined })));
    });
  }

  /** The compiled rules: built on first use, then kept up to date change by change. */
  index(): RuleIndex {
    this.#index ??= RuleIndex.build(this.store.state.rules as RuleRecord[]);
    return this.#index;
  }

  list(filter: { id?: string; tenantId?: string } = {}): RuleView[] {
    const id = filter.id?.toLowerCase();
    const tenantId = filter.tenantId?.toLowerCase();
    // One rule by id is a key lookup, not a pass over every rule.
    const candidates = id ? [this.store.get('rules', id)].filter((r) => r !== undefined) : this.store.state.rules;
    const rules = candidates.filter((r) => !tenantId || r.tenantId === tenantId);
    if (id && rules.length === 0) throw notFound(filter.id!);
    const now = Date.now();
    return rules
      .map((r) => toRuleView(r, now))
      .sort((a, b) => SPECIFICITY[a.targetType] - SPECIFICITY[b.targetType] || a.description.localeCompare(b.description) || a.id.localeCompare(b.id));
  }

  async create(input: NewRule, author: ChangeAuthor): Promise<RuleView> {
    const errors: FieldError[] = [];
    const rule = await this.#prepare(input, author, 'body', errors, new NameLookups(RESOLVE_CONCURRENCY));
    if (!rule || errors.length > 0) throw new ValidationError(errors);
    await this.#commit([rule], author);
    return toRuleView(rule);
  }

  /**
   * Many rules at once, all or nothing (Import-AmsComputerAuthorizationRule): every row is checked as
   * New-AmsComputerAuthorizationRule would check it, and every mistake of every row is reported with
   * the row's line; with `dryRun`, nothing is stored and the answer is what would be.
   */
  async createMany(
    rows: readonly { line: number; input: NewRule }[],
    author: ChangeAuthor,
    options: { dryRun: boolean; allowDuplicates?: boolean },
  ): Promise<{ items: RuleView[]; skipped: { line: number; description: string; existingRuleId: string }[] }> {
    const errors: FieldError[] = [];
    const rules: RuleRecord[] = [];
    const skipped: { line: number; description: string; existingRuleId: string }[] = [];
    // The rows are resolved together (a name many rows share is looked up once), then taken in file order.
    const lookups = new NameLookups(RESOLVE_CONCURRENCY);
    const prepared = await Promise.all(
      rows.map(async ({ line, input }) => {
        const rowErrors: FieldError[] = [];
        const rule = await this.#prepare(input, author, `body/csv/${line}`, rowErrors, lookups);
        return { line, rule, rowErrors };
      }),
    ).catch((error: unknown) => {
      lookups.stop(error);
      throw error;
    });
    // A row that says what a rule already says is not made twice (importing a file again creates nothing).
    const known = new Map(this.store.state.rules.map((rule) => [ruleContent(rule), rule.id]));
    for (const { line, rule, rowErrors } of prepared) {
      errors.push(...rowErrors.map((e) => ({ ...e, message: `line ${line}: ${e.message}` })));
      if (!rule) continue;
      const content = ruleContent(rule);
      const existing = known.get(content);
      if (existing && !options.allowDuplicates) {
        skipped.push({ line, description: rule.description, existingRuleId: existing });
        continue;
      }
      known.set(content, rule.id);
      rules.push(rule);
    }
    if (errors.length > 0) throw new ValidationError(errors);
    if (!options.dryRun && rules.length > 0) await this.#commit(rules, author);
    return { items: rules.map((rule) => toRuleView(rule)), skipped };
  }

  /** A new rule checked and resolved; undefined (and `errors` says why) when it cannot be made. */
  async #prepare(input: NewRule, author: ChangeAuthor, at: string, errors: FieldError[], lookups: NameLookups): Promise<RuleRecord | undefined> {
    const start = errors.length;
    const tenantId = this.#configuredTenant(input.tenantId, `${at}/tenantId`, errors);
    const description = input.description.trim();
    if (description === '') errors.push({ path: `${at}/description`, message: 'must contain more than spaces' });
    if (input.groupId && input.deviceId) errors.push({ path: `${at}/groupId`, message: 'give groupId or deviceId, not both: a rule has one target' });
    checkExpiry(input.ruleExpiryDate, `${at}/ruleExpiryDate`, errors);
    const channels = this.#channels(input, at, errors);
    // Without a tenant nothing can be resolved; otherwise every entry is checked, so one answer lists every mistake.
    if (!tenantId) return undefined;

    const target = await this.#resolveTarget(tenantId, { groupId: input.groupId, deviceId: input.deviceId }, at, errors, lookups);
    const lists = {} as RulePrincipals;
    await Promise.all(
      LIST_NAMES.map(async (name) => {
        lists[name] = dedupe(await this.#resolveAll(tenantId, input[name] ?? [], `${at}/${name}`, errors, lookups));
      }),
    );
    if (errors.length > start) return undefined;
    return {
      id: randomUUID(),
      description,
      tenantId,
      ...target,
      ...lists,
      ...(input.ruleExpiryDate ? { ruleExpiryDate: new Date(input.ruleExpiryDate).toISOString() } : {}),
      disabled: input.disabled ?? false,
      ...(input.notes ? { notes: input.notes } : {}),
      userRequestReasonRequirement: input.userRequestReasonRequirement ?? 'Optional',
      ...(input.rotateAfterReadMinutes !== undefined ? { rotateAfterReadMinutes: input.rotateAfterReadMinutes } : {}),
      notificationChannelsSuccess: channels.notificationChannelsSuccess ?? [],
      notificationChannelsFailure: channels.notificationChannelsFailure ?? [],
      createdAt: new Date().toISOString(),
      createdBy: author.name,
    };
  }

  /** Stores new rules in one change, each on the audit trail first. */
  async #commit(rules: RuleRecord[], author: ChangeAuthor): Promise<void> {
    await this.store.mutate(
      (draft) => {
        for (const rule of rules) {
          if (!draft.get('tenants', rule.tenantId)) throw new ConflictError('tenant-removed', `The tenant ${rule.tenantId} was removed while the rules were being written.`);
        }
        for (const rule of rules) draft.put('rules', rule);
      },
      async () => {
        for (const rule of rules) await author.record({ type: 'rule.created', target: ruleTarget(rule), after: toRuleView(rule) });
      },
    );
  }

  async update(id: string, input: RuleUpdate, author: ChangeAuthor): Promise<RuleView> {
    const ruleId = id.toLowerCase();
    const existing = this.store.get('rules', ruleId);
    if (!existing) throw notFound(id);
    const errors: FieldError[] = [];
    if (input.description !== undefined && input.description.trim() === '') errors.push({ path: 'body/description', message: 'must contain more than spaces' });
    if (input.groupId && input.deviceId) errors.push({ path: 'body/groupId', message: 'give groupId or deviceId, not both: a rule has one target' });
    if (input.ruleExpiryDate) checkExpiry(input.ruleExpiryDate, 'body/ruleExpiryDate', errors);
    const channels = this.#channels(input, 'body', errors);
    for (const name of LIST_NAMES) {
      const added = new Set((input[`add${capitalised(name)}`] ?? []).map((e) => e.trim().toLowerCase()));
      const both = (input[`remove${capitalised(name)}`] ?? []).find((e) => added.has(e.trim().toLowerCase()));
      if (both) errors.push({ path: `body/remove${capitalised(name)}`, message: `'${both}' is both added and removed` });
    }

    const retarget = input.groupId !== undefined || input.deviceId !== undefined;
    const lookups = new NameLookups(RESOLVE_CONCURRENCY);
    const target = retarget ? await this.#resolveTarget(existing.tenantId, { groupId: input.groupId ?? undefined, deviceId: input.deviceId ?? undefined }, 'body', errors, lookups) : undefined;
    const additions = {} as Partial<RulePrincipals>;
    await Promise.all(
      LIST_NAMES.map(async (name) => {
        const entries = input[`add${capitalised(name)}`];
        if (entries?.length) additions[name] = await this.#resolveAll(existing.tenantId, entries, `body/add${capitalised(name)}`, errors, lookups);
      }),
    );
    const removals: Partial<Record<ListName, Set<string>>> = {};
    for (const name of LIST_NAMES) {
      const entries = input[`remove${capitalised(name)}`];
      if (!entries?.length) continue;
      removals[name] = new Set();
      entries.forEach((entry, i) => {
        const key = entry.trim().toLowerCase();
        const match = principalsIn(existing, name).find((p) => p.id === key || p.displayName.toLowerCase() === key);
        if (match) removals[name]!.add(match.id);
        else errors.push({ path: `body/remove${capitalised(name)}/${i}`, message: `'${entry}' is not in ${name} (give its object id or name as listComputerAuthorizationRules, GET /v1/computer-authorization-rules, shows it)` });
      });
    }
    if (errors.length > 0) throw new ValidationError(errors);

    const before = toRuleView(existing);
    const after = await this.store.mutate(
      (draft) => {
        const stored = draft.get('rules', ruleId);
        if (!stored) throw notFound(id);
        const rule = structuredClone(stored) as RuleRecord;
        if (input.description !== undefined) rule.description = input.description.trim();
        if (target) {
          delete rule.groupId;
          delete rule.deviceId;
          delete rule.targetDisplayName;
          Object.assign(rule, target);
        }
        for (const name of LIST_NAMES) {
          const removed = removals[name];
          if (removed) rule[name] = principalsIn(rule, name).filter((p) => !removed.has(p.id));
          if (additions[name]) rule[name] = dedupe([...principalsIn(rule, name), ...additions[name]]);
        }
        if (input.ruleExpiryDate === null) delete rule.ruleExpiryDate;
        else if (input.ruleExpiryDate !== undefined) rule.ruleExpiryDate = new Date(input.ruleExpiryDate).toISOString();
        if (input.disabled !== undefined) rule.disabled = input.disabled;
        if (input.notes === null || input.notes === '') delete rule.notes;
        else if (input.notes !== undefined) rule.notes = input.notes;
        if (input.userRequestReasonRequirement !== undefined) rule.userRequestReasonRequirement = input.userRequestReasonRequirement;
        if (input.rotateAfterReadMinutes === null) delete rule.rotateAfterReadMinutes;
        else if (input.rotateAfterReadMinutes !== undefined) rule.rotateAfterReadMinutes = input.rotateAfterReadMinutes;
        if (channels.notificationChannelsSuccess) rule.notificationChannelsSuccess = channels.notificationChannelsSuccess;
        if (channels.notificationChannelsFailure) rule.notificationChannelsFailure = channels.notificationChannelsFailure;
        rule.modifiedAt = new Date().toISOString();
        rule.modifiedBy = author.name;
        draft.put('rules', rule);
        return toRuleView(rule);
      },
      (view) => author.record({ type: 'rule.updated', target: ruleTarget(view), before, after: view }),
    );
    return after;
  }

  async remove(id: string, author: ChangeAuthor): Promise<void> {
    const ruleId = id.toLowerCase();
    await this.store.mutate(
      (draft) => {
        const rule = draft.get('rules', ruleId);
        if (!rule) throw notFound(id);
        draft.delete('rules', ruleId);
        return toRuleView(rule);
      },
      (before) => author.record({ type: 'rule.deleted', target: ruleTarget(before), before }),
    );
  }

  /** The channel lists given (ids or names), as ids; absent lists stay absent. */
  #channels(input: { notificationChannelsSuccess?: string[]; notificationChannelsFailure?: string[] }, at: string, errors: FieldError[]) {
    const lists: { notificationChannelsSuccess?: string[]; notificationChannelsFailure?: string[] } = {};
    for (const field of ['notificationChannelsSuccess', 'notificationChannelsFailure'] as const) {
      const refs = input[field];
      if (refs) lists[field] = resolveChannelRefs(this.store.state.channels, refs, `${at}/${field}`, errors);
    }
    return lists;
  }

  #configuredTenant(tenantId: string, path: string, errors: FieldError[]): string | undefined {
    const id = tenantId.toLowerCase();
    if (this.tenants.list({ tenantId: id }).length === 0) {
      errors.push({ path, message: `${tenantId} is not a configured tenant (listTenants, GET /v1/tenants, lists them; add it with createTenant, POST /v1/tenants)` });
      return undefined;
    }
    return id;
  }

  /** The target fields of a rule: a group or a device resolved in the tenant, or none for the whole tenant. */
  async #resolveTarget(
    tenantId: string,
    target: { groupId?: string | undefined; deviceId?: string | undefined },
    at: string,
    errors: FieldError[],
    lookups: NameLookups,
  ): Promise<Pick<RuleRecord, 'groupId' | 'deviceId' | 'targetDisplayName'>> {
    try {
      if (target.groupId) {
        const groupId = target.groupId;
        const group = await lookups.once(`group ${tenantId} ${groupId.trim()}`, () => this.names.group(tenantId, groupId));
        return { groupId: group.id, targetDisplayName: group.displayName };
      }
      if (target.deviceId) {
        const value = target.deviceId.trim();
        const device = await lookups.once(`device ${tenantId} ${value}`, () => this.devices.resolve(GUID.test(value) ? { deviceId: value, tenantId } : { name: value, tenantId }));
        return { deviceId: device.deviceId.toLowerCase(), targetDisplayName: device.deviceName };
      }
    } catch (error) {
      const path = `${at}/${target.groupId ? 'groupId' : 'deviceId'}`;
      if (error instanceof UnresolvedName) errors.push({ path, message: error.message });
      else if (isDeviceLookupRefusal(error)) errors.push({ path, message: error.message });
      else throw error;
    }
    return {};
  }

  /** Every entry resolved; the ones that cannot be are reported with their position. */
  async #resolveAll(tenantId: string, entries: readonly string[], path: string, errors: FieldError[], lookups: NameLookups): Promise<PrincipalRef[]> {
    const resolved = await Promise.all(
      entries.map(async (entry, i) => {
        try {
          return await lookups.once(`principal ${tenantId} ${entry.trim()}`, () => this.names.principal(tenantId, entry));
        } catch (error) {
          if (!(error instanceof UnresolvedName)) throw error;
          errors.push({ path: `${path}/${i}`, message: `'${entry}': ${error.message}` });
          return undefined;
        }
      }),
    );
    return resolved.filter((p): p is PrincipalRef => p !== undefined);
  }
}

function dedupe(principals: PrincipalRef[]): PrincipalRef[] {
  const seen = new Set<string>();
  return principals.filter((p) => !seen.has(p.id) && (seen.add(p.id), true));
}

function checkExpiry(value: string | undefined, path: string, errors: FieldError[]): void {
  if (value && Date.parse(value) <= Date.now()) {
    errors.push({ path, message: `is in the past; a rule that has expired applies to nothing (it is now ${new Date().toISOString()})` });
  }
}

/**
 * API keys: 256 random bits shown once as `ams_<base64url>`, kept only as a SHA-256 hash. A plain hash
 * is enough (no slow KDF): the key is random, so there is nothing to guess from its hash.
 */
import { hash, randomBytes, randomUUID } from 'node:crypto';
import type { components } from '../../openapi/ams.js';
import { ConflictError, NotFoundError, ValidationError, type FieldError } from '../common/errors.js';
import type { ApiKeyRecord } from '../store/records.js';
import type { DeepReadonly, Store } from '../store/store.js';
import { systemAuthor, type ChangeAuthor } from '../audit/change-author.js';
import type { Caller } from './caller.js';
import { UnresolvedName, type DirectoryNames } from '../access/directory-names.js';
import type { TenantService } from '../directory/tenant-service.js';

export type ApiKeyView = components['schemas']['ApiKey'];
export type ApiKeyStatus = components['schemas']['ApiKeyStatus'];
export type NewApiKey = components['schemas']['NewApiKey'];

export const KEY_PREFIX = 'ams_';
const KEY_BYTES = 32;
/** `lastUsedAt` is noted at most this often per key, so that reads do not turn into writes. */
const LAST_USED_RESOLUTION_MS = 60_000;
/** Uses noted are written together, at most this often for all keys (and at close): off the durable hot path. */
export const LAST_USED_FLUSH_MS = 60_000;


export function hashKey(key: string): string {
  return hash('sha256', key, 'hex');
}

export function mintKey(): string {
  return KEY_PREFIX + randomBytes(KEY_BYTES).toString('base64url');
}

/** A key's display prefix: enough to recognise it in a list, far too little to use it. */
function displayPrefix(key: string): string {
  return key.slice(0, KEY_PREFIX.length + 4);
}

function keyTarget(record: { id: string; name: string }) {
  return { kind: 'apiKey', id: record.id, displayName: record.name };
}

export function keyStatus(record: DeepReadonly<ApiKeyRecord>, now = new Date()): ApiKeyStatus {
  if (record.revokedAt) return 'revoked';
  if (record.expiresAt && Date.parse(record.expiresAt) <= now.getTime()) return 'expired';
  return 'active';
}

export function toView(record: DeepReadonly<ApiKeyRecord>, now = new Date()): ApiKeyView {
  const { hash: _hash, ...visible } = record;
  return { ...visible, status: keyStatus(record, now) };
}

/**
 * The UPN of the Entra user a new key acts as, looked up once when the key is created: its tenant must
 * be configured and the object id one of its users, as for the users a rule names.
 */
export async function resolveActingUser(tenants: Pick<TenantService, 'list'>, names: Pick<DirectoryNames, 'user'>, tenantId: string, principalId: string): Promise<string> {
  if (tenants.list({ tenantId: tenantId.toLowerCase() }).length === 0) {
    throw new ValidationError([{ path: 'body/tenantId', message: `${tenantId} is not a configured tenant (listTenants, GET /v1/tenants, lists them; add it with createTenant, POST /v1/tenants)` }]);
  }
  try {
    return (await names.user(tenantId, principalId)).displayName;
  } catch (error) {
    if (error instanceof UnresolvedName) throw new ValidationError([{ path: 'body/principalId', message: error.message }]);
    throw error;
  }
}

export type AuthenticationResult = { caller: Caller } | { refused: string };

export class ApiKeyService {
  /** Key id → when it was used, noted since the last flush. */
  readonly #usedSince = new Map<string, string>();
  #keysByHash: { version: number; map: ReadonlyMap<string, DeepReadonly<ApiKeyRecord>> } | undefined;
  #flushTimer: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(
    private readonly store: Store,
    /** The UPN of the user a new key acts as (resolveActingUser); throws a problem saying what is wrong. */
    private readonly actingUser: (tenantId: string, principalId: string) => Promise<string>,
    private readonly onBackgroundError: (error: unknown) => void = () => {},
    private readonly options: { lastUsedFlushMs?: number } = {},
  ) {}

  list(status?: ApiKeyStatus): ApiKeyView[] {
    const now = new Date();
    return this.store.state.apiKeys
      .map((record) => toView(this.#withUse(record), now))
      .filter((view) => !status || view.status === status)
      .sort((a, b) => b.createdAt.localeCompare(a.createdAt) || a.name.localeCompare(b.name));
  }

  async create(input: NewApiKey, author: ChangeAuthor): Promise<{ view: ApiKeyView; key: string }> {
    const now = new Date();
    validateNewKey(input, now);
    const userPrincipalName = input.tenantId && input.principalId ? await this.actingUser(input.tenantId, input.principalId) : undefined;
    const key = mintKey();
    const record: ApiKeyRecord = {
      id: randomUUID(),
      name: input.name.trim(),
      role: input.role,
      ...(input.description ? { description: input.description } : {}),
      prefix: displayPrefix(key),
      hash: hashKey(key),
      ...(input.tenantId ? { tenantId: input.tenantId.toLowerCase(), principalId: input.principalId!.toLowerCase() } : {}),
      ...(userPrincipalName ? { userPrincipalName } : {}),
      ...(input.expiresAt ? { expiresAt: new Date(input.expiresAt).toISOString() } : {}),
      createdAt: now.toISOString(),
      createdBy: author.name,
    };
    await this.store.mutate((draft) => {
      const clash = draft.rows('apiKeys').find(
        (k) => k.name.toLowerCase() === record.name.toLowerCase() && keyStatus(k, now) === 'active',
      );
      if (clash) {
        throw new ConflictError('api-key-name-taken', `An active API key is already named '${clash.name}'. Choose another name, or revoke that key first.`);
      }
      draft.put('apiKeys', record);
    }, () => author.record({ type: 'apiKey.created', target: keyTarget(record), after: toView(record, now) }));
    return { view: toView(record, now), key };
  }

  async revoke(id: string, author: ChangeAuthor): Promise<ApiKeyView> {
    const now = new Date();
    return this.store.mutate((draft) => {
      const stored = draft.get('apiKeys', id.toLowerCase());
      const record = stored && this.#withUse(stored);
      if (!record) throw new NotFoundError('api-key-not-found', `No API key has the id ${id}. listApiKeys (GET /v1/api-keys) lists the keys and their ids.`);
      if (record.revokedAt) return { before: toView(record, now), after: toView(record, now) }; // already: nothing to record
      const otherActiveAdmins = draft.rows('apiKeys').filter(
        (k) => k.id !== record.id && k.role === 'admin' && keyStatus(k, now) === 'active',
      );
      if (record.role === 'admin' && keyStatus(record, now) === 'active' && otherActiveAdmins.length === 0) {
        throw new ConflictError('last-admin-key', `'${record.name}' is the last active admin key; revoking it would lock every administrator out. Create another admin key first.`);
      }
      const revoked = { ...record, revokedAt: now.toISOString(), revokedBy: author.name };
      draft.put('apiKeys', revoked);
      return { before: toView(record, now), after: toView(revoked, now) };
    }, ({ before, after }) => (before.status === 'revoked' ? Promise.resolve() : author.record({ type: 'apiKey.revoked', target: keyTarget(after), before, after })))
      .then(({ after }) => after);
  }

  /**
   * Decides whether a presented key is good. The key is found by its SHA-256 in a map: the time of that
   * lookup depends on the hash, which tells nothing about a key one could present (finding a key with
   * a chosen hash is what SHA-256 prevents), so it leaks nothing a comparison in constant time would guard.
   */
  authenticate(presented: string): AuthenticationResult {
    if (!presented.startsWith(KEY_PREFIX)) return { refused: 'The bearer token is not an amsd API key (those start with ams_).' };
    const now = new Date();
    const match = this.#byHash().get(hashKey(presented));
    if (!match) return { refused: 'The API key is not known to this daemon. Check that it was copied whole.' };
    const status = keyStatus(match, now);
    if (status === 'revoked') return { refused: `The API key '${match.name}' was revoked at ${match.revokedAt}.` };
    if (status === 'expired') return { refused: `The API key '${match.name}' expired at ${match.expiresAt}.` };
    this.#noteUse(match, now);
    return {
      caller: {
        kind: 'apiKey',
        apiKeyId: match.id,
        displayName: match.name,
        role: match.role,
        ...(match.tenantId ? { tenantId: match.tenantId, principalId: match.principalId } : {}),
        ...(match.userPrincipalName ? { userPrincipalName: match.userPrincipalName } : {}),
      },
    };
  }

  /** The keys by hash, made again when the keys change (the store's version of them). */
  #byHash(): ReadonlyMap<string, DeepReadonly<ApiKeyRecord>> {
    const version = this.store.version('apiKeys');
    if (this.#keysByHash?.version !== version) this.#keysByHash = { version, map: new Map(this.store.state.apiKeys.map((record) => [record.hash, record])) };
    return this.#keysByHash.map;
  }

  /** Notes a key's use in memory; it is written with the others' at the next flush. */
  #noteUse(record: DeepReadonly<ApiKeyRecord>, now: Date): void {
    const last = this.#usedSince.get(record.id) ?? record.lastUsedAt;
    if (last && now.getTime() - Date.parse(last) < LAST_USED_RESOLUTION_MS) return;
    this.#usedSince.set(record.id, now.toISOString());
    if (this.#flushTimer || this.#closed) return;
    this.#flushTimer = setTimeout(() => {
      this.#flushTimer = undefined;
      this.flushLastUsed().catch(this.onBackgroundError);
    }, this.options.lastUsedFlushMs ?? LAST_USED_FLUSH_MS);
    this.#flushTimer.unref();
  }

  /** Writes the uses noted since the last flush, for all keys in one small change. */
  async flushLastUsed(): Promise<void> {
    if (this.#usedSince.size === 0) return;
    const used = new Map(this.#usedSince);
    this.#usedSince.clear();
    try {
      await this.store.mutate((draft) => {
        for (const [id, at] of used) {
          const record = draft.get('apiKeys', id);
          if (record && !(record.lastUsedAt && record.lastUsedAt >= at)) draft.put('apiKeys', { ...record, lastUsedAt: at });
        }
      });
    } catch (error) {
      // Kept for the next flush, unless a later use replaced them meanwhile.
      for (const [id, at] of used) if (!this.#usedSince.has(id)) this.#usedSince.set(id, at);
      throw error;
    }
  }

  /** Writes what is still noted; call it before the store closes. */
  async close(): Promise<void> {
    this.#closed = true;
    if (this.#flushTimer) clearTimeout(this.#flushTimer);
    this.#flushTimer = undefined;
    await this.flushLastUsed();
  }

  /** The record with a use noted but not written yet. */
  #withUse(record: DeepReadonly<ApiKeyRecord>): DeepReadonly<ApiKeyRecord> {
    const used = this.#usedSince.get(record.id);
    return used ? { ...record, lastUsedAt: used } : record;
  }

  /** Creates the first admin key of an empty data directory. */
  async bootstrap(): Promise<string> {
    const { key } = await this.create({ name: 'bootstrap-admin', role: 'admin', description: 'Created on first start.' }, systemAuthor('bootstrap'));
    return key;
  }
}

function validateNewKey(input: NewApiKey, now: Date) {
  const errors: FieldError[] = [];
  if (input.name.trim() === '') errors.push({ path: 'body/name', message: 'must contain more than spaces' });
  if (Boolean(input.tenantId) !== Boolean(input.principalId)) {
    errors.push({
      path: input.tenantId ? 'body/principalId' : 'body/tenantId',
      message: 'tenantId and principalId go together: give both (the Entra user the key acts as) or neither',
    });
  }
  if (input.expiresAt && Date.parse(input.expiresAt) <= now.getTime()) {
    errors.push({ path: 'body/expiresAt', message: `must be in the future (it is now ${now.toISOString()})` });
  }
  if (errors.length > 0) {
    throw new ValidationError(errors);
  }
}

/**
 * The Entra tenants the daemon reads from: each with the app registration it signs in as and one
 * credential of that app. A client secret or a certificate's private key is sealed at rest under the
 * master key (bound to its tenant and field) and never leaves this module except through
 * `getWithCredential`, which is for the daemon's own sign-in and is not reachable over HTTP.
 */
import { X509Certificate, createHash, createPrivateKey, type KeyObject } from 'node:crypto';
import type { components } from '../../openapi/ams.js';
import { ConflictError, NotFoundError, ValidationError, type FieldError } from '../common/errors.js';
import type { Sealer } from '../store/sealing.js';
import type { Cloud, TenantCredentialRecord, TenantRecord, UserSignInRecord } from '../store/records.js';
import type { DeepReadonly, Store } from '../store/store.js';
import type { ChangeAuthor } from '../audit/change-author.js';
import type { TenantCredential } from './token-provider.js';

export type TenantView = components['schemas']['Tenant'];
export type NewTenant = components['schemas']['NewTenant'];
export type TenantUpdate = components['schemas']['TenantUpdate'];

/** The endpoints of each Microsoft cloud (identity provider, Graph root without version). */
export const CLOUD_ENDPOINTS: Readonly<Record<Cloud, { authorityHost: string; graphEndpoint: string }>> = {
  Global: { authorityHost: 'https://login.microsoftonline.com', graphEndpoint: 'https://graph.microsoft.com' },
  USGov: { authorityHost: 'https://login.microsoftonline.us', graphEndpoint: 'https://graph.microsoft.us' },
  USGovDoD: { authorityHost: 'https://login.microsoftonline.us', graphEndpoint: 'https://dod-graph.microsoft.us' },
  China: { authorityHost: 'https://login.chinacloudapi.cn', graphEndpoint: 'https://microsoftgraph.chinacloudapi.cn' },
};

/** Everything needed to sign in to a tenant. Internal only: never serialise it into a response. */
export interface TenantWithCredential extends TenantView {
  credential: TenantCredential;
}

export function sealingContext(tenantId: string, field: 'clientSecret' | 'privateKeyPem'): string {
  return `tenant:${tenantId}:${field}`;
}

export function effectiveEndpoints(record: DeepReadonly<TenantRecord>): { authorityHost: string; graphEndpoint: string } {
  const cloud = CLOUD_ENDPOINTS[record.cloud];
  return {
    authorityHost: record.authorityHost ?? cloud.authorityHost,
    graphEndpoint: record.graphEndpoint ?? cloud.graphEndpoint,
  };
}

export function toTenantView(record: DeepReadonly<TenantRecord>): TenantView {
  // Built field by field (not by spreading the record) so that no sealed value can slip into a view.
  const credential = record.credential;
  return {
    tenantId: record.tenantId,
    displayName: record.displayName,
    clientId: record.clientId,
    credentialType: credential.type,
    ...(credential.type === 'certificate'
      ? { certificateThumbprint: credential.thumbprint, certificateExpiresAt: credential.expiresAt }
      : {}),
    cloud: record.cloud,
    ...effectiveEndpoints(record),
    customEndpoints: record.authorityHost !== undefined || record.graphEndpoint !== undefined,
    enabled: record.enabled,
    userSignInAudiences: [...(record.userSignIn?.audiences ?? [])],
    ...(record.userSignIn
      ? {
          userSignInClientId: record.userSignIn.clientId,
          userSignInScope: userSignInScope(record.userSignIn),
          administratorIds: [...record.userSignIn.administratorIds],
        }
      : {}),
    createdAt: record.createdAt,
    createdBy: record.createdBy,
    ...(record.modifiedAt ? { modifiedAt: record.modifiedAt } : {}),
    ...(record.modifiedBy ? { modifiedBy: record.modifiedBy } : {}),
  };
}

/** The scope clients request for amsd: the configured one, or the first audience's `.default`. */
export function userSignInScope(signIn: DeepReadonly<UserSignInRecord>): string {
  return signIn.scope ?? `${signIn.audiences[0]!.replace(/\/+$/, '')}/.default`;
}

type UserSignInInput = Pick<NewTenant, 'userSignInAudiences' | 'userSignInClientId' | 'userSignInScope' | 'administratorIds'>;

/**
 * The user sign-in settings a create or update asks for, merged over the current ones. Undefined when
 * sign-in ends up off; `errors` says what is missing.
 */
function userSignInFrom(
  input: Omit<UserSignInInput, 'userSignInScope'> & { userSignInScope?: string | null },
  current: DeepReadonly<UserSignInRecord> | undefined,
  errors: FieldError[],
): UserSignInRecord | undefined {
  const audiences = input.userSignInAudiences?.map((a) => a.trim()) ?? [...(current?.audiences ?? [])];
  const clientId = input.userSignInClientId?.toLowerCase() ?? current?.clientId;
  const scope = input.userSignInScope === null ? undefined : (input.userSignInScope ?? current?.scope);
  const administratorIds = input.administratorIds?.map((id) => id.toLowerCase()) ?? [...(current?.administratorIds ?? [])];
  if (audiences.length === 0) {
    const orphan = (['userSignInClientId', 'userSignInScope', 'administratorIds'] as const).filter((k) => input[k] != null && !(k === 'administratorIds' && input[k].length === 0));
    for (const field of orphan) errors.push({ path: `body/${field}`, message: 'needs userSignInAudiences: user sign-in is off for this tenant until audiences are given' });
    return undefined;
  }
  if (audiences.some((a) => a === '')) errors.push({ path: 'body/userSignInAudiences', message: 'must not contain empty entries' });
  const graph = audiences.find((a) => GRAPH_AUDIENCES.has(a.replace(/\/+$/, '').toLowerCase()));
  if (graph) errors.push({ path: 'body/userSignInAudiences', message: `'${graph}' is Microsoft Graph's audience; give amsd's own app id or api:// URI` });
  if (!clientId) {
    errors.push({ path: 'body/userSignInClientId', message: 'is required with userSignInAudiences: it is the public client app users sign in with' });
    return undefined;
  }
  return { audiences, clientId, ...(scope ? { scope } : {}), administratorIds };
}

/** Microsoft Graph's audiences, in every cloud: a token for Graph is never a token for amsd. */
export const GRAPH_AUDIENCES = new Set([
  '00000003-0000-0000-c000-000000000000',
  ...Object.values(CLOUD_ENDPOINTS).map((cloud) => cloud.graphEndpoint),
]);

function tenantTarget(tenant: { tenantId: string; displayName: string }) {
  return { kind: 'tenant', id: tenant.tenantId, displayName: tenant.displayName };
}

/** No tenant with this id is configured. */
export class TenantNotFoundError extends NotFoundError {}

function notFound(tenantId: string): TenantNotFoundError {
  return new TenantNotFoundError('tenant-not-found', `No tenant ${tenantId} is configured. listTenants (GET /v1/tenants) lists the configured tenants.`);
}

export class TenantService {
  readonly #listeners: Array<(tenantId: string) => void> = [];
  #enabled: { version: number; ids: readonly string[] } | undefined;

  constructor(
    private readonly store: Store,
    private readonly sealer: Sealer,
  ) {}

  /** Calls `listener` after a tenant is changed or removed, so that what was built from it is dropped. */
  onChange(listener: (tenantId: string) => void): void {
    this.#listeners.push(listener);
  }

  #changed(tenantId: string): void {
    for (const listener of this.#listeners) listener(tenantId);
  }

  /**
   * The ids of the enabled tenants, in the order list() gives them: asked by every read by name, so
   * kept until the tenants change rather than built from every tenant's view each time.
   */
  enabledTenantIds(): readonly string[] {
    const version = this.store.version('tenants');
    if (this.#enabled?.version !== version) {
      this.#enabled = { version, ids: Object.freeze(this.list().filter((t) => t.enabled).map((t) => t.tenantId)) };
    }
    return this.#enabled.ids;
  }

  list(filter: { tenantId?: string } = {}): TenantView[] {
    const wanted = filter.tenantId?.toLowerCase();
    return this.store.state.tenants
      .filter((record) => !wanted || record.tenantId === wanted)
      .map(toTenantView)
      .sort((a, b) => a.displayName.localeCompare(b.displayName) || a.tenantId.localeCompare(b.tenantId));
  }

  get(tenantId: string): TenantView {
    const record = this.find(tenantId);
    if (!record) throw notFound(tenantId);
    return toTenantView(record);
  }

  async create(input: NewTenant, author: ChangeAuthor): Promise<TenantView> {
    const tenantId = input.tenantId.toLowerCase();
    const errors: FieldError[] = [];
    if (input.displayName.trim() === '') errors.push({ path: 'body/displayName', message: 'must contain more than spaces' });
    const authorityHost = input.authorityHost === undefined ? undefined : checkEndpoint(input.authorityHost, 'body/authorityHost', errors);
    const graphEndpoint = input.graphEndpoint === undefined ? undefined : checkEndpoint(input.graphEndpoint, 'body/graphEndpoint', errors);
    const credential = this.credentialFrom(tenantId, input, errors, true);
    const userSignIn = userSignInFrom(input, undefined, errors);
    if (errors.length > 0 || !credential) throw new ValidationError(errors);

    const record: TenantRecord = {
      tenantId,
      displayName: input.displayName.trim(),
      clientId: input.clientId.toLowerCase(),
      credential,
      cloud: input.cloud ?? 'Global',
      ...(authorityHost ? { authorityHost } : {}),
      ...(graphEndpoint ? { graphEndpoint } : {}),
      enabled: input.enabled ?? true,
      ...(userSignIn ? { userSignIn } : {}),
      createdAt: new Date().toISOString(),
      createdBy: author.name,
    };
    await this.store.mutate((draft) => {
      const clash = draft.get('tenants', tenantId);
      if (clash) {
        throw new ConflictError('tenant-exists', `The tenant ${tenantId} is already configured (as '${clash.displayName}'). Change it with updateTenant (PATCH /v1/tenants/{tenantId}), or remove it first.`);
      }
      draft.put('tenants', record);
    }, () => author.record({ type: 'tenant.created', target: tenantTarget(record), after: toTenantView(record) }));
    return toTenantView(record);
  }

  async update(tenantId: string, input: TenantUpdate, author: ChangeAuthor): Promise<TenantView> {
    const id = tenantId.toLowerCase();
    const existing = this.find(id);
    if (!existing) throw notFound(tenantId);
    const errors: FieldError[] = [];
    if (input.displayName !== undefined && input.displayName.trim() === '') {
      errors.push({ path: 'body/displayName', message: 'must contain more than spaces' });
    }
    const authorityHost = input.authorityHost == null ? input.authorityHost : checkEndpoint(input.authorityHost, 'body/authorityHost', errors);
    const graphEndpoint = input.graphEndpoint == null ? input.graphEndpoint : checkEndpoint(input.graphEndpoint, 'body/graphEndpoint', errors);
    const credential = this.credentialFrom(id, input, errors, false);
    const touchesSignIn = (['userSignInAudiences', 'userSignInClientId', 'userSignInScope', 'administratorIds'] as const).some((k) => input[k] !== undefined);
    const userSignIn = touchesSignIn ? userSignInFrom(input, existing.userSignIn, errors) : existing.userSignIn;
    if (errors.length > 0) throw new ValidationError(errors);

    const view = await this.store.mutate((draft) => {
      const stored = draft.get('tenants', id);
      if (!stored) throw notFound(tenantId);
      const record = structuredClone(stored) as TenantRecord;
      if (input.displayName !== undefined) record.displayName = input.displayName.trim();
      if (input.clientId !== undefined) record.clientId = input.clientId.toLowerCase();
      if (input.cloud !== undefined) record.cloud = input.cloud;
      if (input.enabled !== undefined) record.enabled = input.enabled;
      if (authorityHost === null) delete record.authorityHost;
      else if (authorityHost !== undefined) record.authorityHost = authorityHost;
      if (graphEndpoint === null) delete record.graphEndpoint;
      else if (graphEndpoint !== undefined) record.graphEndpoint = graphEndpoint;
      // The new credential replaces the old one whole: a secret and a key are never kept side by side.
      if (credential) record.credential = credential;
      if (touchesSignIn) {
        if (userSignIn) record.userSignIn = structuredClone(userSignIn) as UserSignInRecord;
        else delete record.userSignIn;
      }
      record.modifiedAt = new Date().toISOString();
      record.modifiedBy = author.name;
      draft.put('tenants', record);
      return toTenantView(record);
    }, (after) => author.record({ type: 'tenant.updated', target: tenantTarget(after), before: toTenantView(existing), after }));
    this.#changed(id);
    return view;
  }

  async remove(tenantId: string, author: ChangeAuthor): Promise<void> {
    const id = tenantId.toLowerCase();
    await this.store.mutate((draft) => {
      const record = draft.get('tenants', id);
      if (!record) throw notFound(tenantId);
      draft.delete('tenants', id);
      return toTenantView(record);
    }, (before) => author.record({ type: 'tenant.deleted', target: tenantTarget(before), before }));
    this.#changed(id);
  }

  /**
   * The tenant with its credential unsealed, for signing in to it. For the daemon's own use only: no
   * operation of the API returns this.
   */
  getWithCredential(tenantId: string): TenantWithCredential {
    const record = this.find(tenantId);
    if (!record) throw notFound(tenantId);
    const stored = record.credential;
    const credential: TenantCredential =
      stored.type === 'secret'
        ? { type: 'secret', clientSecret: this.sealer.unseal(stored.sealedClientSecret, sealingContext(record.tenantId, 'clientSecret')) }
        : {
            type: 'certificate',
            certificatePem: stored.certificatePem,
            thumbprintSha256: stored.thumbprint,
            privateKeyPem: this.sealer.unseal(stored.sealedPrivateKeyPem, sealingContext(record.tenantId, 'privateKeyPem')),
          };
    return { ...toTenantView(record), credential };
  }

  private find(tenantId: string): DeepReadonly<TenantRecord> | undefined {
    const id = tenantId.toLowerCase();
    return this.store.get('tenants', id);
  }

  /**
   * The sealed credential the request gives, checked: exactly one of a secret or a certificate with
   * its key. Returns undefined when there is none (allowed only when not `required`) or it is invalid
   * (then `errors` says why).
   */
  private credentialFrom(
    tenantId: string,
    input: { clientSecret?: string; certificatePem?: string; privateKeyPem?: string },
    errors: FieldError[],
    required: boolean,
  ): TenantCredentialRecord | undefined {
    const hasSecret = input.clientSecret !== undefined;
    const hasCert = input.certificatePem !== undefined;
    const hasKey = input.privateKeyPem !== undefined;
    if (hasSecret && (hasCert || hasKey)) {
      errors.push({
        path: 'body/clientSecret',
        message: `give one credential: clientSecret, or certificatePem with privateKeyPem, not both (got clientSecret and ${[hasCert && 'certificatePem', hasKey && 'privateKeyPem'].filter(Boolean).join(' and ')})`,
      });
      return undefined;
    }
    if (hasCert !== hasKey) {
      errors.push({
        path: hasCert ? 'body/privateKeyPem' : 'body/certificatePem',
        message: 'certificatePem and privateKeyPem go together: give the certificate with its private key',
      });
      return undefined;
    }
    if (hasSecret) {
      if (input.clientSecret!.trim() === '') {
        errors.push({ path: 'body/clientSecret', message: 'must contain more than spaces' });
        return undefined;
      }
      return { type: 'secret', sealedClientSecret: this.sealer.seal(input.clientSecret!, sealingContext(tenantId, 'clientSecret')) };
    }
    if (hasCert) return this.certificateCredential(tenantId, input.certificatePem!, input.privateKeyPem!, errors);
    if (required) {
      errors.push(
        { path: 'body/clientSecret', message: 'or certificatePem with privateKeyPem is required: the tenant needs one credential of its app registration' },
        { path: 'body/certificatePem', message: 'with privateKeyPem, or clientSecret, is required: the tenant needs one credential of its app registration' },
      );
    }
    return undefined;
  }

  private certificateCredential(tenantId: string, certificatePem: string, privateKeyPem: string, errors: FieldError[]): TenantCredentialRecord | undefined {
    let certificate: X509Certificate | undefined;
    if (!/-----BEGIN CERTIFICATE-----/.test(certificatePem)) {
      errors.push({ path: 'body/certificatePem', message: 'must be a PEM certificate (-----BEGIN CERTIFICATE-----)' });
    } else {
      try {
        certificate = new X509Certificate(certificatePem);
      } catch (error) {
        errors.push({ path: 'body/certificatePem', message: `could not be read as a PEM certificate (${(error as Error).message})` });
      }
    }
    let key: KeyObject | undefined;
    if (!/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(privateKeyPem)) {
      errors.push({ path: 'body/privateKeyPem', message: 'must be a PEM private key (-----BEGIN PRIVATE KEY-----)' });
    } else if (/ENCRYPTED/.test(privateKeyPem)) {
      errors.push({ path: 'body/privateKeyPem', message: 'must not be encrypted: give it in clear; amsd seals it at rest' });
    } else {
      try {
        key = createPrivateKey({ key: privateKeyPem, format: 'pem' });
      } catch (error) {
        errors.push({ path: 'body/privateKeyPem', message: `could not be read as an unencrypted PEM private key (${(error as Error).message})` });
      }
    }
    if (!certificate || !key) return undefined;

    if (!certificate.checkPrivateKey(key)) {
      errors.push({ path: 'body/privateKeyPem', message: `is not the private key of the certificate given in certificatePem (${certificate.subject.replace(/\n/g, ', ')})` });
      return undefined;
    }
    const expiresAt = new Date(certificate.validTo);
    if (Number.isNaN(expiresAt.getTime())) {
      errors.push({ path: 'body/certificatePem', message: `has an expiry date amsd cannot read (${certificate.validTo})` });
      return undefined;
    }
    if (expiresAt.getTime() <= Date.now()) {
      errors.push({ path: 'body/certificatePem', message: `expired at ${expiresAt.toISOString()}; give a certificate that is still valid` });
      return undefined;
    }
    return {
      type: 'certificate',
      certificatePem: certificate.toString(),
      thumbprint: createHash('sha256').update(certificate.raw).digest('hex'),
      expiresAt: expiresAt.toISOString(),
      sealedPrivateKeyPem: this.sealer.seal(
        key.export({ type: 'pkcs8', format: 'pem' }) as string,
        sealingContext(tenantId, 'privateKeyPem'),
      ),
    };
  }
}

/** An endpoint override: an https URL without credentials, query or fragment; kept without a trailing slash. */
function checkEndpoint(value: string, path: string, errors: FieldError[]): string | undefined {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    errors.push({ path, message: 'must be an absolute https URL' });
    return undefined;
  }
  if (url.protocol !== 'https:') errors.push({ path, message: 'must be an https URL' });
  else if (url.username || url.password) errors.push({ path, message: 'must not contain a user name or password' });
  else if (url.search || url.hash) errors.push({ path, message: 'must not have a query or fragment' });
  else return (url.origin + url.pathname).replace(/\/+$/, '');
  return undefined;
}

/**
 * Entra ID access tokens as bearer tokens: a tenant whose user sign-in is configured lets its users
 * call amsd with a token issued for amsd's own app. The token is checked with jose against the
 * tenant's signing keys (JWKS, from its OpenID configuration), its issuer (v1 or v2, bound to the
 * tenant id, since Entra's signing keys are shared by every tenant), audience, expiry and not-before.
 * A token for Microsoft Graph is refused before anything else: only Graph can validate those.
 */
import type { errors, JWTPayload, JWTVerifyGetKey } from 'jose';
import { fetch as undiciFetch, type Dispatcher } from 'undici';
import type { TenantService, TenantView } from '../directory/tenant-service.js';
import { GRAPH_AUDIENCES } from '../directory/tenant-service.js';
import { readOpenIdConfiguration } from '../directory/token-provider.js';
import { UnavailableError } from '../common/errors.js';
import type { AuthenticationResult } from './api-keys.js';

/** Entra allows a few minutes of clock skew between issuer and resource. */
const CLOCK_TOLERANCE_SECONDS = 120;
const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** The user's groups (transitive object ids), asked of Graph when the token does not list them. */
export type GroupLookup = (tenantId: string, userObjectId: string) => Promise<readonly string[]>;

interface TenantKeys {
  issuers: string[];
  jwks: JWTVerifyGetKey;
}

/** v1 tokens carry the cloud's STS host, not the login host. */
function v1Issuers(tenant: TenantView): string[] {
  const sts = tenant.cloud === 'China' ? 'https://sts.chinacloudapi.cn' : 'https://sts.windows.net';
  return [`${sts}/${tenant.tenantId}/`, `${tenant.authorityHost}/${tenant.tenantId}/`];
}

/** jose, loaded with the first Entra token: a daemon whose callers use API keys does without it. */
let joseLoading: Promise<typeof import('jose')> | undefined;
const loadJose = () => (joseLoading ??= import('jose'));

export function looksLikeJwt(token: string): boolean {
  return /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/.test(token);
}

export class EntraTokenVerifier {
  readonly #keys = new Map<string, Promise<TenantKeys>>();

  constructor(
    private readonly tenants: TenantService,
    private readonly dispatcher: Dispatcher,
    private readonly memberGroups: GroupLookup,
  ) {
    tenants.onChange((tenantId) => this.#keys.delete(tenantId));
  }

  async authenticate(token: string): Promise<AuthenticationResult> {
    const { decodeJwt, errors, jwtVerify } = await loadJose();
    let claims: JWTPayload;
    try {
      claims = decodeJwt(token);
    } catch {
      return { refused: 'The bearer token is neither an amsd API key (ams_...) nor a readable Entra ID access token.' };
    }
    const audiences = typeof claims.aud === 'string' ? [claims.aud] : (claims.aud ?? []);
    if (audiences.some((aud) => GRAPH_AUDIENCES.has(aud.replace(/\/+$/, '').toLowerCase()))) {
      return {
        refused: "This Entra ID token is for Microsoft Graph, not for amsd. Request a token for amsd's scope (getAuthConfig, GET /v1/auth/config, names it and the device code flow that gets one).",
      };
    }
    const tid = typeof claims.tid === 'string' ? claims.tid.toLowerCase() : '';
    if (!GUID.test(tid)) return { refused: 'The Entra ID token has no tenant id (tid claim).' };
    const tenant = this.tenants.list({ tenantId: tid })[0];
    if (!tenant || tenant.userSignInAudiences.length === 0) {
      return { refused: `Users of tenant ${tid} may not sign in to amsd: an administrator sets userSignInAudiences on the tenant (updateTenant, PATCH /v1/tenants/{tenantId}) to allow it.` };
    }
    if (!tenant.enabled) return { refused: `The tenant ${tenant.displayName} (${tid}) is disabled in amsd.` };
    const accepted = tenant.userSignInAudiences;
    if (!audiences.some((aud) => accepted.includes(aud))) {
      return { refused: `The Entra ID token was issued for '${audiences.join("', '")}', not for amsd (accepted audiences: ${accepted.join(', ')}).` };
    }

    const keys = await this.#keysFor(tenant);
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, keys.jwks, {
        issuer: keys.issuers,
        audience: accepted,
        algorithms: ['RS256'],
        clockTolerance: CLOCK_TOLERANCE_SECONDS,
        requiredClaims: ['exp', 'tid', 'oid'],
      }));
    } catch (error) {
      if (keysUnavailable(error, errors)) {
        throw new UnavailableError('identity-provider-unavailable', `amsd could not read the signing keys of tenant ${tenant.displayName} (${(error as Error).message}); try again shortly.`, 30);
      }
      return { refused: describeFailure(error, claims, errors) };
    }
    const oid = String(payload.oid).toLowerCase();
    const tokenGroupIds = groupsClaim(payload);
    const role = await this.#roleOf(tenant, oid, tokenGroupIds);
    const displayName = [payload.preferred_username, payload.upn, payload.unique_name, payload.name].find((v): v is string => typeof v === 'string' && v !== '') ?? oid;
    // upn is an optional claim of v2.0 access tokens, preferred_username a default one that is usually
    // the UPN (https://learn.microsoft.com/entra/identity-platform/access-token-claims-reference).
    const userPrincipalName = [payload.upn, payload.preferred_username].find((v): v is string => typeof v === 'string' && v.includes('@'));
    return {
      caller: {
        kind: 'entra',
        displayName,
        ...(userPrincipalName ? { userPrincipalName } : {}),
        role,
        tenantId: tid,
        principalId: oid,
        ...(tokenGroupIds ? { tokenGroupIds } : {}),
      },
    };
  }

  async #roleOf(tenant: TenantView, oid: string, tokenGroupIds: readonly string[] | undefined): Promise<'admin' | 'user'> {
    const admins = new Set(tenant.administratorIds ?? []);
    if (admins.size === 0) return 'user';
    if (admins.has(oid)) return 'admin';
    const groups = tokenGroupIds ?? (await this.memberGroups(tenant.tenantId, oid));
    return groups.some((g) => admins.has(g.toLowerCase())) ? 'admin' : 'user';
  }

  #keysFor(tenant: TenantView): Promise<TenantKeys> {
    const cached = this.#keys.get(tenant.tenantId);
    return cached ?? this.#load(tenant);
  }

  #load(tenant: TenantView): Promise<TenantKeys> {
    const loading = (async () => {
      const authority = `${tenant.authorityHost}/${tenant.tenantId}`;
      let configuration: Record<string, unknown>;
      try {
        configuration = await readOpenIdConfiguration(authority, this.dispatcher);
      } catch (error) {
        throw new UnavailableError(
          'identity-provider-unavailable',
          `amsd could not read the signing keys of tenant ${tenant.displayName} from ${authority} (${(error as Error).message}); try again shortly.`,
          30,
        );
      }
      const jwksUri = typeof configuration.jwks_uri === 'string' ? configuration.jwks_uri : `${authority}/discovery/v2.0/keys`;
      const dispatcher = this.dispatcher;
      const jose = await loadJose();
      const jwks = jose.createRemoteJWKSet(new URL(jwksUri), {
        // jose fetches with the global fetch; the tenant's keys must come through the daemon's stack (its CA).
        [jose.customFetch]: (url, options) => undiciFetch(url, { ...options, dispatcher } as unknown as Parameters<typeof undiciFetch>[1]),
      });
      const issuers = [(typeof configuration.issuer === 'string' ? configuration.issuer : `${authority}/v2.0`).replace('{tenantid}', tenant.tenantId), ...v1Issuers(tenant)];
      return { issuers, jwks };
    })();
    this.#keys.set(tenant.tenantId, loading);
    loading.catch(() => this.#keys.delete(tenant.tenantId));
    return loading;
  }
}

/** The `groups` claim, unless Entra left it out or replaced it with an overage pointer. */
function groupsClaim(payload: JWTPayload): string[] | undefined {
  const names = payload._claim_names as Record<string, unknown> | undefined;
  if (names && 'groups' in names) return undefined;
  if (!Array.isArray(payload.groups)) return undefined;
  return payload.groups.filter((g): g is string => typeof g === 'string').map((g) => g.toLowerCase());
}

/** The keys could not be fetched (network, timeout, a non-200 or non-JWKS answer): not the caller's fault. */
function keysUnavailable(error: unknown, joseErrors: typeof errors): boolean {
  if (!(error instanceof joseErrors.JOSEError)) return true;
  return error instanceof joseErrors.JWKSTimeout || error instanceof joseErrors.JWKSInvalid || error.constructor === joseErrors.JOSEError;
}

function describeFailure(error: unknown, claims: JWTPayload, joseErrors: typeof errors): string {
  if (error instanceof joseErrors.JWTExpired) {
    return `The Entra ID token expired at ${claims.exp ? new Date(claims.exp * 1000).toISOString() : 'an unknown time'}; sign in again.`;
  }
  if (error instanceof joseErrors.JWTClaimValidationFailed) {
    if (error.claim === 'nbf') return 'The Entra ID token is not valid yet (nbf); check the clocks of this machine and the client.';
    if (error.claim === 'iss') return `The Entra ID token was issued by '${String(claims.iss)}', which is not the tenant's authority.`;
    if (error.claim === 'oid') return 'The Entra ID token names no user (oid claim); amsd needs a delegated or app token with an object id.';
    return `The Entra ID token's ${error.claim} claim is not acceptable (${error.reason}).`;
  }
  if (error instanceof joseErrors.JOSEAlgNotAllowed) return 'The Entra ID token is not signed with RS256.';
  if (error instanceof joseErrors.JWKSNoMatchingKey || error instanceof joseErrors.JWSSignatureVerificationFailed) {
    return "The Entra ID token's signature does not verify against the tenant's signing keys.";
  }
  return `The Entra ID token could not be verified (${(error as errors.JOSEError).code}).`;
}

/**
 * The identity half of the simulated tenant, imitating login.microsoftonline.com for one tenant:
 * OIDC discovery, the JWKS, and the token endpoint's client-credentials grant with a client secret or a
 * certificate-signed client assertion. Errors carry Entra's `AADSTSnnnnn` codes so clients can be tested
 * on the messages administrators will actually see. Users' device code and refresh token grants are
 * device-authorization.ts's; it answers those token requests before they reach this class.
 */
import { randomUUID, timingSafeEqual, X509Certificate, createHash, type KeyObject } from 'node:crypto';
import { calculateJwkThumbprint, decodeProtectedHeader, exportJWK, generateKeyPair, jwtVerify, SignJWT, type JWK, type JWTPayload } from 'jose';
import { json, oauthError, type Reply, type RouteRequest } from './http.js';

export const GRAPH_AUDIENCE = 'https://graph.microsoft.com';
type TenantKey = Awaited<ReturnType<typeof generateKeyPair>>['privateKey'];
const ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
const TOKEN_LIFETIME_SECONDS = 3599;

export interface AppRegistration {
  clientId: string;
  /** The service principal's object id: the `oid` of the app's tokens. */
  servicePrincipalId: string;
  clientSecret: string;
  /**
   * Application permissions admin-consented to the app; mutable. A token carries the roles granted when it
   * was issued (as in Entra), so fetch a new token after changing this.
   */
  permissions: Set<string>;
}

export interface UserTokenOptions {
  oid: string;
  /** The daemon's app: its client id or `api://...`. */
  audience: string;
  groups?: string[];
  name?: string;
  preferredUsername?: string;
  roles?: string[];
  scp?: string;
  expiresInSeconds?: number;
  /** Extra or overriding claims (e.g. a wrong `tid` to test refusal). */
  claims?: JWTPayload;
}

export class Identity {
  readonly #certificates = new Map<string, KeyObject>(); // by base64url x5t#S256 and x5t
  /** Ids (`uti`) of the app tokens issued so far, and of those revoked. */
  readonly #issuedAppTokens = new Set<string>();
  readonly #revokedAppTokens = new Set<string>();
  #claimsChallenge = false;
  #signingKey!: TenantKey;
  #publicKey!: TenantKey;
  #jwk!: JWK;

  private constructor(
    readonly tenantId: string,
    readonly host: string,
    readonly app: AppRegistration,
  ) {}

  static async create(tenantId: string, host: string, app: AppRegistration): Promise<Identity> {
    const identity = new Identity(tenantId, host, app);
    const { privateKey, publicKey } = await generateKeyPair('RS256', { extractable: true });
    identity.#signingKey = privateKey;
    identity.#publicKey = publicKey;
    const jwk = await exportJWK(publicKey);
    identity.#jwk = { ...jwk, kid: await calculateJwkThumbprint(jwk), use: 'sig', alg: 'RS256' };
    return identity;
  }

  get issuer(): string {
    return `${this.host}/${this.tenantId}/v2.0`;
  }

  get tokenEndpoint(): string {
    return `${this.host}/${this.tenantId}/oauth2/v2.0/token`;
  }

  /** What MSAL's `authorityMetadata` wants, as an object (JSON.stringify it for MSAL). */
  openidConfiguration(): Record<string, unknown> {
    const base = `${this.host}/${this.tenantId}`;
    return {
      issuer: this.issuer,
      token_endpoint: this.tokenEndpoint,
      authorization_endpoint: `${base}/oauth2/v2.0/authorize`,
      device_authorization_endpoint: `${base}/oauth2/v2.0/devicecode`,
      end_session_endpoint: `${base}/oauth2/v2.0/logout`,
      jwks_uri: `${base}/discovery/v2.0/keys`,
      token_endpoint_auth_methods_supported: ['client_secret_post', 'private_key_jwt', 'client_secret_basic'],
      response_types_supported: ['code', 'id_token', 'code id_token', 'id_token token'],
      subject_types_supported: ['pairwise'],
      id_token_signing_alg_values_supported: ['RS256'],
      scopes_supported: ['openid', 'profile', 'email', 'offline_access'],
      claims_supported: ['sub', 'iss', 'aud', 'exp', 'iat', 'oid', 'tid', 'name', 'preferred_username', 'groups', 'roles'],
      tenant_region_scope: 'EU',
      cloud_instance_name: 'microsoftonline.com',
    };
  }

  /** Registers a certificate's public key as a credential of the app (by its SHA-256 and SHA-1 thumbprints). */
  addClientCertificate(certificatePem: string): void {
    const cert = new X509Certificate(certificatePem);
    for (const algorithm of ['sha256', 'sha1']) this.#certificates.set(createHash(algorithm).update(cert.raw).digest('base64url'), cert.publicKey);
  }

  /** Routes under `/{tenant}/`; undefined when the path is not an identity route. */
  async handle(req: RouteRequest): Promise<Reply | undefined> {
    const match = /^\/([^/]+)\/(v2\.0\/\.well-known\/openid-configuration|discovery\/v2\.0\/keys|oauth2\/v2\.0\/token)$/.exec(req.url.pathname);
    if (!match) return undefined;
    const [, tenant, route] = match;
    if (tenant !== this.tenantId) {
      return oauthError(req, 400, 'invalid_request', 90002, `Tenant '${tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud.`);
    }
    if (route === 'oauth2/v2.0/token') {
      return req.method === 'POST' ? this.#token(req) : oauthError(req, 405, 'invalid_request', 900561, 'The endpoint only accepts POST requests.');
    }
    if (req.method !== 'GET') return json(405, { error: 'method_not_allowed' });
    return route === 'discovery/v2.0/keys' ? json(200, { keys: [this.#jwk] }) : json(200, this.openidConfiguration());
  }

  async #token(req: RouteRequest): Promise<Reply> {
    const form = new URLSearchParams(req.body);
    // client_secret_basic: Entra accepts the credentials in an Authorization: Basic header too.
    const basic = /^Basic (.+)$/i.exec(String(req.headers.authorization ?? ''))?.[1];
    if (basic) {
      const [id, secret] = Buffer.from(basic, 'base64').toString().split(':').map(decodeURIComponent);
      if (id && !form.has('client_id')) form.set('client_id', id);
      if (secret !== undefined && !form.has('client_secret')) form.set('client_secret', secret);
    }
    const grantType = form.get('grant_type');
    if (!grantType) return oauthError(req, 400, 'invalid_request', 900144, "The request body must contain the following parameter: 'grant_type'.");
    if (grantType !== 'client_credentials') {
      return oauthError(req, 400, 'unsupported_grant_type', 70003, `The app requested an unsupported grant type '${grantType}'. (The simulated tenant serves client_credentials, device_code and refresh_token.)`);
    }
    const clientId = form.get('client_id');
    if (!clientId) return oauthError(req, 400, 'invalid_request', 900144, "The request body must contain the following parameter: 'client_id'.");
    if (clientId !== this.app.clientId) {
      return oauthError(req, 400, 'unauthorized_client', 700016, `Application with identifier '${clientId}' was not found in the directory '${this.tenantId}'.`);
    }
    // Scope: the resource's `.default`; OIDC scopes MSAL may append are ignored.
    const scopes = (form.get('scope') ?? '').split(' ').filter((s) => s && !['openid', 'profile', 'offline_access'].includes(s));
    if (scopes.length !== 1 || scopes[0]!.replace(/\/+\.default$/, '') !== GRAPH_AUDIENCE || !scopes[0]!.endsWith('/.default')) {
      return oauthError(req, 400, 'invalid_scope', 1002012, `The provided value for scope ${form.get('scope') ?? ''} is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI).`);
    }

    const secret = form.get('client_secret');
    const assertion = form.get('client_assertion');
    if (secret !== null) {
      if (!safeEqual(secret, this.app.clientSecret)) {
        return oauthError(req, 401, 'invalid_client', 7000215, `Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '${clientId}'.`);
      }
    } else if (assertion !== null) {
      const failure = await this.#checkAssertion(assertion, form.get('client_assertion_type'), clientId);
      if (failure) return oauthError(req, 401, 'invalid_client', failure.code, failure.message);
    } else {
      return oauthError(req, 401, 'invalid_client', 7000218, "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.");
    }

    const now = Math.floor(Date.now() / 1000);
    const uti = randomUUID().replace(/-/g, '');
    this.#issuedAppTokens.add(uti);
    const accessToken = await this.#sign(
      {
        aud: GRAPH_AUDIENCE,
        iss: this.issuer,
        iat: now,
        nbf: now,
        exp: now + TOKEN_LIFETIME_SECONDS,
        tid: this.tenantId,
        oid: this.app.servicePrincipalId,
        sub: this.app.servicePrincipalId,
        appid: clientId,
        azp: clientId,
        idtyp: 'app',
        roles: [...this.app.permissions],
        ver: '2.0',
        uti,
      },
    );
    return json(200, { token_type: 'Bearer', expires_in: TOKEN_LIFETIME_SECONDS, ext_expires_in: TOKEN_LIFETIME_SECONDS, access_token: accessToken }, { 'cache-control': 'no-store, no-cache', pragma: 'no-cache' });
  }

  async #checkAssertion(assertion: string, type: string | null, clientId: string): Promise<{ code: number; message: string } | undefined> {
    if (type !== ASSERTION_TYPE) return { code: 7000219, message: `'client_assertion_type' must be '${ASSERTION_TYPE}'.` };
    let header: ReturnType<typeof decodeProtectedHeader>;
    try {
      header = decodeProtectedHeader(assertion);
    } catch {
      return { code: 50027, message: 'JWT token is invalid or malformed.' };
    }
    const thumbprint = (header['x5t#S256'] as string | undefined) ?? header.x5t;
    const key = thumbprint === undefined ? undefined : this.#certificates.get(thumbprint);
    if (!key) return { code: 700027, message: `The certificate with identifier used to sign the client assertion is not registered on application. [Reason - The key was not found., Thumbprint of key used by client: '${thumbprint ?? ''}']` };
    try {
      await jwtVerify(assertion, key, { issuer: clientId, subject: clientId, audience: [this.tokenEndpoint, this.issuer, `${this.host}/${this.tenantId}/oauth2/token`], algorithms: ['RS256', 'PS256'],
        // Entra allows clock skew; MSAL rounds `nbf`/`iat` to the nearest second, so they can be in the future.
        clockTolerance: 300,
      });
    } catch (error) {
      const code = (error as { code?: string }).code;
      if (code === 'ERR_JWT_EXPIRED' || code === 'ERR_JWT_CLAIM_VALIDATION_FAILED' && /nbf|iat/.test((error as Error).message)) {
        return { code: 700024, message: 'Client assertion is not within its valid time range.' };
      }
      if (code === 'ERR_JWT_CLAIM_VALIDATION_FAILED') return { code: 700021, message: `Client assertion application identifier doesn't match 'client_id' parameter, or its audience is not this token endpoint. (${(error as Error).message})` };
      return { code: 700027, message: 'Client assertion failed signature validation.' };
    }
    return undefined;
  }

  /** An access token for the daemon's own API, as Entra would issue to a signed-in user. */
  async issueUserToken(options: UserTokenOptions): Promise<string> {
    const now = Math.floor(Date.now() / 1000);
    const groups = options.groups ?? [];
    // Past 200 groups Entra leaves them out and points at Graph instead (the "overage" claim).
    const groupClaims =
      groups.length > 200
        ? { _claim_names: { groups: 'src1' }, _claim_sources: { src1: { endpoint: `${this.host}/v1.0/users/${options.oid}/getMemberGroups` } } }
        : groups.length > 0
          ? { groups }
          : {};
    return this.#sign({
      aud: options.audience,
      iss: this.issuer,
      iat: now,
      nbf: now,
      exp: now + (options.expiresInSeconds ?? TOKEN_LIFETIME_SECONDS),
      tid: this.tenantId,
      oid: options.oid,
      sub: options.oid,
      azp: randomUUID(),
      ver: '2.0',
      ...(options.name ? { name: options.name } : {}),
      ...(options.preferredUsername ? { preferred_username: options.preferredUsername } : {}),
      ...(options.roles ? { roles: options.roles } : {}),
      ...(options.scp ? { scp: options.scp } : {}),
      ...groupClaims,
      ...options.claims,
    });
  }

  /** Every app token issued so far is rejected from now on (see SimulatedTenant.revokeAppTokens). */
  revokeAppTokens(options: { claimsChallenge?: boolean } = {}): void {
    for (const uti of this.#issuedAppTokens) this.#revokedAppTokens.add(uti);
    this.#claimsChallenge = options.claimsChallenge ?? false;
  }

  /**
   * Checks a Graph bearer token: issued here, for Graph, unexpired, not revoked. Returns its claims or why
   * it fails; for a revoked token with a claims challenge, also the `claims` to put in WWW-Authenticate.
   */
  async verifyGraphToken(token: string): Promise<{ claims: JWTPayload } | { failure: string; claimsChallenge?: string }> {
    try {
      const { payload } = await jwtVerify(token, this.#publicKey, { issuer: this.issuer, algorithms: ['RS256'] });
      if (payload.aud !== GRAPH_AUDIENCE) return { failure: 'Access token validation failure. Invalid audience.' };
      if (typeof payload.uti === 'string' && this.#revokedAppTokens.has(payload.uti)) {
        if (!this.#claimsChallenge) return { failure: 'Access token has been revoked.' };
        // The shape of a continuous access evaluation challenge: https://learn.microsoft.com/entra/identity-platform/claims-challenge
        const claims = JSON.stringify({ access_token: { nbf: { essential: true, value: String(Math.floor(Date.now() / 1000)) } } });
        return {
          failure: 'Continuous access evaluation resulted in challenge with result: InteractionRequired and code: TokenIssuedBeforeRevocationTimestamp',
          claimsChallenge: Buffer.from(claims).toString('base64'),
        };
      }
      return { claims: payload };
    } catch (error) {
      if ((error as { code?: string }).code === 'ERR_JWT_EXPIRED') return { failure: 'Lifetime validation failed, the token is expired.' };
      return { failure: 'Access token validation failure.' };
    }
  }

  #sign(claims: JWTPayload): Promise<string> {
    return new SignJWT(claims).setProtectedHeader({ alg: 'RS256', typ: 'JWT', kid: this.#jwk.kid! }).sign(this.#signingKey);
  }
}

function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

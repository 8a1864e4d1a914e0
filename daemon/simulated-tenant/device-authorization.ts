/**
 * The OAuth 2.0 device authorization grant (RFC 8628) as Entra serves it to public clients, such as the
 * PowerShell module's `Connect-AmsServer -UseDeviceCode`
 * (https://learn.microsoft.com/entra/identity-platform/v2-oauth2-device-code):
 *
 * - `POST /{tenant}/oauth2/v2.0/devicecode` (`client_id`, `scope`) answers `user_code`, `device_code`,
 *   `verification_uri`, `expires_in`, `interval` and Entra's `message`.
 * - `POST /{tenant}/oauth2/v2.0/token` with `grant_type=urn:ietf:params:oauth:grant-type:device_code`
 *   answers 400 `authorization_pending` until a user approves, `slow_down` when polled faster than the
 *   interval, `authorization_declined`, `expired_token`, `bad_verification_code` for a code it never
 *   issued, `invalid_grant` for one already redeemed; then 200 with the approving user's access token
 *   (plus a refresh token for `offline_access` and an ID token for `openid`). `grant_type=refresh_token`
 *   redeems those refresh tokens.
 * - `GET|POST /devicelogin` stands in for microsoft.com/devicelogin: a plain HTML form (no script) to enter
 *   the code, pick a directory user and approve or decline. No password is asked: this is a simulation.
 *
 * Tests approve and decline with `approve()`/`decline()`, or set `autoApproveAs` to have every code
 * approved on its first poll.
 */
import { randomBytes, randomInt } from 'node:crypto';
import { transitiveGroupIds, type SeededDirectory, type SeededUser } from './directory-data.js';
import { escapeHtml, html, json, oauthError, type Reply, type RouteRequest } from './http.js';
import { GRAPH_AUDIENCE, type Identity } from './identity.js';

export const DEVICE_CODE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code';
/** What `.default` grants on an API other than Graph: the scope an API conventionally exposes. */
export const DEFAULT_API_SCOPE = 'access_as_user';
const GRAPH_DEFAULT_SCOPE = 'User.Read';
const OIDC_SCOPES = ['openid', 'profile', 'email', 'offline_access'];
const TOKEN_LIFETIME_SECONDS = 3599;
/** Entra's user codes: 9 letters and digits; this alphabet leaves out the ones people misread (0/O, 1/I). */
const USER_CODE_ALPHABET = 'ABCDEFGHJKLMNPQRSTUVWXYZ23456789';
/** Expired and redeemed codes are remembered this long, to answer `expired_token`/`invalid_grant`. */
const RETAIN_MS = 15 * 60 * 1000;
const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const NO_STORE = { 'cache-control': 'no-store, no-cache', pragma: 'no-cache' };

export interface DeviceAuthorizationOptions {
  /**
   * Client ids that may use the flow (app registrations with "Allow public client flows"). Undefined
   * (the default): any GUID, so a demo works with whatever client id the daemon announces. A list, even
   * empty: only those and the ones registered later; any other GUID gets AADSTS700016, as in a real tenant.
   */
  publicClients?: string[];
  /** Approve every device code on its first poll, as this user (UPN or object id). */
  autoApproveAs?: string;
  /** How long a device code lives, in seconds (default 900, Entra's). Fractions allowed, for tests. */
  deviceCodeLifetimeSeconds?: number;
  /** Seconds a client must wait between polls of one code, else `slow_down` (default 5, Entra's). 0: no limit. */
  deviceCodeIntervalSeconds?: number;
  /** The clock codes expire and polls are timed by (tests move it instead of waiting). */
  clock?: () => number;
}

/** A scope parameter, split into the one resource it names, the scope names on it, and the OIDC scopes. */
interface RequestedScope {
  resource: string;
  names: string[];
  oidc: string[];
}

interface DeviceCode {
  userCode: string;
  deviceCode: string;
  clientId: string;
  scope: RequestedScope;
  expiresAt: number;
  lastPollAt?: number;
  state: 'pending' | 'approved' | 'declined' | 'redeemed';
  user?: SeededUser;
}

interface RefreshGrant {
  clientId: string;
  userId: string;
  scope: RequestedScope;
}

/** A user by object id or UPN (case-insensitive). */
export function findUser(directory: SeededDirectory, idOrUpn: string): SeededUser | undefined {
  const key = idOrUpn.trim().toLowerCase();
  return directory.users.find((u) => u.id.toLowerCase() === key || u.userPrincipalName.toLowerCase() === key);
}

/** Throws on options that could never work, so startSimulatedTenant can refuse them before it listens. */
export function checkDeviceAuthorizationOptions(directory: SeededDirectory, options: DeviceAuthorizationOptions): void {
  if (options.autoApproveAs !== undefined && !findUser(directory, options.autoApproveAs)) {
    throw new Error(`autoApproveAs: the simulated directory has no user '${options.autoApproveAs}' (give a UPN such as ${directory.users[0]?.userPrincipalName} or an object id)`);
  }
  for (const id of options.publicClients ?? []) if (!GUID.test(id)) throw new Error(`publicClients: '${id}' is not a GUID`);
  for (const [name, value] of [['deviceCodeLifetimeSeconds', options.deviceCodeLifetimeSeconds], ['deviceCodeIntervalSeconds', options.deviceCodeIntervalSeconds]] as const) {
    if (value !== undefined && !(Number.isFinite(value) && value >= 0)) throw new Error(`${name}: must be a number of seconds, not ${value}`);
  }
}

export class DeviceAuthorization {
  readonly #codes = new Map<string, DeviceCode>(); // by device_code
  readonly #byUserCode = new Map<string, DeviceCode>();
  readonly #refreshTokens = new Map<string, RefreshGrant>();
  readonly #publicClients: Set<string> | undefined;
  readonly #lifetimeMs: number;
  readonly #intervalMs: number;
  readonly #now: () => number;

  constructor(
    private readonly identity: Identity,
    private readonly directory: SeededDirectory,
    private readonly options: DeviceAuthorizationOptions = {},
  ) {
    this.#publicClients = options.publicClients && new Set(options.publicClients.map((id) => id.toLowerCase()));
    this.#lifetimeMs = (options.deviceCodeLifetimeSeconds ?? 900) * 1000;
    this.#intervalMs = (options.deviceCodeIntervalSeconds ?? 5) * 1000;
    this.#now = options.clock ?? Date.now;
  }

  get deviceCodeEndpoint(): string {
    return `${this.identity.host}/${this.identity.tenantId}/oauth2/v2.0/devicecode`;
  }

  get verificationUri(): string {
    return `${this.identity.host}/devicelogin`;
  }

  /** Allows a client id to use the flow (a no-op while any GUID is allowed). */
  registerPublicClient(clientId: string): void {
    if (!GUID.test(clientId)) throw new Error(`'${clientId}' is not a client id (a GUID)`);
    this.#publicClients?.add(clientId.toLowerCase());
  }

  /** Approves a pending code as a user (UPN or object id); throws if either is unknown or the code is not pending. */
  approve(userCode: string, idOrUpn: string): void {
    const entry = this.#pending(userCode);
    const user = this.#signInUser(idOrUpn);
    if (typeof entry === 'string') throw new Error(entry);
    if (typeof user === 'string') throw new Error(user);
    entry.state = 'approved';
    entry.user = user;
  }

  /** Declines a pending code; throws if it is unknown or not pending. */
  decline(userCode: string): void {
    const entry = this.#pending(userCode);
    if (typeof entry === 'string') throw new Error(entry);
    entry.state = 'declined';
  }

  /** The device code endpoint, the device code and refresh token grants, and the sign-in page; undefined for other routes. */
  async handle(req: RouteRequest): Promise<Reply | undefined> {
    if (req.url.pathname === '/devicelogin') return this.#page(req);
    const match = /^\/([^/]+)\/oauth2\/v2\.0\/(devicecode|token)$/.exec(req.url.pathname);
    if (!match) return undefined;
    const [, tenant, endpoint] = match;
    if (endpoint === 'token') {
      // Other grants, other tenants and other methods: Identity answers.
      if (tenant !== this.identity.tenantId || req.method !== 'POST') return undefined;
      const form = new URLSearchParams(req.body);
      const grantType = form.get('grant_type');
      if (grantType === DEVICE_CODE_GRANT) return this.#redeem(req, form);
      if (grantType === 'refresh_token') return this.#refresh(req, form);
      return undefined;
    }
    if (tenant !== this.identity.tenantId) {
      return oauthError(req, 400, 'invalid_request', 90002, `Tenant '${tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud.`);
    }
    if (req.method !== 'POST') return oauthError(req, 405, 'invalid_request', 900561, `The endpoint only accepts POST, OPTIONS requests. Received a ${req.method} request.`);
    return this.#issue(req, new URLSearchParams(req.body));
  }

  #issue(req: RouteRequest, form: URLSearchParams): Reply {
    const clientId = form.get('client_id');
    const refused = this.#checkClient(req, clientId);
    if (refused) return refused;
    const scopeParameter = form.get('scope');
    if (!scopeParameter?.trim()) return oauthError(req, 400, 'invalid_request', 900144, "The request body must contain the following parameter: 'scope'.");
    const scope = parseScope(scopeParameter);
    if ('code' in scope) return oauthError(req, 400, 'invalid_scope', scope.code, scope.message);

    this.#prune();
    let userCode: string;
    do userCode = Array.from({ length: 9 }, () => USER_CODE_ALPHABET[randomInt(USER_CODE_ALPHABET.length)]).join('');
    while (this.#byUserCode.has(userCode));
    const entry: DeviceCode = { userCode, deviceCode: randomBytes(96).toString('base64url'), clientId: clientId!, scope, expiresAt: this.#now() + this.#lifetimeMs, state: 'pending' };
    this.#codes.set(entry.deviceCode, entry);
    this.#byUserCode.set(userCode, entry);
    return json(
      200,
      {
        user_code: userCode,
        device_code: entry.deviceCode,
        verification_uri: this.verificationUri,
        // Whole seconds on the wire, as Entra's; at least 1, so a client never busy-polls.
        expires_in: Math.max(1, Math.ceil(this.#lifetimeMs / 1000)),
        interval: Math.max(1, Math.ceil(this.#intervalMs / 1000)),
        message: `To sign in, use a web browser to open the page ${this.verificationUri} and enter the code ${userCode} to authenticate.`,
      },
      NO_STORE,
    );
  }

  async #redeem(req: RouteRequest, form: URLSearchParams): Promise<Reply> {
    const clientId = form.get('client_id');
    const refused = this.#checkClient(req, clientId);
    if (refused) return refused;
    const deviceCode = form.get('device_code');
    if (!deviceCode) return oauthError(req, 400, 'invalid_request', 900144, "The request body must contain the following parameter: 'device_code'.");
    const entry = this.#codes.get(deviceCode);
    if (!entry) return oauthError(req, 400, 'bad_verification_code', 70000, "The provided value for the input parameter 'device_code' is not valid.", NO_STORE);
    if (entry.clientId.toLowerCase() !== clientId!.toLowerCase()) {
      return oauthError(req, 400, 'invalid_grant', 70000, `The provided value for the input parameter 'device_code' is not valid. It was issued to another client than '${clientId}'.`, NO_STORE);
    }
    if (entry.state === 'redeemed') {
      return oauthError(req, 400, 'invalid_grant', 70000, "The provided value for the input parameter 'device_code' is not valid. It has already been redeemed.", NO_STORE);
    }
    const now = this.#now();
    if (now >= entry.expiresAt) return oauthError(req, 400, 'expired_token', 70020, "The provided value for the input parameter 'device_code' is not valid. This device code has expired.", NO_STORE);
    if (entry.state === 'declined') return oauthError(req, 400, 'authorization_declined', 65004, 'User declined to consent to access the app.', NO_STORE);

    if (entry.state === 'pending' && this.options.autoApproveAs !== undefined) {
      entry.state = 'approved';
      entry.user = findUser(this.directory, this.options.autoApproveAs);
    }
    if (entry.state === 'pending') {
      const tooSoon = entry.lastPollAt !== undefined && now - entry.lastPollAt < this.#intervalMs;
      entry.lastPollAt = now;
      // RFC 8628 §3.5; Entra does not document slow_down, but a client must handle it.
      if (tooSoon) return oauthError(req, 400, 'slow_down', 70016, `OAuth 2.0 device flow error. Polled again sooner than the interval of ${this.#intervalMs / 1000} s: wait longer between polls.`, NO_STORE);
      return oauthError(req, 400, 'authorization_pending', 70016, 'OAuth 2.0 device flow error. Authorization is pending. Continue polling.', NO_STORE);
    }
    entry.state = 'redeemed';
    return this.#tokens(entry.clientId, entry.user!, entry.scope);
  }

  async #refresh(req: RouteRequest, form: URLSearchParams): Promise<Reply> {
    const clientId = form.get('client_id');
    const refused = this.#checkClient(req, clientId);
    if (refused) return refused;
    const token = form.get('refresh_token');
    if (!token) return oauthError(req, 400, 'invalid_request', 900144, "The request body must contain the following parameter: 'refresh_token'.");
    const grant = this.#refreshTokens.get(token);
    if (!grant) return oauthError(req, 400, 'invalid_grant', 9002313, 'Invalid request. Request is malformed or invalid.', NO_STORE);
    if (grant.clientId.toLowerCase() !== clientId!.toLowerCase()) {
      return oauthError(req, 400, 'invalid_grant', 700005, `The refresh token was issued to another client than '${clientId}'.`, NO_STORE);
    }
    const user = this.directory.users.find((u) => u.id === grant.userId);
    if (!user?.accountEnabled) return oauthError(req, 400, 'invalid_grant', 50057, 'The user account is disabled.', NO_STORE);
    // Entra's refresh tokens are multi-resource: another scope (another resource) may be asked for.
    let scope = grant.scope;
    const scopeParameter = form.get('scope');
    if (scopeParameter?.trim()) {
      const parsed = parseScope(scopeParameter);
      if ('code' in parsed) return oauthError(req, 400, 'invalid_scope', parsed.code, parsed.message);
      scope = { ...parsed, oidc: [...new Set([...parsed.oidc, 'offline_access'])] };
    }
    return this.#tokens(grant.clientId, user, scope);
  }

  /** The token response for a signed-in user, made with issueUserToken as for any other user token. */
  async #tokens(clientId: string, user: SeededUser, scope: RequestedScope): Promise<Reply> {
    const graph = scope.resource === GRAPH_AUDIENCE;
    const names = scope.names.flatMap((n) => (n === '.default' ? [graph ? GRAPH_DEFAULT_SCOPE : DEFAULT_API_SCOPE] : [n]));
    const granted = [...new Set(names)];
    const accessToken = await this.identity.issueUserToken({
      oid: user.id,
      audience: scope.resource,
      groups: this.#securityGroups(user),
      name: user.displayName,
      preferredUsername: user.userPrincipalName,
      scp: granted.join(' '),
      expiresInSeconds: TOKEN_LIFETIME_SECONDS,
      claims: { azp: clientId, azpacr: '0' }, // a public client: no credential
    });
    const body: Record<string, unknown> = {
      token_type: 'Bearer',
      // Graph's scopes are listed bare, other resources' with their identifier; then the OIDC scopes asked for.
      scope: [...granted.map((n) => (graph ? n : `${scope.resource}/${n}`)), ...scope.oidc].join(' '),
      expires_in: TOKEN_LIFETIME_SECONDS,
      ext_expires_in: TOKEN_LIFETIME_SECONDS,
      access_token: accessToken,
    };
    if (scope.oidc.includes('offline_access')) {
      const refreshToken = randomBytes(96).toString('base64url');
      this.#refreshTokens.set(refreshToken, { clientId, userId: user.id, scope });
      body.refresh_token = refreshToken;
    }
    if (scope.oidc.includes('openid')) {
      body.id_token = await this.identity.issueUserToken({
        oid: user.id,
        audience: clientId,
        name: user.displayName,
        preferredUsername: user.userPrincipalName,
        expiresInSeconds: TOKEN_LIFETIME_SECONDS,
        claims: { azp: undefined },
      });
    }
    return json(200, body, NO_STORE);
  }

  /** The groups claim as an app registration's default `groupMembershipClaims: SecurityGroup` makes it: transitive, security groups only. */
  #securityGroups(user: SeededUser): string[] {
    const ids = transitiveGroupIds(this.directory, user.id);
    return this.directory.groups.filter((g) => g.securityEnabled && ids.has(g.id)).map((g) => g.id);
  }

  #checkClient(req: RouteRequest, clientId: string | null): Reply | undefined {
    if (!clientId) return oauthError(req, 400, 'invalid_request', 900144, "The request body must contain the following parameter: 'client_id'.");
    if (!GUID.test(clientId)) return oauthError(req, 400, 'unauthorized_client', 700038, `${clientId} is not a valid application identifier.`);
    if (this.#publicClients && !this.#publicClients.has(clientId.toLowerCase())) {
      return oauthError(req, 400, 'unauthorized_client', 700016, `Application with identifier '${clientId}' was not found in the directory '${this.identity.tenantId}'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant.`);
    }
    return undefined;
  }

  /** The pending code a user code names, or why there is none (a sentence for the page or an Error). */
  #pending(userCode: string): DeviceCode | string {
    const entry = this.#byUserCode.get(normalizeUserCode(userCode));
    if (!entry) return `No device code has the user code '${userCode}'. Check the code and try again.`;
    if (this.#now() >= entry.expiresAt) return `The code '${entry.userCode}' has expired. Start the sign-in on your device again to get a new one.`;
    if (entry.state !== 'pending') return `AADSTS90120: The request was already authorized or declined (code '${entry.userCode}' is ${entry.state}).`;
    return entry;
  }

  #signInUser(idOrUpn: string): SeededUser | string {
    const user = findUser(this.directory, idOrUpn);
    if (!user) return `The simulated directory has no user '${idOrUpn}'.`;
    if (!user.accountEnabled) return `AADSTS50057: The user account ${user.userPrincipalName} is disabled.`;
    return user;
  }

  #prune(): void {
    const cutoff = this.#now() - RETAIN_MS;
    for (const [deviceCode, entry] of this.#codes) {
      if (entry.expiresAt < cutoff) {
        this.#codes.delete(deviceCode);
        this.#byUserCode.delete(entry.userCode);
      }
    }
  }

  /** The sign-in page: GET shows the form (`?code=` fills it in), POST approves or declines. */
  #page(req: RouteRequest): Reply {
    if (req.method === 'GET' || req.method === 'HEAD') return html(200, this.#form({ code: req.url.searchParams.get('code') ?? '' }));
    if (req.method !== 'POST') return html(405, this.#layout('Method not allowed', '<p>Use GET or POST.</p>'), { allow: 'GET, POST' });
    const form = new URLSearchParams(req.body);
    const code = form.get('user_code') ?? '';
    const who = form.get('user') ?? '';
    const action = form.get('action');
    const again = (error: string) => html(400, this.#form({ code, who, error }));
    if (!code.trim()) return again('AADSTS90119: The user code is null or empty. Enter the code your device shows.');
    if (action !== 'approve' && action !== 'decline') return again('Choose Approve or Decline.');
    const entry = this.#pending(code);
    if (typeof entry === 'string') return again(entry);
    if (action === 'decline') {
      entry.state = 'declined';
      return html(200, this.#layout('Sign-in declined', `<p>You declined the sign-in of application <code>${escapeHtml(entry.clientId)}</code> with code <code>${escapeHtml(entry.userCode)}</code>. The device will not be signed in. You can close this window.</p>`));
    }
    const user = this.#signInUser(who);
    if (typeof user === 'string') return again(user);
    entry.state = 'approved';
    entry.user = user;
    return html(
      200,
      this.#layout(
        'Signed in',
        `<p>You have signed in as <strong>${escapeHtml(user.userPrincipalName)}</strong> (${escapeHtml(user.displayName)}) to application <code>${escapeHtml(entry.clientId)}</code> on your device, for <code>${escapeHtml(describeScope(entry.scope))}</code>. You can close this window.</p>`,
      ),
    );
  }

  #form({ code, who = '', error }: { code: string; who?: string; error?: string }): string {
    const selected = findUser(this.directory, who) ?? (this.options.autoApproveAs === undefined ? undefined : findUser(this.directory, this.options.autoApproveAs));
    const options = this.directory.users
      .filter((u) => u.accountEnabled)
      .map((u) => `<option value="${escapeHtml(u.userPrincipalName)}"${u === selected ? ' selected' : ''}>${escapeHtml(u.userPrincipalName)} (${escapeHtml(u.displayName)})</option>`)
      .join('\n');
    return this.#layout(
      'Enter code',
      `${error === undefined ? '' : `<p class="error" role="alert">${escapeHtml(error)}</p>\n`}<p>Enter the code displayed on your app or device, choose who signs in, and approve.</p>
<form method="post" action="/devicelogin">
<label for="user_code">Code</label>
<input id="user_code" name="user_code" value="${escapeHtml(code)}" autocomplete="off" autocapitalize="characters" spellcheck="false" required autofocus>
<label for="user">Sign in as</label>
<select id="user" name="user">
${options}
</select>
<button type="submit" name="action" value="approve">Approve</button>
<button type="submit" name="action" value="decline">Decline</button>
</form>`,
    );
  }

  #layout(title: string, body: string): string {
    return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)} - amsd simulated tenant</title>
<style>
body { font-family: system-ui, sans-serif; max-width: 34rem; margin: 3rem auto; padding: 0 1rem; color: #1b1b1b; }
label { display: block; margin: 1rem 0 .3rem; font-weight: 600; }
input, select { font: inherit; width: 100%; padding: .4rem; box-sizing: border-box; }
button { font: inherit; margin: 1.2rem .6rem 0 0; padding: .4rem 1.4rem; }
.error { color: #a4262c; }
.note { color: #605e5c; font-size: .9em; }
</style>
</head>
<body>
<p class="note">Simulated Entra ID tenant ${escapeHtml(this.identity.tenantId)}, for tests and demos: no password is asked.</p>
<h1>${escapeHtml(title)}</h1>
${body}
</body>
</html>
`;
  }
}

/** Users type codes in any case, sometimes with spaces or dashes. */
function normalizeUserCode(code: string): string {
  return code.toUpperCase().replace(/[\s-]/g, '');
}

/**
 * Splits a scope parameter. Resource scopes are `<resource>/<name>` (`api://amsd-demo/.default`,
 * `<app id GUID>/.default`, `https://graph.microsoft.com/User.Read`) or a bare name, which Entra reads as
 * Graph's. They must all be on one resource (AADSTS700022). With OIDC scopes only, the token is Graph's.
 */
function parseScope(parameter: string): RequestedScope | { code: number; message: string } {
  const all = parameter.split(/\s+/).filter(Boolean);
  const oidc = all.filter((s) => OIDC_SCOPES.includes(s.toLowerCase())).map((s) => s.toLowerCase());
  const resources = new Map<string, string[]>();
  for (const s of all.filter((s) => !OIDC_SCOPES.includes(s.toLowerCase()))) {
    const slash = s.lastIndexOf('/');
    const [resource, name] = slash < 0 ? [GRAPH_AUDIENCE, s] : [s.slice(0, slash), s.slice(slash + 1)];
    if (!resource || !name) return { code: 70011, message: `The provided value for the input parameter 'scope' is not valid. The scope ${s} is not valid.` };
    resources.set(resource, [...(resources.get(resource) ?? []), name]);
  }
  if (resources.size > 1) {
    return { code: 700022, message: `The provided value for the input parameter scope is not valid because it contains more than one resource. Scope ${parameter} is not valid.` };
  }
  const [entry] = resources;
  return entry ? { resource: entry[0], names: entry[1], oidc } : { resource: GRAPH_AUDIENCE, names: [GRAPH_DEFAULT_SCOPE], oidc };
}

function describeScope(scope: RequestedScope): string {
  return [...scope.names.map((n) => `${scope.resource}/${n}`), ...scope.oidc].join(' ');
}

/**
 * App-only tokens for Graph, one MSAL ConfidentialClientApplication per tenant so that its token
 * cache lives as long as the tenant's configuration. For an identity provider that is not a Microsoft
 * host (a private cloud, the simulated tenant), the daemon reads its OpenID configuration itself and
 * hands MSAL the metadata, so MSAL does no instance discovery against the internet.
 */
import { randomUUID } from 'node:crypto';
import type { ConfidentialClientApplication, Configuration } from '@azure/msal-node';
import { request, type Dispatcher } from 'undici';
import { effectiveDeadline, type Deadline } from './deadline.js';
import { GraphError, isTimeout, type TokenRequestOptions } from './graph-client.js';
import type { NetworkRetryOptions } from './msal-network.js';

type Msal = typeof import('@azure/msal-node') & Pick<typeof import('./msal-network.js'), 'TokenRequestFailed' | 'UndiciNetworkClient'>;
/** MSAL and our network client for it, loaded with the first token request: megabytes a daemon that has not called Graph yet does without. */
let msalLoading: Promise<Msal> | undefined;
let msalLoaded: Msal | undefined;
function loadMsal(): Promise<Msal> {
  msalLoading ??= Promise.all([import('@azure/msal-node'), import('./msal-network.js')]).then(([msal, network]) => {
    msalLoaded = { ...msal, TokenRequestFailed: network.TokenRequestFailed, UndiciNetworkClient: network.UndiciNetworkClient };
    return msalLoaded;
  });
  return msalLoading;
}

export type TenantCredential =
  | { type: 'secret'; clientSecret: string }
  | { type: 'certificate'; privateKeyPem: string; thumbprintSha256: string; certificatePem?: string };

export interface TokenProviderOptions {
  tenantId: string;
  clientId: string;
  credential: TenantCredential;
  /** e.g. `https://login.microsoftonline.com` */
  authorityHost: string;
  /**
   * Graph's resource id in the tenant's cloud, e.g. `https://graph.microsoft.com`; the scope is
   * `<graphResource>/.default`. It stays the cloud's even when Graph is reached at another endpoint.
   */
  graphResource: string;
  dispatcher: Dispatcher;
  /** How token requests are retried (tests: short waits). */
  retry?: NetworkRetryOptions;
  /** The clock the held token's expiry is judged by (tests: a fake one). */
  now?: () => number;
}

/** A held token is replaced this long before it expires (or half its lifetime, for short-lived ones)... */
const REFRESH_AHEAD_MS = 5 * 60_000;
/** ...and no longer handed out this close to its expiry: it could expire on its way to Graph. */
const EXPIRY_MARGIN_MS = 30_000;

/** Hosts whose metadata MSAL knows by itself. */
const MICROSOFT_AUTHORITY_HOSTS = new Set(['login.microsoftonline.com', 'login.microsoftonline.us', 'login.chinacloudapi.cn', 'login.microsoft.com']);

export interface TokenProvider {
  /**
   * A valid access token for Graph: the one held while it lasts (renewed in the background shortly
   * before it expires), or a new one when `forceRefresh` (Graph rejected the held one) or `claims` (a
   * claims challenge) is given. Every failure is a GraphError whose message names the identity
   * provider's host and the cause.
   */
  getToken(options?: TokenRequestOptions): Promise<string>;
}

export function createTokenProvider(options: TokenProviderOptions): TokenProvider {
  const authorityHost = options.authorityHost.replace(/\/+$/, '');
  const authority = `${authorityHost}/${options.tenantId}`;
  const scope = `${options.graphResource.replace(/\/+$/, '')}/.default`;
  let client: Promise<ConfidentialClientApplication> | undefined;

  /**
   * The budgets of the token requests under way, by the correlation id MSAL passes to the network
   * module with each of its requests; the latest for a request that carries none (its discovery GET).
   */
  const budgets = new Map<string, Deadline | undefined>();
  const budgetOf = (correlationId: string | undefined): Deadline | undefined =>
    correlationId !== undefined && budgets.has(correlationId) ? budgets.get(correlationId) : [...budgets.values()].at(-1);

  const build = async (deadline: Deadline | undefined) => {
    const { ConfidentialClientApplication, UndiciNetworkClient } = await loadMsal();
    const host = new URL(authorityHost).host;
    const custom = !MICROSOFT_AUTHORITY_HOSTS.has(host);
    const configuration: Configuration = {
      auth: {
        clientId: options.clientId,
        authority,
        ...(options.credential.type === 'secret'
          ? { clientSecret: options.credential.clientSecret }
          : {
              clientCertificate: {
                thumbprintSha256: options.credential.thumbprintSha256,
                privateKey: options.credential.privateKeyPem,
                ...(options.credential.certificatePem ? { x5c: options.credential.certificatePem } : {}),
              },
            }),
        ...(custom
          ? { knownAuthorities: [host], authorityMetadata: JSON.stringify(await readOpenIdConfiguration(authority, options.dispatcher, deadline)) }
          : {}),
      },
      system: { networkClient: new UndiciNetworkClient(options.dispatcher, options.retry, budgetOf) },
    };
    return new ConfidentialClientApplication(configuration);
  };

  const host = new URL(authorityHost).host;
  const now = options.now ?? Date.now;
  /** After the token endpoint throttled us: no request before this time (as MSAL itself would), the same answer instead. */
  let throttled: { until: number; failure: GraphError } | undefined;
  /**
   * The token, held here rather than asked of MSAL per Graph call: MSAL's cache lookup costs ~140 µs
   * (a noticeable share of a read's CPU), a held string nothing.
   */
  let held: { token: string; refreshAt: number; usableUntil: number } | undefined;

  async function acquire(request: TokenRequestOptions): Promise<string> {
    if (throttled && now() < throttled.until) {
      const { failure } = throttled;
      throw new GraphError('throttled', failure.message, { ...failure.details, retryAfterSeconds: Math.max(1, Math.ceil((throttled.until - now()) / 1000)) });
    }
    const correlationId = randomUUID();
    budgets.set(correlationId, request.deadline);
    try {
      client ??= build(request.deadline).catch((error: unknown) => {
        client = undefined; // a failed discovery is retried on the next call
        throw error;
      });
      const result = await (await client).acquireTokenByClientCredential({
        scopes: [scope],
        correlationId,
        ...(request.forceRefresh ? { skipCache: true } : {}),
        ...(request.claims ? { claims: request.claims } : {}),
      });
      if (!result?.accessToken) throw new GraphError('failed', `Entra ID (${host}) returned no access token for tenant ${options.tenantId}.`, { clientRequestId: '' });
      hold(result.accessToken, result.expiresOn, result.refreshOn);
      return result.accessToken;
    } catch (error) {
      const failure = tokenFailure(error, host);
      if (failure.kind === 'throttled' && failure.details.retryAfterSeconds) throttled = { until: now() + failure.details.retryAfterSeconds * 1000, failure };
      throw failure;
    } finally {
      budgets.delete(correlationId);
    }
  }

  /** Keeps a new token until shortly before its expiry (or Entra's `refresh_in`, if it said one). A token without an expiry is not kept. */
  function hold(token: string, expiresOn: Date | null, refreshOn: Date | undefined) {
    if (!expiresOn) {
      held = undefined;
      return;
    }
    const issuedAt = now();
    const expiresAt = expiresOn.getTime();
    const lifetime = Math.max(0, expiresAt - issuedAt);
    const usableUntil = expiresAt - Math.min(EXPIRY_MARGIN_MS, lifetime / 10);
    const refreshAt = Math.min(expiresAt - Math.min(REFRESH_AHEAD_MS, lifetime / 2), refreshOn?.getTime() ?? Infinity);
    held = { token, refreshAt, usableUntil };
  }

  /**
   * The one token request in flight for everyone who needs a new token: when Graph revokes a token,
   * every read in progress meets the 401 at once, and one new token serves them all.
   */
  let refreshing: Promise<string> | undefined;
  const refresh = (request: TokenRequestOptions): Promise<string> => {
    refreshing ??= acquire(request).finally(() => {
      refreshing = undefined;
    });
    return refreshing;
  };

  return {
    getToken(request: TokenRequestOptions = {}) {
      // A claims challenge is answered by its own request: the new token must carry those claims.
      if (request.claims) {
        held = undefined;
        return acquire(request);
      }
      const deadline = request.deadline ? { deadline: request.deadline } : {};
      if (request.forceRefresh) {
        held = undefined; // Graph rejected it: nobody gets it again
        return refresh({ forceRefresh: true, ...deadline });
      }
      const at = now();
      if (held && at < held.usableUntil) {
        // Renewed ahead of its expiry while it still serves; a failed renewal is tried again by the next caller.
        if (at >= held.refreshAt) refresh({ forceRefresh: true, ...deadline }).catch(() => {});
        return Promise.resolve(held.token);
      }
      // Past MSAL's cache when a held token ran out: MSAL judges expiry by its own clock and margin.
      return refresh({ ...(held ? { forceRefresh: true } : {}), ...deadline });
    },
  };
}

/** Any failure to get a token, as a GraphError that names the host and the cause (never `[object Object]`). */
function tokenFailure(error: unknown, host: string): GraphError {
  if (error instanceof GraphError) return error;
  // MSAL's errors can only come once MSAL is loaded.
  if (msalLoaded && error instanceof msalLoaded.TokenRequestFailed) return error.failure;
  if (msalLoaded && error instanceof msalLoaded.AuthError) {
    // A final answer of the token endpoint that MSAL turned into an error: a wrong secret, an unknown app, ...
    const code = typeof error.errorCode === 'string' && error.errorCode && error.errorCode !== '[object Object]' ? error.errorCode : undefined;
    // MSAL's message is `Error(s): ... - Timestamp: ... - Description: AADSTSnnnn: ... - Correlation ID: ...`; Entra's words are the description.
    const description = /Description: (.*?)(?: - Correlation ID:|$)/s.exec(error.errorMessage)?.[1] || error.errorMessage || error.message;
    return new GraphError('failed', `Entra ID (${host}) refused the app's token request${code ? ` (${code})` : ''}: ${description}`, {
      clientRequestId: error.correlationId ?? '',
      ...(code ? { code } : {}),
    });
  }
  return new GraphError('failed', `No token could be obtained from Entra ID (${host}): ${(error as Error)?.message ?? String(error)}`, { clientRequestId: '' });
}

export async function readOpenIdConfiguration(authority: string, dispatcher: Dispatcher, deadline?: Deadline): Promise<Record<string, unknown>> {
  const url = `${authority}/v2.0/.well-known/openid-configuration`;
  const { at } = effectiveDeadline(10_000, deadline);
  try {
    const response = await request(url, { dispatcher, signal: AbortSignal.timeout(Math.max(1, at - Date.now())) });
    if (response.statusCode !== 200) {
      await response.body.dump();
      throw new GraphError('failed', `The identity provider's OpenID configuration at ${url} answered ${response.statusCode}.`, { status: response.statusCode, clientRequestId: '' });
    }
    return (await response.body.json()) as Record<string, unknown>;
  } catch (error) {
    if (error instanceof GraphError) throw error;
    if (isTimeout(error)) throw new GraphError('timeout', `The identity provider's OpenID configuration at ${url} did not answer in time.`, { clientRequestId: '' });
    throw new GraphError('failed', `The identity provider's OpenID configuration at ${url} could not be read: ${(error as Error).message}`, { clientRequestId: '' });
  }
}

/**
 * Calls to Microsoft Graph as a production service makes them: a fresh `client-request-id` per call,
 * Graph's `request-id` kept for the error report, 429/503/504 retried while honouring `Retry-After`
 * (seconds, fractional, or an HTTP date) and otherwise backing off exponentially with jitter, a bounded
 * number of attempts, and one overall deadline per call that no wait may outlast (nor the budget of
 * the request it serves, see deadline.ts). A broken connection is retried for calls that only read; a
 * token Graph rejects (401 InvalidAuthenticationToken) is replaced once by a fresh one.
 */
import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import { errors as undiciErrors, request, type Dispatcher } from 'undici';
import { GraphError } from '../common/errors.js';
import { effectiveDeadline, formatSeconds, type Deadline } from './deadline.js';

// The error lives in the errors leaf, so that whoever maps it (http/) need not import the client.
export { GraphError, type GraphErrorKind } from '../common/errors.js';

export interface TokenRequestOptions {
  /** Do not use the cached token: Graph rejected it. */
  forceRefresh?: boolean;
  /** The claims of a claims challenge (decoded JSON), to be passed to the token request. */
  claims?: string;
  /** The budget of the request the token is for: a token request bounded by it too. */
  deadline?: Deadline;
}

export interface GraphClientOptions {
  /** Graph's root, e.g. `https://graph.microsoft.com` (no version segment). */
  endpoint: string;
  dispatcher: Dispatcher;
  /** Returns a bearer token for Graph (MSAL serves it from its cache unless told to refresh). */
  getToken: (options?: TokenRequestOptions) => Promise<string>;
  logger?: Logger;
  /** Overall time for one call, retries included. */
  deadlineMs?: number;
  maxAttempts?: number;
  /** First backoff step when Graph gives no Retry-After. */
  backoffBaseMs?: number;
  backoffMaxMs?: number;
  clientName?: string;
  clientVersion?: string;
}

export interface GraphRequestOptions {
  method?: 'GET' | 'POST';
  body?: unknown;
  headers?: Record<string, string>;
  /** The application permission this call needs, named in the error when Graph answers 403. */
  permission?: string;
  /**
   * The call only reads, so a broken connection may be retried. Default: true for GET; the POST actions
   * checkMemberGroups and getMemberGroups read too and say so.
   */
  idempotent?: boolean;
  /** The budget of the request this call serves (deadline.ts); the call's own `deadlineMs` applies too. */
  deadline?: Deadline;
  /**
   * At most this many attempts for this call (default: the client's `maxAttempts`). A caller with its own
   * retry schedule (a persistent job) passes 1, so that a 429 reaches it at once with its Retry-After
   * instead of being waited out inside the call.
   */
  maxAttempts?: number;
}

interface GraphErrorBody {
  error?: { code?: string; message?: string; innerError?: { 'request-id'?: string; requestId?: string } };
}

/**
 * A call's abort signal once its time is up. undici takes an EventEmitter with `aborted` and `reason`
 * as a signal as well as an AbortSignal (lib/api/abort-signal.js), and on Node 20 an AbortController
 * with its listener costs ~9 µs to make and drop (an EventTarget), an emitter well under 1 µs: a read
 * makes one per Graph call.
 */
class CallTimeout extends EventEmitter {
  aborted = false;
  reason: DOMException | undefined;
  readonly #timer: NodeJS.Timeout;

  constructor(ms: number) {
    super();
    this.#timer = setTimeout(() => {
      this.aborted = true;
      this.reason = new DOMException('The call ran out of time', 'TimeoutError');
      this.emit('abort');
    }, ms);
  }

  clear(): void {
    clearTimeout(this.#timer);
  }
}

const RETRYABLE = new Set([429, 503, 504]);
/** A broken connection is retried at most this many times per call (throttling has its own bound). */
const MAX_TRANSPORT_RETRIES = 2;

export class GraphClient {
  readonly #options: Required<Omit<GraphClientOptions, 'logger'>> & { logger?: Logger };
  readonly #userAgent: string;
  #bearer: { token: string; header: string } | undefined;

  constructor(options: GraphClientOptions) {
    this.#options = {
      deadlineMs: 20_000,
      maxAttempts: 6,
      backoffBaseMs: 500,
      backoffMaxMs: 8_000,
      clientName: 'amsd',
      clientVersion: '0',
      ...options,
      endpoint: options.endpoint.replace(/\/+$/, ''),
    };
    this.#userAgent = `${this.#options.clientName}/${this.#options.clientVersion}`;
  }

  /** One call; `path` is relative to the endpoint (`/v1.0/devices?...`) or a whole `@odata.nextLink`. */
  async call<T>(path: string, options: GraphRequestOptions = {}): Promise<T> {
    const limit = effectiveDeadline(this.#options.deadlineMs, options.deadline);
    // One timer for the call, cleared when it ends: AbortSignal.timeout per attempt left each timer
    // pending until it fired (20 s), tens of thousands of them under load.
    const timeout = new CallTimeout(Math.max(1, limit.at - Date.now()));
    try {
      return await this.#call<T>(path, options, limit, timeout);
    } finally {
      timeout.clear();
    }
  }

  async #call<T>(path: string, options: GraphRequestOptions, limit: { at: number; deadline?: Deadline }, signal: CallTimeout): Promise<T> {
    const { logger } = this.#options;
    const maxAttempts = options.maxAttempts ?? this.#options.maxAttempts;
    const url = /^https?:\/\//.test(path) ? path : this.#options.endpoint + path;
    const clientRequestId = randomUUID();
    const { at: deadline, deadline: budget } = limit;
    const idempotent = options.idempotent ?? (options.method ?? 'GET') === 'GET';
    let transportRetries = 0;
    // A broken connection that a retry then ran into the deadline with: the break is the cause to report
    // (502), not the clock (504), as with the token endpoint.
    let broken: string | undefined;
    /** After Graph rejected the token: how to get the next one (a fresh one). At most once per call. */
    let refresh: TokenRequestOptions | undefined;
    let refreshed = false;
    for (let attempt = 1; ; attempt++) {
      if (deadline - Date.now() <= 0) throw this.#timeout(url, clientRequestId, budget, broken);
      const token = await this.#token(refresh, clientRequestId, options.deadline);
      refresh = undefined;
      let response: Dispatcher.ResponseData;
      try {
        response = await request(url, {
          dispatcher: this.#options.dispatcher,
          method: options.method ?? 'GET',
          headers: {
            authorization: this.#authorization(token),
            accept: 'application/json',
            'user-agent': this.#userAgent,
            'ocp-client-name': this.#options.clientName,
            'ocp-client-version': this.#options.clientVersion,
            'client-request-id': clientRequestId,
            ...(options.body === undefined ? {} : { 'content-type': 'application/json' }),
            ...options.headers,
          },
          ...(options.body === undefined ? {} : { body: JSON.stringify(options.body) }),
          signal,
        });
      } catch (error) {
        if (isTimeout(error)) throw this.#timeout(url, clientRequestId, budget, broken);
        broken = (error as Error).message;
        if (idempotent && (await this.#mayRetryTransport(++transportRetries, deadline))) continue;
        throw new GraphError('failed', `Microsoft Graph (${hostOf(url)}) could not be reached: ${(error as Error).message}`, { clientRequestId });
      }
      broken = undefined;

      const requestId = header(response, 'request-id');
      // Checked first: the line's object would otherwise be built on every call, to be dropped below debug.
      if (logger?.isLevelEnabled('debug')) logger.debug({ graph: { url: stripQuery(url), status: response.statusCode, requestId, clientRequestId, attempt } }, 'graph call');
      if (response.statusCode >= 200 && response.statusCode < 300) {
        let text: string;
        try {
          text = await response.body.text();
        } catch (error) {
          if (isTimeout(error)) throw this.#timeout(url, clientRequestId, budget, broken);
          broken = (error as Error).message;
          if (idempotent && (await this.#mayRetryTransport(++transportRetries, deadline))) continue;
          throw new GraphError('failed', `Microsoft Graph's answer broke off: ${(error as Error).message}`, { clientRequestId });
        }
        if (text === '') return undefined as T;
        try {
          return JSON.parse(text) as T;
        } catch {
          throw new GraphError('failed', `Microsoft Graph answered ${response.statusCode} with a body that is not JSON (request-id ${requestId ?? 'none'}).`, {
            status: response.statusCode,
            clientRequestId,
            ...(requestId ? { requestId } : {}),
          });
        }
      }

      const errorBody = await readErrorBody(response);
      const graphRequestId = requestId ?? errorBody.error?.innerError?.['request-id'] ?? errorBody.error?.innerError?.requestId;
      const base = {
        status: response.statusCode,
        clientRequestId,
        ...(errorBody.error?.code ? { code: errorBody.error.code } : {}),
        ...(graphRequestId ? { requestId: graphRequestId } : {}),
      };

      // A token can be rejected before it expires: revoked, or a continuous access evaluation event.
      // The client is to drop it and get a new one (with the challenge's claims, if any), then retry:
      // https://learn.microsoft.com/entra/identity-platform/claims-challenge
      // https://learn.microsoft.com/entra/identity-platform/app-resilience-continuous-access-evaluation
      // Once per call: a fresh token that is rejected too is an error, not a loop.
      if (response.statusCode === 401 && errorBody.error?.code === 'InvalidAuthenticationToken' && !refreshed) {
        const claims = claimsChallenge(header(response, 'www-authenticate'));
        logger?.info({ graph: { url: stripQuery(url), requestId: graphRequestId, clientRequestId, claimsChallenge: claims !== undefined } }, 'Graph rejected the app token; getting a new one');
        refresh = { forceRefresh: true, ...(claims ? { claims } : {}) };
        refreshed = true;
        continue;
      }

      if (RETRYABLE.has(response.statusCode)) {
        const retryAfterMs = parseRetryAfter(header(response, 'retry-after'));
        const waitMs = retryAfterMs ?? this.#backoff(attempt);
        const outlastsDeadline = Date.now() + waitMs >= deadline;
        if (attempt >= maxAttempts || outlastsDeadline) {
          const within = budget ? `within ${budget.what} of ${formatSeconds(budget.budgetMs)}` : `within ${Math.round(this.#options.deadlineMs / 1000)} s`;
          throw new GraphError(
            'throttled',
            `Microsoft Graph is throttling or unavailable (${response.statusCode}) and did not recover ${within} over ${attempt} attempt(s).`,
            { ...base, retryAfterSeconds: Math.max(1, Math.ceil((retryAfterMs ?? waitMs) / 1000)) },
          );
        }
        await sleep(waitMs);
        continue;
      }
      const what = errorBody.error?.message ? `: ${readableMessage(errorBody.error.message)}` : '';
      if (response.statusCode === 403) {
        throw new GraphError(
          'forbidden',
          `Microsoft Graph refused the call (403${what})${options.permission ? `; the app registration needs the application permission ${options.permission}, admin-consented` : ''}.`,
          { ...base, ...(options.permission ? { permission: options.permission } : {}) },
        );
      }
      if (response.statusCode === 404) throw new GraphError('notFound', `Microsoft Graph found nothing at ${stripQuery(url)}${what}.`, base);
      throw new GraphError('failed', `Microsoft Graph answered ${response.statusCode}${what}.`, base);
    }
  }

  /** The bearer token; a failure to get one is a GraphError that says so (the token provider names the host). */
  /**
   * `Bearer <token>`, made once per token: the token is a JWT of a kilobyte or two, and a header made
   * anew per call is a new string that undici's header check scans and its writer copies again.
   */
  #authorization(token: string): string {
    if (this.#bearer?.token !== token) this.#bearer = { token, header: `Bearer ${token}` };
    return this.#bearer.header;
  }

  async #token(options: TokenRequestOptions | undefined, clientRequestId: string, deadline: Deadline | undefined): Promise<string> {
    try {
      return await this.#options.getToken(deadline ? { ...options, deadline } : options);
    } catch (error) {
      if (error instanceof GraphError) throw error;
      throw new GraphError('failed', `No token for Microsoft Graph could be obtained: ${(error as Error).message}`, { clientRequestId });
    }
  }

  /** After a broken connection: whether to try again (bounded, and only if a backoff still fits the deadline); waits if so. */
  async #mayRetryTransport(retry: number, deadline: number): Promise<boolean> {
    if (retry > MAX_TRANSPORT_RETRIES) return false;
    const waitMs = this.#backoff(retry);
    if (Date.now() + waitMs >= deadline) return false;
    await sleep(waitMs);
    return true;
  }

  /** Every item of a collection, following `@odata.nextLink` as a whole URL. */
  async *pages<T>(path: string, options: GraphRequestOptions = {}): AsyncGenerator<T[]> {
    let next: string | undefined = path;
    while (next) {
      const page: { value: T[]; '@odata.nextLink'?: string } = await this.call(next, options);
      yield page.value;
      next = page['@odata.nextLink'];
    }
  }

  async all<T>(path: string, options: GraphRequestOptions = {}): Promise<T[]> {
    const items: T[] = [];
    for await (const page of this.pages<T>(path, options)) items.push(...page);
    return items;
  }

  #backoff(attempt: number): number {
    return backoffDelay(attempt, this.#options.backoffBaseMs, this.#options.backoffMaxMs);
  }

  #timeout(url: string, clientRequestId: string, budget: Deadline | undefined, broken?: string): GraphError {
    if (broken) return new GraphError('failed', `Microsoft Graph (${hostOf(url)}) could not be reached (${broken}) and then did not answer in time.`, { clientRequestId });
    const within = budget ? `within ${budget.what} of ${formatSeconds(budget.budgetMs)}` : `within ${Math.round(this.#options.deadlineMs / 1000)} s`;
    return new GraphError('timeout', `Microsoft Graph (${hostOf(url)}) did not answer ${new URL(url).pathname} ${within}.`, { clientRequestId });
  }
}

/** Exponential with jitter: half the step fixed, half random, so retries never fire at once. */
export function backoffDelay(attempt: number, baseMs: number, maxMs: number): number {
  const step = Math.min(maxMs, baseMs * 2 ** (attempt - 1));
  return step / 2 + Math.random() * (step / 2);
}

/** `Retry-After` in milliseconds: seconds (possibly fractional) or an HTTP date; undefined if absent or unreadable. */
export function parseRetryAfter(value: string | undefined, now = Date.now()): number | undefined {
  if (value === undefined || value.trim() === '') return undefined;
  const trimmed = value.trim();
  if (/^\d+(\.\d+)?$/.test(trimmed)) return Math.ceil(Number(trimmed) * 1000);
  const date = Date.parse(trimmed);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

/**
 * Graph's error message, as a person can read it. Intune puts a JSON text of its own there
 * (`{"_version": 3, "Message": "Application is not authorized ... - Operation ID (for customer support): ... - Url: ...", ...}`,
 * https://github.com/microsoftgraph/microsoft-graph-docs-contrib/issues/87): its `Message` up to the
 * support ids is the message (the request-id, which support asks for, is kept in the error's details).
 */
export function readableMessage(message: string): string {
  if (!message.startsWith('{')) return message;
  try {
    const inner = JSON.parse(message) as { Message?: unknown };
    if (typeof inner.Message === 'string') return inner.Message.split(' - Operation ID')[0]!.trim() || message;
  } catch {
    // not Intune's shape after all
  }
  return message;
}

function header(response: Dispatcher.ResponseData, name: string): string | undefined {
  const value = response.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

async function readErrorBody(response: Dispatcher.ResponseData): Promise<GraphErrorBody> {
  try {
    return (await response.body.json()) as GraphErrorBody;
  } catch {
    return {};
  }
}

export function isTimeout(error: unknown): boolean {
  const name = (error as Error | undefined)?.name;
  return (
    name === 'TimeoutError' ||
    name === 'AbortError' ||
    error instanceof undiciErrors.HeadersTimeoutError ||
    error instanceof undiciErrors.BodyTimeoutError ||
    error instanceof undiciErrors.ConnectTimeoutError
  );
}

/**
 * The claims of a claims challenge: `WWW-Authenticate: Bearer ..., error="insufficient_claims", claims="<base64 JSON>"`
 * (https://learn.microsoft.com/entra/identity-platform/claims-challenge). Undefined when there is none.
 */
export function claimsChallenge(wwwAuthenticate: string | undefined): string | undefined {
  const encoded = /\bclaims="([^"]+)"/i.exec(wwwAuthenticate ?? '')?.[1];
  if (!encoded) return undefined;
  const decoded = Buffer.from(encoded, 'base64').toString('utf8');
  try {
    JSON.parse(decoded);
    return decoded;
  } catch {
    return undefined;
  }
}

function hostOf(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return url;
  }
}

/** URLs are logged without their query: OData filters name devices and users. */
function stripQuery(url: string): string {
  return url.split('?')[0] ?? url;
}

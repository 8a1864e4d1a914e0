/**
 * MSAL's network client on our undici stack, so token requests get the same pools, timeouts and
 * trusted CAs as Graph calls (MSAL would otherwise use global fetch with its own settings).
 *
 * The token endpoint throttles and fails like Graph does, so requests to it are retried like Graph
 * calls: 429 and 5xx honouring Retry-After or backing off with jitter, a broken connection likewise,
 * a bounded number of attempts, and no wait past the request's budget (deadline.ts). The retries
 * live here, below MSAL, on purpose: MSAL remembers a 429/5xx it is handed and then fails every
 * identical request without network for up to 60 s. A request that still fails is thrown as
 * TokenRequestFailed (an AuthError, which MSAL passes through unchanged) carrying a GraphError that
 * names the host and the cause; an answer that is final (200, or a 4xx such as a wrong secret) goes
 * to MSAL as it came.
 */
import { AuthError, type INetworkModule, type NetworkRequestOptions, type NetworkResponse } from '@azure/msal-node';
import { setTimeout as sleep } from 'node:timers/promises';
import { request, type Dispatcher } from 'undici';
import { effectiveDeadline, formatSeconds, type Deadline } from './deadline.js';
import { backoffDelay, GraphError, isTimeout, parseRetryAfter } from './graph-client.js';

const DEFAULT_TIMEOUT_MS = 10_000;
/** 429 and 503/504 mean "later": the caller is told to come back (503 with Retry-After); 500/502 are failures (502). */
const RETRYABLE = new Set([429, 500, 502, 503, 504]);
const UNAVAILABLE = new Set([429, 503, 504]);

export interface NetworkRetryOptions {
  /** Per attempt, and for all attempts together (the request's budget may cut it shorter). */
  timeoutMs?: number;
  maxAttempts?: number;
  backoffBaseMs?: number;
  backoffMaxMs?: number;
}

/** A token request that failed for good; `failure` says how, for the caller's problem answer. */
export class TokenRequestFailed extends AuthError {
  constructor(readonly failure: GraphError) {
    super('amsd_token_request_failed', failure.message);
    // AuthError's constructor sets its own prototype, which would make this an AuthError only.
    Object.setPrototypeOf(this, TokenRequestFailed.prototype);
    this.name = 'TokenRequestFailed';
  }
}

export class UndiciNetworkClient implements INetworkModule {
  readonly #retry: Required<NetworkRetryOptions>;

  constructor(
    private readonly dispatcher: Dispatcher,
    retry: NetworkRetryOptions = {},
    /** The budget of the request a token request serves, by the correlation id MSAL gives it (token-provider.ts). */
    private readonly budgetOf: (correlationId: string | undefined) => Deadline | undefined = () => undefined,
  ) {
    this.#retry = { timeoutMs: DEFAULT_TIMEOUT_MS, maxAttempts: 4, backoffBaseMs: 500, backoffMaxMs: 4_000, ...retry };
  }

  sendGetRequestAsync<T>(url: string, options?: NetworkRequestOptions, timeout?: number): Promise<NetworkResponse<T>> {
    return this.send<T>('GET', url, options, timeout);
  }

  sendPostRequestAsync<T>(url: string, options?: NetworkRequestOptions): Promise<NetworkResponse<T>> {
    return this.send<T>('POST', url, options);
  }

  private async send<T>(method: 'GET' | 'POST', url: string, options?: NetworkRequestOptions, timeout?: number): Promise<NetworkResponse<T>> {
    const host = new URL(url).host;
    const limitMs = timeout ?? this.#retry.timeoutMs;
    const { at: deadline, deadline: budget } = effectiveDeadline(limitMs, this.budgetOf(options?.correlationId));
    const correlationId = options?.headers?.['client-request-id'] ?? options?.correlationId ?? '';
    const within = budget ? `within ${budget.what} of ${formatSeconds(budget.budgetMs)}` : `within ${Math.round(limitMs / 1000)} s`;
    const fail = (kind: 'throttled' | 'timeout' | 'failed', message: string, details: Partial<GraphError['details']> = {}) =>
      new TokenRequestFailed(new GraphError(kind, `Entra ID's token endpoint (${host}) ${message}`, { clientRequestId: correlationId, ...details }));

    // The last attempt's failure that was not a timeout: when a retry then runs into the budget, the
    // endpoint's persistent fault (a reset connection) is the cause to report, not the clock.
    let unreachable: string | undefined;
    for (let attempt = 1; ; attempt++) {
      if (Date.now() >= deadline) {
        if (unreachable) throw fail('failed', `could not be reached (${unreachable}), ${attempt - 1} attempt(s) ${within}.`);
        throw fail('timeout', `did not answer ${within}.`);
      }
      let status: number;
      let headers: Record<string, string>;
      let text: string;
      try {
        const response = await request(url, {
          dispatcher: this.dispatcher,
          method,
          headers: options?.headers ?? {},
          ...(options?.body === undefined ? {} : { body: options.body }),
          signal: AbortSignal.timeout(Math.max(1, Math.min(this.#retry.timeoutMs, deadline - Date.now()))),
        });
        status = response.statusCode;
        headers = {};
        for (const [name, value] of Object.entries(response.headers)) {
          if (value !== undefined) headers[name.toLowerCase()] = Array.isArray(value) ? value.join(', ') : value;
        }
        text = await response.body.text();
        unreachable = undefined;
      } catch (error) {
        // A timed-out attempt is retried too while the budget lasts: the next one may be served.
        if (!isTimeout(error)) unreachable = (error as Error).message;
        const waitMs = backoffDelay(attempt, this.#retry.backoffBaseMs, this.#retry.backoffMaxMs);
        if (attempt < this.#retry.maxAttempts && Date.now() + waitMs < deadline) {
          await sleep(waitMs);
          continue;
        }
        if (unreachable) {
          const then = isTimeout(error) ? ' and then did not answer in time' : '';
          throw fail('failed', `could not be reached (${unreachable})${then}, ${attempt} attempt(s).`);
        }
        throw fail('timeout', `did not answer ${within} (${attempt} attempt(s)).`);
      }

      let body: unknown;
      try {
        body = text ? JSON.parse(text) : {};
      } catch {
        // A success that cannot be read is a broken answer, not a refusal by Entra.
        if (status >= 200 && status < 300) throw fail('failed', `answered ${status} with a body that is not JSON.`, { status });
        // MSAL turns a non-JSON error body into its own error from the status; keep the text for that message.
        body = { error: 'invalid_response', error_description: text.slice(0, 200) };
      }

      if (RETRYABLE.has(status)) {
        const retryAfterMs = parseRetryAfter(headers['retry-after']);
        const waitMs = retryAfterMs ?? backoffDelay(attempt, this.#retry.backoffBaseMs, this.#retry.backoffMaxMs);
        if (attempt < this.#retry.maxAttempts && Date.now() + waitMs < deadline) {
          await sleep(waitMs);
          continue;
        }
        const { code, description } = describeError(body);
        const unavailable = UNAVAILABLE.has(status);
        throw fail(unavailable ? 'throttled' : 'failed', `answered ${status}${code ? ` ${code}` : ''}${description ? `: ${description}` : ''} (${attempt} attempt(s)${unavailable ? `, not recovered ${within}` : ''}).`, {
          status,
          ...(code ? { code } : {}),
          ...(headers['x-ms-request-id'] ? { requestId: headers['x-ms-request-id'] } : {}),
          ...(unavailable ? { retryAfterSeconds: Math.max(1, Math.ceil((retryAfterMs ?? waitMs) / 1000)) } : {}),
        });
      }
      // An error in Graph's shape ({"error":{"code","message"}}), as proxies and gateways may send, in OAuth's
      // shape for MSAL: it would print the object as `[object Object]`.
      if (status >= 400 && body && typeof (body as { error?: unknown }).error === 'object') {
        const { code, description } = describeError(body);
        body = { error: code ?? `http_${status}`, ...(description ? { error_description: description } : {}) };
      }
      return { status, headers, body: body as T };
    }
  }
}

/** The error code and words of a token endpoint's error body: OAuth's (`error`, `error_description`) or Graph's shape. */
function describeError(body: unknown): { code?: string; description?: string } {
  const b = (body ?? {}) as { error?: unknown; error_description?: unknown };
  if (typeof b.error === 'string') {
    return { code: b.error, ...(typeof b.error_description === 'string' ? { description: b.error_description.slice(0, 300) } : {}) };
  }
  if (b.error && typeof b.error === 'object') {
    const e = b.error as { code?: unknown; message?: unknown };
    return { ...(typeof e.code === 'string' ? { code: e.code } : {}), ...(typeof e.message === 'string' ? { description: e.message.slice(0, 300) } : {}) };
  }
  return {};
}


/**
 * MSAL's network client on our undici stack, so token requests get the same pools, timeouts and
 * trusted CAs as Graph calls (MSAL would otherwise use global fetch with its own settings).
 */
import type { INetworkModule, NetworkRequestOptions, NetworkResponse } from '@azure/msal-node';
import { request, type Dispatcher } from 'undici';

const DEFAULT_TIMEOUT_MS = 10_000;

export class UndiciNetworkClient implements INetworkModule {
  constructor(private readonly dispatcher: Dispatcher, private readonly timeoutMs = DEFAULT_TIMEOUT_MS) {}

  sendGetRequestAsync<T>(url: string, options?: NetworkRequestOptions, timeout?: number): Promise<NetworkResponse<T>> {
    return this.send<T>('GET', url, options, timeout);
  }

  sendPostRequestAsync<T>(url: string, options?: NetworkRequestOptions): Promise<NetworkResponse<T>> {
    return this.send<T>('POST', url, options);
  }

  private async send<T>(method: 'GET' | 'POST', url: string, options?: NetworkRequestOptions, timeout?: number): Promise<NetworkResponse<T>> {
    const response = await request(url, {
      dispatcher: this.dispatcher,
      method,
      headers: options?.headers ?? {},
      ...(options?.body === undefined ? {} : { body: options.body }),
      signal: AbortSignal.timeout(timeout ?? this.timeoutMs),
    });
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(response.headers)) {
      if (value !== undefined) headers[name.toLowerCase()] = Array.isArray(value) ? value.join(', ') : value;
    }
    const text = await response.body.text();
    let body: unknown = {};
    try {
      body = text ? JSON.parse(text) : {};
    } catch {
      // MSAL turns a non-JSON body into its own error from the status; keep the text for that message.
      body = { error: 'invalid_response', error_description: text.slice(0, 200) };
    }
    return { status: response.statusCode, headers, body: body as T };
  }
}

/** What a route of the simulated tenant answers; index.ts writes it out, adding the ids every answer carries. */
export interface Reply {
  status: number;
  body?: unknown;
  /** Written as is instead of `body` as JSON (an HTML page); `headers` then carries its content-type. */
  text?: string;
  headers?: Record<string, string>;
}

export interface RouteRequest {
  method: string;
  /** Parsed from the request target against the server's own origin. */
  url: URL;
  headers: Record<string, string | string[] | undefined>;
  body: string;
  /** The `request-id` this answer will carry (Graph also puts it in error bodies). */
  requestId: string;
  clientRequestId?: string;
}

export const json = (status: number, body: unknown, headers: Record<string, string> = {}): Reply => ({ status, body, headers });

/** An HTML page that may not run script, load anything or be framed, and is never cached. */
export const html = (status: number, markup: string, headers: Record<string, string> = {}): Reply => ({
  status,
  text: markup,
  headers: {
    'content-type': 'text/html; charset=utf-8',
    'content-security-policy': "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    'x-content-type-options': 'nosniff',
    'cache-control': 'no-store',
    ...headers,
  },
});

/** Escapes text for HTML element content and quoted attribute values. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

/** Entra's token-endpoint error body: `AADSTSnnnnn: ...` with the trace and correlation ids and a timestamp. */
export function oauthError(req: RouteRequest, status: number, error: string, code: number, description: string, headers: Record<string, string> = {}): Reply {
  const timestamp = new Date().toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z');
  return json(
    status,
    {
      error,
      error_description: `AADSTS${code}: ${description} Trace ID: ${req.requestId} Correlation ID: ${req.clientRequestId ?? req.requestId} Timestamp: ${timestamp}`,
      error_codes: [code],
      timestamp,
      trace_id: req.requestId,
      correlation_id: req.clientRequestId ?? req.requestId,
    },
    headers,
  );
}

/** Graph's error body: `{"error":{"code","message","innerError":{date, request-id, client-request-id}}}`. */
export function graphError(req: RouteRequest, status: number, code: string, message: string, headers: Record<string, string> = {}): Reply {
  return json(
    status,
    {
      error: {
        code,
        message,
        innerError: {
          date: new Date().toISOString().replace(/\.\d+Z$/, ''),
          'request-id': req.requestId,
          'client-request-id': req.clientRequestId ?? req.requestId,
        },
      },
    },
    headers,
  );
}

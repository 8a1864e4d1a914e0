/** What a route of the simulated tenant answers; index.ts writes it out, adding the ids every answer carries. */
export interface Reply {
  status: number;
  body?: unknown;
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

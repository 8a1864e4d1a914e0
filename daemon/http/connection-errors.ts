/**
 * What the HTTP server itself refuses, before a route runs, answered as problem details like every
 * other error: Node's client errors (malformed HTTP, headers too large, a request too slow to arrive),
 * Fastify's routing errors (a bad percent-encoding, a path segment too long), and HTTP/1.1 without Host.
 * Also the server's limits: slow or greedy clients are cut off so that others keep being served.
 */
import { randomUUID } from 'node:crypto';
import { STATUS_CODES, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { PROBLEM_CONTENT_TYPE, sendProblem, type Problem } from './problem.js';

export interface ServerLimits {
  /** Time from a connection (or the previous request on it) to a request's complete headers. */
  headersTimeoutMs: number;
  /** Time to receive a whole request, body included. At least `headersTimeoutMs`. */
  requestTimeoutMs: number;
  /** How long an idle keep-alive connection stays open. */
  keepAliveTimeoutMs: number;
  /** Open connections at most; one more is closed as soon as it is accepted. */
  maxConnections: number;
  /** How often Node checks requests in progress against the two timeouts above. */
  timeoutCheckIntervalMs: number;
}

export const DEFAULT_SERVER_LIMITS: Readonly<ServerLimits> = Object.freeze({
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 30_000,
  keepAliveTimeoutMs: 5_000,
  maxConnections: 512,
  timeoutCheckIntervalMs: 1_000,
});

/** The options of Node's HTTP(S) server that carry the limits Fastify does not set itself. */
export function nodeServerOptions(limits: ServerLimits) {
  return {
    headersTimeout: limits.headersTimeoutMs,
    // HTTPS: the header timeout starts once TLS is up; a handshake never finished is bounded by this (Node: 120 s).
    handshakeTimeout: limits.headersTimeoutMs,
    connectionsCheckingInterval: limits.timeoutCheckIntervalMs,
    // Node would answer a missing Host with an empty 400; `requireHost` answers it as a problem.
    requireHostHeader: false,
  };
}

function clientErrorProblem(error: NodeJS.ErrnoException, limits: ServerLimits): { status: number; kind: string; detail: string } {
  switch (error.code) {
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return {
        status: 408,
        kind: 'request-timeout',
        detail: `The request did not arrive in time: its headers must arrive within ${limits.headersTimeoutMs / 1000} s and the whole request within ${limits.requestTimeoutMs / 1000} s. Send it at once.`,
      };
    case 'HPE_HEADER_OVERFLOW':
      return { status: 431, kind: 'headers-too-large', detail: 'The request line and headers are larger than the daemon accepts (16 KiB). Send a shorter URL or fewer headers.' };
    default:
      return { status: 400, kind: 'malformed-request', detail: `The request is not well-formed HTTP/1.1 (${error.code ?? 'parse error'}). Send it with an HTTP client.` };
  }
}

/**
 * Sockets whose last request has been answered. A request answered before its body arrived (a 401
 * needs no body) can still time out: its connection is then closed, not given a second answer.
 */
const answered = new WeakSet<object>();

/** Keeps `answered` up to date; call with the daemon's HTTP server. */
export function trackAnswers(server: Server) {
  server.on('request', (request: IncomingMessage, response: ServerResponse) => {
    answered.delete(request.socket);
    response.once('finish', () => answered.add(request.socket));
  });
}

/** Fastify's `clientErrorHandler`: Node could not parse a request, or it took too long to arrive. */
export function clientErrorHandler(limits: ServerLimits) {
  return function onClientError(this: FastifyInstance, error: NodeJS.ErrnoException, socket: Duplex) {
    if (error.code === 'ECONNRESET' || socket.destroyed) return;
    const { status, kind, detail } = clientErrorProblem(error, limits);
    const requestId = randomUUID();
    this.log.info({ requestId, err: { code: error.code, message: error.message }, status }, 'refused a request the HTTP server could not take');
    // An answer already on its way cannot be replaced: the connection can only be closed.
    const inProgress = (socket as Duplex & { _httpMessage?: { headersSent?: boolean } })._httpMessage?.headersSent;
    if (!socket.writable || inProgress || answered.has(socket)) {
      socket.destroy();
      return;
    }
    const body: Problem = { type: `urn:amsd:problem:${kind}`, title: STATUS_CODES[status] ?? 'Client Error', status, detail, requestId };
    const text = JSON.stringify(body);
    socket.end(
      `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Type: ${PROBLEM_CONTENT_TYPE}\r\nContent-Length: ${Buffer.byteLength(text)}\r\n` +
        `X-Request-Id: ${requestId}\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n${text}`,
    );
    // A client that does not read its answer does not keep the connection either.
    setTimeout(() => socket.destroy(), 1_000).unref();
  };
}

/** Fastify's `frameworkErrors`: the router could not take the URL. */
export function frameworkErrors(error: FastifyError, request: FastifyRequest, reply: FastifyReply) {
  reply.header('x-request-id', request.id);
  switch (error.code) {
    case 'FST_ERR_BAD_URL':
      return sendProblem(request, reply, 400, 'invalid-url', 'The URL path is not valid percent-encoded UTF-8. Encode each path segment (encodeURIComponent, [uri]::EscapeDataString).');
    case 'FST_ERR_MAX_PARAM_LENGTH':
      return sendProblem(request, reply, 414, 'uri-too-long', 'A path segment of the URL is longer than the daemon accepts (100 characters); ids are GUIDs.');
    default:
      request.log.error({ err: error }, 'routing failed');
      return sendProblem(request, reply, 500, 'internal-error', `The daemon failed unexpectedly. Nothing about the cause is shown here; the daemon's log has it under request id ${request.id}.`);
  }
}

/** HTTP/1.1 requires Host (RFC 9112, section 3.2); Node's own refusal would be an empty 400. */
export function requireHost(request: FastifyRequest, reply: FastifyReply, done: () => void): void {
  if (request.raw.httpVersion === '1.1' && request.headers.host === undefined) {
    sendProblem(request, reply, 400, 'missing-host', 'An HTTP/1.1 request needs a Host header. Send it with an HTTP client, which sets Host.');
    return; // answered: the request goes no further (a callback hook that replies does not call done)
  }
  done();
}

/**
 * Every error a caller sees is RFC 9457 problem details (`application/problem+json`) whose `detail`
 * says what to fix. Client errors keep their message; server errors reveal nothing about internals.
 */
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { redactUrl } from '../logging.js';
import type { components } from '../../openapi/ams.js';
import {
  AuditWriteError,
  ConflictError,
  DomainError,
  ForbiddenError,
  GraphError,
  NotFoundError,
  RateLimitedError,
  UnavailableError,
  ValidationError,
  validationDetail,
  type FieldError,
} from '../common/errors.js';

export type Problem = components['schemas']['Problem'];
export type { FieldError };

export const PROBLEM_CONTENT_TYPE = 'application/problem+json; charset=utf-8';

const TITLES: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  408: 'Request Timeout',
  414: 'URI Too Long',
  431: 'Request Header Fields Too Large',
  409: 'Conflict',
  502: 'Bad Gateway',
  504: 'Gateway Timeout',
  413: 'Content Too Large',
  415: 'Unsupported Media Type',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
};

/** An HTTP-level problem the binding itself raises (no caller, say); services throw domain errors instead. */
export class ProblemError extends Error {
  constructor(
    readonly status: number,
    /** A short kebab-case name of the kind of problem, e.g. `api-key-not-found`. */
    readonly kind: string,
    detail: string,
    readonly extra: { errors?: FieldError[]; headers?: Record<string, string>; candidates?: Problem['candidates']; code?: Problem['code'] } = {},
  ) {
    super(detail);
    this.name = 'ProblemError';
  }
}

export function sendProblem(
  request: FastifyRequest,
  reply: FastifyReply,
  status: number,
  kind: string,
  detail: string,
  extensions: Pick<Problem, 'errors' | 'candidates' | 'code'> = {},
): FastifyReply {
  const body: Problem = {
    type: `urn:amsd:problem:${kind}`,
    title: TITLES[status] ?? (status < 500 ? 'Client Error' : 'Server Error'),
    status,
    detail,
    // The path as sent may hold a pasted key or token: never echoed back.
    instance: redactUrl(request.url.split('?')[0] ?? ''),
    requestId: String(request.id),
    ...(extensions.errors && extensions.errors.length > 0 ? { errors: extensions.errors } : {}),
    ...(extensions.candidates ? { candidates: extensions.candidates } : {}),
    ...(extensions.code ? { code: extensions.code } : {}),
  };
  // Serialized here so that no success schema of the route can strip problem fields.
  return reply.code(status).type(PROBLEM_CONTENT_TYPE).send(JSON.stringify(body));
}

interface AjvError {
  instancePath: string;
  schemaPath?: string;
  keyword: string;
  message?: string;
  params: Record<string, unknown>;
  /** With ajv's `verbose`: the failing keyword's value (for oneOf, its alternatives). */
  schema?: unknown;
}

/**
 * A oneOf whose alternatives each only require fields (`computerName` or `deviceId`) said in words,
 * in place of ajv's "must match exactly one schema in oneOf" and each alternative's "is required".
 */
function alternativesMessage(error: AjvError): string | undefined {
  if (error.keyword !== 'oneOf' || !Array.isArray(error.schema)) return undefined;
  const alternatives = error.schema as { required?: unknown }[];
  if (!alternatives.every((a) => Array.isArray(a.required) && a.required.length === 1)) return undefined;
  const names = alternatives.map((a) => String((a.required as unknown[])[0]));
  const passing = error.params.passingSchemas;
  if (Array.isArray(passing)) return `must give only one of ${names.join(' and ')}, not several`;
  return `must give ${names.join(' or ')} (one of them)`;
}

/** Turns ajv's errors into field errors that name the field: `body/role`, `query/status`. */
export function fieldErrors(context: string, validation: AjvError[]): FieldError[] {
  const where = context === 'querystring' ? 'query' : context;
  const explained = validation.filter((e) => alternativesMessage(e) !== undefined);
  const partOfExplained = (e: AjvError) => explained.some((o) => o !== e && e.schemaPath?.startsWith(`${o.schemaPath}/`) && e.instancePath === o.instancePath);
  return validation.filter((e) => !partOfExplained(e)).map((e) => {
    const segments = e.instancePath.split('/').filter(Boolean);
    let message = e.message ?? 'is invalid';
    const alternatives = alternativesMessage(e);
    if (alternatives) {
      message = alternatives;
    } else if (e.keyword === 'required') {
      segments.push(String(e.params.missingProperty));
      message = 'is required';
    } else if (e.keyword === 'additionalProperties') {
      segments.push(String(e.params.additionalProperty));
      message = 'is not a known field; check its spelling against the API documentation';
    } else if (e.keyword === 'enum') {
      message = `must be one of: ${(e.params.allowedValues as unknown[]).join(', ')}`;
    } else if (e.keyword === 'format') {
      message = `must be a valid ${String(e.params.format)}${FORMAT_HINTS[String(e.params.format)] ?? ''}`;
    }
    return { path: [where, ...segments].join('/'), message };
  });
}

const FORMAT_HINTS: Record<string, string> = {
  uuid: ' (a GUID such as 8f0d3c2e-5b7a-4a51-9a0e-0c1d2e3f4a5b)',
  'date-time': ' (RFC 3339, such as 2026-12-31T23:59:59Z)',
};

/** Fastify's own client errors, given a detail that tells the caller what to do. */
function describeFastifyError(error: FastifyError): { status: number; kind: string; detail: string } | undefined {
  switch (error.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return { status: 413, kind: 'body-too-large', detail: 'The request body is larger than the daemon accepts (1 MiB). Send a smaller body.' };
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return { status: 415, kind: 'unsupported-media-type', detail: 'Send the request body as JSON with the header Content-Type: application/json.' };
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return { status: 400, kind: 'invalid-json', detail: `The request body is not valid JSON: ${error.message}. Send a JSON object.` };
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return { status: 400, kind: 'invalid-content-length', detail: 'The Content-Length header does not match the body.' };
    default:
      if (error.statusCode && error.statusCode >= 400 && error.statusCode < 500) {
        return { status: error.statusCode, kind: 'client-error', detail: error.message };
      }
      return undefined;
  }
}

/**
 * How a Graph failure reaches the caller. Graph's own 403 is a 502, not a 403: the daemon's app
 * registration lacks a permission, which the caller must not mistake for a refusal by the rules.
 */
function graphProblem(error: GraphError): { status: number; kind: string; headers: Record<string, string> } {
  switch (error.kind) {
    case 'throttled':
      return { status: 503, kind: 'graph-throttled', headers: { 'Retry-After': String(error.details.retryAfterSeconds ?? 5) } };
    case 'timeout':
      return { status: 504, kind: 'graph-timeout', headers: {} };
    case 'forbidden':
      return { status: 502, kind: 'graph-permission-missing', headers: {} };
    default:
      return { status: 502, kind: 'graph-failed', headers: {} };
  }
}

/** The HTTP face of a domain error: the one place a kind of error becomes a status. Undefined for a kind not mapped here (a 500 that reveals nothing). */
function domainProblem(error: DomainError): { status: number; headers: Record<string, string> } | undefined {
  if (error instanceof ValidationError) return { status: 400, headers: {} };
  if (error instanceof NotFoundError) return { status: 404, headers: {} };
  if (error instanceof ConflictError) return { status: 409, headers: {} };
  if (error instanceof ForbiddenError) return { status: 403, headers: {} };
  if (error instanceof RateLimitedError) return { status: 429, headers: { 'retry-after': String(error.retryAfterSeconds) } };
  if (error instanceof UnavailableError) return { status: 503, headers: { 'retry-after': String(error.retryAfterSeconds) } };
  return undefined;
}

/** The status `errorHandler` answers an error with. */
export function problemStatusOf(error: FastifyError): number {
  if (error instanceof ProblemError) return error.status;
  const domain = error instanceof DomainError ? domainProblem(error) : undefined;
  if (domain) return domain.status;
  if (error instanceof AuditWriteError) return 503;
  if (error instanceof GraphError) return graphProblem(error).status;
  if (error.validation) return 400;
  return describeFastifyError(error)?.status ?? 500;
}

function sendDomainProblem(error: DomainError, { status, headers }: { status: number; headers: Record<string, string> }, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  for (const [name, value] of Object.entries(headers)) reply.header(name, value);
  if (status >= 500) request.log.error({ err: error }, 'request failed');
  return sendProblem(request, reply, status, error.reason, error.message, {
    ...(error instanceof ValidationError ? { errors: error.errors } : {}),
    ...(error instanceof ConflictError && error.candidates ? { candidates: error.candidates } : {}),
    ...(error.resultCode ? { code: error.resultCode } : {}),
  });
}

export function errorHandler(error: FastifyError, request: FastifyRequest, reply: FastifyReply) {
  if (error instanceof ProblemError) {
    for (const [name, value] of Object.entries(error.extra.headers ?? {})) reply.header(name, value);
    if (error.status >= 500) request.log.error({ err: error }, 'request failed');
    const { errors, candidates, code } = error.extra;
    return sendProblem(request, reply, error.status, error.kind, error.message, { ...(errors ? { errors } : {}), ...(candidates ? { candidates } : {}), ...(code ? { code } : {}) });
  }
  if (error instanceof DomainError) {
    const domain = domainProblem(error);
    if (domain) return sendDomainProblem(error, domain, request, reply);
  }
  if (error instanceof AuditWriteError) {
    // Fail closed: what needed recording (a secret, a change) did not happen.
    request.log.error({ err: error }, 'the audit trail cannot be written');
    reply.header('Retry-After', '30');
    const check = error.store === 'database' ? 'the PostgreSQL database the daemons share (its audit_events table)' : 'the disk of the data directory';
    return sendProblem(request, reply, 503, 'audit-unavailable', `The audit trail cannot be written, so nothing was done or returned. An administrator must check ${check}; then try again.`, {
      code: 'AuditUnavailable',
    });
  }
  if (error instanceof GraphError) {
    const { status, kind, headers } = graphProblem(error);
    for (const [name, value] of Object.entries(headers)) reply.header(name, value);
    request.log.warn({ graph: { kind: error.kind, ...error.details } }, 'Microsoft Graph call failed');
    return sendProblem(request, reply, status, kind, error.message + (error.details.requestId ? ` Graph request-id: ${error.details.requestId}.` : ''));
  }
  if (error.validation) {
    const errors = fieldErrors(error.validationContext ?? 'request', error.validation);
    return sendProblem(request, reply, 400, 'validation-failed', validationDetail(errors), { errors });
  }
  const known = describeFastifyError(error);
  if (known) return sendProblem(request, reply, known.status, known.kind, known.detail);

  request.log.error({ err: error }, 'unexpected error');
  return sendProblem(
    request,
    reply,
    500,
    'internal-error',
    `The daemon failed unexpectedly. Nothing about the cause is shown here; the daemon's log has it under request id ${request.id}.`,
  );
}

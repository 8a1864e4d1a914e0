/**
 * What can go wrong, as the domain says it: each kind of error carries what a caller needs to act on
 * it (the detail, field errors, device candidates, how long to wait, a secret read's result code), and
 * no HTTP status. Services throw these; only `http/problem.ts` turns them into HTTP problems, and the
 * access layer decides on their class, never on their text.
 *
 * A leaf: imports the contract's types and nothing else of the daemon.
 */
import type { components } from '../../openapi/ams.js';

export type FieldError = components['schemas']['FieldError'];
/** The outcome of a secret read, as Access Manager names it. */
export type ResultCode = components['schemas']['ResultCode'];
export type DeviceCandidate = NonNullable<components['schemas']['Problem']['candidates']>[number];

export interface DomainErrorOptions {
  /** For a refused secret read: its result code, on the trail and in the answer. */
  resultCode?: ResultCode;
  cause?: unknown;
}

/** An error a caller can act on. */
export abstract class DomainError extends Error {
  readonly resultCode?: ResultCode;

  constructor(
    /** A short kebab-case name of the kind of problem, e.g. `rule-not-found`. */
    readonly reason: string,
    /** What went wrong, and what to do about it. */
    detail: string,
    options: DomainErrorOptions = {},
  ) {
    super(detail, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    if (options.resultCode) this.resultCode = options.resultCode;
  }

  /** The same error, as the answer to a secret read it refused (so with that read's result code). */
  withResultCode(resultCode: ResultCode): this {
    const copy = Object.create(Object.getPrototypeOf(this) as object) as this;
    Object.defineProperties(copy, Object.getOwnPropertyDescriptors(this));
    Object.defineProperty(copy, 'resultCode', { value: resultCode, enumerable: true });
    return copy;
  }
}

/** Nothing with that id or name exists (a rule, a key, a tenant, a device, a device's LAPS backup). */
export class NotFoundError extends DomainError {}

/** The request conflicts with what is there now: a name taken, a device name that matches several devices. */
export class ConflictError extends DomainError {
  readonly candidates?: DeviceCandidate[];

  constructor(reason: string, detail: string, options: DomainErrorOptions & { candidates?: DeviceCandidate[] } = {}) {
    super(reason, detail, options);
    if (options.candidates) this.candidates = options.candidates;
  }
}

/** The request is invalid in ways the contract's schema cannot say; names every field to fix. */
export class ValidationError extends DomainError {
  constructor(
    readonly errors: FieldError[],
    options: DomainErrorOptions & { reason?: string; detail?: string } = {},
  ) {
    super(options.reason ?? 'validation-failed', options.detail ?? validationDetail(errors), options);
  }
}

/** The detail of a validation failure: every field and what is wrong with it. */
export function validationDetail(errors: readonly FieldError[]): string {
  return `The request is invalid: ${errors.map((e) => `${e.path} ${e.message}`).join('; ')}.`;
}

/** The authorization rules refuse this caller this access. */
export class ForbiddenError extends DomainError {}

/** Too many requests from this caller or address; try again after `retryAfterSeconds`. */
export class RateLimitedError extends DomainError {
  constructor(
    reason: string,
    detail: string,
    readonly retryAfterSeconds: number,
    options: DomainErrorOptions = {},
  ) {
    super(reason, detail, options);
  }
}

/**
 * Something the request needs is down for a while (an identity provider's signing keys, a mandatory
 * notification channel); try again after `retryAfterSeconds`.
 */
export class UnavailableError extends DomainError {
  constructor(
    reason: string,
    detail: string,
    readonly retryAfterSeconds: number,
    options: DomainErrorOptions = {},
  ) {
    super(reason, detail, options);
  }
}

export type GraphErrorKind = 'forbidden' | 'notFound' | 'throttled' | 'timeout' | 'failed';

/** A Graph call that did not succeed (the directory is throttling, timed out, refused or failed), with what an administrator needs to act on it. */
export class GraphError extends Error {
  constructor(
    readonly kind: GraphErrorKind,
    message: string,
    readonly details: {
      status?: number;
      code?: string;
      /** Graph's `request-id`, to quote to Microsoft support. */
      requestId?: string;
      clientRequestId: string;
      /** For `throttled`: how long Graph asked to wait, in seconds. */
      retryAfterSeconds?: number;
      /** For `forbidden`: the application permission the call needs. */
      permission?: string;
    },
  ) {
    super(message);
    this.name = 'GraphError';
  }
}

/** An audit event could not be made durable. Whatever it recorded must not happen (for a secret read: no secret). */
export class AuditWriteError extends Error {
  /** Where the trail is: a file in the data directory, or the database the daemons share. */
  readonly store: 'file' | 'database';

  constructor(readonly file: string, problem: string, options?: { cause?: unknown; store?: 'file' | 'database' }) {
    super(`The audit trail ${file} cannot be written (${problem}); the event was not recorded.`, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'AuditWriteError';
    this.store = options?.store ?? 'file';
  }
}

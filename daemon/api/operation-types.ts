/**
 * Handler types derived from the generated contract types (openapi/ams.ts). `OperationHandlers` has a
 * key for every operationId, so a new operation in the spec does not compile until it is handled.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { operations } from '../../openapi/ams.js';
import type { Caller } from '../auth/caller.js';

export type OperationId = keyof operations;

type JsonContent<T> = T extends { content: { 'application/json': infer B } } ? B : never;
type SuccessStatus = 200 | 201 | 202 | 203 | 204;

export type RequestBody<K extends OperationId> = operations[K] extends { requestBody: infer R }
  ? JsonContent<NonNullable<R>>
  : undefined;
export type PathParams<K extends OperationId> = operations[K]['parameters'] extends { path: infer P }
  ? NonNullable<P>
  : Record<string, never>;
export type QueryParams<K extends OperationId> = operations[K]['parameters'] extends { query?: infer Q }
  ? NonNullable<Q>
  : Record<string, never>;

/** The JSON body of any success response of the operation (`undefined` for 204). */
export type SuccessBody<K extends OperationId> = {
  [S in keyof operations[K]['responses'] & SuccessStatus]: S extends 204
    ? undefined
    : JsonContent<operations[K]['responses'][S]>;
}[keyof operations[K]['responses'] & SuccessStatus];

export interface OperationContext<K extends OperationId> {
  body: RequestBody<K>;
  params: PathParams<K>;
  query: QueryParams<K>;
  /** The authenticated caller; reading it on a public operation is a programming error. */
  readonly caller: Caller;
  request: FastifyRequest;
  /** For headers (Location, Retry-After); the status defaults to the operation's first 2xx response. */
  reply: FastifyReply;
}

export type OperationHandler<K extends OperationId> = (context: OperationContext<K>) => Promise<SuccessBody<K>>;

export type OperationHandlers = { [K in OperationId]: OperationHandler<K> };

/**
 * Runs before an operation's error is answered, with the status it will be answered with; an error it
 * throws (the audit trail cannot be written) is answered instead.
 */
export type OperationErrorHook = (error: unknown, request: FastifyRequest, status: number) => Promise<void>;
export type OperationErrorHooks = Partial<Record<OperationId, OperationErrorHook>>;
